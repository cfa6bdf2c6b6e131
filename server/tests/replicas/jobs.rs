//! Scheduled jobs across the replicas: once per interval, and a run whose
//! holder died is taken over, whether its lease ran out or its process is gone.

use std::{collections::BTreeSet, process::Command, time::Duration};

use anyhow::{ensure, Context as _, Result};
use testbed::http::{request, wait_for};

use crate::{
    db::{Db, JobRun},
    fixture::{now_ms, replica_id, Fixture, JOB_EVERY},
};

/// The housekeeping job: once per interval across the three processes.
pub(crate) fn the_housekeeping_job_runs_once_per_interval_across_the_replicas(
    f: &mut Fixture,
) -> Result<()> {
    wait_for(Duration::from_secs(30), "4 housekeeping runs", || {
        Ok(f.db.job_runs("housekeeping")?.len() >= 4)
    })?;
    let runs = f.db.job_runs("housekeeping")?;
    for w in runs.windows(2) {
        let (earlier, later) = (&w[0], &w[1]);
        ensure!(
            earlier
                .finished_ms
                .is_some_and(|finished| finished <= later.started_ms),
            "runs overlap: {runs:?}"
        );
        ensure!(
            later.started_ms - earlier.started_ms >= 1000 * i64::try_from(JOB_EVERY)?,
            "ran twice within an interval: {runs:?}"
        );
    }
    let holders: BTreeSet<&str> = runs.iter().map(|r| r.holder.as_str()).collect();
    eprintln!(
        "replicas: {} housekeeping runs, none overlapping, starts >= {JOB_EVERY} s apart, run by {} replica(s)",
        runs.len(),
        holders.len()
    );
    Ok(())
}

/// A holder of the housekeeping lease that died mid-run, planted in the tables.
struct Ghost<'a> {
    holder: &'a str,
    host: &'a str,
    pid: u32,
    lease_ms: i64,
}

/// Takeover, timed: a run whose holder died in the middle, on another host
/// (replaced once its lease runs out) or on this one (replaced as soon as a
/// replica sees its process is gone).
pub(crate) fn a_replica_takes_over_a_job_run_whose_holder_died(f: &mut Fixture) -> Result<()> {
    let host = replica_id(f.addrs()[0])?
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut child = Command::new("true").spawn()?;
    let dead_pid = child.id();
    child.wait()?;
    let after_expiry = take_over(
        &f.db,
        &Ghost {
            holder: "ghost@elsewhere",
            host: "elsewhere",
            pid: 1,
            lease_ms: 3_000,
        },
    )?;
    let dead_pid_ms = take_over(
        &f.db,
        &Ghost {
            holder: "ghost@here",
            host: &host,
            pid: dead_pid,
            lease_ms: 60_000,
        },
    )?;
    eprintln!(
        "replicas: lease takeover: a holder on another host that died mid-run was replaced {after_expiry} ms \
         after its lease expired; a dead process on this host was replaced after {dead_pid_ms} ms"
    );
    Ok(())
}

