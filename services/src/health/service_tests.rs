//! The health service on a real database, with the checker against real
//! loopback backends: config, edits, the job writing results and events.

use std::time::Duration;

use model::{
    auth::{Me, Role},
    health::{HealthState, PoolState},
};
use tokio::{io::AsyncWriteExt as _, net::TcpListener};

use super::*;
use crate::{auth::Principal, jobs, Db};

fn staff() -> Principal {
    Principal::User(Me {
        id: 1,
        username: "staff".into(),
        display_name: String::new(),
        role: Role::Staff,
    })
}

/// A backend answering 200 until the task is aborted.
async fn backend() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, task)
}

fn config(a: &str, b: &str) -> HealthConfig {
    let target = |name: &str, address: &str| TargetConfig {
        name: name.into(),
        address: address.into(),
        inter: Some(100),
        fall: Some(2),
        rise: Some(1),
        timeout: Some(300),
        ..TargetConfig::default()
    };
    HealthConfig {
        sites: vec![
            SiteConfig {
                name: "London".into(),
                kind: "datacentre".into(),
            },
            SiteConfig {
                name: "eu-west-2".into(),
                kind: "cloud".into(),
            },
        ],
        pools: vec![
            PoolConfig {
                name: "web-lon".into(),
                site: "London".into(),
                service: "web".into(),
                needed: 1,
                targets: vec![target("lon1", a)],
            },
            PoolConfig {
                name: "web-aws".into(),
                site: "eu-west-2".into(),
                service: "web".into(),
                // A standby: it carries no traffic of its own.
                needed: 0,
                targets: vec![target("aws1", b)],
            },
        ],
        ..HealthConfig::default()
    }
}

#[tokio::test]
async fn the_job_checks_writes_results_and_records_a_backend_going_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let (a, _keep) = backend().await;
    let (b, b_task) = backend().await;
    let service = HealthService::new(
        db.clone(),
        HealthSettings {
            config: config(&a.to_string(), &b.to_string()),
            snapshot_every: Duration::from_millis(100),
            ..HealthSettings::default()
        },
    );
    service.apply_config().await.expect("config");
    service
        .apply_config()
        .await
        .expect("applying twice adds nothing");
    assert_eq!(service.specs().await.expect("specs").len(), 2);

    // Bad edits are explained; good ones land.
    let bad = service
        .add_target(
            &staff(),
            "web-lon",
            &TargetConfig {
                name: "x".into(),
                address: "nowhere".into(),
                ..TargetConfig::default()
            },
        )
        .await
        .expect_err("bad address");
    assert!(bad.to_string().contains("host:port"), "{bad}");
    let dup = service
        .add_target(
            &staff(),
            "web-lon",
            &TargetConfig {
                name: "lon1".into(),
                address: "127.0.0.1:9".into(),
                ..TargetConfig::default()
            },
        )
        .await
        .expect_err("duplicate");
    assert!(dup.to_string().contains("already has"), "{dup}");

    // Run the checker job as the scheduler would.
    let (spec, run) = service.job();
    let scheduler = jobs::Scheduler::new(jobs::Jobs::new(db.clone()), vec![(spec, run)]);
    let loop_task = scheduler.spawn(Duration::from_millis(50));
    let wait = |want: (HealthState, HealthState)| {
        let service = service.clone();
        async move {
            for _ in 0..100 {
                let o = service
                    .overview(&staff(), &Filter::default())
                    .await
                    .expect("overview");
                let states: Vec<_> = o.targets.iter().map(|t| t.live.state).collect();
                if states == [Some(want.0), Some(want.1)] {
                    return o;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("states never became {want:?}");
        }
    };
    let o = wait((HealthState::Up, HealthState::Up)).await;
    assert!(
        o.checker.contains(':'),
        "the page says who runs the checker: {:?}",
        o.checker
    );
    let london = o.sites.iter().find(|s| s.name == "London").expect("site");
    assert!(london.can_fail_over, "{london:?}");
    assert_eq!(london.failover, ["web: 1 spare UP elsewhere, 1 needed"]);
    assert!(
        o.targets[0].live.message.contains("HTTP 200"),
        "{:?}",
        o.targets[0].live
    );

    // Stop the AWS backend: DOWN, an event, the pool DOWN, London can no longer fail over.
    b_task.abort();
    // Rows come by site, pool and name: London's first.
    let o = wait((HealthState::Up, HealthState::Down)).await;
    let aws = &o.targets[1];
    assert_eq!(aws.name, "aws1");
    assert_eq!(
        o.pools
            .iter()
            .find(|p| p.name == "web-aws")
            .map(|p| p.state),
        Some(PoolState::Down)
    );
    let london = o.sites.iter().find(|s| s.name == "London").expect("site");
    assert!(!london.can_fail_over, "{london:?}");
    let events = service.events(10).await.expect("events");
    assert_eq!(events[0].name, "aws1");
    assert_eq!(
        (events[0].from, events[0].to),
        (HealthState::Up, HealthState::Down)
    );
    // Filters.
    let down = service
        .overview(
            &staff(),
            &Filter {
                state: "down".into(),
                ..Filter::default()
            },
        )
        .await
        .expect("filtered");
    assert_eq!(down.targets.len(), 1);
    assert_eq!(down.total_targets, 2);
    // Deltas: only rows written after a time.
    let (rows, now) = service.live_since(&staff(), 0).await.expect("live");
    assert_eq!(rows.len(), 2);
    let (later, _) = service
        .live_since(&staff(), now + 60_000)
        .await
        .expect("live");
    assert!(later.is_empty());
    loop_task.abort();
}
