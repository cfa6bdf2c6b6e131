//! A selection's outlets as pages of vector features, in GeoJSON, KML and KMZ,
//! and the index that lists the pages (the seed's `getLinks`, which existed
//! because Google refused large KML files).
//!
//! Each outlet is one feature: its home (a point) and its reach (polygons),
//! with its name, kind, town, audience and reach as properties (the reach also
//! as `reach_km` or `reach_regions`, as the importer reads it). Coordinates
//! are written with 5 decimals (about 1 m).

use std::fmt::Write as _;

use geo::{LineString, MultiPolygon};
use model::geo::{FeatureIndex, FeaturePage};

use super::{Atlas, Outlet, Selection};
use crate::{Error, Result};

/// The page size the seed used, and the default.
pub const DEFAULT_PER_PAGE: u32 = 250;
/// The most a client may ask for in one page.
pub const MAX_PER_PAGE: u32 = 1000;

/// The features of page `page` (1-based).
///
/// # Errors
/// `per_page` outside 1..=1000, or a page that does not exist (the message
/// says how many there are).
pub fn page<'a>(
    atlas: &'a Atlas,
    sel: &Selection,
    page: u32,
    per_page: u32,
) -> Result<Vec<&'a Outlet>> {
    check_per_page(per_page)?;
    let all = atlas.outlets_in(sel);
    let pages = page_count(all.len(), per_page);
    if page == 0 || page > pages {
        return Err(Error::NotFound(format!(
            "page {page} of this selection (it has {pages} page{})",
            if pages == 1 { "" } else { "s" }
        )));
    }
    let start = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    Ok(all
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect())
}

fn check_per_page(per_page: u32) -> Result<()> {
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::invalid(format!(
            "per_page must be between 1 and {MAX_PER_PAGE} (got {per_page})"
        )));
    }
    Ok(())
}

/// Pages needed for `n` features; an empty selection still has one (empty) page.
fn page_count(n: usize, per_page: u32) -> u32 {
    u32::try_from(n.div_ceil(per_page as usize))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The index of a selection's pages: their URLs under `base` (e.g. `/api/features`).
///
/// # Errors
/// A bad `per_page`.
pub fn index(atlas: &Atlas, sel: &Selection, per_page: u32, base: &str) -> Result<FeatureIndex> {
    check_per_page(per_page)?;
    let total = atlas.outlets_in(sel).len();
    let pages = page_count(total, per_page);
    let mut query = format!("sel={}", model::geo::encode_query_value(&sel.text));
    if !sel.kinds.is_empty() {
        let kinds: Vec<&str> = sel.kinds.iter().map(|k| k.as_str()).collect();
        let _ = write!(query, "&kinds={}", kinds.join(","));
    }
    if per_page != DEFAULT_PER_PAGE {
        let _ = write!(query, "&per_page={per_page}");
    }
    let _ = write!(query, "&v={}", atlas.version());
    Ok(FeatureIndex {
        selection: sel.text.clone(),
        data_version: atlas.version().to_owned(),
        bounds: atlas.bounds(sel),
        total: u32::try_from(total).unwrap_or(u32::MAX),
        per_page,
        boundary: format!("{base}/boundary.geojson?{query}"),
        pages: (1..=pages)
            .map(|p| FeaturePage {
                geojson: format!("{base}/{p}.geojson?{query}"),
                kml: format!("{base}/{p}.kml?{query}"),
                kmz: format!("{base}/{p}.kmz?{query}"),
            })
            .collect(),
    })
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `v` with exactly 5 decimals, by integer arithmetic: several times faster
/// than `{:.5}`, which formats through the float machinery.
#[allow(clippy::cast_possible_truncation)]
fn push_fixed5(out: &mut String, v: f64) {
    let n = (v * 100_000.0).round() as i64;
    if n < 0 {
        out.push('-');
    }
    let n = n.unsigned_abs();
    let (int, frac) = (n / 100_000, n % 100_000);
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(int));
    out.push('.');
    let digits = buf.format(frac);
    for _ in digits.len()..5 {
        out.push('0');
    }
    out.push_str(digits);
}

fn ring_json(out: &mut String, ring: &LineString<f64>) {
    out.push('[');
    for (i, c) in ring.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        push_fixed5(out, c.x);
        out.push(',');
        push_fixed5(out, c.y);
        out.push(']');
    }
    out.push(']');
}

