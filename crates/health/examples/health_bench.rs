//! The health checker's cost: 10,000 targets (half TCP, half HTTP) at inter 2 s
//! against loopback responders in a child process, so that this process's CPU time is
//! the checker's alone.
//!
//! ```text
//! cargo run --release -p health --example health_bench -- [targets] [seconds] [threads] [tick ms]
//! ```
//!
//! Prints checks per second, the checker's CPU use as a percentage of one core, its
//! RSS and the p50/p99 check latency. `threads` 0 runs the checker on a current-thread
//! runtime (default 2 worker threads).

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::Ipv4Addr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use health::{Checker, CheckerSettings};
use model::health::{CheckKind, HttpCheck, TargetSpec, Timing};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const LISTENERS: usize = 100;
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve();
    }
    let targets: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let seconds: u64 = args.get(1).map_or(Ok(20), |a| a.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |a| a.parse())?;
    let tick_ms: u64 = args.get(3).map_or(Ok(10), |a| a.parse())?;

    // The responders, in a child process.
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (tcp_ports, http_ports) = ports.split_at(LISTENERS);

    let runtime = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let timing = Timing {
        inter_ms: 2000,
        fastinter_ms: 1000,
        downinter_ms: 2000,
        fall: 3,
        rise: 2,
        timeout_ms: 2000,
    };
    let specs: Vec<TargetSpec> = (0..targets)
        .map(|i| {
            let http = i % 2 == 1;
            let port = if http {
                http_ports[(i / 2) % http_ports.len()]
            } else {
                tcp_ports[(i / 2) % tcp_ports.len()]
            };
            TargetSpec {
                id: i64::try_from(i).unwrap_or(i64::MAX),
                name: format!("t{i}"),
                pool: "bench".to_owned(),
                address: format!("127.0.0.1:{port}"),
                kind: if http {
                    CheckKind::Http
                } else {
                    CheckKind::Tcp
                },
                http: HttpCheck {
                    path: "/healthz".to_owned(),
                    ..HttpCheck::default()
                },
                timing,
                cert_warn_days: 0,
            }
        })
        .collect();

    runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        // On the runtime chosen above (the server gives the checker a thread and
        // current-thread runtime of its own: `threads` 0 is that case).
        let settings = CheckerSettings {
            own_thread: false,
            tick: Duration::from_millis(tick_ms),
            ..CheckerSettings::default()
        };
        let checker = Checker::start(specs, settings, tx)?;
        let start_rss = rss_kib();
        println!(
            "{targets} targets ({} TCP, {} HTTP) on {} listeners, inter 2 s, {} runtime",
            targets - targets / 2,
            targets / 2,
            2 * LISTENERS,
            if threads == 0 {
                "current-thread".to_owned()
            } else {
                format!("{threads}-thread")
            }
        );
        // Warm up: every target has started (initial offsets are in 0..inter).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let checks0: u64 = checker.statuses().iter().map(|s| s.checks).sum();
        let cpu0 = cpu_ns();
        let (user0, sys0) = user_sys_ticks();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = cpu_ns().saturating_sub(cpu0);
        let (user1, sys1) = user_sys_ticks();
        let (user, sys) = (user1.saturating_sub(user0), sys1.saturating_sub(sys0));
        let wall = t0.elapsed();
        let snapshot_started = Instant::now();
        let statuses = checker.statuses();
        let snapshot = snapshot_started.elapsed();
        let checks: u64 = statuses.iter().map(|s| s.checks).sum::<u64>() - checks0;
        let mut latencies: Vec<u32> = statuses
            .iter()
            .flat_map(|s| s.recent.iter().flatten().copied())
            .collect();
        latencies.sort_unstable();
        let failed = statuses
            .iter()
            .filter(|s| s.last.as_ref().is_some_and(|o| !o.ok))
            .count();
        let down = statuses
            .iter()
            .filter(|s| s.state == model::health::HealthState::Down)
            .count();
        let mut changes = 0;
        while rx.try_recv().is_ok() {
            changes += 1;
        }
        let pct = |p: usize| {
            latencies
                .get((latencies.len().saturating_sub(1)) * p / 100)
                .copied()
                .unwrap_or_default()
        };
        let secs = wall.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let (rate, cpu_pct) = (checks as f64 / secs, cpu as f64 / 1e9 / secs * 100.0);
        println!(
            "measured over {secs:.1} s (after {:.1} s of warm-up)",
            t0.duration_since(started).as_secs_f64()
        );
        println!("checks/s:          {rate:.0} (expected {})", targets / 2);
        println!("checker CPU:       {cpu_pct:.1} % of one core");
        #[allow(clippy::cast_precision_loss)]
        let kernel_share = sys as f64 * 100.0 / (user + sys).max(1) as f64;
        println!("  of which kernel: {kernel_share:.0} % (user {user} ticks, system {sys} ticks)");
        #[allow(clippy::cast_precision_loss)]
        let per_check = cpu as f64 / 1e3 / checks.max(1) as f64;
        println!("CPU per check:     {per_check:.1} us");
        println!(
            "RSS:               {} MiB (at start {} MiB)",
            rss_kib() / 1024,
            start_rss / 1024
        );
        println!(
            "latency (last 30): p50 {} ms, p99 {} ms, max {} ms ({} samples)",
            pct(50),
            pct(99),
            latencies.last().copied().unwrap_or_default(),
            latencies.len()
        );
        println!("snapshot of {} statuses: {snapshot:?}", statuses.len());
        println!("last check failed: {failed}, DOWN: {down}, state changes: {changes}");
        if let Some(s) = statuses
            .iter()
            .find(|s| s.last.as_ref().is_some_and(|o| !o.ok))
        {
            println!("e.g. {:?}", s.last);
        }
        checker.stop();
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// This process's CPU time (all threads, user + system), ns.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// utime and stime of this process, clock ticks.
fn user_sys_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse().ok()).unwrap_or(0);
    (field(14), field(15))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The child: LISTENERS TCP acceptors and LISTENERS tiny HTTP responders; prints
/// their ports on one line and serves until its stdin closes.
fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut ports = Vec::new();
        for http in [false, true] {
            for _ in 0..LISTENERS {
                let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
                ports.push(listener.local_addr()?.port());
                tokio::spawn(async move {
                    loop {
                        let Ok((mut s, _)) = listener.accept().await else {
                            continue;
                        };
                        if !http {
                            continue;
                        }
                        tokio::spawn(async move {
                            let mut buf = [0u8; 1024];
                            let mut n = 0;
                            while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                                match s.read(&mut buf[n..]).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(k) => n += k,
                                }
                            }
                            let _ = s.write_all(RESPONSE).await;
                        });
                    }
                });
            }
        }
        let line: Vec<String> = ports.iter().map(u16::to_string).collect();
        let mut out = std::io::stdout();
        writeln!(out, "{}", line.join(" "))?;
        out.flush()?;
        // Until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        })
        .await?;
        Ok(())
    })
}
