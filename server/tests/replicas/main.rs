//! Three replicas on a real PostgreSQL behind a real HAProxy, all on loopback
//! (docs/deploy.md's layout, `fixture.rs`): sessions hold across replicas, a
//! change through one replica reaches a live page on another, concurrent writes
//! through different replicas all land, a job runs once per interval across the
//! processes, PostgreSQL going away gives a clear 503 and recovery needs no one,
//! and `kill -9` of a replica costs no request.
//!
//! Built only with the `system-tests` feature: it needs PostgreSQL
//! (`SWITCHBOARD_TEST_POSTGRES`), HAProxy, moto, Playwright and the built site.
//! `cargo xtask replicas` provides them all and runs it; `cargo xtask test` runs
//! it last. By hand, with a URL from `cargo xtask pg`:
//! `SWITCHBOARD_TEST_POSTGRES=<url> cargo test -p server --features system-tests --test replicas`.
//!
//! Its own harness (`libtest-mimic`), not `#[test]`: one fixture serves every
//! scenario and must be stopped at the end (statics are never dropped, so a
//! `#[test]`-shared fixture would leave its processes running), and the
//! scenarios run one at a time in the order of [`SCENARIOS`]: the ones that take
//! something away (PostgreSQL for a while, a replica for good) come after the
//! ones that need it. Each is still a named test: filter them as usual
//! (`-- housekeeping`, `--list`).

mod across;
mod db;
mod fixture;
mod jobs;
mod link;
mod outage;

use std::{
    process::ExitCode,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::{ensure, Result};
use libtest_mimic::{Arguments, Failed, Trial};

use crate::fixture::Fixture;

/// A scenario: what it checks is its name.
type Scenario = fn(&mut Fixture) -> Result<()>;

/// Every scenario, in the order they run.
const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "a_session_signed_in_through_haproxy_holds_on_every_replica",
        across::a_session_signed_in_through_haproxy_holds_on_every_replica,
    ),
    (
        "a_change_through_one_replica_reaches_a_live_feed_on_another",
        across::a_change_through_one_replica_reaches_a_live_feed_on_another,
    ),
    (
        "an_import_through_one_replica_moves_another_to_the_new_data_version",
        across::an_import_through_one_replica_moves_another_to_the_new_data_version,
    ),
    (
        "concurrent_writes_through_haproxy_all_land",
        across::concurrent_writes_through_haproxy_all_land,
    ),
    (
        "one_checklist_ticked_through_three_replicas_at_once_keeps_every_tick",
        across::one_checklist_ticked_through_three_replicas_at_once_keeps_every_tick,
    ),
    (
        "the_housekeeping_job_runs_once_per_interval_across_the_replicas",
        jobs::the_housekeeping_job_runs_once_per_interval_across_the_replicas,
    ),
    (
        "a_replica_takes_over_a_job_run_whose_holder_died",
        jobs::a_replica_takes_over_a_job_run_whose_holder_died,
    ),
    (
        "with_postgresql_gone_pages_and_writes_answer_503_and_recover_by_themselves",
        outage::with_postgresql_gone_pages_and_writes_answer_503_and_recover_by_themselves,
    ),
    (
        "the_reach_map_and_the_live_health_page_work_in_a_browser_through_haproxy",
        outage::the_reach_map_and_the_live_health_page_work_in_a_browser_through_haproxy,
    ),
    (
        "kill_9_of_the_replica_running_the_firewall_sync_loses_no_run_and_no_request",
        jobs::kill_9_of_the_replica_running_the_firewall_sync_loses_no_run_and_no_request,
    ),
    (
        "the_replicas_left_shut_down_cleanly_on_sigterm",
        the_replicas_left_shut_down_cleanly_on_sigterm,
    ),
];

/// The fixture, started by the first scenario that runs.
enum Shared {
    NotStarted,
    Running(Box<Fixture>),
    /// It could not start: why, for every scenario.
    Failed(String),
}

impl Shared {
    fn run(&mut self, scenario: Scenario) -> Result<(), Failed> {
        if matches!(self, Self::NotStarted) {
            *self = match Fixture::start() {
                Ok(f) => Self::Running(Box::new(f)),
                Err(e) => Self::Failed(format!("{e:#}")),
            };
        }
        match self {
            Self::Running(f) => scenario(f).map_err(|e| format!("{e:#}").into()),
            Self::Failed(why) => Err(format!("the three replicas did not start: {why}").into()),
            Self::NotStarted => Err("the fixture was not started".into()),
        }
    }
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // One fixture: one scenario at a time, in SCENARIOS' order.
    args.test_threads = Some(1);
    let shared = Arc::new(Mutex::new(Shared::NotStarted));
    let trials = SCENARIOS
        .iter()
        .map(|&(name, scenario)| {
            let shared = shared.clone();
            Trial::test(name, move || {
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .run(scenario)
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // Stops HAProxy, the replicas left, moto and the link.
    *shared.lock().unwrap_or_else(PoisonError::into_inner) = Shared::NotStarted;
    conclusion.exit_code()
}

/// Every replica still running stops on SIGTERM and exits cleanly.
fn the_replicas_left_shut_down_cleanly_on_sigterm(f: &mut Fixture) -> Result<()> {
    let stopped = f.replicas.len();
    for mut replica in std::mem::take(&mut f.replicas) {
        ensure!(
            replica.stop(),
            "the replica at {} did not shut down cleanly on SIGTERM",
            replica.addr
        );
    }
    eprintln!("replicas: {stopped} replicas shut down cleanly on SIGTERM");
    Ok(())
}
