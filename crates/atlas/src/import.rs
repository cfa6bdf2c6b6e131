//! Importing real outlets from CSV, GeoJSON and KML.
//!
//! Everything is parsed and validated before anything is written; a file with
//! any error is refused whole, with up to 50 messages that each name the line
//! (CSV) or feature/placemark (GeoJSON, KML), the outlet when it has a name, and
//! the field. What passes is stored in one transaction, which is read back and
//! built as the loader builds it before it commits (`AtlasService`).
//!
//! Everything is bounded: the file's size ([`MAX_BYTES`]), outlets
//! ([`MAX_OUTLETS`]) and regions ([`MAX_REGIONS`]) per file, text fields
//! ([`MAX_TEXT`] characters), audiences ([`MAX_AUDIENCE`]), reach radii (0.1 to
//! 500 km), region codes per reach ([`MAX_REACH_CODES`]), and every number is
//! finite and in range: homes in the UK and Ireland, polygons as
//! [`super::shape`] decides (closed rings, finite positions inside the box,
//! bounded positions; regions' rings may not cross themselves). A KML with a
//! DOCTYPE is refused (no entity is ever expanded), and so is one that ends
//! inside an element.
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

use geo::{Coord, MultiPolygon};
use model::geo::OutletKind;

use super::{
    shape::{self, RawPolygon, Rules},
    Atlas, NewOutlet, Reach,
};
use crate::{Error, Result};

