//! Importing real outlets from CSV, GeoJSON and KML.
//!
//! Everything is parsed and validated before anything is written; a file with
//! any error is refused whole, with up to 50 messages that each name the line
//! (CSV) or feature/placemark (GeoJSON, KML), the outlet when it has a name, and
//! the field. What passes is stored in one transaction.
//!
//! - **CSV**: a header line, then `name,kind,town,lon,lat,audience,reach_regions,reach_km`
//!   (columns in any order; `reach_regions` is tree codes separated by `;`, and
//!   exactly one of `reach_regions` and `reach_km` is given).
//! - **GeoJSON**: a FeatureCollection; each feature's geometry is the outlet's
//!   home (a Point), or a GeometryCollection of the home and its reach polygons
//!   (what the app's own GeoJSON pages contain, so an export imports back);
//!   properties `name`, `kind`, `town`, `audience`, and `reach_regions` or
//!   `reach_km` when there is no reach polygon.
//! - **KML**: each Placemark's `name`, `ExtendedData` (`kind`, `audience`, `town`,
//!   `reach_regions`, `reach_km`), its Point and any Polygons (the app's own KML).

use geo::{Coord, LineString, MultiPolygon, Polygon};
use model::geo::OutletKind;

use super::{Atlas, NewOutlet, Reach};
use crate::{Error, Result};

/// The UK and Ireland, generously: homes outside are refused as typos.
const HOME_BOX: [f64; 4] = [-11.0, 49.0, 2.5, 61.5];
const MAX_ERRORS: usize = 50;
/// Files larger than this are refused before parsing.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

/// The formats [`parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
    Kml,
}

impl Format {
    /// From a file name's extension.
    ///
    /// # Errors
    /// Any other extension.
    pub fn of_name(name: &str) -> Result<Self> {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Self::Csv),
            "geojson" | "json" => Ok(Self::GeoJson),
            "kml" => Ok(Self::Kml),
            _ => Err(Error::Invalid(format!(
                "{name}: expected a .csv, .geojson or .kml file"
            ))),
        }
    }
}

/// What one outlet's fields said, before checking.
#[derive(Default)]
struct Raw {
    place: String,
    name: Option<String>,
    kind: Option<String>,
    town: Option<String>,
    lon: Option<String>,
    lat: Option<String>,
    home: Option<(f64, f64)>,
    audience: Option<String>,
    reach_regions: Option<String>,
    reach_km: Option<String>,
    reach_geometry: Option<MultiPolygon<f64>>,
    parent: Option<String>,
    code: Option<String>,
}

struct Problems(Vec<String>);

impl Problems {
    /// `value` when nothing was wrong; else every problem, one per line.
    fn into_result<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() {
            return Ok(value);
        }
        let more = if self.0.len() == MAX_ERRORS {
            "\n(and possibly more)"
        } else {
            ""
        };
        Err(Error::Invalid(format!(
            "nothing was imported: {} problem{} found\n{}{more}",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" },
            self.0.join("\n")
        )))
    }

    fn add(&mut self, msg: String) {
        if self.0.len() < MAX_ERRORS {
            self.0.push(msg);
        }
    }
}

/// Parses and checks `text`; either every outlet, or every problem found.
///
/// # Errors
/// `Error::Invalid` listing the problems, one per line.
pub fn parse(atlas: &Atlas, format: Format, text: &str, source: &str) -> Result<Vec<NewOutlet>> {
    if text.len() > MAX_BYTES {
        return Err(Error::Invalid(format!(
            "the file is {} MB: at most {} MB can be imported at once",
            text.len() / 1_048_576,
            MAX_BYTES / 1_048_576
        )));
    }
    let mut problems = Problems(Vec::new());
    let raws = match format {
        Format::Csv => csv(text, &mut problems),
        Format::GeoJson => geojson(text, &mut problems),
        Format::Kml => kml(text, &mut problems, true),
    };
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        if let Some(o) = check(atlas, raw, source, &mut problems) {
            out.push(o);
        }
    }
    if out.is_empty() && problems.0.is_empty() {
        problems.add("the file holds no outlets".into());
    }
    problems.into_result(out)
}

