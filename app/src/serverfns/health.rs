//! Health server functions: the page's data, live deltas, target edits.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::health::{HealthOverview, HealthRollup, TargetLive};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::Permission;

/// The health page's data, filtered (`state`: all, down or problems; `pool`; `q`).
#[server(endpoint = "health/overview", input = GetUrl)]
pub async fn get_health(
    state: String,
    pool: String,
    q: String,
) -> Result<HealthOverview, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    let filter = services::health::Filter { state, pool, q };
    Ok(super::services()?.health.overview(&who, &filter).await?)
}

/// Sites, pools and the timeline, reloaded by a live page when a backend
/// goes UP or DOWN.
#[server(endpoint = "health/rollup", input = GetUrl)]
pub async fn get_health_rollup() -> Result<HealthRollup, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    Ok(super::services()?.health.rollup(&who).await?)
}

/// Rows that changed since a time, for live pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveDelta {
    pub rows: Vec<TargetLive>,
    /// Ask for changes after this next time.
    pub now_ms: i64,
}

/// The rows whose checks changed after `since_ms`.
#[server(endpoint = "health/live", input = GetUrl)]
pub async fn health_live(since_ms: i64) -> Result<LiveDelta, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    let (rows, now_ms) = super::services()?.health.live_since(&who, since_ms).await?;
    Ok(LiveDelta { rows, now_ms })
}

/// The "add a backend" form's fields (`form[pool]`, `form[name]`...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTarget {
    pub pool: String,
    pub name: String,
    pub address: String,
    /// A check kind by name (`model::health::CheckKind::as_str`).
    pub check: String,
    pub path: String,
    /// Numbers as typed; empty for HAProxy's defaults.
    pub inter: String,
    pub fall: String,
    pub rise: String,
}

/// Adds a target to a pool.
#[server(endpoint = "health/add_target")]
pub async fn add_health_target(form: NewTarget) -> Result<i64, AppError> {
    let (who, _) = super::authorize(Permission::ConfigureHealth)?;
    let number = |what: &str, text: &str| -> Result<Option<u32>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(format!("{what} is a whole number, not {t:?}"))),
        }
    };
    let config = services::health::TargetConfig {
        inter: number("inter", &form.inter)?,
        fall: number("fall", &form.fall)?,
        rise: number("rise", &form.rise)?,
        name: form.name,
        address: form.address,
        check: Some(form.check),
        path: (!form.path.trim().is_empty()).then_some(form.path),
        ..services::health::TargetConfig::default()
    };
    Ok(super::services()?
        .health
        .add_target(&who, &form.pool, &config)
        .await?)
}

/// Removes a target.
#[server(endpoint = "health/remove_target")]
pub async fn remove_health_target(id: i64) -> Result<(), AppError> {
    let (who, _) = super::authorize(Permission::ConfigureHealth)?;
    Ok(super::services()?.health.remove_target(&who, id).await?)
}
