//! The housekeeping job: expired sessions and old sign-in failures (`auth`'s
//! prune), then retention: each history table's rows older than its retention
//! are deleted.
//!
//! One list, in [`tables!`] below, names every table with retention: its time
//! column, the rows always kept, its default and its flag. The typed
//! [`Retention`] (a field per table), [`Table::ALL`] and the server's flags are
//! all made from it.
//!
//! Deletes run in batches (`DELETE ... WHERE id IN (SELECT id ... LIMIT n)`),
//! each its own short statement, so one run never holds a long lock; the job's
//! fence is checked before every batch, so a run that lost its lease stops.
//! Rows a page depends on are never deleted, however old: the latest run of
//! each job and any run still running, the latest UP/DOWN change of each
//! health target, the latest firewall apply, and the latest run of each check
//! of each migration.

use crate::{
    auth::{AuthService, Clock},
    jobs::{JobFn, JobSpec, RunContext},
    Db, Result,
};

/// How a table stores its times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

macro_rules! tables {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident {
            field: $field:ident,
            table: $table:literal,
            time: $column:literal in $unit:ident,
            keep: $keep:literal,
            days: $days:literal,
            flag: $flag:literal,
            env: $env:literal,
        }
    )*) => {
        /// How long each history table keeps its rows, in days (0: forever).
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Retention {
            $(
                $(#[doc = $doc])*
                pub $field: u32,
            )*
            /// Rows deleted per statement.
            pub batch: u32,
        }

        impl Default for Retention {
            fn default() -> Self {
                Self {
                    $($field: $days,)*
                    batch: 5000,
                }
            }
        }

        /// A table with retention.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Table {
            $($variant,)*
        }

        impl Table {
            /// Every table with retention, in the order a run prunes them.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The SQL table.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $table,)*
                }
            }

            /// The command-line flag (without `--`) setting its days.
            #[must_use]
            pub const fn flag(self) -> &'static str {
                match self {
                    $(Self::$variant => $flag,)*
                }
            }

            /// The environment variable overriding the flag.
            #[must_use]
            pub const fn env(self) -> &'static str {
                match self {
                    $(Self::$variant => $env,)*
                }
            }

            /// Days kept unless configured.
            #[must_use]
            pub const fn default_days(self) -> u32 {
                match self {
                    $(Self::$variant => $days,)*
                }
            }

            /// What the rows kept whatever their age are, for people.
            #[must_use]
            pub const fn always_kept(self) -> &'static str {
                match self {
                    $(Self::$variant => $keep,)*
                }
            }

            /// Its days in `r`.
            #[must_use]
            pub const fn days(self, r: &Retention) -> u32 {
                match self {
                    $(Self::$variant => r.$field,)*
                }
            }

            /// Sets its days in `r`.
            pub fn set_days(self, r: &mut Retention, days: u32) {
                match self {
                    $(Self::$variant => r.$field = days,)*
                }
            }

            const fn time(self) -> (&'static str, Unit) {
                match self {
                    $(Self::$variant => ($column, Unit::$unit),)*
                }
            }
        }
    };
}

tables! {
    /// `audit_log`: who did what (seconds). Nothing is kept past it.
    AuditLog {
        field: audit_log,
        table: "audit_log",
        time: "at" in Seconds,
        keep: "",
        days: 365,
        flag: "retain-audit-days",
        env: "SWITCHBOARD_RETAIN_AUDIT_DAYS",
    }
    /// `health_event`: UP/DOWN changes (milliseconds). The latest per target stays.
    HealthEvent {
        field: health_event,
        table: "health_event",
        time: "at_ms" in Millis,
        keep: "the latest change of each target",
        days: 90,
        flag: "retain-health-events-days",
        env: "SWITCHBOARD_RETAIN_HEALTH_EVENTS_DAYS",
    }
    /// `job_run`: the jobs' run history (milliseconds). The latest run of each
    /// job and every running one stay.
    JobRun {
        field: job_run,
        table: "job_run",
        time: "started_ms" in Millis,
        keep: "the latest run of each job and any run still running",
        days: 30,
        flag: "retain-job-runs-days",
        env: "SWITCHBOARD_RETAIN_JOB_RUNS_DAYS",
    }
    /// `firewall_apply`: the audit of firewall applies (milliseconds). The
    /// latest apply stays.
    FirewallApply {
        field: firewall_apply,
        table: "firewall_apply",
        time: "at_ms" in Millis,
        keep: "the latest apply",
        days: 365,
        flag: "retain-firewall-applies-days",
        env: "SWITCHBOARD_RETAIN_FIREWALL_APPLIES_DAYS",
    }
    /// `migration_check`: runs of a migration's automated checks with their
    /// evidence (seconds). The latest run of each check of each migration stays.
    MigrationCheck {
        field: migration_check,
        table: "migration_check",
        time: "ran_at" in Seconds,
        keep: "the latest run of each check of each migration",
        days: 365,
        flag: "retain-migration-checks-days",
        env: "SWITCHBOARD_RETAIN_MIGRATION_CHECKS_DAYS",
    }
}

