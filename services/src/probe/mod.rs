//! TEMPORARY SHIM (not committed): replaced by the probe branch.
#![allow(missing_docs, clippy::all)]
use model::checklist::{AutomatedCheck, CheckReport, Verdict};
use std::{fmt, str::FromStr, time::Duration};

#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub dns_server: Option<std::net::SocketAddr>,
    pub timeout: Duration,
    pub extra_roots_pem: Vec<u8>,
    pub expiry_warn_days: u32,
}
impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            dns_server: None,
            timeout: Duration::from_secs(5),
            extra_roots_pem: vec![],
            expiry_warn_days: 21,
        }
    }
}
#[derive(Clone, Debug)]
pub struct MigrationTarget {
    pub names: Vec<String>,
    pub target: String,
    pub services: Vec<ServicePort>,
    pub ttl_limit: u32,
    pub moved: bool,
    pub http_port: u16,
    pub https_port: u16,
}
#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: String,
    pub port: u16,
}
impl FromStr for ServicePort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, p) = s.split_once(':').unwrap_or((s, "80"));
        Ok(Self {
            name: n.to_lowercase(),
            port: p.parse().map_err(|_| format!("bad port in {s:?}"))?,
        })
    }
}
impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.port)
    }
}
pub fn parse_domain(input: &str) -> Result<String, String> {
    let s = input.trim().trim_end_matches('.').to_lowercase();
    if s.contains('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(s)
    } else {
        Err(format!("{input:?} is not a domain name"))
    }
}
pub async fn run(check: AutomatedCheck, _cfg: &ProbeConfig, _t: &MigrationTarget) -> CheckReport {
    CheckReport {
        check,
        verdict: Verdict::CannotRun,
        summary: "shim".into(),
        evidence: vec![],
        elapsed_ms: 0,
    }
}
