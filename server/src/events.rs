//! `GET /api/events`: the change feed as server-sent events, for live pages.
//!
//! Each event names its topic (`event: audit`) and carries the JSON the
//! services published. A user only receives topics their role may read. The
//! feed is the database's (see `services::events`): on PostgreSQL an event
//! published through any replica arrives here too.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension,
};
use model::auth::Permission;
use services::auth::Principal;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

/// What a topic needs.
fn permission_for(topic: &str) -> Permission {
    match topic {
        "audit" => Permission::ViewAudit,
        _ => Permission::ViewDashboard,
    }
}

pub async fn stream(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Response {
    if let Err(e) = who.require(Permission::ViewDashboard) {
        let status = match e {
            services::Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        return (status, e.to_string()).into_response();
    }
    let rx = state.services.db.bus().subscribe();
    // Say hello first, so a client (and a test) knows the feed is open.
    let hello = Event::default().event("hello").data(services::replica_id());
    let events =
        futures_util::stream::unfold((rx, who, Some(hello)), |(mut rx, who, hello)| async move {
            if let Some(hello) = hello {
                return Some((Ok::<_, Infallible>(hello), (rx, who, None)));
            }
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if who.require(permission_for(&event.topic)).is_err() {
                            continue;
                        }
                        let data =
                            serde_json::json!({ "origin": event.origin, "data": event.data });
                        let sse = Event::default()
                            .event(event.topic.clone())
                            .data(data.to_string());
                        return Some((Ok(sse), (rx, who, None)));
                    }
                    // This page fell behind: it should reload what it shows.
                    Err(RecvError::Lagged(_)) => {
                        let sse = Event::default().event("resync").data("{}");
                        return Some((Ok(sse), (rx, who, None)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
    (
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
        .into_response()
}
