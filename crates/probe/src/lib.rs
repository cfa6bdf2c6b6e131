//! The automated checks of a migration checklist, run against the real network.
//!
//! Each check looks at every name (or port) of the migration concurrently (at most
//! [`CONCURRENCY`] at a time), gives each network operation (connect, query,
//! handshake, request) [`ProbeConfig::timeout`] and the whole run a bounded total. It
//! answers a [`CheckReport`] whose verdict is the worst of its evidence; a check that
//! cannot run at all says why in its summary with [`Verdict::CannotRun`].
//!
//! - **DNS TTL** (`dns_ttl`): asks the configured DNS server (UDP, then TCP) for each
//!   name's A and AAAA records, following CNAMEs and showing each record's TTL as the
//!   server gave it (a fresh resolver without a cache per run). Before the move, a
//!   name fails when any of its TTLs is above the plan's limit. After the move, a name
//!   passes when its addresses include the target's, and fails naming what it resolves
//!   to otherwise. A name that does not exist (NXDOMAIN) or has no address fails; a DNS
//!   server that does not answer or refuses makes the check unable to run.
//! - **TLS certificate** (`tls_certificate`): connects to the target's HTTPS port with
//!   each name as SNI and records the certificate the target presents, even a bad one.
//!   It fails when the certificate has expired, is not valid yet, does not cover the
//!   name (subject alternative names, wildcards included), or does not chain to a
//!   trusted root (the webpki roots plus the configured extra CA); it warns when the
//!   certificate expires within [`ProbeConfig::expiry_warn_days`]. A refused or timed
//!   out connection fails.
//! - **Service ports** (`service_ports`): connects to each planned service port on the
//!   target. For protocols that greet first (SMTP and FTP `220`, POP3 `+OK`, IMAP
//!   `* OK`, SSH `SSH-`) it reads the first line: no greeting within the timeout, or an
//!   unexpected one, warns. A refused or timed out connection fails. A plan without
//!   services cannot run.
//! - **HTTP Host** (`http_host`): sends `GET /` for each name to the target's HTTP port
//!   (the name as Host header, whatever DNS says), without following redirects: 2xx
//!   and 3xx pass, 4xx warns, 5xx, a refused connection or a timeout fail. One more
//!   line sends HTTP/1.0 without a Host header, as old clients do, and shows what the
//!   default site answers; it fails only when nothing accepts the connection.

mod dns;
mod http;
mod ports;
pub mod tls;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::{
    fmt,
    future::Future,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    time::{Duration, Instant},
};

use futures_util::StreamExt as _;
use model::checklist::{AutomatedCheck, CheckReport, Evidence, Verdict};

/// Why a check cannot run at all (no names listed, the DNS server not
/// answering, the budget spent): the sentence becomes the report's summary
/// with [`Verdict::CannotRun`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CannotRun(pub String);

/// Why a person's text is not a domain name or a service port: a sentence
/// for them, which the form keys by its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotValid(pub String);

/// Why a TCP connection failed, in a few words (`refused`, `timed out after 5 s`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConnectFailed(pub String);

/// How many names or ports a check looks at at the same time.
pub const CONCURRENCY: usize = 8;

/// How the checks reach the network.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// DNS server to ask; None = the system's resolv.conf.
    pub dns_server: Option<SocketAddr>,
    /// Per network operation (connect, query, handshake, request). Default 5 s.
    pub timeout: Duration,
    /// Extra trust anchors in PEM (e.g. a company CA), added to the webpki roots. Empty = none.
    pub extra_roots_pem: Vec<u8>,
    /// A certificate expiring within this many days is a Warn. Default 21.
    pub expiry_warn_days: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            dns_server: None,
            timeout: Duration::from_secs(5),
            extra_roots_pem: Vec::new(),
            expiry_warn_days: 21,
        }
    }
}

/// What a migration moves, and where to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationTarget {
    /// Domains, sub-domains and CDN names of the migration (already validated, lower case).
    pub names: Vec<String>,
    /// The target server: an IP address or a host name (resolved with the same DNS server).
    pub target: String,
    pub services: Vec<ServicePort>,
    /// Highest acceptable TTL before the move, seconds.
    pub ttl_limit: u32,
    /// The move has happened (window started): names must now resolve to the target.
    pub moved: bool,
    /// 80 normally.
    pub http_port: u16,
    /// 443 normally.
    pub https_port: u16,
}

/// A network service a migration moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Http,
    Https,
    Smtp,
    Imap,
    Pop3,
    Ftp,
    Mysql,
    Postgres,
    Ssh,
}

impl Service {
    /// Every service, in the order people are shown them.
    pub const ALL: [Self; 9] = [
        Self::Http,
        Self::Https,
        Self::Smtp,
        Self::Imap,
        Self::Pop3,
        Self::Ftp,
        Self::Mysql,
        Self::Postgres,
        Self::Ssh,
    ];

