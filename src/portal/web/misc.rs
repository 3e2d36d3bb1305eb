//! Health, static files, the node's CA certificate, and pages that do not exist.

use super::{PageError, PageResult};
use crate::portal::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

const CSS: &str = include_str!("../../../templates/portal/static/portal.css");

/// `GET /healthz`: 200 while the portal serves; says whether the directory answers and how
/// much mail waits or failed. 503 only when the portal's own database fails.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let directory = match state.dir().await {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            state.saw(&e).await;
            format!("unavailable: {e}")
        }
    };
    let outbox = state.mail.outbox().counts();
    let (status, body) = match &outbox {
        Ok(c) => (
            StatusCode::OK,
            json!({"status": "ok", "directory": directory, "outbox": {"pending": c.pending, "failed": c.failed}}),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "failing", "directory": directory, "outbox": e.to_string()}),
        ),
    };
    (status, axum::Json(body))
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// `GET /ca.pem`: the node's CA certificate, for people to trust this node's self-signed TLS.
pub async fn ca_pem(State(state): State<AppState>) -> PageResult {
    match &state.ca_pem {
        Some(pem) => Ok((
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"commonscloud-ca.pem\"",
                ),
            ],
            pem.clone(),
        )
            .into_response()),
        None => Err(PageError::NotFound),
    }
}

pub async fn not_found() -> PageError {
    PageError::NotFound
}
