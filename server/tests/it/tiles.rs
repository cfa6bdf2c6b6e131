//! Coverage tiles over HTTP: keys, PNGs, caching headers, bad input.

use axum::http::{header, StatusCode};

use crate::util::{app, block_on};

#[test]
fn tiles_are_png_immutable_revalidated_and_bad_numbers_are_refused() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let reply = app
            .get(
                "/api/tiles/key?sel=county:bedfordshire&layer=unit:luton%7Cradio",
                Some(&staff),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let v: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        let url = v["url"].as_str().expect("url").to_owned();
        let key = v["key"].as_str().expect("key").to_owned();
        // Bedford at zoom 9 is tile 255/169.
        let path = url
            .replace("{z}", "9")
            .replace("{x}", "255")
            .replace("{y}", "169");
        let tile = app.get(&path, Some(&staff)).await;
        assert_eq!(tile.status, StatusCode::OK);
        assert_eq!(tile.headers[header::CONTENT_TYPE], "image/png");
        assert!(tile.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap_or_default()
            .contains("immutable"));
        let etag = tile.headers[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        let again = app
            .send(
                axum::http::Method::GET,
                &path,
                Some(&staff),
                None,
                &[("if-none-match", &etag)],
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        // That tile is in memory now, filed under its signed key: the same
        // address with a forged signature is refused, revalidated or not.
        let forged_key = {
            let mut k = key.clone();
            let last = k.pop().expect("char");
            k.push(if last == 'A' { 'B' } else { 'A' });
            k
        };
        let forged = path.replace(&key, &forged_key);
        let forged_etag = etag.replace(&key, &forged_key);
        for headers in [&[][..], &[("if-none-match", forged_etag.as_str())][..]] {
            let reply = app
                .send(axum::http::Method::GET, &forged, None, None, headers)
                .await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{headers:?}");
            assert!(reply.body.contains("not one this server handed out"));
        }
        let retina = app
            .get(&path.replace(".png", "@2x.png"), Some(&staff))
            .await;
        assert_eq!(retina.status, StatusCode::OK);

        for (bad, status, says) in [
            (
                format!("/tiles/coverage/{key}/21/0/0.png"),
                StatusCode::BAD_REQUEST,
                "zoom 21",
            ),
            (
                format!("/tiles/coverage/{key}/3/9/0.png"),
                StatusCode::BAD_REQUEST,
                "does not exist at zoom 3",
            ),
            (
                format!("/tiles/coverage/{key}/3/x/0.png"),
                StatusCode::BAD_REQUEST,
                "x must be a whole number",
            ),
            (
                format!("/tiles/coverage/{key}/3/1/1.jpg"),
                StatusCode::NOT_FOUND,
                "end in .png",
            ),
            (
                // A key this server did not sign (the signature cut off).
                format!(
                    "/tiles/coverage/{}/3/1/1.png",
                    key.rsplit_once('.').expect("signed").0
                ),
                StatusCode::NOT_FOUND,
                "not one this server handed out",
            ),
            (
                "/tiles/coverage/garbage/3/1/1.png".to_owned(),
                StatusCode::NOT_FOUND,
                "tile key",
            ),
            (
                "/api/tiles/key?sel=county:atlantis".to_owned(),
                StatusCode::BAD_REQUEST,
                "county:atlantis",
            ),
        ] {
            let r = app.get(&bad, Some(&staff)).await;
            assert_eq!(r.status, status, "{bad}: {}", r.body);
            assert!(
                r.body.to_lowercase().contains(&says.to_lowercase()),
                "{bad}: {}",
                r.body
            );
        }
        assert_eq!(
            app.state.services.tiles.renders(),
            2,
            "bad requests render nothing"
        );
        // The signed URL is the permission, with or without a session; the
        // key itself is handed only to the signed in.
        let anonymous = app.get(&path, None).await;
        assert_eq!(anonymous.status, StatusCode::OK);
        let keyless = app
            .get("/api/tiles/key?sel=county:bedfordshire", None)
            .await;
        assert_eq!(keyless.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn the_map_plan_draws_few_outlets_up_close_as_vectors_and_the_rest_as_tiles() {
    block_on(async {
        let app =
            crate::util::app_with(&["--vector-max-features", "100", "--vector-min-zoom", "8"])
                .await;
        let staff = app.login("staff").await;
        let plan = |path: String| {
            let app = &app;
            let staff = &staff;
            async move {
                let reply = app.get(&path, Some(staff)).await;
                assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
                serde_json::from_str::<serde_json::Value>(&reply.body).expect("json")
            }
        };
        // A county with fewer outlets than the threshold: vectors up close,
        // tiles from far out.
        let near = plan("/api/map/plan?sel=county:bedfordshire&z=9".into()).await;
        let features = near["features"].as_u64().expect("features");
        assert!(features > 0 && features <= 100, "{near}");
        assert_eq!(near["mode"], "vectors", "{near}");
        assert_eq!(near["auto"]["max_vector_features"], 100);
        assert_eq!(near["auto"]["min_vector_zoom"], 8);
        let far = plan("/api/map/plan?sel=county:bedfordshire&z=6.5".into()).await;
        assert_eq!(far["mode"], "tiles", "{far}");
        // The whole UK: more outlets than the threshold, tiles at any zoom.
        let uk = plan("/api/map/plan?sel=&z=12".into()).await;
        assert_eq!(uk["mode"], "tiles", "{uk}");
        assert!(uk["features"].as_u64().expect("features") > 100, "{uk}");
        // The tile URL is a working coverage template.
        let tile = uk["tiles"]
            .as_str()
            .expect("tiles")
            .replace("{z}", "6")
            .replace("{x}", "31")
            .replace("{y}", "21")
            .replace("{r}", "@2x");
        let reply = app.get(&tile, Some(&staff)).await;
        assert_eq!(reply.status, StatusCode::OK, "{tile}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "image/png");
        // A kind filter counts only that kind.
        let radio = plan("/api/map/plan?sel=county:bedfordshire&kinds=radio&z=9".into()).await;
        assert!(
            radio["features"].as_u64() < near["features"].as_u64(),
            "{radio}"
        );

        for (bad, says) in [
            (
                "/api/map/plan?sel=county:bedfordshire&z=21",
                "must be a zoom from 0 to 20",
            ),
            (
                "/api/map/plan?sel=county:bedfordshire&z=near",
                "must be a zoom from 0 to 20",
            ),
            ("/api/map/plan?sel=atlantis&z=5", "atlantis"),
        ] {
            let reply = app.get(bad, Some(&staff)).await;
            assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
            assert!(reply.body.contains(says), "{bad}: {}", reply.body);
        }
    });
}

#[test]
fn the_basemap_is_public_png_revalidated_without_rendering() {
    block_on(async {
        let app = app().await;
        // London at zoom 9, asked for without signing in.
        let path = "/tiles/base/9/255/170.png";
        let tile = app.get(path, None).await;
        assert_eq!(tile.status, StatusCode::OK, "{}", tile.body);
        assert_eq!(tile.headers[header::CONTENT_TYPE], "image/png");
        let etag = tile.headers[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        let renders = app.state.services.tiles.renders();
        let again = app
            .send(
                axum::http::Method::GET,
                path,
                None,
                None,
                &[("if-none-match", &etag)],
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert_eq!(
            app.state.services.tiles.renders(),
            renders,
            "a 304 renders nothing"
        );
        let retina = app.get("/tiles/base/9/255/170@2x.png", None).await;
        assert_eq!(retina.status, StatusCode::OK);
        for (bad, status) in [
            ("/tiles/base/21/0/0.png", StatusCode::BAD_REQUEST),
            ("/tiles/base/3/8/0.png", StatusCode::BAD_REQUEST),
            ("/tiles/base/3/1/1.jpg", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(app.get(bad, None).await.status, status, "{bad}");
        }
    });
}

#[test]
fn a_click_on_the_coverage_lists_the_outlets_reaching_that_point() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let reply = app
            .get(
                "/api/map/at?sel=area:east-of-england&lon=-0.4175&lat=51.8797",
                Some(&staff),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let v: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        let total = v["total"].as_u64().expect("total");
        let listed = v["outlets"].as_array().expect("outlets");
        assert!(total > 0, "Luton is reached: {v}");
        assert_eq!(listed.len() as u64, total.min(8), "{v}");
        // Largest audience first.
        let audiences: Vec<u64> = listed
            .iter()
            .map(|o| o["audience"].as_u64().expect("audience"))
            .collect();
        assert!(audiences.windows(2).all(|w| w[0] >= w[1]), "{audiences:?}");
        // A kind filter narrows it; the open sea has nobody.
        let tv = app
            .get(
                "/api/map/at?sel=area:east-of-england&kinds=tv&lon=-0.4175&lat=51.8797",
                Some(&staff),
            )
            .await;
        let tv: serde_json::Value = serde_json::from_str(&tv.body).expect("json");
        assert!(tv["total"].as_u64() < Some(total), "{tv}");
        assert!(tv["outlets"]
            .as_array()
            .expect("outlets")
            .iter()
            .all(|o| o["kind"] == "tv"));
        let sea = app
            .get("/api/map/at?sel=&lon=-20&lat=50", Some(&staff))
            .await;
        let sea: serde_json::Value = serde_json::from_str(&sea.body).expect("json");
        assert_eq!(sea["total"], 0, "{sea}");
        for (bad, says) in [
            (
                "/api/map/at?sel=&lon=200&lat=50",
                "Lon must be a number of degrees",
            ),
            (
                "/api/map/at?sel=&lon=1&lat=north",
                "Lat must be a number of degrees",
            ),
            ("/api/map/at?sel=&lat=50", "Lon must be a number of degrees"),
        ] {
            let reply = app.get(bad, Some(&staff)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(reply.body.contains(says), "{bad}: {}", reply.body);
        }
    });
}

#[test]
fn the_public_basemap_cannot_fill_the_disk_or_the_render_queue() {
    block_on(async {
        let disk = tempfile::tempdir().expect("disk");
        let app = crate::util::app_with(&[
            "--tile-cache-dir",
            disk.path().to_str().expect("utf-8"),
            "--tile-cache-max-bytes",
            "1048576",
            "--tile-render-queue",
            "1",
        ])
        .await;
        let files = || {
            fn walk(dir: &std::path::Path) -> usize {
                std::fs::read_dir(dir).map_or(0, |entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                walk(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
            }
            walk(disk.path())
        };
        // Numbers out of range: refused before anything is rendered or written.
        for bad in [
            "/tiles/base/21/0/0.png",
            "/tiles/base/20/1048576/0.png",
            "/tiles/base/3/1/8@2x.png",
            "/tiles/base/99999999999/0/0.png",
        ] {
            let reply = app.get(bad, None).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{bad}: {}",
                reply.body
            );
        }
        assert_eq!(app.state.services.tiles.renders(), 0);
        assert_eq!(files(), 0);

        // Every render thread busy and the one place in the queue taken: the
        // next tile that needs a render is refused at once.
        let tiles = app.state.services.tiles.clone();
        let held = tiles.occupy_render_threads().await;
        let queued = {
            let tiles = tiles.clone();
            tokio::spawn(async move {
                tiles
                    .base(services::tiles::TileId::new(9, 255, 170, 1).expect("tile"))
                    .await
            })
        };
        for _ in 0..500 {
            if tiles.queued() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(tiles.queued(), 1);
        let busy = app.get("/tiles/base/9/254/170.png", None).await;
        assert_eq!(
            busy.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            busy.body
        );
        assert_eq!(busy.headers[header::RETRY_AFTER], "1");
        assert!(busy.body.contains("busy"), "{}", busy.body);
        drop(held);
        queued.await.expect("task").expect("tile");
        let served = app.get("/tiles/base/9/254/170.png", None).await;
        assert_eq!(served.status, StatusCode::OK, "{}", served.body);
        assert_eq!(tiles.renders(), 2);
        assert_eq!(files(), 2, "both tiles on disk");
    });
}
