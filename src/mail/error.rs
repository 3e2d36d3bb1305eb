//! What can go wrong with the outbox or the mail settings.

/// An error of the outbox (its database) or of the mail settings.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail outbox {path} cannot be used: {detail} — check that the state folder exists and is writable")]
    Store { path: String, detail: String },
    #[error("mail setting {what} `{value}` is refused: {why}")]
    Settings {
        what: &'static str,
        value: String,
        why: String,
    },
    #[error("a message to `{to}` cannot be built: {detail}")]
    Message { to: String, detail: String },
}
