//! A real app over a real SQLite file in a temporary folder, driven in process
//! with `oneshot`, plus users of every role signed in through `POST /login`.

use std::{future::Future, sync::LazyLock};

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt as _;
use server::{AppState, Config};
use services::auth::Role;
use tower::ServiceExt as _;

/// One runtime for every test in this binary, as in production. Leptos spawns
/// its reactive tasks on whatever runtime is current; with a runtime per test
/// (`#[tokio::test]`), a task could land on a test's runtime that had already
/// shut down, and a page would never finish rendering.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
});

/// Runs a test body on the shared runtime.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

/// The host the test requests are addressed to; same-origin requests say so.
pub(crate) const HOST: &str = "switchboard.test";
pub(crate) const ORIGIN: &str = "http://switchboard.test";
pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) struct TestApp {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) router: Router,
    pub(crate) state: AppState,
    /// The test's own database: a SQLite file in `dir`, or a PostgreSQL database.
    pub(crate) db_url: String,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

pub(crate) async fn app() -> TestApp {
    app_with(&[]).await
}

/// A test app with more command-line arguments.
pub(crate) async fn app_with(extra: &[&str]) -> TestApp {
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
    let db_url = services::testing::database_url(dir.path()).await;
    let config = Config::from_args(
        [
            "switchboard",
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "--database-url",
            &db_url,
            "--site-root",
            site.to_str().expect("utf-8"),
        ]
        .into_iter()
        .chain(extra.iter().copied()),
    )
    .expect("config");
    let state = AppState::build(&config).await.expect("state");
    for role in Role::ALL {
        state
            .services
            .auth
            .add_user(None, role.as_str(), "", role, PASSWORD)
            .await
            .expect("user");
    }
    TestApp {
        router: server::routes::router(state.clone()),
        state,
        _dir: dir,
        db_url,
    }
}

impl TestApp {
    /// Sends a request; `cookie` is a session token; same-origin unless `origin` says otherwise.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, HOST);
        if method != Method::GET
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("origin"))
        {
            req = req.header(header::ORIGIN, ORIGIN);
        }
        if let Some(token) = cookie {
            req = req.header(header::COOKIE, format!("sb_session={token}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let request = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .expect("request");
        let res = if method == Method::GET {
            // Leptos 0.8.23 sometimes loses the wake-up of a Suspense during SSR and
            // the page never finishes (about 1 run of this binary in 15; see
            // ARCHITECTURE.md). A reader would reload; so does this, once, loudly.
            let (parts, _) = request.into_parts();
            let again = || {
                let mut r = Request::from_parts(parts.clone(), Body::empty());
                *r.extensions_mut() = axum::http::Extensions::new();
                self.router.clone().oneshot(r)
            };
            match tokio::time::timeout(std::time::Duration::from_secs(10), again()).await {
                Ok(res) => res.expect("response"),
                Err(_) => {
                    eprintln!("WARNING: GET {path} stalled for 10 s (Leptos SSR lost wake-up); retrying once");
                    again().await.expect("response")
                }
            }
        } else {
            self.router
                .clone()
                .oneshot(request)
                .await
                .expect("response")
        };
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.send(Method::GET, path, cookie, None, &[]).await
    }

    /// Signs in through the real form post; answers the session token.
    pub(crate) async fn login(&self, username: &str) -> String {
        let reply = self
            .send(
                Method::POST,
                "/login",
                None,
                Some(&format!(
                    "username={username}&password={}&next=/",
                    PASSWORD.replace(' ', "+")
                )),
                &[],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "login as {username}: {}",
            reply.location()
        );
        session_cookie(&reply).expect("a session cookie")
    }
}

/// The session token a response sets, if any.
pub(crate) fn session_cookie(reply: &Reply) -> Option<String> {
    let set = reply.headers.get(header::SET_COOKIE)?.to_str().ok()?;
    let value = set.strip_prefix("sb_session=")?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}
