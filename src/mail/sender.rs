//! Sending over SMTP with lettre, and the worker that drains the outbox.

use super::error::MailError;
use super::outbox::{DueMail, Outbox, OutboxStatus};
use super::settings::MailSettings;
use crate::model::SmtpSecurity;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages sent per pass of the worker.
const BATCH: usize = 50;

/// Why one attempt failed.
#[derive(Debug, Clone)]
pub struct SendFailure {
    /// A 5xx answer (or a message that cannot be built): retrying will not help.
    pub permanent: bool,
    pub detail: String,
}

/// Sends one message at a time over a pooled SMTP connection.
#[derive(Clone)]
pub struct Mailer {
    settings: MailSettings,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Mailer {
    /// Check the settings and prepare the transport (nothing is contacted yet).
    pub fn new(settings: MailSettings) -> Result<Mailer, MailError> {
        let from: Mailbox =
            settings
                .smtp
                .from
                .parse()
                .map_err(|e: lettre::address::AddressError| MailError::Settings {
                    what: "from",
                    value: settings.smtp.from.clone(),
                    why: e.to_string(),
                })?;
        let host = settings.smtp.host.as_str();
        let relay_err = |e: lettre::transport::smtp::Error| MailError::Settings {
            what: "host",
            value: host.to_string(),
            why: e.to_string(),
        };
        let mut builder = match settings.smtp.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(relay_err)?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(relay_err)?
            }
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(settings.smtp.port)
        .timeout(Some(SMTP_TIMEOUT))
        .pool_config(PoolConfig::new().max_size(4));
        if let (Some(user), Some(password)) = (&settings.smtp.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            settings,
        })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// Build the MIME message: plain text, plus HTML as an alternative when given.
    pub fn build(&self, due: &DueMail) -> Result<Message, SendFailure> {
        let to: Mailbox = due.mail.to.parse().map_err(|e| SendFailure {
            permanent: true,
            detail: format!("the address `{}` is not valid: {e}", due.mail.to),
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(due.mail.subject.clone())
            .message_id(Some(due.message_id.clone()))
            .date_now();
        let built = match &due.mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                due.mail.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(due.mail.text.clone())),
        };
        built.map_err(|e| SendFailure {
            permanent: true,
            detail: format!("the message cannot be built: {e}"),
        })
    }

    /// One attempt to send one message.
    pub async fn send(&self, due: &DueMail) -> Result<(), SendFailure> {
        let message = self.build(due)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendFailure {
                permanent: e.is_permanent(),
                detail: format!("{} said: {e}", self.settings.describe()),
            }),
        }
    }
}

/// Drains the outbox: sends what is due, records each outcome, sleeps until the next message
/// is due or it is woken ([`Worker::wake`]) by a new one.
#[derive(Clone)]
pub struct Worker {
    outbox: Arc<Outbox>,
    mailer: Option<Mailer>,
    now: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>,
    wake: Arc<Notify>,
    /// The longest sleep between passes (the clock may be a test's, moved by hand).
    poll: Duration,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("outbox", &self.outbox.path())
            .field("mailer", &self.mailer)
            .finish()
    }
}

impl Worker {
    /// A worker for `outbox`. Without a mailer (no SMTP configured) messages stay pending, and
    /// are counted as such, until one is.
    pub fn new(
        outbox: Arc<Outbox>,
        mailer: Option<Mailer>,
        now: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>,
        poll: Duration,
    ) -> Worker {
        Worker {
            outbox,
            mailer,
            now,
            wake: Arc::new(Notify::new()),
            poll,
        }
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Tell the worker that something was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Send every message due now; returns how many went out.
    pub async fn run_once(&self) -> Result<usize, MailError> {
        let Some(mailer) = &self.mailer else {
            return Ok(0);
        };
        let mut sent = 0;
        loop {
            let due = self.outbox.due((self.now)(), BATCH)?;
            if due.is_empty() {
                return Ok(sent);
            }
            let n = due.len();
            for d in due {
                match mailer.send(&d).await {
                    Ok(()) => {
                        self.outbox.mark_sent(d.id, (self.now)())?;
                        sent += 1;
                    }
                    Err(f) => {
                        let status = self.outbox.mark_failed_attempt(
                            d.id,
                            (self.now)(),
                            &f.detail,
                            f.permanent,
                        )?;
                        if status == OutboxStatus::Failed {
                            tracing::error!(
                                "mail {} to {} failed for good: {} — it stays in the outbox; retry with `commonscloud portal --outbox-retry`",
                                d.id, d.mail.to, f.detail
                            );
                        } else {
                            tracing::warn!(
                                "mail {} to {} not sent yet: {}; it will be retried",
                                d.id,
                                d.mail.to,
                                f.detail
                            );
                        }
                        // The server is likely down: leave the rest for the next pass.
                        if !f.permanent {
                            return Ok(sent);
                        }
                    }
                }
            }
            if n < BATCH {
                return Ok(sent);
            }
        }
    }

    /// Run until the task is dropped.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!("mail outbox: {e}");
            }
            let sleep = match self.outbox.next_due() {
                Ok(Some(next)) => {
                    let wait = next - (self.now)();
                    Duration::try_from(wait)
                        .unwrap_or(Duration::ZERO)
                        .min(self.poll)
                }
                _ => self.poll,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep.max(Duration::from_millis(20))) => {}
            }
        }
    }
}
