//! Scheduled jobs that never overlap, on one process or many replicas.
//!
//! Each job has one row in `job_lease`. A replica runs a job only while it holds
//! that row's lease:
//!
//! - **Acquire** is a compare-and-set on the row's `fence`: read the row, decide,
//!   then `UPDATE ... SET fence = fence + 1 ... WHERE fence = <read>`. Of several
//!   replicas deciding at once exactly one update matches; the others are told
//!   the job is busy. This is the same on SQLite and PostgreSQL (no advisory
//!   locks, which would tie the lease to one connection's life and say nothing
//!   about who held it since when).
//! - **Heartbeat**: the holder pushes `expires_ms` forward every third of the
//!   lease's time to live, matching on its fence. If the row's fence moved on, or
//!   the heartbeat cannot reach the database before the lease runs out, the run
//!   is cancelled and recorded as `fenced`: it stops instead of overlapping.
//! - **Takeover**: a lease whose `expires_ms` has passed, or whose holder is a
//!   process on this host that no longer exists (the lock-file wrapper's stale
//!   PID test), is taken over; the dead run is closed as `abandoned` at the time
//!   its lease ran out, and the new run records whom it took over from.
//! - **Once per interval**: a finished run sets `next_due_ms` to its start plus the
//!   job's interval; the scheduler of every replica skips a job until then. An
//!   abandoned run does not count, so a takeover runs the job at once.
//!
//! Clocks: lease times come from each replica's clock, so replicas must keep
//! their clocks in sync (NTP), to well within a lease's time to live.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use serde::Serialize;
use sqlx::Row as _;
use tokio::sync::watch;

use crate::{Db, Error, Result};

/// What a job does each time it runs: its summary on success.
pub type JobFn =
    Arc<dyn Fn(RunContext) -> Pin<Box<dyn Future<Output = Result<String>> + Send>> + Send + Sync>;

/// A job's name and timing.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub name: &'static str,
    /// Start to start.
    pub interval: Duration,
    /// How long a holder that stopped heartbeating keeps the job.
    pub lease_ttl: Duration,
}

/// Why a run started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    /// Started by hand, by this user.
    Manual(String),
}

impl Trigger {
    fn label(&self) -> String {
        match self {
            Self::Schedule => "schedule".into(),
            Self::Manual(who) => format!("manual: {who}"),
        }
    }
}

/// A held lease: the run's identity (`fence`) and when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub job: String,
    pub fence: i64,
    pub holder: String,
    pub started_ms: i64,
    /// The holder this run took over from, when it did.
    pub took_over_from: Option<String>,
}

/// The outcome of asking for a job's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquire {
    Started(Lease),
    /// Another holder runs it; the message says who and since when.
    Busy(String),
    /// The job ran less than an interval ago.
    NotDue {
        due_ms: i64,
    },
}

/// What a running job can ask: whether it still holds its lease.
#[derive(Clone, Debug)]
pub struct RunContext {
    pub lease: Lease,
    held: watch::Receiver<bool>,
    jobs: Jobs,
}

impl RunContext {
    /// False once the lease is lost; the run is cancelled soon after.
    #[must_use]
    pub fn still_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Asks the database whether this run's fence is still current: call it
    /// right before a side effect that must not happen twice.
    ///
    /// # Errors
    /// The lease was lost (`Error::Busy`), or the database is down.
    pub async fn check_fence(&self) -> Result<()> {
        self.jobs.check_fence(&self.lease).await
    }
}

/// One run of a job, for the history.
#[derive(Clone, Debug, Serialize)]
pub struct JobRun {
    pub job: String,
    pub fence: i64,
    pub holder: String,
    pub trigger: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub outcome: String,
    pub detail: String,
    pub took_over_from: Option<String>,
}

/// Who may hold leases, and the lease table.
#[derive(Clone, Debug)]
pub struct Jobs {
    db: Db,
    holder: Arc<str>,
    host: Arc<str>,
    pid: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `2026-11-26T10:03:12.345Z`, for messages.
#[must_use]
pub fn format_ms(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms).map_or_else(|_| at_ms.to_string(), |t| t.to_string())
}

