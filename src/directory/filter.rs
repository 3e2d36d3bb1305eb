//! Search filters (RFC 4515), built only through these functions so that every value is
//! escaped: `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`. Attribute
//! names are always our own constants.

use ldap3::ldap_escape;

/// `(attr=value)`, the value escaped.
pub fn eq(attr: &'static str, value: &str) -> String {
    format!("({attr}={})", ldap_escape(value))
}

/// `(&…)` of the given filters.
pub fn and(parts: &[String]) -> String {
    format!("(&{})", parts.concat())
}

/// `(|…)` of the given filters.
pub fn or(parts: &[String]) -> String {
    format!("(|{})", parts.concat())
}

/// `(objectClass=<class>)`.
pub fn class(class: &'static str) -> String {
    format!("(objectClass={class})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(eq("uid", "alice"), "(uid=alice)");
        assert_eq!(eq("cn", "*)(uid=*"), "(cn=\\2a\\29\\28uid=\\2a)");
        assert_eq!(eq("cn", "a\\b\0"), "(cn=a\\5cb\\00)");
        assert_eq!(eq("cn", "Martí"), "(cn=Martí)");
        assert_eq!(
            and(&[class("groupOfNames"), eq("member", "uid=a\\2cb,dc=x")]),
            "(&(objectClass=groupOfNames)(member=uid=a\\5c2cb,dc=x))"
        );
        assert_eq!(or(&[eq("cn", "a"), eq("cn", "b")]), "(|(cn=a)(cn=b))");
    }
}
