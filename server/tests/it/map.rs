//! The reach map over HTTP: the page, its server functions and the vector
//! pages, with bad input answered by readable 4xx.

use axum::http::{header, StatusCode};

use crate::util::{app, block_on};

#[test]
fn the_map_page_renders_the_selection_tree_and_figures() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let page = app.get("/map?sel=county:bedfordshire", Some(&staff)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("<h1>Bedfordshire"), "{}", page.body);
        assert!(
            page.body
                .contains(r#"aria-selected="true" data-code="county:bedfordshire""#),
            "the tree marks the selection"
        );
        assert!(page.body.contains(
            r#"aria-expanded="true" aria-selected="false" data-code="area:east-of-england""#
        ));
        assert!(page.body.contains("Population in towns"));
        assert!(page.body.contains("Demo data"));
        // A selection that does not exist says so, with 400.
        let bad = app.get("/map?sel=county:atlantis", Some(&staff)).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.contains("county:atlantis"), "{}", bad.body);
    });
}

#[test]
fn vector_pages_come_in_geojson_kml_and_kmz_with_an_index() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let index = app
            .get(
                "/api/features/index.json?sel=area:east-of-england",
                Some(&staff),
            )
            .await;
        assert_eq!(index.status, StatusCode::OK, "{}", index.body);
        let index: model::geo::FeatureIndex = serde_json::from_str(&index.body).expect("index");
        assert!(index.total > 250, "{}", index.total);
        assert_eq!(index.pages.len(), (index.total as usize).div_ceil(250));

        let page = app.get(&index.pages[0].geojson, Some(&staff)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.headers[header::CONTENT_TYPE], "application/geo+json");
        let doc: serde_json::Value = serde_json::from_str(&page.body).expect("GeoJSON");
        assert_eq!(doc["features"].as_array().map(Vec::len), Some(250));

        let kml = app.get(&index.pages[1].kml, Some(&staff)).await;
        assert_eq!(kml.status, StatusCode::OK);
        assert_eq!(
            kml.headers[header::CONTENT_TYPE],
            "application/vnd.google-earth.kml+xml"
        );
        assert!(kml.body.starts_with("<?xml") && kml.body.contains("<Placemark"));

        let kmz = app.get(&index.pages[0].kmz, Some(&staff)).await;
        assert_eq!(kmz.status, StatusCode::OK);
        assert_eq!(
            kmz.headers[header::CONTENT_TYPE],
            "application/vnd.google-earth.kmz"
        );

        let boundary = app.get(&index.boundary, Some(&staff)).await;
        assert_eq!(boundary.status, StatusCode::OK);
        assert!(boundary.body.contains(r#""code":"area:east-of-england""#));
    });
}

#[test]
fn bad_vector_requests_get_a_readable_4xx() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        for (path, status, says) in [
            (
                "/api/features/index.json?sel=county:atlantis",
                StatusCode::BAD_REQUEST,
                "county:atlantis",
            ),
            (
                "/api/features/index.json?sel=unit:luton&kinds=pigeon",
                StatusCode::BAD_REQUEST,
                "pigeon",
            ),
            (
                "/api/features/99.geojson?sel=unit:luton",
                StatusCode::NOT_FOUND,
                "page 99",
            ),
            (
                "/api/features/0.kml?sel=unit:luton",
                StatusCode::NOT_FOUND,
                "page 0",
            ),
            (
                "/api/features/1.geojson?sel=unit:luton&per_page=lots",
                StatusCode::BAD_REQUEST,
                "whole number",
            ),
            (
                "/api/features/1.geojson?sel=unit:luton&per_page=5000",
                StatusCode::BAD_REQUEST,
                "between 1 and 1000",
            ),
            (
                "/api/features/1.shp?sel=unit:luton",
                StatusCode::NOT_FOUND,
                "geojson, kml or kmz",
            ),
            (
                "/api/features/first.kml?sel=unit:luton",
                StatusCode::NOT_FOUND,
                "expected N.geojson",
            ),
        ] {
            let reply = app.get(path, Some(&staff)).await;
            assert_eq!(reply.status, status, "{path}: {}", reply.body);
            let v: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON error");
            let message = v["error"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{path}: {message}");
        }
        let anonymous = app
            .get("/api/features/index.json?sel=unit:luton", None)
            .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn the_import_form_takes_a_file_and_refuses_a_bad_one_whole() {
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    block_on(async {
        let app = app().await;
        let upload_to = |path: &'static str,
                         token: String,
                         name: &'static str,
                         text: &'static str| {
            let body = format!(
                "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n{text}\r\n--XYZ--\r\n"
            );
            let req = Request::post(path)
                .header(header::HOST, crate::util::HOST)
                .header(header::ORIGIN, crate::util::ORIGIN)
                .header(header::COOKIE, format!("sb_session={token}"))
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
                .body(Body::from(body))
                .expect("request");
            let router = app.router.clone();
            async move {
                let res = router.oneshot(req).await.expect("response");
                let status = res.status();
                let body = res.into_body().collect().await.expect("body").to_bytes();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let upload = |token, name, text| upload_to("/import/outlets", token, name, text);
        let staff = app.login("staff").await;
        let (status, body) = upload(
            staff.clone(),
            "real.csv",
            "name,kind,town,lon,lat,audience,reach_regions,reach_km\nLuton Herald,newspaper,Luton,-0.4175,51.8797,12000,unit:luton,\n",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Imported 1 outlet(s)"), "{body}");
        let (status, body) = upload(
            staff.clone(),
            "bad.csv",
            "name,kind,lon,lat,reach_km\n,tv,0,51,10\n",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("<li>line 2, name: missing</li>"), "{body}");
        // Regions: polygons under a parent.
        let (status, body) = upload_to(
            "/import/regions",
            staff.clone(),
            "zone.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Airport Zone","parent":"county:bedfordshire"},"geometry":{"type":"Polygon","coordinates":[[[-0.4,51.85],[-0.3,51.85],[-0.3,51.95],[-0.4,51.95],[-0.4,51.85]]]}}]}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Imported 1 region(s)"), "{body}");
        let tree = app.get("/map?sel=unit:airport-zone", Some(&staff)).await;
        assert_eq!(tree.status, StatusCode::OK, "{}", tree.body);
        assert!(
            tree.body
                .contains(r#"aria-selected="true" data-code="unit:airport-zone""#),
            "the imported region is in the tree under Bedfordshire"
        );
        // Viewers may look, not import.
        let viewer = app.login("viewer").await;
        let (status, _) = upload(viewer, "real.csv", "name\n").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    });
}
