//! Infrastructure health: backends in pools in sites, checked the HAProxy way.
pub mod rollup;
mod service;

pub use service::{
    target_spec, DnsConfig, Filter, HaproxyConfig, HealthConfig, HealthService, HealthSettings,
    PoolConfig, SiteConfig, TargetConfig, WebhookConfig, CHECKER_JOB,
};

#[cfg(test)]
mod service_tests;
