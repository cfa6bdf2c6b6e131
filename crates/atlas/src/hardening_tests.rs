//! Issue 17's import defects: non-finite numbers refused with nothing
//! written, bad stored rows left out and listed, changes read back before they
//! commit, bow-tie regions refused, RFC 4180 CSV; and the bad-inputs corpus
//! (`crates/atlas/tests/bad-inputs/`) through the service.

use super::*;

async fn seeded(demo: usize) -> (tempfile::TempDir, Db, AtlasService) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    let atlas = AtlasService::new(db.clone());
    atlas.seed(demo).await.expect("seed");
    (dir, db, atlas)
}

async fn outlet_count(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outlet")
        .fetch_one(db.pool())
        .await
        .expect("count")
}

const NAN_KML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>Nan FM</name>
<ExtendedData><Data name="kind"><value>radio</value></Data></ExtendedData>
<MultiGeometry><Point><coordinates>-0.41,51.88</coordinates></Point>
<Polygon><outerBoundaryIs><LinearRing><coordinates>-0.5,51.8 nan,51.9 -0.3,51.95 -0.5,51.8</coordinates></LinearRing></outerBoundaryIs></Polygon>
</MultiGeometry></Placemark></Document></kml>"#;

#[tokio::test]
async fn a_kml_with_nan_in_a_reach_is_refused_and_nothing_is_written_even_with_replace() {
    let (_d, db, service) = seeded(100).await;
    let version = service.stored_version().await.expect("version");
    for replace in [false, true] {
        let err = service
            .import_outlets_unchecked("nan.kml", NAN_KML, replace)
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains(
                "placemark 1 (Nan FM), reach polygon 1, outer ring, position 2: NaN, 51.9 is not two finite numbers"
            ),
            "{err}"
        );
        assert_eq!(outlet_count(&db).await, 100, "replace={replace}");
        assert_eq!(service.stored_version().await.expect("version"), version);
    }
    // A restart still loads everything.
    let again = AtlasService::new(db.clone());
    let atlas = again.atlas().await.expect("loads");
    assert_eq!(atlas.outlet_count(), 100);
    assert!(atlas.problems().is_empty());
}

#[tokio::test]
async fn rows_planted_by_sql_are_left_out_and_listed_and_the_rest_of_the_map_loads() {
    let (_d, db, _service) = seeded(100).await;
    let pool = db.pool();
    // What the old KML import stored: NaN written by serde_json as null.
    sqlx::query("UPDATE outlet SET reach_regions = NULL, reach_radius_m = NULL, reach_geometry = $1 WHERE id = (SELECT MIN(id) FROM outlet)")
        .bind(r#"{"type":"Polygon","coordinates":[[[-0.5,51.8],[null,51.9],[-0.3,51.95],[-0.5,51.8]]]}"#)
        .execute(pool)
        .await
        .expect("plant reach");
    sqlx::query("UPDATE outlet SET lon = 1e300 WHERE id = (SELECT MAX(id) FROM outlet)")
        .execute(pool)
        .await
        .expect("plant lon");
    sqlx::query("UPDATE geo_node SET geometry = 'not geojson' WHERE code = 'county:bedfordshire'")
        .execute(pool)
        .await
        .expect("plant boundary");
    // A restart: the map loads without them.
    let again = AtlasService::new(db.clone());
    let atlas = again.atlas().await.expect("the map still loads");
    assert_eq!(atlas.outlet_count(), 98);
    let problems: Vec<String> = atlas
        .problems()
        .iter()
        .map(|p| format!("{} {}: {}", p.table, p.row, p.problem))
        .collect();
    let has = |s: &str| problems.iter().any(|p| p.contains(s));
    assert!(
        has("reach_geometry: not a GeoJSON geometry"),
        "{problems:?}"
    );
    assert!(has("): lon/lat: ") && has("is off the map"), "{problems:?}");
    assert!(
        has("geo_node county:bedfordshire: boundary: not a GeoJSON geometry"),
        "{problems:?}"
    );
    // Bedfordshire's units go with it (their parent is not loaded); the rest stays.
    assert!(
        has("geo_node unit:luton: parent: county:bedfordshire is not loaded"),
        "{problems:?}"
    );
    assert!(atlas.select("county:bedfordshire", "").is_err());
    atlas
        .view("area:london", "", &[], "", None, 10)
        .expect("the rest of the map is served");
    let listed = again
        .data_problems(&platform::Principal::User(model::auth::Me {
            id: 1,
            username: "ann".into(),
            display_name: "Ann".into(),
            role: model::auth::Role::Staff,
        }))
        .await
        .expect("listed");
    assert_eq!(listed.total, atlas.problems().len() as u64);
    assert_eq!(listed.shown, atlas.problems());
    // A region named with the code of a stored row the map left out is
    // refused by name (its row still holds the code), not by the database.
    let taken = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Luton again","code":"unit:luton","parent":"county:hertfordshire"},"geometry":{"type":"Polygon","coordinates":[[[-0.45,51.85],[-0.4,51.85],[-0.4,51.9],[-0.45,51.85]]]}}]}"#;
    let err = again
        .import_regions_unchecked("taken.geojson", taken)
        .await
        .expect_err("taken");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(
        err.to_string().contains("code: unit:luton already exists"),
        "{err}"
    );
    // Known problems do not block a good import.
    let csv = "name,kind,town,lon,lat,audience,reach_regions,reach_km\nGood FM,radio,Leeds,-1.55,53.8,1,,20\n";
    assert_eq!(
        again
            .import_outlets_unchecked("good.csv", csv, false)
            .await
            .expect("import"),
        1
    );
}

#[tokio::test]
async fn a_change_whose_rows_would_not_load_back_is_rolled_back() {
    let (_d, db, service) = seeded(10).await;
    let version = service.stored_version().await.expect("version");
    let bad = NewOutlet {
        name: "Off The Map".into(),
        kind: OutletKind::Radio,
        town: String::new(),
        lon: 500.0,
        lat: 51.0,
        audience: 1,
        reach: Reach::Circle { radius_km: 5.0 },
        source: "test".into(),
    };
    let err = service
        .insert_outlets(&[bad], true)
        .await
        .expect_err("rolled back");
    assert!(err.to_string().contains("would not load back"), "{err}");
    assert!(
        err.to_string().contains("(Off The Map): lon/lat: 500, 51"),
        "{err}"
    );
    assert_eq!(outlet_count(&db).await, 10);
    assert_eq!(service.stored_version().await.expect("version"), version);
}

#[tokio::test]
async fn a_bow_tie_region_is_refused_with_where_it_crosses() {
    let (_d, _db, service) = seeded(0).await;
    let bow = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Bow Tie","parent":"county:bedfordshire"},"geometry":{"type":"Polygon","coordinates":[[[-0.5,51.8],[-0.3,51.95],[-0.3,51.8],[-0.5,51.95],[-0.5,51.8]]]}}]}"#;
    let err = service
        .import_regions_unchecked("bow.geojson", bow)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains(
            "feature 1 (Bow Tie), geometry: polygon 1, outer ring crosses itself near -0.40000, 51.87500 (edges 1 and 3)"
        ),
        "{err}"
    );
    assert!(service
        .atlas()
        .await
        .expect("atlas")
        .select("unit:bow-tie", "")
        .is_err());
}

