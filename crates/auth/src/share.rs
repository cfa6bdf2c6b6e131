//! Share links: a read-only view of one map selection for people without an
//! account. Only the token's hash is stored; the link can expire and be revoked.

use std::time::Duration;

use model::auth::{ShareLinkSummary, ShareState};
use sqlx::Row;

use super::{
    format_time, limits, password, secs, token_hash, AuthService, Client, Permission, Principal,
};
use crate::{Error, Result};

/// What an opened share link grants: one selection, read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareGrant {
    pub link_id: i64,
    pub selection: String,
    pub label: String,
    pub expires_at: Option<String>,
}

impl AuthService {
    /// Creates a link to `selection`; returns the token for the URL (shown once) and the id.
    ///
    /// # Errors
    /// Permission, a malformed selection or label; database errors.
    pub async fn create_share_link(
        &self,
        who: &Principal,
        client: &Client,
        selection: &str,
        label: &str,
        expires_in: Option<Duration>,
    ) -> Result<(String, i64)> {
        let me = who.require(Permission::ManageShareLinks)?;
        let selection = selection.trim();
        if selection.is_empty()
            || selection.len() > limits::SHARE_SELECTION_MAX
            || !selection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '_' | ':' | '-' | '.'))
        {
            return Err(Error::invalid(format!(
                "a selection is up to {} letters, digits or , _ : - .",
                limits::SHARE_SELECTION_MAX
            )));
        }
        let label = label.trim();
        if label.is_empty()
            || label.chars().count() > limits::SHARE_LABEL_MAX
            || label.chars().any(char::is_control)
        {
            return Err(Error::invalid(format!(
                "give the link a label of up to {} characters, on one line",
                limits::SHARE_LABEL_MAX
            )));
        }
        if expires_in.is_some_and(|d| d.is_zero()) {
            return Err(Error::invalid("an expiry must be in the future"));
        }
        let token = password::random_token()?;
        let now = self.clock.now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO share_link (token_hash, selection, label, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(token_hash(&token))
        .bind(selection)
        .bind(label)
        .bind(me.id)
        .bind(now)
        .bind(expires_in.map(|d| now + secs(d)))
        .fetch_one(self.db.pool())
        .await?;
        self.audit(who, client, "share.create", label, selection)
            .await?;
        Ok((token, id))
    }

    /// Opens a share link: what it grants, or why not.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown token, [`Error::Gone`] for a revoked
    /// or expired link; database errors.
    pub async fn open_share_link(&self, token: &str) -> Result<ShareGrant> {
        let grant = self.check_share_link(token).await?;
        sqlx::query(
            "UPDATE share_link SET open_count = open_count + 1, last_opened_at = $1 WHERE id = $2",
        )
        .bind(self.clock.now())
        .bind(grant.link_id)
        .execute(self.db.pool())
        .await?;
        Ok(grant)
    }

    /// What a share link grants, without counting an opening (the map's data
    /// requests use it).
    ///
    /// # Errors
    /// As [`AuthService::open_share_link`].
    pub async fn check_share_link(&self, token: &str) -> Result<ShareGrant> {
        let row = sqlx::query(
            "SELECT id, selection, label, expires_at, revoked_at FROM share_link WHERE token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| Error::NotFound("this share link".into()))?;
        let now = self.clock.now();
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        let expires: Option<i64> = row.try_get("expires_at")?;
        if let Some(at) = revoked {
            return Err(Error::Gone(format!(
                "this share link was revoked on {}",
                format_time(at)
            )));
        }
        if let Some(at) = expires.filter(|&at| at <= now) {
            return Err(Error::Gone(format!(
                "this share link expired on {}",
                format_time(at)
            )));
        }
        let id: i64 = row.try_get("id")?;
        Ok(ShareGrant {
            link_id: id,
            selection: row.try_get("selection")?,
            label: row.try_get("label")?,
            expires_at: expires.map(format_time),
        })
    }

    /// Every share link, newest first.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_share_links(&self, who: &Principal) -> Result<Vec<ShareLinkSummary>> {
        who.require(Permission::ManageShareLinks)?;
        let now = self.clock.now();
        let rows = sqlx::query(
            "SELECT l.id, l.label, l.selection, u.username, l.created_at, l.expires_at, l.revoked_at, l.open_count \
             FROM share_link l JOIN app_user u ON u.id = l.created_by ORDER BY l.id DESC LIMIT 500",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let expires: Option<i64> = r.try_get("expires_at")?;
                let revoked: Option<i64> = r.try_get("revoked_at")?;
                let state = if revoked.is_some() {
                    ShareState::Revoked
                } else if expires.is_some_and(|at| at <= now) {
                    ShareState::Expired
                } else {
                    ShareState::Active
                };
                Ok(ShareLinkSummary {
                    id: r.try_get("id")?,
                    label: r.try_get("label")?,
                    selection: r.try_get("selection")?,
                    created_by: r.try_get("username")?,
                    created_at: format_time(r.try_get("created_at")?),
                    expires_at: expires.map(format_time),
                    state,
                    open_count: r.try_get("open_count")?,
                })
            })
            .collect()
    }

    /// Revokes a link: it answers 410 from now on.
    ///
    /// # Errors
    /// Permission, unknown link; database errors.
    pub async fn revoke_share_link(&self, who: &Principal, client: &Client, id: i64) -> Result<()> {
        who.require(Permission::ManageShareLinks)?;
        let label: String = sqlx::query_scalar("SELECT label FROM share_link WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("share link {id}")))?;
        sqlx::query("UPDATE share_link SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(self.clock.now())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        self.audit(who, client, "share.revoke", &label, "").await
    }
}
