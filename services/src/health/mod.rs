//! Health checks of infrastructure targets, HAProxy-grade: TCP connects and lean
//! HTTP/1.1 (or HTTPS) requests on HAProxy's timings (`inter`, `fastinter`,
//! `downinter`, `fall`, `rise`, `timeout check`), with HAProxy's health counter
//! deciding UP and DOWN.
//!
//! - [`counter`]: the health counter and the interval it asks for.
//! - [`check`]: one check of one target ([`check_once`]).
//! - [`checker`]: every target on its own schedule, a bounded number at a time, the
//!   statuses in a shared table and every UP/DOWN change sent on a channel.

pub mod check;
pub mod checker;
pub mod counter;

#[cfg(test)]
mod tests;

pub use check::{check_once, tls_config};
pub use checker::{Checker, CheckerSettings};
pub use counter::HealthCounter;
