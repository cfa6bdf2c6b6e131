//! `cargo xtask bench flood`: 200 connections for 60 s (`BENCH_FLOOD_SECONDS`)
//! against the release server at once: signed-in pages and the sign-in page,
//! basemap and coverage tiles that were never asked before (each one a render,
//! with the disk cache on), tiles out of range, and wrong passwords for
//! `admin`. One `wrk` per kind (`xtask/bench/flood.lua` counts the answers by
//! status), all started together.
//!
//! The server runs as behind HAProxy (`--trust-forwarded-for`): the wrong
//! passwords come from the attacker's address in `X-Forwarded-For`, and they
//! are for the real user the pages are loaded as.
//!
//! It fails unless every answer is one the server means to give: a page or a
//! redirect, a tile, 404 for a tile out of range, 429 or 503 (with
//! Retry-After) for work it sheds. wrk's socket errors (connect, read, write,
//! timeout) count as failures. Afterwards the server must still answer
//! `/healthz`, the attacked user must sign in from another address, and the
//! attacker's address must be refused even with the right password (the
//! throttle held). The server's RSS is read before, every 100 ms during, and
//! after.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{ensure, Context as _, Result};

use testbed::{
    http::{request, sign_in, sign_in_with},
    server::{add_user_with, random_password, Server},
};

use super::health::rss_kib;
use crate::Workspace;

/// Where the wrong passwords come from, and where the real user signs in
/// from afterwards (documentation ranges, as a proxy would report them).
const ATTACKER_ADDR: &str = "198.51.100.7";
const USER_ADDR: &str = "203.0.113.9";

/// One kind of request, its connections, and the statuses it may answer.
struct Kind {
    name: &'static str,
    what: &'static str,
    connections: u32,
    allowed: &'static [u16],
}

/// 200 connections in all.
const KINDS: &[Kind] = &[
    Kind {
        name: "page",
        what: "pages (map, checklist, health signed in; sign-in page)",
        connections: 60,
        allowed: &[200, 429, 503],
    },
    Kind {
        name: "base",
        what: "basemap tiles, zoom 6-14, random over the UK",
        connections: 40,
        allowed: &[200, 429, 503],
    },
    Kind {
        name: "cover",
        what: "coverage tiles, zoom 6-13, random over the UK",
        connections: 40,
        allowed: &[200, 204, 429, 503],
    },
    Kind {
        name: "far",
        what: "tiles out of range (zoom 21-30, x past the edge)",
        connections: 20,
        allowed: &[400, 404, 429, 503],
    },
    Kind {
        name: "login",
        what: "wrong passwords for the user, from one address",
        connections: 40,
        allowed: &[303, 429, 503],
    },
];

/// What one wrk printed: answers by status, requests/s, latency, socket errors.
struct Outcome {
    statuses: BTreeMap<i32, u64>,
    rps: String,
    p99: String,
    socket_errors: String,
}

