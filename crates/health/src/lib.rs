//! Infrastructure health: backends in pools in sites, checked HAProxy-grade: TCP
//! connects and lean HTTP/1.1 (or HTTPS) requests on HAProxy's timings (`inter`,
//! `fastinter`, `downinter`, `fall`, `rise`, `timeout check`), with HAProxy's
//! health counter deciding UP and DOWN.
//!
//! - [`counter`]: the health counter and the interval it asks for.
//! - [`check`]: one check of one target ([`check_once`]).
//! - [`checker`]: every target on its own schedule, a bounded number at a time, the
//!   statuses in a shared table and every UP/DOWN change sent on a channel.
//! - [`haproxy`]: HAProxy's own stats (CSV over HTTP or the Runtime API socket) and
//!   where they disagree with ours; [`alerts`]: the webhook on a state change.
//! - [`rollup`]: pools UP/DEGRADED/DOWN and whether each site can fail over.
//! - `service`: targets in the database (from the config file and the page), the
//!   checker run by one replica under a job lease, results for every replica's pages.

pub mod alerts;
pub mod check;
pub mod checker;
pub mod counter;
pub mod haproxy;
pub mod rollup;
mod service;

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;

pub use check::{check_once, tls_config};
pub use checker::{Checker, CheckerSettings};
pub use counter::HealthCounter;
pub use service::{
    target_spec, DnsConfig, Filter, HaproxyConfig, HealthConfig, HealthService, HealthSettings,
    PoolConfig, SiteConfig, TargetConfig, WebhookConfig, CHECKER_JOB, MAX_ROWS,
};
