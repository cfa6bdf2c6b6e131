//! Switchboard's shared ground, under every domain crate: the database handle
//! and its migrations ([`Db`]), the one [`Error`] every service answers,
//! the event bus, scheduled jobs with fenced leases, the [`Clock`], who is
//! asking ([`Principal`]) and CSV writing.
//!
//! No domain lives here: a type moves here only when two domains must agree
//! on it (see ARCHITECTURE.md, "Rules between crates").

mod clock;
pub mod csv_out;
pub mod db;
pub mod error;
pub mod events;
pub mod jobs;
mod principal;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use clock::{format_time, Clock};
pub use db::{Db, Engine};
pub use error::{Error, Result};
pub use principal::Principal;

/// This process's name among the replicas: `host:pid`. Job leases record it, so
/// a replica on the same host can tell a holder whose process is gone, and
/// events carry it, so a test can tell which replica an event came from.
#[must_use]
pub fn replica_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("{}:{}", host_name(), std::process::id()))
}

/// The machine's host name (Linux), or `localhost` when it cannot be read.
#[must_use]
pub fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}
