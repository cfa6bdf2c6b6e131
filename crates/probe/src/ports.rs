//! The service ports check: each planned port accepts, and greets when it should.

use std::{net::SocketAddr, time::Instant};

use model::checklist::Verdict;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

use super::{
    budget, connect, for_each, secs, CannotRun, Done, Item, MigrationTarget, ProbeConfig,
    ServicePort,
};

pub(super) async fn check(cfg: &ProbeConfig, target: &MigrationTarget) -> Result<Done, CannotRun> {
    if target.services.is_empty() {
        return Err(CannotRun(
            "The plan lists no services, so there are no ports to check".to_owned(),
        ));
    }
    let ip = super::target_addr(cfg, target).await?;
    let n = target.services.len();
    let items = for_each(
        target.services.clone(),
        budget(cfg, n, 2),
        |sp| async move { one(cfg, SocketAddr::new(ip, sp.port), sp).await },
    )
    .await?;
    let summary = super::summarise(
        &items,
        "ports",
        &format!("{} on {ip}", super::all(n, "port answers", "ports answer")),
        "do not answer",
    );
    Ok(Done { items, summary })
}

async fn one(cfg: &ProbeConfig, addr: SocketAddr, sp: ServicePort) -> Item {
    let subject = format!("{} {addr}", sp.service);
    let started = Instant::now();
    let stream = match connect(addr, cfg.timeout).await {
        Ok(s) => s,
        Err(why) => {
            return Item::new(
                subject.clone(),
                Verdict::Fail,
                why.to_string(),
                format!("{subject} {why}"),
            )
        }
    };
    let ms = started.elapsed().as_millis();
    let Some(prefix) = sp.service.banner_prefix() else {
        return Item::new(subject, Verdict::Pass, format!("accepted in {ms} ms"), "");
    };
    // At most 1 KiB, so a peer that streams without a newline cannot hold memory.
    let mut reader = BufReader::new(stream.take(1024));
    let mut raw = Vec::new();
    let read = tokio::time::timeout(cfg.timeout, reader.read_until(b'\n', &mut raw)).await;
    let line = String::from_utf8_lossy(&raw)
        .trim_end()
        .chars()
        .take(200)
        .collect::<String>();
    match read {
        Ok(Ok(n)) if n > 0 && !line.is_empty() => {
            if line.starts_with(prefix) {
                Item::new(
                    subject,
                    Verdict::Pass,
                    format!("{line} (accepted in {ms} ms)"),
                    "",
                )
            } else {
                Item::new(
                    subject.clone(),
                    Verdict::Warn,
                    format!("accepted, but the greeting is not \"{prefix}...\": {line}"),
                    format!("{subject} unexpected greeting"),
                )
            }
        }
        Ok(Ok(_)) => Item::new(
            subject.clone(),
            Verdict::Warn,
            "accepted, then closed without a greeting",
            format!("{subject} closed without a greeting"),
        ),
        Ok(Err(e)) => Item::new(
            subject.clone(),
            Verdict::Warn,
            format!(
                "accepted, then the greeting failed: {}",
                super::io_reason(&e)
            ),
            format!("{subject} no greeting"),
        ),
        Err(_) => Item::new(
            subject.clone(),
            Verdict::Warn,
            format!("accepted, no banner within {}", secs(cfg.timeout)),
            format!("{subject} no banner"),
        ),
    }
}
