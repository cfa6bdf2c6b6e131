//! The health service: targets in pools in sites (declared in a config file and
//! edited in the UI), the checker run by one replica under a job lease, its
//! results written in batches for every replica's pages, UP/DOWN events on the
//! change feed and to a webhook, HAProxy's own stats and DNS readiness beside them.

use std::{collections::HashMap, sync::Arc, time::Duration};

use model::{
    auth::Permission,
    checklist::AutomatedCheck,
    health::{
        CheckKind, HaproxyView, HealthEvent, HealthOverview, HealthRollup, HealthState, HttpCheck,
        StateChange, TargetLive, TargetRow, TargetSpec, TargetStatus, Timing,
    },
};
use serde::Deserialize;
use sqlx::{any::AnyRow, Row as _};
use tokio::sync::mpsc;

use super::{
    alerts::{Alerter, WebhookSettings},
    checker::{Checker, CheckerSettings},
    haproxy::{self, HaproxyInstance, StatsSource},
    rollup,
};
use platform::{
    error::Problems,
    jobs::{JobFn, JobSpec, RunContext},
    Db, Error, Principal, Result,
};
use probe::{MigrationTarget, ProbeConfig};

/// Rows per upsert statement in a snapshot (see `write_snapshot`).
const SNAPSHOT_ROWS_PER_STATEMENT: usize = 16;

/// The job that runs the checker (one replica at a time).
pub const CHECKER_JOB: &str = "health-checker";

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
    /// `tcp`, `http` (default) or `https`.
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
                if let Err(e) = target_spec(0, &p.name, t) {
                    problems.add(
                        format!("pools[{i}].targets[{j}]"),
                        format!("pool {:?}: {e}", p.name),
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
                    check: Some("http".into()),
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

/// A target's settings from the config or a form, checked.
///
/// # Errors
/// A sentence naming the field.
pub fn target_spec(
    id: i64,
    pool: &str,
    t: &TargetConfig,
) -> std::result::Result<TargetSpec, String> {
    let name = t.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err("a target needs a name of up to 100 characters".into());
    }
    let address = t.address.trim();
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("target {name:?}: the address {address:?} is not host:port"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!(
            "target {name:?}: the address {address:?} is not host:port"
        ));
    }
    let k = t.check.as_deref().unwrap_or("http");
    let kind = CheckKind::from_name(k)
        .ok_or_else(|| format!("target {name:?}: check is tcp, http or https, not {k:?}"))?;
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
            return Err(format!(
                "target {name:?}: {what} must be from {lo} to {hi}, not {v}"
            ));
        }
    }
    let method = t
        .method
        .clone()
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    if !method.chars().all(|c| c.is_ascii_uppercase()) || method.is_empty() {
        return Err(format!("target {name:?}: {method:?} is not an HTTP method"));
    }
    let path = t.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        return Err(format!(
            "target {name:?}: the path must start with / and hold no spaces"
        ));
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
            return Err(format!(
                "target {name:?}: {what} has at most {max} characters"
            ));
        }
        if value.chars().any(char::is_control)
            || (in_request && !super::check::fits_request_line(value))
        {
            return Err(format!(
                "target {name:?}: {what} must not hold spaces or control characters (tabs, new lines)"
            ));
        }
    }
    if let Some(code) = t.expect_status.filter(|c| !(100..=599).contains(c)) {
        return Err(format!(
            "target {name:?}: expect_status must be an HTTP status from 100 to 599, not {code}"
        ));
    }
    if let Some(days) = t.cert_warn_days.filter(|d| *d > 3650) {
        return Err(format!(
            "target {name:?}: cert_warn_days must be from 0 to 3650, not {days}"
        ));
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

/// How the health service runs.
#[derive(Clone, Debug)]
pub struct HealthSettings {
    pub config: HealthConfig,
    pub checker: CheckerSettings,
    /// How often the checker's replica writes the latest results for the pages.
    pub snapshot_every: Duration,
    /// A row whose state, health counter and outcome did not change is rewritten
    /// at most this often (for its latency, sparkline and "checked ... ago"); a
    /// change is written at the next snapshot.
    pub refresh_every: Duration,
    /// DNS lookups for the readiness panel.
    pub probe: ProbeConfig,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            config: HealthConfig::default(),
            checker: CheckerSettings::default(),
            snapshot_every: Duration::from_secs(1),
            refresh_every: Duration::from_secs(10),
            probe: ProbeConfig::default(),
        }
    }
}

