//! The whole sync with real peers: moto as the EC2 API (three regions, one of
//! them silent), iptables in a network namespace, the job lease, the audit.
//! An instance's public address is given to the peer namespace, so its rule
//! is proven to admit it; once the instance is terminated in moto, the next
//! sync removes its rules and it is refused.

use std::time::{Duration, Instant};

use super::{
    config::FirewallConfig,
    inventory::inventory_tests::{credentials, run_one, seed_client, silent_endpoint, Moto},
    tests::Netns,
    FirewallService, SYNC_JOB,
};
use platform::{
    jobs::{Jobs, Scheduler, Trigger},
    Db, Error, Principal,
};

async fn public_ip(client: &aws_sdk_ec2::Client, id: &str) -> String {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()[0].instances()[0]
        .public_ip_address()
        .expect("a public address")
        .to_owned()
}

/// Waits for the latest sync run to end; answers its outcome and detail.
async fn finished(svc: &FirewallService) -> (String, String) {
    let started = Instant::now();
    loop {
        let runs = svc.runs(1).await.expect("runs");
        if let Some(r) = runs.first().filter(|r| r.outcome != "running") {
            return (r.outcome.clone(), r.detail.clone());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sync never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs root, network namespaces, nft and moto_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn a_sync_admits_running_instances_and_removes_terminated_ones_without_overlap() {
    let moto = Moto::start().await;
    let (silent, _silent_task) = silent_endpoint().await;
    let use1 = seed_client(&moto.endpoint(), "us-east-1");
    let euw1 = seed_client(&moto.endpoint(), "eu-west-1");
    let a = run_one(&use1, &[("Name", "a")]).await;
    run_one(&use1, &[("Name", "b")]).await;
    run_one(&euw1, &[("Name", "c")]).await;
    let a_ip = public_ip(&use1, &a).await;

    let mut ns = Netns::new("s");
    ns.peer_address(&a_ip);
    ns.peer_address("198.51.100.6");
    ns.listen();
    ns.host_cmd(&["iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
    ns.host_cmd(&["iptables", "-P", "INPUT", "DROP"]);
    assert!(!ns.connects(&a_ip));

    let cfg = FirewallConfig::parse(&format!(
        r#"{{"backend": "iptables", "netns": "{}", "ports": [8140, 22],
            "management": {{"source": "192.0.2.9/32", "ports": [22], "comment": "staff"}},
            "apply": {{"enabled": true, "auto": true}}, "lease_ttl_secs": 5,
            "aws": {{"regions": ["us-east-1", "eu-west-1", "ap-south-1"],
                     "endpoint": "{}", "region_endpoints": {{"ap-south-1": "{silent}"}},
                     "region_timeout_ms": 3000}}}}"#,
        ns.host,
        moto.endpoint()
    ))
    .expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&platform::testing::database_url(dir.path()).await)
        .await
        .expect("db");
    let svc = FirewallService::with(
        db.clone(),
        Jobs::with_holder(db.clone(), "replica-a"),
        Some(cfg),
        Some(credentials()),
    );
    let scheduler = Scheduler::new(
        Jobs::with_holder(db.clone(), "replica-a"),
        vec![svc.job().expect("job")],
    );
    let other = Scheduler::new(
        Jobs::with_holder(db.clone(), "replica-b"),
        vec![svc.job().expect("job")],
    );

    // Two starts together: exactly one runs, the other is told who and since when.
    let (one, two) = tokio::join!(
        scheduler.start(SYNC_JOB, Trigger::Manual("alice".into())),
        other.start(SYNC_JOB, Trigger::Manual("bob".into())),
    );
    let started = [&one, &two]
        .iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    assert_eq!(started, 1, "{one:?} {two:?}");
    let refused = if one.is_ok() { two } else { one };
    match refused {
        Err(Error::Busy(why)) => assert!(
            why.contains("already running since") || why.contains("just started"),
            "{why}"
        ),
        other => panic!("expected busy, got {other:?}"),
    }
    // The silent region takes its whole timeout: a start meanwhile is refused too.
    let again = other.start(SYNC_JOB, Trigger::Manual("carol".into())).await;
    assert!(
        matches!(&again, Err(Error::Busy(why)) if why.contains("already running since")),
        "{again:?}"
    );
    let (outcome, detail) = finished(&svc).await;
    assert_eq!(outcome, "ok", "{detail}");
    assert!(detail.contains("not read: ap-south-1"), "{detail}");
    assert!(ns.connects(&a_ip), "a running instance is admitted");
    assert!(
        !ns.connects("198.51.100.6"),
        "an unknown address is refused"
    );

    let admin = Principal::User(model::auth::Me {
        id: 1,
        username: "admin".into(),
        display_name: "Admin".into(),
        role: model::auth::Role::Admin,
    });
    let o = svc.overview(&admin).await.expect("overview");
    let inv = o.inventory.expect("inventory");
    let failed: Vec<&str> = inv.failed().map(|r| r.region.as_str()).collect();
    assert_eq!(failed, vec!["ap-south-1"]);
    assert_eq!(inv.instances().count(), 3);
    assert_eq!(o.applies.len(), 1);
    assert_eq!(o.applies[0].actor, "scheduler");
    assert_eq!(
        o.applies[0].added.len(),
        1 + 3 * 2,
        "{:?}",
        o.applies[0].added
    );
    assert!(
        o.plan.expect("plan").is_empty(),
        "applied: nothing left to do"
    );

    // Terminate the instance in moto: the next sync plans and applies its removal.
    use1.terminate_instances()
        .instance_ids(&a)
        .send()
        .await
        .expect("TerminateInstances");
    scheduler
        .start(SYNC_JOB, Trigger::Manual("alice".into()))
        .await
        .expect("second sync");
    let (outcome, detail) = finished(&svc).await;
    assert_eq!(outcome, "ok", "{detail}");
    assert!(
        !ns.connects(&a_ip),
        "refused once the instance is terminated"
    );
    let o = svc.overview(&admin).await.expect("overview");
    let removed: Vec<&str> = o.applies[0]
        .removed
        .iter()
        .map(|r| r.source.as_str())
        .collect();
    assert_eq!(removed, vec![format!("{a_ip}/32"); 2], "{:?}", o.applies[0]);
    assert!(o
        .changes
        .changed
        .iter()
        .any(|(before, after)| before.id == a && after.state == "terminated"));

    // No two runs overlapped: each started after the one before it finished.
    let mut runs = svc.runs(10).await.expect("runs");
    runs.reverse();
    for w in runs.windows(2) {
        let end = w[0].finished_ms.expect("finished");
        assert!(w[1].started_ms >= end, "{:?} overlaps {:?}", w[1], w[0]);
    }
}
