//! The router end to end: pages, assets, compression, health, errors, the CLI.

use std::{path::Path, process::Command};

use axum::http::{header, StatusCode};

use crate::util::{app, block_on, TestApp};

async fn staff(app: &TestApp) -> String {
    app.login("staff").await
}

async fn get(
    app: &TestApp,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> crate::util::Reply {
    app.send(axum::http::Method::GET, path, Some(token), None, headers)
        .await
}

#[test]
fn healthz_reports_the_database_without_signing_in() {
    block_on(async {
        let app = app().await;
        let reply = app.get("/healthz", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.contains(r#""database":"ok""#), "{}", reply.body);
    });
}

#[test]
fn pages_render_on_the_server_with_the_hydration_scripts() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        for (path, heading) in [
            ("/", "Overview"),
            ("/map", "Reach map"),
            ("/health", "Infrastructure health"),
            ("/firewall", "Firewall"),
        ] {
            let reply = get(&app, path, &token, &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert!(
                reply.headers[header::CONTENT_TYPE]
                    .to_str()
                    .expect("ascii")
                    .starts_with("text/html"),
                "{path}"
            );
            assert!(reply.body.contains(heading), "{path} lacks {heading}");
            assert!(
                reply.body.contains("/pkg/switchboard.js"),
                "{path} has no hydration script"
            );
            assert!(
                reply.body.contains("/leaflet/leaflet.js"),
                "{path} does not load Leaflet"
            );
            assert!(
                reply.body.contains(">Sign out</button>"),
                "{path} has no user menu"
            );
        }
    });
}

#[test]
fn anonymous_page_loads_go_to_the_sign_in_page_and_come_back() {
    block_on(async {
        let app = app().await;
        let reply = app.get("/checklist?x=1", None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), "/login?next=/checklist%3Fx%3D1");
        let login = app.get(reply.location(), None).await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(login.body.contains(r#"action="/login""#));
        assert!(
            login.body.contains(r#"value="/checklist?x=1""#),
            "next is carried in the form"
        );
    });
}

#[test]
fn the_checklist_is_complete_in_the_first_response() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        let reply = get(&app, "/checklist/template", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply
                .body
                .matches(r#"class="panel checklist-section""#)
                .count(),
            14
        );
        for section in ["Planning", "Load balancing", "Optimizations", "Other"] {
            assert!(
                reply.body.contains(&format!(">{section}<")),
                "no {section} section"
            );
        }
        assert_eq!(reply.body.matches(r#"class="checklist-item""#).count(), 40);
    });
}

#[test]
fn unknown_paths_answer_404_with_the_app_page() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        let reply = get(&app, "/no/such/page", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(reply.body.contains("Page not found"));
        assert!(reply.body.contains("/no/such/page"));
    });
}

#[test]
fn assets_are_served_compressed() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        // The precompressed file wins when the client takes gzip (and no sign-in is needed).
        let reply = app
            .send(
                axum::http::Method::GET,
                "/pkg/switchboard.js",
                None,
                None,
                &[("accept-encoding", "gzip")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(reply.body, "gz-bytes");
        // Without gzip support the plain file comes back.
        let reply = app.get("/pkg/switchboard.js", None).await;
        assert!(reply.headers.get(header::CONTENT_ENCODING).is_none());
        assert!(reply.body.starts_with("console.log"));
        // Pages are compressed on the fly.
        let reply = get(&app, "/health", &token, &[("accept-encoding", "br")]).await;
        assert_eq!(reply.headers[header::CONTENT_ENCODING], "br");
        // The land outline is gzipped once and served as such.
        let reply = get(
            &app,
            "/api/geo/land.geojson",
            &token,
            &[("accept-encoding", "gzip, br")],
        )
        .await;
        assert_eq!(reply.headers[header::CONTENT_ENCODING], "gzip");
        assert!(reply.body.len() < 120_000, "{} bytes", reply.body.len());
        let reply = get(
            &app,
            "/api/geo/land.geojson",
            &token,
            &[("accept-encoding", "gzip;q=0")],
        )
        .await;
        assert!(reply.headers.get(header::CONTENT_ENCODING).is_none());
    });
}

#[test]
fn the_land_outline_is_geojson_and_svg() {
    block_on(async {
        let app = app().await;
        let reply = app.get("/api/geo/land.geojson", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/geo+json");
        let doc: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        assert_eq!(doc["type"], "FeatureCollection");
        let reply = app.get("/api/geo/land.svg", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "image/svg+xml");
        assert!(reply.body.starts_with("<svg") && reply.body.contains("<path d=\"M"));
    });
}

#[test]
fn the_checklist_server_function_answers_json() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        let reply = get(&app, "/api/checklist/template", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let t: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        assert_eq!(t["sections"].as_array().map(Vec::len), Some(14));
    });
}