impl Table {
    /// The condition under which an old row `o` may go (SQL, the same on both
    /// engines): for tables that keep the latest row of each thing, a newer
    /// row of the same thing exists. A correlated `EXISTS` looks one index
    /// entry up per candidate (`health_event_target`, `job_run_job_id`, ...);
    /// a `MAX(id) ... GROUP BY` would read the whole index in every batch.
    const fn may_go(self) -> &'static str {
        match self {
            Self::AuditLog => "1 = 1",
            Self::HealthEvent => {
                "EXISTS (SELECT 1 FROM health_event n WHERE n.target_id = o.target_id AND n.id > o.id)"
            }
            Self::JobRun => {
                "o.outcome <> 'running' \
                 AND EXISTS (SELECT 1 FROM job_run n WHERE n.job = o.job AND n.id > o.id)"
            }
            Self::FirewallApply => "EXISTS (SELECT 1 FROM firewall_apply n WHERE n.id > o.id)",
            Self::MigrationCheck => {
                "EXISTS (SELECT 1 FROM migration_check n WHERE n.migration_id = o.migration_id \
                 AND n.check_name = o.check_name AND n.id > o.id)"
            }
        }
    }
}

/// The housekeeping job's work.
#[derive(Clone, Debug)]
pub struct Housekeeping {
    db: Db,
    auth: AuthService,
    retention: Retention,
    clock: Clock,
}

impl Housekeeping {
    /// Housekeeping of `db` (the one `auth` uses), on `auth`'s clock.
    #[must_use]
    pub fn new(db: Db, auth: AuthService, retention: Retention) -> Self {
        Self {
            db,
            clock: auth.clock().clone(),
            auth,
            retention,
        }
    }

    /// The job, every `every`, under a 30 s lease.
    #[must_use]
    pub fn job(&self, every: std::time::Duration) -> (JobSpec, JobFn) {
        let me = self.clone();
        let f: JobFn = std::sync::Arc::new(move |ctx| {
            let me = me.clone();
            Box::pin(async move { me.run(&ctx).await })
        });
        (
            JobSpec {
                name: "housekeeping",
                interval: every,
                lease_ttl: std::time::Duration::from_secs(30),
            },
            f,
        )
    }

    /// One run: sessions and sign-in failures, then every table's retention.
    /// The summary says how many rows went from each.
    ///
    /// # Errors
    /// The lease was lost between batches (`Error::Busy`), or the database is down.
    #[tracing::instrument(skip_all, err)]
    pub async fn run(&self, ctx: &RunContext) -> Result<String> {
        let sessions = self.auth.prune().await?;
        let mut removed = Vec::new();
        for &table in Table::ALL {
            let days = table.days(&self.retention);
            if days == 0 {
                removed.push(format!("{} kept forever", table.name()));
                continue;
            }
            let n = self.prune(ctx, table, days).await?;
            removed.push(format!("{} {n}", table.name()));
        }
        Ok(format!(
            "{sessions}; removed old rows: {}",
            removed.join(", ")
        ))
    }

    /// Deletes `table`'s rows older than `days`, batch by batch, checking the
    /// fence before each.
    async fn prune(&self, ctx: &RunContext, table: Table, days: u32) -> Result<u64> {
        let cutoff_secs = self.clock.now() - i64::from(days) * 86_400;
        let (column, unit) = table.time();
        let cutoff = match unit {
            Unit::Seconds => cutoff_secs,
            Unit::Millis => cutoff_secs.saturating_mul(1000),
        };
        let name = table.name();
        let sql = format!(
            "DELETE FROM {name} WHERE id IN (SELECT o.id FROM {name} o WHERE o.{column} < $1 \
             AND {} ORDER BY o.id LIMIT $2)",
            table.may_go()
        );
        let batch = self.retention.batch.max(1);
        let mut total = 0;
        loop {
            ctx.check_fence().await?;
            let n = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(cutoff)
                .bind(i64::from(batch))
                .execute(self.db.pool())
                .await?
                .rows_affected();
            total += n;
            if n < u64::from(batch) {
                break;
            }
        }
        if total > 0 {
            tracing::info!(table = name, removed = total, days, "retention");
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests;
