//! The three-replica fixture every scenario shares: a fresh database on the
//! PostgreSQL that `SWITCHBOARD_TEST_POSTGRES` names, reached through a
//! [`Link`] the outage scenario can cut; three `switchboard` processes (the
//! binary cargo built for this test) on it, with the housekeeping job due every
//! [`JOB_EVERY`] seconds and the firewall sync reading moto; HAProxy in front
//! with the deployment guide's configuration; `staff` signed in through it.

use std::{
    net::{SocketAddr, ToSocketAddrs as _},
    path::{Path, PathBuf},
};

use anyhow::{bail, ensure, Context as _, Result};
use testbed::{
    haproxy::{self, Haproxy},
    http::sign_in,
    moto::{silent_endpoint, Moto},
    server::{add_user_with, random_password, Server},
};

use crate::{db::Db, link::Link};

/// How often the replicas' housekeeping job is due, in seconds.
pub(crate) const JOB_EVERY: u64 = 2;

/// Fields drop in this order: HAProxy first, then the replicas, then their peers.
pub(crate) struct Fixture {
    pub(crate) proxy: Haproxy,
    pub(crate) replicas: Vec<Server>,
    /// moto, for the firewall sync (the kill -9 scenario ends it).
    pub(crate) moto: Option<Moto>,
    pub(crate) link: Link,
    pub(crate) db: Db,
    /// The replicas' database URL, through the link.
    pub(crate) database_url: String,
    /// `staff`'s session, signed in through HAProxy.
    pub(crate) staff: String,
    /// The password of `boss`, an admin.
    pub(crate) boss_password: String,
    pub(crate) bin: PathBuf,
    /// Logs, data folders and configuration files.
    pub(crate) scratch: PathBuf,
}

impl Fixture {
    /// Everything up, or what is missing.
    pub(crate) fn start() -> Result<Self> {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
        let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .context("the target folder")?;
        let site = std::env::var_os("SWITCHBOARD_SITE_ROOT")
            .map_or_else(|| target.join("site"), PathBuf::from);
        let script = site.join("pkg").join(format!("{}.js", app::OUTPUT_NAME));
        ensure!(
            script.exists(),
            "the site is not built (no {}): `cargo xtask build` builds it, `cargo xtask replicas` \
             builds it and runs this test",
            script.display()
        );
        let scratch = target.join("replicas");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;

        let direct = fresh_database()?;
        let db = Db::connect(&direct)?;
        let (link, database_url) = through_link(&direct)?;
        let db_arg = ["--database-url", database_url.as_str()];
        let staff_password = random_password()?;
        let boss_password = random_password()?;
        add_user_with(&bin, &scratch, &db_arg, "staff", "staff", &staff_password)?;
        add_user_with(&bin, &scratch, &db_arg, "boss", "admin", &boss_password)?;

        // The firewall sync, so a replica can die holding its lease mid-run: moto for
        // us-east-1 and a region that never answers, so every run lasts its timeout.
        // The replicas find moto's test credentials in the standard chain (env).
        let moto = Moto::start()?;
        let silent = silent_endpoint()?;
        let firewall = scratch.join("firewall.json");
        std::fs::write(
            &firewall,
            format!(
                r#"{{"backend": "export", "interval_secs": 10, "lease_ttl_secs": 3,
                    "aws": {{"regions": ["us-east-1", "ap-south-1"], "endpoint": "http://{}",
                             "region_endpoints": {{"ap-south-1": "http://{silent}"}},
                             "region_timeout_ms": 4000}}}}"#,
                moto.addr
            ),
        )?;
        let firewall = firewall.display().to_string();
        let every = JOB_EVERY.to_string();
        let args = [
            "--database-url",
            &database_url,
            "--housekeeping-every",
            &every,
            "--trust-forwarded-for",
            "--firewall-config",
            &firewall,
        ];
        let mut replicas = Vec::new();
        for i in 1..=3 {
            let log = scratch.join(format!("replica{i}.log"));
            let data = scratch.join(format!("data{i}"));
            let server = Server::start_with(&bin, &site, &data, &log, &args)
                .with_context(|| format!("replica {i} (log: {})", log.display()))?;
            replicas.push(server);
        }
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        let proxy = haproxy::start(&scratch, &addrs)?;
        eprintln!(
            "replicas: 3 replicas on PostgreSQL behind HAProxy at http://{} (logs: {})",
            proxy.addr,
            scratch.display()
        );
        let staff = sign_in(proxy.addr, "staff", &staff_password)?;
        Ok(Self {
            proxy,
            replicas,
            moto: Some(moto),
            link,
            db,
            database_url,
            staff,
            boss_password,
            bin,
            scratch,
        })
    }

    /// HAProxy's address: what users reach.
    pub(crate) fn front(&self) -> SocketAddr {
        self.proxy.addr
    }

    /// The replicas' own addresses, in the order they started.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.replicas.iter().map(|r| r.addr).collect()
    }
}

/// A fresh database on the PostgreSQL the run was given; its URL.
fn fresh_database() -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(services::testing::postgres_database()) {
        Some(url) => Ok(url),
        None => bail!(
            "{} is not set: the replicas need a PostgreSQL admin URL (`cargo xtask pg` starts a \
             throwaway one and prints it; `cargo xtask replicas` does everything)",
            services::testing::POSTGRES_VAR
        ),
    }
}

/// A link to `direct`'s server; the URL of the same database through it.
fn through_link(direct: &str) -> Result<(Link, String)> {
    let mut url = url::Url::parse(direct).with_context(|| format!("database URL {direct}"))?;
    let upstream = url
        .host_str()
        .map(|host| (host.to_owned(), url.port().unwrap_or(5432)))
        .with_context(|| format!("{direct} names no TCP host: the link needs one"))?
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{direct}: no address"))?;
    let link = Link::open(upstream)?;
    url.set_ip_host(link.addr.ip())
        .map_err(|()| anyhow::anyhow!("cannot point {direct} at the link"))?;
    url.set_port(Some(link.addr.port()))
        .map_err(|()| anyhow::anyhow!("cannot point {direct} at the link"))?;
    Ok((link, url.into()))
}

/// The replica at `addr`, as `/healthz` names it (`host:pid`).
pub(crate) fn replica_id(addr: SocketAddr) -> Result<String> {
    let reply = testbed::http::request(addr, "GET", "/healthz", None, None)?;
    let v: serde_json::Value = serde_json::from_str(&reply.body)?;
    v["replica"]
        .as_str()
        .map(str::to_owned)
        .context("/healthz names no replica")
}

/// Milliseconds since the Unix epoch, as the job tables store time.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
