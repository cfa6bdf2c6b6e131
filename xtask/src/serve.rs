//! Starting the server: for people (`cargo xtask run`) and for the browser
//! tests, which always stop the server they started (`testbed::server`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, ensure, Context as _, Result};
use testbed::{
    moto::{self, silent_endpoint, Moto},
    server::{add_user, random_password, Server},
};

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
        let python = moto::venv_program("python");
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
