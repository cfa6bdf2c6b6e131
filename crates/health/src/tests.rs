//! The checker against real peers on loopback: tokio listeners started by the tests
//! (stopped and restarted on the same port), and `openssl s_server` for HTTPS.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use model::health::{
    CheckKind, HealthState, HttpCheck, Observation, StateChange, TargetSpec, Timing,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
    sync::mpsc,
    task::JoinHandle,
};

use super::{check_once, tls_config, Checker, CheckerSettings};
use probe::testing::{free_port, leaf, require, s_server, test_ca, Peer};

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nall good\n";
const FAIL: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nboom\n";

/// inter 100 ms, fall 3, rise 2, timeout 300 ms.
fn quick() -> Timing {
    Timing {
        inter_ms: 100,
        fastinter_ms: 100,
        downinter_ms: 100,
        fall: 3,
        rise: 2,
        timeout_ms: 300,
    }
}

fn spec(id: i64, kind: CheckKind, port: u16) -> TargetSpec {
    TargetSpec {
        id,
        name: format!("t{id}"),
        pool: "web".to_owned(),
        address: format!("127.0.0.1:{port}"),
        kind,
        http: HttpCheck::default(),
        timing: quick(),
        cert_warn_days: 21,
    }
}

/// An HTTP responder on `port`: reads the request head, waits `delay`, answers
/// `response` and closes (unless `keep_open`). Aborting the task closes the port.
async fn responder(
    port: u16,
    response: &'static [u8],
    delay: Duration,
    keep_open: bool,
) -> JoinHandle<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .expect("bind the responder");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(delay).await;
                let _ = s.write_all(response).await;
                if keep_open {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                let _ = s.shutdown().await;
            });
        }
    })
}

async fn http_backend(response: &'static [u8]) -> (u16, JoinHandle<()>) {
    let port = free_port();
    (port, responder(port, response, Duration::ZERO, false).await)
}

async fn next_change(
    rx: &mut mpsc::UnboundedReceiver<StateChange>,
    within: Duration,
) -> StateChange {
    tokio::time::timeout(within, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no state change within {within:?}"))
        .expect("the checker is running")
}

fn tls() -> Arc<rustls::ClientConfig> {
    tls_config(&[]).expect("TLS config")
}

fn assert_message(o: &Observation, part: &str) {
    assert!(o.message.contains(part), "expected {part:?} in {o:#?}");
}

// ---------------------------------------------------------------- single checks

#[tokio::test]
async fn refused_connection() {
    let o = check_once(&spec(1, CheckKind::Tcp, free_port()), &tls()).await;
    assert!(!o.ok);
    assert_eq!(o.message, "connection refused");
    let o = check_once(&spec(1, CheckKind::Http, free_port()), &tls()).await;
    assert_eq!(o.message, "connection refused");
}

#[tokio::test]
async fn tcp_check_passes_where_http_gets_no_answer() {
    // Accepts and holds every connection, never answering.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hang = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let tcp = check_once(&spec(1, CheckKind::Tcp, port), &tls()).await;
    assert!(tcp.ok, "{tcp:#?}");
    assert_message(&tcp, "connected in");
    let started = Instant::now();
    let http = check_once(&spec(2, CheckKind::Http, port), &tls()).await;
    assert!(!http.ok);
    assert_eq!(http.message, "timeout after 300 ms (connected, no answer)");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(http.latency_ms >= 290, "{http:#?}");
    hang.abort();
}

#[tokio::test]
async fn no_connection_times_out() {
    // A listener that never accepts, with its accept queue full: SYNs are dropped.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let _listener = socket.listen(1).expect("listen");
    let mut queued = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)),
        )
        .await
        {
            Ok(Ok(s)) => queued.push(s),
            _ => break,
        }
    }
    let o = check_once(&spec(1, CheckKind::Tcp, port), &tls()).await;
    assert!(!o.ok, "{o:#?} after {} queued", queued.len());
    assert_eq!(o.message, "timeout after 300 ms (no connection)");
}

