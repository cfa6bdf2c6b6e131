//! The audit log: sign-ins and every change made through the app.

use model::auth::AuditEntry;
use sqlx::Row;

use super::{clip, format_time, limits, AuthService, Client, Permission, Principal};
use crate::Result;

impl AuthService {
    /// Records what `who` did.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit(
        &self,
        who: &Principal,
        client: &Client,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<()> {
        let (id, name) = match who {
            Principal::User(me) => (Some(me.id), me.username.as_str()),
            Principal::Anonymous => (None, "anonymous"),
        };
        self.audit_raw(id, name, client, action, target, detail)
            .await
    }

    /// Records what the system (the command line, first start) did.
    /// # Errors
    /// Database errors.
    pub async fn audit_system(&self, action: &str, target: &str, detail: &str) -> Result<()> {
        self.audit_raw(None, "system", &Client::default(), action, target, detail)
            .await
    }

    pub(super) async fn audit_raw(
        &self,
        actor_id: Option<i64>,
        actor_name: &str,
        client: &Client,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<()> {
        // Bounded whatever a caller passes: a log entry is a line, not a payload.
        let actor_name = clip(actor_name, limits::USERNAME_MAX + 10);
        let action = clip(action, 64);
        let target = clip(target, limits::AUDIT_TARGET_MAX);
        let detail = clip(detail, limits::AUDIT_DETAIL_MAX);
        let client_addr = clip(&client.addr, 100);
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_name, action, target, detail, client_addr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.clock.now())
        .bind(actor_id)
        .bind(&*actor_name)
        .bind(&*action)
        .bind(&*target)
        .bind(&*detail)
        .bind(&*client_addr)
        .execute(self.db.pool())
        .await?;
        // Live pages learn of it; the log itself is already safe, so a feed
        // that cannot publish (database gone a moment later) is only a warning.
        let event =
            serde_json::json!({ "action": &*action, "target": &*target, "actor": &*actor_name });
        if let Err(e) = self.db.bus().publish("audit", event).await {
            tracing::warn!("audit event not published: {e}");
        }
        Ok(())
    }

    /// The newest `limit` entries.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_audit(&self, who: &Principal, limit: u32) -> Result<Vec<AuditEntry>> {
        who.require(Permission::ViewAudit)?;
        let rows = sqlx::query(
            "SELECT at, actor_name, action, target, detail, client_addr FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit.min(1000)))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: format_time(r.try_get("at")?),
                    actor: r.try_get("actor_name")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    client_addr: r.try_get("client_addr")?,
                })
            })
            .collect()
    }
}
