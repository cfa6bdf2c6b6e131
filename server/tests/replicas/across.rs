//! What one replica does, the others see: one session, a live change feed, the
//! map's data version, and writes made at once through different replicas.

use std::{
    collections::BTreeSet,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};
use testbed::http::{request, request_body, sign_in, wait_for};

use crate::fixture::{replica_id, Fixture};

/// One sign-in through the balancer; the session holds on every replica.
pub(crate) fn a_session_signed_in_through_haproxy_holds_on_every_replica(
    f: &mut Fixture,
) -> Result<()> {
    let mut served_by = BTreeSet::new();
    for _ in 0..12 {
        let r = request(f.front(), "GET", "/checklist", Some(&f.staff), None)?;
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
    eprintln!("replicas: 12 signed-in page loads, all 200, served by all 3 replicas");
    Ok(())
}

/// A change through replica 1 reaches a live feed on replica 2.
pub(crate) fn a_change_through_one_replica_reaches_a_live_feed_on_another(
    f: &mut Fixture,
) -> Result<()> {
    let addrs = f.addrs();
    let boss = sign_in(f.front(), "boss", &f.boss_password)?;
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
                Some(&f.staff),
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
        "replicas: a change through replica 1 reached replica 2's live feed in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Map data imported through replica 1: replica 2 serves the new data version.
pub(crate) fn an_import_through_one_replica_moves_another_to_the_new_data_version(
    f: &mut Fixture,
) -> Result<()> {
    let addrs = f.addrs();
    let staff = f.staff.as_str();
    let version = |addr: SocketAddr| -> Result<String> {
        let r = request(
            addr,
            "GET",
            "/api/features/index.json?sel=unit:luton",
            Some(staff),
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
    let r = request_body(
        addrs[0],
        "POST",
        "/import/outlets",
        staff,
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
        "replicas: an import through replica 1 moved replica 2 to the new data version within {} ms",
        seen.as_millis()
    );
    Ok(())
}

/// Concurrent writes through HAProxy, spread over the replicas, all land.
pub(crate) fn concurrent_writes_through_haproxy_all_land(f: &mut Fixture) -> Result<()> {
    let front = f.front();
    let before = f.db.shares()?;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let staff = f.staff.clone();
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
    let after = f.db.shares()?;
    ensure!(
        after == before + 30,
        "30 concurrent writes, {} landed",
        after - before
    );
    eprintln!("replicas: 30 concurrent writes through HAProxy, 30 stored");
    Ok(())
}

/// One checklist point, as the migration page reads it.
#[derive(Clone, Copy)]
struct Point {
    id: i64,
    revision: i64,
}

/// A migration is created, then three people tick its points at the same time,
/// each through a different replica: every tick lands, and a tick made on a
/// stale view is refused (409), not overwritten.
pub(crate) fn one_checklist_ticked_through_three_replicas_at_once_keeps_every_tick(
    f: &mut Fixture,
) -> Result<()> {
    let addrs = f.addrs();
    let staff = f.staff.as_str();
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
    let points: Vec<Point> = read(addrs[1])?["sections"]
        .as_array()
        .context("sections")?
        .iter()
        .flat_map(|s| s["items"].as_array().cloned().unwrap_or_default())
        .map(|i| Point {
            id: i["id"].as_i64().unwrap_or(0),
            revision: i["revision"].as_i64().unwrap_or(0),
        })
        .collect();
    ensure!(
        points.len() >= 30,
        "the checklist has {} points",
        points.len()
    );
    let started = Instant::now();
    let tickers: Vec<_> = (0..3)
        .map(|t| {
            let (addr, staff) = (addrs[t], staff.to_owned());
            let mine: Vec<Point> = points.iter().copied().skip(t).step_by(3).collect();
            std::thread::spawn(move || -> Result<usize> {
                for Point { id: item, revision } in &mine {
                    let r = request(
                        addr,
                        "POST",
                        "/api/migrations/tick",
                        Some(&staff),
                        Some(&format!(
                            "migration={id}&item={item}&state=done&note=replica+{t}&revision={revision}"
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
        progress["done"].as_i64() == Some(i64::try_from(points.len())?),
        "{ticked} ticks through 3 replicas, progress now {progress}"
    );
    // The first point again, on the revision seen before the ticks, via another replica.
    let Point { id: item, revision } = points[0];
    let r = request(
        addrs[1],
        "POST",
        "/api/migrations/tick",
        Some(staff),
        Some(&format!(
            "migration={id}&item={item}&state=open&note=&revision={revision}"
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
        "replicas: {ticked} ticks of one checklist through 3 replicas at once in {} ms, all {ticked} stored; a stale tick got 409",
        took.as_millis()
    );
    Ok(())
}

/// Reads `/api/events` on `addr` until `needle` appears (15 s at most), calling
/// `hello` once the stream has said hello; the line with `needle`.
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
