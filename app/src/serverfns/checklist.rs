//! Checklist server functions.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::checklist::Template;

use crate::error::AppError;

/// The migration checklist template that ships with the app.
#[server(endpoint = "checklist/template", input = GetUrl)]
pub async fn get_checklist_template() -> Result<Template, AppError> {
    super::authorize(model::auth::Permission::ViewDashboard)?;
    let services = super::services()?;
    Ok(services
        .checklist
        .template(services::checklist::DEFAULT_TEMPLATE)
        .await?)
}
