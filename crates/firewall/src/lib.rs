//! Firewall sync: EC2 instances of every region become host allow rules,
//! planned as a diff, applied atomically (iptables or nftables) or exported,
//! audited, on a schedule that never overlaps itself.
//!
//! One sync run (job `firewall-sync`, under the job lease) is: read every
//! region ([`inventory`]), store the snapshot, read the host's rules
//! ([`host`]), compute the plan ([`rules`]), store it, and apply it when the
//! config says the schedule may. An apply by hand takes the same lease, so a
//! sync and an apply never overlap either; it is refused when the plan it was
//! confirmed on has moved on.

pub mod config;
pub mod host;
pub mod inventory;
pub mod iptables;
mod job;
pub mod nft;
pub mod rules;
pub mod seed;
mod store;

use std::sync::Arc;

use model::{
    auth::Permission,
    firewall::{
        ApplyRecord, BackendKind, FirewallOverview, Instance, Inventory, InventoryChanges, Plan,
        Rule, RuleOrigin,
    },
};
use sqlx::Row as _;

pub use config::FirewallConfig;

use platform::{
    jobs::{Acquire, JobFn, Jobs, RunContext, Trigger},
    Principal,
};
pub use platform::{Db, Error, Result};

/// The job that syncs (one replica at a time).
pub const SYNC_JOB: &str = "firewall-sync";

/// Snapshots kept (older ones are pruned after each sync).
const SNAPSHOTS_KEPT: i64 = 200;

/// The firewall service; without a config it only says how to configure it.
#[derive(Clone, Debug)]
pub struct FirewallService {
    db: Db,
    jobs: Jobs,
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    cfg: FirewallConfig,
    host: host::Host,
    /// Explicit AWS credentials (tests); `None` uses the standard chain.
    credentials: Option<aws_sdk_ec2::config::Credentials>,
}

