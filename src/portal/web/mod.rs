//! HTTP: the router, the per-request context (language, session, CSRF, client address), the
//! security headers, and how pages and failures are rendered.

mod account;
mod admin;
mod auth;
mod collectives;
mod misc;
mod password;
mod register;

use super::state::AppState;
use super::store::{Session, StoreError};
use crate::directory::DirectoryError;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

/// A form that carries nothing but its CSRF token (a confirmation button).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: String,
}

/// Forms are small; anything bigger is refused before it is read.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(account::home))
        .route("/healthz", get(misc::healthz))
        .route("/static/portal.css", get(misc::css))
        .route("/ca.pem", get(misc::ca_pem))
        .route("/lang/{code}", get(auth::language))
        .route("/signin", get(auth::sign_in_page).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/register", get(register::form_page).post(register::submit))
        .route("/register/sent", get(register::sent))
        .route(
            "/register/resend",
            get(register::resend_page).post(register::resend),
        )
        .route(
            "/confirm/{token}",
            get(register::confirm_page).post(register::confirm),
        )
        .route(
            "/password/forgot",
            get(password::forgot_page).post(password::forgot),
        )
        .route(
            "/password/set/{token}",
            get(password::set_page).post(password::set),
        )
        .route(
            "/password/reset/{token}",
            get(password::reset_page).post(password::reset),
        )
        .route("/account", get(account::page_handler))
        .route("/account/name", post(account::name))
        .route("/account/language", post(account::language))
        .route("/account/password", post(account::password))
        .route("/account/email", post(account::email))
        .route(
            "/email/{token}",
            get(account::email_confirm_page).post(account::email_confirm),
        )
        .route("/collectives", get(collectives::page_handler))
        .route("/collectives/join", post(collectives::join))
        .route("/collectives/{id}/leave", post(collectives::leave))
        .route(
            "/invitation/{token}",
            get(collectives::invitation_page).post(collectives::invitation),
        )
        .route("/admin/{collective}", get(admin::page_handler))
        .route(
            "/admin/{collective}/registration/{id}",
            post(admin::registration),
        )
        .route("/admin/{collective}/join/{id}", post(admin::join_request))
        .route("/admin/{collective}/invite", post(admin::invite))
        .route("/admin/{collective}/member", post(admin::member))
        .fallback(misc::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), prepare))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// What a handler knows about the request, made by [`prepare`].
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: &'static str,
    pub ip: IpAddr,
    pub session: Option<Session>,
    /// The CSRF cookie's value (made on the first visit).
    pub csrf_cookie: String,
    /// The path, for the language switcher's way back.
    pub path: String,
}

impl Ctx {
    /// The CSRF token of this visitor's forms: bound to the CSRF cookie and to the session.
    pub fn csrf_token(&self, key: &[u8; 32]) -> String {
        hex::encode(self.csrf_mac(key).finalize().into_bytes())
    }

    fn csrf_mac(&self, key: &[u8; 32]) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"csrf\0");
        mac.update(self.csrf_cookie.as_bytes());
        mac.update(b"\0");
        if let Some(s) = &self.session {
            mac.update(s.id_hash.as_bytes());
        }
        mac
    }

    /// Refuse a form whose token is missing or wrong.
    pub fn check_csrf(&self, key: &[u8; 32], sent: &str) -> Result<(), PageError> {
        let Ok(bytes) = hex::decode(sent.trim()) else {
            return Err(PageError::Csrf);
        };
        self.csrf_mac(key)
            .verify_slice(&bytes)
            .map_err(|_| PageError::Csrf)
    }

    pub fn username(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.username.as_str())
    }

    /// The signed-in person, or a redirect to the sign-in page.
    pub fn require_user(&self) -> Result<&str, PageError> {
        self.username().ok_or(PageError::SignIn)
    }
}

/// Why a request could not be served. Turned into a page (in the person's language) by
/// [`prepare`], never a bare 500.
#[derive(Debug)]
pub enum PageError {
    /// The form's CSRF token is missing or wrong.
    Csrf,
    /// Too many requests.
    RateLimited,
    /// Signed-in only: go to the sign-in page.
    SignIn,
    /// Not allowed (e.g. not an admin of that collective).
    Forbidden,
    NotFound,
    /// The directory is unreachable or broken.
    Directory(DirectoryError),
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl From<tera::Error> for PageError {
    fn from(e: tera::Error) -> Self {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(&format!(": {s}"));
            source = s.source();
        }
        PageError::Internal(detail)
    }
}

impl From<crate::mail::MailError> for PageError {
    fn from(e: crate::mail::MailError) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl From<DirectoryError> for PageError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotAllowed { .. } | DirectoryError::NotAdmin { .. } => {
                PageError::Forbidden
            }
            other => PageError::Directory(other),
        }
    }
}

/// Marks a response that [`prepare`] replaces with a rendered error page.
#[derive(Debug, Clone, Copy)]
struct ErrorPage {
    title: &'static str,
    text: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            PageError::SignIn => return Redirect::to("/signin").into_response(),
            PageError::Csrf => (StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf_text"),
            PageError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "error_rate_title",
                "error_rate_text",
            ),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "error_forbidden_title",
                "error_forbidden_text",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "error_not_found_title",
                "error_not_found_text",
            ),
            PageError::Directory(e) => {
                tracing::error!("directory: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error_unavailable_title",
                    "error_unavailable_text",
                )
            }
            PageError::Internal(e) => {
                tracing::error!("{e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error_internal_title",
                    "error_internal_text",
                )
            }
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(ErrorPage { title, text });
        r
    }
}

