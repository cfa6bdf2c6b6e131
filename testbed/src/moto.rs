//! moto's EC2 server (installed by `cargo xtask`'s `tools::ensure_test_peers`),
//! and a peer that never answers (a region that hangs).

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{ensure, Context as _, Result};

use crate::http::{free_port, status};

/// The venv `cargo xtask` installs moto into (unless `MOTO_SERVER` names another
/// `moto_server`, whose folder then also has the venv's `python`).
pub const VENV: &str = "/var/cache/switchboard/moto-venv";

/// A program of moto's venv: `MOTO_SERVER`'s folder, else [`VENV`]'s `bin/`.
#[must_use]
pub fn venv_program(name: &str) -> String {
    std::env::var("MOTO_SERVER")
        .map(|m| m.replace("moto_server", name))
        .unwrap_or_else(|_| format!("{VENV}/bin/{name}"))
}

/// moto's EC2 server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
}

impl Moto {
    /// Starts moto and puts its test credentials in this process's environment,
    /// where the servers started next find them (the standard AWS chain).
    ///
    /// # Errors
    /// moto could not be started, or did not answer within 60 s.
    pub fn start() -> Result<Self> {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let bin = venv_program("moto_server");
        let addr = free_port()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("starting {bin} (`cargo xtask test` installs moto, or set MOTO_SERVER)")
            })?;
        let moto = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while status(addr, "/moto-api/").map_or(true, |s| s != 200) {
            ensure!(Instant::now() < deadline, "moto did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that accepts connections and never answers.
///
/// # Errors
/// No port could be bound.
pub fn silent_endpoint() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    Ok(addr)
}
