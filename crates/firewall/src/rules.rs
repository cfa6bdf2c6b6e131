//! Desired rules and the plan: pure functions of the config, the inventory
//! and the rules the host has now.
//!
//! A rule is `(source, port, comment)`. The plan is two set differences over
//! hashed rules, so it costs O(n) for n rules, where the seed grepped the whole
//! saved ruleset once per instance and port (O(n²)); `benches/firewall.rs`
//! measures both on the same input.

use std::collections::HashSet;

use model::firewall::{Inventory, Plan, Rule, RuleOrigin};
use sha2::{Digest as _, Sha256};

use super::config::{Entry, FirewallConfig};

/// The comment of an instance's rules, as the seed wrote it.
#[must_use]
pub fn ec2_comment(host: &str) -> String {
    format!("EC2 - {host}")
}

/// The rules the host should have, management first, then the static entries,
/// then one rule per running instance with a public address and port. An
/// instance carried over from a region that could not be read counts as it was
/// last seen. A `(source, port)` pair appears once (the first origin wins).
#[must_use]
pub fn desired(cfg: &FirewallConfig, inventory: &Inventory) -> Vec<(RuleOrigin, Rule)> {
    let mut seen: HashSet<(String, u16)> = HashSet::new();
    let mut out = Vec::new();
    let mut push = |origin: RuleOrigin, source: &str, port: u16, comment: &str| {
        if seen.insert((source.to_owned(), port)) {
            out.push((
                origin,
                Rule {
                    source: source.to_owned(),
                    port,
                    comment: comment.to_owned(),
                },
            ));
        }
    };
    let entry = |e: &Entry| (e.source.clone(), e.ports.clone(), e.comment.clone());
    for (origin, (source, ports, comment)) in cfg
        .management
        .iter()
        .map(|e| (RuleOrigin::Management, entry(e)))
        .chain(
            cfg.static_entries
                .iter()
                .map(|e| (RuleOrigin::Static, entry(e))),
        )
    {
        for port in ports {
            push(origin, &source, port, &comment);
        }
    }
    let mut instances: Vec<_> = inventory
        .instances()
        .filter(|i| i.state == "running")
        .filter_map(|i| {
            let ip = i.public_ip.as_deref()?;
            let ip: std::net::Ipv4Addr = ip.parse().ok()?;
            Some((format!("{ip}/32"), ec2_comment(i.host())))
        })
        .collect();
    instances.sort();
    for (source, comment) in &instances {
        for &port in &cfg.ports {
            push(RuleOrigin::Ec2, source, port, comment);
        }
    }
    out
}

/// What turns `current` into `desired`: rules to add, rules to remove (their
/// instance is gone, or the name in their comment changed), and how many stay.
#[must_use]
pub fn plan(current: &[Rule], desired: &[Rule]) -> Plan {
    let have: HashSet<&Rule> = current.iter().collect();
    let want: HashSet<&Rule> = desired.iter().collect();
    let mut add: Vec<Rule> = desired
        .iter()
        .filter(|r| !have.contains(r))
        .cloned()
        .collect();
    let mut remove: Vec<Rule> = current
        .iter()
        .filter(|r| !want.contains(r))
        .cloned()
        .collect();
    add.sort();
    add.dedup();
    remove.sort();
    remove.dedup();
    let unchanged = want.iter().filter(|r| have.contains(*r)).count();
    let digest = digest(&add, &remove);
    Plan {
        add,
        remove,
        unchanged,
        digest,
    }
}

/// A short digest of a plan's changes (hex of SHA-256, 16 characters).
fn digest(add: &[Rule], remove: &[Rule]) -> String {
    let mut h = Sha256::new();
    for (mark, rules) in [(b'+', add), (b'-', remove)] {
        for r in rules {
            h.update([mark]);
            h.update(r.source.as_bytes());
            h.update([0]);
            h.update(r.port.to_be_bytes());
            h.update(r.comment.as_bytes());
            h.update([b'\n']);
        }
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
