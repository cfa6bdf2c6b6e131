//! `health.json`, checked whole: sites, pools and their targets, the HAProxy
//! instances, the DNS names and the webhook. [`target_spec`] checks one target
//! (from the file or the page's form) field by field.

use model::health::{CheckKind, HttpCheck, TargetSpec, Timing};
use platform::{error::Problems, Error, Result};
use serde::Deserialize;

use crate::{
    alerts::WebhookSettings,
    check::fits_request_line,
    haproxy::{HaproxyInstance, StatsSource},
};

/// `health.json`: what to check, and the HAProxy instances, DNS names and webhook.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    #[serde(default)]
    pub pools: Vec<PoolConfig>,
    #[serde(default)]
    pub haproxy: Vec<HaproxyConfig>,
    #[serde(default)]
    pub dns: Option<DnsConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// `datacentre` (default) or `cloud`.
    #[serde(default = "datacentre")]
    pub kind: String,
}

fn datacentre() -> String {
    "datacentre".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    pub site: String,
    pub service: String,
    #[serde(default = "one")]
    pub needed: u32,
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
}

fn one() -> u32 {
    1
}

/// A target as written in the config (HAProxy's names; times in ms).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub address: String,
    /// A [`CheckKind`]'s name (default `http`).
    #[serde(default)]
    pub check: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub body_match: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub inter: Option<u32>,
    #[serde(default)]
    pub fastinter: Option<u32>,
    #[serde(default)]
    pub downinter: Option<u32>,
    #[serde(default)]
    pub fall: Option<u32>,
    #[serde(default)]
    pub rise: Option<u32>,
    #[serde(default)]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub cert_warn_days: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxyConfig {
    pub name: String,
    /// The stats page's CSV: `http://127.0.0.1:8404/stats;csv`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Or the Runtime API socket: `/run/haproxy/admin.sock`.
    #[serde(default)]
    pub socket: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    pub names: Vec<String>,
    /// The highest TTL that still fails over quickly (seconds; default 300).
    #[serde(default)]
    pub max_ttl: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default)]
    pub attempts: Option<u32>,
}

impl HealthConfig {
    /// Reads and checks a config file; the error names the file and the problem.
    ///
    /// # Errors
    /// [`Error::Invalid`] for unreadable or malformed files.
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(format!(
                "cannot read the health config {}: {e}",
                path.display()
            ))
        })?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(format!(
                "the health config {} is not valid: {e}",
                path.display()
            ))
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let mut problems = Problems::new();
        for (i, p) in self.pools.iter().enumerate() {
            if !self.sites.iter().any(|s| s.name == p.site) {
                problems.add(
                    format!("pools[{i}].site"),
                    format!("pool {:?} names an unknown site {:?}", p.name, p.site),
                );
            }
            for (j, t) in p.targets.iter().enumerate() {
                for e in target_spec(0, &p.name, t).err().iter().flatten() {
                    problems.add(
                        format!("pools[{i}].targets[{j}].{}", e.field),
                        format!("pool {:?}: {}", p.name, e.problem),
                    );
                }
            }
        }
        for (i, s) in self.sites.iter().enumerate() {
            if !matches!(s.kind.as_str(), "datacentre" | "cloud") {
                problems.add(
                    format!("sites[{i}].kind"),
                    format!("site {:?}: kind is datacentre or cloud", s.name),
                );
            }
        }
        for (i, h) in self.haproxy.iter().enumerate() {
            if h.url.is_some() == h.socket.is_some() {
                problems.add(
                    format!("haproxy[{i}]"),
                    format!("haproxy {:?}: give either url or socket", h.name),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// The default when no file is given: the server checks itself.
    #[must_use]
    pub fn this_server(address: &str) -> Self {
        Self {
            sites: vec![SiteConfig {
                name: "This machine".into(),
                kind: datacentre(),
            }],
            pools: vec![PoolConfig {
                name: "switchboard".into(),
                site: "This machine".into(),
                service: "dashboard".into(),
                needed: 1,
                targets: vec![TargetConfig {
                    name: "switchboard".into(),
                    address: address.into(),
                    check: Some(CheckKind::Http.as_str().into()),
                    path: Some("/healthz".into()),
                    expect_status: Some(200),
                    body_match: Some("\"database\":\"ok\"".into()),
                    ..TargetConfig::default()
                }],
            }],
            ..Self::default()
        }
    }
}

impl HaproxyConfig {
    /// Where this instance's stats are read.
    #[must_use]
    pub fn instance(&self) -> HaproxyInstance {
        HaproxyInstance {
            name: self.name.clone(),
            source: match (&self.url, &self.socket) {
                (Some(url), _) => StatsSource::Http {
                    url: url.clone(),
                    user: self.user.clone(),
                    password: self.password.clone(),
                },
                (None, socket) => StatsSource::Socket {
                    path: socket.clone().unwrap_or_default().into(),
                },
            },
        }
    }
}

impl WebhookConfig {
    /// How alerts are posted: the default retries unless `attempts` is given.
    #[must_use]
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            attempts: self.attempts.unwrap_or(5).max(1),
            ..WebhookSettings::new(self.url.clone())
        }
    }
}

