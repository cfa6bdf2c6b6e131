//! The reach map's data: the region tree, towns, outlets and their reach.
//!
//! The database holds it (`geo_node`, `town`, `outlet`, `dataset`); on first run
//! [`AtlasService::seed`] loads the shipped UK dataset and, when asked, the demo
//! outlets, in one transaction, and stores a data version (a digest of every
//! node and outlet) that changes whenever either changes. The pages read an
//! [`Atlas`]: everything loaded into memory once per data version, with the
//! town populations and outlet counts rolled up the tree, an R-tree of towns for
//! reach statistics, and simplified boundaries for the map.
//!
//! Loading never depends on every stored row being right: a row that cannot be
//! read or built (a boundary or reach that does not parse, a number out of
//! range, a region whose parent is missing) is left out, logged, and listed as
//! a [`DataProblem`] ([`Atlas::problems`]); the rest of the map is served. A
//! change (an import) is read back and built inside its transaction before it
//! commits, and is rolled back if any row it wrote would be such a problem.

pub mod dataset;
mod demo;
pub mod export;
pub mod geo;
pub mod import;
pub mod shape;
pub mod tiles;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, OnceLock},
};

use ::geo::{
    BooleanOps as _, Contains as _, GeodesicArea as _, MultiPolygon, Point, Polygon, Simplify as _,
};
pub use model::geo::DataProblem;
use model::geo::{Bounds, Level, MapView, OutletKind, OutletSummary, ReachStats, TreeNode};
use rstar::{primitives::GeomWithData, RTree, AABB};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

pub use platform::{Db, Error, Result};

/// How far a simplified boundary may stray from the real one, in degrees (about
/// 200 m at UK latitudes): what the map draws below street level.
const SIMPLIFY_DEGREES: f64 = 0.002;
/// How many codes one selection may name.
const MAX_SELECTION: usize = 50;

/// Where an outlet is heard, read or watched.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach {
    /// These tree nodes (codes).
    Regions(Vec<String>),
    /// A circle around the outlet's home, clipped to land.
    Circle { radius_km: f64 },
    /// A drawn or imported area.
    Geometry(MultiPolygon<f64>),
}

/// An outlet to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutlet {
    pub name: String,
    pub kind: OutletKind,
    pub town: String,
    pub lon: f64,
    pub lat: f64,
    pub audience: i64,
    pub reach: Reach,
    pub source: String,
}

struct Node {
    code: String,
    name: String,
    level: Level,
    parent: Option<usize>,
    children: Vec<usize>,
    geometry: MultiPolygon<f64>,
    simple: MultiPolygon<f64>,
    bounds: Bounds,
    population: u64,
    towns: u32,
    area_km2: f64,
    /// Outlets based here, by kind (`OutletKind::ALL` order).
    outlets: [u32; 4],
}

/// An outlet in memory.
#[derive(Clone, Debug)]
pub struct Outlet {
    pub id: i64,
    pub name: String,
    pub kind: OutletKind,
    pub town: String,
    pub lon: f64,
    pub lat: f64,
    pub audience: i64,
    pub reach: Reach,
    pub source: String,
    /// The unit its home lies in (index into the nodes).
    unit: Option<usize>,
}

type TownPoint = GeomWithData<[f64; 2], usize>;

/// The map's data at one data version, in memory.
pub struct Atlas {
    version: String,
    nodes: Vec<Node>,
    by_code: HashMap<String, usize>,
    roots: Vec<usize>,
    towns: Vec<dataset::Town>,
    /// The leaf (unit) each town lies in, by index, as placed at load.
    town_leaf: Vec<Option<usize>>,
    town_index: RTree<TownPoint>,
    outlets: Vec<Outlet>,
    outlet_by_id: HashMap<i64, usize>,
    /// Each outlet's reach geometry and its bounds, computed on first use.
    reach_cache: Mutex<HashMap<i64, ReachShape>>,
    land: Arc<MultiPolygon<f64>>,
    /// The bounds of each land polygon, made on first use.
    land_boxes: OnceLock<Vec<Bounds>>,
    /// Stored rows left out of this atlas, and why.
    problems: Vec<DataProblem>,
}

impl std::fmt::Debug for Atlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atlas")
            .field("version", &self.version)
            .field("nodes", &self.nodes.len())
            .field("towns", &self.towns.len())
            .field("outlets", &self.outlets.len())
            .finish_non_exhaustive()
    }
}

/// A parsed selection: tree nodes and outlet kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Canonical text: the codes, comma-separated, as given (deduplicated).
    pub text: String,
    nodes: Vec<usize>,
    pub kinds: Vec<OutletKind>,
}

fn bounds_of<G: ::geo::BoundingRect<f64, Output = Option<::geo::Rect<f64>>>>(g: &G) -> Bounds {
    g.bounding_rect()
        .map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

/// An outlet's reach geometry and its bounds.
type ReachShape = (Arc<MultiPolygon<f64>>, Bounds);

/// Whether two bounds (west, south, east, north; or any boxes given as min x,
/// min y, max x, max y) touch.
#[must_use]
pub fn touches(a: Bounds, b: Bounds) -> bool {
    a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1]
}

