//! What can go wrong when talking to the directory, each said so that a person knows what to do
//! next. LDAP result codes are mapped here, once.

use ldap3::LdapError;

/// An error of a directory operation.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A value was refused before anything was sent to the directory.
    #[error("{what} `{value}` is refused: {why} — {rule}")]
    Invalid {
        what: &'static str,
        /// The value as typed, with control characters made visible.
        value: String,
        why: String,
        rule: &'static str,
    },
    #[error("cannot reach the directory at {url}: {detail} — is the directory container running? (`commonscloud status`)")]
    Unreachable { url: String, detail: String },
    #[error("the directory at {url} refused the password of {dn} — the bind secret is wrong or the account is locked")]
    BindRefused { url: String, dn: String },
    #[error("{what} does not exist — {hint}")]
    NotFound { what: String, hint: String },
    #[error("{what} already exists — {hint}")]
    AlreadyExists { what: String, hint: String },
    #[error("{what} cannot be removed: it still has {remaining} — remove {first} first")]
    NotEmpty {
        what: String,
        remaining: String,
        first: String,
    },
    #[error("`{actor}` is not an admin of collective `{collective}` — an admin of `{collective}` can grant them the right (`commonscloud admin grant {collective} {actor}`)")]
    NotAdmin { actor: String, collective: String },
    #[error("`{username}` is the last admin of collective `{collective}`, which still has members — grant another admin first (`commonscloud admin grant {collective} <username>`); nothing was changed")]
    LastAdmin {
        username: String,
        collective: String,
    },
    /// Something that cannot be undone was not confirmed; `message` says how to confirm.
    #[error("{message}")]
    NotConfirmed { message: String },
    #[error("not allowed to {action}: {detail}")]
    NotAllowed { action: String, detail: String },
    #[error("the directory refused to {action}: {detail}")]
    Rejected { action: String, detail: String },
    #[error("the directory could not {action} ({code}): {detail}")]
    Ldap {
        action: String,
        code: String,
        detail: String,
    },
    #[error("the connection to the directory failed while trying to {action}: {detail} — run the command again; if it keeps failing, see `commonscloud logs` for the directory")]
    Transport { action: String, detail: String },
}

impl DirectoryError {
    /// Input a person must fix (exit 2 at the command line); nothing was changed.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DirectoryError::Invalid { .. }
                | DirectoryError::NotFound { .. }
                | DirectoryError::AlreadyExists { .. }
                | DirectoryError::NotEmpty { .. }
                | DirectoryError::NotAdmin { .. }
                | DirectoryError::LastAdmin { .. }
                | DirectoryError::NotConfirmed { .. }
        )
    }

    /// The directory could not be reached or refused our own credentials: the environment,
    /// not the input, is at fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DirectoryError::Unreachable { .. } | DirectoryError::BindRefused { .. }
        )
    }
}

/// The outcome of one LDAP operation that did not succeed: a result code from the server, or a
/// failure of the connection. Callers that expect a code (an entry already there, a value
/// already gone) look at [`Fault::code`]; everything else goes through [`Fault::into_error`].
#[derive(Debug)]
pub(crate) enum Fault {
    Code { rc: u32, text: String },
    Transport(String),
}

/// LDAP result codes we treat specially (RFC 4511, appendix A; RFC 4370 for 123).
pub(crate) mod rc {
    pub const SUCCESS: u32 = 0;
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const CONSTRAINT_VIOLATION: u32 = 19;
    pub const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub const INVALID_ATTRIBUTE_SYNTAX: u32 = 21;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_DN_SYNTAX: u32 = 34;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
    pub const NAMING_VIOLATION: u32 = 64;
    pub const OBJECT_CLASS_VIOLATION: u32 = 65;
    pub const NOT_ALLOWED_ON_NON_LEAF: u32 = 66;
    pub const ENTRY_ALREADY_EXISTS: u32 = 68;
    pub const AUTHORIZATION_DENIED: u32 = 123;
}

impl Fault {
    pub(crate) fn code(&self) -> Option<u32> {
        match self {
            Fault::Code { rc, .. } => Some(*rc),
            Fault::Transport(_) => None,
        }
    }

