//! `firewall.json`: where the instances come from, which ports they get, how the
//! rules reach the host, and whether applying is allowed. Checked whole at
//! start-up: every problem is reported at once, with the field it is in.

use std::{collections::BTreeMap, net::Ipv4Addr, path::Path, time::Duration};

use model::firewall::BackendKind;
use serde::Deserialize;

use platform::error::Problems;

use crate::{Error, Result};

/// The seed's ports: ssh, http, svn, munin, puppet.
pub const SEED_PORTS: [u16; 5] = [22, 80, 3690, 4949, 8140];

/// The whole file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallFile {
    pub backend: BackendKind,
    /// Run `iptables`/`nft` inside this network namespace (`ip netns exec`).
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default = "default_chain")]
    pub chain: String,
    #[serde(default = "default_table")]
    pub table: String,
    /// Numbers; anything else is named as a mistake by `check`.
    #[serde(default = "seed_ports")]
    pub ports: Vec<serde_json::Value>,
    #[serde(default)]
    pub management: Option<EntryFile>,
    #[serde(default, rename = "static")]
    pub static_entries: Vec<EntryFile>,
    #[serde(default)]
    pub apply: ApplyFile,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_secs: u64,
    #[serde(default)]
    pub aws: AwsFile,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFile {
    pub source: String,
    pub ports: Vec<serde_json::Value>,
    pub comment: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyFile {
    /// Applying is allowed at all (otherwise every plan is a dry run).
    #[serde(default)]
    pub enabled: bool,
    /// The scheduled sync applies its plan by itself.
    #[serde(default)]
    pub auto: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsFile {
    /// Regions to read; `None` asks DescribeRegions.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// The region DescribeRegions is asked in.
    #[serde(default = "default_discovery_region")]
    pub discovery_region: String,
    #[serde(default)]
    pub ignore_regions: Vec<String>,
    /// `tag:<key>` filters: an instance must carry one of the values of every key.
    #[serde(default)]
    pub tag_filters: BTreeMap<String, Vec<String>>,
    #[serde(default = "default_region_timeout")]
    pub region_timeout_ms: u64,
    /// An endpoint for every region (tests point it at moto).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Endpoints for single regions.
    #[serde(default)]
    pub region_endpoints: BTreeMap<String, String>,
    /// DescribeInstances page size (5..=1000); `None` lets AWS choose.
    #[serde(default)]
    pub page_size: Option<i32>,
}

impl Default for AwsFile {
    fn default() -> Self {
        Self {
            regions: None,
            discovery_region: default_discovery_region(),
            ignore_regions: Vec::new(),
            tag_filters: BTreeMap::new(),
            region_timeout_ms: default_region_timeout(),
            endpoint: None,
            region_endpoints: BTreeMap::new(),
            page_size: None,
        }
    }
}

fn default_chain() -> String {
    "SWITCHBOARD-EC2".into()
}
fn default_table() -> String {
    "switchboard".into()
}
fn seed_ports() -> Vec<serde_json::Value> {
    SEED_PORTS
        .iter()
        .map(|&p| serde_json::Value::from(p))
        .collect()
}
fn default_interval() -> u64 {
    300
}
fn default_lease_ttl() -> u64 {
    60
}
fn default_discovery_region() -> String {
    "us-east-1".into()
}
fn default_region_timeout() -> u64 {
    3000
}

/// An allow entry after checking: a canonical IPv4 network and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `a.b.c.d/len`, host bits cleared (as `iptables-save` prints it).
    pub source: String,
    pub ports: Vec<u16>,
    pub comment: String,
}

/// Where the inventory comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    pub regions: Option<Vec<String>>,
    pub discovery_region: String,
    pub ignore_regions: Vec<String>,
    pub tag_filters: BTreeMap<String, Vec<String>>,
    pub region_timeout: Duration,
    pub endpoint: Option<String>,
    pub region_endpoints: BTreeMap<String, String>,
    pub page_size: Option<i32>,
}

/// The checked config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallConfig {
    pub backend: BackendKind,
    pub netns: Option<String>,
    pub chain: String,
    pub table: String,
    pub ports: Vec<u16>,
    pub management: Option<Entry>,
    pub static_entries: Vec<Entry>,
    pub apply_enabled: bool,
    pub auto_apply: bool,
    pub interval: Duration,
    pub lease_ttl: Duration,
    pub aws: AwsSettings,
}

