//! The error every service returns: a few kinds a user can act on, with the
//! technical cause kept for the log.

/// A service failure. `Display` is the sentence a user may read; the source
/// chain (database errors and so on) is for the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("{0} was not found")]
    NotFound(String),
    /// The input was refused; the message says why.
    #[error("{0}")]
    Invalid(String),
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

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
