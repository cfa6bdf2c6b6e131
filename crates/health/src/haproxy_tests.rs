//! HAProxy's stats against a real `haproxy` on loopback with three tokio backends the
//! test stops and restarts, and `parse_csv` on captured CSV. A missing `haproxy`
//! fails the test with what installs it.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use model::health::{HaproxyRow, HaproxyRowKind, HealthState};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

const HAPROXY: &str = "/usr/sbin/haproxy";
const TIMEOUT: Duration = Duration::from_secs(2);

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A tiny HTTP server answering `200 OK` with its name, stoppable and restartable
/// on the same port.
struct Backend {
    name: &'static str,
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Backend {
    async fn start(name: &'static str) -> Self {
        let mut b = Self {
            name,
            port: free_port(),
            task: None,
        };
        b.restart().await;
        b
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.address()),
            }
        };
        let name = self.name;
        self.task = Some(tokio::spawn(async move {
            // The connections live in the set: stopping the backend drops them all.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { return };
                        conns.spawn(serve(stream, name));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }));
    }

    /// Closes the port and every open connection.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Answers each request on the connection with `200 OK` and the backend's name.
async fn serve(mut stream: tokio::net::TcpStream, name: &'static str) {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 2048];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let body = format!("{name}\n");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A running `haproxy -db` with its config in a temp dir; killed on drop.
struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
    frontend: u16,
    stats: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    async fn start(backends: &[&Backend]) -> Self {
        assert!(
            Path::new(HAPROXY).exists(),
            "haproxy missing: `cargo xtask test` installs it (or apt-get install -y haproxy); looked for {HAPROXY}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let frontend = free_port();
        let stats = free_port();
        let sock = dir.path().join("admin.sock");
        let servers: String = backends
            .iter()
            .map(|b| {
                format!(
                    "    server {} {} check inter 200 fall 3 rise 2\n",
                    b.name,
                    b.address()
                )
            })
            .collect();
        let cfg = format!(
            "global\n\
             \x20   stats socket {sock} mode 600 level admin\n\
             \x20   stats timeout 10s\n\
             \n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 1s\n\
             \x20   timeout client 5s\n\
             \x20   timeout server 5s\n\
             \x20   timeout check 1s\n\
             \n\
             frontend fe_web\n\
             \x20   bind 127.0.0.1:{frontend}\n\
             \x20   default_backend web\n\
             \n\
             backend web\n\
             \x20   balance leastconn\n\
             \x20   option httpchk GET /\n\
             \x20   http-check expect status 200\n\
             {servers}\
             \n\
             listen stats\n\
             \x20   bind 127.0.0.1:{stats}\n\
             \x20   stats enable\n\
             \x20   stats uri /stats\n\
             \x20   stats auth admin:secret\n\
             \x20   stats show-legends\n",
            sock = sock.display(),
        );
        let cfg_path = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg_path, cfg).expect("write haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let child = Command::new(HAPROXY)
            .arg("-f")
            .arg(&cfg_path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let mut h = Self {
            child,
            dir,
            frontend,
            stats,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            h.assert_running();
            if fetch(&h.http("secret"), TIMEOUT).await.is_ok() && h.socket_path().exists() {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy's stats did not answer within 10 s: {}",
                h.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Fails the test when haproxy has exited (bad config, port taken).
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("haproxy exited early ({status}): {}", self.log());
        }
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn http(&self, password: &str) -> HaproxyInstance {
        HaproxyInstance {
            name: "test over http".into(),
            source: StatsSource::Http {
                url: format!("http://127.0.0.1:{}/stats;csv", self.stats),
                user: Some("admin".into()),
                password: Some(password.into()),
            },
        }
    }

    fn socket(&self) -> HaproxyInstance {
        HaproxyInstance {
            name: "test over the socket".into(),
            source: StatsSource::Socket {
                path: self.socket_path(),
            },
        }
    }

    /// Both sources' rows.
    async fn both(&self) -> [(&'static str, Vec<HaproxyRow>); 2] {
        let http = fetch(&self.http("secret"), TIMEOUT)
            .await
            .expect("stats over HTTP");
        let socket = fetch(&self.socket(), TIMEOUT)
            .await
            .expect("stats over the socket");
        [("http", http), ("socket", socket)]
    }

    /// Polls both sources every 100 ms until `want` holds for both; fails after `within`.
    async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&[HaproxyRow]) -> bool,
    ) -> [(&'static str, Vec<HaproxyRow>); 2] {
        let started = Instant::now();
        loop {
            self.assert_running();
            let both = self.both().await;
            if both.iter().all(|(_, rows)| want(rows)) {
                return both;
            }
            assert!(
                started.elapsed() < within,
                "{what}: not seen within {within:?}; last rows: {both:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A GET through the frontend: the answering backend's name.
    async fn get(&self) -> String {
        let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.frontend))
            .await
            .expect("connect to the frontend");
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut answer = String::new();
        tokio::time::timeout(TIMEOUT, s.read_to_string(&mut answer))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "the frontend answered: {answer}"
        );
        answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

fn server<'a>(rows: &'a [HaproxyRow], name: &str) -> &'a HaproxyRow {
    rows.iter()
        .find(|r| r.kind == HaproxyRowKind::Server && r.proxy == "web" && r.service == name)
        .unwrap_or_else(|| panic!("no server web/{name} in {rows:#?}"))
}

fn is_up_l7ok(rows: &[HaproxyRow], name: &str) -> bool {
    rows.iter().any(|r| {
        r.kind == HaproxyRowKind::Server
            && r.service == name
            && r.status == "UP"
            && r.check_status == "L7OK"
    })
}

fn is_down(rows: &[HaproxyRow], name: &str) -> bool {
    rows.iter()
        .any(|r| r.kind == HaproxyRowKind::Server && r.service == name && r.status == "DOWN")
}

async fn three_backends() -> [Backend; 3] {
    [
        Backend::start("s1").await,
        Backend::start("s2").await,
        Backend::start("s3").await,
    ]
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs haproxy: cargo xtask test runs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_stats_over_http_and_the_socket_list_every_row() {
    let backends = three_backends().await;
    let mut haproxy = Haproxy::start(&backends.iter().collect::<Vec<_>>()).await;
    let all_up = |rows: &[HaproxyRow]| ["s1", "s2", "s3"].iter().all(|s| is_up_l7ok(rows, s));
    let both = haproxy
        .wait_for("s1..s3 UP with L7OK", Duration::from_secs(5), all_up)
        .await;
    for (source, rows) in &both {
        let fe = rows
            .iter()
            .find(|r| r.proxy == "fe_web" && r.service == "FRONTEND")
            .unwrap_or_else(|| panic!("{source}: no frontend in {rows:#?}"));
        assert_eq!(fe.kind, HaproxyRowKind::Frontend, "{source}");
        assert_eq!(fe.status, "OPEN", "{source}");
        let be = rows
            .iter()
            .find(|r| r.proxy == "web" && r.service == "BACKEND")
            .unwrap_or_else(|| panic!("{source}: no backend in {rows:#?}"));
        assert_eq!(be.kind, HaproxyRowKind::Backend, "{source}");
        assert_eq!(be.status, "UP", "{source}");
        for b in &backends {
            let s = server(rows, b.name);
            assert_eq!(s.status, "UP", "{source} {}", b.name);
            assert_eq!(s.check_status, "L7OK", "{source} {}", b.name);
            assert_eq!(s.address.as_deref(), Some(b.address().as_str()), "{source}");
            assert!(!s.check_detail.is_empty(), "{source}: a check description");
            assert!(s.last_change_secs.is_some(), "{source}: lastchg");
        }
    }
    // Agreeing views are no disagreement.
    let ours: Vec<(String, HealthState)> = backends
        .iter()
        .map(|b| (b.address(), HealthState::Up))
        .collect();
    for (source, rows) in &both {
        assert_eq!(disagreements(rows, &ours), vec![], "{source}");
    }
    // A request through the frontend shows in its counters.
    haproxy.get().await;
    let rows = fetch(&haproxy.http("secret"), TIMEOUT)
        .await
        .expect("stats");
    let fe = rows
        .iter()
        .find(|r| r.proxy == "fe_web" && r.service == "FRONTEND")
        .expect("frontend");
    assert!(
        fe.sessions_total >= 1 && fe.bytes_in > 0 && fe.bytes_out > 0,
        "{fe:#?}"
    );
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs haproxy: cargo xtask test runs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_stats_with_a_wrong_password_say_401() {
    let backends = three_backends().await;
    let haproxy = Haproxy::start(&backends.iter().collect::<Vec<_>>()).await;
    let err = fetch(&haproxy.http("wrong"), TIMEOUT)
        .await
        .expect_err("wrong password")
        .to_string();
    assert_eq!(
        err,
        "HAProxy stats answered 401: check the user and password"
    );
    let anonymous = HaproxyInstance {
        name: "no credentials".into(),
        source: StatsSource::Http {
            url: format!("http://127.0.0.1:{}/stats;csv", haproxy.stats),
            user: None,
            password: None,
        },
    };
    let err = fetch(&anonymous, TIMEOUT)
        .await
        .expect_err("no credentials")
        .to_string();
    assert_eq!(
        err,
        "HAProxy stats answered 401: check the user and password"
    );
    // The HTML page (no `;csv`) is named as such.
    let html = HaproxyInstance {
        name: "html".into(),
        source: StatsSource::Http {
            url: format!("http://127.0.0.1:{}/stats", haproxy.stats),
            user: Some("admin".into()),
            password: Some("secret".into()),
        },
    };
    let err = fetch(&html, TIMEOUT).await.expect_err("HTML").to_string();
    assert!(err.contains("HTML page, not CSV"), "{err}");
    assert!(err.contains(";csv"), "{err}");
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs haproxy: cargo xtask test runs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_sees_a_stopped_backend_go_down_and_come_back() {
    let mut backends = three_backends().await;
    let mut haproxy = Haproxy::start(&backends.iter().collect::<Vec<_>>()).await;
    let all_up = |rows: &[HaproxyRow]| ["s1", "s2", "s3"].iter().all(|s| is_up_l7ok(rows, s));
    haproxy
        .wait_for("s1..s3 UP with L7OK", Duration::from_secs(5), all_up)
        .await;

    backends[1].stop().await;
    let stopped = Instant::now();
    let both = haproxy
        .wait_for("s2 DOWN", Duration::from_secs(5), |rows| {
            is_down(rows, "s2")
        })
        .await;
    let took = stopped.elapsed();
    // inter 200 ms x fall 3, plus slack for the check timing and the polling.
    assert!(took < Duration::from_secs(3), "s2 DOWN after {took:?}");
    let ours: Vec<(String, HealthState)> = backends
        .iter()
        .map(|b| (b.address(), HealthState::Up))
        .collect();
    for (source, rows) in &both {
        let s2 = server(rows, "s2");
        assert!(
            s2.check_status == "L4CON" || s2.check_status.starts_with("L7"),
            "{source}: {s2:#?}"
        );
        assert_eq!(server(rows, "s1").status, "UP", "{source}");
        assert_eq!(server(rows, "s3").status, "UP", "{source}");
        let found = disagreements(rows, &ours);
        assert_eq!(
            found,
            vec![Disagreement {
                proxy: "web".into(),
                server: "s2".into(),
                haproxy: "DOWN".into(),
                ours: HealthState::Up,
                address: Some(backends[1].address()),
            }],
            "{source}"
        );
    }

    // The frontend still serves, from s1 and s3 only.
    for _ in 0..12 {
        let from = haproxy.get().await;
        assert!(from == "s1" || from == "s3", "answered by {from}");
    }

    backends[1].restart().await;
    let restarted = Instant::now();
    let both = haproxy
        .wait_for("s2 UP again", Duration::from_secs(5), |rows| {
            is_up_l7ok(rows, "s2")
        })
        .await;
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(3), "s2 UP after {took:?}");
    for (source, rows) in &both {
        assert_eq!(disagreements(rows, &ours), vec![], "{source}");
        // Ours lagging behind: HAProxy's UP against our Down is flagged too.
        let lagging = [(backends[1].address(), HealthState::Down)];
        let found = disagreements(rows, &lagging);
        assert_eq!(found.len(), 1, "{source}: {found:#?}");
        assert_eq!(found[0].haproxy, "UP");
        assert_eq!(found[0].ours, HealthState::Down);
    }
}

/// Our checker on the backends with HAProxy's timings (`check inter 200 fall 3 rise 2`,
/// `timeout check 1s`, `option httpchk GET /`), ids 1.. in order.
fn our_checker(
    backends: &[Backend],
) -> (
    crate::Checker,
    tokio::sync::mpsc::UnboundedReceiver<model::health::StateChange>,
) {
    let specs = backends
        .iter()
        .zip(1..)
        .map(|(b, id)| {
            crate::target_spec(
                id,
                "web",
                &crate::TargetConfig {
                    name: b.name.into(),
                    address: b.address(),
                    check: Some("http".into()),
                    method: Some("GET".into()),
                    path: Some("/".into()),
                    expect_status: Some(200),
                    inter: Some(200),
                    fall: Some(3),
                    rise: Some(2),
                    timeout: Some(1000),
                    ..crate::TargetConfig::default()
                },
            )
            .expect("a valid target")
        })
        .collect();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let checker = crate::Checker::start(specs, crate::CheckerSettings::default(), tx)
        .expect("the checker starts");
    (checker, rx)
}

/// Our checker's states as `(address, state)`, for [`disagreements`].
fn our_states(checker: &crate::Checker, backends: &[Backend]) -> Vec<(String, HealthState)> {
    checker
        .statuses()
        .iter()
        .map(|s| {
            let i = usize::try_from(s.id - 1).expect("ids from 1");
            (backends[i].address(), s.state)
        })
        .collect()
}

/// When HAProxy (CSV over HTTP) and our checker first showed `server` in `want`, from
/// `since`; polls both every 25 ms, collecting our state changes, and fails the test
/// after `within` naming who never got there.
async fn watch_both(
    haproxy: &mut Haproxy,
    checker: &crate::Checker,
    changes: &mut tokio::sync::mpsc::UnboundedReceiver<model::health::StateChange>,
    (server, id, want): (&str, i64, HealthState),
    since: Instant,
    within: Duration,
) -> (Duration, Duration, Vec<model::health::StateChange>) {
    let (mut theirs, mut ours, mut seen) = (None, None, Vec::new());
    loop {
        haproxy.assert_running();
        while let Ok(change) = changes.try_recv() {
            seen.push(change);
        }
        let rows = fetch(&haproxy.http("secret"), TIMEOUT)
            .await
            .expect("stats over HTTP");
        let now = since.elapsed();
        let haproxy_there = match want {
            HealthState::Down => is_down(&rows, server),
            HealthState::Up => is_up_l7ok(&rows, server),
        };
        if haproxy_there && theirs.is_none() {
            theirs = Some(now);
        }
        let status = checker.status(id).expect("our status");
        if status.state == want && ours.is_none() {
            ours = Some(now);
        }
        if let (Some(theirs), Some(ours)) = (theirs, ours) {
            return (theirs, ours, seen);
        }
        assert!(
            now < within,
            "{server} {want:?} not seen within {within:?}: HAProxy after {theirs:?}, ours after {ours:?}; \
             our status {status:#?}; HAProxy's row {:#?}",
            server_row(&rows, server)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn server_row<'a>(rows: &'a [HaproxyRow], name: &str) -> Option<&'a HaproxyRow> {
    rows.iter()
        .find(|r| r.kind == HaproxyRowKind::Server && r.proxy == "web" && r.service == name)
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs haproxy: cargo xtask test runs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_and_our_checker_see_a_stopped_backend_go_down_and_come_back() {
    let mut backends = three_backends().await;
    let mut haproxy = Haproxy::start(&backends.iter().collect::<Vec<_>>()).await;
    let (checker, mut changes) = our_checker(&backends);
    let all_up = |rows: &[HaproxyRow]| ["s1", "s2", "s3"].iter().all(|s| is_up_l7ok(rows, s));
    haproxy
        .wait_for("s1..s3 UP with L7OK", Duration::from_secs(5), all_up)
        .await;
    // Ours starts fully UP; wait for a passing check of each.
    let started = Instant::now();
    while !checker
        .statuses()
        .iter()
        .all(|s| s.state == HealthState::Up && s.last.as_ref().is_some_and(|l| l.ok))
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "our first checks: {:#?}",
            checker.statuses()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rows = fetch(&haproxy.http("secret"), TIMEOUT)
        .await
        .expect("stats");
    assert_eq!(
        disagreements(&rows, &our_states(&checker, &backends)),
        vec![]
    );
    assert!(changes.try_recv().is_err(), "no change while all are UP");

    // inter 200 ms x fall 3; on a busy 2-core machine allow 4x that.
    let nominal_down = Duration::from_millis(200 * 3);
    backends[1].stop().await;
    let stopped = Instant::now();
    let (theirs, ours, seen) = watch_both(
        &mut haproxy,
        &checker,
        &mut changes,
        ("s2", 2, HealthState::Down),
        stopped,
        Duration::from_secs(10),
    )
    .await;
    println!(
        "s2 DOWN: HAProxy after {theirs:?}, our checker after {ours:?} (nominal {nominal_down:?})"
    );
    assert!(
        theirs < nominal_down * 4,
        "HAProxy: s2 DOWN after {theirs:?}"
    );
    assert!(ours < nominal_down * 4, "ours: s2 DOWN after {ours:?}");
    let mut seen = seen;
    while let Ok(change) = changes.try_recv() {
        seen.push(change);
    }
    assert_eq!(seen.len(), 1, "one change: {seen:#?}");
    let change = &seen[0];
    assert_eq!(
        (change.target_id, change.name.as_str(), change.pool.as_str()),
        (2, "s2", "web")
    );
    assert_eq!(
        (change.from, change.to),
        (HealthState::Up, HealthState::Down)
    );
    assert_eq!(change.message, "connection refused", "{change:#?}");
    // Both agree now: s2 DOWN, s1 and s3 UP, nothing flagged.
    let ours_now = our_states(&checker, &backends);
    assert_eq!(
        ours_now.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [HealthState::Up, HealthState::Down, HealthState::Up]
    );
    let rows = fetch(&haproxy.http("secret"), TIMEOUT)
        .await
        .expect("stats");
    assert_eq!(disagreements(&rows, &ours_now), vec![]);

    // rise 2 at downinter 200 ms.
    let nominal_up = Duration::from_millis(200 * 2);
    backends[1].restart().await;
    let restarted = Instant::now();
    let (theirs, ours, seen) = watch_both(
        &mut haproxy,
        &checker,
        &mut changes,
        ("s2", 2, HealthState::Up),
        restarted,
        Duration::from_secs(10),
    )
    .await;
    println!(
        "s2 UP: HAProxy after {theirs:?}, our checker after {ours:?} (nominal {nominal_up:?})"
    );
    assert!(theirs < nominal_up * 4, "HAProxy: s2 UP after {theirs:?}");
    assert!(ours < nominal_up * 4, "ours: s2 UP after {ours:?}");
    let mut seen = seen;
    while let Ok(change) = changes.try_recv() {
        seen.push(change);
    }
    assert_eq!(seen.len(), 1, "one change: {seen:#?}");
    assert_eq!(
        (seen[0].name.as_str(), seen[0].from, seen[0].to),
        ("s2", HealthState::Down, HealthState::Up)
    );
    assert!(seen[0].message.contains("HTTP 200"), "{:#?}", seen[0]);
    let rows = fetch(&haproxy.http("secret"), TIMEOUT)
        .await
        .expect("stats");
    assert_eq!(
        disagreements(&rows, &our_states(&checker, &backends)),
        vec![]
    );
    checker.stop();
}

#[tokio::test]
async fn haproxy_fetch_errors_are_sentences() {
    // Nothing listening.
    let refused = HaproxyInstance {
        name: "refused".into(),
        source: StatsSource::Http {
            url: format!("http://127.0.0.1:{}/stats;csv", free_port()),
            user: None,
            password: None,
        },
    };
    let err = fetch(&refused, TIMEOUT)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("connection refused"), "{err}");

    // Accepts but never answers.
    let silent = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let timeout = HaproxyInstance {
        name: "silent".into(),
        source: StatsSource::Http {
            url: format!("http://127.0.0.1:{port}/stats;csv"),
            user: None,
            password: None,
        },
    };
    let started = Instant::now();
    let err = fetch(&timeout, Duration::from_millis(300))
        .await
        .expect_err("timeout")
        .to_string();
    assert!(err.contains("no answer within 300 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // No socket.
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = HaproxyInstance {
        name: "missing".into(),
        source: StatsSource::Socket {
            path: dir.path().join("nothing.sock"),
        },
    };
    let err = fetch(&missing, TIMEOUT)
        .await
        .expect_err("no socket")
        .to_string();
    assert!(
        err.contains("nothing.sock") && err.contains("no such socket"),
        "{err}"
    );

    // A socket nobody listens on any more.
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind a unix socket"));
    let stale = HaproxyInstance {
        name: "stale".into(),
        source: StatsSource::Socket { path },
    };
    let err = fetch(&stale, TIMEOUT)
        .await
        .expect_err("stale socket")
        .to_string();
    assert!(err.contains("connection refused"), "{err}");

    // https is refused up front.
    let https = HaproxyInstance {
        name: "tls".into(),
        source: StatsSource::Http {
            url: "https://127.0.0.1:8404/stats;csv".into(),
            user: None,
            password: None,
        },
    };
    let err = fetch(&https, TIMEOUT).await.expect_err("https").to_string();
    assert!(err.contains("https stats URLs are not supported"), "{err}");
}

/// Shaped on HAProxy 2.6.12's answer (`curl 'http://127.0.0.1:28404/stats;csv'`): its
/// header cut after `algo` (the parser goes by names), the frontend, s1, s2 and backend
/// rows as captured with counters edited, and s3..s5 edited into the states to test.
const CAPTURED: &str = "\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,
fe,FRONTEND,,,2,5,9984,41,5220,9100,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,3,,,,0,41,0,0,0,0,,0,4,41,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,
web,s1,0,0,1,2,,20,2610,4550,,0,,0,0,0,0,UP,1,1,0,0,0,35,0,,1,3,1,,20,,2,0,,2,L7OK,200,0,0,20,0,0,0,0,,,,20,0,0,,,,,3,HTTP status code 200,,0,0,0,1,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:29001,,http,,
web,s2,0,0,0,0,,21,2610,4550,,0,,3,0,0,0,DOWN,1,1,0,1,1,4,4,,1,3,2,,21,,2,0,,2,L4CON,,0,0,21,0,0,0,0,,,,21,0,0,,,,,9,Connection refused,,0,0,0,1,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:29002,,http,,
web,s3,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,1,0,35,0,,1,3,3,,0,,2,0,,0,* L7STS,503,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,\"HTTP status code 503, \"\"down\"\"\",,0,0,0,0,,,,,,2,3,3,,,,127.0.0.1:29003,,http,,
web,s4,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,35,,,1,3,4,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:29004,,http,,
web,s5,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,35,0,,1,3,5,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,HTTP status code 200,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:29005,,http,,
web,BACKEND,0,0,1,2,999,41,5220,9100,0,0,,3,0,0,0,UP,1,1,0,,0,35,0,,1,3,0,,41,,1,0,,3,,,,0,41,0,0,0,0,,,,41,0,0,0,0,0,0,3,,,0,0,0,1,,,,,,,,,,,,,,http,leastconn,
stats,FRONTEND,,,1,1,9984,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,4,0,,,,0,1,0,1,,,,0,0,0,0,0,0,,1,1,1,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,
";

#[test]
fn haproxy_parse_csv_reads_captured_stats() {
    let rows = parse_csv(CAPTURED).expect("parses");
    assert_eq!(rows.len(), 8);
    let fe = &rows[0];
    assert_eq!(
        fe,
        &HaproxyRow {
            proxy: "fe".into(),
            service: "FRONTEND".into(),
            kind: HaproxyRowKind::Frontend,
            status: "OPEN".into(),
            check_status: String::new(),
            check_detail: String::new(),
            sessions: 2,
            sessions_total: 41,
            bytes_in: 5220,
            bytes_out: 9100,
            last_change_secs: None,
            address: None,
        }
    );
    let s1 = server(&rows, "s1");
    assert_eq!(
        s1,
        &HaproxyRow {
            proxy: "web".into(),
            service: "s1".into(),
            kind: HaproxyRowKind::Server,
            status: "UP".into(),
            check_status: "L7OK".into(),
            check_detail: "Layer7 check passed".into(),
            sessions: 1,
            sessions_total: 20,
            bytes_in: 2610,
            bytes_out: 4550,
            last_change_secs: Some(35),
            address: Some("127.0.0.1:29001".into()),
        }
    );
    let s2 = server(&rows, "s2");
    assert_eq!(
        (s2.status.as_str(), s2.check_status.as_str()),
        ("DOWN", "L4CON")
    );
    assert_eq!(s2.check_detail, "Layer4 connection problem");
    assert_eq!(s2.last_change_secs, Some(4));
    // In progress (`* `), going down (`UP 1/3`), a quoted last_chk with a comma and
    // quotes standing in for an empty check_desc.
    let s3 = server(&rows, "s3");
    assert_eq!(s3.status, "UP 1/3");
    assert_eq!(s3.check_status, "L7STS");
    assert_eq!(s3.check_detail, "HTTP status code 503, \"down\"");
    assert_eq!(s3.address.as_deref(), Some("127.0.0.1:29003"));
    let be = rows
        .iter()
        .find(|r| r.service == "BACKEND")
        .expect("backend row");
    assert_eq!(
        (be.kind, be.status.as_str()),
        (HaproxyRowKind::Backend, "UP")
    );
    assert_eq!(rows[7].proxy, "stats");
}

#[test]
fn haproxy_parse_csv_strips_the_in_progress_mark() {
    let text = "# pxname,svname,status,check_status,scur,stot,bin,bout,type\n\
                web,s1,UP,* L7OK,0,0,0,0,2\n\
                web,s2,DOWN,*L4CON,0,0,0,0,2\n";
    let rows = parse_csv(text).expect("parses");
    assert_eq!(rows[0].check_status, "L7OK");
    assert_eq!(rows[1].check_status, "L4CON");
    // Columns in any order, check_desc/last_chk/lastchg/addr optional.
    assert_eq!(rows[0].kind, HaproxyRowKind::Server);
    assert_eq!(rows[0].address, None);
    assert_eq!(rows[0].last_change_secs, None);
}

#[test]
fn haproxy_parse_csv_names_missing_columns() {
    let err = parse_csv("# pxname,svname,scur,stot,bin,bout,check_status\nweb,s1,0,0,0,0,L7OK\n")
        .expect_err("no type or status")
        .to_string();
    assert_eq!(err, "HAProxy's stats CSV lacks the columns type, status");
    let err = parse_csv("pxname,svname\nweb,s1\n")
        .expect_err("no # header")
        .to_string();
    assert!(err.contains("first line should be the header"), "{err}");
    let err = parse_csv("\n\n").expect_err("empty").to_string();
    assert!(err.contains("empty"), "{err}");
    let err = parse_csv("Unknown command. Please enter one of the following commands only :\n")
        .expect_err("a Runtime API complaint")
        .to_string();
    assert!(err.contains("not HAProxy stats CSV"), "{err}");
    let err = parse_csv(
        "# pxname,svname,status,check_status,scur,stot,bin,bout,type\nweb,s1,UP,L7OK,many,0,0,0,2\n",
    )
    .expect_err("not a number")
        .to_string();
    assert_eq!(
        err,
        "HAProxy's stats CSV, line 2: scur `many` is not a number"
    );
}

#[test]
fn haproxy_parse_csv_rejects_html() {
    let page = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n\
                \"http://www.w3.org/TR/html4/loose.dtd\">\n\
                <html><head><title>Statistics Report for HAProxy</title>\n";
    let err = parse_csv(page).expect_err("HTML").to_string();
    assert!(
        err.starts_with("HAProxy answered an HTML page, not CSV"),
        "{err}"
    );
    let err = parse_csv("  <html><body><h1>401 Unauthorized</h1>")
        .expect_err("HTML")
        .to_string();
    assert!(err.contains("HTML page"), "{err}");
}

#[test]
fn haproxy_disagreements_skip_no_check_maint_and_unknown_servers() {
    let rows = parse_csv(CAPTURED).expect("parses");
    let ours = vec![
        ("127.0.0.1:29001".to_owned(), HealthState::Down), // UP vs Down: flagged
        ("127.0.0.1:29002".to_owned(), HealthState::Down), // agree
        ("127.0.0.1:29003".to_owned(), HealthState::Down), // UP 1/3 vs Down: flagged
        ("127.0.0.1:29004".to_owned(), HealthState::Down), // no check
        ("127.0.0.1:29005".to_owned(), HealthState::Down), // MAINT
        ("127.0.0.1:29999".to_owned(), HealthState::Down), // not in HAProxy
    ];
    let found = disagreements(&rows, &ours);
    let names: Vec<(&str, &str)> = found
        .iter()
        .map(|d| (d.server.as_str(), d.haproxy.as_str()))
        .collect();
    assert_eq!(names, vec![("s1", "UP"), ("s3", "UP 1/3")]);
    assert!(found
        .iter()
        .all(|d| d.ours == HealthState::Down && d.proxy == "web"));

    let ours = vec![("127.0.0.1:29002".to_owned(), HealthState::Up)];
    let found = disagreements(&rows, &ours);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].address.as_deref(), Some("127.0.0.1:29002"));

    // Without addresses (a stats page without `stats show-legends`) nothing matches.
    let bare: Vec<HaproxyRow> = rows
        .into_iter()
        .map(|r| HaproxyRow { address: None, ..r })
        .collect();
    assert_eq!(disagreements(&bare, &ours), vec![]);
}
