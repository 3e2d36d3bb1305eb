//! The portal's mail: each kind of message is three catalogue entries
//! (`mail_<kind>_subject`, `mail_<kind>_body`, optionally `mail_<kind>_action` for the button),
//! rendered into one plain-text and one HTML template, in the recipient's language, then put
//! in the outbox. The worker is woken; sending happens outside the request.

use super::state::AppState;
use super::web::PageError;
use crate::mail::OutgoingMail;
use serde::Serialize;

#[derive(Serialize)]
struct MailView<'a> {
    t: &'a super::i18n::Catalogue,
    node_name: &'a str,
    paragraphs: Vec<String>,
    action: Option<String>,
    link: Option<&'a str>,
    expires: Option<String>,
}

/// Queue one message of `kind` to `to`, in `lang`. `args` fill the `{placeholders}`.
pub fn send(
    state: &AppState,
    to: &str,
    lang: &str,
    kind: &str,
    args: &[(&str, &str)],
    link: Option<&str>,
) -> Result<(), PageError> {
    let mail = compose(state, to, lang, kind, args, link)?;
    state.mail.outbox().enqueue(&mail, state.now())?;
    state.mail.wake();
    Ok(())
}

pub fn compose(
    state: &AppState,
    to: &str,
    lang: &str,
    kind: &str,
    args: &[(&str, &str)],
    link: Option<&str>,
) -> Result<OutgoingMail, PageError> {
    let i = &state.i18n;
    let lang = i.known(lang).unwrap_or(i.default_language());
    let node = state.config.display_name();
    let mut all: Vec<(&str, &str)> = vec![("node", node)];
    all.extend_from_slice(args);
    let subject = i.text(lang, &format!("mail_{kind}_subject"), &all);
    let body = i.text(lang, &format!("mail_{kind}_body"), &all);
    let action_key = format!("mail_{kind}_action");
    let action = i
        .catalogue(lang)
        .contains_key(&action_key)
        .then(|| i.text(lang, &action_key, &all));
    let expires = all
        .iter()
        .find(|(k, _)| *k == "hours")
        .map(|(_, h)| i.text(lang, "mail_link_expires", &[("hours", h)]));
    let view = MailView {
        t: i.catalogue(lang),
        node_name: node,
        paragraphs: body.split("\n\n").map(|p| p.trim().to_string()).collect(),
        action,
        link,
        expires,
    };
    let c = tera::Context::from_serialize(&view)?;
    Ok(OutgoingMail {
        to: to.to_string(),
        subject: format!("[{node}] {subject}"),
        text: state.tera.render("mail/message.txt", &c)?,
        html: Some(state.tera.render("mail/message.html", &c)?),
    })
}