#[tokio::test]
async fn a_quoted_line_break_in_a_csv_field_imports() {
    let (_d, _db, service) = seeded(0).await;
    let csv = "name,kind,town,lon,lat,audience,reach_regions,reach_km\r\n\
               \"Luton\nHerald\",newspaper,Luton,-0.4175,51.8797,\"12,000\",\"unit:luton;\ncounty:bedfordshire\",\r\n\
               Chiltern FM,radio,Luton,-0.4175,51.8797,50000,,35\r\n";
    assert_eq!(
        service
            .import_outlets_unchecked("q.csv", csv, true)
            .await
            .expect("imports"),
        2
    );
    let atlas = service.atlas().await.expect("atlas");
    let herald = atlas
        .outlets
        .iter()
        .find(|o| o.name == "Luton Herald")
        .expect("the name's line break became a space");
    assert_eq!(herald.audience, 12_000);
    assert_eq!(
        herald.reach,
        Reach::Regions(vec!["unit:luton".into(), "county:bedfordshire".into()])
    );
}

#[derive(serde::Deserialize)]
struct Case {
    file: Option<String>,
    import: String,
    #[serde(default)]
    replace: bool,
    outcome: String,
    #[serde(default)]
    says: Vec<String>,
    outlets: Option<usize>,
}

#[tokio::test]
async fn the_bad_inputs_corpus_through_the_service() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("expected.json")).expect("manifest"),
    )
    .expect("json");
    let cases: Vec<Case> = serde_json::from_value(manifest["cases"].clone()).expect("cases");
    let (_d, db, service) = seeded(50).await;
    let mut failures = Vec::new();
    // Generated cases are run by the server's corpus test.
    for case in cases.iter().filter(|c| c.file.is_some()) {
        let file = case.file.as_deref().unwrap_or_default();
        let bytes = std::fs::read(root.join(file)).expect("file");
        let Ok(text) = String::from_utf8(bytes) else {
            // Refused at the edges (the CLI and the form) before the service.
            assert!(case.says.iter().any(|s| s.contains("UTF-8")), "{file}");
            continue;
        };
        let before = (
            outlet_count(&db).await,
            service.stored_version().await.expect("v"),
        );
        let result = match case.import.as_str() {
            "outlets" => {
                service
                    .import_outlets_unchecked(file, &text, case.replace)
                    .await
            }
            _ => service.import_regions_unchecked(file, &text).await,
        };
        match (case.outcome.as_str(), result) {
            ("imported", Ok(n)) if Some(n) == case.outlets => {}
            ("refused", Err(Error::Invalid(problems))) => {
                let msg = problems.to_string();
                for s in &case.says {
                    if !msg.contains(s.as_str()) {
                        failures.push(format!("{file}: lacks {s:?}:\n{msg}"));
                    }
                }
                let after = (
                    outlet_count(&db).await,
                    service.stored_version().await.expect("v"),
                );
                if after != before {
                    failures.push(format!("{file}: wrote something"));
                }
            }
            (want, got) => failures.push(format!("{file}: expected {want}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let atlas = AtlasService::new(db.clone()).atlas().await.expect("loads");
    assert!(atlas.problems().is_empty(), "{:?}", atlas.problems());
}