    /// The short name (`smtp`), as parsed and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
            Self::Ftp => "ftp",
            Self::Mysql => "mysql",
            Self::Postgres => "postgres",
            Self::Ssh => "ssh",
        }
    }

    /// The well-known port.
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
            Self::Smtp => 25,
            Self::Imap => 143,
            Self::Pop3 => 110,
            Self::Ftp => 21,
            Self::Mysql => 3306,
            Self::Postgres => 5432,
            Self::Ssh => 22,
        }
    }

    /// What the server's first line starts with, for protocols where the server speaks first.
    #[must_use]
    pub fn banner_prefix(self) -> Option<&'static str> {
        match self {
            Self::Smtp | Self::Ftp => Some("220"),
            Self::Pop3 => Some("+OK"),
            Self::Imap => Some("* OK"),
            Self::Ssh => Some("SSH-"),
            Self::Http | Self::Https | Self::Mysql | Self::Postgres => None,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "postgresql" | "pgsql" => Some(Self::Postgres),
            "pop" => Some(Self::Pop3),
            "mariadb" => Some(Self::Mysql),
            _ => Self::ALL.into_iter().find(|s| s.as_str() == name),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service on a port: `smtp:2525`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    pub service: Service,
    pub port: u16,
}

impl ServicePort {
    /// The service on its well-known port.
    #[must_use]
    pub fn default_for(service: Service) -> Self {
        Self {
            service,
            port: service.default_port(),
        }
    }
}

impl FromStr for ServicePort {
    type Err = NotValid;

    /// `smtp` (the well-known port) or `smtp:2525`, in any case.
    fn from_str(input: &str) -> Result<Self, NotValid> {
        let trimmed = input.trim();
        let (name, port) = match trimmed.split_once(':') {
            Some((name, port)) => (name, Some(port.trim())),
            None => (trimmed, None),
        };
        let Some(service) = Service::from_name(name) else {
            let known: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
            return Err(NotValid(format!(
                "\"{trimmed}\" is not a known service: use one of {}, optionally with a port (smtp:2525)",
                known.join(", ")
            )));
        };
        let port = match port {
            None => service.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(NotValid(format!(
                        "\"{trimmed}\" has a bad port \"{p}\": use a number from 1 to 65535"
                    )))
                }
            },
        };
        Ok(Self { service, port })
    }
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.port)
    }
}

/// Validates and normalises a domain name typed by a person (trim, lower case, strip
/// one trailing dot; LDH labels 1..=63, total <= 253, at least two labels, a leading
/// `*.` wildcard not allowed). `Err` is a sentence for people.
pub fn parse_domain(input: &str) -> Result<String, NotValid> {
    let shown = input.trim();
    let bad = |why: &str| Err(NotValid(format!("\"{shown}\" is not a domain name: {why}")));
    let name = shown
        .strip_suffix('.')
        .unwrap_or(shown)
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err(NotValid(
            "a domain name is needed, e.g. example.com".to_owned(),
        ));
    }
    if name.starts_with("*.") || name == "*" {
        return bad("wildcards (*.) are not allowed, list each name instead");
    }
    if name.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return bad("a label is empty (two dots in a row, or a leading dot)");
    }
    if labels.len() < 2 {
        return bad("it needs at least two labels, e.g. example.com");
    }
    for label in &labels {
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad("a label may hold only letters, digits and hyphens");
        }
        if label.len() > 63 {
            return bad(&format!(
                "the label \"{label}\" is longer than 63 characters"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad(&format!(
                "the label \"{label}\" starts or ends with a hyphen"
            ));
        }
    }
    Ok(name)
}

/// Runs one automated check against the migration.
#[tracing::instrument(skip(cfg, target), fields(target = %target.target))]
pub async fn run(
    check: AutomatedCheck,
    cfg: &ProbeConfig,
    target: &MigrationTarget,
) -> CheckReport {
    let started = Instant::now();
    let outcome = match check {
        AutomatedCheck::DnsTtl => dns::check(cfg, target).await,
        AutomatedCheck::TlsCertificate => tls::check(cfg, target).await,
        AutomatedCheck::ServicePorts => ports::check(cfg, target).await,
        AutomatedCheck::HttpHost => http::check(cfg, target).await,
    };
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(done) => {
            let verdict = done
                .items
                .iter()
                .fold(Verdict::Pass, |v, i| v.worst(i.evidence.verdict));
            CheckReport {
                check,
                verdict,
                summary: done.summary,
                evidence: done.items.into_iter().map(|i| i.evidence).collect(),
                elapsed_ms,
            }
        }
        Err(reason) => CheckReport {
            check,
            verdict: Verdict::CannotRun,
            summary: reason.0,
            evidence: Vec::new(),
            elapsed_ms,
        },
    }
}

