//! Coverage tiles over HTTP.
//!
//! `GET /api/tiles/key?sel=...&kinds=...` (repeat `layer=sel|kinds` to merge
//! several selections) answers the key and the URL template for the current
//! data version; `GET /tiles/coverage/{key}/{z}/{x}/{y}.png` (or `{y}@2x.png`)
//! answers the tile, `immutable` because the key carries the data version, with
//! an `ETag` and 304 on `If-None-Match`. Bad numbers, unknown or stale keys:
//! 4xx with a sentence, and nothing is rendered.

use std::borrow::Cow;

use axum::{
    extract::{Path, Query, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
    Extension, Json,
};
use model::auth::Permission;
use serde::Deserialize;
use services::{auth::Principal, tiles::TileId, Error};

use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct KeyQuery {
    #[serde(default)]
    sel: String,
    #[serde(default)]
    kinds: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    sel: String,
    #[serde(default)]
    kinds: String,
    /// The zoom the map will show the selection at.
    z: Option<String>,
    /// A share link's token, for someone without an account viewing that link.
    share: Option<String>,
}

/// `GET /api/map/plan?sel=...&kinds=...&z=...`: the auto mode's answer for a
/// selection at a zoom (vector pages or coverage tiles), with the rule and the
/// tile URL so that the map can switch as the user zooms without asking again.
pub async fn plan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<PlanQuery>,
) -> Response {
    let result = async {
        crate::features::allowed(&state, &who, &q.sel, q.share.as_deref()).await?;
        let zoom = match q.z.as_deref() {
            None | Some("") => 0.0,
            Some(z) => z
                .parse::<f64>()
                .ok()
                .filter(|z| (0.0..=f64::from(services::tiles::MAX_ZOOM)).contains(z))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "z must be a zoom from 0 to {} (got {z:?})",
                        services::tiles::MAX_ZOOM
                    ))
                })?,
        };
        let atlas = state.services.atlas.atlas().await?;
        let selection = atlas.select(&q.sel, &q.kinds)?;
        let features = u32::try_from(atlas.outlets_in(&selection).len()).unwrap_or(u32::MAX);
        let key = state
            .services
            .tiles
            .key(&[(q.sel.clone(), q.kinds.clone())])
            .await?;
        let signed = state.services.tiles.signed(&key).await?;
        let auto = state.http.auto_mode;
        Ok::<_, Error>(serde_json::json!({
            "mode": auto.choose(features, zoom),
            "zoom": zoom,
            "features": features,
            "auto": auto,
            "data_version": key.version,
            // {r} is Leaflet's "@2x on a high-density screen".
            "tiles": format!("/tiles/coverage/{signed}/{{z}}/{{x}}/{{y}}{{r}}.png"),
        }))
    }
    .await;
    match result {
        Ok(v) => ([(header::CACHE_CONTROL, "private, no-cache")], Json(v)).into_response(),
        Err(e) => crate::api::error(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AtQuery {
    #[serde(default)]
    sel: String,
    #[serde(default)]
    kinds: String,
    lon: Option<String>,
    lat: Option<String>,
    /// A share link's token, for someone without an account viewing that link.
    share: Option<String>,
}

/// How many outlets `/api/map/at` lists (the total says how many there are).
const AT_MOST: usize = 8;

/// `GET /api/map/at?sel=...&kinds=...&lon=...&lat=...`: the selection's outlets
/// whose reach covers a point, largest audience first: what a click on the
/// coverage tiles shows, since tiles have no markers to click.
pub async fn at(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<AtQuery>,
) -> Response {
    let result = async {
        crate::features::allowed(&state, &who, &q.sel, q.share.as_deref()).await?;
        let degrees = |what: &str, v: Option<&str>, limit: f64| -> Result<f64, Error> {
            v.and_then(|v| v.parse::<f64>().ok())
                .filter(|d| d.is_finite() && d.abs() <= limit)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{what} must be a number of degrees from -{limit} to {limit} (got {:?})",
                        v.unwrap_or_default()
                    ))
                })
        };
        let lon = degrees("lon", q.lon.as_deref(), 180.0)?;
        let lat = degrees("lat", q.lat.as_deref(), 90.0)?;
        let atlas = state.services.atlas.atlas().await?;
        let selection = atlas.select(&q.sel, &q.kinds)?;
        let reaching = atlas.reaching(&selection, lon, lat);
        let outlets: Vec<_> = reaching
            .iter()
            .take(AT_MOST)
            .map(|o| atlas.summary(o))
            .collect();
        Ok::<_, Error>(serde_json::json!({
            "lon": lon,
            "lat": lat,
            "total": reaching.len(),
            "outlets": outlets,
        }))
    }
    .await;
    match result {
        Ok(v) => ([(header::CACHE_CONTROL, "private, max-age=300")], Json(v)).into_response(),
        Err(e) => crate::api::error(&e),
    }
}

