//! The shipped UK dataset (`data/`, built by `cargo xtask data`): 232 units with
//! their county and area, dissolved here into 12 areas and their counties, and
//! the GeoNames towns. Parsed and dissolved once per process.

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
};

use geo::{orient::Direction, MultiPolygon, Orient as _, Polygon};
use model::geo::Level;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

const UNITS: &str = include_str!("../../../data/uk-units.geojson");
const TOWNS: &str = include_str!("../../../data/uk-towns.csv");
const LAND: &str = include_str!("../../../data/uk-land.geojson");

/// One node of the tree as shipped.
#[derive(Clone, Debug)]
pub struct ShippedNode {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub geometry: MultiPolygon<f64>,
}

/// A town with its population.
#[derive(Clone, Debug, PartialEq)]
pub struct Town {
    pub id: i64,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub population: i64,
}

/// The shipped dataset, dissolved.
#[derive(Debug)]
pub struct Shipped {
    /// Areas, then counties, then units, each sorted by code.
    pub nodes: Vec<ShippedNode>,
    pub towns: Vec<Town>,
    /// A digest of the shipped files: the geography part of the data version.
    pub digest: String,
}

/// The shipped dataset (parsed and dissolved on first use).
///
/// # Errors
/// The shipped files are malformed (a build that ships broken data).
pub fn shipped() -> Result<Arc<Shipped>> {
    static SHIPPED: OnceLock<std::result::Result<Arc<Shipped>, String>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| build().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Internal)
}

/// The land polygons of the UK and Ireland (the basemap, and reach clipping).
///
/// # Errors
/// The shipped file is malformed.
pub fn land() -> Result<Arc<MultiPolygon<f64>>> {
    static LANDS: OnceLock<std::result::Result<Arc<MultiPolygon<f64>>, String>> = OnceLock::new();
    LANDS
        .get_or_init(|| {
            let fc = parse_collection(LAND).map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for (_, mp) in fc {
                all.extend(mp.0);
            }
            Ok(Arc::new(MultiPolygon(all)))
        })
        .clone()
        .map_err(Error::Internal)
}

/// Features of a FeatureCollection with their properties and (multi)polygons.
/// A feature's properties and its boundary.
pub(crate) type Feature = (
    serde_json::Map<String, serde_json::Value>,
    MultiPolygon<f64>,
);

pub(crate) fn parse_collection(text: &str) -> Result<Vec<Feature>> {
    let fc: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .map_err(|e| Error::invalid(format!("not GeoJSON: {e}")))
        .and_then(|g| {
            geojson::FeatureCollection::try_from(g)
                .map_err(|e| Error::invalid(format!("not a FeatureCollection: {e}")))
        })?;
    fc.features
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let props = f.properties.clone().unwrap_or_default();
            let geometry = f
                .geometry
                .ok_or_else(|| Error::invalid(format!("feature {} has no geometry", i + 1)))?;
            Ok((props, to_multipolygon(geometry, i + 1)?))
        })
        .collect()
}

/// A GeoJSON geometry as a MultiPolygon; other types are refused.
pub(crate) fn to_multipolygon(
    geometry: geojson::Geometry,
    feature: usize,
) -> Result<MultiPolygon<f64>> {
    let g: geo::Geometry<f64> = geometry
        .try_into()
        .map_err(|e| Error::invalid(format!("feature {feature}: bad geometry: {e}")))?;
    // Exteriors counter-clockwise, holes clockwise: geodesic areas of rings
    // wound the other way would measure the rest of the globe.
    match g {
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p]).orient(Direction::Default)),
        geo::Geometry::MultiPolygon(mp) => Ok(mp.orient(Direction::Default)),
        other => Err(Error::invalid(format!(
            "feature {feature}: expected a Polygon or MultiPolygon, got {}",
            geometry_name(&other)
        ))),
    }
}

