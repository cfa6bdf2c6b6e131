//! The health service: targets in pools in sites (declared in the config file
//! and edited in the UI) and what the pages read: the overview (filtered rows,
//! HAProxy's stats and DNS readiness beside them), live deltas, the roll-up and
//! the timeline. The checker job that writes the results is in `job`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use model::{
    auth::Permission,
    checklist::{AutomatedCheck, CheckReport},
    health::{
        HaproxyView, HealthEvent, HealthOverview, HealthRollup, HealthState, TargetLive, TargetRow,
        TargetSpec,
    },
};
use sqlx::FromRow as _;

use crate::{
    checker::CheckerSettings,
    config::{target_spec, HealthConfig, TargetConfig},
    haproxy, rollup,
    store::{self, LeaseRecord, PoolRecord, PoolStateRecord, StatusRecord, TargetRecord},
    CHECKER_JOB,
};
use platform::{Db, Error, Principal, Result};
use probe::{MigrationTarget, ProbeConfig};

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
    pub(crate) db: Db,
    pub(crate) settings: Arc<HealthSettings>,
    /// HAProxy's stats and DNS readiness, asked at most once per [`PEERS_FRESH`]
    /// however many pages load (the lock makes concurrent loads share one ask).
    peers: Arc<tokio::sync::Mutex<Option<Peers>>>,
}

/// What the page shows from outside the database, and when it was asked.
#[derive(Clone)]
struct Peers {
    at: std::time::Instant,
    haproxy: Vec<HaproxyView>,
    dns: Option<CheckReport>,
}

/// How long HAProxy's stats and the DNS answers are reused by page loads.
const PEERS_FRESH: Duration = Duration::from_secs(5);

impl std::fmt::Debug for HealthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthService").finish_non_exhaustive()
    }
}

