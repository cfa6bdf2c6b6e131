//! The firewall sync as both sides see it: EC2 instances per region, the allow
//! rules they become, the plan between what a host has and what it should have,
//! and the audit of every apply.

use serde::{Deserialize, Serialize};

/// One EC2 instance as the inventory saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub region: String,
    pub id: String,
    /// `running`, `stopped`, `terminated`...
    pub state: String,
    pub public_ip: Option<String>,
    pub public_dns: Option<String>,
    /// Tags as `(key, value)`, sorted by key.
    pub tags: Vec<(String, String)>,
}

impl Instance {
    /// The host part of the rule comment: the public DNS name, else the id.
    #[must_use]
    pub fn host(&self) -> &str {
        self.public_dns
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or(&self.id)
    }
}

/// What happened in one region during one inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionReport {
    pub region: String,
    /// Why the region could not be read (timeout, refused, denied); `None` when it was.
    pub error: Option<String>,
    /// DescribeInstances pages read.
    pub pages: u32,
    /// How long the region took, in milliseconds.
    pub took_ms: u64,
    /// The instances seen; for a failed region, the ones last seen there
    /// (unknown is not gone: their rules stay).
    pub instances: Vec<Instance>,
    /// When the carried-over instances were last seen (a failed region only).
    pub carried_from_ms: Option<i64>,
}

/// One inventory across every region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub taken_ms: i64,
    pub regions: Vec<RegionReport>,
    /// The region list itself could not be read (then `regions` is empty or configured).
    pub error: Option<String>,
}

impl Inventory {
    /// Every instance of every region (carried-over ones included).
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.regions.iter().flat_map(|r| r.instances.iter())
    }

    /// Regions that could not be read.
    pub fn failed(&self) -> impl Iterator<Item = &RegionReport> {
        self.regions.iter().filter(|r| r.error.is_some())
    }
}

/// Where an allow rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// The management entry that keeps staff from being locked out.
    Management,
    /// A static entry of the config (the office, monitoring).
    Static,
    /// A running EC2 instance.
    Ec2,
}

/// One allow rule: TCP from `source` to `port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// An IPv4 address with prefix, `203.0.113.7/32`.
    pub source: String,
    pub port: u16,
    /// `EC2 - <public dns or instance id>`, or the static entry's label.
    pub comment: String,
}

/// The difference between the rules a host has and the rules it should have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub add: Vec<Rule>,
    pub remove: Vec<Rule>,
    /// How many rules stay as they are.
    pub unchanged: usize,
    /// A digest of the plan, so an apply can refuse a plan that moved on
    /// since the person confirming it read it.
    pub digest: String,
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// How the rules reach the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Iptables,
    Nftables,
    /// A script to run on a host the app cannot reach.
    Export,
}

impl BackendKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iptables => "iptables",
            Self::Nftables => "nftables",
            Self::Export => "export",
        }
    }
}

/// One apply (or failed apply), for the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRecord {
    pub id: i64,
    pub at_ms: i64,
    /// A user's name, or `scheduler`.
    pub actor: String,
    pub backend: String,
    pub added: Vec<Rule>,
    pub removed: Vec<Rule>,
    pub ok: bool,
    /// What happened: "applied", or why it failed and that nothing changed.
    pub message: String,
}

/// One run of the sync job, for the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    pub fence: i64,
    pub holder: String,
    pub trigger: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// `ok`, `failed`, `abandoned`, `fenced`, `running`.
    pub outcome: String,
    pub detail: String,
    pub took_over_from: Option<String>,
}

/// What changed between the last two inventories.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryChanges {
    pub since_ms: Option<i64>,
    pub appeared: Vec<Instance>,
    pub gone: Vec<Instance>,
    /// Same id, another state, address or name: (before, after).
    pub changed: Vec<(Instance, Instance)>,
}

/// Everything the firewall page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallOverview {
    /// False when no firewall config was given: the page explains how.
    pub configured: bool,
    pub backend: Option<BackendKind>,
    /// Applying is enabled in the config (otherwise plans are dry runs only).
    pub apply_enabled: bool,
    /// The scheduled sync applies by itself (otherwise it only plans).
    pub auto_apply: bool,
    pub ports: Vec<u16>,
    pub interval_secs: u64,
    /// The latest inventory, if any.
    pub inventory: Option<Inventory>,
    pub changes: InventoryChanges,
    /// The rules the host has now (app-owned chain/table only).
    pub current: Vec<Rule>,
    /// Why the host's rules could not be read, if they could not.
    pub current_error: Option<String>,
    /// What applying now would change.
    pub plan: Option<Plan>,
    pub runs: Vec<SyncRun>,
    pub applies: Vec<ApplyRecord>,
    /// Whether a sync runs right now: "since <time> on <holder>".
    pub running: Option<String>,
}
