//! Retention on a real database (SQLite, or PostgreSQL on a PostgreSQL run),
//! with the test clock moved past each table's retention.

use std::time::Duration;

use super::*;
use crate::{
    auth::AuthConfig,
    jobs::{Acquire, JobRun, Jobs, Trigger},
    JobSettings, Services,
};

async fn services(retention: Retention) -> (tempfile::TempDir, Services) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    let jobs = JobSettings {
        retention,
        ..JobSettings::default()
    };
    (dir, Services::with_jobs(db, AuthConfig::default(), &jobs))
}

/// Every table's retention at `days`, deleting `batch` rows a statement.
fn all(days: u32, batch: u32) -> Retention {
    let mut r = Retention {
        batch,
        ..Retention::default()
    };
    for &t in Table::ALL {
        t.set_days(&mut r, days);
    }
    r
}

/// Starts housekeeping by hand and waits for its run to end.
async fn housekeeping(s: &Services) -> JobRun {
    s.scheduler
        .start("housekeeping", Trigger::Manual("test".into()))
        .await
        .expect("started")
        .expect("a fence");
    for _ in 0..1000 {
        let runs = s
            .scheduler
            .jobs()
            .runs(Some("housekeeping"), 1)
            .await
            .expect("runs");
        if let Some(run) = runs.into_iter().next().filter(|r| r.outcome != "running") {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("housekeeping did not finish");
}

/// History rows of every table at `at` (seconds), as the app writes them.
struct Rows<'a> {
    db: &'a Db,
}

impl Rows<'_> {
    async fn exec(&self, sql: &'static str, binds: &[Bind<'_>]) -> i64 {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{sql} RETURNING id")));
        for b in binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(t) => q.bind(t.to_string()),
            };
        }
        let row = q.fetch_one(self.db.pool()).await.expect(sql);
        sqlx::Row::try_get(&row, "id").expect("id")
    }

    async fn audit(&self, at: i64) -> i64 {
        self.exec(
            "INSERT INTO audit_log (at, actor_name, action, target, detail, client_addr) \
             VALUES ($1, 'alice', 'user.add', 'bob', '', '127.0.0.1')",
            &[Bind::Int(at)],
        )
        .await
    }

    async fn health_event(&self, target: i64, at: i64) -> i64 {
        self.exec(
            "INSERT INTO health_event (target_id, name, pool, from_state, to_state, at_ms, message) \
             VALUES ($1, 'web', 'www', 'up', 'down', $2, 'timeout')",
            &[Bind::Int(target), Bind::Int(at * 1000)],
        )
        .await
    }

    async fn job_run(&self, job: &str, fence: i64, outcome: &str, at: i64) -> i64 {
        self.exec(
            "INSERT INTO job_run (job, fence, holder, trigger, started_ms, finished_ms, outcome) \
             VALUES ($1, $2, 'h:1', 'schedule', $3, $3, $4)",
            &[
                Bind::Text(job),
                Bind::Int(fence),
                Bind::Int(at * 1000),
                Bind::Text(outcome),
            ],
        )
        .await
    }

    async fn firewall_apply(&self, at: i64) -> i64 {
        self.exec(
            "INSERT INTO firewall_apply (at_ms, actor, backend, fence, added, removed, ok, message) \
             VALUES ($1, 'scheduler', 'iptables', 1, '[]', '[]', 1, 'applied')",
            &[Bind::Int(at * 1000)],
        )
        .await
    }

    async fn migration(&self, at: i64) -> i64 {
        let user = self
            .exec(
                "INSERT INTO app_user (username, display_name, role, password_hash, created_at, updated_at) \
                 VALUES ('owner', 'Owner', 'staff', 'x', $1, $1)",
                &[Bind::Int(at)],
            )
            .await;
        self.exec(
            "INSERT INTO migration (name, domains, source_server, target_server, services, \
             window_start, window_end, time_zone, owner, ttl_limit, template_slug, \
             template_revision, created_by, created_at) \
             VALUES ('move', 'example.com', 'a', 'b', 'https:443', $1, $2, 'UTC', 'Owner', 300, \
             'default', 1, $3, $1)",
            &[Bind::Int(at), Bind::Int(at + 3600), Bind::Int(user)],
        )
        .await
    }

    async fn check(&self, migration: i64, name: &str, at: i64) -> i64 {
        self.exec(
            "INSERT INTO migration_check (migration_id, check_name, verdict, summary, evidence, \
             elapsed_ms, ran_by, ran_at) VALUES ($1, $2, 'pass', 'ok', '{}', 5, 'alice', $3)",
            &[Bind::Int(migration), Bind::Text(name), Bind::Int(at)],
        )
        .await
    }

    /// The ids left in `table`, in order.
    async fn ids(&self, table: &str) -> Vec<i64> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {table} ORDER BY id"
        )))
        .fetch_all(self.db.pool())
        .await
        .expect("ids")
    }
}

enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

