//! Rows to model types for migrations, their points and check runs (the
//! column list of a summary is one macro, so queries stay literals).

use model::checklist::{
    AutomatedCheck, CheckReport, CheckRun, Evidence, ItemState, MigrationItem, MigrationSummary,
    Progress, Verdict,
};
use platform::{Error, Result};
use sqlx::{any::AnyRow, Row as _};

use crate::time;

pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn state(row: &AnyRow) -> Result<ItemState> {
    let name: String = row.try_get("state")?;
    ItemState::from_name(&name)
        .ok_or_else(|| Error::Internal(format!("unknown item state {name:?} in the database")))
}

pub(crate) fn item(row: &AnyRow, zone: &str, tz: &jiff::tz::TimeZone) -> Result<MigrationItem> {
    let check: Option<String> = row.try_get("automated_check")?;
    let changed_at: Option<i64> = row.try_get("changed_at")?;
    Ok(MigrationItem {
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        guidance: row.try_get("guidance")?,
        automated_check: check.as_deref().and_then(AutomatedCheck::from_name),
        state: state(row)?,
        note: row.try_get("note")?,
        changed_by: row.try_get("changed_by")?,
        changed_at: changed_at.map(|t| time::shown(t, zone, tz)),
        revision: row.try_get("revision")?,
    })
}

/// The columns of a [`MigrationSummary`] (a macro, so queries stay literals).
macro_rules! summary_columns {
    () => {
        "m.id, m.name, m.domains, m.source_server, m.target_server, m.owner, \
         m.window_start, m.window_end, m.time_zone"
    };
}
pub(crate) use summary_columns;

pub(crate) fn summary(row: &AnyRow, viewer: &str, progress: Progress) -> Result<MigrationSummary> {
    let zone: String = row.try_get("time_zone")?;
    Ok(MigrationSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domains: lines(&row.try_get::<String, _>("domains")?),
        source_server: row.try_get("source_server")?,
        target_server: row.try_get("target_server")?,
        owner: row.try_get("owner")?,
        window: time::window(
            row.try_get("window_start")?,
            row.try_get("window_end")?,
            &zone,
            viewer,
        ),
        progress,
    })
}

/// Who a change is by, as the checklist shows it.
pub(crate) fn by(me: &model::auth::Me) -> String {
    if me.display_name.trim().is_empty() {
        me.username.clone()
    } else {
        me.display_name.clone()
    }
}

pub(crate) fn check_order(check: AutomatedCheck) -> usize {
    super::CHECKS
        .iter()
        .position(|&c| c == check)
        .unwrap_or(usize::MAX)
}

pub(crate) fn check_run(row: &AnyRow, zone: &str, tz: &jiff::tz::TimeZone) -> Result<CheckRun> {
    let name: String = row.try_get("check_name")?;
    let verdict: String = row.try_get("verdict")?;
    let evidence: String = row.try_get("evidence")?;
    let evidence: Vec<Evidence> = serde_json::from_str(&evidence)
        .map_err(|e| Error::Internal(format!("stored evidence does not parse: {e}")))?;
    Ok(CheckRun {
        report: CheckReport {
            check: AutomatedCheck::from_name(&name)
                .ok_or_else(|| Error::Internal(format!("unknown check {name:?} stored")))?,
            verdict: Verdict::from_name(&verdict)
                .ok_or_else(|| Error::Internal(format!("unknown verdict {verdict:?} stored")))?,
            summary: row.try_get("summary")?,
            evidence,
            elapsed_ms: u64::try_from(row.try_get::<i64, _>("elapsed_ms")?).unwrap_or(0),
        },
        ran_by: row.try_get("ran_by")?,
        ran_at: time::shown(row.try_get("ran_at")?, zone, tz),
    })
}