/// A check that ran: its evidence and its summary sentence.
struct Done {
    items: Vec<Item>,
    summary: String,
}

/// One line of evidence plus a few words for the summary.
struct Item {
    evidence: Evidence,
    /// `high.example.test TTL 3600 s`: what the summary says when this line is not a pass.
    short: String,
}

impl Item {
    fn new(
        subject: impl Into<String>,
        verdict: Verdict,
        detail: impl Into<String>,
        short: impl Into<String>,
    ) -> Self {
        Self {
            evidence: Evidence {
                subject: subject.into(),
                verdict,
                detail: detail.into(),
            },
            short: short.into(),
        }
    }
}

/// The summary sentence: `pass` when everything passed, otherwise
/// `2 of 5 ports do not answer: a, b; 1 warns: c`.
fn summarise(items: &[Item], noun: &str, pass: &str, fail_phrase: &str) -> String {
    let n = items.len();
    let of = |v: Verdict| -> Vec<&str> {
        items
            .iter()
            .filter(|i| i.evidence.verdict == v)
            .map(|i| i.short.as_str())
            .collect()
    };
    let (fails, cannot, warns) = (of(Verdict::Fail), of(Verdict::CannotRun), of(Verdict::Warn));
    if fails.is_empty() && cannot.is_empty() && warns.is_empty() {
        return pass.to_owned();
    }
    let mut parts = Vec::new();
    if !fails.is_empty() {
        parts.push(format!(
            "{} of {n} {noun} {fail_phrase}: {}",
            fails.len(),
            fails.join(", ")
        ));
    }
    if !cannot.is_empty() {
        parts.push(format!(
            "{} of {n} could not be checked: {}",
            cannot.len(),
            cannot.join(", ")
        ));
    }
    if !warns.is_empty() {
        parts.push(format!(
            "{} of {n} need a look: {}",
            warns.len(),
            warns.join(", ")
        ));
    }
    parts.join("; ")
}

/// Runs `f` over `inputs`, at most [`CONCURRENCY`] at a time, answers in input order,
/// giving up when the whole run takes longer than `budget`.
async fn for_each<T, F, Fut>(inputs: Vec<T>, budget: Duration, f: F) -> Result<Vec<Item>, CannotRun>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Item>,
{
    let all = futures_util::stream::iter(inputs.into_iter().map(f))
        .buffered(CONCURRENCY)
        .collect::<Vec<Item>>();
    tokio::time::timeout(budget, all).await.map_err(|_| {
        CannotRun(format!(
            "The check did not finish within {}; the network is too slow or the list too long",
            secs(budget)
        ))
    })
}

/// The total a check may take: `per_item` operations of `timeout` for each round of
/// [`CONCURRENCY`] items, plus a second.
fn budget(cfg: &ProbeConfig, items: usize, per_item: u32) -> Duration {
    let rounds = u32::try_from(items.div_ceil(CONCURRENCY))
        .unwrap_or(u32::MAX)
        .max(1);
    cfg.timeout.saturating_mul(per_item.saturating_mul(rounds)) + Duration::from_secs(1)
}

/// `All 3 names have` / `The name has`: the start of a summary when everything passed.
fn all(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("The {one}")
    } else {
        format!("All {n} {many}")
    }
}

/// `5 s`, `0.5 s`.
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The target's addresses: the address itself, or what its name resolves to through
/// the configured DNS server. `Err` is the CannotRun summary.
async fn target_addrs(
    cfg: &ProbeConfig,
    target: &MigrationTarget,
) -> Result<Vec<IpAddr>, CannotRun> {
    let t = target.target.trim();
    if t.is_empty() {
        return Err(CannotRun("The plan names no target server".to_owned()));
    }
    if let Ok(ip) = t
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![ip]);
    }
    dns::resolve_host(cfg, t).await
}

/// The one address the connecting checks use (the first, IPv4 first).
async fn target_addr(cfg: &ProbeConfig, target: &MigrationTarget) -> Result<IpAddr, CannotRun> {
    let mut addrs = target_addrs(cfg, target).await?;
    addrs.sort_by_key(IpAddr::is_ipv6);
    addrs
        .first()
        .copied()
        .ok_or_else(|| CannotRun(format!("The target {} has no address", target.target)))
}

/// Why a connection failed, in a few words: `refused`, `timed out after 5 s`.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "refused".to_owned(),
        std::io::ErrorKind::TimedOut => "timed out".to_owned(),
        std::io::ErrorKind::ConnectionReset => "reset by the peer".to_owned(),
        _ => e.to_string(),
    }
}

/// TCP connect with the operation timeout; `Err` says why in a few words.
async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, ConnectFailed> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ConnectFailed(io_reason(&e))),
        Err(_) => Err(ConnectFailed(format!("timed out after {}", secs(timeout)))),
    }
}
