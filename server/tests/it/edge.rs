//! The server's edges (issue 17): oversized sign-in input, the sign-in
//! throttle through HTTP and the CLI, client addresses behind proxies, and the
//! security headers on every kind of answer.

use axum::http::{header, Method, StatusCode};
use sqlx::Row as _;

use crate::util::{app, app_with, block_on, TestApp, PASSWORD};

async fn post_login(
    app: &TestApp,
    user: &str,
    password: &str,
    forwarded: Option<&str>,
) -> crate::util::Reply {
    let body = format!(
        "username={user}&password={}&next=/",
        password.replace(' ', "+")
    );
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| vec![("x-forwarded-for", f)])
        .unwrap_or_default();
    app.send(Method::POST, "/login", None, Some(&body), &headers)
        .await
}

/// The longest text stored in each text column the sign-in path writes.
async fn longest_stored(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db_url).await.expect("pool");
    let mut out = Vec::new();
    for (table, column) in [
        ("login_failure", "key"),
        ("login_attempt_lock", "key"),
        ("audit_log", "actor_name"),
        ("audit_log", "target"),
        ("audit_log", "detail"),
        ("app_session", "client_addr"),
    ] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(MAX(LENGTH({column})), 0) AS BIGINT) AS n FROM {table}"
        )))
        .fetch_one(&pool)
        .await
        .expect("length");
        out.push((
            format!("{table}.{column}"),
            row.try_get::<i64, _>("n").expect("n"),
        ));
    }
    pool.close().await;
    out
}

#[test]
fn a_huge_user_name_at_sign_in_stores_nothing_longer_than_the_cap() {
    block_on(async {
        let app = app().await;
        // 2 MB: over the form's body limit, refused before it is even parsed.
        let huge = "a".repeat(2 * 1024 * 1024);
        let reply = post_login(&app, &huge, "whatever12345", None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), "/login?error=too_long");
        // 5000 characters: within the body limit, over the name's cap: refused
        // before any write or hashing, and not echoed back in the redirect.
        let long = "b".repeat(5000);
        let before = app.state.services.auth.verifications();
        let reply = post_login(&app, &long, "whatever12345", None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert!(
            reply.location().starts_with("/login?error=too_long"),
            "{}",
            reply.location()
        );
        assert!(reply.location().len() < 200, "{}", reply.location());
        assert_eq!(
            app.state.services.auth.verifications(),
            before,
            "nothing hashed"
        );
        let page = app.get(reply.location(), None).await;
        assert!(
            page.body.contains("A user name has at most 40 characters."),
            "{}",
            page.body
        );
        // A wrong name of a legal length is stored (throttle, audit), within the cap.
        let reply = post_login(&app, &"c".repeat(40), "whatever12345", None).await;
        assert!(
            reply.location().starts_with("/login?error=invalid"),
            "{}",
            reply.location()
        );
        for (column, n) in longest_stored(&app).await {
            assert!(n <= 1000, "{column} holds {n} characters");
            assert!(
                n < 200 || column == "audit_log.detail",
                "{column} holds {n} characters"
            );
        }
    });
}

