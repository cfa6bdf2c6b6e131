//! The bad-inputs corpus (`crates/atlas/tests/bad-inputs/expected.json`) through
//! the real CLI (the built `switchboard` binary on a data folder of its own)
//! and the real import form (multipart `POST /import/*` on a real database).
//! Each refused file must list problems naming its place and field, write
//! nothing (outlet and region counts and the data version unchanged) and leave
//! the server serving; at the end the same database loads again from scratch
//! (a restart) with no data problem.

use std::path::{Path, PathBuf};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use tower::ServiceExt as _;

use crate::util::{block_on, HOST, ORIGIN};

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
    api: Vec<ApiCase>,
}

#[derive(Deserialize)]
struct Generate {
    file: String,
    head: String,
    line: String,
    #[serde(default)]
    tail: String,
    times: usize,
}

#[derive(Deserialize)]
struct Case {
    file: Option<String>,
    generate: Option<Generate>,
    import: String,
    #[serde(default)]
    replace: bool,
    outcome: String,
    #[serde(default)]
    says: Vec<String>,
    outlets: Option<usize>,
}

#[derive(Deserialize)]
struct ApiCase {
    get: String,
    status: u16,
    says: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/atlas/tests/bad-inputs")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(corpus().join("expected.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest parses")
}

impl Case {
    fn name(&self) -> &str {
        self.file
            .as_deref()
            .or(self.generate.as_ref().map(|g| g.file.as_str()))
            .expect("a file or a generator")
    }

    /// The file's bytes (generated ones are made here).
    fn bytes(&self) -> Vec<u8> {
        match (&self.file, &self.generate) {
            (Some(f), _) => std::fs::read(corpus().join(f)).expect("corpus file"),
            (None, Some(g)) => {
                let mut s = g.head.clone();
                for _ in 0..g.times {
                    s.push_str(&g.line);
                }
                s.push_str(&g.tail);
                s.into_bytes()
            }
            (None, None) => panic!("a case needs a file or a generator"),
        }
    }

    fn file_name(&self) -> &str {
        self.name().rsplit('/').next().unwrap_or_default()
    }
}

/// What must not change when a file is refused.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Counts {
    outlets: i64,
    regions: i64,
    version: String,
}

/// A pool of our own on the same database, to count what is there.
async fn pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.expect("pool")
}

