//! Switchboard's user interface: the app shell, its pages and the server
//! functions they call. Built twice: with `ssr` into the server, with `hydrate`
//! into the WebAssembly bundle.

#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod pages;
pub mod serverfns;

#[cfg(feature = "hydrate")]
mod map;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::{
    components::shell::{provide_current_user, AppHeader, HydrationMarker},
    pages::{
        admin::AdminPage,
        checklist::{ChecklistPage, MigrationPage, TemplatePage},
        firewall::FirewallPage,
        health::HealthPage,
        home::HomePage,
        login::LoginPage,
        map::{ImportPage, MapPage, ShareLinksPage, SharedMapPage},
        not_found::NotFound,
    },
};

/// The name the build gives the JS, wasm and CSS bundles under `/pkg`.
pub const OUTPUT_NAME: &str = "switchboard";

/// Remembers the browser's IANA time zone in a cookie the server reads.
const TZ_COOKIE: &str = "try{document.cookie='tz='+encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone)+';path=/;max-age=31536000;samesite=lax'}catch(e){}";

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en-GB">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href="/leaflet/leaflet.css" />
                <script defer src="/leaflet/leaflet.js"></script>
                // The viewer's time zone, for times the server writes (checklists):
                // a cookie, so even the first render of the next page reads right.
                // The Content-Security-Policy allows inline scripts only with
                // this response's nonce (server/src/headers.rs).
                <script nonce=leptos::nonce::use_nonce() inner_html=TZ_COOKIE></script>
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The app: shell, header and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_current_user();

    view! {
        <Stylesheet id="switchboard" href=format!("/pkg/{OUTPUT_NAME}.css") />
        <Title formatter=|page: String| {
            if page.is_empty() { "Switchboard".to_owned() } else { format!("{page} · Switchboard") }
        } />
        <Meta
            name="description"
            content="Switchboard: reach maps, infrastructure health, firewall sync and migration checklists."
        />
        <Link rel="preload" href="/leaflet/leaflet.js" as_="script" />
        <HydrationMarker />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <AppHeader />
            <main id="main" tabindex="-1">
                <ErrorBoundary fallback=components::errors::error_list>
                    // Async SSR everywhere: the first response is the whole page, so every
                    // page reads with JavaScript off (the header needs the user, too).
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                        <Route path=path!("/map") view=MapPage ssr=SsrMode::Async />
                        <Route path=path!("/import") view=ImportPage ssr=SsrMode::Async />
                        <Route path=path!("/health") view=HealthPage ssr=SsrMode::Async />
                        <Route path=path!("/firewall") view=FirewallPage ssr=SsrMode::Async />
                        <Route path=path!("/checklist") view=ChecklistPage ssr=SsrMode::Async />
                        <Route path=path!("/checklist/template") view=TemplatePage ssr=SsrMode::Async />
                        <Route path=path!("/checklist/:id") view=MigrationPage ssr=SsrMode::Async />
                        <Route path=path!("/shares") view=ShareLinksPage ssr=SsrMode::Async />
                        <Route path=path!("/share/:token") view=SharedMapPage ssr=SsrMode::Async />
                        <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async />
                    </Routes>
                </ErrorBoundary>
            </main>
            <footer class="app-footer">
                <p>
                    "Switchboard · map data: Natural Earth (public domain) · "
                    <a href="/healthz">"status"</a>
                </p>
            </footer>
        </Router>
    }
}
