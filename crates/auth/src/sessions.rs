//! Sessions in the database: lookup (touching or peeking), sign-out here and
//! everywhere, listing and ending them, and pruning the expired.

use model::auth::Permission;
use model::auth::SessionSummary;
use platform::{format_time, Error, Principal, Result};
use sqlx::Row as _;

use crate::{
    secs, token_hash,
    users::{delete_sessions_of, me_from_row},
    AuthService, Client,
};

impl AuthService {
    /// Housekeeping: deletes expired sessions, idle sessions and sign-in
    /// failures older than the throttle window. Returns what it removed.
    ///
    /// # Errors
    /// Database errors.
    #[tracing::instrument(skip_all, err)]
    pub async fn prune(&self) -> Result<String> {
        let now = self.clock.now();
        let sessions =
            sqlx::query("DELETE FROM app_session WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(now - secs(self.config.idle_timeout))
                .execute(self.db.pool())
                .await?
                .rows_affected();
        let failures = sqlx::query("DELETE FROM login_failure WHERE at < $1")
            .bind(now - secs(self.config.failure_window))
            .execute(self.db.pool())
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM login_attempt_lock WHERE at < $1")
            .bind(now - secs(self.config.failure_window))
            .execute(self.db.pool())
            .await?;
        Ok(format!(
            "removed {sessions} expired session(s) and {failures} old sign-in failure(s)"
        ))
    }

    /// The principal a session cookie stands for; `Anonymous` when the token is
    /// unknown, expired (idle or absolute) or its user is disabled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn session(&self, token: &str) -> Result<Principal> {
        self.lookup(token, true).await
    }

    /// As [`AuthService::session`], without counting as activity: for a
    /// long-lived stream re-checking its session, which must not keep an idle
    /// session alive past its idle timeout.
    ///
    /// # Errors
    /// Database errors.
    pub async fn peek_session(&self, token: &str) -> Result<Principal> {
        self.lookup(token, false).await
    }

    async fn lookup(&self, token: &str, touch: bool) -> Result<Principal> {
        let now = self.clock.now();
        let id = token_hash(token);
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.role, u.disabled, s.last_seen_at, s.expires_at \
             FROM app_session s JOIN app_user u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(&id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Principal::Anonymous);
        };
        let last_seen: i64 = row.try_get("last_seen_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        let disabled = row.try_get::<i64, _>("disabled")? != 0;
        if disabled || now >= expires || now - last_seen >= secs(self.config.idle_timeout) {
            sqlx::query("DELETE FROM app_session WHERE id = $1")
                .bind(&id)
                .execute(self.db.pool())
                .await?;
            return Ok(Principal::Anonymous);
        }
        // Touch at most once a minute: reads stay reads.
        if touch && now - last_seen >= 60 {
            sqlx::query("UPDATE app_session SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(self.db.pool())
                .await?;
        }
        Ok(Principal::User(me_from_row(&row)?))
    }

    /// Ends one session.
    ///
    /// # Errors
    /// Database errors.
    pub async fn logout(&self, token: &str, client: &Client) -> Result<()> {
        let who = self.session(token).await?;
        sqlx::query("DELETE FROM app_session WHERE id = $1")
            .bind(token_hash(token))
            .execute(self.db.pool())
            .await?;
        if let Principal::User(me) = &who {
            self.audit(&who, client, "auth.logout", &me.username, "")
                .await?;
        }
        Ok(())
    }

    /// Ends every session of the signed-in user ("sign out everywhere").
    ///
    /// # Errors
    /// Unauthenticated; database errors.
    pub async fn logout_everywhere(&self, who: &Principal, client: &Client) -> Result<u64> {
        let me = who.user().ok_or(Error::Unauthenticated)?;
        let n = delete_sessions_of(self.db.pool(), me.id).await?;
        self.audit(
            who,
            client,
            "auth.logout_everywhere",
            &me.username,
            &format!("{n} session(s)"),
        )
        .await?;
        Ok(n)
    }

    /// Active sessions of every user, newest first.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_sessions(&self, who: &Principal) -> Result<Vec<SessionSummary>> {
        who.require(Permission::ManageUsers)?;
        let rows = sqlx::query(
            "SELECT s.id, u.username, s.created_at, s.last_seen_at, s.client_addr, s.user_agent \
             FROM app_session s JOIN app_user u ON u.id = s.user_id WHERE s.expires_at > $1 \
             ORDER BY s.last_seen_at DESC LIMIT 200",
        )
        .bind(self.clock.now())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(SessionSummary {
                    handle: id[..12].to_owned(),
                    username: r.try_get("username")?,
                    created_at: format_time(r.try_get("created_at")?),
                    last_seen_at: format_time(r.try_get("last_seen_at")?),
                    client_addr: r.try_get("client_addr")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// Ends the session whose handle (hash prefix) is given.
    ///
    /// # Errors
    /// Permission, unknown handle; database errors.
    pub async fn end_session(&self, who: &Principal, client: &Client, handle: &str) -> Result<()> {
        who.require(Permission::ManageUsers)?;
        if handle.len() != 12 || !handle.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid("not a session handle"));
        }
        let n = sqlx::query("DELETE FROM app_session WHERE substr(id, 1, 12) = $1")
            .bind(handle)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("session {handle}")));
        }
        self.audit(who, client, "session.end", handle, "").await
    }
}