pub(crate) fn geometry_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "a Point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "a LineString",
        geo::Geometry::Polygon(_) => "a Polygon",
        geo::Geometry::MultiPoint(_) => "a MultiPoint",
        geo::Geometry::MultiLineString(_) => "a MultiLineString",
        geo::Geometry::MultiPolygon(_) => "a MultiPolygon",
        geo::Geometry::GeometryCollection(_) => "a GeometryCollection",
        geo::Geometry::Rect(_) => "a Rect",
        geo::Geometry::Triangle(_) => "a Triangle",
    }
}

fn prop<'a>(
    props: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    i: usize,
) -> Result<&'a str> {
    props
        .get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| Error::invalid(format!("unit {i}: no {key}")))
}

fn dissolve(parts: &[&MultiPolygon<f64>]) -> MultiPolygon<f64> {
    let polys: Vec<&Polygon<f64>> = parts.iter().flat_map(|mp| mp.0.iter()).collect();
    geo::unary_union(polys)
}

fn build() -> Result<Shipped> {
    let mut digest = Sha256::new();
    digest.update(UNITS.as_bytes());
    digest.update(TOWNS.as_bytes());
    let digest = format!("{:x}", digest.finalize());

    let mut units = Vec::new();
    // county code -> (name, area code); area code -> name
    let mut counties: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut areas: BTreeMap<String, String> = BTreeMap::new();
    for (i, (props, geometry)) in parse_collection(UNITS)?.into_iter().enumerate() {
        let county = format!("county:{}", prop(&props, "county_code", i)?);
        let area = format!("area:{}", prop(&props, "area_code", i)?);
        if let Some((_, other)) = counties.get(&county) {
            if *other != area {
                return Err(Error::invalid(format!(
                    "{county} lies in {other} and {area}"
                )));
            }
        }
        counties.insert(
            county.clone(),
            (prop(&props, "county", i)?.to_owned(), area.clone()),
        );
        areas.insert(area.clone(), prop(&props, "area", i)?.to_owned());
        units.push(ShippedNode {
            code: format!("unit:{}", prop(&props, "code", i)?),
            name: prop(&props, "name", i)?.to_owned(),
            level: Level::Unit,
            parent: Some(county),
            geometry,
        });
    }
    let mut county_nodes = Vec::new();
    for (code, (name, area)) in &counties {
        let parts: Vec<&MultiPolygon<f64>> = units
            .iter()
            .filter(|u| u.parent.as_deref() == Some(code))
            .map(|u| &u.geometry)
            .collect();
        county_nodes.push(ShippedNode {
            code: code.clone(),
            name: name.clone(),
            level: Level::County,
            parent: Some(area.clone()),
            geometry: dissolve(&parts),
        });
    }
    let mut area_nodes = Vec::new();
    for (code, name) in &areas {
        let parts: Vec<&MultiPolygon<f64>> = county_nodes
            .iter()
            .filter(|c| c.parent.as_deref() == Some(code))
            .map(|c| &c.geometry)
            .collect();
        area_nodes.push(ShippedNode {
            code: code.clone(),
            name: name.clone(),
            level: Level::Area,
            parent: None,
            geometry: dissolve(&parts),
        });
    }
    units.sort_by(|a, b| a.code.cmp(&b.code));
    let mut nodes = area_nodes;
    nodes.extend(county_nodes);
    nodes.extend(units);

    let towns = parse_towns(TOWNS)?;
    Ok(Shipped {
        nodes,
        towns,
        digest,
    })
}

/// `geonameid,name,lon,lat,population` lines.
pub(crate) fn parse_towns(text: &str) -> Result<Vec<Town>> {
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let bad = || Error::invalid(format!("towns line {}: {line:?}", i + 2));
            if f.len() != 5 {
                return Err(bad());
            }
            Ok(Town {
                id: f[0].parse().map_err(|_| bad())?,
                name: f[1].to_owned(),
                lon: f[2].parse().map_err(|_| bad())?,
                lat: f[3].parse().map_err(|_| bad())?,
                population: f[4].parse().map_err(|_| bad())?,
            })
        })
        .collect()
}