/// Page filters: `state` is `all`, `down` or `problems`; `pool` a pool's name; `q` text.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub state: String,
    pub pool: String,
    pub q: String,
}

/// Targets, their live state, and the checker job.
#[derive(Clone)]
pub struct HealthService {
    db: Db,
    settings: Arc<HealthSettings>,
    /// HAProxy's stats and DNS readiness, asked at most once per [`PEERS_FRESH`]
    /// however many pages load (the lock makes concurrent loads share one ask).
    peers: Arc<tokio::sync::Mutex<Option<Peers>>>,
}

/// What the page shows from outside the database, and when it was asked.
type Peers = (
    std::time::Instant,
    Vec<HaproxyView>,
    Option<model::checklist::CheckReport>,
);

/// How long HAProxy's stats and the DNS answers are reused by page loads.
const PEERS_FRESH: Duration = Duration::from_secs(5);

impl std::fmt::Debug for HealthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthService").finish_non_exhaustive()
    }
}

const TARGET_COLUMNS: &str = "t.id, t.name, t.address, t.kind, t.method, t.path, t.expect_status, t.body_match, \
     t.host, t.inter_ms, t.fastinter_ms, t.downinter_ms, t.fall, t.rise, t.timeout_ms, t.cert_warn_days, \
     p.name AS pool, s.name AS site";

/// A row that needs no one's attention: UP, its last check passed, no warning.
/// (A target not checked yet has no status row: not healthy.)
const HEALTHY: &str = "COALESCE(h.state = 'up' AND h.last_ok = 1 AND h.warning IS NULL, FALSE)";

/// The most backends the page lists at once (problems first); filters narrow the rest.
pub const MAX_ROWS: u32 = 500;

fn u32_of(row: &AnyRow, col: &str) -> Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(col)?).unwrap_or(0))
}