/// The UK and Ireland, generously: homes and regions outside are refused as typos.
const HOME_BOX: [f64; 4] = [-11.0, 49.0, 2.5, 61.5];
/// Reach polygons may reach 5 degrees further (over the sea).
const REACH_BOX: [f64; 4] = [-16.0, 44.0, 7.5, 66.5];
const REGION_RULES: Rules = Rules::imported(HOME_BOX, "the UK and Ireland", true);
const REACH_RULES: Rules = Rules::imported(REACH_BOX, "the UK, Ireland and their seas", false);
const MAX_ERRORS: usize = 50;
/// Files larger than this are refused before parsing.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
/// Outlets one file may hold.
pub const MAX_OUTLETS: usize = 50_000;
/// Regions one file may hold.
pub const MAX_REGIONS: usize = 2_000;
/// Characters a name, town or code may have.
pub const MAX_TEXT: usize = 200;
/// The largest audience: more people than there are.
pub const MAX_AUDIENCE: i64 = 10_000_000_000;
/// Region codes one outlet's reach may name.
pub const MAX_REACH_CODES: usize = 50;

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
            _ => Err(Error::invalid(format!(
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
    /// Reach polygons (outlets) or the boundary (regions), as read.
    polygons: Vec<RawPolygon>,
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
        Err(Error::invalid(format!(
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
        return Err(Error::invalid(format!(
            "the file is {} MB: at most {} MB can be imported at once",
            text.len() / 1_048_576,
            MAX_BYTES / 1_048_576
        )));
    }
    let mut problems = Problems(Vec::new());
    let raws = match format {
        Format::Csv => csv(text, &mut problems),
        Format::GeoJson => geojson(text, &mut problems),
        Format::Kml => kml(text, &mut problems, true, MAX_OUTLETS),
    };
    if raws.len() > MAX_OUTLETS {
        problems.add(format!(
            "the file holds {} outlets: at most {MAX_OUTLETS} can be imported at once",
            raws.len()
        ));
        return problems.into_result(vec![]);
    }
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

/// Text as stored: runs of whitespace (line breaks and tabs included, as a
/// spreadsheet's cell may hold them) become one space, the ends trimmed.
fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What is wrong with a cleaned text field, if anything.
fn text_problem(s: &str) -> Option<String> {
    if s.chars().count() > MAX_TEXT {
        Some(format!("longer than {MAX_TEXT} characters"))
    } else if s.chars().any(char::is_control) {
        Some("contains a control character".into())
    } else {
        None
    }
}

/// A value as problems quote it: at most 40 characters.
fn short(s: &str) -> String {
    if s.chars().count() <= 40 {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(40).collect();
        format!("{head:?}...")
    }
}

/// A record's cleaned name, and how problems name the record: "line 4 (Luton
/// Post)", or just "line 4" without a name.
fn named(place: &str, name: Option<&str>) -> (String, String) {
    let name = name.map(clean).unwrap_or_default();
    let who = if name.is_empty() {
        place.to_owned()
    } else if name.chars().count() > 60 {
        format!("{place} ({}...)", name.chars().take(60).collect::<String>())
    } else {
        format!("{place} ({name})")
    };
    (name, who)
}

fn in_box(x: f64, y: f64, b: [f64; 4]) -> bool {
    (b[0]..=b[2]).contains(&x) && (b[1]..=b[3]).contains(&y)
}

#[allow(clippy::too_many_lines)]
fn check(atlas: &Atlas, raw: Raw, source: &str, problems: &mut Problems) -> Option<NewOutlet> {
    let before = problems.0.len();
    let (name, who) = named(&raw.place, raw.name.as_deref());
    if name.is_empty() {
        problems.add(format!("{who}, name: missing"));
    } else if let Some(p) = text_problem(&name) {
        problems.add(format!("{who}, name: {p}"));
    }
    let town = raw.town.as_deref().map(clean).unwrap_or_default();
    if let Some(p) = text_problem(&town) {
        problems.add(format!("{who}, town: {p}"));
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
                "{who}, kind: {} is not newspaper, radio, tv or online",
                short(k)
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
                problems.add(format!(
                    "{who}, {field}: {} is not a finite number",
                    short(s)
                ));
                None
            }),
        }
    };
    let (lon, lat) = match raw.home {
        Some((x, y)) if x.is_finite() && y.is_finite() => (Some(x), Some(y)),
        Some((x, y)) => {
            problems.add(format!(
                "{who}, lon/lat: {x}, {y} is not two finite numbers"
            ));
            (None, None)
        }
        None => (
            number("lon", raw.lon.as_deref(), problems),
            number("lat", raw.lat.as_deref(), problems),
        ),
    };
    if let (Some(x), Some(y)) = (lon, lat) {
        if !in_box(x, y, HOME_BOX) {
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
            .filter(|n| (0..=MAX_AUDIENCE).contains(n))
            .or_else(|| {
                problems.add(format!(
                    "{who}, audience: {} is not a whole number of people from 0 to {MAX_AUDIENCE}",
                    short(s)
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
    let polygons = (!raw.polygons.is_empty()).then_some(raw.polygons);
    let reach = match (polygons, regions, km) {
        (Some(p), None, None) => match shape::build(p, &REACH_RULES) {
            Ok(g) => Some(Reach::Geometry(g)),
            Err(e) => {
                problems.add(format!("{who}, reach {e}"));
                None
            }
        },
        (None, Some(codes), None) => {
            let codes: Vec<String> = codes
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            let unknown: Vec<String> = codes
                .iter()
                .filter(|c| !atlas.by_code.contains_key(c.as_str()))
                .take(5)
                .map(|c| short(c).trim_matches('"').to_owned())
                .collect();
            if codes.len() > MAX_REACH_CODES {
                problems.add(format!(
                    "{who}, reach_regions: {} regions, at most {MAX_REACH_CODES}",
                    codes.len()
                ));
                None
            } else if unknown.is_empty() {
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
                    "{who}, reach_km: {} is not a radius between 0.1 and 500 km",
                    short(k)
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
        town,
        lon: lon?,
        lat: lat?,
        audience: audience?,
        reach: reach?,
        source: source.to_owned(),
    })
}

/// The CSV's records (RFC 4180, read by the `csv` crate: quoted fields may
/// hold commas, quotes and line breaks), each placed by the line it starts on.
fn csv(text: &str, problems: &mut Problems) -> Vec<Raw> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let line_of = |r: &csv::StringRecord| r.position().map_or(0, csv::Position::line);
    let blank = |r: &csv::StringRecord| r.len() == 1 && r[0].trim().is_empty();
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => {
                problems.add("line 1: the file is empty (expected a header line)".into());
                return vec![];
            }
            Some(Err(e)) => {
                problems.add(format!("the file is not CSV: {e}"));
                return vec![];
            }
            Some(Ok(r)) if blank(&r) => {}
            Some(Ok(r)) => break r,
        }
    };
    let header_line = line_of(&header);
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for required in ["name", "kind", "lon", "lat"] {
        if !header.iter().any(|h| h == required) {
            problems.add(format!(
                "line {header_line}: no {required} column (expected name,kind,town,lon,lat,audience,reach_regions,reach_km)"
            ));
        }
    }
    for (i, h) in header.iter().enumerate() {
        if !h.is_empty() && header[..i].contains(h) {
            problems.add(format!("line {header_line}: the {h} column appears twice"));
        }
    }
    if !problems.0.is_empty() {
        return vec![];
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut out = Vec::new();
    for record in records {
        let f = match record {
            Ok(r) => r,
            Err(e) => {
                problems.add(format!("the file is not CSV: {e}"));
                return vec![];
            }
        };
        if blank(&f) {
            continue;
        }
        let line = line_of(&f);
        if f.len() != header.len() {
            problems.add(format!(
                "line {line}: {} fields, the header has {}",
                f.len(),
                header.len()
            ));
            continue;
        }
        if out.len() == MAX_OUTLETS {
            // One more than allowed: enough for `parse` to refuse the file.
            out.push(Raw::default());
            break;
        }
        let get = |name: &str| col(name).map(|c| f[c].to_owned());
        out.push(Raw {
            place: format!("line {line}"),
            name: get("name"),
            kind: get("kind"),
            town: get("town"),
            lon: get("lon"),
            lat: get("lat"),
            audience: get("audience"),
            reach_regions: get("reach_regions"),
            reach_km: get("reach_km"),
            ..Raw::default()
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

/// A GeoJSON FeatureCollection's features, or a problem.
fn feature_collection(
    text: &str,
    cap: usize,
    what: &str,
    problems: &mut Problems,
) -> Vec<geojson::Feature> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
    if fc.features.len() > cap {
        problems.add(format!(
            "the file holds {} features: at most {cap} {what} can be imported at once",
            fc.features.len()
        ));
        return vec![];
    }
    fc.features
}

fn home_of(p: &geojson::Position) -> Option<(f64, f64)> {
    match p.as_slice() {
        [x, y, ..] => Some((*x, *y)),
        _ => None,
    }
}

fn geojson(text: &str, problems: &mut Problems) -> Vec<Raw> {
    use geojson::GeometryValue as V;
    let mut out = Vec::new();
    for (i, f) in feature_collection(text, MAX_OUTLETS, "outlets", problems)
        .into_iter()
        .enumerate()
    {
        let props = f.properties.clone().unwrap_or_default();
        let mut raw = Raw {
            place: format!("feature {}", i + 1),
            name: prop_text(&props, "name"),
            kind: prop_text(&props, "kind"),
            town: prop_text(&props, "town"),
            audience: prop_text(&props, "audience"),
            reach_regions: prop_text(&props, "reach_regions"),
            reach_km: prop_text(&props, "reach_km"),
            ..Raw::default()
        };
        let (_, label) = named(&raw.place, raw.name.as_deref());
        let Some(geometry) = f.geometry else {
            problems.add(format!(
                "{label}, geometry: missing (expected the outlet's home as a Point)"
            ));
            continue;
        };
        let before = problems.0.len();
        let home = |p: &geojson::Position, raw: &mut Raw, problems: &mut Problems| match home_of(p)
        {
            Some(h) => raw.home = Some(h),
            None => problems.add(format!(
                "{label}, geometry: the Point needs a longitude and a latitude"
            )),
        };
        match &geometry.value {
            V::Point { coordinates } => home(coordinates, &mut raw, problems),
            V::GeometryCollection { geometries } => {
                for part in geometries {
                    match &part.value {
                        V::Point { coordinates } if raw.home.is_none() => {
                            home(coordinates, &mut raw, problems);
                        }
                        v @ (V::Polygon { .. } | V::MultiPolygon { .. }) => {
                            match shape::raw_from_geojson(v) {
                                Ok(p) => raw.polygons.extend(p),
                                Err(e) => problems.add(format!("{label}, reach {e}")),
                            }
                        }
                        other => problems.add(format!(
                            "{label}, geometry: a {} is neither the home point nor a reach polygon",
                            other.type_name()
                        )),
                    }
                }
            }
            other => problems.add(format!(
                "{label}, geometry: a {} (expected a Point, or a GeometryCollection of a Point and polygons)",
                other.type_name()
            )),
        }
        if problems.0.len() > before {
            continue;
        }
        if raw.home.is_none() {
            problems.add(format!("{label}, geometry: no Point for the outlet's home"));
            continue;
        }
        if !raw.polygons.is_empty() {
            // The app's own export names its reach in prose; the polygons say it exactly.
            raw.reach_regions = None;
            raw.reach_km = None;
        }
        out.push(raw);
    }
    out
}

/// KML `coordinates`: `lon,lat[,alt]` separated by white space.
fn parse_coords(text: &str) -> std::result::Result<Vec<Coord<f64>>, String> {
    text.split_whitespace()
        .enumerate()
        .map(|(n, t)| {
            let mut it = t.split(',');
            let x = it.next().and_then(|v| v.parse::<f64>().ok());
            let y = it.next().and_then(|v| v.parse::<f64>().ok());
            match (x, y) {
                (Some(x), Some(y)) => Ok(Coord { x, y }),
                _ => Err(format!("position {}: {} is not lon,lat", n + 1, short(t))),
            }
        })
        .collect()
}

/// How deep KML elements may nest.
const MAX_DEPTH: usize = 64;

/// Placemarks of a KML document. Text is gathered per element (entities
/// arrive as their own events) and used when the element ends.
#[allow(clippy::too_many_lines)]
fn kml(text: &str, problems: &mut Problems, need_home: bool, cap: usize) -> Vec<Raw> {
    use quick_xml::events::Event;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Raw> = None;
    let mut data_name: Option<String> = None;
    let mut value = String::new();
    let mut rings: Vec<Vec<Coord<f64>>> = Vec::new();
    let mut polygons: Vec<RawPolygon> = Vec::new();
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
        let place = || {
            current
                .as_ref()
                .map_or_else(|| "the document".to_owned(), |r| r.place.clone())
        };
        match event {
            Event::DocType(_) => {
                problems.add(
                    "the KML has a DOCTYPE: entity declarations are not accepted (remove the <!DOCTYPE ...>)"
                        .into(),
                );
                return vec![];
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.len() >= MAX_DEPTH {
                    problems.add(format!(
                        "the KML nests elements deeper than {MAX_DEPTH} levels"
                    ));
                    return vec![];
                }
                if name == "Placemark" {
                    count += 1;
                    if count > cap {
                        problems.add(format!(
                            "the file holds more than {cap} Placemarks: at most {cap} can be imported at once"
                        ));
                        return vec![];
                    }
                    current = Some(Raw {
                        place: format!("placemark {count}"),
                        ..Raw::default()
                    });
                    polygons.clear();
                }
                if name == "Polygon" {
                    rings.clear();
                }
                if name == "Data" {
                    data_name = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == b"name")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                }
                value.clear();
                path.push(name);
            }
            Event::Text(t) => match t.decode() {
                Ok(s) => value.push_str(&s),
                Err(e) => problems.add(format!("{}: text that cannot be read: {e}", place())),
            },
            Event::CData(t) => match t.decode() {
                Ok(s) => value.push_str(&s),
                Err(e) => problems.add(format!("{}: text that cannot be read: {e}", place())),
            },
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap_or_default().into_owned();
                match r.resolve_char_ref() {
                    Ok(Some(c)) => value.push(c),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => value.push_str(s),
                        None => problems.add(format!(
                            "{}, {}: unknown entity &{};",
                            place(),
                            path.last().map_or("text", String::as_str),
                            short(&name).trim_matches('"')
                        )),
                    },
                    Err(e) => problems.add(format!(
                        "{}, {}: {e}",
                        place(),
                        path.last().map_or("text", String::as_str)
                    )),
                }
            }
            Event::End(_) => {
                let leaf = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or_default();
                let text = std::mem::take(&mut value);
                let text = text.trim();
                if let Some(raw) = current.as_mut() {
                    match (parent, leaf.as_str()) {
                        ("Placemark", "name") => raw.name = Some(text.to_owned()),
                        ("Data", "value") => {
                            let v = Some(text.to_owned());
                            match data_name.as_deref() {
                                Some("kind") => raw.kind = v,
                                Some("audience") => raw.audience = v,
                                Some("town") => raw.town = v,
                                Some("reach_regions") => raw.reach_regions = v,
                                Some("reach_km") => raw.reach_km = v,
                                Some("parent") => raw.parent = v,
                                Some("code") => raw.code = v,
                                _ => {}
                            }
                        }
                        ("Point", "coordinates") => {
                            match parse_coords(text).map(|c| c.first().copied()) {
                                Ok(Some(c)) if raw.home.is_none() => raw.home = Some((c.x, c.y)),
                                Ok(Some(_)) => {}
                                Ok(None) => problems
                                    .add(format!("{}, Point: coordinates are empty", raw.place)),
                                Err(e) => problems.add(format!(
                                    "{}, Point: coordinates {}: {e}",
                                    raw.place,
                                    short(text)
                                )),
                            }
                        }
                        ("LinearRing", "coordinates") => match parse_coords(text) {
                            Ok(c) => {
                                if path.iter().any(|p| p == "innerBoundaryIs") {
                                    rings.push(c);
                                } else {
                                    rings.insert(0, c);
                                }
                            }
                            Err(e) => problems.add(format!("{}, Polygon: {e}", raw.place)),
                        },
                        (_, "Polygon") if !rings.is_empty() => {
                            polygons.push(std::mem::take(&mut rings));
                        }
                        _ => {}
                    }
                }
                if leaf == "Placemark" {
                    if let Some(mut raw) = current.take() {
                        if raw.home.is_none() && need_home {
                            problems
                                .add(format!("{}, Point: missing (the outlet's home)", raw.place));
                        } else {
                            raw.polygons = std::mem::take(&mut polygons);
                            out.push(raw);
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = path.last() {
        problems.add(format!("the file ends inside <{open}>: is it cut short?"));
        return vec![];
    }
    if count == 0 && problems.0.is_empty() {
        problems.add("the KML holds no Placemark".into());
    }
    // The app's own KML describes the reach in prose; its polygons say it exactly.
    for raw in &mut out {
        if !raw.polygons.is_empty() {
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

fn regions_geojson(text: &str, problems: &mut Problems) -> Vec<Raw> {
    let mut out = Vec::new();
    for (i, f) in feature_collection(text, MAX_REGIONS, "regions", problems)
        .into_iter()
        .enumerate()
    {
        let props = f.properties.clone().unwrap_or_default();
        let mut raw = Raw {
            place: format!("feature {}", i + 1),
            name: prop_text(&props, "name"),
            parent: prop_text(&props, "parent"),
            code: prop_text(&props, "code"),
            ..Raw::default()
        };
        let (_, label) = named(&raw.place, raw.name.as_deref());
        let Some(geometry) = f.geometry else {
            problems.add(format!("{label}, geometry: missing (expected a Polygon)"));
            continue;
        };
        match shape::raw_from_geojson(&geometry.value) {
            Ok(p) => raw.polygons = p,
            Err(e) => {
                problems.add(format!("{label}, geometry: {e}"));
                continue;
            }
        }
        out.push(raw);
    }
    out
}

/// Parses and checks regions (GeoJSON or KML polygons with a `name`, and
/// optionally a `parent` code and a `code`): a region without a parent is an
/// area, under an area a county, under a county a unit. Boundaries follow
/// [`shape`]'s rules with `simple`: a ring that crosses itself is refused.
///
/// # Errors
/// `Error::Invalid` listing every problem; nothing is imported then.
pub fn parse_regions(atlas: &Atlas, format: Format, text: &str) -> Result<Vec<NewRegion>> {
    use model::geo::Level;
    if text.len() > MAX_BYTES {
        return Err(Error::invalid(format!(
            "the file is larger than {} MB",
            MAX_BYTES / 1_048_576
        )));
    }
    let mut problems = Problems(Vec::new());
    let raws: Vec<Raw> = match format {
        Format::Csv => {
            return Err(Error::invalid(
                "regions need boundaries: import them from GeoJSON or KML",
            ))
        }
        Format::Kml => kml(text, &mut problems, false, MAX_REGIONS),
        Format::GeoJson => regions_geojson(text, &mut problems),
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for raw in raws {
        let (name, who) = named(&raw.place, raw.name.as_deref());
        if name.is_empty() {
            problems.add(format!("{who}, name: missing"));
            continue;
        }
        if let Some(p) = text_problem(&name) {
            problems.add(format!("{who}, name: {p}"));
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
                    "{who}, parent: unknown region {}",
                    short(parent.unwrap_or_default())
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
        let valid_code = code.len() <= MAX_TEXT
            && code.split_once(':').is_some_and(|(l, rest)| {
                l == level.as_str()
                    && !rest.is_empty()
                    && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid_code {
            problems.add(format!(
                "{who}, code: {} must look like {}:some-name (at most {MAX_TEXT} characters)",
                short(&code),
                level.as_str()
            ));
            continue;
        }
        // Taken by a loaded region, by a stored one the map left out (its row
        // is still there: the insert would fail), or earlier in this file.
        let left_out = atlas
            .problems()
            .iter()
            .any(|p| p.table == "geo_node" && p.row == code);
        if atlas.by_code.contains_key(&code) || left_out || !seen.insert(code.clone()) {
            problems.add(format!(
                "{who}, code: {code} already exists (give the region a code of its own)"
            ));
            continue;
        }
        if raw.polygons.is_empty() {
            problems.add(format!("{who}, geometry: no polygon"));
            continue;
        }
        let geometry = match shape::build(raw.polygons, &REGION_RULES) {
            Ok(g) => g,
            Err(e) => {
                problems.add(format!("{who}, geometry: {e}"));
                continue;
            }
        };
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
