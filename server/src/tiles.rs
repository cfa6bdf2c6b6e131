//! Coverage tiles over HTTP.
//!
//! `GET /api/tiles/key?sel=...&kinds=...` (repeat `layer=sel|kinds` to merge
//! several selections) answers the key and the URL template for the current
//! data version; `GET /tiles/coverage/{key}/{z}/{x}/{y}.png` (or `{y}@2x.png`)
//! answers the tile, `immutable` because the key carries the data version, with
//! an `ETag` and 304 on `If-None-Match`. Bad numbers, unknown or stale keys:
//! 4xx with a sentence, and nothing is rendered.

use axum::{
    extract::{Path, Query, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
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
                .map_err(|e| Error::Invalid(format!("the query does not parse: {e}")))?;
        for (name, v) in pairs {
            if name == "layer" {
                let (s, k) = v.split_once('|').unwrap_or((&v, ""));
                layers.push((s.to_owned(), k.to_owned()));
            }
        }
        let key = state.services.tiles.key(&layers).await?;
        let encoded = key.encode();
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

/// `GET /tiles/coverage/{key}/{z}/{x}/{y}.png`.
pub async fn coverage(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((key, z, x, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        who.require(Permission::ViewDashboard)?;
        let number = |what: &str, v: &str| -> Result<u32, Error> {
            v.parse()
                .map_err(|_| Error::Invalid(format!("{what} must be a whole number (got {v:?})")))
        };
        let (y, scale) = match file.strip_suffix("@2x.png") {
            Some(y) => (y, 2),
            None => (
                file.strip_suffix(".png")
                    .ok_or_else(|| Error::NotFound(format!("tile {file:?} (tiles end in .png)")))?,
                1,
            ),
        };
        let tile = TileId::new(number("z", &z)?, number("x", &x)?, number("y", y)?, scale)?;
        let etag = format!("\"{key}/{z}/{x}/{file}\"");
        if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
        {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
        }
        let t = state.services.tiles.get(&key, tile).await?;
        Ok::<_, Error>(
            (
                [
                    (header::CONTENT_TYPE, "image/png".to_owned()),
                    (
                        header::CACHE_CONTROL,
                        "private, max-age=31536000, immutable".to_owned(),
                    ),
                    (header::ETAG, etag),
                ],
                axum::body::Bytes::from(t.png.to_vec()),
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| crate::api::error(&e))
}
