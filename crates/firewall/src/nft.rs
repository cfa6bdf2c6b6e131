//! The nftables backend: a table the app owns (`ip switchboard` by default)
//! holding one address set per origin and port set, and one rule per set:
//! `ip saddr @ec2_p22_80 tcp dport { 22, 80 } accept`. Matching costs the
//! same however many instances there are (a set lookup, not a rule walk).
//!
//! In nftables an `accept` only ends the packet's walk through one table, while
//! a `drop` anywhere is final; so an app-owned table can only be in charge of
//! its ports by closing them itself. Its chain therefore ends with
//! `tcp dport { <every managed port> } drop`: the managed ports are open to the
//! allowed addresses, to established connections and to the host itself
//! (`iif "lo" accept` first: a local service talking to another on a managed
//! port, or a health check on 127.0.0.1, must never be cut off), and closed to
//! everyone else; every other port is left to the host's own tables.
//!
//! An apply replaces the whole table in one `nft -f` transaction (create it if
//! missing, delete it, define it again), after checking the same input with
//! `nft -c -f`. Tables other than the app's are never named.

use std::{collections::BTreeMap, fmt::Write as _};

use model::firewall::{Rule, RuleOrigin};

use crate::{Error, Result};

/// What the app's table holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableState {
    pub exists: bool,
    pub rules: Vec<Rule>,
}

fn origin_prefix(o: RuleOrigin) -> &'static str {
    match o {
        RuleOrigin::Management => "mgmt",
        RuleOrigin::Static => "static",
        RuleOrigin::Ec2 => "ec2",
    }
}

/// One set: its name, whether it holds networks (not only single addresses),
/// the ports its rule opens, and its elements (source, comment).
struct SetDef<'a> {
    name: String,
    interval: bool,
    ports: Vec<u16>,
    elements: Vec<(&'a str, &'a str)>,
}

/// A set's identity: the origin of its entries and the ports its rule opens.
type SetKey = (RuleOrigin, Vec<u16>);

/// Groups rules into sets: the ports of one source (and comment) decide its set.
fn sets(desired: &[(RuleOrigin, Rule)]) -> Vec<SetDef<'_>> {
    // (origin, source, comment) -> ports, in first-seen order of origins.
    let mut by_source: BTreeMap<(RuleOrigin, &str, &str), Vec<u16>> = BTreeMap::new();
    for (o, r) in desired {
        by_source
            .entry((*o, r.source.as_str(), r.comment.as_str()))
            .or_default()
            .push(r.port);
    }
    let mut by_set: BTreeMap<SetKey, Vec<(&str, &str)>> = BTreeMap::new();
    for ((o, source, comment), mut ports) in by_source {
        ports.sort_unstable();
        ports.dedup();
        by_set
            .entry((o, ports))
            .or_default()
            .push((source, comment));
    }
    by_set
        .into_iter()
        .map(|((o, ports), elements)| SetDef {
            name: format!(
                "{}_p{}",
                origin_prefix(o),
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join("_")
            ),
            interval: elements.iter().any(|(s, _)| !s.ends_with("/32")),
            ports,
            elements,
        })
        .collect()
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `nft -f` input that makes the table exactly `desired`, atomically;
/// `managed` are the ports the table closes to everyone else (the config's
/// ports, whether or not any instance has them now).
#[must_use]
pub fn render(table: &str, desired: &[(RuleOrigin, Rule)], managed: &[u16]) -> String {
    let sets = sets(desired);
    let mut all_ports: Vec<u16> = desired
        .iter()
        .map(|(_, r)| r.port)
        .chain(managed.iter().copied())
        .collect();
    all_ports.sort_unstable();
    all_ports.dedup();
    let mut out = String::with_capacity(256 + desired.len() * 40);
    let _ = writeln!(
        out,
        "table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
    );
    for s in &sets {
        let _ = writeln!(out, "\tset {} {{\n\t\ttype ipv4_addr", s.name);
        if s.interval {
            out.push_str("\t\tflags interval\n");
        }
        if !s.elements.is_empty() {
            out.push_str("\t\telements = {\n");
            for (i, (source, comment)) in s.elements.iter().enumerate() {
                let addr = source.strip_suffix("/32").unwrap_or(source);
                let sep = if i + 1 == s.elements.len() { "" } else { "," };
                let _ = writeln!(out, "\t\t\t{addr} comment \"{comment}\"{sep}");
            }
            out.push_str("\t\t}\n");
        }
        out.push_str("\t}\n");
    }
    out.push_str(
        "\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\
         \t\tiif \"lo\" accept\n\
         \t\tct state established,related accept\n",
    );
    for s in &sets {
        let _ = writeln!(
            out,
            "\t\tip saddr @{} tcp dport {{ {} }} accept",
            s.name,
            port_list(&s.ports)
        );
    }
    if !all_ports.is_empty() {
        let _ = writeln!(out, "\t\ttcp dport {{ {} }} drop", port_list(&all_ports));
    }
    out.push_str("\t}\n}\n");
    out
}

/// Reads the table's rules from `nft -j list table ip <table>` output.
///
/// # Errors
/// The output is not nft's JSON.
pub fn parse(json: &str) -> Result<TableState> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("nft printed something that is not JSON: {e}")))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or_else(|| Error::invalid("nft's JSON has no nftables list"))?;
    let mut state = TableState::default();
    for item in items {
        if item.get("table").is_some() {
            state.exists = true;
        }
        let Some(set) = item.get("set") else { continue };
        let Some(name) = set.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let Some((_, ports)) = name.split_once("_p") else {
            continue;
        };
        let ports: Vec<u16> = ports.split('_').filter_map(|p| p.parse().ok()).collect();
        for elem in set
            .get("elem")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
        {
            let (val, comment) = match elem.get("elem") {
                Some(e) => (
                    e.get("val").unwrap_or(&serde_json::Value::Null),
                    e.get("comment").and_then(|c| c.as_str()).unwrap_or(""),
                ),
                None => (elem, ""),
            };
            let source = match val {
                serde_json::Value::String(a) => format!("{a}/32"),
                other => match other.get("prefix") {
                    Some(p) => format!(
                        "{}/{}",
                        p.get("addr").and_then(|a| a.as_str()).unwrap_or("?"),
                        p.get("len")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(32)
                    ),
                    None => {
                        return Err(Error::invalid(format!(
                            "an element of set {name} is not an address: {other}"
                        )))
                    }
                },
            };
            for &port in &ports {
                state.rules.push(Rule {
                    source: source.clone(),
                    port,
                    comment: comment.to_owned(),
                });
            }
        }
    }
    state.rules.sort();
    Ok(state)
}

/// The script for a host the app cannot reach: checks with `nft -c`, then applies.
#[must_use]
pub fn export_script(
    table: &str,
    desired: &[(RuleOrigin, Rule)],
    managed: &[u16],
    generated: &str,
) -> String {
    format!(
        "#!/bin/sh\n\
         # Switchboard firewall export, generated {generated}.\n\
         # Replaces the table ip {table} (and nothing else) with {n} allow rules, in one\n\
         # nft transaction, after checking it with nft -c.\n\
         set -eu\n\
         RULES=$(mktemp)\n\
         trap 'rm -f \"$RULES\"' EXIT\n\
         cat > \"$RULES\" <<'SWITCHBOARD_RULES'\n{script}SWITCHBOARD_RULES\n\
         nft -c -f \"$RULES\"\n\
         nft -f \"$RULES\"\n\
         echo \"table ip {table}: {n} rules\"\n",
        n = desired.len(),
        script = render(table, desired, managed)
    )
}
