//! A throwaway PostgreSQL cluster from Debian's `postgresql` package: `initdb` in
//! a temporary folder, `postgres` on a free loopback port, everything removed
//! when dropped. No system service is started or touched.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context as _, Result};

use testbed::http::free_port;

use crate::{sh, tools, Workspace};

pub(crate) struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
    as_user: Option<&'static str>,
}

/// The newest installed server's bin folder, installing the package if needed.
fn bin_dir(ws: &Workspace) -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let v: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((v, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    tools::apt_install(ws, &["postgresql"])?;
    find().context("postgresql installed, but no /usr/lib/postgresql/*/bin/initdb")
}

impl Cluster {
    /// Creates and starts a cluster. As root, the server runs as the `postgres`
    /// user (PostgreSQL refuses to run as root).
    pub(crate) fn start(ws: &Workspace) -> Result<Self> {
        let bin = bin_dir(ws)?;
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .context("temporary folder for PostgreSQL")?;
        let as_user = crate::tools::is_root().then_some("postgres");
        if let Some(user) = as_user {
            sh(ws, Command::new("chown").arg(user).arg(dir.path()))?;
        }
        let port = free_port()?.port();
        let cluster = Self {
            bin,
            dir,
            port,
            as_user,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        cluster.start_server()?;
        eprintln!(
            "xtask: PostgreSQL on 127.0.0.1:{port}, in {}",
            cluster.dir.path().display()
        );
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The admin URL (database `postgres`); tests create their own databases.
    pub(crate) fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A URL for `database`, created if missing.
    pub(crate) fn database(&self, database: &str) -> Result<String> {
        let exists = self.query(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{database}'"),
        )?;
        if exists != "1" {
            self.query("postgres", &format!("CREATE DATABASE {database}"))
                .with_context(|| format!("cannot create database {database}"))?;
        }
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.port
        ))
    }

    /// Runs `sql` in `database` with psql; the rows, one per line, `|` between fields.
    pub(crate) fn query(&self, database: &str, sql: &str) -> Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
            .output()
            .context("psql")?;
        if !out.status.success() {
            bail!(
                "psql: {}: {}",
                sql,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub(crate) fn start_server(&self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.dir.path().join("server.log").to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        )
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "\nserver log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
