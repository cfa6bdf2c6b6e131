//! Geography both sides agree on.

/// Where the map opens: the centre of the UK (latitude, longitude)...
pub const UK_CENTER: (f64, f64) = (54.6, -3.4);
/// ...at a zoom that shows all of it on a laptop screen.
pub const UK_ZOOM: f64 = 5.0;
/// The UK's bounds (west, south, east, north), for a map with nothing selected.
pub const UK_BOUNDS: [f64; 4] = [-8.7, 49.8, 1.8, 60.9];

/// How the map draws a selection's outlets: as vector pages (each outlet a
/// marker with a popup) or as coverage tiles rendered by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrawMode {
    Vectors,
    Tiles,
}

/// The auto mode's rule, the same on the server (which answers the first
/// choice) and in the browser (which switches as the user zooms): vectors for
/// a few features seen up close, tiles for many features or from far out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutoMode {
    /// At most this many outlets are drawn as vectors.
    pub max_vector_features: u32,
    /// Vectors from this zoom in; tiles further out.
    pub min_vector_zoom: u8,
}

impl Default for AutoMode {
    fn default() -> Self {
        Self {
            max_vector_features: 500,
            min_vector_zoom: 8,
        }
    }
}

impl AutoMode {
    /// The mode for `features` outlets seen at `zoom`.
    #[must_use]
    pub fn choose(self, features: u32, zoom: f64) -> DrawMode {
        if features <= self.max_vector_features && zoom >= f64::from(self.min_vector_zoom) {
            DrawMode::Vectors
        } else {
            DrawMode::Tiles
        }
    }
}

/// A value for a URL query (`sel=county:bedfordshire,unit:luton`): unreserved
/// characters, `:` and `,` as they are (they read well in shared links), the
/// rest percent-encoded.
#[must_use]
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b',' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

use serde::{Deserialize, Serialize};

/// Levels of the region tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The 12 areas: 9 English regions, Scotland, Wales, Northern Ireland.
    Area,
    /// Counties and groups of units.
    County,
    /// Unitaries, districts, boroughs, councils.
    Unit,
}

impl Level {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Area => "area",
            Self::County => "county",
            Self::Unit => "unit",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "area" => Some(Self::Area),
            "county" => Some(Self::County),
            "unit" => Some(Self::Unit),
            _ => None,
        }
    }

    /// What a person calls it.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Area => "Area",
            Self::County => "Region",
            Self::Unit => "Sub-region",
        }
    }
}

/// Kinds of media outlet, each with its own colour on the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutletKind {
    Newspaper,
    Radio,
    Tv,
    Online,
}

impl OutletKind {
    pub const ALL: [Self; 4] = [Self::Newspaper, Self::Radio, Self::Tv, Self::Online];

    /// The kind's place in [`OutletKind::ALL`] (for per-kind arrays).
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::Newspaper => 0,
            Self::Radio => 1,
            Self::Tv => 2,
            Self::Online => 3,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Newspaper => "newspaper",
            Self::Radio => "radio",
            Self::Tv => "tv",
            Self::Online => "online",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "newspaper" | "print" => Some(Self::Newspaper),
            "radio" => Some(Self::Radio),
            "tv" | "television" => Some(Self::Tv),
            "online" | "web" => Some(Self::Online),
            _ => None,
        }
    }

    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Newspaper => "Newspaper",
            Self::Radio => "Radio",
            Self::Tv => "TV",
            Self::Online => "Online",
        }
    }

    /// The map colour (also used in legends), as CSS hex.
    #[must_use]
    pub const fn colour(self) -> &'static str {
        match self {
            Self::Newspaper => "#c2410c",
            Self::Radio => "#7c3aed",
            Self::Tv => "#0f766e",
            Self::Online => "#1d4ed8",
        }
    }
}

/// West, south, east, north in degrees.
pub type Bounds = [f64; 4];

/// One node of the region tree, as the tree shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    pub code: String,
    pub name: String,
    pub level: Level,
    /// Outlets based in this node (all kinds).
    pub outlets: u32,
    pub has_children: bool,
    /// Shown expanded (on the path to the selection, or opened).
    pub open: bool,
    pub selected: bool,
    /// Children, when open.
    pub children: Vec<TreeNode>,
}

