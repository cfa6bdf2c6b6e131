//! HAProxy in the foreground, with the configuration the deployment guide
//! (docs/deploy.md) recommends, on loopback ports.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};

use crate::http::{free_port, request, wait_for};

/// Where Debian's `haproxy` package puts the program.
pub const BIN: &str = "/usr/sbin/haproxy";

/// HAProxy in the foreground, stopped when dropped.
pub struct Haproxy {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Haproxy {
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error with its log if HAProxy has exited.
    ///
    /// # Errors
    /// HAProxy has exited, or cannot be asked.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "haproxy exited ({status}): {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration the deployment guide recommends, on loopback ports.
fn config(front: SocketAddr, backends: &[SocketAddr]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, a)| format!("    server r{} {a} check inter 2000 fall 3 rise 2\n", i + 1))
        .collect();
    format!(
        "global\n    maxconn 4096\n\
         defaults\n    mode http\n    option httplog\n    option forwardfor\n    option redispatch\n    retries 3\n\
         \x20   timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n    timeout http-keep-alive 5s\n\
         frontend web\n    bind {front}\n    default_backend switchboard\n\
         backend switchboard\n    balance leastconn\n    option httpchk GET /healthz\n    http-check expect status 200\n{servers}"
    )
}

/// HAProxy in front of `backends` as the deployment guide has it, serving
/// `/healthz` before this returns.
///
/// # Errors
/// As [`spawn`], or HAProxy did not serve `/healthz` within 20 s.
pub fn start(dir: &Path, backends: &[SocketAddr]) -> Result<Haproxy> {
    let front = free_port()?;
    let proxy = spawn(dir, front, &config(front, backends))?;
    wait_for(Duration::from_secs(20), "HAProxy to serve /healthz", || {
        Ok(request(front, "GET", "/healthz", None, None).is_ok_and(|r| r.status == 200))
    })?;
    Ok(proxy)
}

/// HAProxy in the foreground on `config` (written to `dir/haproxy.cfg`, its
/// log beside it); stopped when dropped.
///
/// # Errors
/// HAProxy is not installed at [`BIN`], or could not be started.
pub fn spawn(dir: &Path, front: SocketAddr, config: &str) -> Result<Haproxy> {
    if !Path::new(BIN).exists() {
        bail!("no {BIN}: install Debian's haproxy (`cargo xtask test` does)");
    }
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config)?;
    let log = dir.join("haproxy.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(BIN)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting haproxy")?;
    Ok(Haproxy {
        child,
        addr: front,
        log,
    })
}
