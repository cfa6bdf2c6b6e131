//! `/api/features/...`: a selection's outlets as pages of vector features (the
//! seed's KML chunks of 250, plus GeoJSON and KMZ), the index listing the pages,
//! and the selected regions' boundaries.
//!
//! `GET /api/features/index.json?sel=county:bedfordshire&kinds=radio,tv&per_page=250`
//! `GET /api/features/{n}.geojson|.kml|.kmz?sel=...` and `/api/features/boundary.geojson?sel=...`
//!
//! Bad input (an unknown region or kind, a page that does not exist, a page size
//! out of range, an unknown format) answers 400 or 404 with a sentence saying what
//! was wrong.

use axum::{
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Response},
    Extension, Json,
};
use model::auth::Permission;
use serde::Deserialize;
use services::{atlas::export, auth::Principal, Error};

use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct FeatureQuery {
    #[serde(default)]
    sel: String,
    #[serde(default)]
    kinds: String,
    per_page: Option<String>,
    /// A share link's token, for someone without an account viewing that link.
    share: Option<String>,
}

/// Signed-in users may read any selection; a share link's holder only the
/// link's own selection.
pub(crate) async fn allowed(
    state: &AppState,
    who: &Principal,
    sel: &str,
    share: Option<&str>,
) -> Result<(), Error> {
    let Err(denied) = who.require(Permission::ViewDashboard) else {
        return Ok(());
    };
    let Some(token) = share.filter(|t| !t.is_empty()) else {
        return Err(denied);
    };
    let grant = state.services.auth.check_share_link(token).await?;
    let atlas = state.services.atlas.atlas().await?;
    let granted = atlas.select(&grant.selection, "")?;
    let asked = atlas.select(sel, "")?;
    if granted.text.is_empty() || granted.text != asked.text {
        return Err(Error::Forbidden {
            role: "share link",
            needs: "the selection this link was made for",
        });
    }
    Ok(())
}

fn per_page(state: &AppState, q: &FeatureQuery) -> Result<u32, Error> {
    match q.per_page.as_deref() {
        None | Some("") => Ok(state.http.features_per_page),
        Some(p) => p
            .parse()
            .map_err(|_| Error::invalid(format!("per_page must be a whole number (got {p:?})"))),
    }
}

const CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "private, max-age=300");

/// `GET /api/features/index.json`.
pub async fn index(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<FeatureQuery>,
) -> Response {
    let result = async {
        allowed(&state, &who, &q.sel, q.share.as_deref()).await?;
        let atlas = state.services.atlas.atlas().await?;
        let sel = atlas.select(&q.sel, &q.kinds)?;
        export::index(&atlas, &sel, per_page(&state, &q)?, "/api/features")
    }
    .await;
    match result {
        Ok(index) => ([CACHE], Json(index)).into_response(),
        Err(e) => crate::api::error(&e),
    }
}

/// `GET /api/features/{file}`: `boundary.geojson`, or page `N` as `.geojson`,
/// `.kml` or `.kmz`.
pub async fn file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(file): Path<String>,
    Query(q): Query<FeatureQuery>,
) -> Response {
    let result = async {
        allowed(&state, &who, &q.sel, q.share.as_deref()).await?;
        let (stem, ext) = file.rsplit_once('.').ok_or_else(|| {
            Error::NotFound(format!(
                "feature file {file:?} (expected N.geojson, N.kml, N.kmz or boundary.geojson)"
            ))
        })?;
        let atlas = state.services.atlas.atlas().await?;
        let sel = atlas.select(&q.sel, &q.kinds)?;
        if stem == "boundary" && ext == "geojson" {
            let body = export::boundary_geojson(&atlas, &sel);
            return Ok((
                [(header::CONTENT_TYPE, "application/geo+json"), CACHE],
                body,
            )
                .into_response());
        }
        let page: u32 = stem.parse().map_err(|_| {
            Error::NotFound(format!(
                "feature file {file:?} (expected N.geojson, N.kml, N.kmz or boundary.geojson)"
            ))
        })?;
        let per_page = per_page(&state, &q)?;
        let title = atlas.title(&sel);
        // Writing a page is CPU work (reach polygons): off the async workers.
        let ext = ext.to_owned();
        tokio::task::spawn_blocking(move || -> Result<Response, Error> {
            let outlets = export::page(&atlas, &sel, page, per_page)?;
            Ok(match ext.as_str() {
                "geojson" => (
                    [(header::CONTENT_TYPE, "application/geo+json"), CACHE],
                    export::geojson(&atlas, &outlets),
                )
                    .into_response(),
                "kml" => (
                    [
                        (header::CONTENT_TYPE, "application/vnd.google-earth.kml+xml"),
                        CACHE,
                    ],
                    export::kml(&atlas, &format!("{title}, page {page}"), &outlets),
                )
                    .into_response(),
                "kmz" => {
                    let kml = export::kml(&atlas, &format!("{title}, page {page}"), &outlets);
                    (
                        [
                            (header::CONTENT_TYPE, "application/vnd.google-earth.kmz"),
                            CACHE,
                        ],
                        export::kmz(&kml)?,
                    )
                        .into_response()
                }
                other => {
                    return Err(Error::NotFound(format!(
                        "format {other:?} (expected geojson, kml or kmz)"
                    )))
                }
            })
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }
    .await;
    result.unwrap_or_else(|e| crate::api::error(&e))
}
