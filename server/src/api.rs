//! How the plain JSON/file routes (features, tiles) answer a service error:
//! the fitting status and `{"error": "<a sentence>"}`. Server functions answer
//! through `app::error::AppError` instead.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use services::Error;

pub fn error(e: &Error) -> Response {
    let status = match e {
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
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
