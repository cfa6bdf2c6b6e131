//! The error every service returns: a few kinds a user can act on, with the
//! technical cause kept for the log, and the one place that decides what each
//! kind answers over HTTP ([`Error::status`], [`Error::message`],
//! [`Error::retry_after_secs`]): server functions, plain routes and the API
//! all ask here.

use http::StatusCode;
pub use model::problems::{Problem, Problems};

/// A service failure. `Display` is the sentence for the log; the source chain
/// (database errors and so on) too. [`Error::message`] is what a person reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("{0} was not found")]
    NotFound(String),
    /// The input was refused: every mistake found, each with its field.
    #[error("{0}")]
    Invalid(Problems),
    /// The request needs a signed-in user.
    #[error("sign in to do this")]
    Unauthenticated,
    /// The signed-in user's role does not allow this.
    #[error("your role ({role}) does not allow this: it needs {needs}")]
    Forbidden {
        role: &'static str,
        needs: &'static str,
    },
    /// A sign-in with a wrong user name or password (never says which).
    #[error("the user name or password is not right")]
    LoginFailed,
    /// Too many failed sign-ins for this account or address.
    #[error("too many failed sign-ins: try again in {} minute(s)", retry_after_secs.div_ceil(60))]
    Throttled { retry_after_secs: u64 },
    /// The thing existed but is no more (a revoked or expired share link).
    #[error("{0}")]
    Gone(String),
    /// Someone else is doing this right now (a job run holding its lease); the
    /// message says who and since when.
    #[error("{0}")]
    Busy(String),
    /// The change was made on a stale view: someone changed the thing since;
    /// the message says who and what, and nothing was stored.
    #[error("{0}")]
    Conflict(String),
    /// The server is at its limit for this kind of work (every password-hashing
    /// turn is taken, the render queue is full): refused before any work,
    /// nothing was done; answered 503 with `Retry-After`.
    #[error("the server is busy with {what}: try again in {retry_after_secs} s")]
    Overloaded { what: String, retry_after_secs: u64 },
    /// The database could not be reached or answered an error.
    #[error("the database is unavailable")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("the database schema could not be brought up to date")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Something that should not fail did (a worker thread, the random source).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Input refused for one reason that is not about one field.
    #[must_use]
    pub fn invalid(problem: impl Into<String>) -> Self {
        Self::Invalid(Problems::one(problem))
    }

    /// Input refused for one reason about `field`.
    #[must_use]
    pub fn invalid_field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid(Problems::field(field, problem))
    }

    /// The HTTP status that fits: the one mapping, for server functions,
    /// plain routes and the API alike.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::LoginFailed => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Gone(_) => StatusCode::GONE,
            Self::Busy(_) | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Overloaded { .. } | Self::Database(_) | Self::Migrate(_) | Self::Internal(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// Whether this is the server's fault rather than the request's: the
    /// caller logs it with its cause chain (the person sees only
    /// [`Error::message`]).
    #[must_use]
    pub const fn is_fault(&self) -> bool {
        matches!(
            self,
            Self::Database(_) | Self::Migrate(_) | Self::Internal(_)
        )
    }

    /// Seconds the client should wait before asking again, for `Retry-After`.
    #[must_use]
    pub const fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after_secs }
            | Self::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The sentence a person reads: capitalised, with what to do where there
    /// is something to do; never the technical cause.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::NotFound(what) => format!("Not found: {what}."),
            Self::Unauthenticated => "Sign in to see this.".to_owned(),
            Self::Forbidden { .. } => format!("You do not have permission to do this: {self}."),
            Self::Gone(why) | Self::Busy(why) => sentence(why),
            Self::Database(_) | Self::Migrate(_) | Self::Internal(_) => {
                format!("The server could not answer: {self}. Try again in a moment.")
            }
            Self::Invalid(_)
            | Self::LoginFailed
            | Self::Throttled { .. }
            | Self::Conflict(_)
            | Self::Overloaded { .. } => capitalise(&self.to_string()),
        }
    }

    /// The problems to show by field: those of [`Error::Invalid`], else none.
    #[must_use]
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            Self::Invalid(p) => Some(p),
            _ => None,
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Capitalised and ending in a full stop (once).
fn sentence(s: &str) -> String {
    let mut out = capitalise(s);
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Shorthand for results of the service crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind (a database error stands for the three faults).
    fn every_kind() -> Vec<Error> {
        vec![
            Error::NotFound("migration 7".into()),
            Error::invalid_field("name", "a name is needed"),
            Error::Unauthenticated,
            Error::Forbidden {
                role: "viewer",
                needs: "staff",
            },
            Error::LoginFailed,
            Error::Throttled {
                retry_after_secs: 90,
            },
            Error::Gone("this link was revoked".into()),
            Error::Busy("a sync is running since 10:02".into()),
            Error::Conflict("Alice changed this point since".into()),
            Error::Overloaded {
                what: "sign-ins".into(),
                retry_after_secs: 2,
            },
            Error::Database(sqlx::Error::PoolTimedOut),
            Error::Internal("a worker thread stopped".into()),
        ]
    }

    #[test]
    fn each_kind_has_its_status() {
        let statuses: Vec<u16> = every_kind().iter().map(|e| e.status().as_u16()).collect();
        assert_eq!(
            statuses,
            [404, 400, 401, 403, 401, 429, 410, 409, 409, 503, 503, 503]
        );
    }

    #[test]
    fn only_faults_are_logged_and_only_waits_carry_retry_after() {
        for e in every_kind() {
            assert_eq!(
                e.is_fault(),
                matches!(e, Error::Database(_) | Error::Internal(_)),
                "{e:?}"
            );
            assert_eq!(
                e.retry_after_secs().is_some(),
                matches!(e, Error::Throttled { .. } | Error::Overloaded { .. }),
                "{e:?}"
            );
        }
    }

    #[test]
    fn messages_are_sentences_without_causes() {
        for e in every_kind() {
            let m = e.message();
            assert!(m.starts_with(char::is_uppercase), "{m}");
            assert!(!m.contains("PoolTimedOut"), "{m}");
        }
        assert_eq!(
            Error::NotFound("migration 7".into()).message(),
            "Not found: migration 7."
        );
        assert_eq!(
            Error::Gone("this link was revoked".into()).message(),
            "This link was revoked."
        );
        let mut p = Problems::new();
        p.add("name", "a name is needed");
        p.add("window_end", "the window ends before it starts");
        let e = Error::Invalid(p);
        assert_eq!(
            e.message(),
            "A name is needed; the window ends before it starts"
        );
        assert_eq!(e.problems().map(Problems::len), Some(2));
    }
}
