//! The shipped dataset, seeding, the tree, statistics and the page writers, on
//! the test run's database.

use super::*;

async fn seeded() -> (tempfile::TempDir, Db, AtlasService) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    let atlas = AtlasService::new(db.clone());
    atlas.seed(3000).await.expect("seed");
    (dir, db, atlas)
}

#[test]
fn the_shipped_tree_has_12_areas_their_counties_and_232_units() {
    let shipped = dataset::shipped().expect("shipped");
    let count = |l: Level| shipped.nodes.iter().filter(|n| n.level == l).count();
    assert_eq!(count(Level::Area), 12);
    assert_eq!(count(Level::Unit), 232);
    assert!(
        (60..=75).contains(&count(Level::County)),
        "{}",
        count(Level::County)
    );
    let east: Vec<&str> = shipped
        .nodes
        .iter()
        .filter(|n| n.parent.as_deref() == Some("area:east-of-england"))
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(
        east,
        [
            "Bedfordshire",
            "Cambridgeshire",
            "Essex",
            "Hertfordshire",
            "Norfolk",
            "Suffolk"
        ]
    );
    let codes: HashSet<&str> = shipped.nodes.iter().map(|n| n.code.as_str()).collect();
    for n in &shipped.nodes {
        if let Some(p) = &n.parent {
            assert!(
                codes.contains(p.as_str()),
                "{} has unknown parent {p}",
                n.code
            );
        }
        assert!(!n.geometry.0.is_empty(), "{} has no boundary", n.code);
    }
    assert!(shipped.towns.len() > 4000, "{}", shipped.towns.len());
}

#[test]
fn dissolved_areas_keep_the_area_of_their_units() {
    let shipped = dataset::shipped().expect("shipped");
    let area = |code: &str| {
        shipped
            .nodes
            .iter()
            .find(|n| n.code == code)
            .expect(code)
            .geometry
            .geodesic_area_unsigned()
            / 1e6
    };
    let units: f64 = shipped
        .nodes
        .iter()
        .filter(|n| n.level == Level::Unit)
        .filter(|n| {
            shipped
                .nodes
                .iter()
                .find(|c| Some(&c.code) == n.parent.as_ref())
                .and_then(|c| c.parent.as_deref())
                == Some("area:east-of-england")
        })
        .map(|n| n.geometry.geodesic_area_unsigned() / 1e6)
        .sum();
    let east = area("area:east-of-england");
    // ONS: 19,116 km2 for the East of England; Natural Earth is coarse.
    assert!((17_500.0..21_000.0).contains(&east), "{east}");
    assert!(
        (east - units).abs() / units < 0.001,
        "dissolved {east} vs units {units}"
    );
}

#[tokio::test]
async fn seeding_is_idempotent_deterministic_and_versioned() {
    let (_d1, db1, a1) = seeded().await;
    let v1 = a1.stored_version().await.expect("version");
    assert_eq!(v1.len(), 16);
    a1.seed(3000).await.expect("seed again");
    assert_eq!(
        a1.stored_version().await.expect("version"),
        v1,
        "a second seed changes nothing"
    );
    let atlas = a1.atlas().await.expect("atlas");
    assert_eq!(atlas.outlet_count(), 3000);
    assert!(atlas.has_demo());
    assert_eq!(atlas.version(), v1);
    // Another database seeded from scratch gets the same data, so the same version.
    let (_d2, _db2, a2) = seeded().await;
    assert_eq!(a2.stored_version().await.expect("version"), v1);
    // A change to the outlets moves the version on.
    let extra = NewOutlet {
        name: "Test Post".into(),
        kind: OutletKind::Newspaper,
        town: "Luton".into(),
        lon: -0.41748,
        lat: 51.87967,
        audience: 1000,
        reach: Reach::Regions(vec!["unit:luton".into()]),
        source: "test".into(),
    };
    a1.insert_outlets(&[extra], false).await.expect("insert");
    let v2 = a1.stored_version().await.expect("version");
    assert_ne!(v2, v1);
    assert_eq!(a1.atlas().await.expect("atlas").version(), v2);
    db1.close().await;
}

