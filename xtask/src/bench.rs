//! `cargo xtask bench`: the release server under `wrk` on loopback, signed in
//! as staff, one bounded run per URL; coverage tiles side by side with Mapnik
//! (rendering) and nginx (serving cached tiles); then the same pages through
//! HAProxy with one and with three replicas on PostgreSQL. Figures are printed
//! as Markdown tables for docs/perf.md. `cargo xtask bench tiles` runs only the
//! tile comparisons, `cargo xtask bench health` only the health checker and
//! page at 10,000 targets (see `bench/health.rs`), `cargo xtask bench flood`
//! only the flood (200 connections for 60 s of pages, tiles and wrong
//! passwords, see `bench/flood.rs`), which the whole bench runs last.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use testbed::{
    http::{request, sign_in},
    server::{add_user_with, random_password, Server},
};

use crate::{build, pg, tools, Workspace};

mod flood;
mod health;

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
    // `cargo xtask bench health`: the health checker and page at 10,000 targets
    // alone. Server-side rendering needs no fresh wasm: the site is built only
    // when there is none.
    if std::env::args().any(|a| a == "health") {
        if !ws.site().join("pkg").exists() {
            build::site(ws)?;
        }
        let bin = build::server(ws, build::Profile::Release)?;
        return health::run(ws, &bin);
    }
    if std::env::args().any(|a| a == "flood") {
        if !ws.site().join("pkg").exists() {
            build::site(ws)?;
        }
        let bin = build::server(ws, build::Profile::Release)?;
        return flood::run(ws, &bin);
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
    // `cargo xtask bench tiles`: the tile comparisons alone.
    let only_tiles = std::env::args().any(|a| a == "tiles");
    for (path, what) in TARGETS.iter().filter(|_| !only_tiles) {
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
    let tiles = tile_benches(ws, &bin, &data, &scratch, &server, &cookie, &seconds);
    if only_tiles {
        server.stop();
        return tiles;
    }
    server.stop();
    tiles?;
    println!(
        "wrk -d{seconds}s per cell, loopback, release build, {} cores shared by server and wrk\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| URL | what | p50, 1 connection | requests/s, 16 connections | p50, 16 | p99, 16 | errors |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    replicas_bench(ws, &bin, &seconds)?;
    flood::run(ws, &bin)
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
    tools::ensure_haproxy(ws)?;
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
        let proxy = testbed::haproxy::start(&scratch, &addrs)?;
        let cookie = sign_in(proxy.addr, "bench", &password)?;
        // A coverage tile of Bedfordshire at zoom 9, rendered once per replica
        // before the run: cached tile throughput.
        let key = request(
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
            request(*addr, "GET", &tile, Some(&cookie), None)?;
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

/// The selection and zooms of the tile comparisons.
const TILE_SELECTION: &str = "area:east-of-england";
const TILE_ZOOMS: &str = "5-10";

/// Coverage tiles: rendering against Mapnik (the same reach polygons, tiles
/// and style), then serving cached tiles against nginx serving the same PNG
/// files from disk.
fn tile_benches(
    ws: &Workspace,
    bin: &Path,
    data: &Path,
    scratch: &Path,
    server: &Server,
    cookie: &str,
    seconds: &str,
) -> Result<()> {
    let python = Path::new("/usr/bin/python3");
    let has_mapnik = Command::new(python)
        .args(["-c", "import mapnik"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_mapnik {
        tools::apt_install(ws, &["python3-mapnik"])?;
    }
    if Command::new("nginx").arg("-v").output().is_err() {
        tools::apt_install(ws, &["nginx-light"])?;
    }
    // The selection's outlets as the app's own GeoJSON pages, and its boundary.
    let get = |path: &str| -> Result<String> {
        let reply = request(server.addr, "GET", path, Some(cookie), None)?;
        anyhow::ensure!(reply.status == 200, "{path}: HTTP {}", reply.status);
        Ok(reply.body)
    };
    let pages_dir = scratch.join("pages");
    std::fs::create_dir_all(&pages_dir)?;
    let index: serde_json::Value = serde_json::from_str(&get(&format!(
        "/api/features/index.json?sel={TILE_SELECTION}"
    ))?)?;
    let bounds: Vec<String> = index["bounds"]
        .as_array()
        .context("index bounds")?
        .iter()
        .map(|v| v.as_f64().unwrap_or_default().to_string())
        .collect();
    let boundary = pages_dir.join("boundary.geojson");
    std::fs::write(
        &boundary,
        get(&format!(
            "/api/features/boundary.geojson?sel={TILE_SELECTION}"
        ))?,
    )?;
    let mut pages: Vec<PathBuf> = Vec::new();
    for (i, page) in index["pages"]
        .as_array()
        .context("index pages")?
        .iter()
        .enumerate()
    {
        let url = page["geojson"].as_str().context("page url")?;
        let file = pages_dir.join(format!("{}.geojson", i + 1));
        std::fs::write(&file, get(url)?)?;
        pages.push(file);
    }
    let mapnik = Command::new(python)
        .arg(ws.root.join("xtask/bench/mapnik_tiles.py"))
        .arg(bounds.join(","))
        .arg(TILE_ZOOMS)
        .arg(&boundary)
        .args(&pages)
        .output()
        .context("running Mapnik")?;
    anyhow::ensure!(
        mapnik.status.success(),
        "Mapnik: {}",
        String::from_utf8_lossy(&mapnik.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&mapnik.stdout)?;
    let m_tiles = m["tiles"].as_u64().unwrap_or(0);
    let m_ms = m["seconds"].as_f64().unwrap_or(0.0) * 1000.0 / m_tiles.max(1) as f64;

    // Switchboard: the seed command renders the same tiles one at a time into
    // a disk cache (which nginx then serves).
    // Three timing passes in fresh processes (nothing cached), the best
    // counted as for Mapnik; a last pass writes the disk cache nginx serves.
    let disk = scratch.join("tiles");
    let seed = |cache: Option<&Path>| -> Result<(u64, f64, String)> {
        let mut cmd = Command::new(bin);
        cmd.arg("--data-dir").arg(data);
        if let Some(dir) = cache {
            cmd.arg("--tile-cache-dir").arg(dir);
        }
        let out = cmd
            .args([
                "tiles",
                "seed",
                "--sel",
                TILE_SELECTION,
                "--zooms",
                TILE_ZOOMS,
            ])
            .output()
            .context("seeding tiles")?;
        anyhow::ensure!(
            out.status.success(),
            "tiles seed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // "seeded N tiles of ... in S s (...); data version V"
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        let tiles: u64 = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
        let secs: f64 = words
            .iter()
            .position(|w| *w == "in")
            .and_then(|i| words.get(i + 1))
            .and_then(|w| w.parse().ok())
            .unwrap_or(f64::INFINITY);
        Ok((tiles, secs, text))
    };
    let mut best = (0, f64::INFINITY, String::new());
    for _ in 0..3 {
        let pass = seed(None)?;
        if pass.1 < best.1 {
            best = pass;
        }
    }
    let (s_tiles, s_secs, out) = best;
    seed(Some(&disk))?;
    let s_ms = s_secs * 1000.0 / s_tiles.max(1) as f64;
    anyhow::ensure!(
        s_tiles == m_tiles,
        "the two renderers drew different tile sets ({s_tiles} vs {m_tiles})"
    );
    println!(
        "Coverage tiles of {TILE_SELECTION} ({} outlets), zooms {TILE_ZOOMS}: {s_tiles} tiles of 256 px, one thread each, PNG included, best of 3 passes each\n",
        index["total"]
    );
    println!("| renderer | ms per tile | PNG bytes | Switchboard is |");
    println!("|---|---|---|---|");
    println!(
        "| Mapnik {} (python3-mapnik) | {m_ms:.2} | {} | |",
        mapnik_version(python),
        m["bytes"]
    );
    println!(
        "| Switchboard (tiny-skia + image) | {s_ms:.2} | see seed summary | {:.1}x faster |\n",
        m_ms / s_ms.max(1e-9)
    );
    println!("{}", out.trim());

    // Serving: one covered tile, cached, from both.
    let key: serde_json::Value =
        serde_json::from_str(&get(&format!("/api/tiles/key?sel={TILE_SELECTION}"))?)?;
    let key = key["key"].as_str().context("key")?.to_owned();
    let tile = "9/255/169.png";
    let file = walk(&disk)
        .into_iter()
        .find(|p| p.ends_with(tile))
        .context("the seeded tile on disk")?;
    let root = file
        .ancestors()
        .nth(4)
        .context("tile cache layout")?
        .to_path_buf();
    let rel = file.strip_prefix(&root)?.to_string_lossy().into_owned();
    let port = testbed::http::free_port()?;
    let conf = scratch.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user root;\nworker_processes auto;\npid {pid};\nerror_log {err};\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  types {{ image/png png; }}\n  server {{\n    listen {port};\n    root {root};\n    etag on;\n  }}\n}}\n",
            pid = scratch.join("nginx.pid").display(),
            err = scratch.join("nginx.err").display(),
            root = root.display(),
        ),
    )?;
    let mut nginx = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .spawn()
        .context("starting nginx")?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ours = format!("/tiles/coverage/{key}/{tile}");
    // Warm: the first request renders (or reads) the tile.
    get(&ours)?;
    let result = (|| -> Result<()> {
        let sb = wrk_tile(server.addr, &ours, Some(cookie), seconds)?;
        let ng = wrk_tile(port, &format!("/{rel}"), None, seconds)?;
        println!(
            "\nA cached coverage tile ({} bytes), wrk -t2 -c64 -d{seconds}s, loopback, both servers on the same 2 cores as wrk\n",
            std::fs::metadata(&file)?.len()
        );
        println!("| server | requests/s | p50 | p99 | errors |");
        println!("|---|---|---|---|---|");
        for (name, (rps, p50, p99, errors)) in [
            ("nginx 1.22 (sendfile)", &ng),
            ("Switchboard (memory cache, signed key)", &sb),
        ] {
            println!("| {name} | {rps:.0} | {p50} | {p99} | {errors} |");
        }
        println!("\nSwitchboard / nginx = {:.2}\n", sb.0 / ng.0.max(1.0));
        Ok(())
    })();
    // SIGQUIT: nginx's graceful stop, which takes its workers with it (a
    // SIGKILL to the master leaves them running).
    let quit = Command::new("kill")
        .args(["-QUIT", &nginx.id().to_string()])
        .status();
    if !quit.is_ok_and(|s| s.success()) {
        let _ = nginx.kill();
    }
    let _ = nginx.wait();
    result
}

fn mapnik_version(python: &Path) -> String {
    Command::new(python)
        .args(["-c", "import mapnik; print(mapnik.mapnik_version())"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or_else(
            || "?".into(),
            |v| format!("{}.{}.{}", v / 100_000, v / 100 % 1000, v % 100),
        )
}

/// `wrk` at 64 connections: requests/s, p50, p99 and any error line.
fn wrk_tile(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    seconds: &str,
) -> Result<(f64, String, String, String)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "2", "-c", "64", "--latency", "-d"])
        .arg(format!("{seconds}s"));
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: sb_session={c}")]);
    }
    let out = cmd
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = field(&text, "Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .unwrap_or("none")
        .trim()
        .to_owned();
    Ok((
        rps,
        latency(&text, "50%").unwrap_or("?").to_owned(),
        latency(&text, "99%").unwrap_or("?").to_owned(),
        errors,
    ))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