fn union_bounds(a: Bounds, b: Bounds) -> Bounds {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// A polygon approximating a circle on the sphere (64 sides).
fn circle(lon: f64, lat: f64, radius_km: f64) -> Polygon<f64> {
    let dlat = radius_km / 111.32;
    let dlon = radius_km / (111.32 * lat.to_radians().cos().max(0.01));
    let ring: Vec<(f64, f64)> = (0..=64)
        .map(|i| {
            let a = f64::from(i) / 64.0 * std::f64::consts::TAU;
            (lon + dlon * a.cos(), lat + dlat * a.sin())
        })
        .collect();
    Polygon::new(ring.into(), vec![])
}

impl Atlas {
    /// The data version these figures belong to.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The stored rows this atlas left out, and why (empty when all loaded).
    #[must_use]
    pub fn problems(&self) -> &[DataProblem] {
        &self.problems
    }

    /// Whether any outlet is from the generated demo set.
    #[must_use]
    pub fn has_demo(&self) -> bool {
        self.outlets.iter().any(|o| o.source == "demo")
    }

    #[must_use]
    pub fn outlet_count(&self) -> usize {
        self.outlets.len()
    }

    /// Reads `sel` (comma-separated codes; empty = the whole UK) and `kinds`
    /// (comma-separated kinds; empty = all).
    ///
    /// # Errors
    /// An unknown code or kind, or too many codes: `Error::Invalid` naming it.
    pub fn select(&self, sel: &str, kinds: &str) -> Result<Selection> {
        let mut nodes = Vec::new();
        let mut text = Vec::new();
        for code in sel.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let &i = self.by_code.get(code).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown selection {code:?}: expected codes such as area:east-of-england, county:bedfordshire or unit:luton"
                ))
            })?;
            if !nodes.contains(&i) {
                nodes.push(i);
                text.push(code.to_owned());
            }
        }
        if nodes.len() > MAX_SELECTION {
            return Err(Error::invalid(format!(
                "a selection may name at most {MAX_SELECTION} regions (got {})",
                nodes.len()
            )));
        }
        let mut kind_list = Vec::new();
        for k in kinds.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let kind = OutletKind::parse(k).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown outlet kind {k:?}: expected newspaper, radio, tv or online"
                ))
            })?;
            if !kind_list.contains(&kind) {
                kind_list.push(kind);
            }
        }
        kind_list.sort();
        if kind_list.len() == OutletKind::ALL.len() {
            kind_list.clear();
        }
        Ok(Selection {
            text: text.join(","),
            nodes,
            kinds: kind_list,
        })
    }

    /// The selected nodes, or the whole tree's roots for an empty selection,
    /// without those inside another selected node.
    fn effective(&self, sel: &Selection) -> Vec<usize> {
        let chosen: Vec<usize> = if sel.nodes.is_empty() {
            self.roots.clone()
        } else {
            sel.nodes.clone()
        };
        chosen
            .iter()
            .copied()
            .filter(|&i| {
                let mut up = self.nodes[i].parent;
                while let Some(p) = up {
                    if chosen.contains(&p) {
                        return false;
                    }
                    up = self.nodes[p].parent;
                }
                true
            })
            .collect()
    }

    fn within(&self, unit: usize, tops: &[usize]) -> bool {
        let mut at = Some(unit);
        while let Some(i) = at {
            if tops.contains(&i) {
                return true;
            }
            at = self.nodes[i].parent;
        }
        false
    }

    /// "Bedfordshire", "Bedfordshire and Luton", "United Kingdom".
    #[must_use]
    pub fn title(&self, sel: &Selection) -> String {
        let names: Vec<&str> = sel
            .nodes
            .iter()
            .map(|&i| self.nodes[i].name.as_str())
            .collect();
        match names.as_slice() {
            [] => "United Kingdom".into(),
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }

    /// The selection's bounds.
    #[must_use]
    pub fn bounds(&self, sel: &Selection) -> Bounds {
        self.effective(sel)
            .iter()
            .map(|&i| self.nodes[i].bounds)
            .reduce(union_bounds)
            .unwrap_or(model::geo::UK_BOUNDS)
    }

    /// Outlets based in the selection, of its kinds, largest audience first.
    #[must_use]
    pub fn outlets_in(&self, sel: &Selection) -> Vec<&Outlet> {
        let tops = self.effective(sel);
        let mut list: Vec<&Outlet> = self
            .outlets
            .iter()
            .filter(|o| sel.kinds.is_empty() || sel.kinds.contains(&o.kind))
            .filter(|o| o.unit.is_some_and(|u| self.within(u, &tops)))
            .collect();
        list.sort_by(|a, b| b.audience.cmp(&a.audience).then(a.id.cmp(&b.id)));
        list
    }

    /// The outlets of the selection whose reach covers a point, largest audience
    /// first: what a click on the coverage tiles asks.
    #[must_use]
    pub fn reaching(&self, sel: &Selection, lon: f64, lat: f64) -> Vec<&Outlet> {
        let here = Point::new(lon, lat);
        let on_land = std::cell::OnceCell::new();
        self.outlets_in(sel)
            .into_iter()
            .filter(|o| match o.reach {
                // The circle as the atlas draws it (an ellipse in degrees),
                // on land: no clipped geometry needed.
                Reach::Circle { radius_km } => {
                    let dy = (lat - o.lat) * 111.32 / radius_km;
                    let dx =
                        (lon - o.lon) * 111.32 * o.lat.to_radians().cos().max(0.01) / radius_km;
                    dx.hypot(dy) <= 1.0
                        && *on_land.get_or_init(|| {
                            self.land_near([lon, lat, lon, lat])
                                .any(|p| p.contains(&here))
                        })
                }
                _ => {
                    touches(self.reach_bounds(o), [lon, lat, lon, lat])
                        && self.reach_geometry(o).contains(&here)
                }
            })
            .collect()
    }

    /// Population, towns and area of the selection, and its outlets by kind.
    #[must_use]
    pub fn stats(&self, sel: &Selection) -> ReachStats {
        let mut stats = ReachStats::default();
        for i in self.effective(sel) {
            let n = &self.nodes[i];
            stats.population += n.population;
            stats.towns += n.towns;
            stats.area_km2 += n.area_km2;
            for (k, c) in n.outlets.iter().enumerate() {
                stats.outlets_by_kind[k] += c;
            }
        }
        stats
    }

    /// The selected nodes' boundaries, simplified for the map, with their bounds.
    #[must_use]
    pub fn boundaries(&self, sel: &Selection) -> Vec<(&str, &str, &MultiPolygon<f64>, Bounds)> {
        self.effective(sel)
            .iter()
            .map(|&i| {
                let n = &self.nodes[i];
                (n.code.as_str(), n.name.as_str(), &n.simple, n.bounds)
            })
            .collect()
    }

    /// One outlet.
    ///
    /// # Errors
    /// `Error::NotFound` for an unknown id.
    pub fn outlet(&self, id: i64) -> Result<&Outlet> {
        self.outlet_by_id
            .get(&id)
            .map(|&i| &self.outlets[i])
            .ok_or_else(|| Error::NotFound(format!("outlet {id}")))
    }

    /// The simplified outlines of the regions at `level` whose bounds touch `b`
    /// (west, south, east, north): the basemap's boundaries.
    pub fn outlines_near(
        &self,
        level: Level,
        b: Bounds,
    ) -> impl Iterator<Item = &MultiPolygon<f64>> {
        self.nodes
            .iter()
            .filter(move |n| n.level == level && touches(n.bounds, b))
            .map(|n| &n.simple)
    }

    /// Every town with its population (the basemap's labels).
    #[must_use]
    pub fn towns(&self) -> &[dataset::Town] {
        &self.towns
    }

    /// The land polygons whose bounds touch `b` (west, south, east, north).
    pub fn land_near(&self, b: Bounds) -> impl Iterator<Item = &Polygon<f64>> {
        let boxes = self
            .land_boxes
            .get_or_init(|| self.land.0.iter().map(bounds_of).collect());
        self.land
            .0
            .iter()
            .zip(boxes)
            .filter(move |(_, pb)| touches(**pb, b))
            .map(|(p, _)| p)
    }

    /// Computes and keeps the reach shapes `sel`'s tiles fill as polygons (region
    /// and drawn reaches; circles are drawn as circles), as a server's first
    /// tiles of a selection do: how many outlets that was.
    pub fn prepare_reach(&self, sel: &Selection) -> usize {
        let mut prepared = 0;
        for o in self.outlets_in(sel) {
            if !matches!(o.reach, Reach::Circle { .. }) {
                self.reach(o);
                prepared += 1;
            }
        }
        prepared
    }

    /// The area an outlet reaches (computed once per outlet, then kept).
    pub fn reach_geometry(&self, o: &Outlet) -> Arc<MultiPolygon<f64>> {
        self.reach(o).0
    }

    /// The bounds of the area an outlet reaches (kept with the geometry).
    pub fn reach_bounds(&self, o: &Outlet) -> Bounds {
        self.reach(o).1
    }

    fn reach(&self, o: &Outlet) -> ReachShape {
        if let Some(g) = self
            .reach_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&o.id)
        {
            return g.clone();
        }
        let g = match &o.reach {
            Reach::Regions(codes) => {
                let polys: Vec<Polygon<f64>> = codes
                    .iter()
                    .filter_map(|c| self.by_code.get(c))
                    .flat_map(|&i| self.nodes[i].simple.0.iter().cloned())
                    .collect();
                MultiPolygon(polys)
            }
            Reach::Circle { radius_km } => {
                let c = MultiPolygon(vec![circle(o.lon, o.lat, *radius_km)]);
                // Clip to the land polygons near the circle only.
                let near: Vec<Polygon<f64>> = self.land_near(bounds_of(&c)).cloned().collect();
                c.intersection(&MultiPolygon(near))
                    .simplify(SIMPLIFY_DEGREES / 2.0)
            }
            Reach::Geometry(mp) => mp.simplify(SIMPLIFY_DEGREES / 2.0),
        };
        let g = shape::drop_degenerate(g);
        let bounds = bounds_of(&g);
        let shape = (Arc::new(g), bounds);
        self.reach_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(o.id, shape.clone());
        shape
    }

    /// Who and what an outlet reaches.
    #[must_use]
    pub fn reach_stats(&self, o: &Outlet) -> ReachStats {
        let mut stats = ReachStats::default();
        match &o.reach {
            Reach::Regions(codes) => {
                let sel = Selection {
                    text: String::new(),
                    nodes: codes
                        .iter()
                        .filter_map(|c| self.by_code.get(c).copied())
                        .collect(),
                    kinds: vec![],
                };
                if !sel.nodes.is_empty() {
                    stats = self.stats(&sel);
                }
            }
            Reach::Circle { .. } | Reach::Geometry(_) => {
                let (g, b) = self.reach(o);
                let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
                for t in self.town_index.locate_in_envelope(&env) {
                    if g.contains(&Point::new(t.geom()[0], t.geom()[1])) {
                        let town = &self.towns[t.data];
                        stats.towns += 1;
                        stats.population += u64::try_from(town.population).unwrap_or(0);
                    }
                }
                stats.area_km2 = g.geodesic_area_unsigned() / 1e6;
                // Outlets based inside the reach.
                for other in &self.outlets {
                    if g.contains(&Point::new(other.lon, other.lat)) {
                        stats.outlets_by_kind[other.kind.index()] += 1;
                    }
                }
            }
        }
        stats
    }

    /// How lists show an outlet.
    #[must_use]
    pub fn summary(&self, o: &Outlet) -> OutletSummary {
        let reach = match &o.reach {
            Reach::Regions(codes) => codes
                .iter()
                .map(|c| {
                    self.by_code
                        .get(c)
                        .map_or(c.as_str(), |&i| self.nodes[i].name.as_str())
                })
                .collect::<Vec<_>>()
                .join(", "),
            Reach::Circle { radius_km } => format!("{radius_km:.0} km around {}", o.town),
            Reach::Geometry(_) => "a drawn area".into(),
        };
        OutletSummary {
            id: o.id,
            name: o.name.clone(),
            kind: o.kind,
            town: o.town.clone(),
            lon: o.lon,
            lat: o.lat,
            audience: u64::try_from(o.audience).unwrap_or(0),
            reach,
            demo: o.source == "demo",
        }
    }

    fn tree_node(
        &self,
        i: usize,
        sel: &Selection,
        open: &HashSet<usize>,
        query: &str,
    ) -> Option<TreeNode> {
        let n = &self.nodes[i];
        let matches = query.is_empty() || n.name.to_lowercase().contains(query);
        let show_children = open.contains(&i) || !query.is_empty();
        let children: Vec<TreeNode> = if show_children {
            n.children
                .iter()
                .filter_map(|&c| self.tree_node(c, sel, open, query))
                .collect()
        } else {
            vec![]
        };
        if !matches && children.is_empty() {
            return None;
        }
        Some(TreeNode {
            code: n.code.clone(),
            name: n.name.clone(),
            level: n.level,
            outlets: n.outlets.iter().sum(),
            has_children: !n.children.is_empty(),
            open: !children.is_empty(),
            selected: sel.nodes.contains(&i),
            children,
        })
    }

    /// The tree as shown: open along the path to each selected node and at the
    /// `open` codes; with a query, only matching nodes and their ancestors.
    #[must_use]
    pub fn tree(&self, sel: &Selection, open: &[String], query: &str) -> Vec<TreeNode> {
        let mut opened: HashSet<usize> = open
            .iter()
            .filter_map(|c| self.by_code.get(c).copied())
            .collect();
        for &i in &sel.nodes {
            let mut up = self.nodes[i].parent;
            while let Some(p) = up {
                opened.insert(p);
                up = self.nodes[p].parent;
            }
        }
        let query = query.trim().to_lowercase();
        self.roots
            .iter()
            .filter_map(|&i| self.tree_node(i, sel, &opened, &query))
            .collect()
    }

    /// Everything the map page shows for a selection.
    ///
    /// # Errors
    /// A bad selection or kind, or an unknown outlet.
    pub fn view(
        &self,
        sel: &str,
        kinds: &str,
        open: &[String],
        query: &str,
        outlet: Option<i64>,
        limit: usize,
    ) -> Result<MapView> {
        let selection = self.select(sel, kinds)?;
        let list = self.outlets_in(&selection);
        let outlet = match outlet {
            Some(id) => {
                let o = self.outlet(id)?;
                Some((self.summary(o), self.reach_stats(o)))
            }
            None => None,
        };
        Ok(MapView {
            title: self.title(&selection),
            kinds: selection.kinds.clone(),
            bounds: self.bounds(&selection),
            stats: self.stats(&selection),
            outlet_total: u32::try_from(list.len()).unwrap_or(u32::MAX),
            outlets: list.iter().take(limit).map(|o| self.summary(o)).collect(),
            outlet,
            tree: self.tree(&selection, open, query),
            data_version: self.version.clone(),
            demo: self.has_demo(),
            query: query.trim().to_owned(),
            selection: selection.text,
        })
    }
}

