//! The map's URL: what `/map?sel=...&kinds=...&open=...&q=...&outlet=...`
//! says, and the links that change one part of it.

use model::geo::OutletKind;

/// What the URL says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapQuery {
    pub(super) sel: String,
    pub(super) kinds: String,
    pub(super) open: String,
    pub(super) q: String,
    pub(super) outlet: Option<i64>,
}

impl MapQuery {
    /// `/map?...` with empty parameters left out.
    pub(super) fn href(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("sel", &self.sel),
            ("kinds", &self.kinds),
            ("open", &self.open),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", model::geo::encode_query_value(v)));
            }
        }
        if let Some(id) = self.outlet {
            parts.push(format!("outlet={id}"));
        }
        if parts.is_empty() {
            "/map".into()
        } else {
            format!("/map?{}", parts.join("&"))
        }
    }

    /// The same view with `code` selected (its branch opens by itself).
    pub(super) fn select(&self, code: &str) -> Self {
        Self {
            sel: code.to_owned(),
            outlet: None,
            ..self.clone()
        }
    }

    /// The same view with `code` opened or closed in the tree.
    pub(super) fn toggle(&self, code: &str, open_now: bool) -> Self {
        let mut open: Vec<&str> = self
            .open
            .split(',')
            .filter(|c| !c.is_empty() && *c != code)
            .collect();
        if !open_now {
            open.push(code);
        }
        Self {
            open: open.join(","),
            ..self.clone()
        }
    }

    /// The same view with `kind` added to or removed from the filter.
    pub(super) fn toggle_kind(&self, kind: OutletKind, on: bool) -> Self {
        let mut kinds: Vec<OutletKind> = self
            .kinds
            .split(',')
            .filter_map(OutletKind::parse)
            .collect();
        if kinds.is_empty() {
            kinds = OutletKind::ALL.to_vec();
        }
        kinds.retain(|k| *k != kind);
        if !on {
            kinds.push(kind);
        }
        kinds.sort();
        let text = if kinds.len() == OutletKind::ALL.len() {
            String::new()
        } else {
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        Self {
            kinds: text,
            outlet: None,
            ..self.clone()
        }
    }
}
