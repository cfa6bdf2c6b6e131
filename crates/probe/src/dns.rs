//! The DNS TTL check, and resolving the target's name.

use std::{collections::BTreeSet, net::IpAddr};

use hickory_resolver::{
    config::{NameServerConfig, ResolveHosts, ResolverConfig},
    net::{runtime::TokioRuntimeProvider, DnsError, NetError},
    proto::{
        op::ResponseCode,
        rr::{RData, Record, RecordType},
    },
    Resolver, TokioResolver,
};
use model::checklist::Verdict;

use super::{budget, for_each, CannotRun, Done, Item, MigrationTarget, ProbeConfig};

/// A resolver without a cache that asks the configured server (UDP, then TCP) once.
fn resolver(cfg: &ProbeConfig) -> Result<TokioResolver, CannotRun> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match cfg.dns_server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            Resolver::builder_with_config(ResolverConfig::from_name_servers(vec![ns]), provider)
        }
        None => Resolver::builder(provider).map_err(|e| {
            CannotRun(format!(
                "Cannot read the system's DNS settings (resolv.conf): {e}"
            ))
        })?,
    };
    let o = builder.options_mut();
    o.timeout = cfg.timeout;
    o.attempts = 1;
    o.cache_size = 0;
    o.use_hosts_file = ResolveHosts::Never;
    o.ndots = 0;
    o.preserve_intermediates = true;
    o.try_tcp_on_error = true;
    builder
        .build()
        .map_err(|e| CannotRun(format!("Cannot set up the DNS resolver: {e}")))
}

/// Which server the check asks, for sentences.
fn server_label(cfg: &ProbeConfig) -> String {
    cfg.dns_server.map_or_else(
        || "the system's DNS server".to_owned(),
        |a| format!("DNS server {a}"),
    )
}

/// What one query answered.
enum Answer {
    /// Records (possibly none: the name exists without this type).
    Records(Vec<Record>),
    /// NXDOMAIN.
    NoSuchName,
    /// The server did not answer usefully (timeout, refused, unreachable).
    ServerProblem(String),
}

async fn query(resolver: &TokioResolver, name: &str, rtype: RecordType) -> Answer {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.lookup(fqdn.as_str(), rtype).await {
        Ok(lookup) => Answer::Records(lookup.answers().to_vec()),
        Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => {
            if nr.response_code == ResponseCode::NXDomain {
                Answer::NoSuchName
            } else {
                Answer::Records(Vec::new())
            }
        }
        Err(NetError::Timeout) => Answer::ServerProblem("timed out".to_owned()),
        Err(NetError::Dns(DnsError::ResponseCode(code))) => {
            Answer::ServerProblem(format!("answered {code}"))
        }
        Err(e) => Answer::ServerProblem(e.to_string()),
    }
}