impl FirewallConfig {
    /// Every port any entry or instance may be allowed on.
    #[must_use]
    pub fn managed_ports(&self) -> Vec<u16> {
        let mut all: Vec<u16> = self
            .ports
            .iter()
            .copied()
            .chain(self.management.iter().flat_map(|e| e.ports.iter().copied()))
            .chain(
                self.static_entries
                    .iter()
                    .flat_map(|e| e.ports.iter().copied()),
            )
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Reads and checks a config file.
    ///
    /// # Errors
    /// The file cannot be read or parsed, or says something impossible: every
    /// problem is listed with its field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(format!(
                "cannot read the firewall config {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| {
            Error::invalid(format!(
                "the firewall config {} is not valid: {e}",
                path.display()
            ))
        })
    }

    /// Parses and checks the text of a config file.
    ///
    /// # Errors
    /// As [`FirewallConfig::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let file: FirewallFile =
            serde_json::from_str(text).map_err(|e| Error::invalid(e.to_string()))?;
        Self::check(file)
    }

    /// Checks a parsed file.
    ///
    /// # Errors
    /// Every problem at once ([`Error::Invalid`]), each keyed by its field and
    /// naming it in its sentence.
    pub fn check(file: FirewallFile) -> Result<Self> {
        let mut problems = Problems::new();
        let ec2_ports = ports("ports", &file.ports, &mut problems);
        let entry = |field: &str, e: &EntryFile, problems: &mut Problems| -> Option<Entry> {
            let source = cidr(&e.source).map_err(|why| {
                add(problems, format!("{field}.source: {:?} {why}", e.source));
            });
            let ports = ports(&format!("{field}.ports"), &e.ports, problems);
            let comment = e.comment.trim().to_owned();
            if comment.is_empty() {
                add(problems, format!("{field}.comment: give the entry a name"));
            } else if comment.len() > 200 || comment.contains(['"', '\n', '\\']) {
                add(problems, format!(
                    "{field}.comment: at most 200 characters, without quotes, backslashes or new lines"
                ));
            }
            Some(Entry {
                source: source.ok()?,
                ports,
                comment,
            })
        };
        let management = file
            .management
            .as_ref()
            .and_then(|m| entry("management", m, &mut problems));
        let static_entries = file
            .static_entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| entry(&format!("static[{i}]"), e, &mut problems))
            .collect();
        if file.management.is_none() && file.backend != BackendKind::Export {
            add(
                &mut problems,
                "management: an entry that always stays (staff's address and ssh) is required \
                 for the iptables and nftables backends, so applying can never lock staff out"
                    .into(),
            );
        }
        if file.apply.auto && !file.apply.enabled {
            add(&mut problems, "apply.auto needs apply.enabled".into());
        }
        if file.chain.is_empty()
            || file.chain.len() > 28
            || !file
                .chain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || matches!(file.chain.as_str(), "INPUT" | "OUTPUT" | "FORWARD")
        {
            add(&mut problems, format!(
                "chain: {:?} is not a chain of its own (letters, digits, - and _, at most 28, not a built-in chain)",
                file.chain
            ));
        }
        if file.table.is_empty()
            || file.table.len() > 64
            || !file
                .table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            add(
                &mut problems,
                format!(
                    "table: {:?} is not a table name (lower-case letters, digits and _)",
                    file.table
                ),
            );
        }
        if let Some(ns) = &file.netns {
            if ns.is_empty()
                || !ns
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                add(
                    &mut problems,
                    format!("netns: {ns:?} is not a namespace name"),
                );
            }
        }
        if file.interval_secs < 10 {
            add(
                &mut problems,
                format!(
                    "interval_secs: {} is too often (at least 10)",
                    file.interval_secs
                ),
            );
        }
        if file.lease_ttl_secs < 2 {
            add(
                &mut problems,
                format!(
                    "lease_ttl_secs: {} is too short (at least 2)",
                    file.lease_ttl_secs
                ),
            );
        }
        let aws = &file.aws;
        let mut region_names: Vec<(&str, &str)> =
            vec![("aws.discovery_region", &aws.discovery_region)];
        for r in aws.regions.iter().flatten() {
            region_names.push(("aws.regions", r));
        }
        for r in &aws.ignore_regions {
            region_names.push(("aws.ignore_regions", r));
        }
        for r in aws.region_endpoints.keys() {
            region_names.push(("aws.region_endpoints", r));
        }
        for (field, r) in region_names {
            if !is_region(r) {
                add(
                    &mut problems,
                    format!("{field}: {r:?} is not a region name (like eu-west-2)"),
                );
            }
        }
        if aws.regions.as_ref().is_some_and(Vec::is_empty) {
            add(
                &mut problems,
                "aws.regions: empty (leave it out to read every region)".into(),
            );
        }
        if !(100..=60_000).contains(&aws.region_timeout_ms) {
            add(
                &mut problems,
                format!(
                    "aws.region_timeout_ms: {} is outside 100..=60000",
                    aws.region_timeout_ms
                ),
            );
        }
        if let Some(n) = aws.page_size {
            if !(5..=1000).contains(&n) {
                add(
                    &mut problems,
                    format!("aws.page_size: {n} is outside 5..=1000"),
                );
            }
        }
        for url in aws.endpoint.iter().chain(aws.region_endpoints.values()) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                add(
                    &mut problems,
                    format!("aws endpoint {url:?} is not an http(s) URL"),
                );
            }
        }
        for (key, values) in &aws.tag_filters {
            if key.is_empty() || values.is_empty() {
                add(
                    &mut problems,
                    format!("aws.tag_filters: {key:?} needs a key and at least one value"),
                );
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(Self {
            backend: file.backend,
            netns: file.netns,
            chain: file.chain,
            table: file.table,
            ports: ec2_ports,
            management,
            static_entries,
            apply_enabled: file.apply.enabled,
            auto_apply: file.apply.auto,
            interval: Duration::from_secs(file.interval_secs),
            lease_ttl: Duration::from_secs(file.lease_ttl_secs),
            aws: AwsSettings {
                regions: file.aws.regions,
                discovery_region: file.aws.discovery_region,
                ignore_regions: file.aws.ignore_regions,
                tag_filters: file.aws.tag_filters,
                region_timeout: Duration::from_millis(file.aws.region_timeout_ms),
                endpoint: file.aws.endpoint,
                region_endpoints: file.aws.region_endpoints,
                page_size: file.aws.page_size,
            },
        })
    }
}

