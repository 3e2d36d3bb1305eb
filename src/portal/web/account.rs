//! The home page (one place for every service a person may use) and the person's own
//! account: name, language, password, email.

use super::auth::{put_notice, start_session, Notice};
use super::register::{notice, token_refused};
use super::{
    base_context, limit_ip, page, page_with, see_other, Ctx, FieldErrors, PageError, PageResult,
};
use crate::directory::{check_password, UserInfo};
use crate::portal::state::AppState;
use crate::portal::store::Purpose;
use crate::portal::{notify, password, validate};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct ServiceView {
    name: String,
    description: Option<String>,
    url: String,
}

#[derive(Serialize)]
struct Group {
    title: String,
    services: Vec<ServiceView>,
}

async fn me(state: &AppState, username: &str) -> Result<UserInfo, PageError> {
    let dir = state.dir().await?;
    match dir.show_user(username).await {
        Ok(u) => Ok(u),
        Err(e) => {
            state.saw(&e).await;
            Err(e.into())
        }
    }
}

pub async fn home(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Notice>,
) -> PageResult {
    let Some(username) = ctx.username() else {
        return Ok(see_other("/signin"));
    };
    let user = me(&state, username).await?;
    let t = state.i18n.catalogue(ctx.lang);
    let view = |s: &crate::portal::config::ServiceConfig| ServiceView {
        name: s.name.clone(),
        description: s.description.clone(),
        url: s.url.clone(),
    };
    let mut groups = vec![Group {
        title: t.get("home_public").cloned().unwrap_or_default(),
        services: state
            .config
            .services
            .iter()
            .filter(|s| s.collective.is_none())
            .map(view)
            .collect(),
    }];
    let dir = state.dir().await?;
    for c in &user.collectives {
        let services: Vec<ServiceView> = state
            .config
            .services
            .iter()
            .filter(|s| s.collective.as_deref() == Some(c.as_str()))
            .map(view)
            .collect();
        if services.is_empty() {
            continue;
        }
        let name = dir.collective_name(c).await.unwrap_or_else(|_| c.clone());
        groups.push(Group {
            title: state
                .i18n
                .text(ctx.lang, "home_of_collective", &[("collective", &name)]),
            services,
        });
    }
    groups.retain(|g| !g.services.is_empty());
    let mut c = base_context(&state, &ctx);
    put_notice(&state, &ctx, &mut c, &q.done);
    c.insert("display_name", &user.display_name);
    c.insert("groups", &groups);
    c.insert("collectives", &user.collectives);
    c.insert("admin_of", &user.admin_of);
    page(&state, "home.html", &c)
}

pub async fn page_view(
    state: &AppState,
    ctx: &Ctx,
    done: &str,
    errors: &FieldErrors,
) -> PageResult {
    let username = ctx.require_user()?;
    let user = me(state, username).await?;
    let mut c = base_context(state, ctx);
    put_notice(state, ctx, &mut c, done);
    c.insert("display_name", &user.display_name);
    c.insert("email", &user.email);
    errors.put(state, ctx, &mut c);
    if errors.is_empty() {
        page(state, "account.html", &c)
    } else {
        page_with(state, StatusCode::UNPROCESSABLE_ENTITY, "account.html", &c)
    }
}