#[tokio::test]
async fn statuses_and_bodies() {
    let (ok_port, ok) = http_backend(OK).await;
    let (fail_port, fail) = http_backend(FAIL).await;

    let o = check_once(&spec(1, CheckKind::Http, ok_port), &tls()).await;
    assert!(o.ok, "{o:#?}");
    assert!(o.message.starts_with("HTTP 200 in "), "{o:#?}");
    assert!(o.message.ends_with(" ms"), "{o:#?}");

    let o = check_once(&spec(2, CheckKind::Http, fail_port), &tls()).await;
    assert!(!o.ok);
    assert_eq!(o.message, "HTTP 500 (expected 2xx/3xx)");

    let mut expect_500 = spec(3, CheckKind::Http, fail_port);
    expect_500.http.expect_status = Some(500);
    assert!(check_once(&expect_500, &tls()).await.ok);
    let mut expect_204 = spec(4, CheckKind::Http, ok_port);
    expect_204.http.expect_status = Some(204);
    assert_eq!(
        check_once(&expect_204, &tls()).await.message,
        "HTTP 200 (expected 204)"
    );

    let mut body = spec(5, CheckKind::Http, ok_port);
    body.http.body_match = Some("good".to_owned());
    assert!(check_once(&body, &tls()).await.ok);
    body.http.body_match = Some("ok".to_owned());
    let o = check_once(&body, &tls()).await;
    assert!(!o.ok);
    assert_message(&o, "body does not contain \"ok\"");

    ok.abort();
    fail.abort();
}

#[tokio::test]
async fn body_read_stops_at_content_length() {
    // The server keeps the connection open: the check must not wait for the close.
    let port = free_port();
    let server = responder(port, OK, Duration::ZERO, true).await;
    let mut s = spec(1, CheckKind::Http, port);
    s.http.body_match = Some("good".to_owned());
    let o = check_once(&s, &tls()).await;
    assert!(o.ok, "{o:#?}");
    server.abort();
}

#[tokio::test]
async fn slow_server_times_out() {
    let port = free_port();
    let server = responder(port, OK, Duration::from_millis(600), false).await;
    let o = check_once(&spec(1, CheckKind::Http, port), &tls()).await;
    assert!(!o.ok);
    assert_eq!(o.message, "timeout after 300 ms (connected, no answer)");
    server.abort();
}

#[tokio::test]
async fn bad_specs_fail_with_a_reason() {
    let mut s = spec(1, CheckKind::Http, 80);
    s.address = "no-port".to_owned();
    assert_message(&check_once(&s, &tls()).await, "invalid address");
    let mut s = spec(1, CheckKind::Http, 80);
    s.http.path = "/a b".to_owned();
    assert_message(&check_once(&s, &tls()).await, "invalid HTTP path");
    assert!(tls_config(b"not pem").is_err());
}

// ---------------------------------------------------------------- the checker

