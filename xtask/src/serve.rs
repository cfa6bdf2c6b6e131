//! Starting the server: for people (`cargo xtask run`) and for the browser
//! tests, which always stop the server they started.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};

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

/// moto's EC2 server on a free loopback port (installed by `tools::ensure_test_peers`).
pub(crate) struct Moto {
    child: std::process::Child,
    pub(crate) addr: SocketAddr,
}

impl Moto {
    /// Starts moto and puts its test credentials in this process's environment,
    /// where the servers started next find them (the standard AWS chain).
    pub(crate) fn start() -> Result<Self> {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let bin = std::env::var("MOTO_SERVER")
            .unwrap_or_else(|_| "/var/cache/switchboard/moto-venv/bin/moto_server".into());
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let moto = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_status(addr, "/moto-api/").map_or(true, |s| s != 200) {
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
pub(crate) fn silent_endpoint() -> Result<SocketAddr> {
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

/// The firewall the browser tests see: moto with five instances in two regions
/// and a third region that never answers, iptables in a network namespace of
/// its own, applying enabled. The namespace goes on drop.
struct E2eFirewall {
    _moto: Moto,
    netns: String,
    config: PathBuf,
}

impl E2eFirewall {
    fn start(scratch: &Path) -> Result<Self> {
        let moto = Moto::start()?;
        let silent = silent_endpoint()?;
        let endpoint = format!("http://{}", moto.addr);
        let python = std::env::var("MOTO_SERVER")
            .map(|m| m.replace("moto_server", "python"))
            .unwrap_or_else(|_| "/var/cache/switchboard/moto-venv/bin/python".into());
        let seeded = Command::new(&python)
            .arg("-c")
            .arg(format!(
                "import boto3\n\
                 for region, n in {{'us-east-1': 3, 'eu-west-1': 2}}.items():\n\
                 \x20c = boto3.client('ec2', region_name=region, endpoint_url='{endpoint}', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
                 \x20for i in range(n):\n\
                 \x20\x20c.run_instances(ImageId='ami-12345678', MinCount=1, MaxCount=1, TagSpecifications=[{{'ResourceType': 'instance', 'Tags': [{{'Key': 'Name', 'Value': f'{{region}}-web-{{i}}'}}]}}])\n"
            ))
            .status()
            .with_context(|| format!("seeding moto with {python}"))?;
        ensure!(seeded.success(), "seeding moto failed");
        let netns = format!("sbe2e{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &netns]).status();
        ensure!(
            Command::new("ip")
                .args(["netns", "add", &netns])
                .status()?
                .success(),
            "ip netns add {netns}"
        );
        let config = scratch.join("firewall.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"backend": "iptables", "netns": "{netns}", "interval_secs": 3600, "lease_ttl_secs": 30,
                    "management": {{"source": "192.0.2.0/24", "ports": [22], "comment": "staff"}},
                    "apply": {{"enabled": true}},
                    "aws": {{"regions": ["us-east-1", "eu-west-1", "ap-south-1"], "endpoint": "{endpoint}",
                             "region_endpoints": {{"ap-south-1": "http://{silent}"}}, "region_timeout_ms": 4000}}}}"#
            ),
        )?;
        Ok(Self {
            _moto: moto,
            netns,
            config,
        })
    }
}

impl Drop for E2eFirewall {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
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
    let firewall = E2eFirewall::start(&scratch)?;
    let config = firewall.config.display().to_string();
    let mut server = Server::start_with(
        &bin,
        &ws.site(),
        &data,
        &log,
        &["--firewall-config", &config],
    )
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