/// Plants `ghost` as the holder of the housekeeping lease, mid-run, and waits
/// for a replica to take over. Returns how long that took in ms: from the
/// lease's expiry for a short lease, from the planting for a long one (which
/// only a dead process on this host lets go early).
fn take_over(db: &Db, ghost: &Ghost<'_>) -> Result<i64> {
    // Wait for a moment when no replica holds the lease, then take it as
    // the ghost would have, with a run in progress.
    let mut planted = None;
    wait_for(
        Duration::from_secs(20),
        "the housekeeping lease to be free",
        || {
            let at = now_ms();
            let fence: Option<i64> = db.block_on(
                sqlx::query_scalar(
                    "UPDATE job_lease SET fence = fence + 1, holder = $1, holder_host = $2, \
                     holder_pid = $3, acquired_ms = $4, expires_ms = $5, next_due_ms = 0 \
                     WHERE job = 'housekeeping' AND holder IS NULL RETURNING fence",
                )
                .bind(ghost.holder)
                .bind(ghost.host)
                .bind(i64::from(ghost.pid))
                .bind(at)
                .bind(at + ghost.lease_ms)
                .fetch_optional(&db.pool),
            )?;
            let Some(fence) = fence else {
                return Ok(false);
            };
            db.block_on(
                sqlx::query(
                    "INSERT INTO job_run (job, fence, holder, trigger, started_ms, outcome) \
                     VALUES ('housekeeping', $1, $2, 'schedule', $3, 'running')",
                )
                .bind(fence)
                .bind(ghost.holder)
                .bind(at)
                .execute(&db.pool),
            )?;
            planted = Some((fence, at));
            Ok(true)
        },
    )?;
    let (fence, at) = planted.context("the housekeeping lease was never free")?;
    let mut taken = None;
    wait_for(
        Duration::from_secs(30),
        "a takeover of the dead holder's run",
        || {
            taken = db.job_run("housekeeping", fence + 1)?;
            Ok(taken.is_some())
        },
    )?;
    let taken = taken.context("takeover row")?;
    let by = taken.took_over_from.as_deref().unwrap_or_default();
    ensure!(
        by.starts_with(ghost.holder),
        "took over from {by}, not {}",
        ghost.holder
    );
    let dead = db
        .job_run("housekeeping", fence)?
        .context("the ghost's run")?;
    ensure!(
        dead.outcome == "abandoned",
        "the dead run is {}",
        dead.outcome
    );
    ensure!(
        dead.finished_ms
            .is_some_and(|finished| finished <= taken.started_ms),
        "the dead run overlaps its successor"
    );
    let from = if ghost.lease_ms < 60_000 {
        at + ghost.lease_ms
    } else {
        at
    };
    Ok(taken.started_ms - from)
}

/// kill -9 of the replica holding the firewall sync's lease in the middle of a
/// run: another takes over, the history shows no overlap, and HAProxy serves
/// every next request. The killed replica stays dead.
pub(crate) fn kill_9_of_the_replica_running_the_firewall_sync_loses_no_run_and_no_request(
    f: &mut Fixture,
) -> Result<()> {
    let mut running = None;
    wait_for(
        Duration::from_secs(30),
        "a firewall sync in progress",
        || {
            running = f.db.running("firewall-sync")?;
            Ok(running.is_some())
        },
    )?;
    let JobRun { fence, holder, .. } = running.context("running sync")?;
    let pid: u32 = holder
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the holder's pid")?;
    let at = f
        .replicas
        .iter()
        .position(|r| r.pid() == pid)
        .with_context(|| format!("no replica has pid {pid} (holder {holder})"))?;
    let victim = f.replicas.remove(at);
    let killed_ms = now_ms();
    Command::new("kill")
        .args(["-9", &victim.pid().to_string()])
        .status()?;
    drop(victim);
    let mut next = None;
    wait_for(
        Duration::from_secs(30),
        "a takeover of the killed sync",
        || {
            next = f.db.job_run("firewall-sync", fence + 1)?;
            Ok(next.is_some())
        },
    )?;
    let next = next.context("takeover row")?;
    ensure!(
        next.took_over_from
            .as_deref()
            .is_some_and(|by| by.starts_with(holder.as_str())),
        "run {} took over from {:?}, not the killed {holder}",
        fence + 1,
        next.took_over_from
    );
    let takeover_ms = next.started_ms - killed_ms;
    wait_for(
        Duration::from_secs(30),
        "the taken-over sync to end",
        || {
            Ok(f.db
                .job_run("firewall-sync", fence + 1)?
                .is_some_and(|r| r.outcome == "ok"))
        },
    )?;
    let runs = f.db.job_runs("firewall-sync")?;
    for w in runs.windows(2) {
        ensure!(
            w[0].finished_ms
                .is_some_and(|finished| w[1].started_ms >= finished),
            "firewall sync runs overlap: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    let killed = runs
        .iter()
        .find(|r| r.fence == fence)
        .context("the killed run")?;
    ensure!(
        killed.outcome == "abandoned",
        "the killed run is {}",
        killed.outcome
    );
    eprintln!(
        "replicas: kill -9 of the replica holding the firewall sync mid-run ({holder}): run {} took over \
         {takeover_ms} ms later (stale process on this host), {} runs in the history, none overlapping",
        fence + 1,
        runs.len()
    );
    f.moto = None;
    for i in 0..30 {
        let r = request(f.front(), "GET", "/checklist", Some(&f.staff), None)?;
        ensure!(r.status == 200, "request {i} after kill -9: {}", r.status);
    }
    eprintln!("replicas: kill -9 of one replica: the next 30 requests all answered 200");
    Ok(())
}
