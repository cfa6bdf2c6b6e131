//! `GET /firewall/export.sh?flavour=iptables|nftables`: the script that makes a
//! host the app cannot reach match the latest inventory.

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use model::firewall::BackendKind;
use serde::Deserialize;
use services::auth::Principal;

use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    flavour: String,
}

pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let flavour = match q.flavour.as_str() {
        "" | "iptables" => BackendKind::Iptables,
        "nftables" | "nft" => BackendKind::Nftables,
        other => {
            return crate::api::error(&services::Error::invalid(format!(
                "flavour {other:?}: ask for iptables or nftables"
            )))
        }
    };
    match state.services.firewall.export(&who, flavour).await {
        Ok(script) => (
            [
                (header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    if flavour == BackendKind::Nftables {
                        "attachment; filename=\"switchboard-firewall.nft.sh\""
                    } else {
                        "attachment; filename=\"switchboard-firewall.iptables.sh\""
                    },
                ),
            ],
            script,
        )
            .into_response(),
        Err(e) => crate::api::error(&e),
    }
}
