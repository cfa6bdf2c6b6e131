//! The reach map: real Leaflet, created and driven from Rust in the browser.

use leptos::prelude::*;
use leptos_meta::Title;

/// `/map`: Leaflet centred on the UK with the shipped land outline.
#[component]
pub fn MapPage() -> impl IntoView {
    view! {
        <Title text="Map" />
        <div class="page-head page-head-row">
            <h1>"Reach map"</h1>
            <p class="muted">"UK land outline · Natural Earth · works offline"</p>
        </div>
        <MapView />
    }
}

/// The map itself. The server renders an empty container; once the WebAssembly
/// app hydrates, an effect creates the Leaflet map in it (see `crate::map`).
/// Without JavaScript a drawing of the same outline stands in.
#[component]
pub fn MapView() -> impl IntoView {
    let container = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    crate::map::mount(container);

    view! {
        <div class="map-frame panel">
            <div
                id="map"
                class="map"
                node_ref=container
                role="region"
                aria-label="Map of the United Kingdom"
            ></div>
            <noscript>
                <figure class="map-fallback">
                    <img src="/api/geo/land.svg" alt="Outline of the United Kingdom and Ireland" width="400" />
                    <figcaption>"The interactive map needs JavaScript; this is the land outline it draws."</figcaption>
                </figure>
            </noscript>
        </div>
    }
}
