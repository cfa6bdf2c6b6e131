//! What the sync keeps: inventory and plan snapshots (the latest
//! [`SNAPSHOTS_KEPT`]), apply records and run history, read back for the page.

use model::firewall::{ApplyRecord, Inventory, Plan, SyncRun};
use sqlx::Row as _;

use crate::{Error, FirewallService, Result, SNAPSHOTS_KEPT, SYNC_JOB};

impl FirewallService {
    pub(crate) async fn store_snapshot(
        &self,
        fence: i64,
        inv: &Inventory,
        plan: &Plan,
    ) -> Result<()> {
        let failed = inv.failed().count();
        let count = inv.instances().count();
        sqlx::query(
            "INSERT INTO firewall_snapshot \
             (taken_ms, fence, regions_ok, regions_failed, instances, inventory, plan) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(inv.taken_ms)
        .bind(fence)
        .bind(i64::try_from(inv.regions.len() - failed).unwrap_or(0))
        .bind(i64::try_from(failed).unwrap_or(0))
        .bind(i64::try_from(count).unwrap_or(0))
        .bind(serde_json::to_string(inv).map_err(|e| Error::invalid(e.to_string()))?)
        .bind(serde_json::to_string(plan).map_err(|e| Error::invalid(e.to_string()))?)
        .execute(self.db.pool())
        .await?;
        sqlx::query(
            "DELETE FROM firewall_snapshot WHERE id <= \
             (SELECT MAX(id) FROM firewall_snapshot) - $1",
        )
        .bind(SNAPSHOTS_KEPT)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn inventories(&self, limit: i64) -> Result<Vec<Inventory>> {
        let rows = sqlx::query("SELECT inventory FROM firewall_snapshot ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("inventory")?;
                serde_json::from_str(&text)
                    .map_err(|e| Error::invalid(format!("a stored inventory is unreadable: {e}")))
            })
            .collect()
    }

    /// The latest stored inventory.
    ///
    /// # Errors
    /// The database is down.
    pub async fn latest_inventory(&self) -> Result<Option<Inventory>> {
        Ok(self.inventories(1).await?.into_iter().next())
    }

    /// The audit of applies, newest first.
    ///
    /// # Errors
    /// The database is down.
    pub async fn applies(&self, limit: i64) -> Result<Vec<ApplyRecord>> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, backend, added, removed, ok, message \
             FROM firewall_apply ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let added: String = r.try_get("added")?;
                let removed: String = r.try_get("removed")?;
                let ok: i64 = r.try_get("ok")?;
                Ok(ApplyRecord {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    backend: r.try_get("backend")?,
                    added: serde_json::from_str(&added).unwrap_or_default(),
                    removed: serde_json::from_str(&removed).unwrap_or_default(),
                    ok: ok == 1,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// The sync job's run history, newest first.
    ///
    /// # Errors
    /// The database is down.
    pub async fn runs(&self, limit: u32) -> Result<Vec<SyncRun>> {
        Ok(self
            .jobs
            .runs(Some(SYNC_JOB), limit)
            .await?
            .into_iter()
            .map(|r| SyncRun {
                fence: r.fence,
                holder: r.holder,
                trigger: r.trigger,
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
                outcome: r.outcome,
                detail: r.detail,
                took_over_from: r.took_over_from,
            })
            .collect())
    }
}