fn process_is_gone(pid: i64) -> bool {
    std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Jobs {
    /// Leases held in this process's name (`host:pid`).
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self::with_holder(db, crate::replica_id())
    }

    /// Leases held under another name: tests use two to stand for two replicas.
    #[must_use]
    pub fn with_holder(db: Db, holder: &str) -> Self {
        Self {
            db,
            holder: holder.into(),
            host: crate::host_name().into(),
            pid: i64::from(std::process::id()),
        }
    }

    /// Tries to take `spec`'s lease now. A manual start ignores the interval but
    /// never a live holder.
    ///
    /// # Errors
    /// The database is down.
    pub async fn acquire(&self, spec: &JobSpec, trigger: &Trigger) -> Result<Acquire> {
        let pool = self.db.pool();
        sqlx::query("INSERT INTO job_lease (job) VALUES ($1) ON CONFLICT (job) DO NOTHING")
            .bind(spec.name)
            .execute(pool)
            .await?;
        let row = sqlx::query(
            "SELECT fence, holder, holder_host, holder_pid, acquired_ms, expires_ms, next_due_ms \
             FROM job_lease WHERE job = $1",
        )
        .bind(spec.name)
        .fetch_one(pool)
        .await?;
        let fence: i64 = row.try_get("fence")?;
        let holder: Option<String> = row.try_get("holder")?;
        let holder_host: Option<String> = row.try_get("holder_host")?;
        let holder_pid: Option<i64> = row.try_get("holder_pid")?;
        let acquired_ms: Option<i64> = row.try_get("acquired_ms")?;
        let expires_ms: Option<i64> = row.try_get("expires_ms")?;
        let next_due_ms: i64 = row.try_get("next_due_ms")?;
        let now = now_ms();

        let mut took_over = None;
        if let Some(holder) = holder {
            let expired = expires_ms.is_none_or(|e| e <= now);
            let gone = holder_host.as_deref() == Some(&*self.host)
                && holder_pid.is_some_and(|pid| pid != self.pid && process_is_gone(pid));
            if !expired && !gone {
                return Ok(Acquire::Busy(format!(
                    "{} is already running since {} on {holder}",
                    spec.name,
                    format_ms(acquired_ms.unwrap_or_default())
                )));
            }
            let why = if gone {
                "its process is gone"
            } else {
                "its lease expired"
            };
            // The dead run ended, at the latest, when its lease ran out.
            let ended = expires_ms.unwrap_or(now).min(now);
            took_over = Some((holder, why, ended));
        } else if *trigger == Trigger::Schedule && next_due_ms > now {
            return Ok(Acquire::NotDue {
                due_ms: next_due_ms,
            });
        }

        let mut tx = pool.begin().await?;
        let won = sqlx::query(
            "UPDATE job_lease SET fence = fence + 1, holder = $1, holder_host = $2, \
             holder_pid = $3, acquired_ms = $4, expires_ms = $5 WHERE job = $6 AND fence = $7",
        )
        .bind(&*self.holder)
        .bind(&*self.host)
        .bind(self.pid)
        .bind(now)
        .bind(now + ms(spec.lease_ttl))
        .bind(spec.name)
        .bind(fence)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            tx.rollback().await?;
            return Ok(Acquire::Busy(format!(
                "{} was just started by another replica",
                spec.name
            )));
        }
        let new_fence = fence + 1;
        if let Some((old, why, ended)) = &took_over {
            sqlx::query(
                "UPDATE job_run SET outcome = 'abandoned', finished_ms = $1, detail = $2 \
                 WHERE job = $3 AND fence = $4 AND outcome = 'running'",
            )
            .bind(*ended)
            .bind(format!("{} took over: {why}", self.holder))
            .bind(spec.name)
            .bind(fence)
            .execute(&mut *tx)
            .await?;
            tracing::warn!(job = spec.name, from = %old, "taking over a job lease: {why}");
        }
        sqlx::query(
            "INSERT INTO job_run (job, fence, holder, trigger, started_ms, outcome, took_over_from) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6)",
        )
        .bind(spec.name)
        .bind(new_fence)
        .bind(&*self.holder)
        .bind(trigger.label())
        .bind(now)
        .bind(took_over.as_ref().map(|(old, why, _)| format!("{old} ({why})")))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.announce(spec.name, new_fence, "running").await;
        Ok(Acquire::Started(Lease {
            job: spec.name.to_owned(),
            fence: new_fence,
            holder: self.holder.to_string(),
            started_ms: now,
            took_over_from: took_over.map(|(old, _, _)| old),
        }))
    }

    /// Pushes the lease's expiry forward. `Ok(false)`: the lease is someone else's.
    ///
    /// # Errors
    /// The database is down.
    pub async fn heartbeat(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE job_lease SET expires_ms = $1 WHERE job = $2 AND fence = $3 AND holder = $4",
        )
        .bind(now_ms() + ms(ttl))
        .bind(&lease.job)
        .bind(lease.fence)
        .bind(&lease.holder)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn check_fence(&self, lease: &Lease) -> Result<()> {
        let fence: Option<i64> = sqlx::query_scalar("SELECT fence FROM job_lease WHERE job = $1")
            .bind(&lease.job)
            .fetch_optional(self.db.pool())
            .await?;
        if fence == Some(lease.fence) {
            Ok(())
        } else {
            Err(Error::Busy(format!(
                "{} run {} lost its lease to a newer run",
                lease.job, lease.fence
            )))
        }
    }

    /// Records the run's end and frees the lease. A run that lost its lease is
    /// recorded as `fenced` and frees nothing.
    ///
    /// # Errors
    /// The database is down.
    pub async fn finish(
        &self,
        spec: &JobSpec,
        lease: &Lease,
        outcome: &Result<String>,
    ) -> Result<&'static str> {
        let (label, detail) = match outcome {
            Ok(summary) => ("ok", summary.clone()),
            Err(Error::Busy(why)) => ("fenced", why.clone()),
            Err(e) => ("failed", e.to_string()),
        };
        let mut tx = self.db.pool().begin().await?;
        let freed = sqlx::query(
            "UPDATE job_lease SET holder = NULL, holder_host = NULL, holder_pid = NULL, \
             acquired_ms = NULL, expires_ms = NULL, next_due_ms = $1 \
             WHERE job = $2 AND fence = $3 AND holder = $4",
        )
        .bind(lease.started_ms + ms(spec.interval))
        .bind(&lease.job)
        .bind(lease.fence)
        .bind(&lease.holder)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let label = if freed { label } else { "fenced" };
        sqlx::query(
            "UPDATE job_run SET finished_ms = $1, outcome = $2, detail = $3 \
             WHERE job = $4 AND fence = $5 AND outcome = 'running'",
        )
        .bind(now_ms())
        .bind(label)
        .bind(detail)
        .bind(&lease.job)
        .bind(lease.fence)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.announce(&lease.job, lease.fence, label).await;
        Ok(label)
    }

    async fn announce(&self, job: &str, fence: i64, outcome: &str) {
        let data = serde_json::json!({ "job": job, "fence": fence, "outcome": outcome });
        if let Err(e) = self.db.bus().publish("job", data).await {
            tracing::warn!("could not announce {job} run {fence}: {e}");
        }
    }

    /// The latest runs of a job (or of every job), newest first.
    ///
    /// # Errors
    /// The database is down.
    pub async fn runs(&self, job: Option<&str>, limit: u32) -> Result<Vec<JobRun>> {
        let rows = sqlx::query(
            "SELECT job, fence, holder, trigger, started_ms, finished_ms, outcome, detail, \
             took_over_from FROM job_run WHERE ($1 IS NULL OR job = $1) \
             ORDER BY started_ms DESC, id DESC LIMIT $2",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobRun {
                    job: r.try_get("job")?,
                    fence: r.try_get("fence")?,
                    holder: r.try_get("holder")?,
                    trigger: r.try_get("trigger")?,
                    started_ms: r.try_get("started_ms")?,
                    finished_ms: r.try_get("finished_ms")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    took_over_from: r.try_get("took_over_from")?,
                })
            })
            .collect()
    }

    /// Runs `f` under `lease` to its end: heartbeats, cancels the run if the
    /// lease is lost, records the outcome.
    #[tracing::instrument(skip_all, fields(job = spec.name, fence = lease.fence), err)]
    pub async fn run_held(&self, spec: &JobSpec, lease: Lease, f: &JobFn) -> Result<&'static str> {
        let (held_tx, held_rx) = watch::channel(true);
        let ctx = RunContext {
            lease: lease.clone(),
            held: held_rx,
            jobs: self.clone(),
        };
        let beat = {
            let jobs = self.clone();
            let lease = lease.clone();
            let ttl = spec.lease_ttl;
            async move {
                let every = (ttl / 3).max(Duration::from_millis(50));
                let mut deadline = tokio::time::Instant::now() + ttl;
                loop {
                    tokio::time::sleep(every).await;
                    match jobs.heartbeat(&lease, ttl).await {
                        Ok(true) => deadline = tokio::time::Instant::now() + ttl,
                        Ok(false) => break "another replica holds the lease now",
                        Err(e) if tokio::time::Instant::now() + every >= deadline => {
                            tracing::warn!("lease of {} not renewed: {e}", lease.job);
                            break "the lease could not be renewed before it ran out";
                        }
                        Err(e) => tracing::warn!("lease heartbeat failed, retrying: {e}"),
                    }
                }
            }
        };
        let outcome = tokio::select! {
            out = f(ctx) => out,
            why = beat => {
                let _ = held_tx.send(false);
                Err(Error::Busy(format!("{} run {} stopped: {why}", lease.job, lease.fence)))
            }
        };
        self.finish(spec, &lease, &outcome).await
    }
}

