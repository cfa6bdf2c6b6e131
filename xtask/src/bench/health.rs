//! `cargo xtask bench health`: the release server checking 10,000 targets
//! (half TCP, half HTTP, inter 2 s) against loopback responders in a child
//! process (`health`' `health_bench` example in its `serve` mode), with the
//! results written to the database in batches. Measures the server's CPU and
//! RSS while it only checks, then the health page's server render with every
//! row, filtered, and the live delta endpoint.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::{json, Value};

use testbed::{
    http::{free_port, request, sign_in},
    server::{add_user_with, random_password, Server},
};

use crate::{cargo, sh, timed, tools, Workspace};

const SITES: usize = 4;
const POOLS_PER_SITE: usize = 5;
const TARGETS: usize = 10_000;
/// Seconds of the CPU window.
const WINDOW: u64 = 20;
/// Sequential requests per page timing.
const RENDERS: usize = 10;

pub(crate) fn run(ws: &Workspace, bin: &Path) -> Result<()> {
    let responders = responders_bin(ws)?;
    let scratch = ws.target.join("bench-health");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let peer = Responders::start(&responders)?;
    let config = scratch.join("health.json");
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&health_config(&peer.ports))?,
    )?;
    let data = scratch.join("data");
    let password = random_password()?;
    add_user_with(bin, &data, &[], "bench", "staff", &password)?;
    let config_arg = config.to_string_lossy().into_owned();
    let log = scratch.join("server.log");
    let mut server = Server::start_with(
        bin,
        &ws.site(),
        &data,
        &log,
        &["--health-config", &config_arg],
    )
    .with_context(|| format!("server log: {}", log.display()))?;
    let result = measure(&server, &password);
    server.stop();
    let mut figures = result.with_context(|| format!("server log: {}", log.display()))?;
    // The same checks by HAProxy itself, against the same responders, in the
    // same run: on loopback both ends' TCP work lands on whoever sends, so this
    // is the yardstick for the checker's CPU figure.
    figures.haproxy = Some(haproxy_cpu(ws, &scratch, &peer.ports)?);
    drop(peer);
    figures.print();
    Ok(())
}

/// HAProxy (one thread, like our checker) checking the same TARGETS targets with
/// the same timings against the same responders: its CPU over WINDOW seconds,
/// as (% of one core, % of that in the kernel).
fn haproxy_cpu(ws: &Workspace, scratch: &Path, ports: &[u16]) -> Result<(f64, f64)> {
    tools::ensure_haproxy(ws)?;
    let (tcp, http) = ports.split_at(ports.len() / 2);
    let front = free_port()?;
    let mut cfg = format!(
        "global\n  maxconn 2000\n  nbthread 1\n  spread-checks 10\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  timeout check 2s\n\
         \x20 default-server inter 2000 fastinter 1000 downinter 2000 fall 3 rise 2\n\
         frontend fe\n  bind {front}\n  default_backend http_pool\nbackend tcp_pool\n  mode tcp\n"
    );
    for i in (0..TARGETS).step_by(2) {
        cfg.push_str(&format!(
            "  server t{i} 127.0.0.1:{} check\n",
            tcp[(i / 2) % tcp.len()]
        ));
    }
    cfg.push_str("backend http_pool\n  option httpchk GET /healthz\n");
    for i in (1..TARGETS).step_by(2) {
        cfg.push_str(&format!(
            "  server t{i} 127.0.0.1:{} check\n",
            http[(i / 2) % http.len()]
        ));
    }
    let mut proxy = testbed::haproxy::spawn(scratch, front, &cfg)?;
    // Every server's first check lands within one inter (spread-checks).
    std::thread::sleep(Duration::from_secs(5));
    proxy.check_running()?;
    let pid = proxy.pid();
    let (user0, sys0) = cpu_ticks(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(WINDOW));
    let (user1, sys1) = cpu_ticks(pid)?;
    let secs = t0.elapsed().as_secs_f64();
    let (user, sys) = (user1 - user0, sys1 - sys0);
    #[allow(clippy::cast_precision_loss)]
    Ok((
        (user + sys) as f64 / clock_ticks() / secs * 100.0,
        sys as f64 * 100.0 / (user + sys).max(1) as f64,
    ))
}

