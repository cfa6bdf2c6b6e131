//! The migration checklist template as the pages see it.

use serde::{Deserialize, Serialize};

/// A machine check that can verify a checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomatedCheck {
    /// The TTL of each domain's DNS records is low enough to move.
    DnsTtl,
    /// A valid TLS certificate covers each name on the target.
    TlsCertificate,
    /// The planned service ports answer on the target.
    ServicePorts,
    /// HTTP answers for each Host header on its VIP.
    HttpHost,
}

impl AutomatedCheck {
    /// The stored name (the `automated_check` column).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DnsTtl => "dns_ttl",
            Self::TlsCertificate => "tls_certificate",
            Self::ServicePorts => "service_ports",
            Self::HttpHost => "http_host",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::DnsTtl,
            Self::TlsCertificate,
            Self::ServicePorts,
            Self::HttpHost,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }

    /// A short label for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::DnsTtl => "DNS TTL check",
            Self::TlsCertificate => "TLS certificate check",
            Self::ServicePorts => "Service port check",
            Self::HttpHost => "HTTP Host check",
        }
    }
}

/// One point to settle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateItem {
    pub id: i64,
    pub text: String,
    pub guidance: Option<String>,
    pub automated_check: Option<AutomatedCheck>,
    /// Retired points stay in the template (and in checklists copied while they
    /// were in use) but new migrations leave them out.
    #[serde(default)]
    pub retired: bool,
}

/// A group of points (Planning, DNS, ...), in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSection {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub items: Vec<TemplateItem>,
}

/// A whole checklist template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub sections: Vec<TemplateSection>,
}

impl Template {
    /// How many points the template holds.
    #[must_use]
    pub fn item_count(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.items)
            .filter(|i| !i.retired)
            .count()
    }
}

/// What an automated check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything checked is as it should be.
    Pass,
    /// Usable, but look at it (a certificate close to expiry, a 4xx answer).
    Warn,
    /// Something checked is wrong (TTL too high, port closed, certificate expired).
    Fail,
    /// The check could not run (no DNS server, nothing to check): it says why.
    CannotRun,
}

impl Verdict {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::CannotRun => "cannot_run",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pass, Self::Warn, Self::Fail, Self::CannotRun]
            .into_iter()
            .find(|v| v.as_str() == name)
    }

    /// A word for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "Pass",
            Self::Warn => "Warning",
            Self::Fail => "Fail",
            Self::CannotRun => "Could not run",
        }
    }

    /// The worse of two verdicts (a check's verdict is the worst of its evidence).
    #[must_use]
    pub fn worst(self, other: Self) -> Self {
        let rank = |v: Self| match v {
            Self::Pass => 0,
            Self::Warn => 1,
            Self::CannotRun => 2,
            Self::Fail => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// One line of a check's evidence: one name, one port, one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was looked at: `www.example.com A`, `smtp 192.0.2.7:25`.
    pub subject: String,
    pub verdict: Verdict,
    /// What was seen, in words: `TTL 3600 s (limit 300 s)`, `refused`, `expires in 9 days`.
    pub detail: String,
}

/// The outcome of one run of an automated check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub check: AutomatedCheck,
    /// The worst verdict of the evidence (or `CannotRun` with the reason in `summary`).
    pub verdict: Verdict,
    /// One sentence for the page.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// How long the run took.
    pub elapsed_ms: u64,
}

/// Where a point of a working checklist stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Open,
    Done,
    NotApplicable,
    Blocked,
}

impl ItemState {
    pub const ALL: [ItemState; 4] = [
        ItemState::Open,
        ItemState::Done,
        ItemState::NotApplicable,
        ItemState::Blocked,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::NotApplicable => "not_applicable",
            Self::Blocked => "blocked",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// A word for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Done => "Done",
            Self::NotApplicable => "Not applicable",
            Self::Blocked => "Blocked",
        }
    }

    /// Settled points (done or not applicable) count towards progress.
    #[must_use]
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Done | Self::NotApplicable)
    }
}

