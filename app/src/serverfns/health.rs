//! Health server functions: the page's data, live deltas, target edits.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::health::{HealthOverview, TargetLive};
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

/// Adds a target to a pool.
#[server(endpoint = "health/add_target")]
pub async fn add_health_target(
    pool: String,
    name: String,
    address: String,
    check: String,
    path: String,
    inter: String,
    fall: String,
    rise: String,
) -> Result<i64, AppError> {
    let (who, _) = super::authorize(Permission::ConfigureHealth)?;
    let number = |what: &str, text: &str| -> Result<Option<u32>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| AppError::Invalid(format!("{what} is a whole number, not {t:?}"))),
        }
    };
    let (inter, fall, rise) = (
        number("inter", &inter)?,
        number("fall", &fall)?,
        number("rise", &rise)?,
    );
    let form = services::health::TargetConfig {
        name,
        address,
        check: Some(check),
        path: (!path.trim().is_empty()).then_some(path),
        inter,
        fall,
        rise,
        ..services::health::TargetConfig::default()
    };
    Ok(super::services()?
        .health
        .add_target(&who, &pool, &form)
        .await?)
}

/// Removes a target.
#[server(endpoint = "health/remove_target")]
pub async fn remove_health_target(id: i64) -> Result<(), AppError> {
    let (who, _) = super::authorize(Permission::ConfigureHealth)?;
    Ok(super::services()?.health.remove_target(&who, id).await?)
}
