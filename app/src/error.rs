//! The error a page can receive from a server function: a sentence a person
//! can act on, never a stack of causes (those go to the server log).

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What went wrong, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The thing asked for does not exist.
    #[error("Not found: {0}.")]
    NotFound(String),
    /// The request was refused; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Nobody is signed in.
    #[error("Sign in to see this.")]
    Unauthenticated,
    /// The signed-in user's role is not enough.
    #[error("You do not have permission to do this: {0}.")]
    Forbidden(String),
    /// The thing is gone for good (a revoked or expired link).
    #[error("{0}.")]
    Gone(String),
    /// Someone else is doing this right now; the message says who and since when.
    #[error("{0}.")]
    Busy(String),
    /// Someone changed the thing since the page showed it; nothing was stored.
    #[error("{0}")]
    Conflict(String),
    /// A part behind the server (the database, say) is unavailable.
    #[error("The server could not answer: {0}. Try again in a moment.")]
    Unavailable(String),
    /// The request never reached the server function or its answer was garbled.
    #[error("The request failed: {0}.")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

impl AppError {
    /// The HTTP status that fits.
    #[cfg(feature = "ssr")]
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::NotFound(_) => http::StatusCode::NOT_FOUND,
            Self::Invalid(_) => http::StatusCode::BAD_REQUEST,
            Self::Unauthenticated => http::StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => http::StatusCode::FORBIDDEN,
            Self::Gone(_) => http::StatusCode::GONE,
            Self::Busy(_) | Self::Conflict(_) => http::StatusCode::CONFLICT,
            Self::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Transport(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Service errors become sentences; the cause goes to the log, and the
/// response (a server function call, or the page rendering it) gets the
/// fitting status.
#[cfg(feature = "ssr")]
impl From<services::Error> for AppError {
    fn from(err: services::Error) -> Self {
        use services::Error as E;
        let app = match &err {
            E::NotFound(what) => Self::NotFound(what.clone()),
            E::Invalid(why) => Self::Invalid(capitalise(why)),
            E::Unauthenticated => Self::Unauthenticated,
            E::Forbidden { .. } => Self::Forbidden(err.to_string()),
            E::Gone(why) => Self::Gone(capitalise(why)),
            E::Busy(why) => Self::Busy(capitalise(why)),
            E::Conflict(why) => Self::Conflict(capitalise(why)),
            E::LoginFailed | E::Throttled { .. } => Self::Invalid(capitalise(&err.to_string())),
            E::Overloaded { .. } => Self::Unavailable(capitalise(&err.to_string())),
            E::Database(_) | E::Migrate(_) | E::Internal(_) => {
                tracing::error!(error = ?err, "service failure");
                Self::Unavailable(err.to_string())
            }
        };
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(app.status());
        }
        app
    }
}

#[cfg(feature = "ssr")]
fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