/// Loads, seeds and serves the [`Atlas`]; one per process, shared by requests.
#[derive(Clone, Debug)]
pub struct AtlasService {
    pub(crate) db: Db,
    current: Arc<tokio::sync::RwLock<Option<Arc<Atlas>>>>,
    /// Bumped after every (re)load: caches keyed by data version compare it with
    /// the one they last checked instead of taking the lock.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

/// (regions, radius in metres, geometry). The radius is stored in whole metres:
/// sqlx 0.9's `Any` driver sends a NULL `f64` to PostgreSQL typed as `float4`.
fn encode_reach(reach: &Reach) -> (Option<String>, Option<i64>, Option<String>) {
    match reach {
        Reach::Regions(codes) => (Some(codes.join(",")), None, None),
        #[allow(clippy::cast_possible_truncation)]
        Reach::Circle { radius_km } => (None, Some((radius_km * 1000.0).round() as i64), None),
        Reach::Geometry(mp) => (None, None, Some(geojson::Geometry::from(mp).to_string())),
    }
}

impl AtlasService {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self {
            db,
            current: Arc::new(tokio::sync::RwLock::new(None)),
            generation: Arc::default(),
        }
    }

    /// Loads the shipped geography when the database lacks it or has an older
    /// one, and `demo_outlets` generated outlets when there are no outlets at
    /// all. Idempotent; replicas starting together converge.
    ///
    /// # Errors
    /// Database errors.
    pub async fn seed(&self, demo_outlets: usize) -> Result<()> {
        let shipped = tokio::task::spawn_blocking(dataset::shipped)
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if self.dataset_value("geography_digest").await?.as_deref() != Some(&shipped.digest) {
            if let Err(e) = self.load_geography(&shipped).await {
                // Another replica may have loaded it meanwhile.
                if self.dataset_value("geography_digest").await?.as_deref() != Some(&shipped.digest)
                {
                    return Err(e);
                }
            }
        }
        let outlets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outlet")
            .fetch_one(self.db.pool())
            .await?;
        if outlets == 0 && demo_outlets > 0 {
            let atlas = self.reload().await?;
            let generated = demo_set(&atlas, demo_outlets);
            if let Err(e) = self.insert_outlets(&generated, true).await {
                let now: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outlet")
                    .fetch_one(self.db.pool())
                    .await?;
                if now == 0 {
                    return Err(e);
                }
            }
        }
        self.reload().await?;
        Ok(())
    }