/// Runs registered jobs when they are due, on every replica; the leases make
/// sure each due run happens on one of them.
#[derive(Clone)]
pub struct Scheduler {
    jobs: Jobs,
    registry: Arc<HashMap<&'static str, (JobSpec, JobFn)>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("holder", &self.jobs.holder)
            .field("jobs", &self.registry.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Scheduler {
    #[must_use]
    pub fn new(jobs: Jobs, registered: Vec<(JobSpec, JobFn)>) -> Self {
        Self {
            jobs,
            registry: Arc::new(
                registered
                    .into_iter()
                    .map(|(s, f)| (s.name, (s, f)))
                    .collect(),
            ),
        }
    }

    /// The lease table this scheduler uses.
    #[must_use]
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Checks every job every `tick` (with up to a quarter tick of jitter, so
    /// replicas do not knock at the same instant) until the task is aborted.
    pub fn spawn(&self, tick: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let mut jitter = [0u8; 2];
                let _ = getrandom::fill(&mut jitter);
                let quarter = ms(tick / 4).max(1);
                let extra = i64::from(u16::from_le_bytes(jitter)) % quarter;
                tokio::time::sleep(tick + Duration::from_millis(extra.unsigned_abs())).await;
                for name in me.registry.keys() {
                    match me.start(name, Trigger::Schedule).await {
                        Ok(_) | Err(Error::Busy(_) | Error::NotFound(_)) => {}
                        Err(e) => tracing::warn!("job {name} could not start: {e}"),
                    }
                }
            }
        })
    }

    /// Starts `name` in the background when its lease can be had. Returns the
    /// run's fence; `Error::Busy` when another run holds it (the message says
    /// since when and where), `Error::NotFound` for an unknown job; a scheduled
    /// start that is not due yet is `Ok(None)`.
    ///
    /// # Errors
    /// As above, or the database is down.
    pub async fn start(&self, name: &str, trigger: Trigger) -> Result<Option<i64>> {
        let Some((spec, f)) = self.registry.get(name).cloned() else {
            return Err(Error::NotFound(format!("job {name}")));
        };
        match self.jobs.acquire(&spec, &trigger).await? {
            Acquire::Busy(why) => Err(Error::Busy(why)),
            Acquire::NotDue { .. } => Ok(None),
            Acquire::Started(lease) => {
                let fence = lease.fence;
                let jobs = self.jobs.clone();
                tokio::spawn(async move {
                    if let Err(e) = jobs.run_held(&spec, lease, &f).await {
                        tracing::warn!("job {} finished but was not recorded: {e}", spec.name);
                    }
                });
                Ok(Some(fence))
            }
        }
    }
}

#[cfg(test)]
mod tests;
