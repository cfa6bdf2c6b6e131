//! The health service on a real database, with the checker against real
//! loopback backends: config, edits, the job writing results and events.

use std::{collections::HashMap, time::Duration};

use sqlx::Row as _;

use model::{
    auth::{Me, Role},
    health::{HealthState, PoolState},
};
use tokio::{io::AsyncWriteExt as _, net::TcpListener};

use super::*;
use platform::{jobs, Db, Principal};

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

/// The service over `config(a, b)`, writing results every 100 ms, its config applied.
async fn checked_service(
    db: &Db,
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
) -> HealthService {
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
}

/// The checker job run as the scheduler would, until the task is aborted.
fn run_job(service: &HealthService, db: &Db) -> tokio::task::JoinHandle<()> {
    let (spec, run) = service.job();
    let scheduler = jobs::Scheduler::new(jobs::Jobs::new(db.clone()), vec![(spec, run)]);
    scheduler.spawn(Duration::from_millis(50))
}

#[tokio::test]
async fn the_job_checks_writes_results_and_records_a_backend_going_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let (a, _keep) = backend().await;
    let (b, b_task) = backend().await;
    let service = checked_service(&db, a, b).await;
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
    // Texts are bounded and free of control characters; numbers in range.
    for (form, expect) in [
        (
            TargetConfig {
                host: Some("shop.example\r\nX-Injected: 1".into()),
                ..TargetConfig::default()
            },
            "host must not hold spaces or control characters",
        ),
        (
            TargetConfig {
                host: Some("shop example".into()),
                ..TargetConfig::default()
            },
            "host must not hold spaces",
        ),
        (
            TargetConfig {
                path: Some(format!("/{}", "a".repeat(3000))),
                ..TargetConfig::default()
            },
            "path has at most 2048 characters",
        ),
        (
            TargetConfig {
                body_match: Some("x".repeat(2000)),
                ..TargetConfig::default()
            },
            "body_match has at most 1024 characters",
        ),
        (
            TargetConfig {
                expect_status: Some(999),
                ..TargetConfig::default()
            },
            "expect_status must be an HTTP status from 100 to 599",
        ),
        (
            TargetConfig {
                cert_warn_days: Some(u32::MAX),
                ..TargetConfig::default()
            },
            "cert_warn_days must be from 0 to 3650",
        ),
    ] {
        let form = TargetConfig {
            name: "lon9".into(),
            address: "127.0.0.1:9".into(),
            ..form
        };
        let err = service
            .add_target(&staff(), "web-lon", &form)
            .await
            .expect_err(expect);
        assert!(err.to_string().contains(expect), "{expect}: {err}");
    }
    assert_eq!(
        service.specs().await.expect("specs").len(),
        2,
        "nothing added"
    );
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
    let loop_task = run_job(&service, &db);
    let wait = |want: (HealthState, HealthState)| {
        let service = service.clone();
        async move {
            for _ in 0..100 {
                let o = service
                    .overview(&staff(), &Filter::default())
                    .await
                    .expect("overview");
                let states: Vec<_> = o.targets.iter().map(|t| t.live.state).collect();
                // Pools are counted in their own query: wait until both agree.
                let up = states
                    .iter()
                    .filter(|s| **s == Some(HealthState::Up))
                    .count();
                let pools_up: u32 = o.rollup.pools.iter().map(|p| p.up).sum();
                if states == [Some(want.0), Some(want.1)] && pools_up as usize == up {
                    return o;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("states never became {want:?}");
        }
    };
    let o = wait((HealthState::Up, HealthState::Up)).await;
    assert!(
        o.rollup.checker.contains(':'),
        "the page says who runs the checker: {:?}",
        o.rollup.checker
    );
    let london = o
        .rollup
        .sites
        .iter()
        .find(|s| s.name == "London")
        .expect("site");
    assert!(london.can_fail_over, "{london:?}");
    assert_eq!(london.failover, ["web: 1 spare UP elsewhere, 1 needed"]);
    assert!(
        o.targets[0].live.message.contains("HTTP 200"),
        "{:?}",
        o.targets[0].live
    );

    // Stop the AWS backend: DOWN, an event, the pool DOWN, London can no longer fail over.
    b_task.abort();
    // Problems come first, then by site, pool and name.
    let o = wait((HealthState::Down, HealthState::Up)).await;
    let aws = &o.targets[0];
    assert_eq!(aws.name, "aws1");
    assert_eq!(
        o.rollup
            .pools
            .iter()
            .find(|p| p.name == "web-aws")
            .map(|p| p.state),
        Some(PoolState::Down)
    );
    let london = o
        .rollup
        .sites
        .iter()
        .find(|s| s.name == "London")
        .expect("site");
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
    assert_eq!(down.matched, 1);
    let by_name = service
        .overview(
            &staff(),
            &Filter {
                q: "LON".into(),
                ..Filter::default()
            },
        )
        .await
        .expect("by name");
    assert_eq!(
        by_name
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["lon1"]
    );
    let problems = service
        .overview(
            &staff(),
            &Filter {
                state: "problems".into(),
                pool: "web-aws".into(),
                ..Filter::default()
            },
        )
        .await
        .expect("problems");
    assert_eq!(problems.matched, 1);
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

/// A target stored with a kind this version does not know (the database no
/// longer refuses one) is left out; the checker checks the others and the page
/// lists them.
#[tokio::test]
async fn a_stored_target_of_an_unknown_kind_stops_neither_the_checker_nor_the_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&platform::testing::database_url(dir.path()).await)
        .await
        .expect("db");
    let (a, _keep_a) = backend().await;
    let (b, _keep_b) = backend().await;
    let service = checked_service(&db, a, b).await;
    sqlx::query(
        "INSERT INTO health_target (pool_id, name, address, kind, inter_ms, fastinter_ms, \
         downinter_ms, fall, rise, timeout_ms) \
         SELECT id, 'lon-udp', $1, 'udp', 100, 100, 100, 2, 1, 300 FROM health_pool WHERE name = 'web-lon'",
    )
    .bind(a.to_string())
    .execute(db.pool())
    .await
    .expect("a target of a kind from a newer version");
    assert_eq!(service.specs().await.expect("specs").len(), 2);

    let loop_task = run_job(&service, &db);
    let mut seen = Vec::new();
    for _ in 0..100 {
        let o = service
            .overview(&staff(), &Filter::default())
            .await
            .expect("the page renders");
        seen = o
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.live.state))
            .collect();
        if o.targets
            .iter()
            .all(|t| t.live.state == Some(HealthState::Up))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        seen,
        [
            ("aws1".to_owned(), Some(HealthState::Up)),
            ("lon1".to_owned(), Some(HealthState::Up))
        ]
    );
    loop_task.abort();
}

