//! The page for any URL the app does not know, with status 404.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

/// Shown for unknown paths; the server answers it with 404 Not Found.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let path = use_location().pathname;
    view! {
        <Title text="Page not found" />
        <section class="panel empty-state not-found">
            <p class="status-code" aria-hidden="true">"404"</p>
            <h1>"Page not found"</h1>
            <p>"There is no page at " <code>{move || path.get()}</code> "."</p>
            <p>"Check the address, or pick a part of Switchboard from the menu above."</p>
        </section>
    }
}