/// What one sync did.
#[derive(Clone, Debug)]
pub struct SyncOutcome {
    pub inventory: Inventory,
    pub plan: Plan,
    /// The apply, when the schedule applied it.
    pub applied: Option<ApplyRecord>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl FirewallService {
    #[must_use]
    pub fn new(db: Db, cfg: Option<FirewallConfig>) -> Self {
        let jobs = Jobs::new(db.clone());
        Self::with(db, jobs, cfg, None)
    }

    /// With an explicit lease table (its holder name) and AWS credentials.
    #[must_use]
    pub fn with(
        db: Db,
        jobs: Jobs,
        cfg: Option<FirewallConfig>,
        credentials: Option<aws_sdk_ec2::config::Credentials>,
    ) -> Self {
        Self {
            db,
            jobs,
            inner: cfg.map(|cfg| {
                Arc::new(Inner {
                    host: host::Host::new(&cfg),
                    cfg,
                    credentials,
                })
            }),
        }
    }

    /// The config, when there is one.
    #[must_use]
    pub fn config(&self) -> Option<&FirewallConfig> {
        self.inner.as_ref().map(|i| &i.cfg)
    }

    pub(crate) fn inner(&self) -> Result<&Arc<Inner>> {
        self.inner.as_ref().ok_or_else(|| {
            Error::invalid("no firewall is configured: start the server with --firewall-config")
        })
    }

    /// Applies the current plan, confirmed by `who` on the plan with `digest`.
    /// Holds the sync's lease while it works, so it never overlaps a sync.
    ///
    /// # Errors
    /// `Forbidden`; `Invalid` when applying is disabled or the backend is the
    /// export; `Busy` when a sync runs; `Conflict` when the plan changed since
    /// `digest`; the apply's own failure (audited, ruleset unchanged).
    #[tracing::instrument(skip(self, who), err)]
    pub async fn apply(&self, who: &Principal, digest: &str) -> Result<ApplyRecord> {
        let me = who.require(Permission::ApplyFirewall)?;
        let inner = self.inner()?.clone();
        if !inner.cfg.apply_enabled {
            return Err(Error::invalid(
                "applying is disabled in the firewall config (apply.enabled): this is a dry run",
            ));
        }
        if inner.cfg.backend == BackendKind::Export {
            return Err(Error::invalid(
                "the export backend cannot apply: download the script and run it on the host",
            ));
        }
        let spec = self.spec();
        let actor = me.username.clone();
        let lease = match self
            .jobs
            .acquire(&spec, &Trigger::Manual(format!("{actor} (apply)")))
            .await?
        {
            Acquire::Started(lease) => lease,
            Acquire::Busy(why) => return Err(Error::Busy(why)),
            Acquire::NotDue { .. } => {
                return Err(Error::Busy("the sync is not due".into()));
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let me = self.clone();
        let digest = digest.to_owned();
        let f: JobFn = Arc::new(move |ctx: RunContext| {
            let (me, inner, actor, digest, tx) = (
                me.clone(),
                inner.clone(),
                actor.clone(),
                digest.clone(),
                tx.clone(),
            );
            Box::pin(async move {
                let result = me.apply_held(&ctx, &inner, &actor, &digest).await;
                let line = match &result {
                    Ok(r) => Ok(r.message.clone()),
                    Err(e) => Err(Error::invalid(e.to_string())),
                };
                if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(result);
                }
                line
            })
        });
        self.jobs.run_held(&spec, lease, &f).await?;
        rx.await
            .map_err(|_| Error::Busy("the apply was stopped: the lease was lost".into()))?
    }

    pub(crate) async fn apply_held(
        &self,
        ctx: &RunContext,
        inner: &Inner,
        actor: &str,
        digest: &str,
    ) -> Result<ApplyRecord> {
        let inventory = self
            .latest_inventory()
            .await?
            .ok_or_else(|| Error::invalid("there is no inventory yet: run a sync first"))?;
        let desired = rules::desired(&inner.cfg, &inventory);
        let current = inner.host.current().await?;
        let want: Vec<Rule> = desired.iter().map(|(_, r)| r.clone()).collect();
        let plan = rules::plan(&current.rules, &want);
        if plan.digest != digest {
            return Err(Error::Conflict(format!(
                "the plan changed since you read it (now {} to add, {} to remove): review it again",
                plan.add.len(),
                plan.remove.len()
            )));
        }
        ctx.check_fence().await?;
        let record = self
            .apply_desired(inner, ctx.lease.fence, actor, &desired, &plan)
            .await?;
        self.announce().await;
        Ok(record)
    }

    /// Applies and audits (a failure is audited too, then returned).
    pub(crate) async fn apply_desired(
        &self,
        inner: &Inner,
        fence: i64,
        actor: &str,
        desired: &[(RuleOrigin, Rule)],
        plan: &Plan,
    ) -> Result<ApplyRecord> {
        let result = inner.host.apply(desired).await;
        let (ok, message) = match &result {
            Ok(a) => (
                true,
                format!(
                    "applied: {} added, {} removed, {} rules now",
                    plan.add.len(),
                    plan.remove.len(),
                    a.rules.len()
                ),
            ),
            Err(e) => (false, e.to_string()),
        };
        let record = self
            .audit(fence, actor, inner.cfg.backend, plan, ok, &message)
            .await?;
        match result {
            Ok(_) => Ok(record),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn audit(
        &self,
        fence: i64,
        actor: &str,
        backend: BackendKind,
        plan: &Plan,
        ok: bool,
        message: &str,
    ) -> Result<ApplyRecord> {
        let at = now_ms();
        let row = sqlx::query(
            "INSERT INTO firewall_apply (at_ms, actor, backend, fence, added, removed, ok, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(at)
        .bind(actor)
        .bind(backend.as_str())
        .bind(fence)
        .bind(serde_json::to_string(&plan.add).unwrap_or_default())
        .bind(serde_json::to_string(&plan.remove).unwrap_or_default())
        .bind(i64::from(ok))
        .bind(message)
        .fetch_one(self.db.pool())
        .await?;
        Ok(ApplyRecord {
            id: row.try_get("id")?,
            at_ms: at,
            actor: actor.to_owned(),
            backend: backend.as_str().to_owned(),
            added: plan.add.clone(),
            removed: plan.remove.clone(),
            ok,
            message: message.to_owned(),
        })
    }

    /// Everything the page shows.
    ///
    /// # Errors
    /// `Forbidden`, or the database is down (the host's rules failing to read
    /// is shown on the page, not an error).
    pub async fn overview(&self, who: &Principal) -> Result<FirewallOverview> {
        who.require(Permission::ViewDashboard)?;
        let runs = self.runs(20).await?;
        let running = runs.iter().find(|r| r.outcome == "running").map(|r| {
            format!(
                "since {} on {}",
                platform::jobs::format_ms(r.started_ms),
                r.holder
            )
        });
        let Some(inner) = &self.inner else {
            return Ok(FirewallOverview {
                runs,
                ..FirewallOverview::default()
            });
        };
        let mut last_two = self.inventories(2).await?.into_iter();
        let inventory = last_two.next();
        let changes = match (&inventory, last_two.next()) {
            (Some(now), Some(before)) => changes(&before, now),
            _ => InventoryChanges::default(),
        };
        let (current, current_error) = match inner.host.current().await {
            Ok(c) => (c.rules, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let plan = inventory.as_ref().map(|inv| {
            let want: Vec<Rule> = rules::desired(&inner.cfg, inv)
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            rules::plan(&current, &want)
        });
        Ok(FirewallOverview {
            configured: true,
            backend: Some(inner.cfg.backend),
            apply_enabled: inner.cfg.apply_enabled && inner.cfg.backend != BackendKind::Export,
            auto_apply: inner.cfg.auto_apply,
            ports: inner.cfg.ports.clone(),
            interval_secs: inner.cfg.interval.as_secs(),
            inventory,
            changes,
            current,
            current_error,
            plan,
            runs,
            applies: self.applies(20).await?,
            running,
        })
    }

    /// The export script for the latest inventory (`iptables` or `nft` flavour).
    ///
    /// # Errors
    /// `Forbidden`, no config, or no inventory yet.
    #[tracing::instrument(skip(self, who), err)]
    pub async fn export(&self, who: &Principal, flavour: BackendKind) -> Result<String> {
        who.require(Permission::PlanFirewall)?;
        let inner = self.inner()?;
        let inventory = self
            .latest_inventory()
            .await?
            .ok_or_else(|| Error::invalid("there is no inventory yet: run a sync first"))?;
        let desired = rules::desired(&inner.cfg, &inventory);
        let generated = platform::jobs::format_ms(now_ms());
        Ok(match flavour {
            BackendKind::Nftables => nft::export_script(
                &inner.cfg.table,
                &desired,
                &inner.cfg.managed_ports(),
                &generated,
            ),
            _ => {
                let rules: Vec<Rule> = desired.into_iter().map(|(_, r)| r).collect();
                iptables::export_script(&inner.cfg.chain, &rules, &generated)
            }
        })
    }

    pub(crate) async fn announce(&self) {
        if let Err(e) = self
            .db
            .bus()
            .publish("firewall", serde_json::json!({}))
            .await
        {
            tracing::warn!(error = %e, "firewall event not published");
        }
    }
}

/// What changed between two inventories, by instance id.
#[must_use]
pub fn changes(before: &Inventory, now: &Inventory) -> InventoryChanges {
    use std::collections::HashMap;
    let old: HashMap<&str, &Instance> = before.instances().map(|i| (i.id.as_str(), i)).collect();
    let new: HashMap<&str, &Instance> = now.instances().map(|i| (i.id.as_str(), i)).collect();
    let mut c = InventoryChanges {
        since_ms: Some(before.taken_ms),
        ..InventoryChanges::default()
    };
    for i in now.instances() {
        match old.get(i.id.as_str()) {
            None => c.appeared.push(i.clone()),
            Some(o)
                if o.state != i.state
                    || o.public_ip != i.public_ip
                    || o.public_dns != i.public_dns =>
            {
                c.changed.push(((*o).clone(), i.clone()));
            }
            Some(_) => {}
        }
    }
    for i in before.instances() {
        if !new.contains_key(i.id.as_str()) {
            c.gone.push(i.clone());
        }
    }
    c
}

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
