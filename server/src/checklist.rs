//! `GET /checklist/{id}/export.md` and `export.csv`: a migration's checklist to
//! paste into a ticket or open in a spreadsheet.

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use serde::Deserialize;
use services::auth::Principal;

use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    tz: String,
}

pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, file)): Path<(i64, String)>,
    Query(q): Query<ExportQuery>,
    headers: HeaderMap,
) -> Response {
    let (render, mime): (fn(&model::checklist::Migration) -> String, _) = match file.as_str() {
        "export.md" => (
            services::checklist::markdown,
            "text/markdown; charset=utf-8",
        ),
        "export.csv" => (services::checklist::csv, "text/csv; charset=utf-8"),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                "Not found: exports are export.md and export.csv.",
            )
                .into_response()
        }
    };
    let m = match state
        .services
        .checklist
        .migration(
            &who,
            id,
            &services::checklist::time::viewer_zone(
                &q.tz,
                headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            ),
        )
        .await
    {
        Ok(m) => m,
        Err(e) => return crate::api::error(&e),
    };
    let name: String = m
        .summary
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let ext = file.rsplit('.').next().unwrap_or("txt");
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"migration-{id}-{name}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        render(&m),
    )
        .into_response()
}
