//! Builds the site (wasm32 -> wasm-bindgen -> wasm-opt, CSS, Leaflet, favicon,
//! precompressed .gz copies) and the server binary.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};
use flate2::{write::GzEncoder, Compression};

use crate::{cargo, sh, timed, Workspace};

/// The output name the app asks for (`app::OUTPUT_NAME`).
const NAME: &str = "switchboard";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    Dev,
    Release,
}

impl Profile {
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Self::Dev => "debug",
            Self::Release => "release",
        }
    }
}

/// Builds everything the browser loads into `<target>/site`.
pub(crate) fn site(ws: &Workspace) -> Result<()> {
    let site = ws.site();
    let pkg = site.join("pkg");
    fs::create_dir_all(&pkg)?;

    timed("wasm build (wasm-release profile)", || {
        sh(
            ws,
            Command::new(cargo())
                .args([
                    "build",
                    "-p",
                    "frontend",
                    "--lib",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--profile",
                    "wasm-release",
                ])
                .env_remove("LEPTOS_OUTPUT_NAME"),
        )
    })?;
    let raw = ws
        .target
        .join("wasm32-unknown-unknown/wasm-release/frontend.wasm");
    timed("wasm-bindgen", || {
        sh(
            ws,
            Command::new("wasm-bindgen")
                .args([
                    "--target",
                    "web",
                    "--no-typescript",
                    "--out-name",
                    NAME,
                    "--out-dir",
                ])
                .arg(&pkg)
                .arg(&raw),
        )
    })?;
    let wasm = pkg.join(format!("{NAME}_bg.wasm"));
    // binaryen's wasm-opt from npm: Debian's older one emits a broken module.
    timed("wasm-opt -Oz", || {
        sh(
            ws,
            Command::new(ws.root.join("node_modules/.bin/wasm-opt"))
                .args([
                    "-Oz",
                    "--enable-bulk-memory",
                    "--enable-nontrapping-float-to-int",
                ])
                .arg(&wasm)
                .arg("-o")
                .arg(&wasm),
        )
    })?;

    fs::copy(
        ws.root.join("style/main.css"),
        pkg.join(format!("{NAME}.css")),
    )
    .context("copying style/main.css")?;
    fs::copy(ws.root.join("style/favicon.svg"), site.join("favicon.svg"))
        .context("copying style/favicon.svg")?;
    let leaflet = site.join("leaflet");
    let dist = ws.root.join("node_modules/leaflet/dist");
    copy_dir(&dist.join("images"), &leaflet.join("images"))?;
    for f in ["leaflet.js", "leaflet.css"] {
        fs::copy(dist.join(f), leaflet.join(f)).with_context(|| format!("copying {f}"))?;
    }

    for dir in [&pkg, &leaflet] {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path
                .extension()
                .is_some_and(|e| ["js", "wasm", "css"].iter().any(|x| e == *x))
            {
                gzip(&path)?;
            }
        }
    }
    let raw_size = fs::metadata(&wasm)?.len();
    let gz_size = fs::metadata(gz_path(&wasm))?.len();
    eprintln!(
        "xtask: {NAME}_bg.wasm {} KB raw, {} KB gzip",
        raw_size / 1024,
        gz_size / 1024
    );
    Ok(())
}

/// Builds the `switchboard` binary; returns its path.
pub(crate) fn server(ws: &Workspace, profile: Profile) -> Result<PathBuf> {
    timed(&format!("server build ({})", profile.dir()), || {
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "-p", "server", "--bin", "switchboard"])
            .env_remove("LEPTOS_OUTPUT_NAME");
        match profile {
            Profile::Release => cmd.arg("--release"),
            Profile::Dev => cmd.args(crate::SYSTEM_TESTS),
        };
        sh(ws, &mut cmd)
    })?;
    Ok(ws.target.join(profile.dir()).join("switchboard"))
}

fn gz_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

fn gzip(path: &Path) -> Result<()> {
    let data = fs::read(path)?;
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::best());
    enc.write_all(&data)?;
    fs::write(gz_path(path), enc.finish()?)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
