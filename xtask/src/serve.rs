//! Starting the server: for people (`cargo xtask run`) and for the browser
//! tests, which always stop the server they started.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{build, sh, timed, tools, Workspace};

/// `cargo xtask run`: release build, then serve in the foreground.
pub(crate) fn run(ws: &Workspace, extra: &[String]) -> Result<()> {
    tools::ensure_build_tools(ws)?;
    build::site(ws)?;
    let bin = build::server(ws, build::Profile::Release)?;
    let extra: Vec<&String> = extra.iter().filter(|a| *a != "--").collect();
    eprintln!("xtask: serving on http://127.0.0.1:3000 (ctrl-c stops)");
    sh(
        ws,
        Command::new(bin)
            .arg("--site-root")
            .arg(ws.site())
            .args(extra),
    )
}

/// A server child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Server {
    pub(crate) fn start(bin: &Path, site: &Path, data_dir: &Path, log: &Path) -> Result<Self> {
        Self::start_with(bin, site, data_dir, log, &[])
    }

    /// As [`Server::start`], with more arguments (a database URL, say).
    pub(crate) fn start_with(
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
            if http_status(self.addr, "/healthz").is_ok_and(|s| s == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server was not ready within 60 s")
    }

    /// The process id (for `kill -9` in the replica tests).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for a graceful exit; true when it exited cleanly in time.
    pub(crate) fn stop(&mut self) -> bool {
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

pub(crate) fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// A bare HTTP/1.0 GET: the status code.
fn http_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 16];
    s.read_exact(&mut head[..12])?;
    let text = std::str::from_utf8(&head[..12])?;
    text.get(9..12)
        .context("short status line")?
        .parse()
        .context("status code")
}

/// Starts the dev server on a free loopback port with a fresh database and
/// runs the Playwright suite against it in Debian's Chromium.
pub(crate) fn browser_tests(ws: &Workspace) -> Result<()> {
    let bin = ws.target.join("debug/switchboard");
    let scratch = ws.target.join("e2e");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let log = scratch.join("server.log");
    let data = scratch.join("data");
    // One user per role, made with the real CLI; fresh random passwords each run.
    let mut env = Vec::new();
    for role in ["admin", "staff", "viewer"] {
        let user = format!("e2e-{role}");
        let password = random_password()?;
        add_user(&bin, &data, &user, role, &password)?;
        let key = role.to_uppercase();
        env.push((format!("E2E_{key}_USER"), user));
        env.push((format!("E2E_{key}_PASSWORD"), password));
    }
    let mut server = Server::start(&bin, &ws.site(), &data, &log)
        .with_context(|| format!("server log: {}", log.display()))?;
    let base = format!("http://{}", server.addr);
    eprintln!("xtask: server at {base} (log: {})", log.display());
    let result = timed("playwright", || {
        sh(
            ws,
            Command::new("npx")
                .args(["playwright", "test"])
                // E2E_ONLY="map share" narrows a local run to matching spec files.
                .args(
                    std::env::var("E2E_ONLY")
                        .unwrap_or_default()
                        .split_whitespace(),
                )
                .env("BASE_URL", &base)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .current_dir(ws.root.join("end2end")),
        )
    });
    let clean = server.stop();
    result?;
    if !clean {
        bail!(
            "the server did not shut down cleanly on SIGTERM (log: {})",
            log.display()
        );
    }
    eprintln!("xtask: the server shut down cleanly on SIGTERM");
    Ok(())
}

pub(crate) fn random_password() -> Result<String> {
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `switchboard user add ... --password-stdin`.
fn add_user(bin: &Path, data: &Path, user: &str, role: &str, password: &str) -> Result<()> {
    add_user_with(bin, data, &[], user, role, password)
}

/// As `add_user`, with more arguments before the subcommand (a database URL).
pub(crate) fn add_user_with(
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