#[test]
fn a_failing_query_gives_503_and_a_readable_page() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        // Break the checklist's table behind the app's back.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&app.db_url)
            .await
            .expect("second connection");
        sqlx::query("DROP TABLE checklist_template_item")
            .execute(&pool)
            .await
            .expect("drop");
        let reply = get(&app, "/checklist/template", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            reply.body.contains("Something went wrong"),
            "{}",
            reply.body
        );
        assert!(
            reply
                .body
                .contains("the database is unavailable. Try again in a moment."),
            "{}",
            reply.body
        );
        // The server function says the same to a client, status and sentence.
        let reply = get(&app, "/api/checklist/template", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
        assert_eq!(body["status"], 503, "{body}");
        assert_eq!(
            body["message"],
            "The server could not answer: the database is unavailable. Try again in a moment.",
            "{body}"
        );
    });
}

#[test]
fn a_lost_database_gives_503_everywhere() {
    block_on(async {
        let app = app().await;
        let token = staff(&app).await;
        app.state.services.db.close().await;
        let reply = app.get("/healthz", None).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.body.contains("unavailable"), "{}", reply.body);
        let reply = get(&app, "/map", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            reply.body.contains("The database is unavailable"),
            "{}",
            reply.body
        );
        // Assets do not look the session up, so they still load.
        let reply = get(&app, "/pkg/switchboard.js", &token, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
    });
}

fn switchboard(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .env_remove("SWITCHBOARD_BIND")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .expect("run switchboard")
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["--bind", "nowhere"][..],
        &["--database-url", "mysql://db/x"],
        &["--log", "=[=="],
        &["--basemap-url", "ftp://tiles.example/{z}/{x}/{y}.png"],
        &["--basemap-url", "https://tiles.example/tile.png"],
        &["--unknown"],
        &["user", "add", "--username", "x", "--role", "root"],
    ] {
        let out = switchboard(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("switchboard: "), "{stderr}");
    }
    let out = switchboard(&["--help"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--database-url"));
}

#[test]
fn the_cli_adds_users_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = switchboard(
        &["user", "add", "--username", "olive", "--role", "admin"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("added olive (admin) with password: "),
        "{stdout}"
    );
    // A taken name fails with a sentence and status 1.
    let out = switchboard(&["user", "add", "--username", "olive"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is taken"));
}

#[test]
fn the_cli_imports_outlets_or_lists_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "name,kind,town,lon,lat,audience,reach_regions,reach_km\nLuton Herald,newspaper,Luton,-0.4175,51.8797,12000,unit:luton,\n",
    )
    .expect("write");
    let out = switchboard(
        &[
            "--demo-outlets",
            "0",
            "import",
            "outlets",
            good.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 outlet(s)"));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,kind,lon,lat,reach_km\nX,zeppelin,0,51,10\n").expect("write");
    let out = switchboard(
        &["import", "outlets", bad.to_str().expect("utf-8")],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was not imported"), "{stderr}");
    assert!(
        stderr.contains("line 2 (X), kind: \"zeppelin\""),
        "{stderr}"
    );
}

#[test]
fn a_response_that_does_not_start_in_time_is_a_readable_503() {
    block_on(async {
        // A database that hangs: every pooled connection is taken, so the
        // session lookup waits (its own acquire timeout is 3 s).
        let app =
            crate::util::app_with(&["--request-timeout-ms", "1500", "--db-connections", "2"]).await;
        // Signing in over HTTP (argon2) would time out too: sign in directly.
        let session = app
            .state
            .services
            .auth
            .login(
                "staff",
                crate::util::PASSWORD,
                &services::auth::Client::default(),
            )
            .await
            .expect("login");
        let held = app
            .state
            .services
            .db
            .hold_every_connection(std::time::Duration::from_millis(200))
            .await;
        assert!(!held.is_empty());
        let reply = get(&app, "/map?sel=area:east-of-england", &session.token, &[]).await;
        drop(held);
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(reply.body.contains("taking too long"), "{}", reply.body);
        // The database is back: so is the page.
        let reply = get(&app, "/map?sel=area:east-of-england", &session.token, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
    });
}

#[test]
fn the_cli_seeds_tiles_with_progress_and_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tiles");
    let out = switchboard(
        &[
            "--tile-cache-dir",
            cache.to_str().expect("utf-8"),
            "tiles",
            "seed",
            "--sel",
            "unit:luton",
            "--zooms",
            "8-10",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("seeded "), "{stdout}");
    assert!(stdout.contains("of unit:luton at zooms 8-10"), "{stdout}");
    assert!(
        stdout.contains("outlets were prepared first, in "),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tiles"),
        "a progress bar"
    );
    assert!(cache.exists(), "tiles on disk");
    let bad = switchboard(
        &["tiles", "seed", "--sel", "unit:luton", "--zooms", "9-3"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("low to high"));
}
