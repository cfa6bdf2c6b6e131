//! The Leaflet map's container, shared by the reach map and the shared map:
//! what it draws ([`MapLayer`]) and where the basemap comes from
//! ([`MapSettings`]). The drawing itself is `crate::map`, in the browser only.

use leptos::prelude::*;

/// Where the basemap comes from: the shipped land (no URL) or XYZ tiles. The
/// server provides it as context; the map container carries it to the browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSettings {
    pub basemap_url: Option<String>,
    pub attribution: String,
}

/// What the map draws over the basemap.
#[derive(Clone, Debug, PartialEq)]
pub struct MapLayer {
    pub selection: String,
    pub kinds: String,
    pub bounds: [f64; 4],
    pub version: String,
    /// A share link's token: the map's data requests carry it instead of a session.
    pub share: Option<String>,
}

/// The Leaflet map. The server renders an empty container; once the app
/// hydrates, an effect creates the map in it and draws `layer` (see
/// `crate::map`). Without JavaScript a drawing of the land stands in.
#[component]
pub fn MapCanvas(#[prop(into)] layer: Signal<Option<MapLayer>>) -> impl IntoView {
    let container = NodeRef::<leptos::html::Div>::new();
    let progress = RwSignal::new((0u32, 0u32, String::new()));
    #[cfg(feature = "hydrate")]
    crate::map::mount(container, layer, progress);
    #[cfg(not(feature = "hydrate"))]
    let _ = &layer;
    let label = "Map of the selection".to_owned();
    let settings = use_context::<MapSettings>().unwrap_or_default();
    let attribution = settings
        .basemap_url
        .as_ref()
        .map(|_| settings.attribution.clone());
    view! {
        <div class="map-frame panel">
            <div id="map" class="map" node_ref=container role="region" aria-label=label data-basemap=settings.basemap_url data-attribution=attribution></div>
            <div class="map-progress" role="status" aria-live="polite">
                {move || {
                    let (done, total, note) = progress.get();
                    (total > 0 || !note.is_empty()).then(|| view! {
                        <progress max=total.max(1) value=done></progress>
                        <span>{if note.is_empty() { format!("Loading outlets: page {done} of {total}") } else { note }}</span>
                    })
                }}
            </div>
            <noscript>
                <figure class="map-fallback">
                    <img src="/api/geo/land.svg" alt="Outline of the United Kingdom and Ireland" width="400" />
                    <figcaption>"The interactive map needs JavaScript; the figures and lists below do not."</figcaption>
                </figure>
            </noscript>
        </div>
    }
}