/// A record's trimmed name, and how problems name the record: "line 4 (Luton
/// Post)", or just "line 4" without a name.
fn named(place: &str, name: Option<&str>) -> (String, String) {
    let name = name.map(str::trim).unwrap_or_default().to_owned();
    let who = if name.is_empty() {
        place.to_owned()
    } else {
        format!("{place} ({name})")
    };
    (name, who)
}

fn check(atlas: &Atlas, raw: Raw, source: &str, problems: &mut Problems) -> Option<NewOutlet> {
    let before = problems.0.len();
    let (name, who) = named(&raw.place, raw.name.as_deref());
    if name.is_empty() {
        problems.add(format!("{who}, name: missing"));
    } else if name.chars().count() > 200 {
        problems.add(format!("{who}, name: longer than 200 characters"));
    }
    let kind = match raw.kind.as_deref().map(str::trim) {
        None | Some("") => {
            problems.add(format!(
                "{who}, kind: missing (newspaper, radio, tv or online)"
            ));
            None
        }
        Some(k) => OutletKind::parse(k).or_else(|| {
            problems.add(format!(
                "{who}, kind: {k:?} is not newspaper, radio, tv or online"
            ));
            None
        }),
    };
    let number = |field: &str, v: Option<&str>, problems: &mut Problems| -> Option<f64> {
        match v.map(str::trim) {
            None | Some("") => {
                problems.add(format!("{who}, {field}: missing"));
                None
            }
            Some(s) => s.parse::<f64>().ok().filter(|n| n.is_finite()).or_else(|| {
                problems.add(format!("{who}, {field}: {s:?} is not a number"));
                None
            }),
        }
    };
    let (lon, lat) = match raw.home {
        Some(home) => (Some(home.0), Some(home.1)),
        None => (
            number("lon", raw.lon.as_deref(), problems),
            number("lat", raw.lat.as_deref(), problems),
        ),
    };
    if let (Some(x), Some(y)) = (lon, lat) {
        if !(HOME_BOX[0]..=HOME_BOX[2]).contains(&x) || !(HOME_BOX[1]..=HOME_BOX[3]).contains(&y) {
            problems.add(format!(
                "{who}, lon/lat: {x}, {y} is not in the UK or Ireland (longitude first, then latitude)"
            ));
        }
    }
    let audience = match raw.audience.as_deref().map(str::trim) {
        None | Some("") => Some(0),
        Some(s) => s
            .replace(',', "")
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .or_else(|| {
                problems.add(format!(
                    "{who}, audience: {s:?} is not a whole number of people"
                ));
                None
            }),
    };
    let regions = raw
        .reach_regions
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let km = raw
        .reach_km
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let reach = match (raw.reach_geometry, regions, km) {
        (Some(g), None, None) => Some(Reach::Geometry(g)),
        (None, Some(codes), None) => {
            let codes: Vec<String> = codes
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            let unknown: Vec<&str> = codes
                .iter()
                .filter(|c| !atlas.by_code.contains_key(c.as_str()))
                .map(String::as_str)
                .collect();
            if unknown.is_empty() {
                Some(Reach::Regions(codes))
            } else {
                problems.add(format!(
                    "{who}, reach_regions: unknown region {} (codes look like county:bedfordshire)",
                    unknown.join(", ")
                ));
                None
            }
        }
        (None, None, Some(k)) => match k.parse::<f64>() {
            Ok(r) if (0.1..=500.0).contains(&r) => Some(Reach::Circle { radius_km: r }),
            _ => {
                problems.add(format!(
                    "{who}, reach_km: {k:?} is not a radius between 0.1 and 500 km"
                ));
                None
            }
        },
        (None, None, None) => {
            problems.add(format!("{who}, reach: give reach_regions or reach_km"));
            None
        }
        _ => {
            problems.add(format!(
                "{who}, reach: give only one of reach_regions, reach_km and a reach polygon"
            ));
            None
        }
    };
    if problems.0.len() > before {
        return None;
    }
    Some(NewOutlet {
        name,
        kind: kind?,
        town: raw
            .town
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        lon: lon?,
        lat: lat?,
        audience: audience?,
        reach: reach?,
        source: source.to_owned(),
    })
}

