//! How the plain JSON/file routes (features, tiles) answer a service error:
//! the status and sentence `services::Error` decides (`Error::status`,
//! `Error::message`: the one mapping, which server functions use too through
//! `app::error::AppError`), as `{"error": "<a sentence>"}` plus `"problems"`
//! by field when input was refused, and `Retry-After` when the client should
//! wait.

use axum::{
    response::{IntoResponse, Response},
    Json,
};
use services::Error;

pub fn error(e: &Error) -> Response {
    if e.is_fault() {
        tracing::error!(error = ?e, "request failed");
    }
    let body = match e.problems() {
        Some(problems) => serde_json::json!({ "error": e.message(), "problems": problems }),
        None => serde_json::json!({ "error": e.message() }),
    };
    let mut response = (e.status(), Json(body)).into_response();
    if let Some(secs) = e.retry_after_secs() {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs),
        );
    }
    response
}
