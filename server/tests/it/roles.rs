//! Who may do what, exercised cell by cell over HTTP, plus CSRF, sessions and
//! share links.
//!
//! `MATRIX` is the role matrix of docs/roles.md: every server function and
//! every route with what it needs. A server function missing from it fails
//! `every_server_function_is_in_the_matrix`.

use axum::http::{Method, StatusCode};
use services::auth::Role;

use crate::util::{app, block_on, session_cookie, TestApp, PASSWORD};

/// What a route or server function needs.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user (pages; anonymous page loads are sent to /login).
    SignedIn,
    /// This role or above.
    Role(Role),
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;

/// (method, path, form body, needs). Bodies are valid but harmless: allowed
/// callers get a 2xx, or a 4xx other than 401/403 (say, an unknown id).
const MATRIX: &[(Method, &str, &str, Needs)] = &[
    // Routes
    (GET, "/healthz", "", Needs::Public),
    (GET, "/login", "", Needs::Public),
    (GET, "/api/geo/land.geojson", "", Needs::Public),
    (GET, "/api/geo/land.svg", "", Needs::Public),
    (GET, "/", "", Needs::SignedIn),
    (GET, "/map", "", Needs::SignedIn),
    (GET, "/health", "", Needs::SignedIn),
    (GET, "/firewall", "", Needs::SignedIn),
    (GET, "/checklist", "", Needs::SignedIn),
    (GET, "/checklist/template", "", Needs::SignedIn),
    (GET, "/checklist/1", "", Needs::SignedIn),
    (GET, "/shares", "", Needs::Role(Role::Staff)),
    (GET, "/admin", "", Needs::Role(Role::Admin)),
    (GET, "/import", "", Needs::Role(Role::Staff)),
    // Server functions
    (GET, "/api/share/open?token=unknown", "", Needs::Public),
    (
        GET,
        "/api/checklist/template",
        "",
        Needs::Role(Role::Viewer),
    ),
    (GET, "/api/shares/list", "", Needs::Role(Role::Staff)),
    (
        GET,
        "/api/health/overview?state=&pool=&q=",
        "",
        Needs::Role(Role::Viewer),
    ),
    (GET, "/api/health/live?since_ms=0", "", Needs::Role(Role::Viewer)),
    (GET, "/api/health/rollup", "", Needs::Role(Role::Viewer)),
    (
        POST,
        "/api/health/add_target",
        "form[pool]=nope&form[name]=x&form[address]=127.0.0.1%3A1&form[check]=tcp&form[path]=&form[inter]=&form[fall]=&form[rise]=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/health/remove_target",
        "id=999999",
        Needs::Role(Role::Staff),
    ),
    (GET, "/api/firewall/overview?tz=", "", Needs::Role(Role::Viewer)),
    (POST, "/api/firewall/sync", "", Needs::Role(Role::Staff)),
    (
        POST,
        "/api/firewall/apply",
        "digest=0000&confirm=yes",
        Needs::Role(Role::Admin),
    ),
    (
        GET,
        "/firewall/export.sh?flavour=nftables",
        "",
        Needs::Role(Role::Staff),
    ),
    (GET, "/api/migrations/list?tz=", "", Needs::Role(Role::Viewer)),
    (GET, "/api/migrations/get?id=999999&tz=", "", Needs::Role(Role::Viewer)),
    (
        POST,
        "/api/migrations/create",
        "form[name]=&form[domains]=&form[source_server]=&form[target_server]=&form[services]=&form[window_start]=&form[window_end]=&form[time_zone]=&form[owner]=&form[ttl_limit]=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/migrations/tick",
        "migration=999999&item=1&state=done&note=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/migrations/check",
        "migration=999999&check=all",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/migrations/share",
        "migration=999999&label=x",
        Needs::Role(Role::Staff),
    ),
    (GET, "/api/share/migration?token=unknown&tz=", "", Needs::Public),
    (
        POST,
        "/api/template/add",
        "section=dns&text=&guidance=&check=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/template/reword",
        "id=999999&text=&guidance=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/template/change",
        "id=999999&change=up",
        Needs::Role(Role::Staff),
    ),
    (
        GET,
        "/api/map/view?sel=county:bedfordshire&kinds=&open=&q=",
        "",
        Needs::Role(Role::Viewer),
    ),
    (GET, "/api/map/data_problems", "", Needs::Role(Role::Staff)),
    (
        GET,
        "/api/tiles/key?sel=county:bedfordshire",
        "",
        Needs::Role(Role::Viewer),
    ),
    (
        GET,
        "/api/map/plan?sel=county:bedfordshire&z=9",
        "",
        Needs::Role(Role::Viewer),
    ),
    (
        GET,
        "/api/map/at?sel=county:bedfordshire&lon=-0.47&lat=52.13",
        "",
        Needs::Role(Role::Viewer),
    ),
    (
        GET,
        "/api/features/index.json?sel=county:bedfordshire",
        "",
        Needs::Role(Role::Viewer),
    ),
    (
        GET,
        "/api/features/1.kml?sel=unit:luton",
        "",
        Needs::Role(Role::Viewer),
    ),
    (
        POST,
        "/api/shares/create",
        "selection=unit:luton&label=",
        Needs::Role(Role::Staff),
    ),
    (
        POST,
        "/api/shares/revoke",
        "id=999999",
        Needs::Role(Role::Staff),
    ),
    (GET, "/api/admin/users", "", Needs::Role(Role::Admin)),
    (
        POST,
        "/api/admin/add_user",
        "username=m&display_name=&role=viewer&password=short",
        Needs::Role(Role::Admin),
    ),
    (
        POST,
        "/api/admin/set_role",
        "user_id=999999&role=viewer",
        Needs::Role(Role::Admin),
    ),
    (
        POST,
        "/api/admin/reset_password",
        "user_id=999999",
        Needs::Role(Role::Admin),
    ),
    (
        POST,
        "/api/admin/set_disabled",
        "user_id=999999&disabled=true",
        Needs::Role(Role::Admin),
    ),
    (GET, "/api/admin/sessions", "", Needs::Role(Role::Admin)),
    (
        POST,
        "/api/admin/end_session",
        "handle=000000000000",
        Needs::Role(Role::Admin),
    ),
    (GET, "/api/admin/audit", "", Needs::Role(Role::Admin)),
];

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    ToLogin,
    Unauthorized,
    Forbidden,
}