pub type PageResult = Result<Response, PageError>;

/// Cookies of a request, by name.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address: the peer, or, when the peer is a trusted proxy (the edge), the last
/// address of `X-Forwarded-For` that is not one.
fn client_ip(state: &AppState, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = |ip: IpAddr| state.proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted(*ip))
        .unwrap_or(peer)
}

fn well_formed_secret(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Before each handler: the context. After: security headers, the CSRF cookie, error pages.
async fn prepare(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client_ip(&state, peer, headers);
    let (csrf_cookie, new_csrf) = match cookie(headers, state.cookies.csrf) {
        Some(v) if well_formed_secret(v) => (v.to_string(), false),
        _ => (super::store::new_secret(), true),
    };
    let session = match cookie(headers, state.cookies.session) {
        Some(v) => match state.store.session(v, state.now()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        },
        None => None,
    };
    let lang = state.i18n.negotiate(
        cookie(headers, state.cookies.lang),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let ctx = Ctx {
        lang,
        ip,
        session,
        csrf_cookie: csrf_cookie.clone(),
        path: req.uri().path().to_string(),
    };
    req.extensions_mut().insert(ctx.clone());
    let mut response = next.run(req).await;
    if let Some(page) = response.extensions().get::<ErrorPage>().copied() {
        let status = response.status();
        let mut c = base_context(&state, &ctx);
        c.insert("title_key", page.title);
        c.insert("text_key", page.text);
        let body = match state.tera.render("error.html", &c) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("error page: {e}");
                "error".to_string()
            }
        };
        let mut fresh = (status, html(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            fresh
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        response = fresh;
    }
    let h = response.headers_mut();
    let fixed: [(&str, &str); 7] = [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
        ("cache-control", "no-store"),
    ];
    for (k, v) in fixed {
        if k == "cache-control" && h.contains_key(header::CACHE_CONTROL) {
            continue;
        }
        h.insert(k, HeaderValue::from_static(v));
    }
    if state.cookies.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if new_csrf {
        if let Ok(v) =
            HeaderValue::from_str(&state.cookies.set(state.cookies.csrf, &csrf_cookie, None))
        {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

pub fn html(body: String) -> axum::response::Html<String> {
    axum::response::Html(body)
}

/// What every page gets: the catalogue, the language, the person, the CSRF token.
pub fn base_context(state: &AppState, ctx: &Ctx) -> tera::Context {
    let mut c = tera::Context::new();
    c.insert("t", state.i18n.catalogue(ctx.lang));
    c.insert("lang", ctx.lang);
    c.insert(
        "languages",
        &super::i18n::I18n::languages().collect::<Vec<_>>(),
    );
    c.insert("csrf", &ctx.csrf_token(&state.csrf_key));
    c.insert("user", &ctx.username());
    c.insert("node_name", state.config.display_name());
    c.insert("contact", &state.config.contact);
    c.insert("has_ca", &state.ca_pem.is_some());
    c.insert("path", &ctx.path);
    c.insert(
        "errors",
        &std::collections::BTreeMap::<String, String>::new(),
    );
    c
}

/// Render a page with status 200.
pub fn page(state: &AppState, name: &str, c: &tera::Context) -> PageResult {
    Ok(html(state.tera.render(name, c)?).into_response())
}

/// Render a page with a status (a form with errors is 422, so tests and tools can tell).
pub fn page_with(
    state: &AppState,
    status: StatusCode,
    name: &str,
    c: &tera::Context,
) -> PageResult {
    Ok((status, html(state.tera.render(name, c)?)).into_response())
}

/// 303 to `to` (after a successful POST).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Errors of a form: field → catalogue key, translated for the template.
#[derive(Debug, Default)]
pub struct FieldErrors(pub std::collections::BTreeMap<&'static str, &'static str>);

impl FieldErrors {
    pub fn check<T>(&mut self, field: &'static str, r: Result<T, &'static str>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(key) => {
                self.0.insert(field, key);
                None
            }
        }
    }

    pub fn add(&mut self, field: &'static str, key: &'static str) {
        self.0.insert(field, key);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Into the context: `errors.<field>` is the message in the person's language.
    pub fn put(&self, state: &AppState, ctx: &Ctx, c: &mut tera::Context) {
        let t = state.i18n.catalogue(ctx.lang);
        let shown: std::collections::BTreeMap<&str, String> = self
            .0
            .iter()
            .map(|(f, k)| (*f, t.get(*k).cloned().unwrap_or_else(|| (*k).to_string())))
            .collect();
        c.insert("errors", &shown);
    }
}

/// Check the per-IP limit of forms.
pub fn limit_ip(state: &AppState, ctx: &Ctx) -> Result<(), PageError> {
    if state
        .limits
        .post_per_ip
        .allow(&ctx.ip.to_string(), state.now())
    {
        Ok(())
    } else {
        Err(PageError::RateLimited)
    }
}

/// A date for people: `2026-11-26 14:05 UTC`.
pub fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_default()
}
