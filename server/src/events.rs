//! `GET /api/events`: the change feed as server-sent events, for live pages.
//!
//! Each event names its topic (`event: audit`) and carries the JSON the
//! services published. A user only receives topics their role may read. The
//! feed is the database's (see `services::events`): on PostgreSQL an event
//! published through any replica arrives here too.
//!
//! The stream does not keep the permission it opened with: it looks the
//! session up again every [`RECHECK`], before sending an event that needs more
//! than the dashboard (audit events; at most every [`RECHECK_SOON`]), and at
//! once when an audit event says access may have changed (a sign-out, a user
//! disabled, demoted or given a new password; failed sign-ins, which anyone
//! can cause, do not prompt one). The look-up is a peek: it does not count as
//! activity, so an open tab never keeps an idle session alive. A session that
//! ended, a user disabled or no longer allowed the dashboard closes the
//! stream; a new role filters what follows. Server shutdown ends every stream
//! (`AppState::shutdown`).

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use model::auth::Permission;
use services::auth::{AuthService, Principal};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{auth::SESSION_COOKIE, AppState};

/// How often an open stream checks that its session still stands.
pub const RECHECK: Duration = Duration::from_secs(5);
/// The shortest gap between two checks that events prompt.
pub const RECHECK_SOON: Duration = Duration::from_millis(200);

/// What a topic needs.
fn permission_for(topic: &str) -> Permission {
    match topic {
        "audit" => Permission::ViewAudit,
        _ => Permission::ViewDashboard,
    }
}

pub async fn stream(State(state): State<AppState>, req: Request) -> Response {
    let who = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    if let Err(e) = who.require(Permission::ViewDashboard) {
        return (e.status(), e.message()).into_response();
    }
    let Some(token) = crate::auth::cookie(req.headers(), SESSION_COOKIE) else {
        return (StatusCode::UNAUTHORIZED, "sign in to do this").into_response();
    };
    let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        rx: state.services.db.bus().subscribe(),
        who,
        token,
        auth: state.services.auth.clone(),
        checked: Instant::now(),
        recheck,
        shutdown: state.shutdown.clone(),
        // Say hello first, so a client (and a test) knows the feed is open.
        hello: Some(Event::default().event("hello").data(services::replica_id())),
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let next = feed.next().await?;
        Some((Ok::<_, Infallible>(next), feed))
    });
    (
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
        .into_response()
}

/// One open stream's state.
struct Feed {
    rx: broadcast::Receiver<Arc<services::events::Event>>,
    who: Principal,
    token: String,
    auth: AuthService,
    checked: Instant,
    recheck: tokio::time::Interval,
    shutdown: CancellationToken,
    hello: Option<Event>,
}

impl Feed {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if let Some(hello) = self.hello.take() {
            return Some(hello);
        }
        loop {
            let received = tokio::select! {
                () = self.shutdown.cancelled() => return None,
                _ = self.recheck.tick() => {
                    self.still_allowed().await?;
                    continue;
                }
                r = self.rx.recv() => r,
            };
            match received {
                Ok(event) => {
                    let needs = permission_for(&event.topic);
                    // An audit event that can change who may read (a sign-out,
                    // a user disabled or demoted) prompts a check at once; a
                    // failed sign-in (anyone can cause those) does not.
                    let prompt = event.topic == "audit" && changes_access(&event.data);
                    // More than the dashboard (the audit log): checked before
                    // sending, at most every RECHECK_SOON.
                    let privileged = !matches!(needs, Permission::ViewDashboard)
                        && self.who.require(needs).is_ok()
                        && self.checked.elapsed() >= RECHECK_SOON;
                    if prompt || privileged {
                        self.still_allowed().await?;
                    }
                    if self.who.require(needs).is_err() {
                        continue;
                    }
                    let data = serde_json::json!({ "origin": event.origin, "data": event.data });
                    return Some(
                        Event::default()
                            .event(event.topic.clone())
                            .data(data.to_string()),
                    );
                }
                // This page fell behind: it should reload what it shows.
                Err(RecvError::Lagged(_)) => {
                    return Some(Event::default().event("resync").data("{}"));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Looks the session up again; `None` when the stream must end (signed
    /// out, expired, disabled, no longer allowed the dashboard, or the lookup
    /// failed: the page reconnects and is asked to sign in if need be).
    async fn still_allowed(&mut self) -> Option<()> {
        self.checked = Instant::now();
        // The periodic check counts from the last check, whatever prompted it.
        self.recheck.reset();
        // A peek: an open tab must not keep an idle session alive.
        match self.auth.peek_session(&self.token).await {
            Ok(who) if who.require(Permission::ViewDashboard).is_ok() => {
                self.who = who;
                Some(())
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("event stream closed: the session could not be checked: {e}");
                None
            }
        }
    }
}

/// Whether an audit event can change what a signed-in user may read: a
/// sign-out or anything done to a user (disable, role, password reset).
fn changes_access(data: &serde_json::Value) -> bool {
    data.get("action")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|a| a.starts_with("user.") || a.starts_with("auth.logout"))
}
