//! The router end to end, in process (`oneshot`) over a real SQLite file, and
//! the binary's command line.

use std::{path::Path, process::Command};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt as _;
use server::{AppState, Config};
use tower::ServiceExt as _;

struct TestApp {
    _dir: tempfile::TempDir,
    router: Router,
    state: AppState,
}

async fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).expect("site");
    // A stand-in build: a script and its precompressed copy.
    std::fs::write(
        site.join("pkg/switchboard.js"),
        "console.log('hi');".repeat(200),
    )
    .expect("js");
    std::fs::write(site.join("pkg/switchboard.js.gz"), b"gz-bytes").expect("gz");
    let config = Config::from_args([
        "switchboard",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "--site-root",
        site.to_str().expect("utf-8"),
    ])
    .expect("config");
    let state = AppState::build(&config).await.expect("state");
    TestApp {
        router: server::routes::router(state.clone()),
        state,
        _dir: dir,
    }
}

async fn get(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn healthz_reports_the_database() {
    let app = app().await;
    let (status, _, body) = get(&app, "/healthz", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""database":"ok""#), "{body}");
}

#[tokio::test]
async fn pages_render_on_the_server_with_the_hydration_scripts() {
    let app = app().await;
    for (path, heading) in [
        ("/", "Overview"),
        ("/map", "Reach map"),
        ("/health", "Infrastructure health"),
        ("/firewall", "Firewall"),
    ] {
        let (status, headers, body) = get(&app, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html"),
            "{path}"
        );
        assert!(body.contains(heading), "{path} lacks {heading}");
        assert!(
            body.contains("/pkg/switchboard.js"),
            "{path} has no hydration script"
        );
        assert!(
            body.contains("/leaflet/leaflet.js"),
            "{path} does not load Leaflet"
        );
    }
}

#[tokio::test]
async fn the_checklist_is_complete_in_the_first_response() {
    let app = app().await;
    let (status, _, body) = get(&app, "/checklist", &[]).await;
    assert_eq!(status, StatusCode::OK);
    for section in ["Planning", "Load balancing", "Optimizations", "Other"] {
        assert!(
            body.contains(&format!(">{section}</h2>")),
            "no {section} section"
        );
    }
    assert_eq!(body.matches(r#"class="checklist-item""#).count(), 40);
}

#[tokio::test]
async fn unknown_paths_answer_404_with_the_app_page() {
    let app = app().await;
    let (status, _, body) = get(&app, "/no/such/page", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Page not found"));
    assert!(body.contains("/no/such/page"));
}

#[tokio::test]
async fn assets_are_served_compressed() {
    let app = app().await;
    // The precompressed file wins when the client takes gzip.
    let (status, headers, body) =
        get(&app, "/pkg/switchboard.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(body, "gz-bytes");
    // Without gzip support the plain file comes back.
    let (_, headers, body) = get(&app, "/pkg/switchboard.js", &[]).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert!(body.starts_with("console.log"));
    // Pages are compressed on the fly.
    let (_, headers, _) = get(&app, "/health", &[("accept-encoding", "br")]).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    // The land outline is gzipped once and served as such.
    let (_, headers, body) = get(
        &app,
        "/api/geo/land.geojson",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(body.len() < 120_000, "{} bytes", body.len());
    let (_, headers, _) = get(
        &app,
        "/api/geo/land.geojson",
        &[("accept-encoding", "gzip;q=0")],
    )
    .await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn the_land_outline_is_geojson_and_svg() {
    let app = app().await;
    let (status, headers, body) = get(&app, "/api/geo/land.geojson", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/geo+json");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["type"], "FeatureCollection");
    let (status, headers, body) = get(&app, "/api/geo/land.svg", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(body.starts_with("<svg") && body.contains("<path d=\"M"));
}

#[tokio::test]
async fn the_checklist_server_function_answers_json() {
    let app = app().await;
    let (status, _, body) = get(&app, "/api/checklist/template", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(t["sections"].as_array().map(Vec::len), Some(14));
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
        &["--unknown"],
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

#[tokio::test]
async fn a_lost_database_gives_503_and_a_readable_page() {
    let app = app().await;
    app.state.services.db.close().await;
    let (status, _, body) = get(&app, "/healthz", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("unavailable"), "{body}");
    // The page renders the error boundary with a sentence, not a stack trace.
    let (status, _, body) = get(&app, "/checklist", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("Something went wrong"), "{body}");
    assert!(
        body.contains("the database is unavailable. Try again in a moment."),
        "{body}"
    );
    // And the server function says the same to a client.
    let (status, _, body) = get(&app, "/api/checklist/template", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("Unavailable"), "{body}");
}