fn dns_settings(dns: &std::net::SocketAddr, names: &[&str], timeout: Duration) -> HealthSettings {
    HealthSettings {
        config: HealthConfig {
            dns: Some(DnsConfig {
                names: names.iter().map(|n| (*n).to_owned()).collect(),
                max_ttl: Some(300),
            }),
            ..HealthConfig::default()
        },
        probe: probe::ProbeConfig {
            dns_server: Some(*dns),
            timeout,
            ..probe::ProbeConfig::default()
        },
        ..HealthSettings::default()
    }
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs dnsmasq: cargo xtask test runs it"
)]
#[tokio::test]
async fn the_overview_reports_dns_readiness_from_the_configured_server() {
    use model::checklist::Verdict;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let dns = probe::testing::dnsmasq().await;
    let (short, long) = ("low.example.test", "high.example.test");

    let service = HealthService::new(
        db.clone(),
        dns_settings(&dns.addr, &[short, long], Duration::from_secs(2)),
    );
    let o = service
        .overview(&staff(), &Filter::default())
        .await
        .expect("overview");
    let report = o.dns.expect("a DNS report");
    assert_eq!(report.verdict, Verdict::Fail, "{report:#?}");
    assert!(report.summary.contains(long), "{}", report.summary);
    assert!(!report.summary.contains(short), "{}", report.summary);
    let evidence = |name: &str| {
        report
            .evidence
            .iter()
            .find(|e| e.subject.contains(name))
            .unwrap_or_else(|| panic!("no evidence for {name} in {report:#?}"))
    };
    let high = evidence(long);
    assert_eq!(high.verdict, Verdict::Fail, "{high:?}");
    assert!(high.detail.contains("3600 s > limit 300 s"), "{high:?}");
    let low = evidence(short);
    assert_eq!(low.verdict, Verdict::Pass, "{low:?}");
    assert!(low.detail.contains("TTL 60 s"), "{low:?}");

    let service = HealthService::new(
        db,
        dns_settings(&dns.addr, &[short], Duration::from_secs(2)),
    );
    let o = service
        .overview(&staff(), &Filter::default())
        .await
        .expect("overview");
    let report = o.dns.expect("a DNS report");
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(report.evidence.len(), 1, "{report:#?}");
    assert_eq!(report.evidence[0].verdict, Verdict::Pass);
}

#[tokio::test]
async fn a_dns_server_not_answering_cannot_run_and_the_page_still_renders() {
    use model::checklist::Verdict;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let (a, _keep_a) = backend().await;
    let (b, _keep_b) = backend().await;
    // Nothing answers DNS there (a UDP port bound, then released).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port");
    let mut settings = dns_settings(&silent, &["low.example.test"], Duration::from_millis(500));
    settings.config = HealthConfig {
        dns: settings.config.dns,
        ..config(&a.to_string(), &b.to_string())
    };
    let service = HealthService::new(db, settings);
    service.apply_config().await.expect("config");
    let started = std::time::Instant::now();
    let o = service
        .overview(&staff(), &Filter::default())
        .await
        .expect("the overview renders without DNS");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let report = o.dns.expect("a DNS report");
    assert_eq!(report.verdict, Verdict::CannotRun, "{report:#?}");
    assert!(
        report
            .summary
            .starts_with("Could not ask DNS server 127.0.0.1:"),
        "{}",
        report.summary
    );
    // The rest of the page is there.
    assert_eq!(o.total_targets, 2);
    assert_eq!(o.targets.len(), 2);
    assert_eq!(o.rollup.sites.len(), 2);
    assert_eq!(o.rollup.pools.len(), 2);
    assert!(o.haproxy.is_empty());
}

