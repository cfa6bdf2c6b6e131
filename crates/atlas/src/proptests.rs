//! Property tests of the three outlet importers (CSV, GeoJSON, KML): a file
//! made of mostly valid outlets, sometimes with one bad value injected, is
//! either refused with a problem naming the outlet's place and the field
//! (nothing written), or committed, loadable with no data problem, and
//! exported exactly as given (names, kinds, towns, audiences, homes and
//! polygon reaches at the export's 5 decimals); the export imports back and
//! exports the same again. Cases: `PROPTEST_CASES` (default 32 per format);
//! the test prints how many ran and how long they took.

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};

use super::*;

#[derive(Clone, Debug)]
enum GenReach {
    Km(f64),
    Region(&'static str),
    /// A counter-clockwise rectangle around the home, this many degrees wide.
    Square(f64),
}

#[derive(Clone, Debug)]
struct GenOutlet {
    name: String,
    kind: OutletKind,
    town: String,
    lon: f64,
    lat: f64,
    audience: i64,
    reach: GenReach,
}

/// One bad value: which outlet, which field, what text.
#[derive(Clone, Debug)]
struct Bad {
    outlet: usize,
    field: &'static str,
    value: &'static str,
}

fn text() -> impl Strategy<Value = String> {
    // Letters plus what CSV, JSON and XML must escape.
    proptest::collection::vec(
        prop::sample::select(vec![
            'A', 'b', 'z', ' ', '&', '<', '>', '"', '\'', ',', ';', 'é', '9',
        ]),
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>())
}

fn outlet() -> impl Strategy<Value = GenOutlet> {
    (
        text(),
        prop::sample::select(OutletKind::ALL.to_vec()),
        text(),
        -5.0..1.0f64,
        50.5..55.0f64,
        0..1_000_000_000i64,
        prop_oneof![
            (10..2000u32).prop_map(|d| GenReach::Km(f64::from(d) / 10.0)),
            prop::sample::select(vec!["unit:luton", "county:bedfordshire", "area:london"])
                .prop_map(GenReach::Region),
            (5..50u32).prop_map(|c| GenReach::Square(f64::from(c) / 100.0)),
        ],
    )
        .prop_map(|(name, kind, town, lon, lat, audience, reach)| GenOutlet {
            // Never empty: a prefix that says which this is.
            // Runs of spaces are stored as one (documented), so none are made.
            name: format!("Outlet {name}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            kind,
            town: town.split_whitespace().collect::<Vec<_>>().join(" "),
            lon: (lon * 1e5).round() / 1e5,
            lat: (lat * 1e5).round() / 1e5,
            audience,
            reach,
        })
}

fn bad() -> impl Strategy<Value = Option<Bad>> {
    let values = prop::sample::select(vec![
        ("lon", "nan"),
        ("lon", "inf"),
        ("lon", "1e400"),
        ("lon", "200"),
        ("lat", "91"),
        ("lat", "-inf"),
        ("audience", "-1"),
        ("audience", "99999999999"),
        ("audience", "1e400"),
        ("reach_km", "nan"),
        ("reach_km", "0"),
        ("reach_km", "501"),
        ("reach", "nan"),
        ("kind", "zeppelin"),
        ("name", ""),
    ]);
    prop_oneof![
        3 => Just(None),
        1 => (0..4usize, values).prop_map(|(outlet, (field, value))| Some(Bad { outlet, field, value })),
    ]
}

fn square(o: &GenOutlet, w: f64) -> Vec<(f64, f64)> {
    let r = |v: f64| (v * 1e5).round() / 1e5;
    let (x0, y0, x1, y1) = (r(o.lon - w), r(o.lat - w), r(o.lon + w), r(o.lat + w));
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
}

#[derive(Clone, Copy, Debug)]
enum Fmt {
    Csv,
    GeoJson,
    Kml,
}

/// The file, with `bad` injected. CSV cannot carry polygons: a square is a
/// radius there.
#[allow(clippy::too_many_lines)]
fn write(fmt: Fmt, outlets: &[GenOutlet], bad: Option<&Bad>) -> String {
    let val = |i: usize, field: &str, good: String| -> String {
        match bad {
            Some(b) if b.outlet == i && b.field == field => b.value.to_owned(),
            _ => good,
        }
    };
    match fmt {
        Fmt::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "name",
                "kind",
                "town",
                "lon",
                "lat",
                "audience",
                "reach_regions",
                "reach_km",
            ])
            .expect("csv");
            for (i, o) in outlets.iter().enumerate() {
                let (regions, km) = match o.reach {
                    GenReach::Region(c) => (c.to_owned(), String::new()),
                    GenReach::Km(k) => (String::new(), k.to_string()),
                    GenReach::Square(w) => (String::new(), (w * 100.0).to_string()),
                };
                let km = if km.is_empty() {
                    km
                } else {
                    val(i, "reach_km", km)
                };
                w.write_record([
                    val(i, "name", o.name.clone()),
                    val(i, "kind", o.kind.as_str().to_owned()),
                    o.town.clone(),
                    val(i, "lon", o.lon.to_string()),
                    val(i, "lat", o.lat.to_string()),
                    val(i, "audience", o.audience.to_string()),
                    regions,
                    km,
                ])
                .expect("csv");
            }
            String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
        }
        Fmt::GeoJson => {
            let js = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
            let features: Vec<String> = outlets
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let mut props = format!(
                        r#""name":{},"kind":{},"town":{},"audience":{}"#,
                        js(&val(i, "name", o.name.clone())),
                        js(&val(i, "kind", o.kind.as_str().to_owned())),
                        js(&o.town),
                        js(&val(i, "audience", o.audience.to_string())),
                    );
                    let home = format!(
                        r#"{{"type":"Point","coordinates":[{},{}]}}"#,
                        val(i, "lon", o.lon.to_string()),
                        val(i, "lat", o.lat.to_string())
                    );
                    let geometry = match o.reach {
                        GenReach::Km(k) => {
                            props.push_str(&format!(r#","reach_km":{}"#, js(&val(i, "reach_km", k.to_string()))));
                            home
                        }
                        GenReach::Region(c) => {
                            props.push_str(&format!(r#","reach_regions":{}"#, js(c)));
                            home
                        }
                        GenReach::Square(w) => {
                            let ring: Vec<String> = square(o, w)
                                .iter()
                                .enumerate()
                                .map(|(n, (x, y))| {
                                    let x = if n == 1 { val(i, "reach", x.to_string()) } else { x.to_string() };
                                    format!("[{x},{y}]")
                                })
                                .collect();
                            format!(
                                r#"{{"type":"GeometryCollection","geometries":[{home},{{"type":"Polygon","coordinates":[[{}]]}}]}}"#,
                                ring.join(",")
                            )
                        }
                    };
                    format!(r#"{{"type":"Feature","properties":{{{props}}},"geometry":{geometry}}}"#)
                })
                .collect();
            format!(
                r#"{{"type":"FeatureCollection","features":[{}]}}"#,
                features.join(",")
            )
        }
        Fmt::Kml => {
            let x = |s: &str| quick_xml::escape::escape(s).into_owned();
            let mut out = String::from(
                r#"<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>"#,
            );
            for (i, o) in outlets.iter().enumerate() {
                let data = |k: &str, v: String| {
                    format!(r#"<Data name="{k}"><value>{}</value></Data>"#, x(&v))
                };
                out.push_str(&format!(
                    "<Placemark><name>{}</name><ExtendedData>",
                    x(&val(i, "name", o.name.clone()))
                ));
                out.push_str(&data("kind", val(i, "kind", o.kind.as_str().to_owned())));
                out.push_str(&data("town", o.town.clone()));
                out.push_str(&data(
                    "audience",
                    val(i, "audience", o.audience.to_string()),
                ));
                let mut polys = String::new();
                match o.reach {
                    GenReach::Km(k) => {
                        out.push_str(&data("reach_km", val(i, "reach_km", k.to_string())));
                    }
                    GenReach::Region(c) => out.push_str(&data("reach_regions", c.to_owned())),
                    GenReach::Square(w) => {
                        let ring: Vec<String> = square(o, w)
                            .iter()
                            .enumerate()
                            .map(|(n, (px, py))| {
                                let px = if n == 1 {
                                    val(i, "reach", px.to_string())
                                } else {
                                    px.to_string()
                                };
                                format!("{px},{py}")
                            })
                            .collect();
                        polys = format!(
                            "<Polygon><outerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></outerBoundaryIs></Polygon>",
                            ring.join(" ")
                        );
                    }
                }
                out.push_str(&format!(
                    "</ExtendedData><MultiGeometry><Point><coordinates>{},{}</coordinates></Point>{polys}</MultiGeometry></Placemark>",
                    val(i, "lon", o.lon.to_string()),
                    val(i, "lat", o.lat.to_string())
                ));
            }
            out.push_str("</Document></kml>");
            out
        }
    }
}

/// The fields a problem about `bad` may name (CSV names a coordinate that is
/// not a number by its column, one out of range as the pair).
fn fields_named(bad: &Bad) -> Vec<&'static str> {
    match bad.field {
        f @ ("lon" | "lat") => vec![f, "lon/lat"],
        "reach" => vec!["reach polygon 1, outer ring, position 2"],
        f => vec![f],
    }
}

/// A feature as compared: its properties and home as text, its reach's rings.
type Feature = (String, Vec<Vec<(f64, f64)>>);

/// An export's features without their ids, sorted by their properties: the
/// properties as text, and the reach's rings.
fn exported(atlas: &Atlas) -> Vec<Feature> {
    let sel = atlas.select("", "").expect("all");
    let list = atlas.outlets_in(&sel);
    let text = export::geojson(atlas, &list);
    let v: serde_json::Value = serde_json::from_str(&text).expect("export parses");
    let mut features: Vec<Feature> = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let mut p = f["properties"].clone();
            // An imported polygon wins over the prose: a circle comes back as
            // "a drawn area" of the same polygons.
            if let Some(p) = p.as_object_mut() {
                for k in ["reach", "reach_km", "reach_regions"] {
                    p.remove(k);
                }
            }
            let g = &f["geometry"]["geometries"];
            let rings = g[1]["coordinates"]
                .as_array()
                .map(|polys| {
                    polys
                        .iter()
                        .flat_map(|p| p.as_array().cloned().unwrap_or_default())
                        .map(|r| {
                            r.as_array()
                                .map(|r| {
                                    r.iter()
                                        .map(|c| {
                                            (
                                                c[0].as_f64().unwrap_or(f64::NAN),
                                                c[1].as_f64().unwrap_or(f64::NAN),
                                            )
                                        })
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default();
            (format!("{p}|{}", g[0]["coordinates"]), rings)
        })
        .collect();
    features.sort_by(|a, b| a.0.cmp(&b.0));
    features
}

/// How far each vertex of `a` is from `b`'s rings, at most.
fn farthest(a: &[Vec<(f64, f64)>], b: &[Vec<(f64, f64)>]) -> f64 {
    use ::geo::{Distance as _, Euclidean};
    let rings: Vec<::geo::LineString<f64>> = b.iter().map(|r| r.clone().into()).collect();
    a.iter()
        .flatten()
        .map(|&(x, y)| {
            let p = ::geo::Point::new(x, y);
            rings
                .iter()
                .map(|r| Euclidean.distance(&p, r))
                .fold(f64::INFINITY, f64::min)
        })
        .fold(0.0, f64::max)
}

/// A second export equals the first: the same properties and homes exactly,
/// the same reach within the map's simplification (each load simplifies an
/// imported polygon again, which may drop a corner within tolerance).
fn same_export(first: &[Feature], again: &[Feature]) -> std::result::Result<(), TestCaseError> {
    let keys = |v: &[Feature]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    prop_assert_eq!(keys(again), keys(first));
    let tolerance = SIMPLIFY_DEGREES / 2.0 + 2e-5;
    for (a, b) in first.iter().zip(again) {
        prop_assert_eq!(a.1.is_empty(), b.1.is_empty());
        if !a.1.is_empty() {
            let d = farthest(&a.1, &b.1).max(farthest(&b.1, &a.1));
            prop_assert!(d <= tolerance, "{}: reach moved {d} degrees", a.0);
        }
    }
    Ok(())
}

fn check_export(
    fmt: Fmt,
    outlets: &[GenOutlet],
    atlas: &Atlas,
) -> std::result::Result<(), TestCaseError> {
    let sel = atlas.select("", "").expect("all");
    let text = export::geojson(atlas, &atlas.outlets_in(&sel));
    let v: serde_json::Value = serde_json::from_str(&text).expect("export parses");
    let features = v["features"].as_array().expect("features");
    prop_assert_eq!(features.len(), outlets.len());
    let mut want: Vec<String> = outlets
        .iter()
        .map(|o| {
            let reach = match (fmt, &o.reach) {
                (_, GenReach::Region(c)) => atlas.nodes[atlas.by_code[*c]].name.clone(),
                (Fmt::Csv, GenReach::Square(w)) => format!("{:.0} km around {}", w * 100.0, o.town),
                (_, GenReach::Km(k)) => format!("{k:.0} km around {}", o.town),
                (_, GenReach::Square(_)) => "a drawn area".into(),
            };
            let square = match (fmt, &o.reach) {
                (Fmt::GeoJson | Fmt::Kml, GenReach::Square(w)) => format!(
                    "{:?}",
                    square(o, *w)
                        .iter()
                        .map(|(x, y)| (format!("{x:.5}"), format!("{y:.5}")))
                        .collect::<Vec<_>>()
                ),
                _ => String::new(),
            };
            format!(
                "{}|{}|{}|{}|{:.5}|{:.5}|{reach}|{square}",
                o.name,
                o.kind.as_str(),
                o.town,
                o.audience,
                o.lon,
                o.lat
            )
        })
        .collect();
    let mut got: Vec<String> = features
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let g = &f["geometry"]["geometries"];
            let home = &g[0]["coordinates"];
            let square = if p["reach"] == "a drawn area" {
                let ring = g[1]["coordinates"][0][0].as_array().expect("ring");
                format!(
                    "{:?}",
                    ring.iter()
                        .map(|c| (
                            format!("{:.5}", c[0].as_f64().unwrap_or_default()),
                            format!("{:.5}", c[1].as_f64().unwrap_or_default())
                        ))
                        .collect::<Vec<_>>()
                )
            } else {
                String::new()
            };
            format!(
                "{}|{}|{}|{}|{:.5}|{:.5}|{}|{square}",
                p["name"].as_str().unwrap_or_default(),
                p["kind"].as_str().unwrap_or_default(),
                p["town"].as_str().unwrap_or_default(),
                p["audience"],
                home[0].as_f64().unwrap_or_default(),
                home[1].as_f64().unwrap_or_default(),
                p["reach"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    prop_assert_eq!(got, want);
    Ok(())
}

#[test]
fn importers_refuse_with_a_named_problem_or_commit_what_exports_back_identically() {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let service = rt.block_on(async {
        let url = platform::testing::database_url(dir.path()).await;
        let db = Db::connect(&url).await.expect("connect");
        let s = AtlasService::new(db);
        s.seed(0).await.expect("seed");
        s
    });
    let started = std::time::Instant::now();
    let mut report = Vec::new();
    for fmt in [Fmt::Csv, Fmt::GeoJson, Fmt::Kml] {
        let ran = std::cell::Cell::new(0u32);
        let refused = std::cell::Cell::new(0u32);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(
            &(proptest::collection::vec(outlet(), 1..5), bad()),
            |(outlets, bad)| {
                ran.set(ran.get() + 1);
                // Only a field the outlet has in this format can be spoiled.
                let bad = bad.filter(|b| {
                    outlets
                        .get(b.outlet)
                        .is_some_and(|o| match (b.field, &o.reach) {
                            ("reach", GenReach::Square(_)) => !matches!(fmt, Fmt::Csv),
                            ("reach", _) => false,
                            ("reach_km", GenReach::Km(_)) => true,
                            ("reach_km", GenReach::Square(_)) => matches!(fmt, Fmt::Csv),
                            ("reach_km", _) => false,
                            _ => true,
                        })
                });
                let file = write(fmt, &outlets, bad.as_ref());
                let name = match fmt {
                    Fmt::Csv => "p.csv",
                    Fmt::GeoJson => "p.geojson",
                    Fmt::Kml => "p.kml",
                };
                rt.block_on(async {
                    let version = service.stored_version().await.expect("version");
                    let result = service.import_outlets_unchecked(name, &file, true).await;
                    match (&bad, result) {
                        (Some(b), Err(Error::Invalid(problems))) => {
                            let msg = problems.to_string();
                            refused.set(refused.get() + 1);
                            let place = match fmt {
                                Fmt::Csv => format!("line {}", b.outlet + 2),
                                Fmt::GeoJson => format!("feature {}", b.outlet + 1),
                                Fmt::Kml => format!("placemark {}", b.outlet + 1),
                            };
                            let fields = fields_named(b);
                            // The 1e400 in JSON fails the parse, which says where.
                            let json_number = matches!(fmt, Fmt::GeoJson)
                                && !["audience", "name", "kind", "reach_km"].contains(&b.field)
                                && ["nan", "inf", "1e400", "-inf"].contains(&b.value);
                            prop_assert!(
                                json_number && msg.contains("line 1 column")
                                    || msg.lines().any(|l| l.starts_with(&place)
                                        && fields.iter().any(|f| l.contains(&format!(", {f}")))),
                                "{place} / {fields:?} not named in:\n{msg}\n{file}"
                            );
                            prop_assert_eq!(
                                service.stored_version().await.expect("version"),
                                version
                            );
                        }
                        (Some(b), other) => {
                            prop_assert!(false, "{b:?} was not refused: {other:?}\n{file}");
                        }
                        (None, Ok(n)) => {
                            prop_assert_eq!(n, outlets.len());
                            let atlas = service.atlas().await.expect("atlas");
                            prop_assert!(atlas.problems().is_empty());
                            check_export(fmt, &outlets, &atlas)?;
                            // The export imports back and exports the same.
                            let first = exported(&atlas);
                            let sel = atlas.select("", "").expect("all");
                            let text = export::geojson(&atlas, &atlas.outlets_in(&sel));
                            service
                                .import_outlets_unchecked("again.geojson", &text, true)
                                .await
                                .map_err(|e| TestCaseError::fail(format!("re-import: {e}")))?;
                            let again = service.atlas().await.expect("atlas");
                            same_export(&first, &exported(&again))?;
                        }
                        (None, Err(e)) => {
                            prop_assert!(false, "a good file was refused: {e}\n{file}");
                        }
                    }
                    Ok(())
                })
            },
        );
        if let Err(e) = result {
            panic!("{fmt:?}: {e}");
        }
        assert_eq!(ran.get(), cases, "{fmt:?}: every case ran");
        report.push(format!(
            "{fmt:?}: {} cases ({} refused)",
            ran.get(),
            refused.get()
        ));
    }
    println!(
        "importer property: {} in {:.1} s",
        report.join(", "),
        started.elapsed().as_secs_f64()
    );
}