fn multipolygon_json(out: &mut String, mp: &MultiPolygon<f64>) {
    out.push_str(r#"{"type":"MultiPolygon","coordinates":["#);
    for (i, p) in mp.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        ring_json(out, p.exterior());
        for hole in p.interiors() {
            out.push(',');
            ring_json(out, hole);
        }
        out.push(']');
    }
    out.push_str("]}");
}

/// A GeoJSON FeatureCollection of the outlets.
#[must_use]
pub fn geojson(atlas: &Atlas, outlets: &[&Outlet]) -> String {
    let mut out = String::with_capacity(outlets.len() * 2048);
    out.push_str(r#"{"type":"FeatureCollection","features":["#);
    for (i, o) in outlets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let s = atlas.summary(o);
        let _ = write!(
            out,
            r#"{{"type":"Feature","id":{},"properties":{{"name":"#,
            o.id
        );
        json_str(&mut out, &s.name);
        let _ = write!(out, r#","kind":"{}","town":"#, o.kind.as_str());
        json_str(&mut out, &s.town);
        let _ = write!(out, r#","audience":{},"reach":"#, s.audience);
        json_str(&mut out, &s.reach);
        // The reach as the importer reads it, for when there is no polygon
        // (a circle wholly at sea clips to nothing).
        match &o.reach {
            super::Reach::Circle { radius_km } => {
                let _ = write!(out, r#","reach_km":{radius_km}"#);
            }
            super::Reach::Regions(codes) => {
                out.push_str(r#","reach_regions":"#);
                json_str(&mut out, &codes.join(";"));
            }
            super::Reach::Geometry(_) => {}
        }
        let _ = write!(
            out,
            r#","demo":{}}},"geometry":{{"type":"GeometryCollection","geometries":["#,
            s.demo
        );
        let _ = write!(
            out,
            r#"{{"type":"Point","coordinates":[{:.5},{:.5}]}}"#,
            o.lon, o.lat
        );
        let reach = atlas.reach_geometry(o);
        if !reach.0.is_empty() {
            out.push(',');
            multipolygon_json(&mut out, &reach);
        }
        out.push_str("]}}");
    }
    out.push_str("]}");
    out
}

/// The selected regions' boundaries as GeoJSON.
#[must_use]
pub fn boundary_geojson(atlas: &Atlas, sel: &Selection) -> String {
    let mut out = String::from(r#"{"type":"FeatureCollection","features":["#);
    for (i, (code, name, mp, _)) in atlas.boundaries(sel).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"type":"Feature","properties":{"code":"#);
        json_str(&mut out, code);
        out.push_str(r#","name":"#);
        json_str(&mut out, name);
        out.push_str(r#"},"geometry":"#);
        multipolygon_json(&mut out, mp);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn xml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
}

fn ring_kml(out: &mut String, ring: &LineString<f64>) {
    out.push_str("<LinearRing><coordinates>");
    for (i, c) in ring.0.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_fixed5(out, c.x);
        out.push(',');
        push_fixed5(out, c.y);
    }
    out.push_str("</coordinates></LinearRing>");
}

/// A KML document of the outlets: one Placemark each, its home and reach in a
/// MultiGeometry, styled by kind.
#[must_use]
pub fn kml(atlas: &Atlas, title: &str, outlets: &[&Outlet]) -> String {
    let mut out = String::with_capacity(outlets.len() * 2048);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str("\n<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>");
    xml_escape(&mut out, title);
    out.push_str("</name>");
    for kind in model::geo::OutletKind::ALL {
        // KML colours are aabbggrr.
        let hex = kind.colour().trim_start_matches('#');
        let (r, g, b) = (&hex[0..2], &hex[2..4], &hex[4..6]);
        let _ = write!(
            out,
            "<Style id=\"{k}\"><IconStyle><color>ff{b}{g}{r}</color></IconStyle><LineStyle><color>ff{b}{g}{r}</color><width>1</width></LineStyle><PolyStyle><color>40{b}{g}{r}</color></PolyStyle></Style>",
            k = kind.as_str()
        );
    }
    for o in outlets {
        let s = atlas.summary(o);
        let _ = write!(out, "<Placemark id=\"outlet-{}\"><name>", o.id);
        xml_escape(&mut out, &s.name);
        out.push_str("</name><description>");
        xml_escape(
            &mut out,
            &format!(
                "{} in {}; audience {}; reach: {}{}",
                o.kind.label(),
                s.town,
                s.audience,
                s.reach,
                if s.demo { " (demo data)" } else { "" }
            ),
        );
        let _ = write!(
            out,
            "</description><styleUrl>#{}</styleUrl><ExtendedData><Data name=\"kind\"><value>{}</value></Data><Data name=\"audience\"><value>{}</value></Data>{}</ExtendedData><MultiGeometry><Point><coordinates>{:.5},{:.5}</coordinates></Point>",
            o.kind.as_str(),
            o.kind.as_str(),
            s.audience,
            match &o.reach {
                super::Reach::Circle { radius_km } =>
                    format!("<Data name=\"reach_km\"><value>{radius_km}</value></Data>"),
                super::Reach::Regions(codes) => {
                    let mut v = String::new();
                    xml_escape(&mut v, &codes.join(";"));
                    format!("<Data name=\"reach_regions\"><value>{v}</value></Data>")
                }
                super::Reach::Geometry(_) => String::new(),
            },
            o.lon,
            o.lat
        );
        for p in &atlas.reach_geometry(o).0 {
            out.push_str("<Polygon><outerBoundaryIs>");
            ring_kml(&mut out, p.exterior());
            out.push_str("</outerBoundaryIs>");
            for hole in p.interiors() {
                out.push_str("<innerBoundaryIs>");
                ring_kml(&mut out, hole);
                out.push_str("</innerBoundaryIs>");
            }
            out.push_str("</Polygon>");
        }
        out.push_str("</MultiGeometry></Placemark>");
    }
    out.push_str("</Document></kml>\n");
    out
}

/// KMZ: the KML as `doc.kml` in a zip archive, deflated at level 6: a KMZ is
/// a download, so size wins (docs/perf.md: 39% smaller than level 1 for 5 ms
/// more per page).
///
/// # Errors
/// Writing the archive failed (in memory, so only on a bug).
pub fn kmz(kml: &str) -> Result<Vec<u8>> {
    kmz_at(kml, 6)
}

/// KMZ at a given deflate level (1 fastest .. 9 smallest).
///
/// # Errors
/// As [`kmz`].
pub fn kmz_at(kml: &str, level: i64) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(level));
        zip.start_file("doc.kml", options)
            .map_err(|e| Error::Internal(format!("kmz: {e}")))?;
        zip.write_all(kml.as_bytes())
            .map_err(|e| Error::Internal(format!("kmz: {e}")))?;
        zip.finish()
            .map_err(|e| Error::Internal(format!("kmz: {e}")))?;
    }
    Ok(buf.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed5_matches_the_formatter() {
        for v in [
            0.0,
            -0.000_004,
            0.000_005,
            -0.41748,
            51.879_674,
            -10.5,
            1.999_999_9,
            -179.999_99,
        ] {
            let mut out = String::new();
            super::push_fixed5(&mut out, v);
            let want = format!("{:.5}", (v * 100_000.0_f64).round() / 100_000.0);
            let want = if want == "-0.00000" {
                "0.00000".to_owned()
            } else {
                want
            };
            assert_eq!(out, want, "{v}");
        }
    }
}