    /// The error for a fault nobody handled more precisely. `action` completes "not allowed
    /// to …" and "could not …": `add alice to collective fki`.
    pub(crate) fn into_error(self, action: impl Into<String>) -> DirectoryError {
        let action = action.into();
        let (rc, text) = match self {
            Fault::Transport(detail) => return DirectoryError::Transport { action, detail },
            Fault::Code { rc, text } => (rc, text),
        };
        let said = |fallback: &str| {
            if text.trim().is_empty() {
                fallback.to_string()
            } else {
                text.trim().to_string()
            }
        };
        match rc {
            rc::INSUFFICIENT_ACCESS => DirectoryError::NotAllowed {
                detail: format!(
                    "the directory's access rules forbid it ({})",
                    said("insufficient access")
                ),
                action,
            },
            rc::AUTHORIZATION_DENIED => DirectoryError::NotAllowed {
                detail: format!(
                    "the directory does not let this connection act for that person ({}) — the portal's account needs proxy rights (authzTo)",
                    said("authorization denied")
                ),
                action,
            },
            rc::CONSTRAINT_VIOLATION => DirectoryError::Rejected {
                detail: format!(
                    "a rule of the directory is not met: {}",
                    said("constraint violation")
                ),
                action,
            },
            rc::INVALID_ATTRIBUTE_SYNTAX
            | rc::INVALID_DN_SYNTAX
            | rc::NAMING_VIOLATION
            | rc::OBJECT_CLASS_VIOLATION => DirectoryError::Rejected {
                detail: format!("a value does not fit the schema: {}", said(code_name(rc))),
                action,
            },
            rc::NO_SUCH_OBJECT => DirectoryError::NotFound {
                what: format!("the entry needed to {action}"),
                hint: if text.trim().is_empty() {
                    "check the names with `commonscloud collective list` and `commonscloud user list`".into()
                } else {
                    format!("the directory says: {}", text.trim())
                },
            },
            rc::ENTRY_ALREADY_EXISTS => DirectoryError::AlreadyExists {
                what: format!("the entry made to {action}"),
                hint: "nothing was changed".into(),
            },
            rc::BUSY | rc::UNAVAILABLE | rc::UNWILLING_TO_PERFORM => DirectoryError::Ldap {
                code: code_name(rc).into(),
                detail: format!(
                    "{} — the directory may be starting or read-only; try again in a moment",
                    said("no detail")
                ),
                action,
            },
            other => DirectoryError::Ldap {
                code: code_name(other).into(),
                detail: said("no detail"),
                action,
            },
        }
    }
}

impl From<LdapError> for Fault {
    fn from(e: LdapError) -> Self {
        match e {
            LdapError::LdapResult { result } => Fault::Code {
                rc: result.rc,
                text: result.text,
            },
            other => Fault::Transport(other.to_string()),
        }
    }
}

impl From<ldap3::LdapResult> for Fault {
    fn from(r: ldap3::LdapResult) -> Self {
        Fault::Code {
            rc: r.rc,
            text: r.text,
        }
    }
}

/// The RFC 4511 name of a result code, for messages.
pub(crate) fn code_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        11 => "adminLimitExceeded",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        80 => "other",
        123 => "authorizationDenied",
        _ => "unexpected result code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(rc: u32, text: &str) -> Fault {
        Fault::Code {
            rc,
            text: text.into(),
        }
    }

    #[test]
    fn result_codes_become_errors_a_person_can_act_on() {
        let e = code(rc::INSUFFICIENT_ACCESS, "").into_error("add bob to collective fki");
        assert!(matches!(e, DirectoryError::NotAllowed { .. }));
        assert!(e
            .to_string()
            .starts_with("not allowed to add bob to collective fki"));
        let e = code(rc::AUTHORIZATION_DENIED, "").into_error("x");
        assert!(e.to_string().contains("authzTo"));
        let e = code(
            rc::CONSTRAINT_VIOLATION,
            "Password fails quality checking policy",
        )
        .into_error("set the password of alice");
        assert!(e.to_string().contains("Password fails quality"));
        assert!(matches!(
            code(rc::NO_SUCH_OBJECT, "").into_error("x"),
            DirectoryError::NotFound { .. }
        ));
        assert!(matches!(
            code(rc::ENTRY_ALREADY_EXISTS, "").into_error("x"),
            DirectoryError::AlreadyExists { .. }
        ));
        let e = code(80, "").into_error("x");
        assert!(e.to_string().contains("(other)"));
        let e = Fault::Transport("broken pipe".into()).into_error("list users");
        assert!(e.to_string().contains("run the command again"));
    }
}
