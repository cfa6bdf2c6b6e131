//! The `switchboard` binary as a child process, and its `user add` command.

use std::{
    io::{Read as _, Write as _},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::http::{free_port, status};

/// A server child process on a free loopback port, stopped (SIGTERM, then
/// SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `bin` serving `site` with its data in `data_dir`, its output in
    /// `log`; returns once `/healthz` answers 200.
    ///
    /// # Errors
    /// The server could not be started, exited, or was not ready within 60 s.
    pub fn start(bin: &Path, site: &Path, data_dir: &Path, log: &Path) -> Result<Self> {
        Self::start_with(bin, site, data_dir, log, &[])
    }

    /// As [`Server::start`], with more arguments (a database URL, say).
    ///
    /// # Errors
    /// As [`Server::start`].
    pub fn start_with(
        bin: &Path,
        site: &Path,
        data_dir: &Path,
        log: &Path,
        extra: &[&str],
    ) -> Result<Self> {
        let addr = free_port()?;
        let log = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .args(extra)
            .arg("--bind")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--site-root")
            .arg(site)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Self { child, addr };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited before it was ready ({status})");
            }
            if status(self.addr, "/healthz").is_ok_and(|s| s == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server was not ready within 60 s")
    }

    /// The process id (for `kill -9` in the replica tests).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for a graceful exit; true when it exited cleanly in time.
    pub fn stop(&mut self) -> bool {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh random password (24 hex digits).
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn random_password() -> Result<String> {
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `switchboard user add ... --password-stdin`, with the data in `data`.
///
/// # Errors
/// The command could not be run or failed.
pub fn add_user(bin: &Path, data: &Path, user: &str, role: &str, password: &str) -> Result<()> {
    add_user_with(bin, data, &[], user, role, password)
}

/// As [`add_user`], with more arguments before the subcommand (a database URL).
///
/// # Errors
/// As [`add_user`].
pub fn add_user_with(
    bin: &Path,
    data: &Path,
    extra: &[&str],
    user: &str,
    role: &str,
    password: &str,
) -> Result<()> {
    let mut child = Command::new(bin)
        .args(extra)
        .args([
            "user",
            "add",
            "--username",
            user,
            "--role",
            role,
            "--password-stdin",
        ])
        .env("SWITCHBOARD_DATA_DIR", data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("switchboard user add")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("switchboard user add {user} failed ({status})");
    }
    Ok(())
}
