//! The checker job: one replica runs the [`Checker`] while it holds the job's
//! lease, writes its results in batches for every replica's pages (a snapshot
//! every `snapshot_every`, and at once on an UP/DOWN change), records each
//! change as an event, on the change feed and to the webhook, and reloads the
//! targets when the page edits them.

use std::{collections::HashMap, sync::Arc, time::Duration};

use model::health::{StateChange, TargetStatus};
use platform::{
    jobs::{JobFn, JobSpec, RunContext},
    Error, Result,
};
use tokio::sync::mpsc;

use crate::{
    alerts::Alerter,
    checker::Checker,
    service::now_ms,
    store::{self, StatusRecord},
    HealthService,
};

/// The job that runs the checker (one replica at a time).
pub const CHECKER_JOB: &str = "health-checker";

/// Rows per upsert statement in a snapshot (see [`HealthService::write_snapshot`]).
const SNAPSHOT_ROWS_PER_STATEMENT: usize = 16;

/// What was last written of a target's row.
pub(crate) struct Written {
    checks: u64,
    outcome: u64,
    pub(crate) at_ms: i64,
}

impl HealthService {
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

    #[tracing::instrument(skip_all, fields(job = CHECKER_JOB, targets), err)]
    async fn run_checker(&self, ctx: RunContext) -> Result<String> {
        let specs = self.specs().await?;
        let count = specs.len();
        tracing::Span::current().record("targets", count);
        let (tx, mut changes) = mpsc::unbounded_channel::<StateChange>();
        let checker = Checker::start(specs, self.settings.checker.clone(), tx)
            .map_err(|e| Error::Internal(format!("the checker did not start: {e}")))?;
        let alerter = self
            .settings
            .config
            .webhook
            .as_ref()
            .map(|w| Arc::new(Alerter::new(w.settings())));
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

    #[tracing::instrument(
        skip_all,
        fields(target = change.target_id, name = %change.name, pool = %change.pool, to = change.to.as_str()),
        err
    )]
    async fn record_change(
        &self,
        ctx: &RunContext,
        change: &StateChange,
        alerter: Option<&Arc<Alerter>>,
    ) -> Result<()> {
        // A run that lost its lease must not record or alert twice.
        ctx.check_fence().await?;
        store::insert_event(&self.db, change).await?;
        let data = serde_json::json!({ "target": change.target_id, "to": change.to.as_str() });
        if let Err(e) = self.db.bus().publish("health", data).await {
            tracing::warn!(error = %e, "health event not published");
        }
        if let Some(alerter) = alerter {
            let (alerter, change) = (Arc::clone(alerter), change.clone());
            // The alert's own span says whether it was delivered.
            tokio::spawn(async move { alerter.send(&change).await });
        }
        Ok(())
    }

    /// Writes the rows whose content changed, or whose refresh is due, in
    /// small statements in one transaction.
    pub(crate) async fn write_snapshot(
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
            let rows = chunk
                .iter()
                .map(|s| StatusRecord::written(s, now))
                .collect();
            // A target removed since the checker last reloaded has no row to refer to.
            if let Err(e) = store::upsert_statuses(&mut tx, rows).await {
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