/// Adds a problem whose sentence starts with its field's path
/// (`static[0].source: ...`), keyed by that path.
fn add(problems: &mut Problems, message: String) {
    let field = message.split_once(": ").map_or("", |(f, _)| f).to_owned();
    problems.add(field, message);
}

/// Ports 1..=65535, at least one, no repeats; problems go to `problems`.
fn ports(field: &str, raw: &[serde_json::Value], problems: &mut Problems) -> Vec<u16> {
    if raw.is_empty() {
        add(problems, format!("{field}: give at least one port"));
    }
    let mut out: Vec<u16> = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        match p.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(port) if port > 0 => {
                if out.contains(&port) {
                    add(problems, format!("{field}[{i}]: {port} is listed twice"));
                } else {
                    out.push(port);
                }
            }
            _ => add(
                problems,
                format!("{field}[{i}]: {p} is not a port (1-65535)"),
            ),
        }
    }
    out
}

/// Why a text is not an IPv4 network; each reads after the quoted text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("has a prefix length that is not 0-32")]
    PrefixLength,
    #[error("is not an IPv4 address or network (like 203.0.113.0/24)")]
    NotAnAddress,
    #[error("has host bits set: did you mean {network}/{len}?")]
    HostBits { network: Ipv4Addr, len: u8 },
}

/// `a.b.c.d` or `a.b.c.d/len` as a canonical network `a.b.c.d/len`.
///
/// # Errors
/// Why it is not an IPv4 network.
pub fn cidr(text: &str) -> std::result::Result<String, CidrError> {
    let (addr, len) = match text.trim().split_once('/') {
        Some((a, l)) => (
            a,
            l.parse::<u8>()
                .ok()
                .filter(|&l| l <= 32)
                .ok_or(CidrError::PrefixLength)?,
        ),
        None => (text.trim(), 32),
    };
    let ip: Ipv4Addr = addr.parse().map_err(|_| CidrError::NotAnAddress)?;
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    let net = u32::from(ip) & mask;
    if net != u32::from(ip) {
        return Err(CidrError::HostBits {
            network: Ipv4Addr::from(net),
            len,
        });
    }
    Ok(format!("{ip}/{len}"))
}

/// `eu-west-2`, `us-gov-east-1`, `ap-southeast-4`...
#[must_use]
pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}
