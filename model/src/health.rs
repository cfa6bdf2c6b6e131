//! Infrastructure health as both sides see it: targets in pools, their HAProxy-style
//! check settings, what the checker observed, and HAProxy's own stats.

use serde::{Deserialize, Serialize};

/// How a target is checked. Adding a kind: a variant here (its name, label and
/// what it sends), and how to check it in the health crate's `check.rs`; the
/// config check, the form and the stored rows follow [`CheckKind::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A TCP connect within the timeout.
    Tcp,
    /// An HTTP request over plain TCP (the default).
    #[default]
    Http,
    /// An HTTP request over TLS (the certificate's expiry is watched too).
    Https,
}

impl CheckKind {
    /// Every kind: what names are accepted, what the form offers.
    pub const ALL: [Self; 3] = [Self::Tcp, Self::Http, Self::Https];

    /// The name in the config, the form and the database: `tcp`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// For people choosing one: `TCP connect`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Tcp => "TCP connect",
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }

    /// Whether the check sends an HTTP request (so the method and path matter).
    #[must_use]
    pub fn sends_http(self) -> bool {
        match self {
            Self::Tcp => false,
            Self::Http | Self::Https => true,
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What an HTTP(S) check sends and expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// `GET`, `HEAD`, `OPTIONS`...
    pub method: String,
    /// `/healthz`
    pub path: String,
    /// The status that counts as healthy; `None`: any 2xx or 3xx.
    pub expect_status: Option<u16>,
    /// A substring the body must contain (read up to 16 KiB).
    pub body_match: Option<String>,
    /// The Host header (and TLS SNI); the address's host when `None`.
    pub host: Option<String>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            path: "/".into(),
            expect_status: None,
            body_match: None,
            host: None,
        }
    }
}

/// HAProxy's check settings (`server ... check inter 2s fastinter 1s downinter 5s fall 3 rise 2`
/// with `timeout check 2s`), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Between checks while the state is settled (fully UP).
    pub inter_ms: u32,
    /// Between checks while the state is changing (UP going down, DOWN going up).
    pub fastinter_ms: u32,
    /// Between checks while fully DOWN.
    pub downinter_ms: u32,
    /// Consecutive failures that take an UP server DOWN.
    pub fall: u32,
    /// Consecutive successes that bring a DOWN server UP.
    pub rise: u32,
    /// How long one check may take (connect + request + answer).
    pub timeout_ms: u32,
}

impl Default for Timing {
    /// HAProxy's defaults: inter 2 s (fastinter and downinter follow inter), fall 3, rise 2.
    fn default() -> Self {
        Self {
            inter_ms: 2000,
            fastinter_ms: 2000,
            downinter_ms: 2000,
            fall: 3,
            rise: 2,
            timeout_ms: 2000,
        }
    }
}

/// One checked backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub id: i64,
    pub name: String,
    /// The pool it serves in.
    pub pool: String,
    /// `host:port` (an IP address or a name).
    pub address: String,
    pub kind: CheckKind,
    pub http: HttpCheck,
    pub timing: Timing,
    /// An HTTPS target whose certificate expires within this many days is flagged.
    pub cert_warn_days: u32,
}

/// UP or DOWN, as HAProxy says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Up,
    Down,
}

impl HealthState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Down => "DOWN",
        }
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// When the check finished, ms since the epoch (UTC).
    pub at_ms: i64,
    pub ok: bool,
    /// Connect to answer (or to the failure), ms.
    pub latency_ms: u32,
    /// What was seen, for people: `HTTP 200 in 3 ms`, `connection refused`,
    /// `timeout after 2000 ms (connected, no answer)`, `certificate expires in 5 days`.
    pub message: String,
    /// A warning that does not fail the check (a certificate close to expiry).
    pub warning: Option<String>,
}

/// A target's state as the checker holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub id: i64,
    pub state: HealthState,
    /// HAProxy's health counter: `rise + fall - 1` when fully UP, 0 when fully DOWN;
    /// in between the state is changing.
    pub health: u32,
    /// When the state last changed (or the checker started), ms since the epoch.
    pub since_ms: i64,
    pub last: Option<Observation>,
    /// The latest latencies, oldest first, failures as `None` (bounded).
    pub recent: Vec<Option<u32>>,
    /// Checks done since the checker started.
    pub checks: u64,
}

/// A target went UP or DOWN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub target_id: i64,
    pub name: String,
    pub pool: String,
    pub from: HealthState,
    pub to: HealthState,
    pub at_ms: i64,
    /// The observation that made the change.
    pub message: String,
}

/// What a row of HAProxy's stats describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaproxyRowKind {
    Frontend,
    Backend,
    Server,
    Listener,
}

