//! Checklist server functions: the template, working migrations, ticks and
//! automated checks. Times come back already written in the viewer's zone.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::checklist::{CheckReport, Migration, MigrationItem, MigrationSummary, Template};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use model::auth::Permission;

/// The viewer's zone: the one asked for (`?tz=` on the page), else the `tz`
/// cookie the page's script sets from the browser, else UTC.
#[cfg(feature = "ssr")]
pub(crate) fn viewer_zone(asked: &str) -> String {
    let parts = use_context::<http::request::Parts>();
    let cookies = parts
        .as_ref()
        .map(|p| p.headers.get_all(http::header::COOKIE))
        .into_iter()
        .flatten()
        .filter_map(|v| v.to_str().ok());
    services::checklist::time::viewer_zone(asked, cookies)
}

/// The migration checklist template that ships with the app.
#[server(endpoint = "checklist/template", input = GetUrl)]
pub async fn get_checklist_template() -> Result<Template, AppError> {
    super::authorize(Permission::ViewDashboard)?;
    let services = super::services()?;
    Ok(services
        .checklist
        .template(services::checklist::DEFAULT_TEMPLATE)
        .await?)
}

/// Every migration with its progress.
#[server(endpoint = "migrations/list", input = GetUrl)]
pub async fn list_migrations(tz: String) -> Result<Vec<MigrationSummary>, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    Ok(super::services()?
        .checklist
        .list_migrations(&who, &viewer_zone(&tz))
        .await?)
}

/// One migration with its checklist.
#[server(endpoint = "migrations/get", input = GetUrl)]
pub async fn get_migration(id: i64, tz: String) -> Result<Migration, AppError> {
    let (who, _) = super::authorize(Permission::ViewDashboard)?;
    Ok(super::services()?
        .checklist
        .migration(&who, id, &viewer_zone(&tz))
        .await?)
}

/// Creates a migration and goes to it. The form's fields are `form[name]`...
#[server(endpoint = "migrations/create")]
pub async fn create_migration(form: model::checklist::NewMigration) -> Result<i64, AppError> {
    let (who, _) = super::authorize(Permission::WorkChecklists)?;
    let id = super::services()?
        .checklist
        .create_migration(&who, &form)
        .await?;
    leptos_axum::redirect(&format!("/checklist/{id}"));
    Ok(id)
}

/// Sets a point's state and note; `revision` is the one the page showed.
#[server(endpoint = "migrations/tick")]
pub async fn tick_item(
    migration: i64,
    item: i64,
    state: String,
    note: String,
    revision: Option<i64>,
) -> Result<MigrationItem, AppError> {
    let (who, _) = super::authorize(Permission::WorkChecklists)?;
    let state = model::checklist::ItemState::from_name(&state)
        .ok_or_else(|| AppError::invalid(format!("{state:?} is not a state of a point")))?;
    Ok(super::services()?
        .checklist
        .tick(&who, migration, item, state, &note, revision)
        .await?)
}

/// Runs one automated check (by its name), or every one when `check` is `all`.
#[server(endpoint = "migrations/check")]
pub async fn run_check(migration: i64, check: String) -> Result<Vec<CheckReport>, AppError> {
    let (who, _) = super::authorize(Permission::WorkChecklists)?;
    let services = super::services()?;
    let checks: Vec<_> = if check == "all" {
        services::checklist::CHECKS.to_vec()
    } else {
        vec![model::checklist::AutomatedCheck::from_name(&check)
            .ok_or_else(|| AppError::invalid(format!("{check:?} is not an automated check")))?]
    };
    Ok(services
        .checklist
        .run_checks(&who, migration, &checks)
        .await?)
}

/// Creates a read-only share link to a migration; answers its path, shown once.
#[server(endpoint = "migrations/share")]
pub async fn share_migration(
    migration: i64,
    label: String,
    expires_hours: Option<u32>,
) -> Result<String, AppError> {
    let (who, client) = super::authorize(Permission::ManageShareLinks)?;
    let services = super::services()?;
    // The migration must exist (and the sharer may read it).
    let m = services.checklist.migration(&who, migration, "UTC").await?;
    let label = if label.trim().is_empty() {
        m.summary.name
    } else {
        label
    };
    let expires = expires_hours
        .filter(|&h| h > 0)
        .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600));
    let (token, _) = services
        .auth
        .create_share_link(
            &who,
            &client,
            &services::checklist::share_selection(migration),
            &label,
            expires,
        )
        .await?;
    Ok(format!("/share/{token}"))
}

/// What a share link to a migration shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedMigration {
    pub label: String,
    pub expires_at: Option<String>,
    pub migration: Migration,
}

/// Opens a share link to a migration: the token is the credential.
#[server(endpoint = "share/migration", input = GetUrl)]
pub async fn open_shared_migration(token: String, tz: String) -> Result<SharedMigration, AppError> {
    let services = super::services()?;
    let grant = services.auth.check_share_link(&token).await?;
    let migration = services
        .checklist
        .shared_migration(&grant.selection, &viewer_zone(&tz))
        .await?;
    Ok(SharedMigration {
        label: grant.label,
        expires_at: grant.expires_at,
        migration,
    })
}

/// Adds a point to a section of the template.
#[server(endpoint = "template/add")]
pub async fn add_template_item(
    section: String,
    text: String,
    guidance: String,
    check: String,
) -> Result<i64, AppError> {
    let (who, _) = super::authorize(Permission::EditChecklistTemplates)?;
    let check = match check.as_str() {
        "" => None,
        name => Some(
            model::checklist::AutomatedCheck::from_name(name)
                .ok_or_else(|| AppError::invalid(format!("{name:?} is not an automated check")))?,
        ),
    };
    Ok(super::services()?
        .checklist
        .add_template_item(&who, &section, &text, &guidance, check)
        .await?)
}

/// Rewords a template point.
#[server(endpoint = "template/reword")]
pub async fn reword_template_item(id: i64, text: String, guidance: String) -> Result<(), AppError> {
    let (who, _) = super::authorize(Permission::EditChecklistTemplates)?;
    Ok(super::services()?
        .checklist
        .reword_template_item(&who, id, &text, &guidance)
        .await?)
}

/// Moves a template point (`direction` is `up` or `down`), or retires or
/// restores it (`retire`, `restore`).
#[server(endpoint = "template/change")]
pub async fn change_template_item(id: i64, change: String) -> Result<(), AppError> {
    let (who, _) = super::authorize(Permission::EditChecklistTemplates)?;
    let checklist = &super::services()?.checklist;
    match change.as_str() {
        "up" | "down" => {
            checklist
                .move_template_item(&who, id, change == "up")
                .await?;
        }
        "retire" | "restore" => {
            checklist
                .retire_template_item(&who, id, change == "retire")
                .await?;
        }
        other => return Err(AppError::invalid(format!("{other:?} is not a change"))),
    }
    Ok(())
}