#[tokio::test]
async fn a_selection_has_a_title_bounds_statistics_and_outlets() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let sel = atlas.select("county:bedfordshire", "").expect("select");
    assert_eq!(atlas.title(&sel), "Bedfordshire");
    let [w, s, e, n] = atlas.bounds(&sel);
    assert!(w > -0.8 && w < -0.6 && e > -0.25 && e < 0.1, "{w} {e}");
    assert!(s > 51.7 && s < 51.9 && n > 52.2 && n < 52.4, "{s} {n}");
    let stats = atlas.stats(&sel);
    // Luton, Bedford, Dunstable, Leighton Buzzard... in GeoNames.
    assert!(stats.population > 300_000, "{stats:?}");
    assert!((1_100.0..1_350.0).contains(&stats.area_km2), "{stats:?}");
    let outlets = atlas.outlets_in(&sel);
    assert_eq!(
        stats.outlets_by_kind.iter().sum::<u32>() as usize,
        outlets.len()
    );
    assert!(outlets.windows(2).all(|w| w[0].audience >= w[1].audience));
    // A kind filter narrows the list, not the statistics.
    let radio = atlas
        .select("county:bedfordshire", "radio")
        .expect("select");
    assert!(atlas
        .outlets_in(&radio)
        .iter()
        .all(|o| o.kind == OutletKind::Radio));
    assert_eq!(
        atlas.outlets_in(&radio).len() as u32,
        stats.outlets_by_kind[1]
    );
    // A unit inside a selected county adds nothing twice.
    let both = atlas
        .select("county:bedfordshire,unit:luton", "")
        .expect("select");
    assert_eq!(atlas.stats(&both), stats);
    assert_eq!(atlas.title(&both), "Bedfordshire and Luton");
    // Everything: the UK.
    let all = atlas.select("", "").expect("all");
    assert_eq!(atlas.title(&all), "United Kingdom");
    assert_eq!(atlas.outlets_in(&all).len(), 3000);
}

#[tokio::test]
async fn bad_selections_are_refused_by_name() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let err = atlas.select("county:atlantis", "").expect_err("unknown");
    assert!(err.to_string().contains("county:atlantis"), "{err}");
    let err = atlas.select("", "radio,carrier-pigeon").expect_err("kind");
    assert!(err.to_string().contains("carrier-pigeon"), "{err}");
    let many: Vec<String> = atlas
        .nodes
        .iter()
        .take(51)
        .map(|n| n.code.clone())
        .collect();
    assert!(atlas.select(&many.join(","), "").is_err());
}

#[tokio::test]
async fn the_tree_opens_along_the_selection_and_filters_by_name() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let sel = atlas.select("unit:luton", "").expect("select");
    let tree = atlas.tree(&sel, &[], "");
    assert_eq!(tree.len(), 12);
    let east = tree
        .iter()
        .find(|n| n.code == "area:east-of-england")
        .expect("east");
    assert!(east.open);
    let beds = east
        .children
        .iter()
        .find(|n| n.name == "Bedfordshire")
        .expect("beds");
    assert!(beds.open);
    let luton = beds
        .children
        .iter()
        .find(|n| n.code == "unit:luton")
        .expect("luton");
    assert!(luton.selected && !luton.has_children);
    assert!(tree
        .iter()
        .filter(|n| n.code != east.code)
        .all(|n| !n.open && n.children.is_empty()));
    assert_eq!(
        east.outlets,
        east.children.iter().map(|c| c.outlets).sum::<u32>()
    );

    let none = atlas.select("", "").expect("select");
    let found = atlas.tree(&none, &[], "BEDFORD");
    assert_eq!(found.len(), 1, "{found:?}");
    let names: Vec<&str> = found[0].children[0]
        .children
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["Bedford", "Central Bedfordshire"]);
    assert!(atlas.tree(&none, &[], "no such place").is_empty());
}

