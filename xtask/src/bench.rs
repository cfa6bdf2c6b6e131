//! `cargo xtask bench`: the release server under `wrk` on loopback, one
//! bounded run per URL, figures printed as a Markdown table for docs/perf.md.

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::{build, serve::Server, tools, Workspace};

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
    let mut server = Server::start(
        &bin,
        &ws.site(),
        &scratch.join("data"),
        &scratch.join("server.log"),
    )?;
    let seconds = std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "10".into());
    let mut rows = Vec::new();
    for (path, what) in TARGETS {
        let url = format!("http://{}{path}", server.addr);
        let wrk = |threads: &str, connections: &str| -> Result<String> {
            let out = Command::new("wrk")
                .args(["-t", threads, "-c", connections, "--latency", "-d"])
                .arg(format!("{seconds}s"))
                .args(["-H", "Accept-Encoding: gzip"])
                .arg(&url)
                .output()
                .context("running wrk")?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        // One connection: the time one request takes. Sixteen: throughput.
        let single = wrk("1", "1")?;
        let one = latency(&single, "50%").unwrap_or("?").to_owned();
        let text = wrk("2", "16")?;
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
