//! The admin page: users, sessions, the audit log. Admins only.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::auth::{AuditEntry, SessionSummary, UserSummary};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::{Permission, Role};

#[cfg(feature = "ssr")]
fn role(name: &str) -> Result<Role, AppError> {
    Role::from_name(name).ok_or_else(|| AppError::invalid(format!("{name:?} is not a role")))
}

/// Every user.
#[server(endpoint = "admin/users", input = GetUrl)]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    let (who, _) = super::authorize(Permission::ManageUsers)?;
    Ok(super::services()?.auth.list_users(&who).await?)
}

/// Adds a user.
#[server(endpoint = "admin/add_user")]
pub async fn add_user(
    username: String,
    display_name: String,
    role: String,
    password: String,
) -> Result<(), AppError> {
    let (who, client) = super::authorize(Permission::ManageUsers)?;
    let role = self::role(&role)?;
    super::services()?
        .auth
        .add_user(
            Some((&who, &client)),
            &username,
            &display_name,
            role,
            &password,
        )
        .await?;
    Ok(())
}

/// Changes a user's role.
#[server(endpoint = "admin/set_role")]
pub async fn set_user_role(user_id: i64, role: String) -> Result<(), AppError> {
    let (who, client) = super::authorize(Permission::ManageUsers)?;
    let role = self::role(&role)?;
    Ok(super::services()?
        .auth
        .set_role(&who, &client, user_id, role)
        .await?)
}

/// Sets a new random password; answers it (shown once).
#[server(endpoint = "admin/reset_password")]
pub async fn reset_user_password(user_id: i64) -> Result<String, AppError> {
    let (who, client) = super::authorize(Permission::ManageUsers)?;
    Ok(super::services()?
        .auth
        .reset_password(&who, &client, user_id)
        .await?)
}

/// Disables or re-enables a user.
#[server(endpoint = "admin/set_disabled")]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    let (who, client) = super::authorize(Permission::ManageUsers)?;
    Ok(super::services()?
        .auth
        .set_disabled(&who, &client, user_id, disabled)
        .await?)
}

/// Active sessions.
#[server(endpoint = "admin/sessions", input = GetUrl)]
pub async fn list_sessions() -> Result<Vec<SessionSummary>, AppError> {
    let (who, _) = super::authorize(Permission::ManageUsers)?;
    Ok(super::services()?.auth.list_sessions(&who).await?)
}

/// Ends a session by its handle.
#[server(endpoint = "admin/end_session")]
pub async fn end_session(handle: String) -> Result<(), AppError> {
    let (who, client) = super::authorize(Permission::ManageUsers)?;
    Ok(super::services()?
        .auth
        .end_session(&who, &client, &handle)
        .await?)
}

/// The newest 200 audit entries.
#[server(endpoint = "admin/audit", input = GetUrl)]
pub async fn list_audit() -> Result<Vec<AuditEntry>, AppError> {
    let (who, _) = super::authorize(Permission::ViewAudit)?;
    Ok(super::services()?.auth.list_audit(&who, 200).await?)
}
