//! The rules for every value that reaches the directory. Values that name an entry (usernames,
//! collective and app ids) are refused unless they match a strict shape, so they never need
//! escaping to be safe (they are escaped all the same). Values that are only stored (display
//! names, emails) may hold any printable character, including non-ASCII and the characters
//! special to DNs and filters; they are escaped wherever they reach a DN or a filter.
//!
//! | value | rule |
//! |---|---|
//! | username | 2–32 characters: a lower-case letter, then `a-z`, `0-9`, `.`, `_`, `-` |
//! | collective id, app id | a DNS label: 1–63 characters of `a-z`, `0-9`, `-`, not at an end |
//! | display name | 1–128 characters, not only spaces, no control characters (NUL, tab, newline…); any other Unicode is kept as typed |
//! | email | `local@domain.tld`, ASCII only (the `mail` attribute is IA5), at most 254 characters, no spaces or control characters |
//! | password | 1–1024 bytes, no NUL |

use super::error::DirectoryError;
use crate::model::names;

pub const USERNAME_RULE: &str =
    "usernames have 2 to 32 characters: a lower-case letter, then a-z, 0-9, `.`, `_` or `-`";
pub const COLLECTIVE_RULE: &str =
    "collective ids have 1 to 63 characters of a-z, 0-9 and `-`, not starting or ending with `-`";
pub const APP_RULE: &str =
    "app ids have 1 to 63 characters of a-z, 0-9 and `-`, not starting or ending with `-`";
pub const DISPLAY_NAME_RULE: &str =
    "names have 1 to 128 characters, not only spaces, and no control characters such as NUL, tab or newline";
pub const EMAIL_RULE: &str =
    "emails look like `name@example.coop`: ASCII only, no spaces, at most 254 characters";
pub const PASSWORD_RULE: &str = "passwords have 1 to 1024 bytes and no NUL character";

fn invalid(what: &'static str, value: &str, why: String, rule: &'static str) -> DirectoryError {
    DirectoryError::Invalid {
        what,
        value: value.escape_debug().to_string(),
        why,
        rule,
    }
}

pub fn username(s: &str) -> Result<(), DirectoryError> {
    names::username(s).map_err(|why| invalid("username", s, why, USERNAME_RULE))
}

pub fn collective_id(s: &str) -> Result<(), DirectoryError> {
    names::dns_label(s).map_err(|why| invalid("collective id", s, why, COLLECTIVE_RULE))
}

pub fn app_id(s: &str) -> Result<(), DirectoryError> {
    names::dns_label(s).map_err(|why| invalid("app id", s, why, APP_RULE))
}

pub fn display_name(s: &str) -> Result<(), DirectoryError> {
    let n = s.chars().count();
    let why = if n == 0 {
        Some("it is empty".to_string())
    } else if n > 128 {
        Some(format!("it has {n} characters, at most 128 are allowed"))
    } else if let Some(c) = s.chars().find(|c| c.is_control()) {
        Some(format!(
            "it has the control character {}",
            c.escape_unicode()
        ))
    } else if s.chars().all(char::is_whitespace) {
        Some("it has only spaces".to_string())
    } else {
        None
    };
    why.map_or(Ok(()), |why| {
        Err(invalid("display name", s, why, DISPLAY_NAME_RULE))
    })
}

pub fn email(s: &str) -> Result<(), DirectoryError> {
    let why = if let Some(c) = s.chars().find(|c| c.is_control()) {
        Some(format!(
            "it has the control character {}",
            c.escape_unicode()
        ))
    } else if let Some(c) = s.chars().find(|c| !c.is_ascii()) {
        Some(format!("it has `{c}`, which is not ASCII"))
    } else if s.len() > 254 {
        Some(format!(
            "it has {} characters, at most 254 are allowed",
            s.len()
        ))
    } else {
        names::email(s).err()
    };
    why.map_or(Ok(()), |why| Err(invalid("email", s, why, EMAIL_RULE)))
}

pub fn password(s: &str) -> Result<(), DirectoryError> {
    let why = if s.is_empty() {
        Some("it is empty".to_string())
    } else if s.len() > 1024 {
        Some(format!(
            "it has {} bytes, at most 1024 are allowed",
            s.len()
        ))
    } else if s.contains('\0') {
        Some("it has a NUL character".to_string())
    } else {
        None
    };
    // Never echo a password back, not even in an error.
    why.map_or(Ok(()), |why| {
        Err(DirectoryError::Invalid {
            what: "password",
            value: "***".into(),
            why,
            rule: PASSWORD_RULE,
        })
    })
}

/// `givenName` and `sn` from a display name: the last word is the surname, the words before it
/// the given name. A single word is the surname alone (`sn` is required, `givenName` is not).
pub fn split_name(display_name: &str) -> (Option<String>, String) {
    let trimmed = display_name.trim();
    match trimmed.rsplit_once(char::is_whitespace) {
        Some((given, sn)) if !given.trim().is_empty() => {
            (Some(given.trim().to_string()), sn.to_string())
        }
        _ => (None, trimmed.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_reach_a_dn_are_strict() {
        assert!(username("alice").is_ok());
        for bad in [
            "Alice", "a", "al ice", "al*ce", "al,ce", "a=b", "al\\ce", "al\0ce", "é",
        ] {
            let e = username(bad).unwrap_err();
            assert!(e.to_string().contains(USERNAME_RULE), "{e}");
        }
        assert!(collective_id("fki").is_ok());
        assert!(collective_id("f*").is_err());
        assert!(collective_id("ou=x").is_err());
        assert!(collective_id("").is_err());
        assert!(app_id("cloud-fki").is_ok());
        assert!(app_id("cloud.fki").is_err());
    }

    #[test]
    fn display_names_keep_any_printable_character() {
        for good in [
            "Alice Martí",
            "*()\\,=+<>#;\"",
            "  leading",
            "trailing ",
            "Ærøskøbing 東京",
            "#hash",
        ] {
            assert!(display_name(good).is_ok(), "{good}");
        }
        assert!(display_name("").is_err());
        assert!(display_name("   ").is_err());
        assert!(display_name(&"x".repeat(129)).is_err());
        assert!(display_name(&"é".repeat(128)).is_ok());
        let e = display_name("a\0b").unwrap_err().to_string();
        assert!(e.contains("\\u{0}"), "{e}");
        assert!(e.contains("a\\0b"), "the value is shown escaped: {e}");
        assert!(display_name("a\nb").is_err());
    }

    #[test]
    fn emails_are_ascii() {
        assert!(email("alice@example.coop").is_ok());
        assert!(email("a*(b)\\c,=+<>#;\"@example.coop").is_ok());
        assert!(email("alïce@example.coop")
            .unwrap_err()
            .to_string()
            .contains("not ASCII"));
        assert!(email("a\0@example.coop").is_err());
        assert!(email("a b@example.coop").is_err());
        assert!(email("alice").is_err());
    }

    #[test]
    fn passwords_are_never_echoed() {
        assert!(password("correct horse").is_ok());
        let e = password("a\0b").unwrap_err().to_string();
        assert!(!e.contains("a\\0b"), "{e}");
        assert!(password("").is_err());
    }

    #[test]
    fn given_name_and_surname() {
        assert_eq!(
            split_name("Alice Martí"),
            (Some("Alice".into()), "Martí".into())
        );
        assert_eq!(
            split_name("Ana Maria  Puig"),
            (Some("Ana Maria".into()), "Puig".into())
        );
        assert_eq!(split_name("  Prince "), (None, "Prince".into()));
    }
}