/// The most backends the page lists at once (problems first); filters narrow the rest.
pub const MAX_ROWS: u32 = 500;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
    #[tracing::instrument(skip_all, fields(pools = self.settings.config.pools.len()), err)]
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
                let spec = target_spec(0, &p.name, t).map_err(Error::Invalid)?;
                store::insert_target(&mut tx, &p.name, &spec, true).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every target's settings, for the checker (one of a kind this version
    /// does not know is left out, with a warning).
    ///
    /// # Errors
    /// Database errors.
    pub async fn specs(&self) -> Result<Vec<TargetSpec>> {
        let sql = format!(
            "SELECT {} {} ORDER BY t.id",
            store::target_select(),
            store::TARGET_FROM
        );
        let rows: Vec<TargetRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.into_iter().filter_map(store::checkable).collect())
    }

    /// Adds a target to a pool (from the page's form).
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`] with the fields at fault; [`Error::NotFound`]
    /// for an unknown pool; database errors.
    #[tracing::instrument(skip_all, fields(pool, name = %form.name), err)]
    pub async fn add_target(
        &self,
        who: &Principal,
        pool: &str,
        form: &TargetConfig,
    ) -> Result<i64> {
        who.require(Permission::ConfigureHealth)?;
        let spec = target_spec(0, pool, form).map_err(Error::Invalid)?;
        let mut tx = self.db.pool().begin().await?;
        let id = store::insert_target(&mut tx, pool, &spec, false)
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
    #[tracing::instrument(skip_all, fields(target = id), err)]
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
        let sql = format!(
            "SELECT {} FROM health_status h WHERE h.updated_ms > $1",
            store::status_select()
        );
        let rows: Vec<StatusRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(since_ms)
            .fetch_all(self.db.pool())
            .await?;
        let live = rows
            .into_iter()
            .map(|r| {
                let id = r.target_id.unwrap_or_default();
                r.live(id)
            })
            .collect();
        Ok((live, now))
    }

    /// The whole page: sites, pools, the targets the filter lets through, the
    /// timeline, HAProxy's stats and DNS readiness.
    ///
    /// # Errors
    /// Permission; database errors (HAProxy and DNS problems are shown, not raised).
    pub async fn overview(&self, who: &Principal, filter: &Filter) -> Result<HealthOverview> {
        let Peers { haproxy, dns, .. } = self.peers().await;
        // Sites and pools count every target (two columns a row); the table reads
        // only the rows the filters let through, problems first, at most MAX_ROWS.
        let rollup = self.rollup(who).await?;
        let total = rollup.pools.iter().map(|p| p.total).sum();
        let (filter_sql, binds) = filter.sql();
        let from = format!(
            "{} LEFT JOIN health_status h ON h.target_id = t.id",
            store::TARGET_FROM
        );
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) {from}{filter_sql}"
        )));
        for b in &binds {
            count = count.bind(b.clone());
        }
        let matched = u32::try_from(count.fetch_one(self.db.pool()).await?).unwrap_or(u32::MAX);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, {} {from}{filter_sql} \
             ORDER BY CASE WHEN {} THEN 1 ELSE 0 END, s.name, p.name, t.name LIMIT {MAX_ROWS}",
            store::target_select(),
            store::status_select(),
            store::HEALTHY,
        )));
        for b in &binds {
            query = query.bind(b.clone());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        let mut targets = Vec::with_capacity(rows.len());
        let mut ours: Vec<(String, HealthState)> = Vec::new();
        for row in &rows {
            let record = TargetRecord::from_row(row)?;
            let site = record.site.clone();
            let Some(spec) = store::checkable(record) else {
                continue;
            };
            let live = StatusRecord::from_row(row)?.live(spec.id);
            if let Some(s) = live.state {
                ours.push((spec.address.clone(), s));
            }
            let request = if spec.kind.sends_http() {
                format!("{} {}", spec.http.method, spec.http.path)
            } else {
                String::new()
            };
            targets.push(TargetRow {
                id: spec.id,
                site,
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
        mark_haproxy(&mut targets, &haproxy, &ours);
        Ok(HealthOverview {
            rollup,
            targets,
            matched,
            total_targets: total,
            haproxy,
            dns,
        })
    }

    async fn peers(&self) -> Peers {
        let mut cached = self.peers.lock().await;
        if let Some(peers) = cached.as_ref() {
            if peers.at.elapsed() < PEERS_FRESH {
                return peers.clone();
            }
        }
        let (haproxy, dns) = tokio::join!(self.haproxy_views(), self.dns_readiness());
        let peers = Peers {
            at: std::time::Instant::now(),
            haproxy,
            dns,
        };
        *cached = Some(peers.clone());
        peers
    }

    /// Sites, pools, the timeline and who runs the checker, without the rows:
    /// what a live page reloads when a backend goes UP or DOWN.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn rollup(&self, who: &Principal) -> Result<HealthRollup> {
        who.require(Permission::ViewDashboard)?;
        let pools: Vec<rollup::Pool> = sqlx::query_as::<_, PoolRecord>(store::POOL_SELECT)
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(rollup::Pool::from)
            .collect();
        let states: Vec<(i64, Option<HealthState>)> = sqlx::query_as::<_, PoolStateRecord>(
            "SELECT t.pool_id, h.state FROM health_target t LEFT JOIN health_status h ON h.target_id = t.id",
        )
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| (r.pool_id, r.state()))
        .collect();
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
        store::events(&self.db, limit).await
    }

    async fn checker_holder(&self) -> Result<String> {
        let lease: Option<LeaseRecord> =
            sqlx::query_as("SELECT holder, expires_ms FROM job_lease WHERE job = $1")
                .bind(CHECKER_JOB)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(match lease {
            Some(LeaseRecord {
                holder: Some(h),
                expires_ms: Some(e),
            }) if e > now_ms() => h,
            _ => String::new(),
        })
    }

    async fn haproxy_views(&self) -> Vec<HaproxyView> {
        let timeout = Duration::from_secs(2);
        let fetches = self.settings.config.haproxy.iter().map(|h| async move {
            let (rows, error) = match haproxy::fetch(&h.instance(), timeout).await {
                Ok(rows) => (rows, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            HaproxyView {
                name: h.name.clone(),
                rows,
                error,
            }
        });
        futures_util::future::join_all(fetches).await
    }

    async fn dns_readiness(&self) -> Option<CheckReport> {
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
}

impl Filter {
    /// ` WHERE ...` for the filters given (empty for none), and the texts it binds
    /// (`$1`, `$2`... in order).
    fn sql(&self) -> (String, Vec<String>) {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if !self.pool.is_empty() {
            binds.push(self.pool.clone());
            conds.push(format!("p.name = ${}", binds.len()));
        }
        let q = self.q.trim().to_lowercase();
        if !q.is_empty() {
            binds.push(format!("%{}%", q.replace(['%', '_'], "")));
            let n = binds.len();
            conds.push(format!(
                "(LOWER(t.name) LIKE ${n} OR LOWER(t.address) LIKE ${n})"
            ));
        }
        match self.state.as_str() {
            "down" => conds.push("h.state = 'down'".into()),
            "problems" => conds.push(format!("NOT ({})", store::HEALTHY)),
            _ => {}
        }
        if conds.is_empty() {
            (String::new(), binds)
        } else {
            (format!(" WHERE {}", conds.join(" AND ")), binds)
        }
    }
}

/// HAProxy's view of the same addresses on each row, and where it disagrees with ours.
fn mark_haproxy(
    targets: &mut [TargetRow],
    haproxy: &[HaproxyView],
    ours: &[(String, HealthState)],
) {
    let mut theirs: HashMap<&str, &str> = HashMap::new();
    for view in haproxy {
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
    let disagreements = haproxy::disagreements(&all_rows, ours);
    for t in targets {
        t.haproxy = theirs.get(t.address.as_str()).map(|s| (*s).to_owned());
        t.disagrees = disagreements
            .iter()
            .any(|d| d.address.as_deref() == Some(t.address.as_str()));
    }
}