/// `GET /api/tiles/key`.
pub async fn key(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<KeyQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        who.require(Permission::ViewDashboard)?;
        // Extra layers to merge: layer=sel|kinds, repeated.
        let mut layers = vec![(q.sel.clone(), q.kinds.clone())];
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
                .map_err(|e| Error::invalid(format!("the query does not parse: {e}")))?;
        for (name, v) in pairs {
            if name == "layer" {
                let (s, k) = v.split_once('|').unwrap_or((&v, ""));
                layers.push((s.to_owned(), k.to_owned()));
            }
        }
        let key = state.services.tiles.key(&layers).await?;
        let encoded = state.services.tiles.signed(&key).await?;
        Ok::<_, Error>(serde_json::json!({
            "key": encoded,
            "data_version": key.version,
            "url": format!("/tiles/coverage/{encoded}/{{z}}/{{x}}/{{y}}.png"),
        }))
    }
    .await;
    match result {
        Ok(v) => ([(header::CACHE_CONTROL, "private, no-cache")], Json(v)).into_response(),
        Err(e) => crate::api::error(&e),
    }
}

/// `GET /tiles/coverage/{key}/{z}/{x}/{y}.png`. The signed key is the
/// permission: no session is looked up (see `services::tiles::cache`). A tile in
/// memory is answered without checking the signature again (it was checked when
/// the tile was stored); a revalidation (`If-None-Match`) checks it before its 304.
pub async fn coverage(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let result = async {
        // The path's four parts, borrowed: no allocation unless one is
        // percent-encoded (the URLs this server hands out never are).
        let mut parts = uri
            .path()
            .strip_prefix("/tiles/coverage/")
            .unwrap_or_default()
            .splitn(4, '/')
            .map(decoded);
        let (Some(key), Some(z), Some(x), Some(file)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::NotFound(format!("tile {:?}", uri.path())));
        };
        let (key, z, x, file) = (&*key, &*z, &*x, &*file);
        let tile = tile_id(z, x, file)?;
        let etag = format!("\"{key}/{z}/{x}/{file}\"");
        if headers.contains_key(header::IF_NONE_MATCH) {
            state.services.tiles.verify(key).await?;
            if fresh(&headers, &etag) {
                return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
            }
        }
        let t = state.services.tiles.get(key, tile).await?;
        let etag = HeaderValue::try_from(etag)
            .map_err(|_| Error::invalid("the tile address is not a valid header".to_owned()))?;
        Ok::<_, Error>(
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("private, max-age=31536000, immutable"),
                    ),
                    (header::ETAG, etag),
                ],
                t.png.clone(),
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| crate::api::error(&e))
}

/// A path segment, percent-decoded.
fn decoded(segment: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
}

/// A tile's address from the path's parts (`{y}.png` or `{y}@2x.png`).
fn tile_id(z: &str, x: &str, file: &str) -> Result<TileId, Error> {
    let number = |what: &str, v: &str| -> Result<u32, Error> {
        v.parse()
            .map_err(|_| Error::invalid(format!("{what} must be a whole number (got {v:?})")))
    };
    let (y, scale) = match file.strip_suffix("@2x.png") {
        Some(y) => (y, 2),
        None => (
            file.strip_suffix(".png")
                .ok_or_else(|| Error::NotFound(format!("tile {file:?} (tiles end in .png)")))?,
            1,
        ),
    };
    TileId::new(number("z", z)?, number("x", x)?, number("y", y)?, scale)
}

/// Whether the client's `If-None-Match` names `etag`.
fn fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

/// `GET /tiles/base/{z}/{x}/{y}.png`: the offline basemap, for anyone (it shows
/// only public geography). Its URL carries no version, so browsers keep a tile
/// five minutes and then revalidate it against the data version in its `ETag`.
pub async fn base(
    State(state): State<AppState>,
    Path((z, x, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tile = tile_id(&z, &x, &file)?;
        let etag = |version: &str| format!("\"base/{version}/{z}/{x}/{file}\"");
        let cache = (header::CACHE_CONTROL, "public, max-age=300".to_owned());
        // A revalidation is answered from the data version alone: no render,
        // no cache lookup.
        let current = etag(state.services.atlas.atlas().await?.version());
        if fresh(&headers, &current) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, current), cache]).into_response());
        }
        let (version, t) = state.services.tiles.base(tile).await?;
        let etag = etag(&version);
        Ok::<_, Error>(
            (
                [
                    (header::CONTENT_TYPE, "image/png".to_owned()),
                    cache,
                    (header::ETAG, etag),
                ],
                t.png.clone(),
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| crate::api::error(&e))
}
