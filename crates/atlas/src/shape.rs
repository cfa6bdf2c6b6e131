//! What a polygon may be: the one place that decides it. The importers (a
//! region's boundary, an outlet's reach) and the loader (every stored boundary
//! and reach) both read polygons through here.
//!
//! - every position is two finite numbers, longitude first, inside the box the
//!   caller gives (the importers: the UK and Ireland, or near them; the loader:
//!   the part of the world Web Mercator can draw);
//! - every ring has at least 4 positions and ends where it starts (RFC 7946);
//! - imports: at most [`MAX_RING_POSITIONS`] positions a ring, [`MAX_SHAPE_POSITIONS`] a
//!   shape (stored shapes ten times that);
//! - with `simple` (imported regions), no ring may cross or touch itself: a
//!   "bow-tie" is refused, naming the ring and where its edges cross. It is not
//!   repaired: a repair guesses which of the two halves was meant.
//!
//! Problems are sentences that start with where ("polygon 2, hole 1, position
//! 7: ..."); the caller puts the file's place (feature, placemark) before them.

use geo::{orient::Direction, Coord, LineString, MultiPolygon, Orient as _, Polygon};
use model::geo::Bounds;

/// Positions one ring may have.
pub const MAX_RING_POSITIONS: usize = 20_000;
/// Positions one boundary or reach may have in all.
pub const MAX_SHAPE_POSITIONS: usize = 200_000;
/// Where stored shapes may lie: what Web Mercator (the tiles) can draw.
pub const WORLD: Bounds = [-180.0, -85.0511, 180.0, 85.0511];

/// What a shape must satisfy.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// West, south, east, north: every position lies inside.
    pub within: Bounds,
    /// How problems name the box ("the UK and Ireland").
    pub place: &'static str,
    /// Refuse rings that cross or touch themselves.
    pub simple: bool,
    /// Positions one ring may have.
    pub max_ring: usize,
    /// Positions the whole shape may have.
    pub max_shape: usize,
}

impl Rules {
    /// What the loader needs to draw and measure a stored shape.
    pub const STORED: Self = Self {
        within: WORLD,
        place: "the map (longitude -180..180, latitude -85..85)",
        simple: false,
        max_ring: 10 * MAX_RING_POSITIONS,
        max_shape: 10 * MAX_SHAPE_POSITIONS,
    };

    /// What an import may store inside `within`.
    #[must_use]
    pub const fn imported(within: Bounds, place: &'static str, simple: bool) -> Self {
        Self {
            within,
            place,
            simple,
            max_ring: MAX_RING_POSITIONS,
            max_shape: MAX_SHAPE_POSITIONS,
        }
    }
}

/// A polygon's rings as read: exterior first, then holes.
pub type RawPolygon = Vec<Vec<Coord<f64>>>;

fn ring_name(polygon: usize, ring: usize) -> String {
    if ring == 0 {
        format!("polygon {polygon}, outer ring")
    } else {
        format!("polygon {polygon}, hole {ring}")
    }
}

/// Checks one position (1-based `n` in its ring).
fn position(c: Coord<f64>, at: &str, n: usize, rules: &Rules) -> Result<(), String> {
    if !c.x.is_finite() || !c.y.is_finite() {
        return Err(format!(
            "{at}, position {n}: {}, {} is not two finite numbers",
            c.x, c.y
        ));
    }
    let b = rules.within;
    if c.x < b[0] || c.x > b[2] || c.y < b[1] || c.y > b[3] {
        return Err(format!(
            "{at}, position {n}: {}, {} is outside {} (longitude first, then latitude)",
            c.x, c.y, rules.place
        ));
    }
    Ok(())
}

/// Checks rings and builds the shape (exteriors counter-clockwise, holes
/// clockwise, as geodesic areas need).
///
/// # Errors
/// The first problem found, as a sentence naming the polygon, ring and position.
pub fn build(polygons: Vec<RawPolygon>, rules: &Rules) -> Result<MultiPolygon<f64>, String> {
    if polygons.is_empty() {
        return Err("no polygon".into());
    }
    let total: usize = polygons.iter().flatten().map(Vec::len).sum();
    if total > rules.max_shape {
        return Err(format!(
            "{total} positions: a shape may have at most {}",
            rules.max_shape
        ));
    }
    let mut out = Vec::with_capacity(polygons.len());
    for (pi, rings) in polygons.into_iter().enumerate() {
        if rings.is_empty() {
            return Err(format!("polygon {}: no rings", pi + 1));
        }
        let mut checked = Vec::with_capacity(rings.len());
        for (ri, ring) in rings.into_iter().enumerate() {
            let at = ring_name(pi + 1, ri);
            if ring.len() < 4 {
                return Err(format!(
                    "{at}: a ring needs at least 4 positions (got {})",
                    ring.len()
                ));
            }
            if ring.len() > rules.max_ring {
                return Err(format!(
                    "{at}: {} positions, a ring may have at most {}",
                    ring.len(),
                    rules.max_ring
                ));
            }
            for (n, c) in ring.iter().enumerate() {
                position(*c, &at, n + 1, rules)?;
            }
            if ring.first() != ring.last() {
                return Err(format!(
                    "{at}: the ring is not closed (its last position must repeat its first)"
                ));
            }
            let distinct = {
                let mut d: Vec<Coord<f64>> = ring.clone();
                d.dedup();
                d.len()
            };
            if distinct < 4 {
                return Err(format!("{at}: a ring needs at least 3 distinct corners"));
            }
            if rules.simple {
                if let Some((c, a, b)) = crossing(&ring) {
                    return Err(format!(
                        "{at} crosses itself near {:.5}, {:.5} (edges {a} and {b}): a self-intersecting (bow-tie) ring is refused, redraw it so its edges do not cross",
                        c.x, c.y
                    ));
                }
            }
            checked.push(LineString(ring));
        }
        let exterior = checked.remove(0);
        out.push(Polygon::new(exterior, checked));
    }
    Ok(MultiPolygon(out).orient(Direction::Default))
}

