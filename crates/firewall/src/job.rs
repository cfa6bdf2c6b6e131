//! The sync as a job: one replica at a time reads the inventory, plans, and
//! (when applying is on) applies, under the job's lease; "sync now" runs it
//! on demand.

use std::{sync::Arc, time::Duration};

use model::auth::Permission;
use model::firewall::Rule;
use platform::{
    jobs::{JobFn, JobSpec, RunContext, Trigger},
    Principal,
};

use crate::{inventory, rules, Error, FirewallService, Result, SyncOutcome, SYNC_JOB};

impl FirewallService {
    /// The sync job's timing (from the config; a day when unconfigured).
    #[must_use]
    pub fn spec(&self) -> JobSpec {
        match &self.inner {
            Some(i) => JobSpec {
                name: SYNC_JOB,
                interval: i.cfg.interval,
                lease_ttl: i.cfg.lease_ttl,
            },
            None => JobSpec {
                name: SYNC_JOB,
                interval: Duration::from_secs(86_400),
                lease_ttl: Duration::from_secs(60),
            },
        }
    }

    /// The scheduled sync, for the scheduler (only when configured).
    #[must_use]
    pub fn job(&self) -> Option<(JobSpec, JobFn)> {
        self.inner.as_ref()?;
        let me = self.clone();
        let f: JobFn = Arc::new(move |ctx: RunContext| {
            let me = me.clone();
            Box::pin(async move {
                let out = me.sync(&ctx, "scheduler").await?;
                Ok(summary(&out))
            })
        });
        Some((self.spec(), f))
    }

    /// One sync under a held lease: inventory, snapshot, plan, and an apply when
    /// the config lets the schedule apply (`actor` is recorded as who applied).
    ///
    /// # Errors
    /// The database is down, or the host's rules cannot be read.
    #[tracing::instrument(skip(self, ctx), fields(fence = ctx.lease.fence), err)]
    pub async fn sync(&self, ctx: &RunContext, actor: &str) -> Result<SyncOutcome> {
        let inner = self.inner()?;
        let previous = self.latest_inventory().await?;
        let inventory =
            inventory::collect(&inner.cfg.aws, previous.as_ref(), inner.credentials.clone()).await;
        let desired = rules::desired(&inner.cfg, &inventory);
        let current = inner.host.current().await?;
        let want: Vec<Rule> = desired.iter().map(|(_, r)| r.clone()).collect();
        let plan = rules::plan(&current.rules, &want);
        ctx.check_fence().await?;
        self.store_snapshot(ctx.lease.fence, &inventory, &plan)
            .await?;
        let applied = if inner.cfg.auto_apply && !plan.is_empty() {
            ctx.check_fence().await?;
            Some(
                self.apply_desired(inner, ctx.lease.fence, actor, &desired, &plan)
                    .await?,
            )
        } else {
            None
        };
        self.announce().await;
        Ok(SyncOutcome {
            inventory,
            plan,
            applied,
        })
    }

    /// Starts a sync now (in the background) for `who`.
    ///
    /// # Errors
    /// `Busy` when a sync runs ("already running since ... on ..."),
    /// `Forbidden`, or no config.
    pub async fn sync_now(
        &self,
        who: &Principal,
        scheduler: &platform::jobs::Scheduler,
    ) -> Result<i64> {
        let me = who.require(Permission::PlanFirewall)?;
        self.inner()?;
        scheduler
            .start(SYNC_JOB, Trigger::Manual(me.username.clone()))
            .await?
            .ok_or_else(|| Error::Busy("the sync did not start".into()))
    }
}

/// One line for the run history.
fn summary(out: &SyncOutcome) -> String {
    let failed: Vec<&str> = out.inventory.failed().map(|r| r.region.as_str()).collect();
    let mut s = format!(
        "{} regions, {} instances; plan +{} -{} ={}",
        out.inventory.regions.len(),
        out.inventory.instances().count(),
        out.plan.add.len(),
        out.plan.remove.len(),
        out.plan.unchanged
    );
    if !failed.is_empty() {
        s.push_str(&format!("; not read: {}", failed.join(", ")));
    }
    if let Some(a) = &out.applied {
        s.push_str(&format!("; {}", a.message));
    }
    s
}