/// Reach statistics of a selection or of one outlet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReachStats {
    /// People in towns inside (GeoNames populations).
    pub population: u64,
    pub towns: u32,
    pub area_km2: f64,
    /// Outlets by kind, in `OutletKind::ALL` order.
    pub outlets_by_kind: [u32; 4],
}

/// A stored row of the map's data that could not be loaded: it is left out of
/// the map (the rest is served) and shown to the people who import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProblem {
    /// `geo_node`, `outlet` or `town`.
    pub table: String,
    /// The row's key and name, e.g. `42 (Luton Herald)` or `unit:luton`.
    pub row: String,
    /// What is wrong, e.g. `reach: not a GeoJSON geometry: ...`.
    pub problem: String,
}

/// The stored rows the map left out, for the people who import: how many,
/// and the first [`DataProblemSummary::SHOWN`] of them (a table of thousands of rows
/// helps nobody and would be sent with every load of the page).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProblemSummary {
    pub total: u64,
    pub shown: Vec<DataProblem>,
}

impl DataProblemSummary {
    /// At most this many problems are listed.
    pub const SHOWN: usize = 200;

    /// The count of `all` and its first [`Self::SHOWN`].
    #[must_use]
    pub fn of(all: &[DataProblem]) -> Self {
        Self {
            total: all.len() as u64,
            shown: all.iter().take(Self::SHOWN).cloned().collect(),
        }
    }
}

/// An outlet as lists and details show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutletSummary {
    pub id: i64,
    pub name: String,
    pub kind: OutletKind,
    pub town: String,
    pub lon: f64,
    pub lat: f64,
    pub audience: u64,
    /// "Bedford, Luton" or "45 km around Bedford".
    pub reach: String,
    pub demo: bool,
}

/// What the map page shows for a selection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    /// The selection as the URL has it (`county:bedfordshire,unit:gb-lut`).
    pub selection: String,
    /// "Bedfordshire" or "Bedfordshire and Luton".
    pub title: String,
    pub kinds: Vec<OutletKind>,
    pub bounds: Bounds,
    pub stats: ReachStats,
    /// The first outlets (largest audience first); `outlet_total` says how many in all.
    pub outlets: Vec<OutletSummary>,
    pub outlet_total: u32,
    /// The outlet whose details are open.
    pub outlet: Option<(OutletSummary, ReachStats)>,
    pub tree: Vec<TreeNode>,
    /// The data version (changes with geography or outlets).
    pub data_version: String,
    /// True while the outlets are the generated demo set.
    pub demo: bool,
    /// The search box's text, when the tree is filtered.
    pub query: String,
}

/// The index of a selection's vector pages (the seed's `getLinks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureIndex {
    pub selection: String,
    pub data_version: String,
    pub bounds: Bounds,
    pub total: u32,
    pub per_page: u32,
    pub boundary: String,
    pub pages: Vec<FeaturePage>,
}

/// The URLs of one page in each format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeaturePage {
    pub geojson: String,
    pub kml: String,
    pub kmz: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_problems_are_counted_whole_and_listed_in_part() {
        let one = |i: usize| super::DataProblem {
            table: "outlet".into(),
            row: i.to_string(),
            problem: "reach: not a geometry".into(),
        };
        let all: Vec<_> = (0..500).map(one).collect();
        let p = super::DataProblemSummary::of(&all);
        assert_eq!(p.total, 500);
        assert_eq!(p.shown.len(), super::DataProblemSummary::SHOWN);
        assert_eq!(p.shown[0], one(0));
        assert_eq!(super::DataProblemSummary::of(&all[..3]).shown.len(), 3);
    }

    #[test]
    fn query_values_keep_codes_readable() {
        assert_eq!(
            super::encode_query_value("county:bedfordshire,unit:luton"),
            "county:bedfordshire,unit:luton"
        );
        assert_eq!(super::encode_query_value("a b&c=ü"), "a%20b%26c%3D%C3%BC");
    }
}