#[tokio::test]
async fn pages_hold_250_features_in_geojson_kml_and_kmz() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let sel = atlas.select("area:east-of-england", "").expect("select");
    let total = atlas.outlets_in(&sel).len();
    assert!(total > 250, "{total}");
    let index = export::index(&atlas, &sel, 250, "/api/features").expect("index");
    assert_eq!(index.total as usize, total);
    assert_eq!(index.pages.len(), total.div_ceil(250));
    assert!(index.pages[0]
        .geojson
        .starts_with("/api/features/1.geojson?sel=area:east-of-england&v="));

    let first = export::page(&atlas, &sel, 1, 250).expect("page 1");
    assert_eq!(first.len(), 250);
    let doc: serde_json::Value =
        serde_json::from_str(&export::geojson(&atlas, &first)).expect("valid JSON");
    assert_eq!(doc["features"].as_array().map(Vec::len), Some(250));
    let g = &doc["features"][0]["geometry"]["geometries"];
    assert_eq!(g[0]["type"], "Point");
    assert_eq!(g[1]["type"], "MultiPolygon");
    let parsed: geojson::GeoJson = export::geojson(&atlas, &first).parse().expect("GeoJSON");
    assert!(matches!(parsed, geojson::GeoJson::FeatureCollection(_)));

    let last = export::page(&atlas, &sel, index.pages.len() as u32, 250).expect("last page");
    assert_eq!(last.len(), total - 250 * (index.pages.len() - 1));
    let err = export::page(&atlas, &sel, 99, 250).expect_err("out of range");
    assert!(
        err.to_string()
            .contains(&format!("it has {} pages", index.pages.len())),
        "{err}"
    );
    assert!(matches!(
        export::page(&atlas, &sel, 1, 0),
        Err(Error::Invalid(_))
    ));

    // KML parses back: one Placemark per outlet, names escaped.
    let kml = export::kml(&atlas, "East & co", &first);
    let mut reader = quick_xml::Reader::from_str(&kml);
    let (mut placemarks, mut depth) = (0, 0i32);
    loop {
        match reader.read_event().expect("well-formed KML") {
            quick_xml::events::Event::Start(e) => {
                depth += 1;
                if e.name().as_ref() == b"Placemark" {
                    placemarks += 1;
                }
            }
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((placemarks, depth), (250, 0));
    assert!(kml.contains("<name>East &amp; co</name>"));

    let kmz = export::kmz(&kml).expect("kmz");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(kmz)).expect("zip");
    let mut inner = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("doc.kml").expect("doc.kml"), &mut inner)
        .expect("read");
    assert_eq!(inner, kml);
}

#[tokio::test]
async fn a_radio_outlet_reaches_land_within_its_circle() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let radio = atlas
        .outlets
        .iter()
        .find(|o| {
            matches!(o.reach, Reach::Circle { radius_km } if radius_km > 30.0)
                && o.town == "Bedford"
        })
        .or_else(|| {
            atlas
                .outlets
                .iter()
                .find(|o| matches!(o.reach, Reach::Circle { radius_km } if radius_km > 30.0))
        })
        .expect("a radio outlet");
    let Reach::Circle { radius_km } = radio.reach else {
        unreachable!()
    };
    let stats = atlas.reach_stats(radio);
    let disc = std::f64::consts::PI * radius_km * radius_km;
    assert!(
        stats.area_km2 > 0.0 && stats.area_km2 <= disc * 1.02,
        "{} vs {disc}",
        stats.area_km2
    );
    assert!(stats.population > 0 && stats.towns > 0, "{stats:?}");
    assert!(atlas.summary(radio).reach.contains("km around"));
}

fn staff() -> platform::Principal {
    platform::Principal::User(model::auth::Me {
        id: 1,
        username: "ann".into(),
        display_name: "Ann".into(),
        role: model::auth::Role::Staff,
    })
}

#[tokio::test]
async fn a_good_csv_imports_and_moves_the_version_on() {
    let (_d, _db, service) = seeded().await;
    let before = service.stored_version().await.expect("version");
    let csv = "name,kind,town,lon,lat,audience,reach_regions,reach_km\n\
               Luton Herald,newspaper,Luton,-0.41748,51.87967,\"12,000\",unit:luton;county:bedfordshire,\n\
               \"Chiltern FM, Luton\",radio,Luton,-0.41748,51.87967,50000,,35.5\n";
    let n = service
        .import_outlets(&staff(), "real.csv", csv, false)
        .await
        .expect("import");
    assert_eq!(n, 2);
    let atlas = service.atlas().await.expect("atlas");
    assert_eq!(atlas.outlet_count(), 3002);
    assert_ne!(atlas.version(), before);
    let radio = atlas
        .outlets
        .iter()
        .find(|o| o.name == "Chiltern FM, Luton")
        .expect("imported");
    assert_eq!(radio.reach, Reach::Circle { radius_km: 35.5 });
    assert_eq!(radio.source, "import:real.csv");
    // Replacing: only the file's outlets remain, and the demo label goes.
    service
        .import_outlets(&staff(), "real.csv", csv, true)
        .await
        .expect("replace");
    let atlas = service.atlas().await.expect("atlas");
    assert_eq!(atlas.outlet_count(), 2);
    assert!(!atlas.has_demo());
}

