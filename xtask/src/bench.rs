//! `cargo xtask bench`: the release server under `wrk` on loopback, signed in
//! as staff, one bounded run per URL; then the same pages through HAProxy with
//! one and with three replicas on PostgreSQL. Figures are printed as Markdown
//! tables for docs/perf.md.

use std::{net::SocketAddr, process::Command};

use anyhow::{Context as _, Result};

use crate::{
    build, pg,
    replicas::{self, sign_in},
    serve::{add_user_with, random_password, Server},
    tools, Workspace,
};

/// URLs measured, with what they stand for.
const TARGETS: &[(&str, &str)] = &[
    ("/healthz", "health check (database ping)"),
    ("/map", "map page, server-side rendered"),
    (
        "/checklist",
        "checklist page, SSR with 40 items from SQLite",
    ),
    (
        "/api/checklist/template",
        "checklist server function (JSON)",
    ),
    (
        "/api/geo/land.geojson",
        "land outline (180 KB, gzipped once to 60 KB)",
    ),
];

pub(crate) fn run(ws: &Workspace) -> Result<()> {
    tools::ensure_build_tools(ws)?;
    if Command::new("wrk").arg("--version").output().is_err() {
        tools::apt_install(ws, &["wrk"])?;
    }
    build::site(ws)?;
    let bin = build::server(ws, build::Profile::Release)?;
    let scratch = ws.target.join("bench");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let data = scratch.join("data");
    let password = random_password()?;
    add_user_with(&bin, &data, &[], "bench", "staff", &password)?;
    let mut server = Server::start(&bin, &ws.site(), &data, &scratch.join("server.log"))?;
    let cookie = sign_in(server.addr, "bench", &password)?;
    let seconds = std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "10".into());
    let mut rows = Vec::new();
    for (path, what) in TARGETS {
        // One connection: the time one request takes. Sixteen: throughput.
        let single = wrk(server.addr, path, &cookie, &seconds, 1)?;
        let one = latency(&single, "50%").unwrap_or("?").to_owned();
        let text = wrk(server.addr, path, &cookie, &seconds, 16)?;
        let rps = field(&text, "Requests/sec:").unwrap_or("?");
        let p50 = latency(&text, "50%").unwrap_or("?");
        let p99 = latency(&text, "99%").unwrap_or("?");
        let errors = text
            .lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .unwrap_or("")
            .trim()
            .to_owned();
        rows.push(format!(
            "| `{path}` | {what} | {one} | {rps} | {p50} | {p99} | {errors} |"
        ));
    }
    server.stop();
    println!(
        "wrk -d{seconds}s per cell, loopback, release build, {} cores shared by server and wrk\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| URL | what | p50, 1 connection | requests/s, 16 connections | p50, 16 | p99, 16 | errors |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    replicas_bench(ws, &bin, &seconds)
}

/// `wrk` against `path` with the session cookie, `connections` connections.
fn wrk(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    seconds: &str,
    connections: u32,
) -> Result<String> {
    let threads = connections.clamp(1, 2).to_string();
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads,
            "-c",
            &connections.to_string(),
            "--latency",
            "-d",
        ])
        .arg(format!("{seconds}s"))
        .args(["-H", "Accept-Encoding: gzip"])
        .args(["-H", &format!("Cookie: sb_session={cookie}")])
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running wrk")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pages through HAProxy with 1 and with 3 replicas on one PostgreSQL, in the
/// same run so the ratio means something on a noisy machine.
fn replicas_bench(ws: &Workspace, bin: &std::path::Path, seconds: &str) -> Result<()> {
    let cluster = pg::Cluster::start(ws)?;
    let url = cluster.database("switchboard_bench")?;
    let scratch = ws.target.join("bench-replicas");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let password = random_password()?;
    let db = ["--database-url", url.as_str()];
    add_user_with(bin, &scratch, &db, "bench", "staff", &password)?;
    let mut servers = Vec::new();
    for i in 1..=3 {
        let log = scratch.join(format!("replica{i}.log"));
        servers.push(Server::start_with(
            bin,
            &ws.site(),
            &scratch.join(format!("d{i}")),
            &log,
            &db,
        )?);
    }
    let mut table = Vec::new();
    for n in [1usize, 3] {
        let addrs: Vec<SocketAddr> = servers.iter().take(n).map(|s| s.addr).collect();
        let proxy = replicas::start_haproxy(ws, &scratch, &addrs)?;
        let cookie = sign_in(proxy.addr, "bench", &password)?;
        // A coverage tile of Bedfordshire at zoom 9, rendered once per replica
        // before the run: cached tile throughput.
        let key = replicas::request(
            proxy.addr,
            "GET",
            "/api/tiles/key?sel=county:bedfordshire",
            Some(&cookie),
            None,
        )?;
        let key: serde_json::Value = serde_json::from_str(&key.body)?;
        let tile = key["url"]
            .as_str()
            .context("tile key")?
            .replace("{z}", "9")
            .replace("{x}", "255")
            .replace("{y}", "169");
        for addr in &addrs {
            replicas::request(*addr, "GET", &tile, Some(&cookie), None)?;
        }
        for (label, path) in [
            ("/map", "/map".to_owned()),
            ("/checklist", "/checklist".to_owned()),
            ("coverage tile, cached", tile),
        ] {
            let text = wrk(proxy.addr, &path, &cookie, seconds, 64)?;
            let rps: f64 = field(&text, "Requests/sec:")
                .and_then(|r| r.parse().ok())
                .unwrap_or(0.0);
            let p99 = latency(&text, "99%").unwrap_or("?").to_owned();
            table.push((n, label, rps, p99));
        }
    }
    println!(
        "\nThrough HAProxy (balance leastconn), PostgreSQL on loopback, wrk -c64 -d{seconds}s:\n"
    );
    println!("| URL | 1 replica, req/s | p99 | 3 replicas, req/s | p99 | ratio 3:1 |");
    println!("|---|---|---|---|---|---|");
    for path in ["/map", "/checklist", "coverage tile, cached"] {
        let one = table.iter().find(|r| r.0 == 1 && r.1 == path);
        let three = table.iter().find(|r| r.0 == 3 && r.1 == path);
        if let (Some(a), Some(b)) = (one, three) {
            println!(
                "| `{path}` | {:.0} | {} | {:.0} | {} | {:.2} |",
                a.2,
                a.3,
                b.2,
                b.3,
                b.2 / a.2.max(1.0)
            );
        }
    }
    Ok(())
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}

fn latency<'a>(text: &'a str, pct: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(pct))
        .and_then(|l| l.split_whitespace().nth(1))
}
