//! Three replicas on a real PostgreSQL behind a real HAProxy, all on loopback:
//! sessions hold across replicas, a change through one replica reaches a live
//! page on another, concurrent writes through different replicas all land, a
//! job runs once per interval across the processes, PostgreSQL going away
//! gives a clear 503 and recovery needs no one, and `kill -9` of a replica
//! costs no request.

use std::{
    collections::BTreeSet,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};

use crate::{
    pg::Cluster,
    serve::{add_user_with, free_port, random_password, silent_endpoint, Moto, Server},
    tools, Workspace,
};

/// How often the replicas' housekeeping job is due, in seconds.
const JOB_EVERY: u64 = 2;

/// A reply to a bare HTTP/1.0 request.
pub(crate) struct Reply {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.0 request (the server closes the connection after the reply,
/// so no chunked bodies). Non-GET requests carry our own Origin, as pages do.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Result<Reply> {
    request_with(addr, method, path, cookie, form, &[])
}

/// [`request`] with more header lines (`Name: value`).
pub(crate) fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    headers: &[&str],
) -> Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for h in headers {
        req.push_str(&format!("{h}\r\n"));
    }
    if method != "GET" {
        req.push_str(&format!("Origin: http://{addr}\r\n"));
    }
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: sb_session={c}\r\n"));
    }
    if let Some(body) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad reply from {addr}{path}: {head:?}"))?;
    Ok(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// A request with a body of any type (the import's multipart upload).
fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    content_type: &str,
    body: &str,
) -> Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: sb_session={cookie}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(Reply {
        status: head
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .context("status")?,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// Signs in with the form, as a browser does; the session cookie's value.
pub(crate) fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Result<String> {
    sign_in_with(addr, user, password, &[])
}

/// [`sign_in`] with more header lines (an `X-Forwarded-For`, say).
pub(crate) fn sign_in_with(
    addr: SocketAddr,
    user: &str,
    password: &str,
    headers: &[&str],
) -> Result<String> {
    let reply = request_with(
        addr,
        "POST",
        "/login",
        None,
        Some(&format!("username={user}&password={password}&next=/")),
        headers,
    )?;
    let cookie = reply
        .header("set-cookie")
        .and_then(|c| c.strip_prefix("sb_session="))
        .and_then(|c| c.split(';').next())
        .filter(|c| !c.is_empty())
        .with_context(|| format!("sign-in as {user} set no session ({})", reply.status))?;
    Ok(cookie.to_owned())
}

/// HAProxy in the foreground, stopped when dropped.
pub(crate) struct Haproxy {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Haproxy {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error with its log if HAProxy has exited.
    pub(crate) fn check_running(&mut self) -> Result<()> {
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

fn haproxy_bin(ws: &Workspace) -> Result<PathBuf> {
    let bin = PathBuf::from("/usr/sbin/haproxy");
    if !bin.exists() {
        tools::apt_install(ws, &["haproxy"])?;
    }
    Ok(bin)
}

/// The configuration the deployment guide recommends, on loopback ports.
fn haproxy_config(front: SocketAddr, backends: &[SocketAddr]) -> String {
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
pub(crate) fn start_haproxy(
    ws: &Workspace,
    dir: &Path,
    backends: &[SocketAddr],
) -> Result<Haproxy> {
    let front = free_port()?;
    let proxy = spawn_haproxy(ws, dir, front, &haproxy_config(front, backends))?;
    wait_for(Duration::from_secs(20), "HAProxy to serve /healthz", || {
        Ok(request(front, "GET", "/healthz", None, None).is_ok_and(|r| r.status == 200))
    })?;
    Ok(proxy)
}

/// HAProxy in the foreground on `config` (written to `dir/haproxy.cfg`, its
/// log beside it), installed first if need be; stopped when dropped.
pub(crate) fn spawn_haproxy(
    ws: &Workspace,
    dir: &Path,
    front: SocketAddr,
    config: &str,
) -> Result<Haproxy> {
    let bin = haproxy_bin(ws)?;
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config)?;
    let log = dir.join("haproxy.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(bin)
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

fn wait_for(limit: Duration, what: &str, mut ok: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok()? {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("gave up waiting {limit:?} for {what}")
}

/// Reads a server-sent event stream until `needle` appears (or `limit`).
fn stream_until(
    addr: SocketAddr,
    cookie: &str,
    hello: impl FnOnce() -> Result<()>,
    needle: &str,
) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    write!(
        s,
        "GET /api/events HTTP/1.0\r\nHost: {addr}\r\nCookie: sb_session={cookie}\r\n\r\n"
    )?;
    let mut seen = String::new();
    let mut hello = Some(hello);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => bail!("the event stream closed: {seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
        if seen.contains("event: hello") {
            if let Some(h) = hello.take() {
                h()?;
            }
        }
        if let Some(at) = seen.find(needle) {
            return Ok(seen[at..].lines().next().unwrap_or_default().to_owned());
        }
    }
    bail!("no {needle:?} on the event stream within 15 s; got: {seen}")
}

fn replica_id(addr: SocketAddr) -> Result<String> {
    let reply = request(addr, "GET", "/healthz", None, None)?;
    let v: serde_json::Value = serde_json::from_str(&reply.body)?;
    v["replica"]
        .as_str()
        .map(str::to_owned)
        .context("/healthz names no replica")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Creates a migration, then three people tick its points at the same time,
/// each through a different replica.
fn checklist_across_replicas(addrs: &[SocketAddr], staff: &str) -> Result<()> {
    let form = "form[name]=Across+replicas&form[domains]=shop.example.test&form[source_server]=192.0.2.1\
        &form[target_server]=192.0.2.2&form[services]=&form[window_start]=2027-01-09T22%3A00\
        &form[window_end]=2027-01-10T02%3A00&form[time_zone]=Europe%2FLondon&form[owner]=Ops&form[ttl_limit]=";
    let r = request(
        addrs[0],
        "POST",
        "/api/migrations/create",
        Some(staff),
        Some(form),
    )?;
    ensure!(
        r.status == 200,
        "create a migration: {} {}",
        r.status,
        r.body
    );
    let id: i64 = r.body.trim().parse().context("the new migration's id")?;
    let read = |addr: SocketAddr| -> Result<serde_json::Value> {
        let r = request(
            addr,
            "GET",
            &format!("/api/migrations/get?id={id}&tz=UTC"),
            Some(staff),
            None,
        )?;
        ensure!(
            r.status == 200,
            "read the migration on {addr}: {} {}",
            r.status,
            r.body
        );
        Ok(serde_json::from_str(&r.body)?)
    };
    let items: Vec<(i64, i64)> = read(addrs[1])?["sections"]
        .as_array()
        .context("sections")?
        .iter()
        .flat_map(|s| s["items"].as_array().cloned().unwrap_or_default())
        .map(|i| {
            (
                i["id"].as_i64().unwrap_or(0),
                i["revision"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    ensure!(
        items.len() >= 30,
        "the checklist has {} points",
        items.len()
    );
    let started = Instant::now();
    let tickers: Vec<_> = (0..3)
        .map(|t| {
            let (addr, staff) = (addrs[t], staff.to_owned());
            let mine: Vec<(i64, i64)> = items.iter().copied().skip(t).step_by(3).collect();
            std::thread::spawn(move || -> Result<usize> {
                for (item, rev) in &mine {
                    let r = request(
                        addr,
                        "POST",
                        "/api/migrations/tick",
                        Some(&staff),
                        Some(&format!(
                            "migration={id}&item={item}&state=done&note=replica+{t}&revision={rev}"
                        )),
                    )?;
                    ensure!(
                        r.status == 200,
                        "tick {item} through {addr}: {} {}",
                        r.status,
                        r.body
                    );
                }
                Ok(mine.len())
            })
        })
        .collect();
    let mut ticked = 0;
    for t in tickers {
        ticked += t.join().map_err(|_| anyhow::anyhow!("ticker panicked"))??;
    }
    let took = started.elapsed();
    let progress = read(addrs[2])?["summary"]["progress"].clone();
    ensure!(
        progress["done"].as_i64() == Some(i64::try_from(items.len())?),
        "{ticked} ticks through 3 replicas, progress now {progress}"
    );
    // The first point again, on the revision seen before the ticks, via another replica.
    let (item, rev) = items[0];
    let r = request(
        addrs[1],
        "POST",
        "/api/migrations/tick",
        Some(staff),
        Some(&format!(
            "migration={id}&item={item}&state=open&note=&revision={rev}"
        )),
    )?;
    ensure!(
        r.status == 409,
        "a stale tick was not refused: {} {}",
        r.status,
        r.body
    );
    ensure!(
        read(addrs[0])?["summary"]["progress"]["done"] == progress["done"],
        "the stale tick changed something"
    );
    eprintln!(
        "xtask: replicas: {ticked} ticks of one checklist through 3 replicas at once in {} ms, all {ticked} stored; a stale tick got 409",
        took.as_millis()
    );
    Ok(())
}

/// Plants a dead holder of the housekeeping lease, mid-run, and waits for a
/// replica to take over. Returns (ms after an expired lease ran out before
/// another host's dead run was replaced, ms before a dead local process's run
/// was replaced).
fn takeovers(cluster: &Cluster, host: &str) -> Result<(i64, i64)> {
    let db = "switchboard_replicas";
    let mut child = Command::new("true").spawn()?;
    let dead_pid = child.id();
    child.wait()?;
    let mut results = Vec::new();
    for (holder, holder_host, pid, ttl_ms) in [
        ("ghost@elsewhere", "elsewhere", 1u32, 3_000i64),
        ("ghost@here", host, dead_pid, 60_000),
    ] {
        // Wait for a moment when no replica holds the lease, then take it as
        // the ghost would have, with a run in progress.
        let mut planted = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        while planted.is_none() && Instant::now() < deadline {
            let at = now_ms();
            let fence = cluster.query(
                db,
                &format!(
                    "UPDATE job_lease SET fence = fence + 1, holder = '{holder}', holder_host = '{holder_host}', \
                     holder_pid = {pid}, acquired_ms = {at}, expires_ms = {}, next_due_ms = 0 \
                     WHERE job = 'housekeeping' AND holder IS NULL RETURNING fence",
                    at + ttl_ms
                ),
            )?;
            let fence = fence.lines().next().unwrap_or_default().trim().to_owned();
            if fence.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            cluster.query(
                db,
                &format!(
                    "INSERT INTO job_run (job, fence, holder, trigger, started_ms, outcome) \
                     VALUES ('housekeeping', {fence}, '{holder}', 'schedule', {at}, 'running')"
                ),
            )?;
            planted = Some((fence.parse::<i64>()?, at));
        }
        let (fence, at) = planted.context("the housekeeping lease was never free")?;
        let mut taken = None;
        wait_for(
            Duration::from_secs(30),
            "a takeover of the dead holder's run",
            || {
                let row = cluster.query(
                db,
                &format!(
                    "SELECT started_ms, took_over_from FROM job_run WHERE job = 'housekeeping' AND fence = {}",
                    fence + 1
                ),
            )?;
                taken = row
                    .split_once('|')
                    .map(|(s, by)| (s.to_owned(), by.to_owned()));
                Ok(taken.is_some())
            },
        )?;
        let (started, by) = taken.context("takeover row")?;
        ensure!(by.starts_with(holder), "took over from {by}, not {holder}");
        let ghost = cluster.query(
            db,
            &format!("SELECT outcome, finished_ms FROM job_run WHERE job = 'housekeeping' AND fence = {fence}"),
        )?;
        let started: i64 = started.parse()?;
        let (outcome, finished) = ghost.split_once('|').context("the ghost's run")?;
        ensure!(outcome == "abandoned", "the dead run is {outcome}");
        ensure!(
            finished.parse::<i64>()? <= started,
            "the dead run overlaps its successor"
        );
        let from = if ttl_ms < 60_000 { at + ttl_ms } else { at };
        results.push(started - from);
    }
    Ok((results[0], results[1]))
}

/// Runs the scenario; every step prints what it measured.
pub(crate) fn replica_tests(ws: &Workspace, cluster: &Cluster) -> Result<()> {
    let bin = ws.target.join("debug/switchboard");
    let scratch = ws.target.join("replicas");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let db_url = cluster.database("switchboard_replicas")?;
    let db_arg = ["--database-url", db_url.as_str()];
    let staff_pw = random_password()?;
    let admin_pw = random_password()?;
    add_user_with(&bin, &scratch, &db_arg, "staff", "staff", &staff_pw)?;
    add_user_with(&bin, &scratch, &db_arg, "boss", "admin", &admin_pw)?;

    let every = JOB_EVERY.to_string();
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
    let args = [
        "--database-url",
        &db_url,
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
        let server = Server::start_with(&bin, &ws.site(), &data, &log, &args)
            .with_context(|| format!("replica {i} (log: {})", log.display()))?;
        replicas.push(server);
    }
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let proxy = start_haproxy(ws, &scratch, &addrs)?;
    let front = proxy.addr;
    eprintln!(
        "xtask: 3 replicas on PostgreSQL behind HAProxy at http://{front} (logs: {})",
        scratch.display()
    );

    // 1. One sign-in through the balancer; the session holds on every replica.
    let staff = sign_in(front, "staff", &staff_pw)?;
    let mut served_by = BTreeSet::new();
    for _ in 0..12 {
        let r = request(front, "GET", "/checklist", Some(&staff), None)?;
        ensure!(
            r.status == 200,
            "GET /checklist through HAProxy: {} {}",
            r.status,
            r.body
        );
        served_by.insert(r.header("x-switchboard-replica").unwrap_or("?").to_owned());
    }
    ensure!(
        served_by.len() == 3,
        "requests did not spread over 3 replicas: {served_by:?}"
    );
    eprintln!("xtask: replicas: 12 signed-in page loads, all 200, served by all 3 replicas");

    // 2. A change through replica 1 reaches a live feed on replica 2.
    let boss = sign_in(front, "boss", &admin_pw)?;
    let origin = replica_id(addrs[0])?;
    let started = Instant::now();
    let line = stream_until(
        addrs[1],
        &boss,
        || {
            let r = request(
                addrs[0],
                "POST",
                "/api/shares/create",
                Some(&staff),
                Some("selection=area:east-of-england&label=Across+replicas"),
            )?;
            ensure!(
                r.status == 200,
                "share through replica 1: {} {}",
                r.status,
                r.body
            );
            Ok(())
        },
        "share.create",
    )?;
    ensure!(
        line.contains(&origin),
        "the event did not come from replica 1: {line}"
    );
    eprintln!(
        "xtask: replicas: a change through replica 1 reached replica 2's live feed in {} ms",
        started.elapsed().as_millis()
    );

    // 2b. Map data imported through replica 1: replica 2 serves the new data version.
    let version = |addr: SocketAddr| -> Result<String> {
        let r = request(
            addr,
            "GET",
            "/api/features/index.json?sel=unit:luton",
            Some(&staff),
            None,
        )?;
        ensure!(r.status == 200, "index on {addr}: {} {}", r.status, r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body)?;
        Ok(v["data_version"].as_str().unwrap_or_default().to_owned())
    };
    let old = version(addrs[1])?;
    ensure!(
        old == version(addrs[0])?,
        "replicas disagree on the data version before the import"
    );
    let csv = "name,kind,town,lon,lat,audience,reach_regions,reach_km\r\nReplica Post,newspaper,Luton,-0.4175,51.8797,1000,unit:luton,\r\n";
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--B--\r\n"
    );
    let r = raw_request(
        addrs[0],
        "POST",
        "/import/outlets",
        &staff,
        "multipart/form-data; boundary=B",
        &body,
    )?;
    ensure!(
        r.status == 200,
        "import through replica 1: {} {}",
        r.status,
        r.body
    );
    let seen = wait_for(
        Duration::from_secs(10),
        "replica 2 to serve the new data version",
        || Ok(version(addrs[1])? != old),
    )?;
    ensure!(
        version(addrs[0])? == version(addrs[1])?,
        "replicas disagree after the import"
    );
    eprintln!(
        "xtask: replicas: an import through replica 1 moved replica 2 to the new data version within {} ms",
        seen.as_millis()
    );

    // 3. Concurrent writes through different replicas all land.
    let before: i64 = cluster
        .query("switchboard_replicas", "SELECT COUNT(*) FROM share_link")?
        .parse()?;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let staff = staff.clone();
            std::thread::spawn(move || -> Result<()> {
                for i in 0..5 {
                    let r = request(
                        front,
                        "POST",
                        "/api/shares/create",
                        Some(&staff),
                        Some(&format!("selection=area:east-of-england&label=w{w}-{i}")),
                    )?;
                    ensure!(r.status == 200, "write w{w}-{i}: {} {}", r.status, r.body);
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    let after: i64 = cluster
        .query("switchboard_replicas", "SELECT COUNT(*) FROM share_link")?
        .parse()?;
    ensure!(
        after == before + 30,
        "30 concurrent writes, {} landed",
        after - before
    );
    eprintln!("xtask: replicas: 30 concurrent writes through HAProxy, 30 stored");

    // 3b. One checklist ticked at once through the three replicas: every tick
    // lands, and a tick made on a stale view is refused, not overwritten.
    checklist_across_replicas(&addrs, &staff)?;

    // 4. The housekeeping job: once per interval across the three processes.
    let runs_sql = "SELECT started_ms, COALESCE(finished_ms, -1), holder, outcome FROM job_run \
                    WHERE job = 'housekeeping' ORDER BY started_ms";
    wait_for(Duration::from_secs(30), "4 housekeeping runs", || {
        Ok(cluster
            .query("switchboard_replicas", runs_sql)?
            .lines()
            .count()
            >= 4)
    })?;
    let runs = cluster.query("switchboard_replicas", runs_sql)?;
    let rows: Vec<(i64, i64, String)> = runs
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                (*f.get(2)?).to_owned(),
            ))
        })
        .collect();
    for w in rows.windows(2) {
        let ((s0, f0, _), (s1, _, _)) = (&w[0], &w[1]);
        ensure!(*f0 >= 0 && f0 <= s1, "runs overlap: {runs}");
        ensure!(
            s1 - s0 >= 1000 * i64::try_from(JOB_EVERY)?,
            "ran twice within an interval: {runs}"
        );
    }
    let holders: BTreeSet<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    eprintln!(
        "xtask: replicas: {} housekeeping runs, none overlapping, starts >= {JOB_EVERY} s apart, run by {} replica(s)",
        rows.len(),
        holders.len()
    );

    // 4b. Takeover, timed: a run whose holder died in the middle.
    let host = replica_id(addrs[0])?
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (after_expiry, dead_pid_ms) = takeovers(cluster, &host)?;
    eprintln!(
        "xtask: replicas: lease takeover: a holder on another host that died mid-run was replaced {after_expiry} ms \
         after its lease expired; a dead process on this host was replaced after {dead_pid_ms} ms"
    );

    // 5. PostgreSQL goes away for a few seconds.
    cluster.stop_server()?;
    let down = request(addrs[0], "GET", "/healthz", None, None)?;
    ensure!(
        down.status == 503,
        "/healthz with the database down: {}",
        down.status
    );
    let page = request(front, "GET", "/checklist", Some(&staff), None)?;
    ensure!(
        page.status == 503,
        "a page with the database down: {} {}",
        page.status,
        page.body
    );
    ensure!(
        page.body.contains("unavailable"),
        "the 503 does not say why: {}",
        page.body
    );
    let write = request(
        front,
        "POST",
        "/api/shares/create",
        Some(&staff),
        Some("selection=area:east-of-england&label=lost"),
    )?;
    ensure!(
        write.status == 503,
        "a write with the database down: {} {}",
        write.status,
        write.body
    );
    std::thread::sleep(Duration::from_secs(2));
    cluster.start_server()?;
    let recovered = wait_for(
        Duration::from_secs(30),
        "recovery after PostgreSQL restarts",
        || {
            Ok(request(front, "GET", "/checklist", Some(&staff), None)
                .is_ok_and(|r| r.status == 200))
        },
    )?;
    let kept: i64 = cluster
        .query("switchboard_replicas", "SELECT COUNT(*) FROM share_link")?
        .parse()?;
    ensure!(
        kept == after,
        "writes before the outage: {after}, after it: {kept}"
    );
    let r = request(
        front,
        "POST",
        "/api/shares/create",
        Some(&staff),
        Some("selection=area:east-of-england&label=after"),
    )?;
    ensure!(
        r.status == 200,
        "a write after recovery: {} {}",
        r.status,
        r.body
    );
    eprintln!(
        "xtask: replicas: PostgreSQL down: pages and writes answered 503; back by itself {} ms after restart; no write lost",
        recovered.as_millis()
    );

    // 5b. The browser through HAProxy: the reach map works with its requests
    // (page, server functions, feature pages) spread over the replicas, and the
    // health page follows a backend going DOWN live, whichever replica runs the
    // checker and whichever serves the page and its event stream.
    let mut env = Vec::new();
    for role in ["admin", "staff", "viewer"] {
        let user = format!("e2e-{role}");
        let password = random_password()?;
        add_user_with(&bin, &scratch, &db_arg, &user, role, &password)?;
        let key = role.to_uppercase();
        env.push((format!("E2E_{key}_USER"), user));
        env.push((format!("E2E_{key}_PASSWORD"), password));
    }
    crate::sh(
        ws,
        Command::new("npx")
            .args([
                "playwright",
                "test",
                "--project=setup",
                "--project=hydrated",
                "tests/map.spec.ts",
                "tests/health.spec.ts",
            ])
            .env("BASE_URL", format!("http://{front}"))
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(ws.root.join("end2end")),
    )
    .context("the map and the live health page in Chromium through HAProxy")?;
    eprintln!(
        "xtask: replicas: the reach map's and the live health page's browser tests passed through HAProxy across 3 replicas"
    );

    // 6. kill -9 the replica holding the firewall sync's lease in the middle of a
    // run: another takes over, the history shows no overlap, HAProxy redispatches.
    let (fence, holder) = {
        let mut found = None;
        wait_for(
            Duration::from_secs(30),
            "a firewall sync in progress",
            || {
                let row = cluster.query(
                "switchboard_replicas",
                "SELECT fence, holder FROM job_run WHERE job = 'firewall-sync' AND outcome = 'running'",
            )?;
                found = row
                    .lines()
                    .next()
                    .and_then(|l| l.split_once('|'))
                    .map(|(f, h)| (f.to_owned(), h.to_owned()));
                Ok(found.is_some())
            },
        )?;
        found.context("running sync")?
    };
    let fence: i64 = fence.trim().parse()?;
    let pid: u32 = holder
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the holder's pid")?;
    let at = replicas
        .iter()
        .position(|r| r.pid() == pid)
        .with_context(|| format!("no replica has pid {pid} (holder {holder})"))?;
    let victim = replicas.remove(at);
    let killed_ms = now_ms();
    Command::new("kill")
        .args(["-9", &victim.pid().to_string()])
        .status()?;
    drop(victim);
    let mut next = None;
    wait_for(
        Duration::from_secs(30),
        "a takeover of the killed sync",
        || {
            let row = cluster.query(
                "switchboard_replicas",
                &format!(
                    "SELECT started_ms, holder, took_over_from FROM job_run \
                 WHERE job = 'firewall-sync' AND fence = {}",
                    fence + 1
                ),
            )?;
            next = row.lines().next().map(str::to_owned);
            Ok(next.is_some())
        },
    )?;
    let next = next.context("takeover row")?;
    let parts: Vec<&str> = next.split('|').collect();
    ensure!(parts.len() == 3, "unexpected row {next}");
    ensure!(
        parts[2].starts_with(holder.as_str()),
        "run {} took over from {:?}, not the killed {holder}",
        fence + 1,
        parts[2]
    );
    let takeover_ms = parts[0].parse::<i64>()? - killed_ms;
    wait_for(
        Duration::from_secs(30),
        "the taken-over sync to end",
        || {
            let row = cluster.query(
                "switchboard_replicas",
                &format!(
                    "SELECT outcome FROM job_run WHERE job = 'firewall-sync' AND fence = {}",
                    fence + 1
                ),
            )?;
            Ok(row.trim() == "ok")
        },
    )?;
    let history = cluster.query(
        "switchboard_replicas",
        "SELECT fence, started_ms, COALESCE(finished_ms, -1), outcome FROM job_run \
         WHERE job = 'firewall-sync' ORDER BY fence",
    )?;
    let runs: Vec<(i64, i64, i64, String)> = history
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                (*f.get(3)?).to_owned(),
            ))
        })
        .collect();
    for w in runs.windows(2) {
        ensure!(
            w[0].2 >= 0 && w[1].1 >= w[0].2,
            "firewall sync runs overlap: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    let killed = runs
        .iter()
        .find(|r| r.0 == fence)
        .context("the killed run")?;
    ensure!(killed.3 == "abandoned", "the killed run is {}", killed.3);
    eprintln!(
        "xtask: replicas: kill -9 of the replica holding the firewall sync mid-run ({holder}): run {} took over \
         {takeover_ms} ms later (stale process on this host), {} runs in the history, none overlapping",
        fence + 1,
        runs.len()
    );
    drop(moto);
    for i in 0..30 {
        let r = request(front, "GET", "/checklist", Some(&staff), None)?;
        ensure!(r.status == 200, "request {i} after kill -9: {}", r.status);
    }
    eprintln!("xtask: replicas: kill -9 of one replica: the next 30 requests all answered 200");

    drop(proxy);
    for mut r in replicas {
        ensure!(r.stop(), "a replica did not shut down cleanly on SIGTERM");
    }
    Ok(())
}
