//! Firewall server functions: the page's data (times written in the viewer's
//! zone), sync now, apply a confirmed plan.

use std::collections::BTreeMap;

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::firewall::{ApplyRecord, FirewallOverview};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::Permission;

/// The page's data, with every time it shows already written in the viewer's
/// zone (`times[ms]`), so the page reads the same with JavaScript off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FirewallView {
    pub overview: FirewallOverview,
    /// The viewer's zone, by IANA name.
    pub zone: String,
    pub times: BTreeMap<i64, String>,
}

impl FirewallView {
    /// `ms` in the viewer's zone.
    #[must_use]
    pub fn time(&self, ms: i64) -> String {
        self.times
            .get(&ms)
            .cloned()
            .unwrap_or_else(|| ms.to_string())
    }
}

/// The firewall page's data.
#[server(endpoint = "firewall/overview", input = GetUrl)]
pub async fn get_firewall(tz: String) -> Result<FirewallView, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    let overview = super::services()?.firewall.overview(&who).await?;
    let zone = super::checklist::viewer_zone(&tz);
    let (name, tz) = services::checklist::time::zone_or_utc(&zone);
    let mut stamps: Vec<i64> = Vec::new();
    stamps.extend(overview.inventory.iter().map(|i| i.taken_ms));
    stamps.extend(
        overview
            .inventory
            .iter()
            .flat_map(|i| i.regions.iter().filter_map(|r| r.carried_from_ms)),
    );
    stamps.extend(overview.changes.since_ms);
    stamps.extend(overview.runs.iter().map(|r| r.started_ms));
    stamps.extend(overview.runs.iter().filter_map(|r| r.finished_ms));
    stamps.extend(overview.applies.iter().map(|a| a.at_ms));
    let times = stamps
        .into_iter()
        .map(|ms| {
            let shown = services::checklist::time::shown(ms.div_euclid(1000), &name, &tz);
            (ms, shown.text)
        })
        .collect();
    Ok(FirewallView {
        overview,
        zone: name,
        times,
    })
}

/// Starts a sync now; says so, or who is running one since when.
#[server(endpoint = "firewall/sync")]
pub async fn firewall_sync_now() -> Result<String, AppError> {
    let (who, _) = super::authorize(Permission::PlanFirewall)?;
    let services = super::services()?;
    let fence = services
        .firewall
        .sync_now(&who, &services.scheduler)
        .await?;
    Ok(format!(
        "Sync {fence} started: the page updates when it ends."
    ))
}

/// Applies the plan the person read (`digest`), once they confirmed it.
#[server(endpoint = "firewall/apply")]
pub async fn firewall_apply(digest: String, confirm: String) -> Result<ApplyRecord, AppError> {
    let (who, _) = super::authorize(Permission::ApplyFirewall)?;
    if confirm != "yes" {
        return Err(AppError::invalid("tick “I have read the plan” to apply it"));
    }
    Ok(super::services()?.firewall.apply(&who, &digest).await?)
}