    async fn dataset_value(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM dataset WHERE key = $1")
                .bind(key)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }

    async fn load_geography(&self, shipped: &dataset::Shipped) -> Result<()> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM geo_node WHERE source = 'shipped'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM town").execute(&mut *tx).await?;
        for chunk in shipped.nodes.chunks(50) {
            let sql = platform::db::values_sql(
                "INSERT INTO geo_node (code, name, level, parent, geometry, source) VALUES ",
                6,
                chunk.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in chunk {
                q = q
                    .bind(n.code.clone())
                    .bind(n.name.clone())
                    .bind(n.level.as_str())
                    .bind(n.parent.clone())
                    .bind(geojson::Geometry::from(&n.geometry).to_string())
                    .bind("shipped");
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in shipped.towns.chunks(500) {
            let sql = platform::db::values_sql(
                "INSERT INTO town (id, name, lon, lat, population) VALUES ",
                5,
                chunk.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(t.id)
                    .bind(t.name.clone())
                    .bind(t.lon)
                    .bind(t.lat)
                    .bind(t.population);
            }
            q.execute(&mut *tx).await?;
        }
        upsert(&mut tx, "geography_digest", &shipped.digest).await?;
        refresh_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores outlets in one transaction (replacing every outlet when `replace`)
    /// and moves the data version on. Returns how many were stored.
    ///
    /// # Errors
    /// Database errors; nothing is stored then.
    pub async fn insert_outlets(&self, outlets: &[NewOutlet], replace: bool) -> Result<usize> {
        let mut tx = self.db.pool().begin().await?;
        if replace {
            sqlx::query("DELETE FROM outlet").execute(&mut *tx).await?;
        }
        for chunk in outlets.chunks(200) {
            let sql = platform::db::values_sql(
                "INSERT INTO outlet (name, kind, town, lon, lat, audience, reach_regions, reach_radius_m, reach_geometry, source) VALUES ",
                10,
                chunk.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in chunk {
                let (regions, radius, geometry) = encode_reach(&o.reach);
                q = q
                    .bind(o.name.clone())
                    .bind(o.kind.as_str())
                    .bind(o.town.clone())
                    .bind(o.lon)
                    .bind(o.lat)
                    .bind(o.audience)
                    .bind(regions)
                    .bind(radius)
                    .bind(geometry)
                    .bind(o.source.clone());
            }
            q.execute(&mut *tx).await?;
        }
        self.commit_change(tx, serde_json::json!({ "outlets": outlets.len() }))
            .await?;
        Ok(outlets.len())
    }

    /// Ends a change to the map's data: a new data version in the same
    /// transaction; then every row read back on the transaction and built as
    /// the loader builds it. A row the change made that would be left out (a
    /// new [`DataProblem`]) rolls the whole change back, named; else it
    /// commits, the atlas just built becomes this replica's, and the others
    /// are told.
    async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        what: serde_json::Value,
    ) -> Result<()> {
        let known: HashSet<(String, String)> = match self.current.read().await.as_ref() {
            Some(a) => a
                .problems()
                .iter()
                .map(|p| (p.table.clone(), p.row.clone()))
                .collect(),
            None => HashSet::new(),
        };
        refresh_version(&mut tx).await?;
        let rows = read_rows(&mut tx).await?;
        let atlas = build(rows).await?;
        let new: Vec<&DataProblem> = atlas
            .problems()
            .iter()
            .filter(|p| !known.contains(&(p.table.clone(), p.row.clone())))
            .collect();
        if !new.is_empty() {
            tx.rollback().await?;
            const LISTED: usize = 50;
            let mut listed: Vec<String> = new
                .iter()
                .take(LISTED)
                .map(|p| format!("{} {}: {}", p.table, p.row, p.problem))
                .collect();
            if new.len() > LISTED {
                listed.push(format!("(and {} more)", new.len() - LISTED));
            }
            tracing::warn!(
                rows = new.len(),
                "a change to the map was rolled back: {}",
                listed[0]
            );
            return Err(Error::invalid(format!(
                "nothing was imported: {} stored row{} would not load back\n{}",
                new.len(),
                if new.len() == 1 { "" } else { "s" },
                listed.join("\n")
            )));
        }
        tx.commit().await?;
        *self.current.write().await = Some(atlas);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        if let Err(e) = self.db.bus().publish("data", what).await {
            tracing::warn!("data change not announced: {e}");
        }
        Ok(())
    }

    /// Imports outlets from a CSV, GeoJSON or KML file (by `file_name`'s
    /// extension), adding to the outlets or, with `replace`, replacing them
    /// all. Checked whole before anything is written; one transaction.
    ///
    /// # Errors
    /// Permission (`EditMap`); `Error::Invalid` listing every problem found
    /// (nothing is written then); database errors.
    pub async fn import_outlets(
        &self,
        who: &platform::Principal,
        file_name: &str,
        text: &str,
        replace: bool,
    ) -> Result<usize> {
        who.require(model::auth::Permission::EditMap)?;
        self.import_outlets_unchecked(file_name, text, replace)
            .await
    }

    /// As [`AtlasService::import_outlets`], for the operator's command line.
    ///
    /// # Errors
    /// As [`AtlasService::import_outlets`], without the permission check.
    pub async fn import_outlets_unchecked(
        &self,
        file_name: &str,
        text: &str,
        replace: bool,
    ) -> Result<usize> {
        let format = import::Format::of_name(file_name)?;
        let atlas = self.atlas().await?;
        let source = format!(
            "import:{}",
            file_name.rsplit('/').next().unwrap_or(file_name)
        );
        let text = text.to_owned();
        let outlets =
            tokio::task::spawn_blocking(move || import::parse(&atlas, format, &text, &source))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        self.insert_outlets(&outlets, replace).await
    }

    /// Adds regions to the tree from a GeoJSON or KML file (see
    /// [`import::parse_regions`]); one transaction, nothing on any problem.
    ///
    /// # Errors
    /// Permission (`EditMap`); `Error::Invalid` listing every problem; database errors.
    pub async fn import_regions(
        &self,
        who: &platform::Principal,
        file_name: &str,
        text: &str,
    ) -> Result<usize> {
        who.require(model::auth::Permission::EditMap)?;
        self.import_regions_unchecked(file_name, text).await
    }

    /// As [`AtlasService::import_regions`], for the operator's command line.
    ///
    /// # Errors
    /// As [`AtlasService::import_regions`], without the permission check.
    pub async fn import_regions_unchecked(&self, file_name: &str, text: &str) -> Result<usize> {
        let format = import::Format::of_name(file_name)?;
        let atlas = self.atlas().await?;
        let text = text.to_owned();
        let regions =
            tokio::task::spawn_blocking(move || import::parse_regions(&atlas, format, &text))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        let source = format!(
            "import:{}",
            file_name.rsplit('/').next().unwrap_or(file_name)
        );
        let mut tx = self.db.pool().begin().await?;
        for r in &regions {
            sqlx::query(
                "INSERT INTO geo_node (code, name, level, parent, geometry, source) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.code.clone())
            .bind(r.name.clone())
            .bind(r.level.as_str())
            .bind(r.parent.clone())
            .bind(geojson::Geometry::from(&r.geometry).to_string())
            .bind(source.clone())
            .execute(&mut *tx)
            .await?;
        }
        self.commit_change(tx, serde_json::json!({ "regions": regions.len() }))
            .await?;
        Ok(regions.len())
    }

    /// How many times the atlas was (re)loaded. Read it before [`AtlasService::atlas`]:
    /// the atlas got then is at least that new, so a cache that saw that atlas's
    /// version at this generation may trust it until the generation moves.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current atlas, loading it on first use.
    ///
    /// # Errors
    /// Database errors, or stored geometry that does not parse.
    pub async fn atlas(&self) -> Result<Arc<Atlas>> {
        if let Some(a) = self.current.read().await.as_ref() {
            return Ok(a.clone());
        }
        self.reload().await
    }

    /// Reloads the atlas from the database (after an import, or when another
    /// replica announced a change).
    ///
    /// # Errors
    /// As [`AtlasService::atlas`].
    pub async fn reload(&self) -> Result<Arc<Atlas>> {
        let atlas = self.load().await?;
        *self.current.write().await = Some(atlas.clone());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(atlas)
    }

    /// The stored rows the current atlas left out, and why.
    ///
    /// # Errors
    /// Permission (`EditMap`: the people who import); database errors.
    pub async fn data_problems(
        &self,
        who: &platform::Principal,
    ) -> Result<model::geo::DataProblemSummary> {
        who.require(model::auth::Permission::EditMap)?;
        Ok(model::geo::DataProblemSummary::of(
            self.atlas().await?.problems(),
        ))
    }

    /// The stored data version.
    ///
    /// # Errors
    /// Database errors.
    pub async fn stored_version(&self) -> Result<String> {
        Ok(self.dataset_value("version").await?.unwrap_or_default())
    }

    async fn load(&self) -> Result<Arc<Atlas>> {
        let mut conn = self.db.pool().acquire().await?;
        let rows = read_rows(&mut conn).await?;
        drop(conn);
        let atlas = build(rows).await?;
        // One line however many (every replica logs it on every reload).
        if let [first, ..] = atlas.problems() {
            tracing::warn!(
                left_out = atlas.problems().len(),
                first = %format!("{} {}: {}", first.table, first.row, first.problem),
                "stored rows left out of the map (listed on the import page)"
            );
        }
        Ok(atlas)
    }
}

/// A stored region as read.
struct RawNode {
    code: String,
    name: String,
    level: Level,
    parent: Option<String>,
    geometry: MultiPolygon<f64>,
}

/// Everything the atlas is built from, as read, and the rows left out so far.
struct Rows {
    version: String,
    nodes: Vec<RawNode>,
    towns: Vec<dataset::Town>,
    outlets: Vec<Outlet>,
    problems: Vec<DataProblem>,
}

fn problem(table: &str, row: String, problem: String) -> DataProblem {
    DataProblem {
        table: table.to_owned(),
        row,
        problem,
    }
}

fn in_world(lon: f64, lat: f64) -> bool {
    let w = shape::WORLD;
    lon.is_finite()
        && lat.is_finite()
        && (w[0]..=w[2]).contains(&lon)
        && (w[1]..=w[3]).contains(&lat)
}

/// Reads every row of the map's data on `conn` (the pool's, or a transaction's
/// to check a change before it commits). A row that cannot be read or parsed
/// becomes a problem; only the database failing is an error.
async fn read_rows(conn: &mut sqlx::AnyConnection) -> Result<Rows> {
    let version: Option<String> =
        sqlx::query_scalar("SELECT value FROM dataset WHERE key = 'version'")
            .fetch_optional(&mut *conn)
            .await?;
    let mut problems = Vec::new();
    let node_rows =
        sqlx::query("SELECT code, name, level, parent, geometry FROM geo_node ORDER BY code")
            .fetch_all(&mut *conn)
            .await?;
    let mut nodes = Vec::with_capacity(node_rows.len());
    for r in &node_rows {
        let code = r
            .try_get::<String, _>("code")
            .unwrap_or_else(|_| "?".into());
        let node = (|| -> std::result::Result<RawNode, String> {
            let text = |col: &str| {
                r.try_get::<String, _>(col)
                    .map_err(|e| format!("{col}: {e}"))
            };
            let level = text("level")?;
            Ok(RawNode {
                name: text("name")?,
                level: Level::parse(&level)
                    .ok_or_else(|| format!("level: {level:?} is not a level"))?,
                parent: r
                    .try_get::<Option<String>, _>("parent")
                    .map_err(|e| format!("parent: {e}"))?,
                geometry: shape::stored(&text("geometry")?)
                    .map_err(|e| format!("boundary: {e}"))?,
                code: code.clone(),
            })
        })();
        match node {
            Ok(n) => nodes.push(n),
            Err(e) => problems.push(problem("geo_node", code, e)),
        }
    }
    let mut towns = Vec::new();
    for r in sqlx::query("SELECT id, name, lon, lat, population FROM town ORDER BY id")
        .fetch_all(&mut *conn)
        .await?
    {
        let id = r.try_get::<i64, _>("id").unwrap_or_default();
        let town = (|| -> std::result::Result<dataset::Town, String> {
            let t = dataset::Town {
                id,
                name: r.try_get("name").map_err(|e| format!("name: {e}"))?,
                lon: r.try_get("lon").map_err(|e| format!("lon: {e}"))?,
                lat: r.try_get("lat").map_err(|e| format!("lat: {e}"))?,
                population: r
                    .try_get("population")
                    .map_err(|e| format!("population: {e}"))?,
            };
            if !in_world(t.lon, t.lat) {
                return Err(format!("lon/lat: {}, {} is off the map", t.lon, t.lat));
            }
            if t.population < 0 {
                return Err(format!("population: {} is negative", t.population));
            }
            Ok(t)
        })();
        match town {
            Ok(t) => towns.push(t),
            Err(e) => problems.push(problem("town", id.to_string(), e)),
        }
    }
    let outlet_rows = sqlx::query(
        "SELECT id, name, kind, town, lon, lat, audience, reach_regions, reach_radius_m, reach_geometry, source \
         FROM outlet ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut outlets = Vec::with_capacity(outlet_rows.len());
    for r in &outlet_rows {
        let id = r.try_get::<i64, _>("id").unwrap_or_default();
        let name = r.try_get::<String, _>("name").unwrap_or_default();
        match outlet_from_row(r, id, name.clone()) {
            Ok(o) => outlets.push(o),
            Err(e) => problems.push(problem("outlet", format!("{id} ({name})"), e)),
        }
    }
    Ok(Rows {
        version: version.unwrap_or_default(),
        nodes,
        towns,
        outlets,
        problems,
    })
}

/// One stored outlet, or what is wrong with it.
fn outlet_from_row(
    r: &sqlx::any::AnyRow,
    id: i64,
    name: String,
) -> std::result::Result<Outlet, String> {
    let text = |col: &str| {
        r.try_get::<String, _>(col)
            .map_err(|e| format!("{col}: {e}"))
    };
    let kind = text("kind")?;
    let lon: f64 = r.try_get("lon").map_err(|e| format!("lon: {e}"))?;
    let lat: f64 = r.try_get("lat").map_err(|e| format!("lat: {e}"))?;
    if !in_world(lon, lat) {
        return Err(format!("lon/lat: {lon}, {lat} is off the map"));
    }
    let audience: i64 = r
        .try_get("audience")
        .map_err(|e| format!("audience: {e}"))?;
    if audience < 0 {
        return Err(format!("audience: {audience} is negative"));
    }
    let regions: Option<String> = r
        .try_get("reach_regions")
        .map_err(|e| format!("reach_regions: {e}"))?;
    let radius: Option<i64> = r
        .try_get("reach_radius_m")
        .map_err(|e| format!("reach_radius_m: {e}"))?;
    let geometry: Option<String> = r
        .try_get("reach_geometry")
        .map_err(|e| format!("reach_geometry: {e}"))?;
    let reach = if let Some(codes) = regions {
        Reach::Regions(codes.split(',').map(str::to_owned).collect())
    } else if let Some(metres) = radius {
        if !(1..=10_000_000).contains(&metres) {
            return Err(format!(
                "reach_radius_m: {metres} is not between 1 m and 10,000 km"
            ));
        }
        #[allow(clippy::cast_precision_loss)]
        let radius_km = metres as f64 / 1000.0;
        Reach::Circle { radius_km }
    } else if let Some(g) = geometry {
        Reach::Geometry(shape::stored(&g).map_err(|e| format!("reach_geometry: {e}"))?)
    } else {
        Reach::Regions(vec![])
    };
    Ok(Outlet {
        id,
        name,
        kind: OutletKind::parse(&kind)
            .ok_or_else(|| format!("kind: {kind:?} is not an outlet kind"))?,
        town: text("town")?,
        lon,
        lat,
        audience,
        reach,
        source: text("source")?,
        unit: None,
    })
}

/// Builds the atlas off the async threads.
async fn build(rows: Rows) -> Result<Arc<Atlas>> {
    let land = dataset::land()?;
    tokio::task::spawn_blocking(move || build_atlas(rows, land))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
        .map(Arc::new)
}

/// Leaves out regions whose parent is missing or not the level above (an area
/// has none), repeatedly, so the tree is three levels with no cycles.
fn prune_tree(nodes: Vec<RawNode>, problems: &mut Vec<DataProblem>) -> Vec<RawNode> {
    let mut nodes = nodes;
    loop {
        let levels: HashMap<&str, Level> =
            nodes.iter().map(|n| (n.code.as_str(), n.level)).collect();
        let bad: Vec<(usize, String)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let above = match n.level {
                    Level::Area => None,
                    Level::County => Some(Level::Area),
                    Level::Unit => Some(Level::County),
                };
                let why = match (n.parent.as_deref(), above) {
                    (None, None) => return None,
                    (Some(p), None) => format!("parent: an area has no parent (got {p})"),
                    (None, Some(_)) => {
                        format!("parent: missing (a {} needs one)", n.level.as_str())
                    }
                    (Some(p), Some(want)) => match levels.get(p) {
                        Some(&l) if l == want => return None,
                        Some(l) => {
                            format!("parent: {p} is a {}, not a {}", l.as_str(), want.as_str())
                        }
                        None => format!("parent: {p} is not loaded"),
                    },
                };
                Some((i, why))
            })
            .collect();
        if bad.is_empty() {
            return nodes;
        }
        let drop: HashSet<usize> = bad.iter().map(|(i, _)| *i).collect();
        for (i, why) in bad {
            problems.push(problem("geo_node", nodes[i].code.clone(), why));
        }
        nodes = nodes
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, n)| n)
            .collect();
    }
}

#[allow(clippy::cast_precision_loss)]
fn build_atlas(rows: Rows, land: Arc<MultiPolygon<f64>>) -> Atlas {
    let Rows {
        version,
        nodes: raw,
        towns,
        mut outlets,
        mut problems,
    } = rows;
    let raw = prune_tree(raw, &mut problems);
    let mut nodes = Vec::with_capacity(raw.len());
    let mut by_code = HashMap::new();
    let mut parents = Vec::with_capacity(raw.len());
    for (
        i,
        RawNode {
            code,
            name,
            level,
            parent,
            geometry,
        },
    ) in raw.into_iter().enumerate()
    {
        by_code.insert(code.clone(), i);
        parents.push(parent);
        nodes.push(Node {
            simple: geometry.simplify(SIMPLIFY_DEGREES),
            bounds: bounds_of(&geometry),
            area_km2: geometry.geodesic_area_unsigned() / 1e6,
            code,
            name,
            level,
            parent: None,
            children: vec![],
            geometry,
            population: 0,
            towns: 0,
            outlets: [0; 4],
        });
    }
    for (i, parent) in parents.into_iter().enumerate() {
        if let Some(p) = parent.and_then(|p| by_code.get(&p).copied()) {
            nodes[i].parent = Some(p);
            nodes[p].children.push(i);
        }
    }
    for i in 0..nodes.len() {
        let mut children = std::mem::take(&mut nodes[i].children);
        children.sort_by(|a, b| nodes[*a].name.cmp(&nodes[*b].name));
        nodes[i].children = children;
    }
    let mut roots: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].parent.is_none())
        .collect();
    roots.sort_by(|a, b| nodes[*a].name.cmp(&nodes[*b].name));

    // Leaves (units) indexed by their bounds, to place towns and outlets.
    let leaves: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].children.is_empty())
        .collect();
    let leaf_index: RTree<GeomWithData<rstar::primitives::Rectangle<[f64; 2]>, usize>> =
        RTree::bulk_load(
            leaves
                .iter()
                .map(|&i| {
                    let b = nodes[i].bounds;
                    GeomWithData::new(
                        rstar::primitives::Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]),
                        i,
                    )
                })
                .collect(),
        );
    let leaf_at = |lon: f64, lat: f64| -> Option<usize> {
        let p = Point::new(lon, lat);
        let mut candidates: Vec<usize> = leaf_index
            .locate_all_at_point(&[lon, lat])
            .map(|c| c.data)
            .collect();
        candidates.sort_unstable();
        candidates
            .iter()
            .copied()
            .find(|&i| nodes[i].geometry.contains(&p))
            // On the coast (quantised outlines), the nearest box will do.
            .or_else(|| leaf_index.nearest_neighbor(&[lon, lat]).map(|c| c.data))
    };
    let town_leaves: Vec<Option<usize>> = towns.iter().map(|t| leaf_at(t.lon, t.lat)).collect();
    let outlet_leaves: Vec<Option<usize>> = outlets.iter().map(|o| leaf_at(o.lon, o.lat)).collect();
    let roll_up = |nodes: &mut Vec<Node>, leaf: usize, f: &dyn Fn(&mut Node)| {
        let mut at = Some(leaf);
        while let Some(i) = at {
            f(&mut nodes[i]);
            at = nodes[i].parent;
        }
    };
    let mut town_points = Vec::with_capacity(towns.len());
    for (ti, (t, leaf)) in towns.iter().zip(town_leaves.iter().copied()).enumerate() {
        town_points.push(GeomWithData::new([t.lon, t.lat], ti));
        if let Some(leaf) = leaf {
            let pop = u64::try_from(t.population).unwrap_or(0);
            roll_up(&mut nodes, leaf, &|n| {
                n.population += pop;
                n.towns += 1;
            });
        }
    }
    for (o, leaf) in outlets.iter_mut().zip(outlet_leaves) {
        o.unit = leaf;
        if let Some(leaf) = leaf {
            let k = o.kind.index();
            roll_up(&mut nodes, leaf, &|n| n.outlets[k] += 1);
        }
    }
    let outlet_by_id = outlets.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    Atlas {
        version,
        nodes,
        by_code,
        roots,
        towns,
        town_leaf: town_leaves,
        town_index: RTree::bulk_load(town_points),
        outlets,
        outlet_by_id,
        reach_cache: Mutex::new(HashMap::new()),
        land,
        land_boxes: OnceLock::new(),
        problems,
    }
}