/// Whether a ring has at least 3 distinct corners at the exports' precision
/// (5 decimals): it still encloses something once written.
fn has_area(ring: &LineString<f64>) -> bool {
    let mut d: Vec<(i64, i64)> = ring
        .0
        .iter()
        .map(|c| {
            #[allow(clippy::cast_possible_truncation)]
            let r = |v: f64| (v * 100_000.0).round() as i64;
            (r(c.x), r(c.y))
        })
        .collect();
    d.dedup();
    if d.len() > 1 && d.first() == d.last() {
        d.pop();
    }
    d.len() >= 3
}

/// `mp` without the rings simplification flattened to a line or a point (a
/// polygon whose outer ring did goes whole): what the map draws and exports,
/// so an export always imports back.
#[must_use]
pub fn drop_degenerate(mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
    MultiPolygon(
        mp.0.into_iter()
            .filter(|p| has_area(p.exterior()))
            .map(|p| {
                let (exterior, holes) = p.into_inner();
                Polygon::new(exterior, holes.into_iter().filter(has_area).collect())
            })
            .collect(),
    )
}

/// A stored shape (GeoJSON text), read as the loader reads it.
///
/// # Errors
/// Text that is not a GeoJSON Polygon or MultiPolygon, or a shape that breaks
/// [`Rules::STORED`].
pub fn stored(text: &str) -> Result<MultiPolygon<f64>, String> {
    let g: geojson::Geometry = text
        .parse()
        .map_err(|e| format!("not a GeoJSON geometry: {e}"))?;
    from_geojson(&g.value, &Rules::STORED)
}

/// A GeoJSON Polygon or MultiPolygon, checked.
///
/// # Errors
/// Another geometry type, or a broken rule.
pub fn from_geojson(
    value: &geojson::GeometryValue,
    rules: &Rules,
) -> Result<MultiPolygon<f64>, String> {
    build(raw_from_geojson(value)?, rules)
}

/// The rings of a GeoJSON Polygon or MultiPolygon, unchecked but for the
/// positions' length.
///
/// # Errors
/// Another geometry type, or a position with fewer than two numbers.
pub fn raw_from_geojson(value: &geojson::GeometryValue) -> Result<Vec<RawPolygon>, String> {
    use geojson::GeometryValue as V;
    let polygon = |rings: &Vec<Vec<geojson::Position>>, pi: usize| -> Result<RawPolygon, String> {
        rings
            .iter()
            .enumerate()
            .map(|(ri, ring)| {
                ring.iter()
                    .enumerate()
                    .map(|(n, p)| match p.as_slice() {
                        [x, y, ..] => Ok(Coord { x: *x, y: *y }),
                        _ => Err(format!(
                            "{}, position {}: needs a longitude and a latitude",
                            ring_name(pi, ri),
                            n + 1
                        )),
                    })
                    .collect()
            })
            .collect()
    };
    match value {
        V::Polygon { coordinates } => Ok(vec![polygon(coordinates, 1)?]),
        V::MultiPolygon { coordinates } => coordinates
            .iter()
            .enumerate()
            .map(|(i, p)| polygon(p, i + 1))
            .collect(),
        other => Err(format!(
            "expected a Polygon or MultiPolygon, got a {}",
            other.type_name()
        )),
    }
}