/// A target's settings from the config or a form, checked: every mistake, each
/// keyed by its field (`address`, `check`, `inter`...), in the order found.
///
/// # Errors
/// The problems, each a sentence naming the target and the field.
pub fn target_spec(id: i64, pool: &str, t: &TargetConfig) -> Result<TargetSpec, Problems> {
    let mut problems = Problems::new();
    let name = t.name.trim();
    if name.is_empty() || name.len() > 100 {
        problems.add("name", "a target needs a name of up to 100 characters");
    }
    let mut refuse = |field: &str, problem: String| {
        if !problems.iter().any(|p| p.field == field) {
            problems.add(field, format!("target {name:?}: {problem}"));
        }
    };
    let address = t.address.trim();
    let port_ok =
        |(host, port): (&str, &str)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0);
    if !address.rsplit_once(':').is_some_and(port_ok) {
        refuse(
            "address",
            format!("the address {address:?} is not host:port"),
        );
    }
    let kind = match t.check.as_deref() {
        None => CheckKind::default(),
        Some(k) => CheckKind::from_name(k).unwrap_or_else(|| {
            refuse("check", format!("check is {}, not {k:?}", kind_names()));
            CheckKind::default()
        }),
    };
    let d = Timing::default();
    let inter = t.inter.unwrap_or(d.inter_ms);
    let timing = Timing {
        inter_ms: inter,
        fastinter_ms: t.fastinter.unwrap_or(inter),
        downinter_ms: t.downinter.unwrap_or(inter),
        fall: t.fall.unwrap_or(d.fall),
        rise: t.rise.unwrap_or(d.rise),
        timeout_ms: t.timeout.unwrap_or(inter.min(d.timeout_ms)),
    };
    for (what, v, lo, hi) in [
        ("inter", timing.inter_ms, 100, 3_600_000),
        ("fastinter", timing.fastinter_ms, 100, 3_600_000),
        ("downinter", timing.downinter_ms, 100, 3_600_000),
        ("timeout", timing.timeout_ms, 10, 60_000),
        ("fall", timing.fall, 1, 100),
        ("rise", timing.rise, 1, 100),
    ] {
        if !(lo..=hi).contains(&v) {
            refuse(what, format!("{what} must be from {lo} to {hi}, not {v}"));
        }
    }
    let method = t
        .method
        .clone()
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    if !method.chars().all(|c| c.is_ascii_uppercase()) || method.is_empty() {
        refuse("method", format!("{method:?} is not an HTTP method"));
    }
    let path = t.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        refuse(
            "path",
            "the path must start with / and hold no spaces".to_owned(),
        );
    }
    // Every text is stored and shown: bounded, and free of control characters.
    // What goes into the check's request must also fit it as the checker
    // decides (`check::fits_request_line`): refused here with a reason rather
    // than stored and failing every check.
    let host = t.host.as_deref().filter(|h| !h.is_empty());
    for (what, value, max, in_request) in [
        ("name", Some(name), 100, false),
        ("address", Some(address), 260, false),
        ("method", Some(method.as_str()), 16, true),
        ("path", Some(path.as_str()), 2048, true),
        ("host", host, 253, true),
        ("body_match", t.body_match.as_deref(), 1024, false),
    ] {
        let Some(value) = value else { continue };
        if value.chars().count() > max {
            refuse(what, format!("{what} has at most {max} characters"));
        } else if value.chars().any(char::is_control) || (in_request && !fits_request_line(value)) {
            refuse(
                what,
                format!("{what} must not hold spaces or control characters (tabs, new lines)"),
            );
        }
    }
    if let Some(code) = t.expect_status.filter(|c| !(100..=599).contains(c)) {
        refuse(
            "expect_status",
            format!("expect_status must be an HTTP status from 100 to 599, not {code}"),
        );
    }
    if let Some(days) = t.cert_warn_days.filter(|d| *d > 3650) {
        refuse(
            "cert_warn_days",
            format!("cert_warn_days must be from 0 to 3650, not {days}"),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(TargetSpec {
        id,
        name: name.to_owned(),
        pool: pool.to_owned(),
        address: address.to_owned(),
        kind,
        http: HttpCheck {
            method,
            path,
            expect_status: t.expect_status,
            body_match: t.body_match.clone().filter(|b| !b.is_empty()),
            host: t.host.clone().filter(|h| !h.is_empty()),
        },
        timing,
        cert_warn_days: t.cert_warn_days.unwrap_or(21),
    })
}

/// `tcp, http or https`: every kind's name, from [`CheckKind::ALL`].
fn kind_names() -> String {
    let names: Vec<&str> = CheckKind::ALL.iter().map(|k| k.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mistake_in_a_target_is_keyed_by_its_field() {
        let t = TargetConfig {
            name: "web-1".into(),
            address: "nowhere".into(),
            check: Some("udp".into()),
            inter: Some(5),
            ..TargetConfig::default()
        };
        let problems = target_spec(0, "web", &t).expect_err("mistakes");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "address",
                "check",
                "inter",
                "fastinter",
                "downinter",
                "timeout"
            ]
        );
        // `check is tcp, http or https, not "udp"`: every kind named.
        let check = &problems.iter().nth(1).expect("the check's problem").problem;
        assert!(
            check.starts_with("target \"web-1\": check is tcp, http")
                && check.contains(" or ")
                && check.ends_with(", not \"udp\"")
                && CheckKind::ALL.iter().all(|k| check.contains(k.as_str())),
            "{check}"
        );
        assert!(target_spec(
            0,
            "web",
            &TargetConfig {
                name: "web-1".into(),
                address: "10.0.0.1:80".into(),
                ..TargetConfig::default()
            }
        )
        .is_ok_and(|s| s.kind == CheckKind::default()));
    }

    #[test]
    fn the_config_check_places_a_target_s_problems_under_its_pool() {
        let cfg = HealthConfig {
            sites: vec![SiteConfig {
                name: "London".into(),
                kind: "datacentre".into(),
            }],
            pools: vec![PoolConfig {
                name: "web".into(),
                site: "London".into(),
                service: "web".into(),
                needed: 1,
                targets: vec![TargetConfig {
                    name: "web-1".into(),
                    address: "10.0.0.1".into(),
                    ..TargetConfig::default()
                }],
            }],
            ..HealthConfig::default()
        };
        let Err(Error::Invalid(problems)) = cfg.check() else {
            panic!("a bad address is refused");
        };
        let p = problems.iter().next().expect("one problem");
        assert_eq!(p.field, "pools[0].targets[0].address");
        assert_eq!(
            p.problem,
            "pool \"web\": target \"web-1\": the address \"10.0.0.1\" is not host:port"
        );
    }
}
