//! Accounts: users and roles, password sign-in with throttling, sessions in
//! the database, share links for map viewers, and the audit log.
//!
//! - `users`: the first admin, adding users, roles, resets, disabling.
//! - `login`: sign-in, its throttle (reserved before any hashing), unlocking.
//! - `sessions`: lookup, sign-out, listing and ending sessions, pruning.
//! - `share`: share links; `audit`: the audit log; `password`: hashing, tokens.
//!
//! Password hashing runs under a semaphore sized to the cores (here): an
//! attempt that cannot get a turn within `hash_wait` is refused with
//! [`Error::Overloaded`] (503) rather than queued without bound.
//!
//! Every entry point that changes something takes the acting [`Principal`]
//! and checks its permission here, so the web layer cannot forget to.

mod audit;
mod login;
mod password;
mod sessions;
mod share;
mod users;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

pub use model::auth::{limits, Me, Permission, Role};
use sha2::{Digest as _, Sha256};

pub use self::{password::random_password, share::ShareGrant};
pub use platform::{format_time, Clock, Principal};
use platform::{Db, Error, Result};

/// Where a request came from, for throttling and the audit log.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub addr: String,
    pub user_agent: String,
}

/// Session lifetimes and sign-in throttling.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout: Duration,
    /// Failed sign-ins allowed per account from one address within `failure_window`.
    pub max_failures: u32,
    /// Failed sign-ins allowed from one address (any accounts) within `failure_window`.
    pub max_address_failures: u32,
    pub failure_window: Duration,
    /// Password hashes (sign-in checks, new passwords) computed at once; each
    /// takes about 19 MiB and a core for a moment.
    pub max_concurrent_hashes: usize,
    /// How long an attempt waits for a hashing turn before it is refused (503).
    pub hash_wait: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(8 * 3600),
            absolute_timeout: Duration::from_secs(7 * 24 * 3600),
            max_failures: 5,
            max_address_failures: 20,
            failure_window: Duration::from_secs(15 * 60),
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            hash_wait: Duration::from_secs(3),
        }
    }
}

/// A new session: the secret for the cookie and who it signs in.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The cookie value. Only its SHA-256 is stored.
    pub token: String,
    pub me: Me,
    pub max_age: Duration,
}

/// Users, sessions, share links and the audit log.
#[derive(Clone, Debug)]
pub struct AuthService {
    db: Db,
    config: AuthConfig,
    clock: Clock,
    hashing: Arc<Hashing>,
}

/// The turns for password hashing, and how many checks ran.
#[derive(Debug)]
struct Hashing {
    turns: tokio::sync::Semaphore,
    verifications: AtomicU64,
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = limits::PASSWORD_MIN;

impl AuthService {
    #[must_use]
    pub fn new(db: Db, config: AuthConfig, clock: Clock) -> Self {
        let hashing = Arc::new(Hashing {
            turns: tokio::sync::Semaphore::new(config.max_concurrent_hashes.max(1)),
            verifications: AtomicU64::new(0),
        });
        Self {
            db,
            config,
            clock,
            hashing,
        }
    }

    /// How many password checks (argon2 verifications) sign-ins have run.
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.hashing.verifications.load(Ordering::Relaxed)
    }

    /// A turn to hash, or [`Error::Overloaded`] after `hash_wait`.
    async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.config.hash_wait, self.hashing.turns.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::Internal("the hashing semaphore closed".into())),
            Err(_) => {
                tracing::warn!("sign-in refused: every password-hashing turn is busy");
                Err(Error::Overloaded {
                    what: "sign-ins".into(),
                    retry_after_secs: self.config.hash_wait.as_secs().max(1),
                })
            }
        }
    }

    /// Checks `password` against `stored` (or a hash nobody has, spending the
    /// same time) in a hashing turn.
    async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool> {
        let _turn = self.hashing_turn().await?;
        self.hashing.verifications.fetch_add(1, Ordering::Relaxed);
        match stored {
            Some(hash) => password::verify(password, hash).await,
            None => password::verify_dummy(password).await.map(|()| false),
        }
    }

    /// A new argon2id hash of `password`, in a hashing turn.
    async fn hash(&self, password: &str) -> Result<String> {
        let _turn = self.hashing_turn().await?;
        password::hash(password).await
    }

    /// The clock this service reads.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// At most `max` characters of `s`.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// At most `max` characters of `s`; a cut one ends with `…` (within `max`).
pub(crate) fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            std::borrow::Cow::Owned(format!("{}…", &s[..keep]))
        }
        None => std::borrow::Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests;