#[tokio::test]
async fn a_bad_file_is_refused_whole_with_every_problem_named() {
    let (_d, _db, service) = seeded().await;
    let before = service.stored_version().await.expect("version");
    let csv = "name,kind,town,lon,lat,audience,reach_regions,reach_km\n\
               Good Gazette,newspaper,Luton,-0.41,51.88,100,unit:luton,\n\
               ,pigeon,Luton,-0.41,51.88,100,unit:luton,\n\
               Lost FM,radio,Nowhere,151.2,-33.9,x,,30\n\
               Odd Times,newspaper,Luton,-0.41,51.88,100,county:atlantis,\n\
               Both News,online,Luton,-0.41,51.88,1,unit:luton,10\n\
               Short,radio\n";
    let err = service
        .import_outlets(&staff(), "bad.csv", csv, false)
        .await
        .expect_err("refused");
    let msg = err.to_string();
    for expected in [
        "nothing was imported",
        "line 3, name: missing",
        "line 3, kind: \"pigeon\" is not newspaper, radio, tv or online",
        "line 4 (Lost FM), lon/lat: 151.2, -33.9 is not in the UK",
        "line 4 (Lost FM), audience: \"x\" is not a whole number",
        "line 5 (Odd Times), reach_regions: unknown region county:atlantis",
        "line 6 (Both News), reach: give only one of",
        "line 7: 2 fields, the header has 8",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
    assert_eq!(
        service.stored_version().await.expect("version"),
        before,
        "nothing changed"
    );
    assert_eq!(service.atlas().await.expect("atlas").outlet_count(), 3000);

    for (name, text, says) in [
        ("x.geojson", "{\"type\": \"FeatureCollection\", \"features\": [", "not GeoJSON"),
        ("x.geojson", r#"{"type":"Point","coordinates":[0,51]}"#, "not a FeatureCollection"),
        ("x.geojson", r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"A","kind":"tv"},"geometry":{"type":"LineString","coordinates":[[0,51],[1,52]]}}]}"#, "feature 1 (A), geometry: a LineString"),
        ("x.kml", "<kml><Document><Placemark><name>A</name></Document></kml>", "not well-formed KML"),
        ("x.kml", "<kml><Document></Document></kml>", "no Placemark"),
        ("x.kml", "<kml><Placemark><name>B</name><Point><coordinates>north</coordinates></Point></Placemark></kml>", "placemark 1, Point: coordinates \"north\""),
        ("x.shp", "", "expected a .csv, .geojson or .kml file"),
        ("x.csv", "", "the file is empty"),
        ("x.csv", "title,where\n", "no name column"),
    ] {
        let err = service.import_outlets(&staff(), name, text, false).await.expect_err(name);
        assert!(err.to_string().contains(says), "{name}: {err}");
    }
    assert_eq!(service.stored_version().await.expect("version"), before);
}

#[tokio::test]
async fn the_apps_own_geojson_and_kml_pages_import_back() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let sel = atlas.select("unit:luton", "").expect("select");
    let page = export::page(&atlas, &sel, 1, 250).expect("page");
    let geojson = export::geojson(&atlas, &page);
    let kml = export::kml(&atlas, "Luton", &page);
    let n = page.len();
    assert_eq!(
        service
            .import_outlets(&staff(), "luton.geojson", &geojson, true)
            .await
            .expect("geojson"),
        n
    );
    let after = service.atlas().await.expect("atlas");
    assert_eq!(after.outlet_count(), n);
    assert!(after
        .outlets
        .iter()
        .all(|o| matches!(o.reach, Reach::Geometry(_))));
    assert_eq!(
        service
            .import_outlets(&staff(), "luton.kml", &kml, true)
            .await
            .expect("kml"),
        n
    );
    let names = |a: &Atlas| {
        let mut v: Vec<String> = a.outlets.iter().map(|o| o.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&service.atlas().await.expect("atlas")), names(&after));
}