fn csv(text: &str, problems: &mut Problems) -> Vec<Raw> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        problems.add("line 1: the file is empty (expected a header line)".into());
        return vec![];
    };
    let header: Vec<String> = model::csv::fields(header.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for required in ["name", "kind", "lon", "lat"] {
        if !header.iter().any(|h| h == required) {
            problems.add(format!(
                "line 1: no {required} column (expected name,kind,town,lon,lat,audience,reach_regions,reach_km)"
            ));
        }
    }
    if !problems.0.is_empty() {
        return vec![];
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut out = Vec::new();
    for (i, line) in lines {
        let f = model::csv::fields(line);
        if f.len() != header.len() {
            problems.add(format!(
                "line {}: {} fields, the header has {}",
                i + 1,
                f.len(),
                header.len()
            ));
            continue;
        }
        let get = |name: &str| col(name).map(|c| f[c].clone());
        out.push(Raw {
            place: format!("line {}", i + 1),
            name: get("name"),
            kind: get("kind"),
            town: get("town"),
            lon: get("lon"),
            lat: get("lat"),
            home: None,
            audience: get("audience"),
            reach_regions: get("reach_regions"),
            reach_km: get("reach_km"),
            reach_geometry: None,
            parent: None,
            code: None,
        });
    }
    out
}

fn prop_text(props: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    props.get(key).and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn geojson(text: &str, problems: &mut Problems) -> Vec<Raw> {
    let doc: geojson::GeoJson = match text.parse() {
        Ok(d) => d,
        Err(e) => {
            problems.add(format!("the file is not GeoJSON: {e}"));
            return vec![];
        }
    };
    let geojson::GeoJson::FeatureCollection(fc) = doc else {
        problems.add("the file is GeoJSON but not a FeatureCollection".into());
        return vec![];
    };
    let mut out = Vec::new();
    for (i, f) in fc.features.into_iter().enumerate() {
        let props = f.properties.clone().unwrap_or_default();
        let mut raw = Raw {
            place: format!("feature {}", i + 1),
            name: prop_text(&props, "name"),
            kind: prop_text(&props, "kind"),
            town: prop_text(&props, "town"),
            audience: prop_text(&props, "audience"),
            reach_regions: prop_text(&props, "reach_regions"),
            reach_km: prop_text(&props, "reach_km"),
            parent: prop_text(&props, "parent"),
            code: prop_text(&props, "code"),
            ..Raw::default()
        };
        let label = match raw.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => format!("{} ({n})", raw.place),
            _ => raw.place.clone(),
        };
        let Some(geometry) = f.geometry else {
            problems.add(format!(
                "{label}, geometry: missing (expected the outlet's home as a Point)"
            ));
            continue;
        };
        let g: std::result::Result<geo::Geometry<f64>, _> = geometry.try_into();
        let mut polygons = Vec::new();
        let before = problems.0.len();
        match g {
            Ok(geo::Geometry::Point(p)) => raw.home = Some((p.x(), p.y())),
            Ok(geo::Geometry::GeometryCollection(gc)) => {
                for part in gc {
                    match part {
                        geo::Geometry::Point(p) if raw.home.is_none() => raw.home = Some((p.x(), p.y())),
                        geo::Geometry::Polygon(p) => polygons.push(p),
                        geo::Geometry::MultiPolygon(mp) => polygons.extend(mp.0),
                        other => problems.add(format!(
                            "{label}, geometry: {} is neither the home point nor a reach polygon",
                            super::dataset::geometry_name(&other)
                        )),
                    }
                }
            }
            Ok(other) => problems.add(format!(
                "{label}, geometry: {} (expected a Point, or a GeometryCollection of a Point and polygons)",
                super::dataset::geometry_name(&other)
            )),
            Err(e) => problems.add(format!("{label}, geometry: {e}")),
        }
        if problems.0.len() > before {
            continue;
        }
        if raw.home.is_none() {
            problems.add(format!("{label}, geometry: no Point for the outlet's home"));
            continue;
        }
        if !polygons.is_empty() {
            raw.reach_geometry = Some(MultiPolygon(polygons));
            // The app's own export names its reach in prose; the polygons say it exactly.
            raw.reach_regions = None;
            raw.reach_km = None;
        }
        out.push(raw);
    }
    out
}

fn parse_coords(text: &str) -> Option<Vec<Coord<f64>>> {
    text.split_whitespace()
        .map(|t| {
            let mut it = t.split(',');
            let x = it.next()?.parse().ok()?;
            let y = it.next()?.parse().ok()?;
            Some(Coord { x, y })
        })
        .collect()
}

fn kml(text: &str, problems: &mut Problems, need_home: bool) -> Vec<Raw> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Raw> = None;
    let mut data_name: Option<String> = None;
    let mut outer: Option<LineString<f64>> = None;
    let mut holes: Vec<LineString<f64>> = Vec::new();
    let mut polygons: Vec<Polygon<f64>> = Vec::new();
    let mut count = 0;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                problems.add(format!(
                    "the file is not well-formed KML near byte {}: {e}",
                    reader.buffer_position()
                ));
                return vec![];
            }
        };
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Placemark" {
                    count += 1;
                    current = Some(Raw {
                        place: format!("placemark {count}"),
                        ..Raw::default()
                    });
                    polygons.clear();
                }
                if name == "Data" {
                    data_name = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == b"name")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                }
                path.push(name);
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                match name.as_str() {
                    "Polygon" => {
                        if let Some(o) = outer.take() {
                            polygons.push(Polygon::new(o, std::mem::take(&mut holes)));
                        }
                    }
                    "Placemark" => {
                        if let Some(mut raw) = current.take() {
                            if raw.home.is_none() && need_home {
                                problems.add(format!(
                                    "{}, Point: missing (the outlet's home)",
                                    raw.place
                                ));
                            } else {
                                if !polygons.is_empty() {
                                    raw.reach_geometry =
                                        Some(MultiPolygon(std::mem::take(&mut polygons)));
                                }
                                out.push(raw);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                let Ok(value) = t
                    .decode()
                    .map(|v| quick_xml::escape::unescape(&v).map(std::borrow::Cow::into_owned))
                else {
                    continue;
                };
                let Ok(value) = value else { continue };
                let Some(raw) = current.as_mut() else {
                    continue;
                };
                let leaf = path.last().map(String::as_str).unwrap_or_default();
                let parent = path
                    .iter()
                    .rev()
                    .nth(1)
                    .map(String::as_str)
                    .unwrap_or_default();
                match (parent, leaf) {
                    ("Placemark", "name") => raw.name = Some(value),
                    ("Data", "value") => match data_name.as_deref() {
                        Some("kind") => raw.kind = Some(value),
                        Some("audience") => raw.audience = Some(value),
                        Some("town") => raw.town = Some(value),
                        Some("reach_regions") => raw.reach_regions = Some(value),
                        Some("reach_km") => raw.reach_km = Some(value),
                        Some("parent") => raw.parent = Some(value),
                        Some("code") => raw.code = Some(value),
                        _ => {}
                    },
                    ("Point", "coordinates") => {
                        match parse_coords(&value).and_then(|c| c.first().copied()) {
                            Some(c) => raw.home = Some((c.x, c.y)),
                            None => problems.add(format!(
                                "{}, Point: coordinates {value:?} are not lon,lat",
                                raw.place
                            )),
                        }
                    }
                    ("LinearRing", "coordinates") => match parse_coords(&value) {
                        Some(c) if c.len() >= 4 => {
                            let ring = LineString(c);
                            if path.iter().any(|p| p == "innerBoundaryIs") {
                                holes.push(ring);
                            } else {
                                outer = Some(ring);
                            }
                        }
                        _ => problems.add(format!(
                            "{}, Polygon: a ring needs at least 4 lon,lat positions",
                            raw.place
                        )),
                    },
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if count == 0 && problems.0.is_empty() {
        problems.add("the KML holds no Placemark".into());
    }
    // The app's own KML describes the reach in prose; its polygons say it exactly.
    for raw in &mut out {
        if raw.reach_geometry.is_some() {
            raw.reach_regions = None;
            raw.reach_km = None;
        }
    }
    out
}

/// A region to add to the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRegion {
    pub code: String,
    pub name: String,
    pub level: model::geo::Level,
    pub parent: Option<String>,
    pub geometry: MultiPolygon<f64>,
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Parses and checks regions (GeoJSON or KML polygons with a `name`, and
/// optionally a `parent` code and a `code`): a region without a parent is an
/// area, under an area a county, under a county a unit.
///
/// # Errors
/// `Error::Invalid` listing every problem; nothing is imported then.
pub fn parse_regions(atlas: &Atlas, format: Format, text: &str) -> Result<Vec<NewRegion>> {
    use model::geo::Level;
    if text.len() > MAX_BYTES {
        return Err(Error::Invalid(format!(
            "the file is larger than {} MB",
            MAX_BYTES / 1_048_576
        )));
    }
    let mut problems = Problems(Vec::new());
    let raws: Vec<Raw> = match format {
        Format::Csv => {
            return Err(Error::Invalid(
                "regions need boundaries: import them from GeoJSON or KML".into(),
            ))
        }
        Format::Kml => kml(text, &mut problems, false),
        Format::GeoJson => match super::dataset::parse_collection(text) {
            Ok(features) => features
                .into_iter()
                .enumerate()
                .map(|(i, (props, mp))| Raw {
                    place: format!("feature {}", i + 1),
                    name: prop_text(&props, "name"),
                    parent: prop_text(&props, "parent"),
                    code: prop_text(&props, "code"),
                    reach_geometry: Some(mp),
                    ..Raw::default()
                })
                .collect(),
            Err(e) => {
                problems.add(e.to_string());
                vec![]
            }
        },
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for raw in raws {
        let (name, who) = named(&raw.place, raw.name.as_deref());
        if name.is_empty() {
            problems.add(format!("{who}, name: missing"));
            continue;
        }
        let parent = raw
            .parent
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let level = match parent.map(|p| atlas.by_code.get(p).map(|&i| atlas.nodes[i].level)) {
            None => Level::Area,
            Some(None) => {
                problems.add(format!(
                    "{who}, parent: unknown region {:?}",
                    parent.unwrap_or_default()
                ));
                continue;
            }
            Some(Some(Level::Area)) => Level::County,
            Some(Some(Level::County)) => Level::Unit,
            Some(Some(Level::Unit)) => {
                problems.add(format!(
                    "{who}, parent: {} is a sub-region; the tree is three levels deep",
                    parent.unwrap_or_default()
                ));
                continue;
            }
        };
        let code = raw
            .code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map_or_else(
                || format!("{}:{}", level.as_str(), slug(&name)),
                str::to_owned,
            );
        let valid_code = code.split_once(':').is_some_and(|(l, rest)| {
            l == level.as_str()
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !valid_code {
            problems.add(format!(
                "{who}, code: {code:?} must look like {}:some-name",
                level.as_str()
            ));
            continue;
        }
        if atlas.by_code.contains_key(&code) || !seen.insert(code.clone()) {
            problems.add(format!(
                "{who}, code: {code} already exists (give the region a code of its own)"
            ));
            continue;
        }
        let Some(geometry) = raw.reach_geometry.filter(|g| !g.0.is_empty()) else {
            problems.add(format!("{who}, geometry: no polygon"));
            continue;
        };
        let b = super::bounds_of(&geometry);
        if b[0] < HOME_BOX[0] || b[2] > HOME_BOX[2] || b[1] < HOME_BOX[1] || b[3] > HOME_BOX[3] {
            problems.add(format!("{who}, geometry: reaches outside the UK and Ireland (longitude first, then latitude)"));
            continue;
        }
        out.push(NewRegion {
            code,
            name,
            level,
            parent: parent.map(str::to_owned),
            geometry,
        });
    }
    if out.is_empty() && problems.0.is_empty() {
        problems.add("the file holds no regions".into());
    }
    problems.into_result(out)
}
