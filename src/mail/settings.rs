//! The SMTP settings of the node (`node.yaml`'s `smtp` section) plus the password, which never
//! lives in a YAML file and never prints.

use crate::model::{Smtp, SmtpSecurity};
use std::fmt;

/// Where and how to send mail.
#[derive(Clone)]
pub struct MailSettings {
    pub smtp: Smtp,
    /// The SMTP password, read from a file at start; used only with `smtp.username`.
    pub password: Option<String>,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.smtp.host)
            .field("port", &self.smtp.port)
            .field("username", &self.smtp.username)
            .field("from", &self.smtp.from)
            .field("security", &self.smtp.security)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl MailSettings {
    /// `smtp+starttls://host:587` and the like, for logs and the operator (no credentials).
    pub fn describe(&self) -> String {
        let scheme = match self.smtp.security {
            SmtpSecurity::Starttls => "smtp+starttls",
            SmtpSecurity::Tls => "smtps",
            SmtpSecurity::None => "smtp",
        };
        format!("{scheme}://{}:{}", self.smtp.host, self.smtp.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_prints() {
        let s = MailSettings {
            smtp: Smtp {
                host: "mail.example.coop".into(),
                port: 587,
                username: Some("noreply".into()),
                from: "noreply@example.coop".into(),
                security: SmtpSecurity::Starttls,
            },
            password: Some("hunter2-secret".into()),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(s.describe(), "smtp+starttls://mail.example.coop:587");
    }
}