#[tokio::test]
async fn viewers_cannot_import() {
    let (_d, _db, service) = seeded().await;
    let viewer = platform::Principal::User(model::auth::Me {
        id: 2,
        username: "vic".into(),
        display_name: "Vic".into(),
        role: model::auth::Role::Viewer,
    });
    let err = service
        .import_outlets(&viewer, "a.csv", "name,kind,lon,lat\n", false)
        .await
        .expect_err("viewer");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn regions_import_from_geojson_and_kml_into_the_tree_or_not_at_all() {
    let (_d, _db, service) = seeded().await;
    let before = service.stored_version().await.expect("version");
    let square = |x: f64, y: f64| {
        format!(
            "[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]",
            x + 0.1,
            x + 0.1,
            y + 0.1,
            y + 0.1
        )
    };
    let geojson = format!(
        r#"{{"type":"FeatureCollection","features":[
        {{"type":"Feature","properties":{{"name":"Luton Airport Zone","parent":"county:bedfordshire"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}}"#,
        square(-0.4, 51.85)
    );
    assert_eq!(
        service
            .import_regions(&staff(), "zones.geojson", &geojson)
            .await
            .expect("import"),
        1
    );
    let atlas = service.atlas().await.expect("atlas");
    assert_ne!(atlas.version(), before);
    let sel = atlas.select("unit:luton-airport-zone", "").expect("select");
    let tree = atlas.tree(&sel, &[], "");
    let east = tree
        .iter()
        .find(|n| n.code == "area:east-of-england")
        .expect("east");
    let beds = east
        .children
        .iter()
        .find(|n| n.code == "county:bedfordshire")
        .expect("beds");
    assert!(
        beds.children
            .iter()
            .any(|n| n.code == "unit:luton-airport-zone" && n.level == Level::Unit && n.selected),
        "{beds:?}"
    );

    let kml = String::from(
        "<kml><Document><Placemark><name>Fenland Coast</name><ExtendedData><Data name=\"parent\"><value>area:east-of-england</value></Data></ExtendedData>\
         <Polygon><outerBoundaryIs><LinearRing><coordinates>0.1,52.8 0.2,52.8 0.2,52.9 0.1,52.9 0.1,52.8</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>"
    );
    assert_eq!(
        service
            .import_regions(&staff(), "coast.kml", &kml)
            .await
            .expect("kml"),
        1
    );
    assert!(service
        .atlas()
        .await
        .expect("atlas")
        .select("county:fenland-coast", "")
        .is_ok());

    let after = service.stored_version().await.expect("version");
    let bad = format!(
        r#"{{"type":"FeatureCollection","features":[
        {{"type":"Feature","properties":{{"name":"Again","parent":"county:bedfordshire","code":"unit:luton"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
        {{"type":"Feature","properties":{{"name":"Too Deep","parent":"unit:luton"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
        {{"type":"Feature","properties":{{"name":"Sydney","parent":"area:wales"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
        {{"type":"Feature","properties":{{"parent":"area:nowhere"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}}"#,
        square(-0.4, 51.85),
        square(-0.4, 51.85),
        square(151.2, -33.9),
        square(-0.4, 51.85)
    );
    let err = service
        .import_regions(&staff(), "bad.geojson", &bad)
        .await
        .expect_err("refused");
    let msg = err.to_string();
    for expected in [
        "feature 1 (Again), code: unit:luton already exists",
        "feature 2 (Too Deep), parent: unit:luton is a sub-region",
        "feature 3 (Sydney), geometry: polygon 1, outer ring, position 1: 151.2, -33.9 is outside the UK and Ireland",
        "feature 4, name: missing",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
    let err = service
        .import_regions(&staff(), "r.csv", "name\nX\n")
        .await
        .expect_err("csv");
    assert!(err.to_string().contains("GeoJSON or KML"), "{err}");
    assert_eq!(
        service.stored_version().await.expect("version"),
        after,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_outlets_reaching_a_point_are_those_whose_reach_covers_it() {
    let (_d, _db, service) = seeded().await;
    let atlas = service.atlas().await.expect("atlas");
    let luton = (-0.4175, 51.8797);
    let papers = atlas
        .select("area:east-of-england", "newspaper")
        .expect("select");
    let here = atlas.reaching(&papers, luton.0, luton.1);
    assert!(!here.is_empty(), "Luton's newspapers reach Luton");
    for o in &here {
        assert!(
            atlas
                .reach_geometry(o)
                .contains(&Point::new(luton.0, luton.1)),
            "{} does not cover Luton",
            o.name
        );
        assert_eq!(o.kind, OutletKind::Newspaper);
    }
    // Every newspaper based in the area and covering Luton is listed.
    let covering = atlas
        .outlets_in(&papers)
        .into_iter()
        .filter(|o| {
            atlas
                .reach_geometry(o)
                .contains(&Point::new(luton.0, luton.1))
        })
        .count();
    assert_eq!(here.len(), covering);

    // Radio circles reach inland, not out to sea.
    let radio = atlas.select("area:south-west", "radio").expect("select");
    assert!(!atlas.reaching(&radio, -4.05, 50.45).is_empty());
    assert!(atlas.reaching(&radio, -4.15, 50.25).is_empty(), "open sea");
    // The Atlantic: nobody.
    let uk = atlas.select("", "").expect("select");
    assert!(atlas.reaching(&uk, -20.0, 50.0).is_empty());
}
