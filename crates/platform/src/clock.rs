//! Time: one clock in seconds for every service (tests move it by hand), and
//! stored times written for people.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

/// A clock in whole seconds since the Unix epoch (UTC). Tests move it by hand.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, in seconds since the epoch.
    #[must_use]
    pub fn now(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        real + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset.fetch_add(
            i64::try_from(by.as_secs()).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// A stored time for people: `2026-11-24 19:30 UTC`.
#[must_use]
pub fn format_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(
        |_| format!("@{secs}"),
        |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
