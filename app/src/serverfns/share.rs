//! Share links: staff create and revoke them; anyone with the token opens one.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::auth::ShareLinkSummary;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::Permission;

/// What a share link shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedMap {
    pub label: String,
    pub selection: String,
    pub expires_at: Option<String>,
}

/// Opens a share link. The token is the credential: no account needed.
#[server(endpoint = "share/open", input = GetUrl)]
pub async fn open_share(token: String) -> Result<SharedMap, AppError> {
    let grant = super::services()?.auth.open_share_link(&token).await?;
    Ok(SharedMap {
        label: grant.label,
        selection: grant.selection,
        expires_at: grant.expires_at,
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
    let (token, _) = super::services()?
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
