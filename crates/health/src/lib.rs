//! Infrastructure health: backends in pools in sites, checked HAProxy-grade: TCP
//! connects and lean HTTP/1.1 (or HTTPS) requests on HAProxy's timings (`inter`,
//! `fastinter`, `downinter`, `fall`, `rise`, `timeout check`), with HAProxy's
//! health counter deciding UP and DOWN.
//!
//! - [`config`]: `health.json`, checked whole; [`target_spec`] checks one target.
//! - [`counter`]: the health counter and the interval it asks for.
//! - [`check`]: one check of one target ([`check_once`]).
//! - [`checker`]: every target on its own schedule, a bounded number at a time, the
//!   statuses in a shared table and every UP/DOWN change sent on a channel.
//! - [`haproxy`]: HAProxy's own stats (CSV over HTTP or the Runtime API socket) and
//!   where they disagree with ours; [`alerts`]: the webhook on a state change.
//! - [`rollup`]: pools UP/DEGRADED/DOWN and whether each site can fail over.
//! - `store`: the tables as typed rows, one column list per table.
//! - `service`: [`HealthService`]: the pages' reads and the target edits.
//! - `job`: the checker run by one replica under a job lease, its results
//!   written for every replica's pages, its changes recorded and alerted.

pub mod alerts;
pub mod check;
pub mod checker;
pub mod config;
pub mod counter;
pub mod haproxy;
mod job;
pub mod rollup;
mod service;
mod store;

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;

pub use check::{check_once, tls_config};
pub use checker::{Checker, CheckerSettings};
pub use config::{
    target_spec, DnsConfig, HaproxyConfig, HealthConfig, PoolConfig, SiteConfig, TargetConfig,
    WebhookConfig,
};
pub use counter::HealthCounter;
pub use job::CHECKER_JOB;
pub use service::{Filter, HealthService, HealthSettings, MAX_ROWS};
