//! The router: Leptos pages and server functions, static assets, the small
//! JSON/SVG API and `/healthz`.

use std::{path::Path, sync::OnceLock, time::Duration};

use app::{shell, App};
use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    compression::CompressionLayer, services::ServeDir, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::AppState;

/// The whole app as one router, ready to serve or to test with `oneshot`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let services = state.services.clone();
    let leptos_options = state.leptos_options.clone();
    let site_root = Path::new(leptos_options.site_root.as_ref()).to_path_buf();

    // Built assets: precompressed by `cargo xtask build` (.br/.gz beside each file).
    // Their names are stable, so browsers revalidate (cheap 304s) rather than cache blindly.
    let assets = |dir: &str| {
        ServeDir::new(site_root.join(dir))
            .precompressed_br()
            .precompressed_gzip()
    };
    let revalidate = SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );

    let authenticate = middleware::from_fn_with_state(state.clone(), crate::auth::authenticate);
    let replica = SetResponseHeaderLayer::overriding(
        header::HeaderName::from_static("x-switchboard-replica"),
        HeaderValue::from_static(services::replica_id()),
    );
    // Tiles are the hot path (a map view asks for dozens): they depend on no
    // session (a coverage key is signed, the basemap is public), set their own
    // caching, and are PNG, which does not compress. So they skip the session,
    // timeout, revalidation, compression and trace layers.
    let tiles = Router::new()
        .route("/tiles/base/{z}/{x}/{file}", get(crate::tiles::base))
        .route(
            "/tiles/coverage/{key}/{z}/{x}/{file}",
            get(crate::tiles::coverage),
        )
        .layer(replica.clone())
        .layer(middleware::from_fn(crate::headers::tile_headers));

    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/login",
            post(crate::auth::login).layer(axum::extract::DefaultBodyLimit::max(LOGIN_BODY_MAX)),
        )
        .route("/logout", post(crate::auth::logout))
        .route("/api/events", get(crate::events::stream))
        .route("/api/tiles/key", get(crate::tiles::key))
        .route("/api/map/plan", get(crate::tiles::plan))
        .route("/api/map/at", get(crate::tiles::at))
        .route("/api/features/index.json", get(crate::features::index))
        .route("/api/features/{file}", get(crate::features::file))
        .route("/api/geo/land.geojson", get(land_geojson))
        .route("/api/geo/land.svg", get(land_svg))
        .route("/checklist/{id}/{file}", get(crate::checklist::export))
        .route("/firewall/export.sh", get(crate::firewall::export))
        .nest_service("/pkg", assets("pkg"))
        .nest_service("/leaflet", assets("leaflet"))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let services = services.clone();
                let map = state.map_settings.clone();
                move || {
                    provide_context(services.clone());
                    provide_context(map.clone());
                    provide_request_nonce();
                }
            },
            {
                let options = leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || {
                provide_context(services.clone());
                provide_request_nonce();
            },
            shell,
        ))
        .layer(authenticate.clone())
        // A response that is not under way within the limit (the session lookup
        // included: a database that hangs) becomes a readable 503 instead of a
        // stalled page. Uploads, added after it, are exempt.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async { timed_out() },
                ))
                .layer(tower::timeout::TimeoutLayer::new(
                    state.http.request_timeout,
                )),
        )
        .route(
            "/import/outlets",
            post(crate::import::outlets)
                .layer(upload_limit())
                .layer(authenticate.clone()),
        )
        .route(
            "/import/regions",
            post(crate::import::regions)
                .layer(upload_limit())
                .layer(authenticate),
        )
        .layer(revalidate)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::headers::add,
        ))
        .layer(replica)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        // After the trace layer too: a span and two clock reads per tile were a
        // few per cent of a cached tile's cost (`cargo xtask bench tiles`).
        .merge(tiles)
        .with_state(state)
}

/// The sign-in form is two short fields and a path: anything bigger is refused
/// (413, read as "too long") before it is parsed.
pub const LOGIN_BODY_MAX: usize = 8 * 1024;

/// Hands this request's CSP nonce (see `headers.rs`) to Leptos, which prints
/// it on the inline scripts it writes (hydration, serialised resources) and
/// the shell's time-zone script reads it with `use_nonce`.
fn provide_request_nonce() {
    let nonce = leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::headers::CspNonce>().cloned());
    if let Some(nonce) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

fn timed_out() -> Response {
    tracing::warn!("a request took longer than the request timeout");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::response::Html(crate::auth::message_page(
            "Switchboard is taking too long",
            "This page did not come together in time. Reload it; if it keeps happening, the server log says more.",
        )),
    )
        .into_response()
}

/// Imports may be large (up to the importer's own limit, plus the form's framing).
fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(services::atlas::import::MAX_BYTES + 64 * 1024)
}

/// Liveness and readiness: 200 when the database answers, 503 when it does not.
async fn healthz(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(Duration::from_secs(2), state.services.db.ping()).await;
    match db {
        Ok(Ok(())) => Json(serde_json::json!({
            "status": "ok",
            "database": "ok",
            "engine": state.services.db.engine().name(),
            "replica": services::replica_id(),
        }))
        .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database failed");
            unavailable("database unavailable")
        }
        Err(_) => unavailable("database timed out"),
    }
}

fn unavailable(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "unavailable", "database": why })),
    )
        .into_response()
}

/// The land polygons for the map's offline basemap. The document never changes
/// while the server runs, so it is gzipped once, not per request.
async fn land_geojson(State(state): State<AppState>, headers: HeaderMap) -> Response {
    static GZIPPED: OnceLock<Bytes> = OnceLock::new();
    let plain = state.services.geo.land_geojson();
    let base = [
        (header::CONTENT_TYPE, "application/geo+json"),
        (header::CACHE_CONTROL, "public, max-age=3600"),
        (header::VARY, "accept-encoding"),
    ];
    if accepts_gzip(&headers) {
        let body = GZIPPED.get_or_init(|| gzip(plain.as_bytes())).clone();
        return (base, [(header::CONTENT_ENCODING, "gzip")], body).into_response();
    }
    (base, plain).into_response()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name == "gzip" || name == "*") && !refused
        })
}

fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("writing to memory");
    Bytes::from(enc.finish().expect("writing to memory"))
}

/// A drawing of the land for pages read without JavaScript: projected once,
/// on first use, not per request.
async fn land_svg(State(state): State<AppState>) -> Response {
    static SVG: OnceLock<Bytes> = OnceLock::new();
    let svg = SVG
        .get_or_init(|| {
            let (path, height) = state.services.geo.land_svg_path(400.0, 1.5);
            Bytes::from(format!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 {height:.0}" width="400" height="{height:.0}" role="img"><title>United Kingdom and Ireland</title><rect width="100%" height="100%" fill="#cfe0ec"/><path d="{path}" fill="#e8eee4" stroke="#5b7083" stroke-width="0.6" fill-rule="evenodd"/></svg>"##
            ))
        })
        .clone();
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        svg,
    )
        .into_response()
}