/// Where a closed ring crosses or touches itself: the point and the two edges
/// (1-based), if anywhere. A sweep over the edges sorted by their west end,
/// comparing only edges whose x ranges overlap.
#[must_use]
pub fn crossing(ring: &[Coord<f64>]) -> Option<(Coord<f64>, usize, usize)> {
    use geo::line_intersection::{line_intersection, LineIntersection};
    let mut pts: Vec<Coord<f64>> = ring.to_vec();
    pts.dedup();
    let edges: Vec<geo::Line<f64>> = pts.windows(2).map(|w| geo::Line::new(w[0], w[1])).collect();
    let n = edges.len();
    if n < 3 {
        return None;
    }
    let min_x = |l: &geo::Line<f64>| l.start.x.min(l.end.x);
    let max_x = |l: &geo::Line<f64>| l.start.x.max(l.end.x);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| min_x(&edges[a]).total_cmp(&min_x(&edges[b])));
    for (k, &a) in order.iter().enumerate() {
        let ea = edges[a];
        let (ay0, ay1) = (ea.start.y.min(ea.end.y), ea.start.y.max(ea.end.y));
        for &b in &order[k + 1..] {
            let eb = edges[b];
            if min_x(&eb) > max_x(&ea) {
                break;
            }
            let (lo, hi) = (a.min(b), a.max(b));
            // Neighbours share a corner, and so do the first and the last edge.
            let neighbours = hi - lo == 1 || (lo == 0 && hi == n - 1);
            if eb.start.y.max(eb.end.y) < ay0 || eb.start.y.min(eb.end.y) > ay1 {
                continue;
            }
            match line_intersection(ea, eb) {
                None => {}
                Some(LineIntersection::SinglePoint { .. }) if neighbours => {}
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    return Some((intersection, lo + 1, hi + 1));
                }
                // Edges along each other: a spike, or a ring that doubles back.
                Some(LineIntersection::Collinear { intersection }) => {
                    return Some((intersection.start, lo + 1, hi + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(pts: &[(f64, f64)]) -> Vec<Coord<f64>> {
        pts.iter().map(|&(x, y)| Coord { x, y }).collect()
    }

    const UK: Rules = Rules::imported([-11.0, 49.0, 2.5, 61.5], "the UK and Ireland", true);

    #[test]
    fn a_square_passes_and_a_bow_tie_is_refused_with_where_it_crosses() {
        let square = ring(&[
            (0.0, 51.0),
            (1.0, 51.0),
            (1.0, 52.0),
            (0.0, 52.0),
            (0.0, 51.0),
        ]);
        assert!(build(vec![vec![square]], &UK).is_ok());
        let bow = ring(&[
            (0.0, 51.0),
            (1.0, 52.0),
            (1.0, 51.0),
            (0.0, 52.0),
            (0.0, 51.0),
        ]);
        let err = build(vec![vec![bow.clone()]], &UK).expect_err("bow-tie");
        assert!(
            err.contains(
                "polygon 1, outer ring crosses itself near 0.50000, 51.50000 (edges 1 and 3)"
            ),
            "{err}"
        );
        // The loader does not repeat the check: a stored bow-tie still loads.
        assert!(build(vec![vec![bow]], &Rules::STORED).is_ok());
    }

    #[test]
    fn non_finite_unclosed_short_and_far_rings_are_named() {
        for (r, says) in [
            (
                ring(&[(0.0, 51.0), (f64::NAN, 51.0), (1.0, 52.0), (0.0, 51.0)]),
                "polygon 1, outer ring, position 2: NaN, 51 is not two finite numbers",
            ),
            (
                ring(&[(0.0, 51.0), (f64::INFINITY, 51.0), (1.0, 52.0), (0.0, 51.0)]),
                "position 2: inf, 51 is not two finite numbers",
            ),
            (
                ring(&[(0.0, 51.0), (1.0, 51.0), (1.0, 52.0), (0.0, 52.0)]),
                "the ring is not closed",
            ),
            (
                ring(&[(0.0, 51.0), (1.0, 51.0), (0.0, 51.0)]),
                "at least 4 positions (got 3)",
            ),
            (
                ring(&[(0.0, 51.0), (1.0, 91.0), (1.0, 52.0), (0.0, 51.0)]),
                "position 2: 1, 91 is outside the UK and Ireland",
            ),
            (
                ring(&[(0.0, 51.0), (1.0, 51.0), (1.0, 51.0), (0.0, 51.0)]),
                "at least 3 distinct corners",
            ),
        ] {
            let err = build(vec![vec![r]], &UK).expect_err(says);
            assert!(err.contains(says), "{err}");
        }
        let big = vec![Coord { x: 0.0, y: 51.0 }; MAX_RING_POSITIONS + 1];
        assert!(build(vec![vec![big]], &UK)
            .expect_err("big")
            .contains("a ring may have at most"));
    }

    #[test]
    fn shipped_boundaries_and_land_pass_the_loaders_rules() {
        let shipped = super::super::dataset::shipped().expect("shipped");
        for n in &shipped.nodes {
            let text = geojson::Geometry::from(&n.geometry).to_string();
            stored(&text).unwrap_or_else(|e| panic!("{}: {e}", n.code));
        }
    }
}
