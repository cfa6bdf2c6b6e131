//! Installs what the build and the tests need when it is missing: the wasm32
//! target, wasm-bindgen's CLI at the version in Cargo.lock, npm packages from
//! their lockfiles, Debian's Chromium, and the tests' real peers (dnsmasq,
//! openssl, haproxy, iptables, nftables; moto in a Python venv of its own).

use std::{path::Path, process::Command};

use anyhow::{bail, Context as _, Result};

use crate::{sh, Workspace};

/// The wasm target, the wasm-bindgen CLI and the npm packages of the build.
pub(crate) fn ensure_build_tools(ws: &Workspace) -> Result<()> {
    ensure_wasm_target(ws)?;
    ensure_wasm_bindgen(ws)?;
    ensure_npm()?;
    npm_ci(ws, &ws.root)
}

/// Chromium and Playwright for the browser tests.
pub(crate) fn ensure_browser_tools(ws: &Workspace) -> Result<()> {
    if !Path::new("/usr/bin/chromium").exists() {
        apt_install(ws, &["chromium"])?;
    }
    npm_ci(ws, &ws.root.join("end2end"))
}

/// The real peers of the network checks' tests (`services::probe`): dnsmasq and openssl;
/// of the health checks' (`services::health`): haproxy; of the EC2 inventory's
/// (`services::firewall::inventory`): moto.
pub(crate) fn ensure_test_peers(ws: &Workspace) -> Result<()> {
    let mut missing = Vec::new();
    // The firewall's tests: real iptables and nft in network namespaces (`ip`),
    // a listener and clients in Python; moto's venv is made from Debian's Python.
    for (path, package) in [
        ("/usr/sbin/iptables-restore", "iptables"),
        ("/usr/sbin/nft", "nftables"),
        ("/usr/sbin/ip", "iproute2"),
        ("/usr/bin/python3", "python3"),
    ] {
        if !Path::new(path).exists() {
            missing.push(package);
        }
    }
    if !Path::new("/usr/sbin/dnsmasq").exists() {
        missing.push("dnsmasq-base");
    }
    if Command::new("openssl").arg("version").output().is_err() {
        missing.push("openssl");
    }
    if !Path::new(testbed::haproxy::BIN).exists() {
        missing.push("haproxy");
    }
    if !missing.is_empty() {
        apt_install(ws, &missing)?;
    }
    ensure_moto(ws)
}

/// HAProxy alone, for the benchmarks that put it in front of the server.
pub(crate) fn ensure_haproxy(ws: &Workspace) -> Result<()> {
    if Path::new(testbed::haproxy::BIN).exists() {
        return Ok(());
    }
    apt_install(ws, &["haproxy"])
}

/// Where the inventory's tests look for moto (unless `MOTO_SERVER` says otherwise).
const MOTO_VENV: &str = testbed::moto::VENV;
/// The moto seen working with the tests (pagination by reservation, 38 regions).
const MOTO_REQUIREMENT: &str = "moto[server,ec2]==5.2.5";

/// moto's EC2 server in a venv of its own, from pip, when `moto_server` is missing.
/// Debian's system Python (not a pyenv shim on PATH) makes the venv; it needs
/// `python3-venv` for that.
fn ensure_moto(ws: &Workspace) -> Result<()> {
    let venv = Path::new(MOTO_VENV);
    if venv.join("bin/moto_server").exists() {
        return Ok(());
    }
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let can_venv = Command::new(python)
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can_venv {
        apt_install(ws, &["python3-venv"])?;
    }
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    eprintln!("xtask: installing {MOTO_REQUIREMENT} into {MOTO_VENV}");
    // --clear: a venv left half-made by an interrupted run starts over.
    sh(
        ws,
        Command::new(python).args(["-m", "venv", "--clear", MOTO_VENV]),
    )?;
    sh(
        ws,
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ]),
    )
}

fn ensure_wasm_target(ws: &Workspace) -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown") => Ok(()),
        Ok(_) => sh(
            ws,
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        ),
        Err(_) => {
            // No rustup: trust that the toolchain has the target (the build says if not).
            eprintln!("xtask: rustup not found; assuming wasm32-unknown-unknown is installed");
            Ok(())
        }
    }
}

/// The version of a package in Cargo.lock.
fn locked_version(ws: &Workspace, package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(ws.root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .with_context(|| format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let end = lock[start..].find('"').context("malformed Cargo.lock")? + start;
    Ok(lock[start..end].to_owned())
}

fn ensure_wasm_bindgen(ws: &Workspace) -> Result<()> {
    let want = locked_version(ws, "wasm-bindgen")?;
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if have == format!("wasm-bindgen {want}") {
        return Ok(());
    }
    eprintln!("xtask: installing wasm-bindgen-cli {want} (found {have:?})");
    // Not --locked: its lockfile pins a crate version the registry no longer serves.
    sh(
        ws,
        Command::new(crate::cargo()).args(["install", "wasm-bindgen-cli", "--version", &want]),
    )
}

fn ensure_npm() -> Result<()> {
    if Command::new("npm").arg("--version").output().is_ok() {
        return Ok(());
    }
    bail!("npm is missing: install Node.js 20 or newer (Debian: apt-get install nodejs npm)")
}

/// `npm ci` in `dir` unless node_modules already matches the lockfile.
fn npm_ci(ws: &Workspace, dir: &Path) -> Result<()> {
    let lock = dir.join("package-lock.json");
    let stamp = dir.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::read(&lock), std::fs::read(&stamp)) {
        (Ok(a), Ok(b)) => packages_match(&a, &b),
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    sh(
        ws,
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(dir),
    )
}

/// Whether node_modules' record lists the same packages at the same versions
/// as the lockfile.
fn packages_match(lock: &[u8], installed: &[u8]) -> bool {
    let parse = |b: &[u8]| -> Option<Vec<(String, String)>> {
        let v: serde_json::Value = serde_json::from_slice(b).ok()?;
        let mut out: Vec<(String, String)> = v["packages"]
            .as_object()?
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, p)| {
                (
                    k.clone(),
                    p["version"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort();
        Some(out)
    };
    matches!((parse(lock), parse(installed)), (Some(a), Some(b)) if a == b)
}

/// Whether this process runs as root (it may install packages).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub(crate) fn apt_install(ws: &Workspace, packages: &[&str]) -> Result<()> {
    if !is_root() {
        bail!(
            "{} missing: install it (Debian: sudo apt-get install {})",
            packages.join(", "),
            packages.join(" ")
        );
    }
    sh(ws, Command::new("apt-get").args(["update", "-qq"]))?;
    sh(
        ws,
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
