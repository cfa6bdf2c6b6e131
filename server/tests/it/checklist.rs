//! Migrations over HTTP: created, ticked and shared through the same form posts
//! a browser without JavaScript makes; exports; bad input.

use axum::http::{header, Method, StatusCode};

use crate::util::{app, block_on, TestApp};

const FORM: &str =
    "form[name]=Move+the+shop&form[domains]=shop.example.com%2C+www.shop.example.com\
&form[source_server]=old1.example.com&form[target_server]=192.0.2.10&form[services]=http+https+ssh\
&form[window_start]=2026-12-05T22%3A00&form[window_end]=2026-12-06T02%3A00\
&form[time_zone]=Europe%2FLondon&form[owner]=Alice&form[ttl_limit]=";

async fn post(app: &TestApp, path: &str, token: &str, body: &str) -> crate::util::Reply {
    app.send(
        Method::POST,
        path,
        Some(token),
        Some(body),
        &[("accept", "application/json")],
    )
    .await
}

async fn create(app: &TestApp, token: &str, body: &str) -> crate::util::Reply {
    post(app, "/api/migrations/create", token, body).await
}

#[test]
fn a_migration_is_created_ticked_shared_and_exported() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        let reply = create(&app, &staff, FORM).await;
        assert!(
            reply.status.is_success() || reply.status.is_redirection(),
            "{} {}",
            reply.status,
            reply.body
        );
        let list = app
            .state
            .services
            .checklist
            .list_migrations(&services::auth::Principal::Anonymous, "UTC")
            .await;
        assert!(list.is_err(), "anonymous may not list");
        let id: i64 = reply.body.trim().parse().expect("the new id");

        // The page, in a Melbourne viewer's zone, with JS off: every point, no stale UTC.
        let page = app
            .get(
                &format!("/checklist/{id}?tz=Australia/Melbourne"),
                Some(&staff),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains("Sun 6 Dec 2026 09:00 – 13:00 Australia/Melbourne (UTC+11:00)"),
            "window not in the viewer's zone"
        );
        assert!(page
            .body
            .contains("Planned as Sat 5 Dec 2026 22:00 – Sun 6 Dec 2026 02:00 Europe/London"));
        assert_eq!(page.body.matches(r#"class="checklist-item""#).count(), 40);
        assert_eq!(page.body.matches(r#"class="tick-form""#).count(), 40);
        assert!(page.body.contains("0 of 40 settled (0%)"));

        // Tick the first point through the server function.
        let m = app
            .state
            .services
            .checklist
            .migration(&app_staff(&app, &staff).await, id, "UTC")
            .await
            .expect("read");
        let first = &m.sections[0].items[0];
        let reply = post(
            &app,
            "/api/migrations/tick",
            &staff,
            &format!(
                "migration={id}&item={}&state=done&note=copied+over&revision={}",
                first.id, first.revision
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        // The same tick again, on the now stale revision: 409 with who did it.
        let reply = post(
            &app,
            "/api/migrations/tick",
            &staff,
            &format!(
                "migration={id}&item={}&state=open&note=&revision={}",
                first.id, first.revision
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert!(reply.body.contains("set this point to"), "{}", reply.body);

        // A share link; its page needs no session and shows the same state, read-only.
        let reply = post(
            &app,
            "/api/migrations/share",
            &staff,
            &format!("migration={id}&label=For+the+client"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let path: String = serde_json::from_str(&reply.body).expect("path");
        assert!(path.starts_with("/share/"));
        let shared = app.get(&format!("{path}?tz=Europe/London"), None).await;
        assert_eq!(shared.status, StatusCode::OK, "{}", shared.body);
        assert!(shared.body.contains("Move the shop"));
        assert!(
            shared.body.contains("1 of 40 settled (2%)"),
            "progress not shown to the share"
        );
        assert!(shared.body.contains("copied over"), "the note");
        assert!(
            !shared.body.contains("tick-form"),
            "a share link must not offer ticking"
        );
        assert_eq!(shared.body.matches(r#"class="checklist-item""#).count(), 40);

        // Exports.
        let md = app
            .get(&format!("/checklist/{id}/export.md?tz=UTC"), Some(&staff))
            .await;
        assert_eq!(md.status, StatusCode::OK);
        assert!(md.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/markdown"));
        assert!(md.body.starts_with("# Move the shop"));
        assert!(md.body.contains("- [x] ") && md.body.contains("> copied over"));
        let csv = app
            .get(&format!("/checklist/{id}/export.csv"), Some(&staff))
            .await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.body.lines().count(), 41);
        assert!(csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("cd")
            .contains(".csv"));
        assert_eq!(
            app.get(&format!("/checklist/{id}/export.pdf"), Some(&staff))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get("/checklist/999999/export.md", Some(&staff))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Without a session: to the sign-in page, nothing exported.
        assert_ne!(
            app.get(&format!("/checklist/{id}/export.md"), None)
                .await
                .status,
            StatusCode::OK
        );
    });
}

async fn app_staff(app: &TestApp, token: &str) -> services::auth::Principal {
    app.state
        .services
        .auth
        .session(token)
        .await
        .expect("session")
}

#[test]
fn bad_input_gets_a_clear_message_and_changes_nothing() {
    block_on(async {
        let app = app().await;
        let staff = app.login("staff").await;
        for (field, bad, message) in [
            (
                "form[window_end]=2026-12-06T02%3A00",
                "form[window_end]=2026-12-05T21%3A00",
                "before it starts",
            ),
            (
                "form[time_zone]=Europe%2FLondon",
                "form[time_zone]=BST",
                "IANA",
            ),
            (
                "form[domains]=shop.example.com%2C+www.shop.example.com",
                "form[domains]=shop_example",
                "not a domain name",
            ),
        ] {
            assert!(FORM.contains(field), "{field}");
            let reply = create(&app, &staff, &FORM.replace(field, bad)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{bad}: {}",
                reply.body
            );
            assert!(reply.body.contains(message), "{bad}: {}", reply.body);
        }
        let viewer = app.login("viewer").await;
        let list = app.get("/checklist", Some(&viewer)).await;
        assert!(
            list.body.contains("No migrations yet"),
            "something was stored"
        );
        // A viewer sees no creation form.
        assert!(!list.body.contains("Plan a migration"));
    });
}
