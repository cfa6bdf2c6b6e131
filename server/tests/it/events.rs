//! `GET /api/events`: the live feed, filtered by role.

use std::time::Duration;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

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
