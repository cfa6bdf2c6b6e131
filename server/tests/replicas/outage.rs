//! PostgreSQL out of reach for a few seconds, and a browser through HAProxy.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{ensure, Context as _, Result};
use testbed::{
    http::{request, wait_for},
    server::{add_user_with, random_password},
};

use crate::fixture::Fixture;

/// PostgreSQL goes away (the replicas' link to it is cut): pages, writes and
/// `/healthz` answer 503 saying why; when it is back the replicas recover with
/// no one's help, and nothing written before is lost.
pub(crate) fn with_postgresql_gone_pages_and_writes_answer_503_and_recover_by_themselves(
    f: &mut Fixture,
) -> Result<()> {
    let (front, replica) = (f.front(), f.addrs()[0]);
    let staff = f.staff.as_str();
    let before = f.db.shares()?;
    let outage = f.link.cut()?;
    let down = request(replica, "GET", "/healthz", None, None)?;
    ensure!(
        down.status == 503,
        "/healthz with the database down: {}",
        down.status
    );
    let page = request(front, "GET", "/checklist", Some(staff), None)?;
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
        Some(staff),
        Some("selection=area:east-of-england&label=lost"),
    )?;
    ensure!(
        write.status == 503,
        "a write with the database down: {} {}",
        write.status,
        write.body
    );
    std::thread::sleep(Duration::from_secs(2));
    outage.end()?;
    let recovered = wait_for(
        Duration::from_secs(30),
        "recovery after PostgreSQL is back",
        || Ok(request(front, "GET", "/checklist", Some(staff), None).is_ok_and(|r| r.status == 200)),
    )?;
    let kept = f.db.shares()?;
    ensure!(
        kept == before,
        "writes before the outage: {before}, after it: {kept}"
    );
    let r = request(
        front,
        "POST",
        "/api/shares/create",
        Some(staff),
        Some("selection=area:east-of-england&label=after"),
    )?;
    ensure!(
        r.status == 200,
        "a write after recovery: {} {}",
        r.status,
        r.body
    );
    eprintln!(
        "replicas: PostgreSQL out of reach: pages and writes answered 503; back by itself {} ms after it returned; no write lost",
        recovered.as_millis()
    );
    Ok(())
}

/// The browser through HAProxy: the reach map works with its requests (page,
/// server functions, feature pages) spread over the replicas, and the health
/// page follows a backend going DOWN live, whichever replica runs the checker
/// and whichever serves the page and its event stream.
pub(crate) fn the_reach_map_and_the_live_health_page_work_in_a_browser_through_haproxy(
    f: &mut Fixture,
) -> Result<()> {
    let end2end = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace folder")?
        .join("end2end");
    ensure!(
        end2end.join("node_modules/.bin/playwright").exists(),
        "Playwright is not installed in {}: `cargo xtask replicas` installs it and runs this test",
        end2end.display()
    );
    let db_arg = ["--database-url", f.database_url.as_str()];
    let mut env = Vec::new();
    for role in ["admin", "staff", "viewer"] {
        let user = format!("e2e-{role}");
        let password = random_password()?;
        add_user_with(&f.bin, &f.scratch, &db_arg, &user, role, &password)?;
        let key = role.to_uppercase();
        env.push((format!("E2E_{key}_USER"), user));
        env.push((format!("E2E_{key}_PASSWORD"), password));
    }
    let status = Command::new("npx")
        .args([
            "playwright",
            "test",
            "--project=setup",
            "--project=hydrated",
            "tests/map.spec.ts",
            "tests/health.spec.ts",
        ])
        .env("BASE_URL", format!("http://{}", f.front()))
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&end2end)
        .status()
        .context("starting npx playwright")?;
    ensure!(
        status.success(),
        "the map and the live health page in Chromium through HAProxy: playwright failed ({status})"
    );
    eprintln!(
        "replicas: the reach map's and the live health page's browser tests passed through HAProxy across 3 replicas"
    );
    Ok(())
}