/// The addresses among records.
fn addresses(records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// `www.example.test CNAME web.example.test (TTL 120 s)`, `A 127.0.0.1 (TTL 60 s)`.
fn describe(record: &Record, asked: &str) -> Option<String> {
    let owner = record.name.to_string();
    let owner = owner.trim_end_matches('.');
    let prefix = if owner == asked {
        String::new()
    } else {
        format!("{owner} ")
    };
    let what = match &record.data {
        RData::A(a) => format!("A {}", a.0),
        RData::AAAA(a) => format!("AAAA {}", a.0),
        RData::CNAME(c) => format!("CNAME {}", c.0.to_string().trim_end_matches('.')),
        _ => return None,
    };
    Some(format!("{prefix}{what} (TTL {} s)", record.ttl))
}

/// Resolves the target's host name through the configured server.
pub(super) async fn resolve_host(cfg: &ProbeConfig, host: &str) -> Result<Vec<IpAddr>, CannotRun> {
    let resolver = resolver(cfg)?;
    let (a, aaaa) = futures_util::future::join(
        query(&resolver, host, RecordType::A),
        query(&resolver, host, RecordType::AAAA),
    )
    .await;
    let mut out = Vec::new();
    let mut problem = None;
    for answer in [a, aaaa] {
        match answer {
            Answer::Records(r) => out.extend(addresses(&r)),
            Answer::NoSuchName => {
                return Err(CannotRun(format!(
                    "The target {host} does not resolve: the name does not exist"
                )))
            }
            Answer::ServerProblem(p) => problem = Some(p),
        }
    }
    if out.is_empty() {
        return Err(CannotRun(match problem {
            Some(p) => format!(
                "The target {host} could not be resolved: {} {p}",
                server_label(cfg)
            ),
            None => format!("The target {host} does not resolve: it has no A or AAAA record"),
        }));
    }
    Ok(out)
}

pub(super) async fn check(cfg: &ProbeConfig, target: &MigrationTarget) -> Result<Done, CannotRun> {
    if target.names.is_empty() {
        return Err(CannotRun("The plan lists no names to check".to_owned()));
    }
    let resolver = resolver(cfg)?;
    let target_addrs = if target.moved {
        super::target_addrs(cfg, target).await?
    } else {
        Vec::new()
    };
    let limit = target.ttl_limit;
    let resolver = &resolver;
    let target_addrs = &target_addrs;
    let items = for_each(
        target.names.clone(),
        budget(cfg, target.names.len(), 3),
        |name| async move {
            let (a, aaaa) = futures_util::future::join(
                query(resolver, &name, RecordType::A),
                query(resolver, &name, RecordType::AAAA),
            )
            .await;
            let mut records: Vec<Record> = Vec::new();
            let mut problems = Vec::new();
            let mut nxdomain = false;
            for answer in [a, aaaa] {
                match answer {
                    Answer::Records(r) => {
                        for rec in r {
                            if !records.contains(&rec) {
                                records.push(rec);
                            }
                        }
                    }
                    Answer::NoSuchName => nxdomain = true,
                    Answer::ServerProblem(p) => problems.push(p),
                }
            }
            name_item(
                &name,
                &records,
                nxdomain,
                &problems,
                limit,
                target.moved,
                target_addrs,
                cfg,
            )
        },
    )
    .await?;
    if items
        .iter()
        .all(|i| i.evidence.verdict == Verdict::CannotRun)
    {
        let why = items
            .first()
            .map(|i| i.evidence.detail.clone())
            .unwrap_or_default();
        return Err(CannotRun(format!(
            "Could not ask {}: {why}",
            server_label(cfg)
        )));
    }
    let n = items.len();
    let summary = if target.moved {
        let shown: Vec<String> = target_addrs.iter().map(ToString::to_string).collect();
        super::summarise(
            &items,
            "names",
            &format!(
                "{} to the target ({})",
                super::all(n, "name resolves", "names resolve"),
                shown.join(", ")
            ),
            "do not resolve to the target",
        )
    } else {
        super::summarise(
            &items,
            "names",
            &format!(
                "{} TTL <= {limit} s",
                super::all(n, "name has", "names have")
            ),
            "are not ready",
        )
    };
    Ok(Done { items, summary })
}

#[allow(clippy::too_many_arguments)]
fn name_item(
    name: &str,
    records: &[Record],
    nxdomain: bool,
    problems: &[String],
    limit: u32,
    moved: bool,
    target_addrs: &[IpAddr],
    cfg: &ProbeConfig,
) -> Item {
    if !problems.is_empty() && records.is_empty() && !nxdomain {
        let why = format!("{} {}", server_label(cfg), problems.join(", "));
        return Item::new(name, Verdict::CannotRun, why, format!("{name} (no answer)"));
    }
    if nxdomain && records.is_empty() {
        return Item::new(
            name,
            Verdict::Fail,
            "does not exist (NXDOMAIN)",
            format!("{name} does not exist"),
        );
    }
    let shown: Vec<String> = records.iter().filter_map(|r| describe(r, name)).collect();
    let max_ttl = records.iter().map(|r| r.ttl).max();
    let addrs = addresses(records);
    if addrs.is_empty() {
        let detail = if shown.is_empty() {
            "exists but has no A or AAAA record".to_owned()
        } else {
            format!("{}; no A or AAAA record", shown.join(", "))
        };
        return Item::new(
            name,
            Verdict::Fail,
            detail,
            format!("{name} has no address"),
        );
    }
    let ttl = max_ttl.unwrap_or(0);
    let ttl_words = if ttl > limit {
        format!("max TTL {ttl} s > limit {limit} s")
    } else {
        format!("max TTL {ttl} s <= limit {limit} s")
    };
    let records_words = shown.join(", ");
    if moved {
        let set: BTreeSet<IpAddr> = addrs.iter().copied().collect();
        let hits = target_addrs.iter().any(|t| set.contains(t));
        let now: Vec<String> = set.iter().map(ToString::to_string).collect();
        if hits {
            Item::new(
                name,
                Verdict::Pass,
                format!("resolves to the target: {records_words}; {ttl_words}"),
                name,
            )
        } else {
            let want: Vec<String> = target_addrs.iter().map(ToString::to_string).collect();
            Item::new(
                name,
                Verdict::Fail,
                format!(
                    "resolves to {}, not the target {}: {records_words}; {ttl_words}",
                    now.join(", "),
                    want.join(", ")
                ),
                format!("{name} -> {}", now.join(", ")),
            )
        }
    } else if ttl > limit {
        Item::new(
            name,
            Verdict::Fail,
            format!("{records_words}; {ttl_words}"),
            format!("{name} TTL {ttl} s"),
        )
    } else {
        Item::new(
            name,
            Verdict::Pass,
            format!("{records_words}; {ttl_words}"),
            name,
        )
    }
}