fn expected(needs: Needs, who: Option<Role>, path: &str) -> Outcome {
    let page = !path.starts_with("/api/");
    match (needs, who) {
        (Needs::Public, _) => Outcome::Allowed,
        (_, None) if page => Outcome::ToLogin,
        (_, None) => Outcome::Unauthorized,
        (Needs::SignedIn, Some(_)) => Outcome::Allowed,
        (Needs::Role(least), Some(role)) if role >= least => Outcome::Allowed,
        (Needs::Role(_), Some(_)) => Outcome::Forbidden,
    }
}

fn observed(status: StatusCode, location: &str) -> Outcome {
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        StatusCode::SEE_OTHER if location.starts_with("/login") => Outcome::ToLogin,
        _ => Outcome::Allowed,
    }
}

#[test]
fn every_cell_of_the_role_matrix_answers_as_documented() {
    block_on(async {
        let app = app().await;
        let mut principals: Vec<(Option<Role>, Option<String>)> = vec![(None, None)];
        for role in Role::ALL {
            principals.push((Some(role), Some(app.login(role.as_str()).await)));
        }
        let mut failures = Vec::new();
        for (method, path, body, needs) in MATRIX {
            for (role, token) in &principals {
                let reply = app
                    .send(
                        method.clone(),
                        path,
                        token.as_deref(),
                        (!body.is_empty()).then_some(*body),
                        &[],
                    )
                    .await;
                let want = expected(*needs, *role, path);
                let got = observed(reply.status, reply.location());
                if want != got {
                    failures.push(format!(
                        "{method} {path} as {role:?}: expected {want:?}, got {} ({})",
                        reply.status,
                        reply.body.chars().take(120).collect::<String>()
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

#[test]
fn every_server_function_is_in_the_matrix() {
    for (path, _method) in leptos::server_fn::axum::server_fn_paths() {
        assert!(
            MATRIX
                .iter()
                .any(|(_, p, _, _)| p.split('?').next() == Some(path)),
            "{path} is not in the role matrix"
        );
    }
}

#[test]
fn a_cross_site_post_is_refused() {
    block_on(async {
        let app = app().await;
        let admin = app.login("admin").await;
        let body = "username=evil&display_name=&role=admin&password=long+enough+pw";
        for origin in [Some("https://evil.example"), None] {
            let mut headers = vec![];
            if let Some(o) = origin {
                headers.push(("origin", o));
            } else {
                // No Origin and no Referer at all.
                headers.push(("origin", ""));
            }
            let reply = app
                .send(
                    POST,
                    "/api/admin/add_user",
                    Some(&admin),
                    Some(body),
                    &headers,
                )
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin:?}");
            assert!(reply.body.contains("did not come from Switchboard"));
        }
        // A cross-site sign-in form is refused too (login CSRF).
        let reply = app
            .send(
                POST,
                "/login",
                None,
                Some("username=admin&password=x"),
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        // Nothing was written.
        let users = app
            .state
            .services
            .auth
            .list_users(&admin_principal(&app, &admin).await)
            .await
            .expect("users");
        assert!(users.iter().all(|u| u.username != "evil"));
    });
}

async fn admin_principal(app: &TestApp, token: &str) -> services::auth::Principal {
    app.state
        .services
        .auth
        .session(token)
        .await
        .expect("session")
}

#[test]
fn sign_in_sets_a_fresh_strict_cookie_and_sign_out_ends_it() {
    block_on(async {
        let app = app().await;
        // A planted cookie (session fixation) is ignored and replaced.
        let reply = app
            .send(
                POST,
                "/login",
                Some("attacker-chosen-value"),
                Some(&format!(
                    "username=staff&password={}&next=/checklist",
                    PASSWORD.replace(' ', "+")
                )),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), "/checklist");
        let set = reply.headers["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
            "{set}"
        );
        assert!(!set.contains("Secure"), "plain HTTP in tests");
        let token = session_cookie(&reply).expect("token");
        assert_ne!(token, "attacker-chosen-value");
        assert_eq!(
            app.get("/checklist", Some(&token)).await.status,
            StatusCode::OK
        );

        // Behind a TLS proxy the cookie is Secure.
        let reply = app
            .send(
                POST,
                "/login",
                None,
                Some(&format!(
                    "username=staff&password={}",
                    PASSWORD.replace(' ', "+")
                )),
                &[("x-forwarded-proto", "https")],
            )
            .await;
        assert!(reply.headers["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("; Secure"));
        let other = session_cookie(&reply).expect("second session");

        // Sign out everywhere ends both sessions.
        let reply = app
            .send(POST, "/logout", Some(&token), Some("everywhere=1"), &[])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert!(reply.headers["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"));
        for t in [&token, &other] {
            let reply = app.get("/checklist", Some(t)).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "session still alive");
        }
    });
}

#[test]
fn failed_sign_ins_say_so_without_naming_the_field_and_then_throttle() {
    block_on(async {
        let app = app().await;
        let mut last = String::new();
        for i in 0..6 {
            let reply = app
                .send(
                    POST,
                    "/login",
                    None,
                    Some("username=staff&password=wrong+password&next=/map"),
                    &[],
                )
                .await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER);
            last = reply.location().to_owned();
            if i < 5 {
                assert!(
                    last.starts_with("/login?error=invalid&user=staff&next=/map"),
                    "{last}"
                );
            }
            assert!(session_cookie(&reply).is_none());
        }
        assert!(last.starts_with("/login?error=throttled&retry="), "{last}");
        let page = app.get(&last, None).await;
        assert!(
            page.body.contains("Too many failed sign-ins. Try again in"),
            "{}",
            page.body
        );
        let page = app.get("/login?error=invalid", None).await;
        assert!(page
            .body
            .contains("The user name or password is not right."));
    });
}

#[test]
fn share_links_open_without_an_account_and_revoked_ones_answer_410() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let reply = app
            .send(
                POST,
                "/api/shares/create",
                Some(&staff),
                Some("selection=area:east-of-england&label=East+reach"),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let path: String = serde_json::from_str(&reply.body).expect("json string");
        assert!(path.starts_with("/share/"));

        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("East reach") && page.body.contains("read-only"));
        assert!(
            !page.body.contains(r#"aria-label="Main""#),
            "no navigation for a link viewer"
        );
        // The link grants that map and nothing else.
        assert_eq!(
            app.get("/checklist", None).await.status,
            StatusCode::SEE_OTHER
        );
        let token = path.trim_start_matches("/share/");
        let own = app
            .get(
                &format!("/api/features/index.json?sel=area:east-of-england&share={token}"),
                None,
            )
            .await;
        assert_eq!(own.status, StatusCode::OK, "{}", own.body);
        let other = app
            .get(
                &format!("/api/features/1.kml?sel=area:london&share={token}"),
                None,
            )
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
        let forged = app
            .get(
                "/api/features/index.json?sel=area:east-of-england&share=forged",
                None,
            )
            .await;
        assert_eq!(forged.status, StatusCode::NOT_FOUND, "{}", forged.body);
        // The map's plan and its coverage tiles, for that selection only.
        let plan = app
            .get(
                &format!("/api/map/plan?sel=area:east-of-england&z=6&share={token}"),
                None,
            )
            .await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
        let plan: serde_json::Value = serde_json::from_str(&plan.body).expect("json");
        // The tile URL's signed key is its own permission: no session, no token.
        let tiles = plan["tiles"].as_str().expect("tiles").to_owned();
        let tile = tiles
            .replace("{z}", "6")
            .replace("{x}", "32")
            .replace("{y}", "21")
            .replace("{r}", "");
        let tile = app.get(&tile, None).await;
        assert_eq!(tile.status, StatusCode::OK, "{}", tile.body);
        assert_eq!(tile.headers[axum::http::header::CONTENT_TYPE], "image/png");
        let other = app
            .get(
                &format!("/api/map/plan?sel=area:london&share={token}"),
                None,
            )
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
        // Making a key for another selection is no way in: it is not signed.
        let london = services::tiles::TileKey {
            version: plan["data_version"].as_str().expect("version").to_owned(),
            layers: vec![("area:london".to_owned(), String::new())],
        }
        .encode();
        assert_eq!(
            app.get(&format!("/tiles/coverage/{london}/6/31/21.png"), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // A link must name regions the map knows.
        let bad = app
            .send(
                POST,
                "/api/shares/create",
                Some(&staff),
                Some("selection=atlantis&label=X"),
                &[],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

        let list = app.get("/api/shares/list", Some(&staff)).await;
        let links: serde_json::Value = serde_json::from_str(&list.body).expect("json");
        let id = links[0]["id"].as_i64().expect("id");
        let reply = app
            .send(
                POST,
                "/api/shares/revoke",
                Some(&staff),
                Some(&format!("id={id}")),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::GONE);
        assert!(
            page.body.contains("This share link was revoked on"),
            "{}",
            page.body
        );
        let page = app.get("/share/not-a-token", None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
    });
}