/// How far a checklist (or one of its sections) has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub total: u32,
    pub done: u32,
    pub not_applicable: u32,
    pub blocked: u32,
}

impl Progress {
    /// Counts one point.
    pub fn add(&mut self, state: ItemState) {
        self.total += 1;
        match state {
            ItemState::Done => self.done += 1,
            ItemState::NotApplicable => self.not_applicable += 1,
            ItemState::Blocked => self.blocked += 1,
            ItemState::Open => {}
        }
    }

    /// Done or not applicable.
    #[must_use]
    pub fn settled(&self) -> u32 {
        self.done + self.not_applicable
    }

    /// Neither settled nor blocked.
    #[must_use]
    pub fn open(&self) -> u32 {
        self.total - self.settled() - self.blocked
    }

    /// Settled share in whole percent, rounded down (100 only when all are settled).
    #[must_use]
    pub fn percent(&self) -> u32 {
        (self.settled() * 100)
            .checked_div(self.total)
            .unwrap_or(100)
    }
}

/// A time as the viewer reads it, with the UTC instant it stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    /// Seconds since the epoch (UTC).
    pub utc: i64,
    /// In the viewer's zone, by IANA name: `Sat 5 Dec 2026 22:00 Europe/London (UTC+00:00)`.
    pub text: String,
    /// RFC 3339 with offset, for `<time datetime>`.
    pub iso: String,
}

/// The planned window of a migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Shown,
    pub end: Shown,
    /// The zone it was planned in (IANA name).
    pub planned_zone: String,
    /// The window in the zone it was planned in.
    pub planned_text: String,
    /// The window in the viewer's zone.
    pub viewer_text: String,
}

/// A migration in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationSummary {
    pub id: i64,
    pub name: String,
    pub domains: Vec<String>,
    pub source_server: String,
    pub target_server: String,
    pub owner: String,
    pub window: Window,
    pub progress: Progress,
}

/// One point of a working checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationItem {
    pub id: i64,
    pub text: String,
    pub guidance: Option<String>,
    pub automated_check: Option<AutomatedCheck>,
    pub state: ItemState,
    pub note: String,
    pub changed_by: Option<String>,
    pub changed_at: Option<Shown>,
    /// Bumped by every change: a tick names the revision it was made on.
    pub revision: i64,
}

/// A section of a working checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationSection {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub items: Vec<MigrationItem>,
    pub progress: Progress,
}

/// One stored run of an automated check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    pub report: CheckReport,
    pub ran_by: String,
    pub ran_at: Shown,
}

/// One tick, as the activity list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemChange {
    pub item_id: i64,
    pub item_text: String,
    pub state: ItemState,
    pub note: String,
    pub by: String,
    pub at: Shown,
}

/// A whole migration with its checklist and the latest run of each check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub summary: MigrationSummary,
    pub services: Vec<String>,
    pub ttl_limit: u32,
    pub template_name: String,
    pub created_at: Shown,
    pub sections: Vec<MigrationSection>,
    /// The latest run of each check that has run, in [`AutomatedCheck`] order.
    pub checks: Vec<CheckRun>,
    /// The latest ticks, newest first (at most [`Migration::ACTIVITY`]).
    pub activity: Vec<ItemChange>,
    /// The viewer's zone the times are shown in.
    pub viewer_zone: String,
}

impl Migration {
    /// How many recent ticks a migration carries.
    pub const ACTIVITY: u32 = 20;
}

/// A new migration as a person types it (the form's fields).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMigration {
    pub name: String,
    /// Names separated by commas, spaces or lines.
    pub domains: String,
    pub source_server: String,
    pub target_server: String,
    /// `smtp`, `https:8443`... separated by commas, spaces or lines.
    pub services: String,
    /// Local date and time in `time_zone`: `2026-12-05T22:00`.
    pub window_start: String,
    pub window_end: String,
    /// IANA name: `Europe/London`, `Australia/Melbourne`.
    pub time_zone: String,
    pub owner: String,
    /// Seconds; empty for the default (300).
    pub ttl_limit: String,
}
