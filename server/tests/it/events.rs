//! `GET /api/events`: the live feed, filtered by role.

use std::time::Duration;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use server::events;

use crate::util::{app, block_on, TestApp, HOST};

/// Opens the feed as `token` and returns its body, checked to be an event stream.
async fn open(app: &TestApp, token: Option<&str>) -> (StatusCode, Body) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/api/events")
        .header(header::HOST, HOST);
    if let Some(t) = token {
        req = req.header(header::COOKIE, format!("sb_session={t}"));
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "an event stream"
        );
    }
    (status, res.into_body())
}

/// The next `event:` name and its data, skipping keep-alive comments.
async fn next_event(body: &mut Body, buf: &mut String) -> Option<(String, String)> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if !name.is_empty() {
                return Some((name, data));
            }
            continue;
        }
        let frame = tokio::time::timeout(Duration::from_secs(1), body.frame())
            .await
            .ok()??;
        if let Ok(bytes) = frame.expect("frame").into_data() {
            buf.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn the_feed_needs_a_user_and_shows_each_role_only_its_topics() {
    block_on(async {
        let app = app().await;
        assert_eq!(open(&app, None).await.0, StatusCode::UNAUTHORIZED);

        let admin = app.login("admin").await;
        let staff = app.login("staff").await;
        let (status, mut admin_feed) = open(&app, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK);
        let (_, mut staff_feed) = open(&app, Some(&staff)).await;
        let (mut a, mut s) = (String::new(), String::new());
        assert_eq!(
            next_event(&mut admin_feed, &mut a).await.expect("hello").0,
            "hello"
        );
        assert_eq!(
            next_event(&mut staff_feed, &mut s).await.expect("hello").0,
            "hello"
        );

        // Staff make an audited change: the admin's feed shows it live.
        let reply = app
            .send(
                Method::POST,
                "/api/shares/create",
                Some(&staff),
                Some("selection=area:east-of-england&label=Live"),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        // (On PostgreSQL, the sign-ins above may arrive first: NOTIFY is
        // delivered a moment after it is sent.)
        let v = loop {
            let (name, data) = next_event(&mut admin_feed, &mut a)
                .await
                .expect("audit event");
            assert_eq!(name, "audit");
            let v: serde_json::Value = serde_json::from_str(&data).expect("json");
            if v["data"]["action"] != "auth.login" {
                break v;
            }
        };
        assert_eq!(v["data"]["action"], "share.create", "{v}");
        assert_eq!(v["data"]["actor"], "staff");
        assert_eq!(v["origin"], services::replica_id());
        // Staff may not read the audit log, so their feed stays quiet.
        assert_eq!(next_event(&mut staff_feed, &mut s).await, None);

        // A job run is news for everyone who sees the dashboard.
        app.state
            .services
            .scheduler
            .start(
                "housekeeping",
                services::jobs::Trigger::Manual("admin".into()),
            )
            .await
            .expect("start");
        let (name, data) = next_event(&mut staff_feed, &mut s)
            .await
            .expect("job event");
        assert_eq!(name, "job");
        assert!(data.contains(r#""job":"housekeeping""#), "{data}");
    });
}

/// Whether the stream ends (the server closes it) within `bound`, skipping
/// whatever it still sends.
async fn ends_within(body: &mut Body, bound: Duration) -> bool {
    tokio::time::timeout(bound, async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await
    .is_ok()
}

#[test]
fn a_stream_ends_when_its_session_ends_or_its_user_is_disabled() {
    block_on(async {
        let app = app().await;
        // Signed out: the stream closes.
        let staff = app.login("staff").await;
        let (_, mut feed) = open(&app, Some(&staff)).await;
        let mut buf = String::new();
        assert_eq!(
            next_event(&mut feed, &mut buf).await.expect("hello").0,
            "hello"
        );
        let reply = app
            .send(Method::POST, "/logout", Some(&staff), Some(""), &[])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert!(
            ends_within(&mut feed, events::RECHECK + Duration::from_secs(2)).await,
            "a signed-out user's stream stays open"
        );

        // Disabled by an admin: the stream closes.
        let viewer = app.login("viewer").await;
        let (_, mut feed) = open(&app, Some(&viewer)).await;
        let mut buf = String::new();
        assert_eq!(
            next_event(&mut feed, &mut buf).await.expect("hello").0,
            "hello"
        );
        let admin = admin_principal(&app).await;
        let viewer_id = user_id(&app, &admin, "viewer").await;
        app.state
            .services
            .auth
            .set_disabled(&admin, &services::auth::Client::default(), viewer_id, true)
            .await
            .expect("disable");
        assert!(
            ends_within(&mut feed, events::RECHECK + Duration::from_secs(2)).await,
            "a disabled user's stream stays open"
        );
    });
}

#[test]
fn a_demoted_admin_stops_receiving_audit_events() {
    block_on(async {
        let app = app().await;
        app.state
            .services
            .auth
            .add_user(
                None,
                "admin2",
                "",
                services::auth::Role::Admin,
                crate::util::PASSWORD,
            )
            .await
            .expect("second admin");
        let token = app.login("admin2").await;
        let (_, mut feed) = open(&app, Some(&token)).await;
        let mut buf = String::new();
        assert_eq!(
            next_event(&mut feed, &mut buf).await.expect("hello").0,
            "hello"
        );
        let admin = admin_principal(&app).await;
        let id = user_id(&app, &admin, "admin2").await;
        // While an admin, they see the audit log live (the admin's sign-in).
        let (name, _) = next_event(&mut feed, &mut buf).await.expect("audit");
        assert_eq!(name, "audit");
        while next_event(&mut feed, &mut buf).await.is_some() {}
        app.state
            .services
            .auth
            .set_role(
                &admin,
                &services::auth::Client::default(),
                id,
                services::auth::Role::Staff,
            )
            .await
            .expect("demote");
        // Audit events after the demotion (the demotion's own included) do not
        // reach the stream; it stays open for what staff may see.
        app.state
            .services
            .auth
            .audit_system("test.secret", "after the demotion", "")
            .await
            .expect("audit");
        loop {
            match next_event(&mut feed, &mut buf).await {
                None => break,
                Some((name, data)) => {
                    assert_ne!(name, "audit", "a staff user received {data}");
                }
            }
        }
        app.state
            .services
            .scheduler
            .start(
                "housekeeping",
                services::jobs::Trigger::Manual("admin".into()),
            )
            .await
            .expect("start");
        let (name, _) = next_event(&mut feed, &mut buf).await.expect("job event");
        assert_eq!(name, "job");
    });
}

#[test]
fn shutdown_does_not_wait_for_open_streams() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    block_on(async {
        let app = app().await;
        let token = app.login("staff").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, app.state.clone(), async move {
            let _ = stopped.await;
        }));
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(
            format!(
                "GET /api/events HTTP/1.1\r\nHost: {HOST}\r\nCookie: sb_session={token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("request");
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("event: hello") {
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut chunk))
                .await
                .expect("the stream opens")
                .expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        stop.send(()).expect("signal");
        let done = tokio::time::timeout(Duration::from_secs(3), server).await;
        assert!(done.is_ok(), "the server waited on an open event stream");
        done.expect("in time").expect("task").expect("served");
    });
}

async fn admin_principal(app: &TestApp) -> services::auth::Principal {
    let token = app.login("admin").await;
    app.state
        .services
        .auth
        .session(&token)
        .await
        .expect("session")
}

async fn user_id(app: &TestApp, admin: &services::auth::Principal, name: &str) -> i64 {
    app.state
        .services
        .auth
        .list_users(admin)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.username == name)
        .expect("user")
        .id
}