/// One row of HAProxy's `show stat` / CSV stats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyRow {
    /// `pxname`: the frontend or backend.
    pub proxy: String,
    /// `svname`: `FRONTEND`, `BACKEND` or the server's name.
    pub service: String,
    pub kind: HaproxyRowKind,
    /// `status`: `UP`, `DOWN`, `UP 1/3` (going down), `DOWN 1/2` (going up), `OPEN`, `no check`, `MAINT`...
    pub status: String,
    /// `check_status` without the `* ` in-progress prefix: `L7OK`, `L4CON`, `L4TOUT`...
    pub check_status: String,
    /// `check_desc` or `last_chk`, when HAProxy gives one.
    pub check_detail: String,
    /// `scur`: current sessions.
    pub sessions: u64,
    /// `stot`: total sessions.
    pub sessions_total: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `lastchg`: seconds since the last UP/DOWN change.
    pub last_change_secs: Option<u64>,
    /// `addr` of a server (`127.0.0.1:8080`), when HAProxy gives it.
    pub address: Option<String>,
}

/// A pool's roll-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolState {
    /// Every backend UP.
    Up,
    /// Some backends DOWN, at least one UP.
    Degraded,
    /// No backend UP.
    Down,
    /// Nothing checked yet.
    Unknown,
}

impl PoolState {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Degraded => "DEGRADED",
            Self::Down => "DOWN",
            Self::Unknown => "UNKNOWN",
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }
}

/// One backend on the page: its settings and the checker's latest view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRow {
    pub id: i64,
    pub name: String,
    pub pool: String,
    pub site: String,
    pub address: String,
    pub kind: CheckKind,
    /// `GET /healthz` for HTTP checks, empty for TCP.
    pub request: String,
    pub timing: Timing,
    pub live: TargetLive,
    /// HAProxy's status for the same address, when an instance lists it.
    pub haproxy: Option<String>,
    /// HAProxy and our checker disagree (one says UP, the other DOWN).
    pub disagrees: bool,
}

/// The parts of a row that change with every check (sent again live).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLive {
    pub id: i64,
    /// `None` until the first check.
    pub state: Option<HealthState>,
    pub health: u32,
    pub since_ms: i64,
    pub latency_ms: u32,
    pub ok: bool,
    pub message: String,
    pub warning: Option<String>,
    pub checked_ms: i64,
    pub recent: Vec<Option<u32>>,
    pub checks: u64,
    /// When the row was last written, ms (for deltas).
    pub updated_ms: i64,
}

/// A pool and its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRow {
    pub id: i64,
    pub name: String,
    pub site: String,
    pub service: String,
    /// Healthy backends needed to carry the pool's own traffic.
    pub needed: u32,
    pub up: u32,
    pub down: u32,
    pub total: u32,
    pub state: PoolState,
}

/// A site (data centre or cloud region) and whether its traffic can go elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRow {
    pub name: String,
    /// `datacentre` or `cloud`.
    pub kind: String,
    pub up: u32,
    pub total: u32,
    /// Every service the site runs has enough healthy capacity at other sites.
    pub can_fail_over: bool,
    /// Why (per service): `web: 3 spare UP elsewhere, 2 needed`.
    pub failover: Vec<String>,
}

/// An UP/DOWN change, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEvent {
    pub target_id: i64,
    pub name: String,
    pub pool: String,
    pub from: HealthState,
    pub to: HealthState,
    pub at_ms: i64,
    pub message: String,
}

/// One configured HAProxy instance and what it said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyView {
    pub name: String,
    pub rows: Vec<HaproxyRow>,
    /// Why the stats could not be read.
    pub error: Option<String>,
}

/// The whole health page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthOverview {
    /// Sites, pools, the timeline, the checker: what a live page reloads on a change.
    pub rollup: HealthRollup,
    /// The rows the filters let through, problems first (at most a few hundred).
    pub targets: Vec<TargetRow>,
    /// Targets the filters let through.
    pub matched: u32,
    /// Targets in all, before filters.
    pub total_targets: u32,
    pub haproxy: Vec<HaproxyView>,
    /// DNS readiness: each configured name's TTL against the limit.
    pub dns: Option<crate::checklist::CheckReport>,
}

/// What changes when a backend goes UP or DOWN: reloaded by live pages then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRollup {
    pub sites: Vec<SiteRow>,
    pub pools: Vec<PoolRow>,
    pub events: Vec<HealthEvent>,
    /// Which replica runs the checker (empty when none does).
    pub checker: String,
    /// Server time of this answer, ms: the next delta asks for changes after it.
    pub now_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_kind_is_found_by_its_name_and_only_by_it() {
        for kind in CheckKind::ALL {
            assert_eq!(CheckKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(CheckKind::from_name("HTTP"), None);
        assert_eq!(CheckKind::from_name("udp"), None);
        assert!(CheckKind::ALL.contains(&CheckKind::default()));
    }
}