/// The `health_bench` example, built in release mode: its `serve` mode is the
/// responders.
fn responders_bin(ws: &Workspace) -> Result<PathBuf> {
    timed("health_bench example build (release)", || {
        sh(
            ws,
            Command::new(cargo())
                .args([
                    "build",
                    "--release",
                    "-p",
                    "health",
                    "--example",
                    "health_bench",
                ])
                .env_remove("LEPTOS_OUTPUT_NAME"),
        )
    })?;
    Ok(ws.target.join("release/examples/health_bench"))
}

/// 100 TCP acceptors and 100 HTTP/1.1 responders in one child process, which
/// exits when its stdin closes (or is killed when this is dropped).
struct Responders {
    child: Child,
    ports: Vec<u16>,
}

impl Responders {
    fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("responders' stdout")?).read_line(&mut line)?;
        let ports = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<u16>, _>>()
            .context("responders' ports")?;
        ensure!(
            ports.len() >= 2 && ports.len() % 2 == 0,
            "responders printed {line:?}"
        );
        Ok(Self { child, ports })
    }
}

impl Drop for Responders {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SITES sites of POOLS_PER_SITE pools sharing TARGETS targets; even targets
/// TCP, odd ones HTTP, spread over the responders (first half of `ports` TCP,
/// second half HTTP).
fn health_config(ports: &[u16]) -> Value {
    let (tcp, http) = ports.split_at(ports.len() / 2);
    let pools = SITES * POOLS_PER_SITE;
    let per_pool = TARGETS / pools;
    let sites: Vec<Value> = (1..=SITES)
        .map(|s| json!({ "name": format!("site{s}") }))
        .collect();
    let pools: Vec<Value> = (0..pools)
        .map(|p| {
            let targets: Vec<Value> = (0..per_pool)
                .map(|j| {
                    let i = p * per_pool + j;
                    let port = if i % 2 == 1 {
                        http[(i / 2) % http.len()]
                    } else {
                        tcp[(i / 2) % tcp.len()]
                    };
                    let mut t = json!({
                        "name": format!("t{i}"),
                        "address": format!("127.0.0.1:{port}"),
                        "check": if i % 2 == 1 { "http" } else { "tcp" },
                        "inter": 2000,
                        "fall": 3,
                        "rise": 2,
                        "timeout": 2000,
                    });
                    if i % 2 == 1 {
                        t["path"] = json!("/healthz");
                    }
                    t
                })
                .collect();
            json!({
                "name": format!("pool{}", p + 1),
                "site": format!("site{}", p / POOLS_PER_SITE + 1),
                "service": format!("svc{}", p % POOLS_PER_SITE + 1),
                "needed": 1,
                "targets": targets,
            })
        })
        .collect();
    json!({ "sites": sites, "pools": pools })
}

struct Page {
    bytes: usize,
    median_ms: f64,
    max_ms: f64,
}

struct Figures {
    first_checked_s: f64,
    rows: usize,
    checks_per_s: f64,
    cpu_pct: f64,
    kernel_pct: f64,
    rss_kib: u64,
    rss_after_kib: u64,
    full: Page,
    problems: Page,
    problem_rows: usize,
    delta_rows: usize,
    delta: String,
    /// HAProxy's CPU for the same checks: (% of one core, % kernel).
    haproxy: Option<(f64, f64)>,
}

impl Figures {
    fn print(&self) {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        println!(
            "\nHealth: {TARGETS} targets ({} TCP + {} HTTP, inter 2 s) in {SITES} sites x {POOLS_PER_SITE} pools against loopback responders; release server, SQLite, {cores} cores shared with the responders\n",
            TARGETS - TARGETS / 2,
            TARGETS / 2
        );
        println!("| figure | value |");
        println!("|---|---|");
        println!(
            "| every target checked and written after | {:.1} s ({} rows) |",
            self.first_checked_s, self.rows
        );
        println!(
            "| checks/s (each row's checks between its last checks, {WINDOW} s apart) | {:.0} (expected {}) |",
            self.checks_per_s,
            TARGETS / 2
        );
        println!(
            "| server CPU, checker + batched writes ({WINDOW} s, idle page) | {:.1} % of one core ({:.0} % of it kernel) |",
            self.cpu_pct, self.kernel_pct
        );
        if let Some((cpu, kernel)) = self.haproxy {
            println!(
                "| HAProxy 2.6, the same checks against the same responders ({WINDOW} s, 1 thread) | {cpu:.1} % of one core ({kernel:.0} % of it kernel): Switchboard / HAProxy = {:.2} |",
                self.cpu_pct / cpu.max(0.1)
            );
        }
        println!(
            "| server RSS | {} MiB ({} MiB after the page renders) |",
            self.rss_kib / 1024,
            self.rss_after_kib / 1024
        );
        println!(
            "| `GET /health`, {TARGETS} targets (the page lists 500, problems first), SSR ({RENDERS} sequential) | median {:.0} ms, max {:.0} ms, {} KB HTML |",
            self.full.median_ms,
            self.full.max_ms,
            self.full.bytes / 1024
        );
        println!(
            "| `GET /health?state=problems` ({} rows) | median {:.0} ms, max {:.0} ms, {} KB HTML |",
            self.problem_rows,
            self.problems.median_ms,
            self.problems.max_ms,
            self.problems.bytes / 1024
        );
        println!(
            "| `GET /api/health/live?since_ms=<1 s ago>` (~{} rows), wrk -c1 -d10s | {} |",
            self.delta_rows, self.delta
        );
    }
}

fn measure(server: &Server, password: &str) -> Result<Figures> {
    let cookie = sign_in(server.addr, "bench", password)?;
    let pid = server.pid();
    let started = Instant::now();
    // Every target checked once and its row written.
    let deadline = started + Duration::from_secs(120);
    let rows = loop {
        let live = live(server.addr, &cookie, 0)?;
        let n = live["rows"].as_array().map_or(0, Vec::len);
        if n >= TARGETS {
            break n;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {TARGETS} targets checked after 120 s");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let first_checked_s = started.elapsed().as_secs_f64();
    // Let the start-up burst settle.
    std::thread::sleep(Duration::from_secs(3));

    // A row is rewritten when what it says changes and otherwise every 10 s,
    // so its count is as of its `checked_ms`: each row's rate is its checks
    // between the two readings over the time between its two last checks.
    let counts = |v: &Value| -> std::collections::HashMap<i64, (u64, i64)> {
        v["rows"].as_array().map_or_else(Default::default, |rows| {
            rows.iter()
                .filter_map(|r| {
                    Some((
                        r["id"].as_i64()?,
                        (r["checks"].as_u64()?, r["checked_ms"].as_i64()?),
                    ))
                })
                .collect()
        })
    };
    let before = counts(&live(server.addr, &cookie, 0)?);
    let (user0, sys0) = cpu_ticks(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(WINDOW));
    let (user1, sys1) = cpu_ticks(pid)?;
    let secs = t0.elapsed().as_secs_f64();
    let rss_idle_kib = rss_kib(pid)?;
    let after = counts(&live(server.addr, &cookie, 0)?);
    let tck = clock_ticks();
    let (user, sys) = (user1 - user0, sys1 - sys0);
    #[allow(clippy::cast_precision_loss)]
    let cpu_pct = (user + sys) as f64 / tck / secs * 100.0;
    #[allow(clippy::cast_precision_loss)]
    let kernel_pct = sys as f64 * 100.0 / (user + sys).max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let checks_per_s: f64 = after
        .iter()
        .filter_map(|(id, &(c1, t1))| {
            let &(c0, t0) = before.get(id)?;
            (t1 > t0).then(|| c1.saturating_sub(c0) as f64 * 1000.0 / (t1 - t0) as f64)
        })
        .sum();

    let full = page(server.addr, &cookie, "/health")?;
    let problems = page(server.addr, &cookie, "/health?state=problems")?;
    let problem_rows = problems_rows(server.addr, &cookie)?;
    let rss_after_kib = rss_kib(pid)?;

    let recent = live(server.addr, &cookie, 0)?["now_ms"]
        .as_i64()
        .context("now_ms")?
        - 1000;
    let delta_rows = live(server.addr, &cookie, recent)?["rows"]
        .as_array()
        .map_or(0, Vec::len);
    let text = wrk_delta(
        server.addr,
        &format!("/api/health/live?since_ms={recent}"),
        &cookie,
    )?;
    let delta = format!(
        "p50 {}, p99 {}, {} req/s",
        super::latency(&text, "50%").unwrap_or("?"),
        super::latency(&text, "99%").unwrap_or("?"),
        super::field(&text, "Requests/sec:").unwrap_or("?")
    );
    Ok(Figures {
        first_checked_s,
        rows,
        checks_per_s,
        cpu_pct,
        kernel_pct,
        rss_kib: rss_idle_kib,
        rss_after_kib,
        full,
        problems,
        problem_rows,
        delta_rows,
        delta,
        haproxy: None,
    })
}

fn live(addr: SocketAddr, cookie: &str, since_ms: i64) -> Result<Value> {
    let reply = request(
        addr,
        "GET",
        &format!("/api/health/live?since_ms={since_ms}"),
        Some(cookie),
        None,
    )?;
    ensure!(
        reply.status == 200,
        "/api/health/live: HTTP {}",
        reply.status
    );
    Ok(serde_json::from_str(&reply.body)?)
}

/// How many rows the filtered page shows (its server function's JSON).
fn problems_rows(addr: SocketAddr, cookie: &str) -> Result<usize> {
    let reply = request(
        addr,
        "GET",
        "/api/health/overview?state=problems&pool=&q=",
        Some(cookie),
        None,
    )?;
    if reply.status != 200 {
        return Ok(0);
    }
    let v: Value = serde_json::from_str(&reply.body)?;
    Ok(v["targets"]
        .as_array()
        .or_else(|| v["rows"].as_array())
        .map_or(0, Vec::len))
}

/// RENDERS sequential requests: the HTML size, median and max time.
fn page(addr: SocketAddr, cookie: &str, path: &str) -> Result<Page> {
    let mut times = Vec::with_capacity(RENDERS);
    let mut bytes = 0;
    for _ in 0..RENDERS {
        let t = Instant::now();
        let reply = request(addr, "GET", path, Some(cookie), None)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(reply.status == 200, "{path}: HTTP {}", reply.status);
        bytes = reply.body.len();
    }
    times.sort_by(f64::total_cmp);
    Ok(Page {
        bytes,
        median_ms: (times[RENDERS / 2 - 1] + times[RENDERS / 2]) / 2.0,
        max_ms: times[RENDERS - 1],
    })
}

fn wrk_delta(addr: SocketAddr, path: &str, cookie: &str) -> Result<String> {
    let out = Command::new("wrk")
        .args(["-t", "1", "-c", "1", "--latency", "-d", "10s"])
        .args(["-H", &format!("Cookie: sb_session={cookie}")])
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running wrk")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// utime and stime of a process, clock ticks.
fn cpu_ticks(pid: u32) -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat field {n}"))
    };
    Ok((field(14)?, field(15)?))
}

pub(super) fn rss_kib(pid: u32) -> Result<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")
}

/// `getconf CLK_TCK` (100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
