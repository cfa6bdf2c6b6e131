//! Server functions: thin adapters that take the services from context, call
//! them and turn their errors into [`AppError`](crate::error::AppError).

pub mod admin;
pub mod checklist;
pub mod firewall;
pub mod health;
pub mod map;
pub mod share;

#[cfg(feature = "ssr")]
pub(crate) fn services() -> Result<services::Services, crate::error::AppError> {
    leptos::prelude::use_context::<services::Services>()
        .ok_or_else(|| crate::error::AppError::unavailable("the services are not configured"))
}

/// Who is asking (the auth middleware put it in the request) and from where.
#[cfg(feature = "ssr")]
pub(crate) fn principal() -> (services::auth::Principal, services::auth::Client) {
    use leptos::prelude::use_context;
    let parts = use_context::<http::request::Parts>();
    let principal = parts
        .as_ref()
        .and_then(|p| p.extensions.get::<services::auth::Principal>().cloned())
        .unwrap_or(services::auth::Principal::Anonymous);
    let client = parts
        .as_ref()
        .and_then(|p| p.extensions.get::<services::auth::Client>().cloned())
        .unwrap_or_default();
    (principal, client)
}

/// The principal, when it holds `permission`; the 401/403 error otherwise.
#[cfg(feature = "ssr")]
pub(crate) fn authorize(
    permission: model::auth::Permission,
) -> Result<(services::auth::Principal, services::auth::Client), crate::error::AppError> {
    let (principal, client) = principal();
    principal.require(permission)?;
    Ok((principal, client))
}
