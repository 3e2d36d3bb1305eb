//! Passwords: the first one (after approval), a forgotten one (reset by email). The page
//! answers the same, at once, whether the account exists or not; looking it up and writing
//! the mail happen after the answer.

use super::auth::start_session;
use super::register::{notice, token_refused};
use super::{base_context, limit_ip, page, page_with, Ctx, FieldErrors, PageError, PageResult};
use crate::portal::notify;
use crate::portal::password;
use crate::portal::state::AppState;
use crate::portal::store::{Purpose, TokenError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Form};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    pub csrf: String,
    /// A username or an email address.
    pub who: String,
}

pub async fn forgot_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> PageResult {
    let c = base_context(&state, &ctx);
    page(&state, "forgot.html", &c)
}

pub async fn forgot(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<ForgotForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let who = f.who.trim().to_string();
    if who.is_empty() || who.len() > 254 {
        let mut c = base_context(&state, &ctx);
        let mut errors = FieldErrors::default();
        errors.add("who", "err_required");
        errors.put(&state, &ctx, &mut c);
        return page_with(&state, StatusCode::UNPROCESSABLE_ENTITY, "forgot.html", &c);
    }
    if !state
        .limits
        .mail_per_address
        .allow(&who.to_lowercase(), state.now())
    {
        return Err(PageError::RateLimited);
    }
    let bg = state.clone();
    let lang = ctx.lang;
    tokio::spawn(async move {
        if let Err(e) = send_reset(&bg, &who, lang).await {
            tracing::error!("password reset: {e:?}");
        }
    });
    notice(
        &state,
        &ctx,
        "forgot_sent_title",
        "forgot_sent_text",
        StatusCode::OK,
    )
}

async fn send_reset(state: &AppState, who: &str, lang: &str) -> Result<(), PageError> {
    let dir = state.dir().await?;
    let person = if who.contains('@') {
        match crate::portal::validate::email(who) {
            Ok(e) => dir.people_with_email(&e).await?.into_iter().next(),
            Err(_) => None,
        }
    } else {
        match crate::portal::validate::username(who) {
            Ok(u) => dir.contact_of(&u).await?,
            Err(_) => None,
        }
    };
    let Some(p) = person else {
        return Ok(());
    };
    if p.email.is_empty() {
        return Ok(());
    }
    let token = state
        .store
        .issue_token(Purpose::ResetPassword, &p.username, None, state.now())?;
    let hours = Purpose::ResetPassword.lifetime().whole_hours().to_string();
    notify::send(
        state,
        &p.email,
        p.language.as_deref().unwrap_or(lang),
        "reset",
        &[("username", &p.username), ("hours", &hours)],
        Some(&state.link(&format!("/password/reset/{token}"))),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub csrf: String,
    pub password: String,
    pub password2: String,
}

async fn show(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    purpose: Purpose,
    errors: &FieldErrors,
) -> PageResult {
    let row = match state.store.peek_token(token, purpose, state.now())? {
        Ok(r) => r,
        Err(e) => return token_refused(state, ctx, e),
    };
    let mut c = base_context(state, ctx);
    c.insert("username", &row.subject);
    c.insert(
        "title_key",
        if purpose == Purpose::SetPassword {
            "password_set_title"
        } else {
            "password_reset_title"
        },
    );
    let prefix = if purpose == Purpose::SetPassword {
        "set"
    } else {
        "reset"
    };
    c.insert("action", &format!("/password/{prefix}/{token}"));
    errors.put(state, ctx, &mut c);
    if errors.is_empty() {
        page(state, "password.html", &c)
    } else {
        page_with(state, StatusCode::UNPROCESSABLE_ENTITY, "password.html", &c)
    }
}

pub async fn set_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
) -> PageResult {
    show(
        &state,
        &ctx,
        &token,
        Purpose::SetPassword,
        &FieldErrors::default(),
    )
    .await
}

pub async fn reset_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
) -> PageResult {
    show(
        &state,
        &ctx,
        &token,
        Purpose::ResetPassword,
        &FieldErrors::default(),
    )
    .await
}

pub async fn set(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    apply(&state, &ctx, &token, Purpose::SetPassword, &f).await
}

pub async fn reset(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    apply(&state, &ctx, &token, Purpose::ResetPassword, &f).await
}

/// The password's strength is checked first (the link stays usable); then the token is used
/// up, the password set as its owner, every other session ended, and the person signed in.
async fn apply(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    purpose: Purpose,
    f: &PasswordForm,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(state, ctx)?;
    let row = match state.store.peek_token(token, purpose, state.now())? {
        Ok(r) => r,
        Err(e) => return token_refused(state, ctx, e),
    };
    let username = row.subject.clone();
    let dir = state.dir().await?;
    let contact = dir.contact_of(&username).await?;
    let Some(contact) = contact else {
        return token_refused(state, ctx, TokenError::Unknown);
    };
    let mut errors = FieldErrors::default();
    if f.password != f.password2 {
        errors.add("password2", "err_password_mismatch");
    } else if let Err(key) = password::check(
        &f.password,
        &[&username, &contact.display_name, &contact.email],
    ) {
        errors.add("password", key);
    }
    if !errors.is_empty() {
        return show(state, ctx, token, purpose, &errors).await;
    }
    if let Err(e) = state.store.consume_token(token, purpose, state.now())? {
        return token_refused(state, ctx, e);
    }
    if let Err(e) = dir.set_own_password_as(&username, &f.password).await {
        state.saw(&e).await;
        return Err(e.into());
    }
    state.store.end_sessions_of(&username)?;
    state.store.audit(
        state.now(),
        &username,
        purpose.as_str(),
        None,
        Some(&username),
        None,
    )?;
    start_session(state, &username, "/?done=password_set")
}
