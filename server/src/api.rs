//! How the plain JSON/file routes (features, tiles) answer a service error:
//! the fitting status and `{"error": "<a sentence>"}` (and `Retry-After` when
//! the server is too busy). Server functions answer
//! through `app::error::AppError` instead.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use services::Error;

pub fn error(e: &Error) -> Response {
    let status = match e {
        Error::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Gone(_) => StatusCode::GONE,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::Busy(_) | Error::Conflict(_) => StatusCode::CONFLICT,
        _ => {
            tracing::error!(error = ?e, "request failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let message = match e {
        Error::NotFound(what) => format!("Not found: {what}."),
        other => {
            let s = other.to_string();
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    };
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    if let Error::Overloaded {
        retry_after_secs, ..
    } = e
    {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(*retry_after_secs),
        );
    }
    response
}