/// A webhook receiver: answers `200` to every request and sends each body on.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                    match tokio::io::AsyncReadExt::read(&mut s, &mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                while buf.len() < head_end + length {
                    match tokio::io::AsyncReadExt::read(&mut s, &mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
                let _ = tx.send(body);
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (format!("http://{addr}/hooks/switchboard"), rx)
}

#[tokio::test]
async fn the_job_posts_a_backend_going_down_to_the_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let (a, _keep) = backend().await;
    let (b, b_task) = backend().await;
    let (hook, mut bodies) = webhook_receiver().await;
    let service = HealthService::new(
        db.clone(),
        HealthSettings {
            config: HealthConfig {
                webhook: Some(WebhookConfig {
                    url: hook,
                    attempts: Some(3),
                }),
                ..config(&a.to_string(), &b.to_string())
            },
            snapshot_every: Duration::from_millis(100),
            ..HealthSettings::default()
        },
    );
    service.apply_config().await.expect("config");
    let (spec, run) = service.job();
    let scheduler = jobs::Scheduler::new(jobs::Jobs::new(db.clone()), vec![(spec, run)]);
    let loop_task = scheduler.spawn(Duration::from_millis(50));

    // Both UP (written by the job) before the backend stops.
    let mut up = false;
    for _ in 0..100 {
        let o = service
            .overview(&staff(), &Filter::default())
            .await
            .expect("overview");
        if o.targets.len() == 2
            && o.targets
                .iter()
                .all(|t| t.live.state == Some(HealthState::Up) && t.live.checks > 0)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the targets never showed UP");
    assert!(
        bodies.try_recv().is_err(),
        "nothing posted while all are UP"
    );

    b_task.abort();
    let body = tokio::time::timeout(Duration::from_secs(10), bodies.recv())
        .await
        .expect("a webhook post within 10 s")
        .expect("the receiver runs");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["to"], "down", "{body}");
    assert_eq!(json["from"], "up", "{body}");
    assert_eq!(json["target"], "aws1", "{body}");
    assert_eq!(json["pool"], "web-aws", "{body}");
    assert_eq!(json["event"], "health.state_change", "{body}");
    assert!(body.contains(r#""to":"down""#), "{body}");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused")),
        "{body}"
    );
    // Exactly one post for the one change.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bodies.try_recv().is_err(), "one post per change");
    loop_task.abort();
}

#[tokio::test]
async fn a_steady_row_is_rewritten_only_when_what_it_says_changes_or_its_refresh_is_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&platform::testing::database_url(dir.path()).await)
        .await
        .expect("db");
    let service = HealthService::new(
        db.clone(),
        HealthSettings {
            config: config("127.0.0.1:1", "127.0.0.1:2"),
            ..HealthSettings::default()
        },
    );
    service.apply_config().await.expect("config");
    let id = service.specs().await.expect("specs")[0].id;
    let status =
        |checks: u64, state: HealthState, ok: bool, latency_ms: u32| model::health::TargetStatus {
            id,
            state,
            health: if state == HealthState::Up { 4 } else { 0 },
            since_ms: 1,
            last: Some(model::health::Observation {
                at_ms: i64::try_from(checks).expect("small"),
                ok,
                latency_ms,
                message: if ok {
                    format!("HTTP 200 in {latency_ms} ms")
                } else {
                    "connection refused".into()
                },
                warning: None,
            }),
            recent: vec![Some(latency_ms)],
            checks,
        };
    let row = || async {
        let r =
            sqlx::query("SELECT latency_ms, state, checks FROM health_status WHERE target_id = $1")
                .bind(id)
                .fetch_one(db.pool())
                .await
                .expect("row");
        (
            r.try_get::<i64, _>("latency_ms").expect("latency"),
            r.try_get::<String, _>("state").expect("state"),
            r.try_get::<i64, _>("checks").expect("checks"),
        )
    };
    let mut written: HashMap<i64, super::job::Written> = HashMap::new();
    service
        .write_snapshot(&[status(1, HealthState::Up, true, 3)], &mut written)
        .await
        .expect("first");
    assert_eq!(row().await, (3, "up".into(), 1));
    // Another passing check, only its latency differs: not rewritten within 10 s.
    service
        .write_snapshot(&[status(2, HealthState::Up, true, 9)], &mut written)
        .await
        .expect("steady");
    assert_eq!(row().await, (3, "up".into(), 1));
    // A failure changes what the row says: written at once.
    service
        .write_snapshot(&[status(3, HealthState::Down, false, 1)], &mut written)
        .await
        .expect("down");
    assert_eq!(row().await, (1, "down".into(), 3));
    // Once the refresh is due, the latest latency is written too.
    written.values_mut().for_each(|w| w.at_ms -= 10_000);
    service
        .write_snapshot(&[status(4, HealthState::Down, false, 7)], &mut written)
        .await
        .expect("refresh");
    assert_eq!(row().await, (7, "down".into(), 4));
}
