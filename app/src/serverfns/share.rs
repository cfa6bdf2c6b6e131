//! Share links: staff create and revoke them; anyone with the token opens one.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::auth::ShareLinkSummary;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::Permission;

/// What a share link shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedMap {
    pub label: String,
    pub selection: String,
    pub expires_at: Option<String>,
    /// The selection names regions the map knows (older links may not).
    pub valid: bool,
    pub bounds: [f64; 4],
    pub data_version: String,
    /// The link shows a migration's checklist instead of a map.
    pub migration: Option<i64>,
}

/// Opens a share link. The token is the credential: no account needed.
#[server(endpoint = "share/open", input = GetUrl)]
pub async fn open_share(token: String) -> Result<SharedMap, AppError> {
    let services = super::services()?;
    let grant = services.auth.open_share_link(&token).await?;
    let atlas = services.atlas.atlas().await?;
    let selection = atlas
        .select(&grant.selection, "")
        .ok()
        .filter(|s| !s.text.is_empty());
    Ok(SharedMap {
        label: grant.label,
        valid: selection.is_some(),
        bounds: selection
            .as_ref()
            .map_or(model::geo::UK_BOUNDS, |s| atlas.bounds(s)),
        migration: services::checklist::shared_id(&grant.selection),
        selection: grant.selection,
        expires_at: grant.expires_at,
        data_version: atlas.version().to_owned(),
    })
}

/// Every share link.
#[server(endpoint = "shares/list", input = GetUrl)]
pub async fn list_share_links() -> Result<Vec<ShareLinkSummary>, AppError> {
    let (who, _) = super::authorize(Permission::ManageShareLinks)?;
    Ok(super::services()?.auth.list_share_links(&who).await?)
}

/// Creates a link; answers its path (`/share/<token>`), shown once.
#[server(endpoint = "shares/create")]
pub async fn create_share_link(
    selection: String,
    label: String,
    expires_hours: Option<u32>,
) -> Result<String, AppError> {
    let (who, client) = super::authorize(Permission::ManageShareLinks)?;
    let expires = expires_hours
        .filter(|&h| h > 0)
        .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600));
    let services = super::services()?;
    // Only selections the map knows: the link must show something.
    let selection = services.atlas.atlas().await?.select(&selection, "")?.text;
    if selection.is_empty() {
        return Err(AppError::invalid(
            "Choose a selection to share, e.g. county:bedfordshire (as in the map's URL)",
        ));
    }
    let (token, _) = services
        .auth
        .create_share_link(&who, &client, &selection, &label, expires)
        .await?;
    Ok(format!("/share/{token}"))
}

/// Revokes a link.
#[server(endpoint = "shares/revoke")]
pub async fn revoke_share_link(id: i64) -> Result<(), AppError> {
    let (who, client) = super::authorize(Permission::ManageShareLinks)?;
    Ok(super::services()?
        .auth
        .revoke_share_link(&who, &client, id)
        .await?)
}