fn spec_of(row: &AnyRow) -> Result<TargetSpec> {
    let kind: String = row.try_get("kind")?;
    Ok(TargetSpec {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        pool: row.try_get("pool")?,
        address: row.try_get("address")?,
        kind: CheckKind::from_name(&kind).unwrap_or(CheckKind::Tcp),
        http: HttpCheck {
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            expect_status: row
                .try_get::<Option<i64>, _>("expect_status")?
                .and_then(|s| u16::try_from(s).ok()),
            body_match: row.try_get("body_match")?,
            host: row.try_get("host")?,
        },
        timing: Timing {
            inter_ms: u32_of(row, "inter_ms")?,
            fastinter_ms: u32_of(row, "fastinter_ms")?,
            downinter_ms: u32_of(row, "downinter_ms")?,
            fall: u32_of(row, "fall")?,
            rise: u32_of(row, "rise")?,
            timeout_ms: u32_of(row, "timeout_ms")?,
        },
        cert_warn_days: u32_of(row, "cert_warn_days")?,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn recent_text(recent: &[Option<u32>]) -> String {
    let mut s = String::with_capacity(recent.len() * 4);
    for (i, r) in recent.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match r {
            Some(ms) => s.push_str(itoa::Buffer::new().format(*ms)),
            None => s.push('-'),
        }
    }
    s
}

fn recent_parse(text: &str) -> Vec<Option<u32>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

fn live_of(row: &AnyRow) -> Result<TargetLive> {
    let state: Option<String> = row.try_get("state")?;
    Ok(TargetLive {
        id: row.try_get("id")?,
        state: state.as_deref().map(|s| {
            if s == "up" {
                HealthState::Up
            } else {
                HealthState::Down
            }
        }),
        health: u32::try_from(row.try_get::<Option<i64>, _>("health")?.unwrap_or(0)).unwrap_or(0),
        since_ms: row.try_get::<Option<i64>, _>("since_ms")?.unwrap_or(0),
        latency_ms: u32::try_from(row.try_get::<Option<i64>, _>("latency_ms")?.unwrap_or(0))
            .unwrap_or(0),
        ok: row.try_get::<Option<i64>, _>("last_ok")?.unwrap_or(0) != 0,
        message: row
            .try_get::<Option<String>, _>("message")?
            .unwrap_or_default(),
        warning: row.try_get("warning")?,
        checked_ms: row.try_get::<Option<i64>, _>("checked_ms")?.unwrap_or(0),
        recent: recent_parse(
            &row.try_get::<Option<String>, _>("recent")?
                .unwrap_or_default(),
        ),
        checks: u64::try_from(row.try_get::<Option<i64>, _>("checks")?.unwrap_or(0)).unwrap_or(0),
        updated_ms: row.try_get::<Option<i64>, _>("updated_ms")?.unwrap_or(0),
    })
}

impl HealthService {
    #[must_use]
    pub fn new(db: Db, settings: HealthSettings) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            peers: Arc::default(),
        }
    }

    /// Adds the config's sites, pools and targets that the database does not
    /// have yet (by name). What staff changed in the UI is left as it is.
    ///
    /// # Errors
    /// Database errors.
    pub async fn apply_config(&self) -> Result<()> {
        let cfg = &self.settings.config;
        let mut tx = self.db.pool().begin().await?;
        for s in &cfg.sites {
            sqlx::query(
                "INSERT INTO health_site (name, kind) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&s.name)
            .bind(&s.kind)
            .execute(&mut *tx)
            .await?;
        }
        for p in &cfg.pools {
            sqlx::query(
                "INSERT INTO health_pool (site_id, name, service, needed) \
                 SELECT id, $2, $3, $4 FROM health_site WHERE name = $1 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&p.site)
            .bind(&p.name)
            .bind(&p.service)
            .bind(i64::from(p.needed))
            .execute(&mut *tx)
            .await?;
            for t in &p.targets {
                let spec = target_spec(0, &p.name, t).map_err(Error::invalid)?;
                insert_target(&mut tx, &p.name, &spec, true).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every target's settings, for the checker.
    ///
    /// # Errors
    /// Database errors.
    pub async fn specs(&self) -> Result<Vec<TargetSpec>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS} FROM health_target t JOIN health_pool p ON p.id = t.pool_id \
             JOIN health_site s ON s.id = p.site_id ORDER BY t.id"
        )))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(spec_of).collect()
    }

    /// Adds a target to a pool (from the page's form).
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`] with the field at fault; [`Error::NotFound`]
    /// for an unknown pool; database errors.
    pub async fn add_target(
        &self,
        who: &Principal,
        pool: &str,
        form: &TargetConfig,
    ) -> Result<i64> {
        who.require(Permission::ConfigureHealth)?;
        let spec = target_spec(0, pool, form).map_err(Error::invalid)?;
        let mut tx = self.db.pool().begin().await?;
        let id = insert_target(&mut tx, pool, &spec, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("pool {pool:?}")))?;
        tx.commit().await?;
        self.changed_targets().await;
        Ok(id)
    }

    /// Removes a target.
    ///
    /// # Errors
    /// Permission; [`Error::NotFound`]; database errors.
    pub async fn remove_target(&self, who: &Principal, id: i64) -> Result<()> {
        who.require(Permission::ConfigureHealth)?;
        let n = sqlx::query("DELETE FROM health_target WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("target {id}")));
        }
        self.changed_targets().await;
        Ok(())
    }

    async fn changed_targets(&self) {
        if let Err(e) = self
            .db
            .bus()
            .publish("health.targets", serde_json::json!({}))
            .await
        {
            tracing::warn!(error = %e, "health targets event not published");
        }
    }

    /// Rows whose live part changed after `since_ms`, and the server's time now.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn live_since(
        &self,
        who: &Principal,
        since_ms: i64,
    ) -> Result<(Vec<TargetLive>, i64)> {
        who.require(Permission::ViewDashboard)?;
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT target_id AS id, state, health, since_ms, latency_ms, last_ok, message, warning, \
             checked_ms, recent, checks, updated_ms FROM health_status WHERE updated_ms > $1",
        )
        .bind(since_ms)
        .fetch_all(self.db.pool())
        .await?;
        Ok((rows.iter().map(live_of).collect::<Result<_>>()?, now))
    }

    /// The whole page: sites, pools, the targets the filter lets through, the
    /// timeline, HAProxy's stats and DNS readiness.
    ///
    /// # Errors
    /// Permission; database errors (HAProxy and DNS problems are shown, not raised).
    pub async fn overview(&self, who: &Principal, filter: &Filter) -> Result<HealthOverview> {
        let (haproxy, dns) = self.peers().await;
        // Sites and pools count every target (two columns a row); the table reads
        // only the rows the filters let through, problems first, at most MAX_ROWS.
        let rollup = self.rollup(who).await?;
        let total = rollup.pools.iter().map(|p| p.total).sum();
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if !filter.pool.is_empty() {
            binds.push(filter.pool.clone());
            conds.push(format!("p.name = ${}", binds.len()));
        }
        let q = filter.q.trim().to_lowercase();
        if !q.is_empty() {
            binds.push(format!("%{}%", q.replace(['%', '_'], "")));
            let n = binds.len();
            conds.push(format!(
                "(LOWER(t.name) LIKE ${n} OR LOWER(t.address) LIKE ${n})"
            ));
        }
        match filter.state.as_str() {
            "down" => conds.push("h.state = 'down'".into()),
            "problems" => conds.push(format!("NOT ({HEALTHY})")),
            _ => {}
        }
        let filter_sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let from = "FROM health_target t JOIN health_pool p ON p.id = t.pool_id JOIN health_site s ON s.id = p.site_id \
             LEFT JOIN health_status h ON h.target_id = t.id";
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) {from}{filter_sql}"
        )));
        for b in &binds {
            count = count.bind(b.clone());
        }
        let matched = u32::try_from(count.fetch_one(self.db.pool()).await?).unwrap_or(u32::MAX);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS}, h.state, h.health, h.since_ms, h.latency_ms, h.last_ok, \
             h.message, h.warning, h.checked_ms, h.recent, h.checks, h.updated_ms {from}{filter_sql} \
             ORDER BY CASE WHEN {HEALTHY} THEN 1 ELSE 0 END, s.name, p.name, t.name LIMIT {MAX_ROWS}"
        )));
        for b in &binds {
            query = query.bind(b.clone());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        let mut targets = Vec::with_capacity(rows.len());
        let mut ours: Vec<(String, HealthState)> = Vec::new();
        for row in &rows {
            let spec = spec_of(row)?;
            let live = live_of(row)?;
            if let Some(s) = live.state {
                ours.push((spec.address.clone(), s));
            }
            let request = match spec.kind {
                CheckKind::Tcp => String::new(),
                _ => format!("{} {}", spec.http.method, spec.http.path),
            };
            targets.push(TargetRow {
                id: spec.id,
                site: row.try_get("site")?,
                name: spec.name,
                pool: spec.pool,
                address: spec.address,
                kind: spec.kind,
                request,
                timing: spec.timing,
                live,
                haproxy: None,
                disagrees: false,
            });
        }
        // HAProxy's view of the same addresses, and where it disagrees with ours.
        let mut theirs: HashMap<&str, &str> = HashMap::new();
        for view in &haproxy {
            for r in &view.rows {
                if let Some(addr) = &r.address {
                    theirs.insert(addr.as_str(), r.status.as_str());
                }
            }
        }
        let all_rows: Vec<model::health::HaproxyRow> = haproxy
            .iter()
            .flat_map(|v| v.rows.iter().cloned())
            .collect();
        let disagreements = haproxy::disagreements(&all_rows, &ours);
        for t in &mut targets {
            t.haproxy = theirs.get(t.address.as_str()).map(|s| (*s).to_owned());
            t.disagrees = disagreements
                .iter()
                .any(|d| d.address.as_deref() == Some(t.address.as_str()));
        }
        Ok(HealthOverview {
            rollup,
            targets,
            matched,
            total_targets: total,
            haproxy,
            dns,
        })
    }

    async fn peers(&self) -> (Vec<HaproxyView>, Option<model::checklist::CheckReport>) {
        let mut cached = self.peers.lock().await;
        if let Some((at, haproxy, dns)) = cached.as_ref() {
            if at.elapsed() < PEERS_FRESH {
                return (haproxy.clone(), dns.clone());
            }
        }
        let (haproxy, dns) = tokio::join!(self.haproxy_views(), self.dns_readiness());
        *cached = Some((std::time::Instant::now(), haproxy.clone(), dns.clone()));
        (haproxy, dns)
    }

    async fn pool_list(&self) -> Result<Vec<rollup::Pool>> {
        sqlx::query(
            "SELECT p.id, p.name, p.service, p.needed, s.name AS site, s.kind FROM health_pool p \
             JOIN health_site s ON s.id = p.site_id ORDER BY s.name, p.name",
        )
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(rollup::Pool {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                site: r.try_get("site")?,
                site_kind: r.try_get("kind")?,
                service: r.try_get("service")?,
                needed: u32_of(r, "needed")?,
            })
        })
        .collect()
    }

    /// Sites, pools, the timeline and who runs the checker, without the rows:
    /// what a live page reloads when a backend goes UP or DOWN.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn rollup(&self, who: &Principal) -> Result<HealthRollup> {
        who.require(Permission::ViewDashboard)?;
        let pools = self.pool_list().await?;
        let states = sqlx::query(
            "SELECT t.pool_id, h.state FROM health_target t LEFT JOIN health_status h ON h.target_id = t.id",
        )
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| {
            let state: Option<String> = r.try_get("state")?;
            Ok((
                r.try_get::<i64, _>("pool_id")?,
                state.map(|s| if s == "up" { HealthState::Up } else { HealthState::Down }),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
        let pool_rows = rollup::pools(&pools, &states);
        Ok(HealthRollup {
            sites: rollup::sites(&pools, &pool_rows),
            pools: pool_rows,
            events: self.events(50).await?,
            checker: self.checker_holder().await?,
            now_ms: now_ms(),
        })
    }

    /// The latest UP/DOWN changes, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn events(&self, limit: u32) -> Result<Vec<HealthEvent>> {
        let rows = sqlx::query(
            "SELECT target_id, name, pool, from_state, to_state, at_ms, message FROM health_event \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        let state = |s: String| {
            if s == "up" {
                HealthState::Up
            } else {
                HealthState::Down
            }
        };
        rows.iter()
            .map(|r| {
                Ok(HealthEvent {
                    target_id: r.try_get("target_id")?,
                    name: r.try_get("name")?,
                    pool: r.try_get("pool")?,
                    from: state(r.try_get("from_state")?),
                    to: state(r.try_get("to_state")?),
                    at_ms: r.try_get("at_ms")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    async fn checker_holder(&self) -> Result<String> {
        let row =
            sqlx::query("SELECT holder, acquired_ms, expires_ms FROM job_lease WHERE job = $1")
                .bind(CHECKER_JOB)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(match row {
            Some(r) => {
                let holder: Option<String> = r.try_get("holder")?;
                let expires: Option<i64> = r.try_get("expires_ms")?;
                match (holder, expires) {
                    (Some(h), Some(e)) if e > now_ms() => h,
                    _ => String::new(),
                }
            }
            None => String::new(),
        })
    }

    async fn haproxy_views(&self) -> Vec<HaproxyView> {
        let timeout = Duration::from_secs(2);
        let fetches = self.settings.config.haproxy.iter().map(|h| async move {
            let instance = HaproxyInstance {
                name: h.name.clone(),
                source: match (&h.url, &h.socket) {
                    (Some(url), _) => StatsSource::Http {
                        url: url.clone(),
                        user: h.user.clone(),
                        password: h.password.clone(),
                    },
                    (None, socket) => StatsSource::Socket {
                        path: socket.clone().unwrap_or_default().into(),
                    },
                },
            };
            match haproxy::fetch(&instance, timeout).await {
                Ok(rows) => HaproxyView {
                    name: h.name.clone(),
                    rows,
                    error: None,
                },
                Err(e) => HaproxyView {
                    name: h.name.clone(),
                    rows: Vec::new(),
                    error: Some(e),
                },
            }
        });
        futures_util::future::join_all(fetches).await
    }

    async fn dns_readiness(&self) -> Option<model::checklist::CheckReport> {
        let dns = self.settings.config.dns.as_ref()?;
        let target = MigrationTarget {
            names: dns.names.clone(),
            target: "127.0.0.1".into(),
            services: Vec::new(),
            ttl_limit: dns.max_ttl.unwrap_or(300),
            moved: false,
            http_port: 80,
            https_port: 443,
        };
        Some(probe::run(AutomatedCheck::DnsTtl, &self.settings.probe, &target).await)
    }

    /// The checker as a job: one replica runs it while it holds the lease; the
    /// run lasts until the lease is lost or the process stops.
    #[must_use]
    pub fn job(&self) -> (JobSpec, JobFn) {
        let me = self.clone();
        let run: JobFn = Arc::new(move |ctx| {
            let me = me.clone();
            Box::pin(async move { me.run_checker(ctx).await })
        });
        (
            JobSpec {
                name: CHECKER_JOB,
                interval: Duration::from_secs(5),
                lease_ttl: Duration::from_secs(15),
            },
            run,
        )
    }

    async fn run_checker(&self, ctx: RunContext) -> Result<String> {
        let specs = self.specs().await?;
        let count = specs.len();
        let (tx, mut changes) = mpsc::unbounded_channel::<StateChange>();
        let checker = Checker::start(specs, self.settings.checker.clone(), tx)
            .map_err(|e| Error::Internal(format!("the checker did not start: {e}")))?;
        let alerter = self.settings.config.webhook.as_ref().map(|w| {
            Arc::new(Alerter::new(WebhookSettings {
                attempts: w.attempts.unwrap_or(5).max(1),
                ..WebhookSettings::new(w.url.clone())
            }))
        });
        let mut targets_changed = self.db.bus().subscribe();
        let mut written: HashMap<i64, Written> = HashMap::new();
        let mut tick = tokio::time::interval(self.settings.snapshot_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(targets = count, "health checker started");
        while ctx.still_held() {
            tokio::select! {
                Some(change) = changes.recv() => {
                    // Pages reload their pools on the event: store the rows first.
                    self.write_snapshot(&checker.statuses(), &mut written).await?;
                    self.record_change(&ctx, &change, alerter.as_ref()).await?;
                }
                event = targets_changed.recv() => {
                    if matches!(&event, Ok(e) if e.topic == "health.targets") {
                        checker.set_targets(self.specs().await?);
                    }
                }
                _ = tick.tick() => {
                    self.write_snapshot(&checker.statuses(), &mut written).await?;
                }
            }
        }
        checker.stop();
        Ok(format!("checked {count} targets until the lease ended"))
    }

    async fn record_change(
        &self,
        ctx: &RunContext,
        change: &StateChange,
        alerter: Option<&Arc<Alerter>>,
    ) -> Result<()> {
        // A run that lost its lease must not record or alert twice.
        ctx.check_fence().await?;
        sqlx::query(
            "INSERT INTO health_event (target_id, name, pool, from_state, to_state, at_ms, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(change.target_id)
        .bind(&change.name)
        .bind(&change.pool)
        .bind(change.from.as_str())
        .bind(change.to.as_str())
        .bind(change.at_ms)
        .bind(&change.message)
        .execute(self.db.pool())
        .await?;
        let data = serde_json::json!({ "target": change.target_id, "to": change.to.as_str() });
        if let Err(e) = self.db.bus().publish("health", data).await {
            tracing::warn!(error = %e, "health event not published");
        }
        if let Some(alerter) = alerter {
            let (alerter, change) = (Arc::clone(alerter), change.clone());
            tokio::spawn(async move {
                if let Err(e) = alerter.send(&change).await {
                    tracing::warn!(target = %change.name, error = %e, "health alert not delivered");
                }
            });
        }
        Ok(())
    }

    pub(super) async fn write_snapshot(
        &self,
        statuses: &[TargetStatus],
        written: &mut HashMap<i64, Written>,
    ) -> Result<()> {
        let now = now_ms();
        let refresh_ms = i64::try_from(self.settings.refresh_every.as_millis()).unwrap_or(i64::MAX);
        let fresh: Vec<&TargetStatus> = statuses
            .iter()
            // Nothing to show before a target's first check; after that, what
            // people read changed, or the row is due for its latencies.
            .filter(|s| {
                s.checks > 0
                    && written.get(&s.id).is_none_or(|w| {
                        w.checks != s.checks
                            && (w.outcome != outcome(s) || now - w.at_ms >= refresh_ms)
                    })
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.pool().begin().await?;
        // Small statements: SQLite looks each `$N` up by a linear scan of the
        // statement's parameter names (sqlx asks for every one), so a statement's
        // binding cost grows with the square of its parameters. 200 rows (2,400
        // parameters) a statement took half the server's CPU at 10,000 targets;
        // 16 rows (192) makes binding negligible for a few hundred statements a second.
        for chunk in fresh.chunks(SNAPSHOT_ROWS_PER_STATEMENT) {
            let sql = platform::db::values_sql(
                "INSERT INTO health_status (target_id, state, health, since_ms, last_ok, latency_ms, message, \
                 warning, checked_ms, recent, checks, updated_ms) VALUES ",
                12,
                chunk.len(),
            ) + " ON CONFLICT (target_id) DO UPDATE SET state = excluded.state, health = excluded.health, \
                 since_ms = excluded.since_ms, last_ok = excluded.last_ok, latency_ms = excluded.latency_ms, \
                 message = excluded.message, warning = excluded.warning, checked_ms = excluded.checked_ms, \
                 recent = excluded.recent, checks = excluded.checks, updated_ms = excluded.updated_ms";
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                let last = s.last.as_ref();
                q = q
                    .bind(s.id)
                    .bind(s.state.as_str())
                    .bind(i64::from(s.health))
                    .bind(s.since_ms)
                    .bind(i64::from(last.is_some_and(|l| l.ok)))
                    .bind(i64::from(last.map_or(0, |l| l.latency_ms)))
                    .bind(last.map_or_else(String::new, |l| l.message.clone()))
                    .bind(last.and_then(|l| l.warning.clone()))
                    .bind(last.map_or(0, |l| l.at_ms))
                    .bind(recent_text(&s.recent))
                    .bind(i64::try_from(s.checks).unwrap_or(i64::MAX))
                    .bind(now);
            }
            // A target removed since the checker last reloaded has no row to refer to.
            if let Err(e) = q.execute(&mut *tx).await {
                tracing::debug!(error = %e, "health snapshot batch skipped");
                return Ok(());
            }
        }
        tx.commit().await?;
        for s in fresh {
            // A row's first write is back-dated by up to half the refresh period,
            // so rows first written together do not all refresh in the same second.
            let phase = if written.contains_key(&s.id) {
                0
            } else {
                s.id.wrapping_mul(2_654_435_761)
                    .rem_euclid((refresh_ms / 2).max(1))
            };
            written.insert(
                s.id,
                Written {
                    checks: s.checks,
                    outcome: outcome(s),
                    at_ms: now - phase,
                },
            );
        }
        Ok(())
    }
}

/// What was last written of a target's row.
pub(super) struct Written {
    checks: u64,
    outcome: u64,
    pub(super) at_ms: i64,
}

/// A digest of what a row says apart from timings: the state, the health
/// counter, whether the last check passed, its warning, and a failure's message
/// (a success's message carries its latency, which is refreshed on its own clock).
fn outcome(s: &TargetStatus) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.state.as_str().hash(&mut h);
    s.health.hash(&mut h);
    if let Some(last) = &s.last {
        last.ok.hash(&mut h);
        last.warning.hash(&mut h);
        if !last.ok {
            last.message.hash(&mut h);
        }
    }
    h.finish()
}

/// Inserts a target into the pool named `pool`; with `if_missing`, an existing
/// target of that name is left alone. The new id, or `None` for an unknown pool
/// (or an existing target with `if_missing`).
async fn insert_target(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    pool: &str,
    spec: &TargetSpec,
    if_missing: bool,
) -> Result<Option<i64>> {
    let sql = if if_missing {
        "INSERT INTO health_target (pool_id, name, address, kind, method, path, expect_status, body_match, host, \
         inter_ms, fastinter_ms, downinter_ms, fall, rise, timeout_ms, cert_warn_days) \
         SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM health_pool WHERE name = $1 \
         ON CONFLICT (pool_id, name) DO NOTHING RETURNING id"
    } else {
        "INSERT INTO health_target (pool_id, name, address, kind, method, path, expect_status, body_match, host, \
         inter_ms, fastinter_ms, downinter_ms, fall, rise, timeout_ms, cert_warn_days) \
         SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM health_pool WHERE name = $1 \
         RETURNING id"
    };
    let t = &spec.timing;
    let id: Option<i64> = sqlx::query_scalar(sql)
        .bind(pool)
        .bind(&spec.name)
        .bind(&spec.address)
        .bind(spec.kind.as_str())
        .bind(&spec.http.method)
        .bind(&spec.http.path)
        .bind(spec.http.expect_status.map(i64::from))
        .bind(spec.http.body_match.clone())
        .bind(spec.http.host.clone())
        .bind(i64::from(t.inter_ms))
        .bind(i64::from(t.fastinter_ms))
        .bind(i64::from(t.downinter_ms))
        .bind(i64::from(t.fall))
        .bind(i64::from(t.rise))
        .bind(i64::from(t.timeout_ms))
        .bind(i64::from(spec.cert_warn_days))
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d)
                if d.message().contains("UNIQUE") || d.message().contains("unique") =>
            {
                Error::invalid(format!(
                    "pool {pool:?} already has a target called {:?}",
                    spec.name
                ))
            }
            other => other.into(),
        })?;
    Ok(id)
}
