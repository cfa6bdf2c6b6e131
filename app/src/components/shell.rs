//! The app shell: the header with its navigation, and the hydration marker.

use leptos::prelude::*;
use leptos_router::components::A;

/// The header on every page: the product name and the four parts.
#[component]
pub fn AppHeader() -> impl IntoView {
    view! {
        <header class="app-header">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◎"</span>
                "Switchboard"
            </A>
            <nav aria-label="Main">
                <ul>
                    <li><A href="/map">"Map"</A></li>
                    <li><A href="/health">"Health"</A></li>
                    <li><A href="/firewall">"Firewall"</A></li>
                    <li><A href="/checklist">"Checklist"</A></li>
                </ul>
            </nav>
        </header>
    }
}

/// Marks `<html data-hydrated>` once the WebAssembly app has taken over the
/// page, so people's tools and the browser tests can tell SSR from hydrated.
#[component]
pub fn HydrationMarker() -> impl IntoView {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