#[test]
fn a_flood_from_one_address_cannot_lock_the_admin_out_and_unlock_clears_it() {
    block_on(async {
        let app = app_with(&["--trust-forwarded-for"]).await;
        let attacker = "203.0.113.66";
        for _ in 0..5 {
            let r = post_login(&app, "admin", "not the password", Some(attacker)).await;
            assert!(
                r.location().starts_with("/login?error=invalid"),
                "{}",
                r.location()
            );
        }
        let r = post_login(&app, "admin", PASSWORD, Some(attacker)).await;
        assert!(
            r.location().starts_with("/login?error=throttled"),
            "{}",
            r.location()
        );
        // Writing the admin's address first does not help: only the rightmost
        // value (what the proxy appended) counts.
        let spoofed = format!("198.51.100.1, {attacker}");
        let r = post_login(&app, "admin", PASSWORD, Some(&spoofed)).await;
        assert!(
            r.location().starts_with("/login?error=throttled"),
            "{}",
            r.location()
        );
        // The admin from their own address gets in.
        let r = post_login(&app, "admin", PASSWORD, Some("198.51.100.1")).await;
        assert_eq!(r.location(), "/", "the admin signs in");
        // `switchboard user unlock` clears the throttle from every address.
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "--database-url",
                &app.db_url,
                "user",
                "unlock",
                "--username",
                "admin",
            ])
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .output()
            .expect("run switchboard");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Five for the account from that address, and the five they added
        // to the address's own count.
        assert_eq!(
            stdout.trim(),
            "unlocked admin: 10 failed sign-in(s) cleared"
        );
        let r = post_login(&app, "admin", PASSWORD, Some(attacker)).await;
        assert_eq!(r.location(), "/", "unlocked");
        // The session records the address the proxy saw.
        let sessions = app
            .state
            .services
            .auth
            .list_sessions(&services::auth::Principal::User(model::auth::Me {
                id: 0,
                username: "admin".into(),
                display_name: String::new(),
                role: model::auth::Role::Admin,
            }))
            .await
            .expect("sessions");
        assert!(sessions.iter().any(|s| s.client_addr == attacker));
        assert!(sessions
            .iter()
            .all(|s| s.client_addr != "198.51.100.1, 203.0.113.66"));
    });
}

/// The nonce of a CSP header.
fn nonce_of(policy: &str) -> &str {
    let start = policy.find("'nonce-").expect("a nonce") + "'nonce-".len();
    let end = start + policy[start..].find('\'').expect("closing quote");
    &policy[start..end]
}

#[test]
fn every_answer_carries_the_security_headers_and_inline_scripts_carry_the_nonce() {
    block_on(async {
        let app = app().await;
        let token = app.login("staff").await;
        let mut nonces = Vec::new();
        for (path, cookie) in [
            ("/login", None),
            ("/map", Some(token.as_str())),
            ("/no/such/page", Some(token.as_str())),
            ("/healthz", None),
            ("/api/geo/land.geojson", None),
            (
                "/api/features/index.json?sel=area:east-of-england",
                Some(token.as_str()),
            ),
            ("/pkg/switchboard.js", None),
        ] {
            let reply = app.get(path, cookie).await;
            let h = |name: header::HeaderName| {
                reply
                    .headers
                    .get(&name)
                    .unwrap_or_else(|| panic!("{path} has no {name}"))
                    .to_str()
                    .expect("ascii")
                    .to_owned()
            };
            let csp = h(header::CONTENT_SECURITY_POLICY);
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(
                csp.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"),
                "{path}: {csp}"
            );
            assert!(
                !csp.contains("'unsafe-eval'")
                    && !csp.contains("script-src 'self' 'unsafe-inline'")
            );
            assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
            assert_eq!(h(header::REFERRER_POLICY), "same-origin", "{path}");
            let nonce = nonce_of(&csp).to_owned();
            if reply.body.starts_with("<!DOCTYPE html>") {
                // Every inline script carries this response's nonce; the rest load from us.
                let mut inline = 0;
                for tag in reply.body.split("<script").skip(1) {
                    let open = &tag[..tag.find('>').expect("tag end")];
                    if open.contains(" src=") {
                        continue;
                    }
                    inline += 1;
                    assert!(
                        open.contains(&format!("nonce=\"{nonce}\"")),
                        "{path}: an inline script without the nonce: <script{open}>"
                    );
                }
                assert!(inline >= 2, "{path}: the hydration and time-zone scripts");
            }
            nonces.push(nonce);
        }
        nonces.sort();
        nonces.dedup();
        assert_eq!(nonces.len(), 7, "a fresh nonce per response");
        // Tiles skip the policy but are never sniffed.
        let tile = app.get("/tiles/base/5/15/10.png", None).await;
        assert_eq!(tile.status, StatusCode::OK);
        assert_eq!(tile.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    });
}

#[test]
fn a_configured_basemap_is_allowed_as_an_image_source() {
    block_on(async {
        let app = app_with(&[
            "--basemap-url",
            "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
        ])
        .await;
        let reply = app.get("/login", None).await;
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(
            csp.contains("img-src 'self' data: blob: https://*.tile.openstreetmap.org;"),
            "{csp}"
        );
    });
}