pub(crate) fn run(ws: &Workspace, bin: &Path) -> Result<()> {
    let scratch = ws.target.join("bench-flood");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let data = scratch.join("data");
    let password = random_password()?;
    add_user_with(bin, &data, &[], "bench", "staff", &password)?;
    let cache = scratch.join("tile-cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let log = scratch.join("server.log");
    let mut server = Server::start_with(
        bin,
        &ws.site(),
        &data,
        &log,
        &["--tile-cache-dir", &cache_arg, "--trust-forwarded-for"],
    )?;
    let result = flood(ws, &server, &password, &cache);
    let clean = server.stop();
    let report = result.with_context(|| format!("server log: {}", log.display()))?;
    println!("{report}");
    ensure!(clean, "the server did not stop cleanly after the flood");
    Ok(())
}

fn flood(ws: &Workspace, server: &Server, password: &str, cache: &Path) -> Result<String> {
    let seconds: u64 = std::env::var("BENCH_FLOOD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cookie = sign_in(server.addr, "bench", password)?;
    let key = request(
        server.addr,
        "GET",
        "/api/tiles/key?sel=area:east-of-england",
        Some(&cookie),
        None,
    )?;
    let key: serde_json::Value = serde_json::from_str(&key.body).context("tile key")?;
    let cover = key["url"].as_str().context("tile key url")?.to_owned();
    let pid = server.pid();
    let rss_before = rss_kib(pid)?;

    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let script = ws.root.join("xtask/bench/flood.lua");
    let children: Vec<(&Kind, Child)> = KINDS
        .iter()
        .map(|k| Ok((k, wrk(server.addr, &script, k, &cookie, &cover, seconds)?)))
        .collect::<Result<_>>()?;
    let mut outcomes = Vec::new();
    for (kind, child) in children {
        let out = child.wait_with_output().context("waiting for wrk")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure!(
            out.status.success(),
            "wrk ({}) failed: {text}{}",
            kind.name,
            String::from_utf8_lossy(&out.stderr)
        );
        outcomes.push((kind, parse(&text)));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let rss_peak = peak.load(Ordering::Relaxed);
    // Let the queues drain, then the server must still serve and sign in.
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss_kib(pid)?;
    let health = request(server.addr, "GET", "/healthz", None, None)?;
    ensure!(
        health.status == 200,
        "/healthz after the flood: HTTP {}",
        health.status
    );
    sign_in_with(
        server.addr,
        "bench",
        password,
        &[&format!("X-Forwarded-For: {USER_ADDR}")],
    )
    .context("the attacked user signing in from another address after the flood")?;
    let attacker = sign_in_with(
        server.addr,
        "bench",
        password,
        &[&format!("X-Forwarded-For: {ATTACKER_ADDR}")],
    );
    ensure!(
        attacker.is_err(),
        "the attacker's address signed in with the right password after the flood: the throttle did not hold"
    );
    let cache_bytes = dir_bytes(cache);

    let mut problems = Vec::new();
    let mut out = format!(
        "Flood: {} connections for {seconds} s, one wrk per kind, loopback, release build, {} cores shared by server and wrk\n\n",
        KINDS.iter().map(|k| k.connections).sum::<u32>(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    out.push_str("| kind | connections | answers by status | requests/s | p99 | socket errors |\n|---|---|---|---|---|---|\n");
    for (kind, o) in &outcomes {
        let by_status = o
            .statuses
            .iter()
            .filter(|(s, _)| **s > 0)
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {} ({}) | {} | {by_status} | {} | {} | {} |\n",
            kind.name, kind.what, kind.connections, o.rps, o.p99, o.socket_errors
        ));
        for (status, n) in &o.statuses {
            if *status < 0 {
                problems.push(format!(
                    "{}: {n} answer(s) with HTTP {} and no Retry-After",
                    kind.name, -status
                ));
            } else if !u16::try_from(*status).is_ok_and(|s| kind.allowed.contains(&s)) {
                problems.push(format!("{}: {n} answer(s) with HTTP {status}", kind.name));
            }
        }
        if o.statuses.values().sum::<u64>() == 0 {
            problems.push(format!("{}: no answer at all", kind.name));
        }
        if o.socket_errors != "none" {
            problems.push(format!("{}: socket errors {}", kind.name, o.socket_errors));
        }
    }
    out.push_str(&format!(
        "\nServer RSS: {:.0} MiB before, {:.0} MiB at the peak, {:.0} MiB after. Tile disk cache after: {:.1} MiB.\n\
         After the flood: /healthz 200; the attacked user signed in from another address; the attacker's address was refused the right password.",
        mib(rss_before),
        mib(rss_peak),
        mib(rss_after),
        cache_bytes as f64 / 1_048_576.0
    ));
    ensure!(
        problems.is_empty(),
        "{out}\n\nanswers the server should not give:\n- {}",
        problems.join("\n- ")
    );
    Ok(out)
}

fn wrk(
    addr: SocketAddr,
    script: &Path,
    kind: &Kind,
    cookie: &str,
    cover: &str,
    seconds: u64,
) -> Result<Child> {
    Command::new("wrk")
        .args(["-t", "1", "-c", &kind.connections.to_string()])
        .args([
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "31s",
            "--latency",
        ])
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}"))
        .args([
            "--",
            kind.name,
            cookie,
            cover,
            &addr.to_string(),
            "bench",
            ATTACKER_ADDR,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting wrk")
}

fn parse(text: &str) -> Outcome {
    let statuses = text
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("status ")?.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    let p99 = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    Outcome {
        statuses,
        rps: field("Requests/sec:"),
        p99,
        socket_errors: text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Socket errors:"))
            .map_or_else(|| "none".to_owned(), |v| v.trim().to_owned()),
    }
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
