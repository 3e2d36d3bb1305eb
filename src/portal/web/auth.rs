//! Signing in and out, and the language switcher.

use super::{base_context, limit_ip, page, page_with, see_other, Ctx, PageError, PageResult};
use crate::directory::check_password;
use crate::portal::state::AppState;
use crate::portal::validate;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Form};
use serde::Deserialize;
use time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    pub csrf: String,
    pub username: String,
    pub password: String,
    pub next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notice {
    pub done: String,
    pub next: String,
}

/// A path on this site to go back to: `/…`, never `//host` or a URL.
pub fn local_path(next: &str) -> Option<&str> {
    (next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 300
        && next.chars().all(|c| c.is_ascii_graphic()))
    .then_some(next)
}

/// The catalogue key of a `?done=` notice, when it is one of ours.
pub fn notice_key(done: &str) -> Option<String> {
    (!done.is_empty()
        && done.len() <= 40
        && done.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    .then(|| format!("done_{done}"))
}

pub fn put_notice(state: &AppState, ctx: &Ctx, c: &mut tera::Context, done: &str) {
    if let Some(key) = notice_key(done) {
        if let Some(text) = state.i18n.catalogue(ctx.lang).get(&key) {
            c.insert("notice", text);
        }
    }
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Notice>,
) -> PageResult {
    if ctx.username().is_some() {
        return Ok(see_other(local_path(&q.next).unwrap_or("/")));
    }
    let mut c = base_context(&state, &ctx);
    put_notice(&state, &ctx, &mut c, &q.done);
    c.insert("username", "");
    c.insert("next", local_path(&q.next).unwrap_or(""));
    page(&state, "signin.html", &c)
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<SignInForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let next = local_path(&f.next).unwrap_or("/").to_string();
    let refuse = |state: &AppState, ctx: &Ctx, shown: &str, key: &str| -> PageResult {
        let mut c = base_context(state, ctx);
        c.insert("username", shown);
        c.insert("next", local_path(&f.next).unwrap_or(""));
        c.insert("form_error", &state.i18n.text(ctx.lang, key, &[]));
        page_with(state, StatusCode::UNAUTHORIZED, "signin.html", &c)
    };
    let shown: String = f.username.chars().take(64).collect();
    let Ok(username) = validate::username(&f.username) else {
        return refuse(&state, &ctx, &shown, "err_signin");
    };
    if f.password.is_empty() || f.password.len() > 1024 {
        return refuse(&state, &ctx, &shown, "err_signin");
    }
    if !state.limits.sign_in_per_user.allow(&username, state.now()) {
        return Err(PageError::RateLimited);
    }
    let dn = state.tree.person(&username);
    match check_password(state.dir.url(), &dn, &f.password).await {
        Ok(true) => {}
        Ok(false) => return refuse(&state, &ctx, &shown, "err_signin"),
        Err(e) => return Err(PageError::Directory(e)),
    }
    start_session(&state, &username, &next)
}

/// Sign `username` in and go to `to`.
pub fn start_session(state: &AppState, username: &str, to: &str) -> PageResult {
    let hours = i64::from(state.config.session_hours);
    let secret = state
        .store
        .create_session(username, Duration::hours(hours), state.now())?;
    let mut r = see_other(to);
    let cookie = state
        .cookies
        .set(state.cookies.session, &secret, Some(hours * 3600));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: axum::http::HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    if let Some(secret) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == state.cookies.session)
        .map(|(_, v)| v.to_string())
    {
        state.store.end_session(&secret)?;
    }
    let mut r = see_other("/signin?done=signed_out");
    if let Ok(v) = HeaderValue::from_str(&state.cookies.clear(state.cookies.session)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `GET /lang/<code>?next=/path`: a plain link (no script, no form) that sets the language
/// cookie and goes back.
pub async fn language(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<Notice>,
) -> PageResult {
    let Some(lang) = state.i18n.known(&code) else {
        return Err(PageError::NotFound);
    };
    let mut r = see_other(local_path(&q.next).unwrap_or("/")).into_response();
    let cookie = state
        .cookies
        .set(state.cookies.lang, lang, Some(365 * 24 * 3600));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths() {
        assert_eq!(local_path("/account"), Some("/account"));
        assert_eq!(local_path("/invitation/ab?x=1"), Some("/invitation/ab?x=1"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "account",
            "/a b",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
        assert_eq!(notice_key("signed_out").as_deref(), Some("done_signed_out"));
        assert_eq!(notice_key("<script>"), None);
    }
}
