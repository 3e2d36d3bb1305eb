//! Registration: the form, the email confirmation (a page with a button: a mail scanner that
//! follows the link confirms nothing), and resending the link.
//!
//! Whether a username or an address is taken is never shown on the page: the page is the same
//! and the work that differs (looking the person up, writing the mail) happens after the
//! answer, in the background. The mail says what happened to the address's owner only.

use super::auth::put_notice;
use super::{
    base_context, limit_ip, page, page_with, see_other, Ctx, FieldErrors, PageError, PageResult,
};
use crate::portal::notify;
use crate::portal::state::AppState;
use crate::portal::store::{NewRegistration, Purpose, TokenError};
use crate::portal::validate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RegisterForm {
    #[serde(skip_serializing)]
    pub csrf: String,
    /// The honeypot: hidden from people, filled by some robots.
    #[serde(skip_serializing)]
    pub website: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub collective: String,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterQuery {
    pub collective: String,
}

#[derive(Serialize)]
struct Choice {
    id: String,
    name: String,
}

async fn collectives(state: &AppState) -> Result<Vec<Choice>, PageError> {
    let dir = state.dir().await?;
    match dir.list_collectives().await {
        Ok(list) => Ok(list
            .into_iter()
            .map(|c| Choice {
                id: c.id,
                name: c.name,
            })
            .collect()),
        Err(e) => {
            state.saw(&e).await;
            Err(e.into())
        }
    }
}

pub async fn page_form(
    state: &AppState,
    ctx: &Ctx,
    form: &RegisterForm,
    errors: &FieldErrors,
) -> PageResult {
    let mut c = base_context(state, ctx);
    c.insert("form", form);
    c.insert("collectives", &collectives(state).await?);
    errors.put(state, ctx, &mut c);
    if errors.is_empty() {
        page(state, "register.html", &c)
    } else {
        page_with(state, StatusCode::UNPROCESSABLE_ENTITY, "register.html", &c)
    }
}

pub async fn form_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<RegisterQuery>,
) -> PageResult {
    let form = RegisterForm {
        collective: q.collective,
        ..Default::default()
    };
    page_form(&state, &ctx, &form, &FieldErrors::default()).await
}

/// What the background step of a registration needs.
struct Pending {
    name: String,
    username: String,
    email: String,
    collective: String,
    message: String,
    lang: &'static str,
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<RegisterForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    if !f.website.is_empty() {
        // A robot: the same answer as anyone gets, and nothing done.
        tracing::info!("registration honeypot filled from {}", ctx.ip);
        return Ok(see_other("/register/sent"));
    }
    let mut errors = FieldErrors::default();
    let name = errors.check("name", validate::display_name(&f.name));
    let username = errors.check("username", validate::username(&f.username));
    let email = errors.check("email", validate::email(&f.email));
    let message = errors.check("message", validate::message(&f.message));
    let mut collective = errors.check("collective", validate::collective_id(&f.collective));
    if let Some(c) = &collective {
        let known = collectives(&state).await?;
        if !known.iter().any(|k| &k.id == c) {
            errors.add("collective", "err_choose_collective");
            collective = None;
        } else if state.store.waiting_count(c, state.now())? >= state.config.pending_per_collective
        {
            errors.add("collective", "err_collective_full");
            collective = None;
        }
    }
    let (Some(name), Some(username), Some(email), Some(message), Some(collective)) =
        (name, username, email, message, collective)
    else {
        return page_form(&state, &ctx, &f, &errors).await;
    };
    if !state
        .limits
        .mail_per_address
        .allow(&email.to_lowercase(), state.now())
    {
        return Err(PageError::RateLimited);
    }
    let p = Pending {
        name,
        username,
        email,
        collective,
        message,
        lang: ctx.lang,
    };
    let bg = state.clone();
    tokio::spawn(async move {
        if let Err(e) = register_in_background(&bg, p).await {
            tracing::error!("registration: {e:?}");
        }
    });
    Ok(see_other("/register/sent"))
}

async fn register_in_background(state: &AppState, p: Pending) -> Result<(), PageError> {
    let now = state.now();
    let dir = state.dir().await?;
    let existing = dir.people_with_email(&p.email).await?;
    if let Some(owner) = existing.first() {
        let lang = owner.language.as_deref().unwrap_or(p.lang);
        return notify::send(
            state,
            &p.email,
            lang,
            "email_taken",
            &[("username", &owner.username)],
            Some(&state.link("/password/forgot")),
        );
    }
    let (user_held, mail_held) = state.store.registration_holds(&p.username, &p.email, now)?;
    if mail_held {
        return notify::send(
            state,
            &p.email,
            p.lang,
            "email_pending",
            &[],
            Some(&state.link("/register/resend")),
        );
    }
    if user_held || dir.user_exists(&p.username).await? {
        return notify::send(
            state,
            &p.email,
            p.lang,
            "username_taken",
            &[("username", &p.username)],
            Some(&state.link(&format!("/register?collective={}", p.collective))),
        );
    }
    let id = state.store.add_registration(
        &NewRegistration {
            username: &p.username,
            display_name: &p.name,
            email: &p.email,
            collective: &p.collective,
            message: &p.message,
            language: p.lang,
        },
        now,
    )?;
    send_confirmation(state, id, &p.email, p.lang, &p.name, &p.collective).await
}

