//! Leases on the test run's database (SQLite, or PostgreSQL when the run has
//! it): two `Jobs` handles with different holder names stand for two replicas.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use super::*;

async fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    (dir, db)
}

fn spec(interval_ms: u64, ttl_ms: u64) -> JobSpec {
    JobSpec {
        name: "sync",
        interval: Duration::from_millis(interval_ms),
        lease_ttl: Duration::from_millis(ttl_ms),
    }
}

fn started(a: Acquire) -> Lease {
    match a {
        Acquire::Started(lease) => lease,
        other => panic!("expected a start, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_start_is_refused_with_who_and_since_when() {
    let (_dir, db) = db().await;
    let (a, b) = (
        Jobs::with_holder(db.clone(), "a"),
        Jobs::with_holder(db, "b"),
    );
    let s = spec(60_000, 30_000);
    let lease = started(a.acquire(&s, &Trigger::Schedule).await.expect("a"));
    assert_eq!(lease.fence, 1);
    match b
        .acquire(&s, &Trigger::Manual("ann".into()))
        .await
        .expect("b")
    {
        Acquire::Busy(msg) => {
            assert!(msg.contains("already running since"), "{msg}");
            assert!(msg.ends_with("on a"), "{msg}");
            assert!(msg.contains(&format_ms(lease.started_ms)), "{msg}");
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(
        a.finish(&s, &lease, &Ok("done".into()))
            .await
            .expect("finish"),
        "ok"
    );
    // Finished less than an interval ago: the schedule waits, a person need not.
    assert!(matches!(
        b.acquire(&s, &Trigger::Schedule).await.expect("b"),
        Acquire::NotDue { .. }
    ));
    let manual = started(
        b.acquire(&s, &Trigger::Manual("ann".into()))
            .await
            .expect("b"),
    );
    assert_eq!(manual.fence, 2);
    let runs = b.runs(Some("sync"), 10).await.expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].trigger.as_str(), runs[0].outcome.as_str()),
        ("manual: ann", "running")
    );
    assert_eq!(
        (runs[1].outcome.as_str(), runs[1].detail.as_str()),
        ("ok", "done")
    );
}

#[tokio::test]
async fn of_many_replicas_starting_at_once_exactly_one_runs() {
    let (_dir, db) = db().await;
    let s = spec(60_000, 30_000);
    let tries = (0..8).map(|i| {
        let jobs = Jobs::with_holder(db.clone(), &format!("r{i}"));
        let s = s.clone();
        tokio::spawn(async move { jobs.acquire(&s, &Trigger::Schedule).await })
    });
    let mut wins = 0;
    for t in tries {
        match t.await.expect("task").expect("acquire") {
            Acquire::Started(_) => wins += 1,
            Acquire::Busy(_) => {}
            Acquire::NotDue { .. } => panic!("never ran, so it is due"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_history_shows_no_overlap() {
    let (_dir, db) = db().await;
    let (a, b) = (
        Jobs::with_holder(db.clone(), "a"),
        Jobs::with_holder(db, "b"),
    );
    let s = spec(60_000, 300);
    // A starts and then stalls: no heartbeat.
    let dead = started(a.acquire(&s, &Trigger::Schedule).await.expect("a"));
    assert!(matches!(
        b.acquire(&s, &Trigger::Schedule).await.expect("b"),
        Acquire::Busy(_)
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let lease = started(b.acquire(&s, &Trigger::Schedule).await.expect("b"));
    assert_eq!(lease.took_over_from.as_deref(), Some("a"));
    // A wakes up: its heartbeat and its finish find the lease gone.
    assert!(!a.heartbeat(&dead, s.lease_ttl).await.expect("beat"));
    assert!(a.check_fence(&dead).await.is_err());
    assert_eq!(
        a.finish(&s, &dead, &Ok("late".into()))
            .await
            .expect("finish"),
        "fenced"
    );
    b.finish(&s, &lease, &Ok("fine".into()))
        .await
        .expect("finish");

    let runs = b.runs(Some("sync"), 10).await.expect("runs");
    let (new, old) = (&runs[0], &runs[1]);
    assert_eq!(old.outcome, "abandoned", "{old:?}");
    assert!(old.detail.contains("lease expired"), "{old:?}");
    assert_eq!(new.took_over_from.as_deref(), Some("a (its lease expired)"));
    assert!(
        old.finished_ms.expect("closed") <= new.started_ms,
        "{old:?} overlaps {new:?}"
    );
}

#[tokio::test]
async fn a_holder_whose_process_is_gone_is_taken_over_at_once() {
    let (_dir, db) = db().await;
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = i64::from(child.id());
    child.wait().expect("wait");
    let s = spec(60_000, 3_600_000);
    // A replica on this host, with an hour left on its lease, whose process died.
    let ghost = Jobs {
        pid: dead_pid,
        ..Jobs::with_holder(db.clone(), "ghost")
    };
    started(ghost.acquire(&s, &Trigger::Schedule).await.expect("ghost"));
    let b = Jobs::with_holder(db, "b");
    let lease = started(b.acquire(&s, &Trigger::Schedule).await.expect("b"));
    assert_eq!(lease.took_over_from.as_deref(), Some("ghost"));
    let runs = b.runs(Some("sync"), 10).await.expect("runs");
    assert!(runs[1].detail.contains("process is gone"), "{:?}", runs[1]);
}

#[tokio::test]
async fn a_long_run_keeps_its_lease_by_heartbeat() {
    let (_dir, db) = db().await;
    let (a, b) = (
        Jobs::with_holder(db.clone(), "a"),
        Jobs::with_holder(db, "b"),
    );
    let s = spec(60_000, 300);
    let lease = started(a.acquire(&s, &Trigger::Schedule).await.expect("a"));
    let f: JobFn = Arc::new(|ctx: RunContext| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            ctx.check_fence().await?;
            Ok(format!("held: {}", ctx.still_held()))
        })
    });
    let (a2, s2) = (a.clone(), s.clone());
    let run = tokio::spawn(async move { a2.run_held(&s2, lease, &f).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Past the lease's time to live, but the holder heartbeats: still busy.
    assert!(matches!(
        b.acquire(&s, &Trigger::Schedule).await.expect("b"),
        Acquire::Busy(_)
    ));
    assert_eq!(run.await.expect("task").expect("recorded"), "ok");
    assert_eq!(b.runs(None, 1).await.expect("runs")[0].detail, "held: true");
}

#[tokio::test]
async fn a_run_that_loses_its_lease_is_cancelled_and_recorded_fenced() {
    let (_dir, db) = db().await;
    let a = Jobs::with_holder(db.clone(), "a");
    let s = spec(60_000, 300);
    let lease = started(a.acquire(&s, &Trigger::Schedule).await.expect("a"));
    // Someone moves the fence on under the holder (as a takeover would).
    sqlx::query("UPDATE job_lease SET fence = fence + 1, holder = 'x'")
        .execute(db.pool())
        .await
        .expect("steal");
    let f: JobFn = Arc::new(|_ctx| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok("should not finish".into())
        })
    });
    let outcome = tokio::time::timeout(Duration::from_secs(5), a.run_held(&s, lease, &f))
        .await
        .expect("cancelled well before the job's own end")
        .expect("recorded");
    assert_eq!(outcome, "fenced");
    let run = &a.runs(None, 1).await.expect("runs")[0];
    assert!(
        run.detail.contains("another replica holds the lease"),
        "{run:?}"
    );
}

#[tokio::test]
async fn two_schedulers_run_a_job_once_per_interval_without_overlap() {
    let (_dir, db) = db().await;
    let count = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let make = |holder: &str| {
        let (count, running) = (count.clone(), running.clone());
        let f: JobFn = Arc::new(move |_ctx| {
            let (count, running) = (count.clone(), running.clone());
            Box::pin(async move {
                assert_eq!(
                    running.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two runs at once"
                );
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(String::new())
            })
        });
        Scheduler::new(
            Jobs::with_holder(db.clone(), holder),
            vec![(spec(1_000, 2_000), f)],
        )
    };
    let (a, b) = (make("a"), make("b"));
    let tasks = [
        a.spawn(Duration::from_millis(50)),
        b.spawn(Duration::from_millis(50)),
    ];
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    for t in &tasks {
        t.abort();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = count.load(Ordering::SeqCst);
    // Start to start at least a second apart over 3.5 s: 3 or 4 runs, never 2 x that.
    assert!((3..=4).contains(&n), "{n} runs");
    let mut runs = a.jobs().runs(Some("sync"), 100).await.expect("runs");
    runs.sort_by_key(|r| r.started_ms);
    for w in runs.windows(2) {
        assert!(
            w[1].started_ms >= w[0].started_ms + 1_000,
            "{:?} then {:?}",
            w[0],
            w[1]
        );
    }
    let err = a
        .start("nope", Trigger::Schedule)
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::NotFound(_)));
}
