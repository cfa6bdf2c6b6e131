//! The error a page can receive from a server function: a sentence a person
//! can act on, the problems by field when input was refused, and the HTTP
//! status; never a stack of causes (those go to the server log). The status
//! and sentence come from `services::Error` itself (`platform::error`: the one
//! mapping for server functions, routes and the API).

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
pub use model::problems::{Problem, Problems};
use serde::{Deserialize, Serialize};

/// What went wrong, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The HTTP status the server answered with.
    pub status: u16,
    /// The sentence to show.
    pub message: String,
    /// Every mistake by field, when input was refused (else empty).
    pub problems: Problems,
}

impl AppError {
    /// Input refused for one reason (400).
    #[must_use]
    pub fn invalid(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: 400,
            problems: Problems::one(message.clone()),
            message,
        }
    }

    /// Something behind the server is not there (503).
    #[must_use]
    pub fn unavailable(what: &str) -> Self {
        Self {
            status: 503,
            message: format!("The server could not answer: {what}. Try again in a moment."),
            problems: Problems::new(),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self {
            status: 500,
            message: format!("The request failed: {value}."),
            problems: Problems::new(),
        }
    }
}

/// Service errors become sentences; a fault's cause goes to the log, and the
/// response (a server function call, or the page rendering it) gets the
/// fitting status.
#[cfg(feature = "ssr")]
impl From<services::Error> for AppError {
    fn from(err: services::Error) -> Self {
        if err.is_fault() {
            tracing::error!(error = ?err, "service failure");
        }
        let app = Self {
            status: err.status().as_u16(),
            message: err.message(),
            problems: err.problems().cloned().unwrap_or_default(),
        };
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(err.status());
            if let Some(secs) = err.retry_after_secs() {
                response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
        }
        app
    }
}
