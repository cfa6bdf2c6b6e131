//! UK geography the app ships: the land outline for the offline basemap.

use std::sync::Arc;

use serde_json::Value;

/// The land polygons (UK and Ireland) compiled into the binary from `data/`.
const LAND_GEOJSON: &str = include_str!("../../../../data/uk-land.geojson");

pub use model::geo::{UK_CENTER, UK_ZOOM};

/// A ring of (longitude, latitude) points.
type Ring = Vec<(f64, f64)>;

/// Serves the shipped geography.
#[derive(Clone, Debug)]
pub struct GeoService {
    land: Arc<Land>,
}

#[derive(Debug)]
struct Land {
    geojson: &'static str,
    /// Outer rings and holes of every polygon, flattened: enough to draw.
    rings: Vec<Ring>,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    bbox: [f64; 4],
}

impl GeoService {
    /// The geography compiled into the binary.
    ///
    /// # Panics
    /// Never for the shipped file: a unit test parses it.
    #[must_use]
    pub fn shipped() -> Self {
        let land = parse_land(LAND_GEOJSON).expect("data/uk-land.geojson is valid GeoJSON");
        Self {
            land: Arc::new(land),
        }
    }

    /// The land outline as a GeoJSON document.
    #[must_use]
    pub fn land_geojson(&self) -> &'static str {
        self.land.geojson
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` of the land.
    #[must_use]
    pub fn land_bbox(&self) -> [f64; 4] {
        self.land.bbox
    }

    /// An SVG path of the land, projected to fit `width` pixels wide (the height
    /// follows the aspect), for pages read without JavaScript. Points closer than
    /// `min_step` pixels to the previous kept point are dropped.
    /// Returns the path data and the height.
    #[must_use]
    pub fn land_svg_path(&self, width: f64, min_step: f64) -> (String, f64) {
        let [min_lon, min_lat, max_lon, max_lat] = self.land.bbox;
        // Equirectangular, squeezed by cos(mid latitude): near enough at UK scale.
        let k = ((min_lat + max_lat) / 2.0).to_radians().cos();
        let scale = width / ((max_lon - min_lon) * k);
        let height = (max_lat - min_lat) * scale;
        let project =
            |(lon, lat): (f64, f64)| ((lon - min_lon) * k * scale, (max_lat - lat) * scale);
        let mut d = String::new();
        for ring in &self.land.rings {
            let mut kept: Vec<(f64, f64)> = Vec::with_capacity(ring.len() / 4);
            for &p in ring {
                let (x, y) = project(p);
                match kept.last() {
                    Some(&(lx, ly)) if (x - lx).hypot(y - ly) < min_step => {}
                    _ => kept.push((x, y)),
                }
            }
            if kept.len() < 3 {
                continue; // an islet smaller than a pixel or two
            }
            for (i, (x, y)) in kept.iter().enumerate() {
                let cmd = if i == 0 { 'M' } else { 'L' };
                d.push_str(&format!("{cmd}{x:.1} {y:.1}"));
            }
            d.push('Z');
        }
        (d, height)
    }
}

fn parse_land(text: &'static str) -> Result<Land, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let features = doc["features"].as_array().ok_or("no features")?;
    let mut rings = Vec::new();
    for f in features {
        let geom = &f["geometry"];
        let polygons: Vec<&Value> = match geom["type"].as_str() {
            Some("Polygon") => vec![&geom["coordinates"]],
            Some("MultiPolygon") => geom["coordinates"]
                .as_array()
                .ok_or("bad MultiPolygon")?
                .iter()
                .collect(),
            other => return Err(format!("unexpected geometry {other:?}")),
        };
        for poly in polygons {
            for ring in poly.as_array().ok_or("bad polygon")? {
                let pts = ring
                    .as_array()
                    .ok_or("bad ring")?
                    .iter()
                    .map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                    .collect::<Option<Ring>>()
                    .ok_or("bad position")?;
                rings.push(pts);
            }
        }
    }
    let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for &(lon, lat) in rings.iter().flatten() {
        bbox = [
            bbox[0].min(lon),
            bbox[1].min(lat),
            bbox[2].max(lon),
            bbox[3].max(lat),
        ];
    }
    if rings.is_empty() {
        return Err("no land".into());
    }
    Ok(Land {
        geojson: text,
        rings,
        bbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_land_covers_the_uk() {
        let geo = GeoService::shipped();
        let [min_lon, min_lat, max_lon, max_lat] = geo.land_bbox();
        // Land's End, Lowestoft, the Shetlands and the Scillies fall inside.
        assert!(min_lon < -6.3 && max_lon > 1.7, "{min_lon} {max_lon}");
        assert!(min_lat < 49.95 && max_lat > 60.7, "{min_lat} {max_lat}");
        let (lat, lon) = UK_CENTER;
        assert!((min_lat..max_lat).contains(&lat) && (min_lon..max_lon).contains(&lon));
    }

    #[test]
    fn svg_outline_is_compact_and_inside_its_box() {
        let geo = GeoService::shipped();
        let (d, h) = geo.land_svg_path(400.0, 1.5);
        assert!(h > 400.0 && h < 1000.0, "height {h}");
        assert!(d.len() < 80_000, "{} bytes", d.len());
        assert!(d.starts_with('M') && d.ends_with('Z'));
        for num in d
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
        {
            let v: f64 = num.parse().expect("number");
            assert!((-0.1..=h + 0.1).contains(&v), "{v} outside 0..{h}");
        }
    }

    #[test]
    fn broken_geojson_is_refused_with_a_reason() {
        assert!(parse_land("{").is_err());
        assert!(parse_land(r#"{"features":[]}"#).is_err());
        assert!(
            parse_land(r#"{"features":[{"geometry":{"type":"Point","coordinates":[0,0]}}]}"#)
                .is_err()
        );
    }
}
