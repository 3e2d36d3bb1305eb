//! Telling the operator by mail (node.yaml's `operator.email` through its `smtp`): a mail is
//! queued in the supervisor's durable outbox and sent at once when the server answers; one
//! that cannot go yet waits for the next try. Used by certificate renewal and backups.

use super::certs::{outbox_file, smtp_password_secret};
use super::OpsError;
use crate::model::Loaded;
use crate::paths::NodePaths;
use time::OffsetDateTime;

/// Mail `summary` (the subject, after the node's name) and `text` to the operator. Returns
/// what to show the person at the terminal: who was mailed, or why nobody could be.
pub async fn mail_operator(
    paths: &NodePaths,
    loaded: &Loaded,
    summary: &str,
    text: String,
) -> Result<Vec<String>, OpsError> {
    let node = loaded.node.node_id();
    let (Some(operator), Some(smtp)) = (&loaded.node.operator, &loaded.node.smtp) else {
        return Ok(vec![format!(
            "{summary}; set `operator` and `smtp` in node.yaml to be told by mail"
        )]);
    };
    let outbox_path = outbox_file(paths);
    if let Some(dir) = outbox_path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| OpsError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mail_err = |e: crate::mail::MailError| OpsError::Refused(format!("mail: {e}"));
    let outbox = std::sync::Arc::new(crate::mail::Outbox::open(&outbox_path).map_err(mail_err)?);
    outbox
        .enqueue(
            &crate::mail::OutgoingMail {
                to: operator.email.clone(),
                subject: format!("[{node}] {summary}"),
                text,
                html: None,
            },
            OffsetDateTime::now_utc(),
        )
        .map_err(mail_err)?;
    let (scope, name) = smtp_password_secret(&node);
    let password = crate::secrets::SecretStore::open(paths.secrets_dir())?
        .get(&scope, name)?
        .map(|s| s.expose().to_string());
    let settings = crate::mail::MailSettings {
        smtp: smtp.clone(),
        password,
    };
    let mailer = crate::mail::Mailer::new(settings).map_err(mail_err)?;
    let worker = crate::mail::Worker::new(
        outbox,
        Some(mailer),
        std::sync::Arc::new(OffsetDateTime::now_utc),
        std::time::Duration::from_secs(60),
    );
    Ok(match worker.run_once().await {
        Ok(n) if n > 0 => vec![format!("{summary}; {} was told by mail", operator.email)],
        Ok(_) | Err(_) => vec![format!(
            "{summary}; the mail to {} could not be sent yet and waits in {}",
            operator.email,
            outbox_path.display()
        )],
    })
}