async fn upsert(tx: &mut sqlx::Transaction<'_, sqlx::Any>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO dataset (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The data version: a digest of every node and outlet, so any change to
/// either gives a new version (and new tile URLs).
async fn refresh_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    let mut h = Sha256::new();
    let nodes =
        sqlx::query("SELECT code, name, level, parent, geometry FROM geo_node ORDER BY code")
            .fetch_all(&mut **tx)
            .await?;
    // A value that cannot be read (a row planted by hand) digests as `?`: the
    // version must move on whatever the rows hold, and the loader names them.
    for r in &nodes {
        for col in ["code", "name", "level", "geometry"] {
            h.update(
                r.try_get::<String, _>(col)
                    .unwrap_or_else(|_| "?".into())
                    .as_bytes(),
            );
            h.update([0]);
        }
        h.update(
            r.try_get::<Option<String>, _>("parent")
                .ok()
                .flatten()
                .unwrap_or_default()
                .as_bytes(),
        );
        h.update([1]);
    }
    let outlets = sqlx::query(
        "SELECT id, name, kind, town, lon, lat, audience, reach_regions, reach_radius_m, reach_geometry \
         FROM outlet ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?;
    fn or_mark<T: std::fmt::Display>(v: std::result::Result<T, sqlx::Error>) -> String {
        v.map_or_else(|_| "?".into(), |v| v.to_string())
    }
    fn or_mark_opt<T: std::fmt::Debug>(v: std::result::Result<T, sqlx::Error>) -> String {
        v.map_or_else(|_| "?".into(), |v| format!("{v:?}"))
    }
    for r in &outlets {
        let line = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}\n",
            or_mark(r.try_get::<i64, _>("id")),
            or_mark(r.try_get::<String, _>("name")),
            or_mark(r.try_get::<String, _>("kind")),
            or_mark(r.try_get::<String, _>("town")),
            or_mark(r.try_get::<f64, _>("lon")),
            or_mark(r.try_get::<f64, _>("lat")),
            or_mark(r.try_get::<i64, _>("audience")),
            or_mark_opt(r.try_get::<Option<String>, _>("reach_regions")),
            or_mark_opt(r.try_get::<Option<i64>, _>("reach_radius_m")),
            or_mark_opt(r.try_get::<Option<String>, _>("reach_geometry")),
        );
        h.update(line.as_bytes());
    }
    let version = format!("{:x}", h.finalize());
    upsert(tx, "version", &version[..16]).await
}

/// The demo outlets for this atlas's towns (each placed in its unit at load).
fn demo_set(atlas: &Atlas, count: usize) -> Vec<NewOutlet> {
    let mut places = Vec::new();
    for (t, leaf) in atlas.towns.iter().zip(&atlas.town_leaf) {
        let Some(unit) = leaf.filter(|&u| atlas.nodes[u].level == Level::Unit) else {
            continue;
        };
        let Some(county) = atlas.nodes[unit].parent else {
            continue;
        };
        let Some(area) = atlas.nodes[county].parent else {
            continue;
        };
        places.push(demo::Place {
            name: &t.name,
            lon: t.lon,
            lat: t.lat,
            population: t.population,
            unit: &atlas.nodes[unit].code,
            county: &atlas.nodes[county].code,
            county_name: &atlas.nodes[county].name,
            area: &atlas.nodes[area].code,
            area_name: &atlas.nodes[area].name,
        });
    }
    demo::generate(&places, count)
}

#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
