//! Server functions: thin adapters that take the services from context, call
//! them and turn their errors into [`AppError`](crate::error::AppError).

pub mod checklist;

#[cfg(feature = "ssr")]
pub(crate) fn services() -> Result<services::Services, crate::error::AppError> {
    leptos::prelude::use_context::<services::Services>().ok_or_else(|| {
        crate::error::AppError::Unavailable("the services are not configured".into())
    })
}