pub async fn page_handler(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Notice>,
) -> PageResult {
    page_view(&state, &ctx, &q.done, &FieldErrors::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    pub csrf: String,
    pub name: String,
    pub language: String,
    pub current: String,
    pub password: String,
    pub password2: String,
    pub email: String,
}

pub async fn name(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    limit_ip(&state, &ctx)?;
    let name = match validate::display_name(&f.name) {
        Ok(n) => n,
        Err(key) => {
            let mut errors = FieldErrors::default();
            errors.add("name", key);
            return page_view(&state, &ctx, "", &errors).await;
        }
    };
    let dir = state.dir().await?;
    dir.set_display_name_as(&username, &name).await?;
    state.store.audit(
        state.now(),
        &username,
        "account.name",
        None,
        Some(&username),
        Some(&name),
    )?;
    Ok(see_other("/account?done=name_saved"))
}

pub async fn language(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    let Some(lang) = state.i18n.known(&f.language) else {
        return Err(PageError::NotFound);
    };
    let dir = state.dir().await?;
    dir.set_language_as(&username, lang).await?;
    let mut r = see_other("/account?done=language_saved").into_response();
    let cookie = state
        .cookies
        .set(state.cookies.lang, lang, Some(365 * 24 * 3600));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

pub async fn password(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    limit_ip(&state, &ctx)?;
    if !state.limits.sign_in_per_user.allow(&username, state.now()) {
        return Err(PageError::RateLimited);
    }
    let mut errors = FieldErrors::default();
    let ok = !f.current.is_empty()
        && f.current.len() <= 1024
        && check_password(state.dir.url(), &state.tree.person(&username), &f.current)
            .await
            .map_err(PageError::Directory)?;
    if !ok {
        errors.add("current", "err_current_password");
    } else if f.password != f.password2 {
        errors.add("password2", "err_password_mismatch");
    } else {
        let user = me(&state, &username).await?;
        if let Err(key) =
            password::check(&f.password, &[&username, &user.display_name, &user.email])
        {
            errors.add("password", key);
        }
    }
    if !errors.is_empty() {
        return page_view(&state, &ctx, "", &errors).await;
    }
    let dir = state.dir().await?;
    dir.set_own_password_as(&username, &f.password).await?;
    state.store.end_sessions_of(&username)?;
    state.store.audit(
        state.now(),
        &username,
        "account.password",
        None,
        Some(&username),
        None,
    )?;
    start_session(&state, &username, "/account?done=password_changed")
}

pub async fn email(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    limit_ip(&state, &ctx)?;
    let new = match validate::email(&f.email) {
        Ok(e) => e,
        Err(key) => {
            let mut errors = FieldErrors::default();
            errors.add("email", key);
            return page_view(&state, &ctx, "", &errors).await;
        }
    };
    if !state
        .limits
        .mail_per_address
        .allow(&new.to_lowercase(), state.now())
    {
        return Err(PageError::RateLimited);
    }
    let user = me(&state, &username).await?;
    let dir = state.dir().await?;
    let taken = dir
        .people_with_email(&new)
        .await?
        .into_iter()
        .any(|p| p.username != username);
    if taken {
        // Tell the owner of the address, not the person asking.
        notify::send(&state, &new, ctx.lang, "email_change_taken", &[], None)?;
    } else {
        let token =
            state
                .store
                .issue_token(Purpose::ChangeEmail, &username, Some(&new), state.now())?;
        let hours = Purpose::ChangeEmail.lifetime().whole_hours().to_string();
        notify::send(
            &state,
            &new,
            ctx.lang,
            "email_change",
            &[("username", &username), ("hours", &hours)],
            Some(&state.link(&format!("/email/{token}"))),
        )?;
        if !user.email.is_empty() {
            notify::send(
                &state,
                &user.email,
                ctx.lang,
                "email_change_notice",
                &[("username", &username), ("email", &new)],
                None,
            )?;
        }
    }
    Ok(see_other("/account?done=email_sent"))
}

pub async fn email_confirm_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
) -> PageResult {
    let row = match state
        .store
        .peek_token(&token, Purpose::ChangeEmail, state.now())?
    {
        Ok(r) => r,
        Err(e) => return token_refused(&state, &ctx, e),
    };
    let mut c = base_context(&state, &ctx);
    c.insert("username", &row.subject);
    c.insert("email", &row.data.unwrap_or_default());
    c.insert("action", &format!("/email/{token}"));
    page(&state, "email_confirm.html", &c)
}

pub async fn email_confirm(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let row = match state
        .store
        .consume_token(&token, Purpose::ChangeEmail, state.now())?
    {
        Ok(r) => r,
        Err(e) => return token_refused(&state, &ctx, e),
    };
    let username = row.subject;
    let new = row.data.unwrap_or_default();
    let dir = state.dir().await?;
    if dir
        .people_with_email(&new)
        .await?
        .into_iter()
        .any(|p| p.username != username)
    {
        return notice(
            &state,
            &ctx,
            "email_taken_title",
            "email_taken_text",
            StatusCode::CONFLICT,
        );
    }
    dir.set_email(&username, &new).await?;
    state.store.audit(
        state.now(),
        &username,
        "account.email",
        None,
        Some(&username),
        Some(&new),
    )?;
    notice(
        &state,
        &ctx,
        "email_changed_title",
        "email_changed_text",
        StatusCode::OK,
    )
}