async fn send_confirmation(
    state: &AppState,
    id: i64,
    email: &str,
    lang: &str,
    name: &str,
    collective: &str,
) -> Result<(), PageError> {
    let token =
        state
            .store
            .issue_token(Purpose::ConfirmEmail, &id.to_string(), None, state.now())?;
    let hours = Purpose::ConfirmEmail.lifetime().whole_hours().to_string();
    notify::send(
        state,
        email,
        lang,
        "confirm",
        &[
            ("name", name),
            ("collective", collective),
            ("hours", &hours),
        ],
        Some(&state.link(&format!("/confirm/{token}"))),
    )
}

pub async fn sent(State(state): State<AppState>, Extension(ctx): Extension<Ctx>) -> PageResult {
    notice(&state, &ctx, "sent_title", "sent_text", StatusCode::OK)
}

/// A page with a title and a text from the catalogue.
pub fn notice(
    state: &AppState,
    ctx: &Ctx,
    title: &str,
    text: &str,
    status: StatusCode,
) -> PageResult {
    let mut c = base_context(state, ctx);
    let t = state.i18n.catalogue(ctx.lang);
    c.insert("title", t.get(title).map(String::as_str).unwrap_or(title));
    c.insert("text", t.get(text).map(String::as_str).unwrap_or(text));
    page_with(state, status, "notice.html", &c)
}

/// The page for a link that cannot be used, never a server error.
pub fn token_refused(state: &AppState, ctx: &Ctx, e: TokenError) -> PageResult {
    let (title, text, status) = match e {
        TokenError::Unknown => (
            "token_unknown_title",
            "token_unknown_text",
            StatusCode::NOT_FOUND,
        ),
        TokenError::Used => ("token_used_title", "token_used_text", StatusCode::GONE),
        TokenError::Expired => (
            "token_expired_title",
            "token_expired_text",
            StatusCode::GONE,
        ),
        TokenError::WrongPurpose => (
            "token_unknown_title",
            "token_wrong_text",
            StatusCode::BAD_REQUEST,
        ),
    };
    notice(state, ctx, title, text, status)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    pub csrf: String,
    pub email: String,
    pub done: String,
}

pub async fn resend_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<EmailForm>,
) -> PageResult {
    let mut c = base_context(&state, &ctx);
    put_notice(&state, &ctx, &mut c, &q.done);
    c.insert("email", "");
    page(&state, "resend.html", &c)
}

pub async fn resend(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<EmailForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let email = match validate::email(&f.email) {
        Ok(e) => e,
        Err(key) => {
            let mut c = base_context(&state, &ctx);
            let mut errors = FieldErrors::default();
            errors.add("email", key);
            errors.put(&state, &ctx, &mut c);
            c.insert("email", &f.email.chars().take(254).collect::<String>());
            return page_with(&state, StatusCode::UNPROCESSABLE_ENTITY, "resend.html", &c);
        }
    };
    if !state
        .limits
        .mail_per_address
        .allow(&email.to_lowercase(), state.now())
    {
        return Err(PageError::RateLimited);
    }
    let bg = state.clone();
    tokio::spawn(async move {
        let r = async {
            if let Some(reg) = bg.store.unverified_by_email(&email, bg.now())? {
                send_confirmation(
                    &bg,
                    reg.id,
                    &reg.email,
                    &reg.language,
                    &reg.display_name,
                    &reg.collective,
                )
                .await?;
            }
            Ok::<(), PageError>(())
        };
        if let Err(e) = r.await {
            tracing::error!("resend: {e:?}");
        }
    });
    Ok(see_other("/register/sent"))
}

pub async fn confirm_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
) -> PageResult {
    let row = match state
        .store
        .peek_token(&token, Purpose::ConfirmEmail, state.now())?
    {
        Ok(r) => r,
        Err(e) => return token_refused(&state, &ctx, e),
    };
    let Some(reg) = row
        .subject
        .parse::<i64>()
        .ok()
        .map(|id| state.store.registration(id))
        .transpose()?
        .flatten()
    else {
        return token_refused(&state, &ctx, TokenError::Unknown);
    };
    let mut c = base_context(&state, &ctx);
    c.insert("name", &reg.display_name);
    c.insert("email", &reg.email);
    c.insert("collective", &reg.collective);
    c.insert("action", &format!("/confirm/{token}"));
    page(&state, "confirm.html", &c)
}

pub async fn confirm(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let row = match state
        .store
        .consume_token(&token, Purpose::ConfirmEmail, state.now())?
    {
        Ok(r) => r,
        Err(e) => return token_refused(&state, &ctx, e),
    };
    let Some(reg) = row
        .subject
        .parse::<i64>()
        .ok()
        .map(|id| state.store.registration(id))
        .transpose()?
        .flatten()
    else {
        return token_refused(&state, &ctx, TokenError::Unknown);
    };
    if state.store.verify_registration(reg.id)? {
        state.store.audit(
            state.now(),
            &reg.username,
            "registration.confirm",
            Some(&reg.collective),
            Some(&reg.username),
            None,
        )?;
        let dir = state.dir().await?;
        let admins = dir.admin_contacts(&reg.collective).await?;
        if admins.is_empty() {
            tracing::warn!(
                "collective `{}` has no admin to decide on the registration of `{}`",
                reg.collective,
                reg.username
            );
        }
        for a in admins {
            notify::send(
                &state,
                &a.email,
                a.language.as_deref().unwrap_or(&reg.language),
                "admins_new",
                &[
                    ("name", &reg.display_name),
                    ("username", &reg.username),
                    ("email", &reg.email),
                    ("collective", &reg.collective),
                    ("message", &reg.message),
                ],
                Some(&state.link(&format!("/admin/{}", reg.collective))),
            )?;
        }
    }
    notice(
        &state,
        &ctx,
        "confirmed_title",
        "confirmed_text",
        StatusCode::OK,
    )
}