async fn counts(pool: &sqlx::AnyPool) -> Counts {
    Counts {
        outlets: sqlx::query_scalar("SELECT COUNT(*) FROM outlet")
            .fetch_one(pool)
            .await
            .expect("outlets"),
        regions: sqlx::query_scalar("SELECT COUNT(*) FROM geo_node")
            .fetch_one(pool)
            .await
            .expect("regions"),
        version: sqlx::query_scalar("SELECT value FROM dataset WHERE key = 'version'")
            .fetch_one(pool)
            .await
            .expect("version"),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn the_corpus_has_at_least_40_files_across_every_format() {
    let m = manifest();
    assert!(m.cases.len() >= 40, "{}", m.cases.len());
    for ext in [".csv", ".geojson", ".kml"] {
        assert!(
            m.cases.iter().filter(|c| c.name().ends_with(ext)).count() >= 8,
            "too few {ext} cases"
        );
    }
    for c in &m.cases {
        assert!(
            c.outcome == "imported" || !c.says.is_empty(),
            "{}: a refusal must say what",
            c.name()
        );
    }
}

fn switchboard(args: &[&str], data_dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .env_remove("SWITCHBOARD_BIND")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env("SWITCHBOARD_LOG", "error")
        .output()
        .expect("run switchboard")
}

#[test]
fn every_bad_input_is_refused_by_the_cli_with_nothing_written() {
    let m = manifest();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("files");
    // First start: the geography and 200 demo outlets.
    let seed = files.join("seed.csv");
    std::fs::write(
        &seed,
        "name,kind,town,lon,lat,audience,reach_regions,reach_km\nSeed Post,newspaper,Luton,-0.4175,51.8797,1,unit:luton,\n",
    )
    .expect("seed");
    let out = switchboard(
        &[
            "--demo-outlets",
            "200",
            "import",
            "outlets",
            seed.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    block_on(async {
        let db = pool(&url).await;
        let mut failures = Vec::new();
        for case in &m.cases {
            let path = files.join(case.file_name());
            std::fs::write(&path, case.bytes()).expect("write");
            let before = counts(&db).await;
            let mut args = vec![
                "import",
                case.import.as_str(),
                path.to_str().expect("utf-8"),
            ];
            if case.replace {
                args.push("--replace");
            }
            let out = switchboard(&args, dir.path());
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let after = counts(&db).await;
            if case.outcome == "imported" {
                let n = case.outlets.expect("outlets");
                if !out.status.success() || !stdout.contains(&format!("imported {n} ")) {
                    failures.push(format!(
                        "{}: expected {n} imported, got {stdout}{stderr}",
                        case.name()
                    ));
                }
                continue;
            }
            if out.status.code() != Some(1) || !stderr.contains("was not imported") {
                failures.push(format!(
                    "{}: not refused ({:?}): {stdout}{stderr}",
                    case.name(),
                    out.status
                ));
            }
            for says in &case.says {
                if !stderr.contains(says.as_str()) {
                    failures.push(format!("{}: stderr lacks {says:?}:\n{stderr}", case.name()));
                }
            }
            if after != before {
                failures.push(format!(
                    "{}: wrote something: {before:?} -> {after:?}",
                    case.name()
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let final_counts = counts(&db).await;
        db.close().await;
        // A restart: the same data loads whole.
        let config = server::Config::from_args([
            "switchboard",
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "--database-url",
            &url,
        ])
        .expect("config");
        let state = server::AppState::build(&config).await.expect("restart");
        let atlas = state.services.atlas.atlas().await.expect("atlas");
        assert!(atlas.problems().is_empty(), "{:?}", atlas.problems());
        assert_eq!(
            i64::try_from(atlas.outlet_count()).expect("count"),
            final_counts.outlets
        );
        state.services.db.close().await;
    });
}

async fn upload(app: &crate::util::TestApp, token: &str, case: &Case) -> (StatusCode, String) {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            case.file_name()
        )
        .as_bytes(),
    );
    body.extend_from_slice(&case.bytes());
    body.extend_from_slice(b"\r\n");
    if case.replace {
        body.extend_from_slice(
            b"--XYZ\r\nContent-Disposition: form-data; name=\"replace\"\r\n\r\n1\r\n",
        );
    }
    body.extend_from_slice(b"--XYZ--\r\n");
    let req = Request::post(format!("/import/{}", case.import))
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, format!("sb_session={token}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
        .body(Body::from(body))
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn every_bad_input_is_refused_by_the_import_form_and_the_server_keeps_serving() {
    let m = manifest();
    block_on(async {
        let app = crate::util::app_with(&["--demo-outlets", "200"]).await;
        let staff = app.login("staff").await;
        let db = &pool(&app.db_url).await;
        let mut failures = Vec::new();
        for case in &m.cases {
            let before = counts(db).await;
            let (status, body) = upload(&app, &staff, case).await;
            let after = counts(db).await;
            if case.outcome == "imported" {
                let n = case.outlets.expect("outlets");
                if status != StatusCode::OK || !body.contains(&format!("Imported {n} ")) {
                    failures.push(format!(
                        "{}: expected {n} imported, got {status}: {body}",
                        case.name()
                    ));
                }
            } else {
                if !matches!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST
                ) || !body.contains("Nothing was imported")
                {
                    failures.push(format!("{}: not refused: {status}: {body}", case.name()));
                }
                for says in &case.says {
                    if !body.contains(&html_escape(says)) {
                        failures.push(format!("{}: the page lacks {says:?}:\n{body}", case.name()));
                    }
                }
                if after != before {
                    failures.push(format!(
                        "{}: wrote something: {before:?} -> {after:?}",
                        case.name()
                    ));
                }
            }
            // Still serving, the map included.
            let health = app.get("/healthz", None).await;
            let view = app
                .get("/api/map/view?sel=&kinds=&open=&q=", Some(&staff))
                .await;
            if health.status != StatusCode::OK || view.status != StatusCode::OK {
                failures.push(format!(
                    "{}: after it, /healthz {} and the map {}: {}",
                    case.name(),
                    health.status,
                    view.status,
                    view.body
                ));
            }
        }
        for api in &m.api {
            let reply = app.get(&api.get, Some(&staff)).await;
            if reply.status.as_u16() != api.status || !reply.body.contains(&api.says) {
                failures.push(format!("{}: {} {}", api.get, reply.status, reply.body));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // A restart on the same database: it loads whole.
        let config = server::Config::from_args([
            "switchboard",
            "--data-dir",
            app._dir.path().to_str().expect("utf-8"),
            "--database-url",
            &app.db_url,
        ])
        .expect("config");
        let again = server::AppState::build(&config).await.expect("restart");
        let atlas = again.services.atlas.atlas().await.expect("atlas");
        assert!(atlas.problems().is_empty(), "{:?}", atlas.problems());
        assert_eq!(
            i64::try_from(atlas.outlet_count()).expect("count"),
            counts(db).await.outlets
        );
    });
}
