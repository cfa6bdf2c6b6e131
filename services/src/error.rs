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
    /// The database could not be reached or answered an error.
    #[error("the database is unavailable")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("the database schema could not be brought up to date")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// Whether the fault lies with the caller (a 4xx) rather than with us (a 5xx).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::NotFound(_) | Self::Invalid(_))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