#[tokio::test]
async fn down_after_fall_failures_up_after_rise_successes() {
    let (port, backend) = http_backend(OK).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let target = spec(7, CheckKind::Http, port);
    let checker =
        Checker::start(vec![target], CheckerSettings::default(), tx).expect("start the checker");
    // Settled UP.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let s = checker.status(7).expect("status");
        if s.checks >= 2 {
            assert_eq!(s.state, HealthState::Up);
            assert_eq!(s.health, 4);
            assert!(s.last.as_ref().is_some_and(|o| o.ok), "{s:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "no checks: {s:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = checker.status(7).expect("status");

    // Stop the backend: DOWN after `fall` failures at fastinter.
    backend.abort();
    let stopped = Instant::now();
    let nominal = Duration::from_millis(3 * 100);
    let change = next_change(&mut rx, nominal * 3 + Duration::from_millis(300)).await;
    let took = stopped.elapsed();
    assert_eq!(change.target_id, 7);
    assert_eq!(change.name, "t7");
    assert_eq!(change.pool, "web");
    assert_eq!(
        (change.from, change.to),
        (HealthState::Up, HealthState::Down)
    );
    assert_eq!(change.message, "connection refused");
    // Three failures, two intervals of 100 ms ± 10 % between them at least.
    assert!(took >= Duration::from_millis(170), "DOWN after {took:?}");
    assert!(
        took <= nominal * 3 + Duration::from_millis(100),
        "DOWN after {took:?}"
    );
    let down = checker.status(7).expect("status");
    assert_eq!(down.state, HealthState::Down);
    assert_eq!(down.health, 0);
    assert!(down.since_ms >= before.since_ms);
    assert_eq!(down.since_ms, change.at_ms);
    assert!(down.checks >= before.checks + 3);
    let fails = down.recent.iter().rev().take_while(|l| l.is_none()).count();
    assert!(fails >= 3, "{down:#?}");
    assert_eq!(
        down.last.as_ref().map(|o| o.message.as_str()),
        Some("connection refused")
    );

    // Start it again on the same port: UP after `rise` successes.
    let backend = responder(port, OK, Duration::ZERO, false).await;
    let restarted = Instant::now();
    let change = next_change(&mut rx, Duration::from_millis(2 * 100 * 3 + 300)).await;
    let took = restarted.elapsed();
    assert_eq!(
        (change.from, change.to),
        (HealthState::Down, HealthState::Up)
    );
    assert!(change.message.starts_with("HTTP 200 in"), "{change:#?}");
    assert!(took >= Duration::from_millis(80), "UP after {took:?}");
    let up = checker.status(7).expect("status");
    assert_eq!(up.state, HealthState::Up);
    assert_eq!(up.health, 4);
    let oks = up.recent.iter().rev().take_while(|l| l.is_some()).count();
    assert!(oks >= 2, "{up:#?}");
    assert!(up.recent.len() <= 30);

    checker.stop();
    let frozen = checker.status(7).expect("status").checks;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(checker.status(7).expect("status").checks, frozen);
    backend.abort();
}

#[tokio::test]
async fn http_500_goes_down_with_the_status() {
    let (port, backend) = http_backend(FAIL).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let checker = Checker::start(
        vec![spec(1, CheckKind::Http, port)],
        CheckerSettings::default(),
        tx,
    )
    .expect("start");
    let change = next_change(&mut rx, Duration::from_secs(2)).await;
    assert_eq!(change.to, HealthState::Down);
    assert_eq!(change.message, "HTTP 500 (expected 2xx/3xx)");
    let s = checker.status(1).expect("status");
    assert_eq!(s.state, HealthState::Down);
    assert_eq!(s.checks, 3);
    assert_eq!(s.recent, vec![None, None, None]);
    drop(checker);
    backend.abort();
}

#[tokio::test]
async fn history_is_bounded() {
    let (port, backend) = http_backend(OK).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut t = spec(1, CheckKind::Tcp, port);
    t.timing.inter_ms = 10;
    let checker = Checker::start(
        vec![t],
        CheckerSettings {
            history: 5,
            ..CheckerSettings::default()
        },
        tx,
    )
    .expect("start");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = checker.status(1).expect("status");
    assert!(s.checks > 5, "{s:#?}");
    assert_eq!(s.recent.len(), 5);
    assert!(s.recent.iter().all(Option::is_some), "{s:#?}");
    backend.abort();
}

#[tokio::test]
async fn set_targets_keeps_unchanged_targets() {
    let (port, backend) = http_backend(OK).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let a = spec(1, CheckKind::Http, port);
    let b = spec(2, CheckKind::Tcp, port);
    let d = spec(4, CheckKind::Tcp, port);
    let checker = Checker::start(
        vec![a.clone(), b.clone(), d],
        CheckerSettings::default(),
        tx,
    )
    .expect("start");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let a_before = checker.status(1).expect("a");
    let b_before = checker.status(2).expect("b");
    assert!(a_before.checks >= 2 && b_before.checks >= 2);

    let mut b_changed = b.clone();
    b_changed.http.path = "/other".to_owned();
    let c = spec(3, CheckKind::Tcp, port);
    checker.set_targets(vec![c, b_changed, a]);

    let ids: Vec<i64> = checker.statuses().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(checker.status(4).is_none());
    let a_after = checker.status(1).expect("a");
    assert!(a_after.checks >= a_before.checks);
    assert_eq!(a_after.since_ms, a_before.since_ms);
    assert!(a_after.recent.len() >= a_before.recent.len());
    assert_eq!(
        checker.status(2).expect("b").checks,
        0,
        "a changed spec restarts"
    );
    assert_eq!(checker.status(3).expect("c").checks, 0);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(checker.status(3).expect("c").checks >= 1);
    assert!(checker.status(1).expect("a").checks > a_after.checks);
    backend.abort();
}

#[tokio::test]
async fn check_now_wakes_a_target() {
    let (port, backend) = http_backend(OK).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut t = spec(1, CheckKind::Tcp, port);
    t.timing.inter_ms = 600_000;
    let checker = Checker::start(vec![t], CheckerSettings::default(), tx).expect("start");
    // The first check waits a random offset in 0..10 min.
    let before = checker.status(1).expect("status").checks;
    // Twice: the wake-up is armed again after each one.
    let mut seen = before;
    for round in 1..=2 {
        checker.check_now(1);
        let deadline = Instant::now() + Duration::from_secs(2);
        while checker.status(1).expect("status").checks <= seen {
            assert!(Instant::now() < deadline, "check_now {round} did not check");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen = checker.status(1).expect("status").checks;
    }
    backend.abort();
}

/// The checker brings its own thread and runtime: it checks without one of the
/// caller's, and stops checking when it is dropped. Without `own_thread` it needs
/// the caller's runtime and says so.
#[test]
fn checks_on_a_thread_of_its_own_and_stops_when_dropped() {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let accepted = || {
        let mut n = 0;
        while listener.accept().is_ok() {
            n += 1;
        }
        n
    };
    let mut t = spec(1, CheckKind::Tcp, port);
    t.timing.inter_ms = 20;
    assert!(tokio::runtime::Handle::try_current().is_err());
    let (tx, _rx) = mpsc::unbounded_channel();
    let refused = Checker::start(
        vec![t.clone()],
        CheckerSettings {
            own_thread: false,
            ..CheckerSettings::default()
        },
        tx.clone(),
    );
    assert_eq!(
        refused.err().map(|e| e.to_string()).as_deref(),
        Some("the health checker needs a tokio runtime")
    );
    let checker = Checker::start(vec![t], CheckerSettings::default(), tx).expect("start");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = checker.status(1).expect("status");
        if s.checks >= 3 && s.last.as_ref().is_some_and(|o| o.ok) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checks: {s:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(accepted() >= 3);
    drop(checker);
    // A check already under way may still land; nothing after that.
    std::thread::sleep(Duration::from_millis(100));
    accepted();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        accepted(),
        0,
        "checks went on after the checker was dropped"
    );
}

// ---------------------------------------------------------------- HTTPS

struct Https {
    _peers: Vec<Peer>,
    _dir: tempfile::TempDir,
    ca_pem: Vec<u8>,
    soon: u16,
    expired: u16,
}

/// `openssl s_server -www` with a leaf for localhost/127.0.0.1 valid 5 more days, and
/// one that expired 2 days ago, both from a test CA.
async fn https_servers() -> Https {
    require("openssl", "openssl", "openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    test_ca(d, "DNS:localhost,IP:127.0.0.1");
    let mut peers = Vec::new();
    let mut ports = Vec::new();
    for (cert, key) in [leaf(d, "soon", -1, 5), leaf(d, "expired", -30, -2)] {
        let port = free_port();
        let peer = s_server(port, &cert, &key).await;
        peers.push(peer);
        ports.push(port);
    }
    Https {
        _peers: peers,
        ca_pem: std::fs::read(d.join("ca.pem")).expect("ca.pem"),
        _dir: dir,
        soon: ports[0],
        expired: ports[1],
    }
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs openssl s_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn https_certificates() {
    let https = https_servers().await;
    let trusting = tls_config(&https.ca_pem).expect("TLS config with the test CA");

    // Trusted, expiring within cert_warn_days: passes with a warning.
    let mut t = spec(1, CheckKind::Https, https.soon);
    t.timing.timeout_ms = 2000;
    let o = check_once(&t, &trusting).await;
    assert!(o.ok, "{o:#?}");
    assert!(o.message.starts_with("HTTP 200 in"), "{o:#?}");
    let warning = o.warning.as_deref().unwrap_or_default();
    assert!(
        warning.starts_with("certificate expires in 4 days (")
            || warning.starts_with("certificate expires in 5 days ("),
        "{o:#?}"
    );
    let date = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5 * 24))
        .strftime("%Y-%m-%d")
        .to_string();
    assert!(warning.contains(&date), "{warning} should name {date}");

    // By name (SNI localhost), no warning when the threshold is lower.
    let mut by_name = t.clone();
    by_name.http.host = Some("localhost".to_owned());
    by_name.cert_warn_days = 3;
    let o = check_once(&by_name, &trusting).await;
    assert!(o.ok, "{o:#?}");
    assert_eq!(o.warning, None);

    // A name the certificate does not cover.
    by_name.http.host = Some("www.example.test".to_owned());
    let o = check_once(&by_name, &trusting).await;
    assert!(!o.ok);
    assert_message(&o, "certificate not valid for www.example.test");

    // Without the test CA: untrusted.
    let o = check_once(&t, &tls()).await;
    assert!(!o.ok);
    assert!(o.message.starts_with("TLS handshake failed: "), "{o:#?}");
    assert_message(&o, "untrusted");

    // Expired: fails, naming the date.
    let mut expired = spec(2, CheckKind::Https, https.expired);
    expired.timing.timeout_ms = 2000;
    let o = check_once(&expired, &trusting).await;
    assert!(!o.ok);
    assert_message(&o, "TLS handshake failed: certificate expired");

    // Plain HTTP to a TLS port is not an HTTP answer.
    let mut plain = spec(3, CheckKind::Http, https.soon);
    plain.timing.timeout_ms = 2000;
    let o = check_once(&plain, &trusting).await;
    assert!(!o.ok, "{o:#?}");
}

/// The checker is happy with many targets on one listener, bounded by its semaphore.
#[tokio::test]
async fn many_targets_share_the_permits() {
    let (port, backend) = http_backend(OK).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let targets: Vec<TargetSpec> = (0..200)
        .map(|i| {
            spec(
                i,
                if i % 2 == 0 {
                    CheckKind::Tcp
                } else {
                    CheckKind::Http
                },
                port,
            )
        })
        .collect();
    let checker = Checker::start(
        targets,
        CheckerSettings {
            max_concurrency: 8,
            ..CheckerSettings::default()
        },
        tx,
    )
    .expect("start");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = checker.statuses();
    assert_eq!(all.len(), 200);
    assert!(
        all.iter().all(|s| s.checks >= 2
            && s.state == HealthState::Up
            && s.last.as_ref().is_some_and(|o| o.ok)),
        "{:#?}",
        all.iter()
            .find(|s| s.checks < 2 || s.state != HealthState::Up)
    );
    let _: SocketAddr = all[0]
        .last
        .as_ref()
        .map(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .expect("an observation");
    backend.abort();
}
