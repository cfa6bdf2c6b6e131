//! The scenario's own look at the replicas' database: rows they wrote (job
//! runs, share links), read over a direct connection, never through the link
//! the outage cuts.

use std::future::Future;

use anyhow::{Context as _, Result};
use sqlx::{postgres::PgRow, PgPool, Row as _};

/// A connection pool to the replicas' database, with a runtime to wait on it.
pub(crate) struct Db {
    runtime: tokio::runtime::Runtime,
    pub(crate) pool: PgPool,
}

/// One row of `job_run`: a run of a scheduled job by one holder of its lease.
#[derive(Debug, Clone)]
pub(crate) struct JobRun {
    pub(crate) fence: i64,
    pub(crate) holder: String,
    pub(crate) started_ms: i64,
    pub(crate) finished_ms: Option<i64>,
    pub(crate) outcome: String,
    pub(crate) took_over_from: Option<String>,
}

const JOB_RUN_COLUMNS: &str = "fence, holder, started_ms, finished_ms, outcome, took_over_from";

impl JobRun {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            fence: row.try_get("fence")?,
            holder: row.try_get("holder")?,
            started_ms: row.try_get("started_ms")?,
            finished_ms: row.try_get("finished_ms")?,
            outcome: row.try_get("outcome")?,
            took_over_from: row.try_get("took_over_from")?,
        })
    }
}

impl Db {
    pub(crate) fn connect(url: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pool = runtime
            .block_on(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url),
            )
            .with_context(|| format!("connect to {url}"))?;
        Ok(Self { runtime, pool })
    }

    /// Waits for a query on [`Db::pool`].
    pub(crate) fn block_on<F: Future>(&self, query: F) -> F::Output {
        self.runtime.block_on(query)
    }

    /// How many share links are stored.
    pub(crate) fn shares(&self) -> Result<i64> {
        Ok(self.block_on(
            sqlx::query_scalar("SELECT COUNT(*) FROM share_link").fetch_one(&self.pool),
        )?)
    }

    /// Every run of `job`, oldest first.
    pub(crate) fn job_runs(&self, job: &str) -> Result<Vec<JobRun>> {
        let sql = format!(
            "SELECT {JOB_RUN_COLUMNS} FROM job_run WHERE job = $1 ORDER BY started_ms, fence"
        );
        let rows = self.block_on(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(job)
                .fetch_all(&self.pool),
        )?;
        Ok(rows
            .iter()
            .map(JobRun::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The run of `job` under lease `fence`, if there is one yet.
    pub(crate) fn job_run(&self, job: &str, fence: i64) -> Result<Option<JobRun>> {
        let sql = format!("SELECT {JOB_RUN_COLUMNS} FROM job_run WHERE job = $1 AND fence = $2");
        let row = self.block_on(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(job)
                .bind(fence)
                .fetch_optional(&self.pool),
        )?;
        Ok(row.as_ref().map(JobRun::from_row).transpose()?)
    }

    /// A run of `job` in progress right now, if any.
    pub(crate) fn running(&self, job: &str) -> Result<Option<JobRun>> {
        Ok(self
            .job_runs(job)?
            .into_iter()
            .find(|r| r.outcome == "running"))
    }
}
