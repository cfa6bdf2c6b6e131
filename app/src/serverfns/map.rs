//! Map server functions: the page's view of a selection, and the stored rows
//! the map left out (the import page's "Data problems").

use leptos::{prelude::*, server_fn::codec::GetUrl};
use model::geo::{DataProblemSummary, MapView};

use crate::error::AppError;

/// How many outlets the page lists (the map shows them all).
pub const LIST_LIMIT: usize = 50;

/// Everything the map page shows for `sel` (codes), `kinds`, the `open` tree
/// nodes, a tree search `q` and the `outlet` whose details are open.
#[server(endpoint = "map/view", input = GetUrl)]
pub async fn get_map_view(
    sel: String,
    kinds: String,
    open: String,
    q: String,
    outlet: Option<i64>,
) -> Result<MapView, AppError> {
    super::authorize(model::auth::Permission::ViewDashboard)?;
    let services = super::services()?;
    let atlas = services.atlas.atlas().await?;
    let open: Vec<String> = open
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(atlas.view(&sel, &kinds, &open, &q, outlet, LIST_LIMIT)?)
}

/// The stored rows the map could not load and left out, for the people who import.
#[server(endpoint = "map/data_problems", input = GetUrl)]
pub async fn data_problems() -> Result<DataProblemSummary, AppError> {
    let (who, _) = super::authorize(model::auth::Permission::EditMap)?;
    Ok(super::services()?.atlas.data_problems(&who).await?)
}
