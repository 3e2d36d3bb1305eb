//! Outgoing mail: a durable outbox in SQLite and a sender over SMTP (lettre).
//!
//! A message is first stored in the outbox ([`Outbox::enqueue`]); a [`Worker`] then sends what
//! is due. A transient failure (the server down, a 4xx answer) is retried with a growing delay;
//! a permanent one (a 5xx answer), or one that keeps failing past [`GIVE_UP_AFTER`], marks the
//! message `failed`. Failed messages stay in the outbox, listed for the operator
//! ([`Outbox::list`]) until they are retried ([`Outbox::retry_failed`]): no message is ever
//! silently dropped.
//!
//! Nothing here knows who sends mail or why: the portal and the supervisor both use it. Time
//! is passed in (`now`), so backoff and expiry are exact in tests.

mod error;
mod outbox;
mod sender;
mod settings;

pub use error::MailError;
pub use outbox::{
    DueMail, Outbox, OutboxCounts, OutboxEntry, OutboxStatus, OutgoingMail, GIVE_UP_AFTER,
};
pub use sender::{Mailer, SendFailure, Worker};
pub use settings::MailSettings;