#[tokio::test]
async fn housekeeping_deletes_rows_past_their_retention_in_batches_and_keeps_the_latest() {
    // Ten days everywhere; two rows a statement, so a table takes several.
    let (_dir, s) = services(all(10, 2)).await;
    let rows = Rows { db: &s.db };
    let clock = s.auth.clock().clone();
    let old = clock.now();
    let mut old_audit = Vec::new();
    for _ in 0..5 {
        old_audit.push(rows.audit(old).await);
    }
    let mut gone_events = Vec::new();
    for _ in 0..3 {
        gone_events.push(rows.health_event(1, old).await);
    }
    let target_2_last = rows.health_event(2, old).await;
    let demo_1 = rows.job_run("demo", 1, "ok", old).await;
    let demo_2 = rows.job_run("demo", 2, "failed", old).await;
    let demo_last = rows.job_run("demo", 3, "ok", old).await;
    let stuck = rows.job_run("stuck", 1, "running", old).await;
    let stuck_last = rows.job_run("stuck", 2, "ok", old).await;
    let mut applies = Vec::new();
    for _ in 0..3 {
        applies.push(rows.firewall_apply(old).await);
    }
    let m = rows.migration(old).await;
    let mut dns = Vec::new();
    for _ in 0..3 {
        dns.push(rows.check(m, "dns", old).await);
    }
    let tls_last = rows.check(m, "tls", old).await;

    // Eleven days on: newer rows beside them.
    clock.advance(Duration::from_secs(11 * 86_400));
    let now = clock.now();
    let new_audit = vec![rows.audit(now).await, rows.audit(now - 86_400).await];
    let target_1_last = rows.health_event(1, now).await;
    let dns_last = rows.check(m, "dns", now).await;
    // Nine days old: within ten.
    let recent_apply = rows.firewall_apply(now - 9 * 86_400).await;

    let run = housekeeping(&s).await;
    assert_eq!(run.outcome, "ok", "{}", run.detail);
    for says in [
        "audit_log 5",
        "health_event 3",
        "job_run 2",
        "firewall_apply 3",
        "migration_check 3",
    ] {
        assert!(run.detail.contains(says), "{says:?} in {:?}", run.detail);
    }
    assert_eq!(rows.ids("audit_log").await, new_audit);
    assert_eq!(
        rows.ids("health_event").await,
        vec![target_2_last, target_1_last],
        "the latest change of each target stays"
    );
    let runs = rows.ids("job_run").await;
    assert!(
        !runs.contains(&demo_1) && !runs.contains(&demo_2),
        "{runs:?}"
    );
    for kept in [demo_last, stuck, stuck_last] {
        assert!(runs.contains(&kept), "{kept} in {runs:?}");
    }
    assert_eq!(rows.ids("firewall_apply").await, vec![recent_apply]);
    assert_eq!(
        rows.ids("migration_check").await,
        vec![tls_last, dns_last],
        "the latest run of each check stays"
    );

    // The latest firewall apply stays however old; a second run has nothing to do.
    clock.advance(Duration::from_secs(30 * 86_400));
    let run = housekeeping(&s).await;
    assert_eq!(run.outcome, "ok", "{}", run.detail);
    assert_eq!(rows.ids("firewall_apply").await, vec![recent_apply]);
    assert_eq!(rows.ids("audit_log").await, Vec::<i64>::new());
    assert!(run.detail.contains("firewall_apply 0"), "{}", run.detail);
}

#[tokio::test]
async fn zero_days_keeps_a_table_forever() {
    let mut retention = all(10, 5000);
    retention.audit_log = 0;
    let (_dir, s) = services(retention).await;
    let rows = Rows { db: &s.db };
    let clock = s.auth.clock().clone();
    let kept = rows.audit(clock.now()).await;
    let gone = rows.firewall_apply(clock.now()).await;
    rows.firewall_apply(clock.now()).await;
    clock.advance(Duration::from_secs(4000 * 86_400));
    let run = housekeeping(&s).await;
    assert!(
        run.detail.contains("audit_log kept forever"),
        "{}",
        run.detail
    );
    assert_eq!(rows.ids("audit_log").await, vec![kept]);
    assert!(!rows.ids("firewall_apply").await.contains(&gone));
}

#[tokio::test]
async fn a_run_that_lost_its_lease_deletes_nothing() {
    let (_dir, s) = services(all(10, 2)).await;
    let rows = Rows { db: &s.db };
    let clock = s.auth.clock().clone();
    for _ in 0..3 {
        rows.audit(clock.now()).await;
    }
    clock.advance(Duration::from_secs(11 * 86_400));
    let jobs = Jobs::with_holder(s.db.clone(), "replica-a");
    let keeper = Housekeeping::new(s.db.clone(), s.auth.clone(), all(10, 2));
    let (spec, f) = keeper.job(Duration::from_secs(600));
    let Acquire::Started(lease) = jobs
        .acquire(&spec, &Trigger::Schedule)
        .await
        .expect("acquire")
    else {
        panic!("not started");
    };
    // Another replica took the job over meanwhile.
    sqlx::query("UPDATE job_lease SET fence = fence + 1 WHERE job = 'housekeeping'")
        .execute(s.db.pool())
        .await
        .expect("take over");
    let outcome = jobs.run_held(&spec, lease, &f).await.expect("recorded");
    assert_eq!(outcome, "fenced");
    assert_eq!(rows.ids("audit_log").await.len(), 3);
}
