//! The HTTP Host check: what the target answers for each name, and for an old client
//! that sends no Host header.

use std::net::SocketAddr;

use model::checklist::Verdict;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use super::{budget, connect, for_each, secs, CannotRun, Done, Item, MigrationTarget, ProbeConfig};

pub(super) async fn check(cfg: &ProbeConfig, target: &MigrationTarget) -> Result<Done, CannotRun> {
    if target.names.is_empty() {
        return Err(CannotRun("The plan lists no names to check".to_owned()));
    }
    let ip = super::target_addr(cfg, target).await?;
    let addr = SocketAddr::new(ip, target.http_port);
    let n = target.names.len();
    let budget = budget(cfg, n + 1, 2);
    let (names, old) = futures_util::future::join(
        for_each(target.names.clone(), budget, |name| async move {
            one(cfg, addr, target.http_port, &name).await
        }),
        async {
            tokio::time::timeout(budget, without_host(cfg, addr))
                .await
                .unwrap_or_else(|_| {
                    Item::new(
                        format!("HTTP/1.0 without Host on {addr}"),
                        Verdict::Warn,
                        "no answer in time",
                        "HTTP/1.0 without Host: no answer",
                    )
                })
        },
    )
    .await;
    let mut items = names?;
    let all_names_pass = items.iter().all(|i| i.evidence.verdict == Verdict::Pass);
    items.push(old);
    let summary = super::summarise(
        &items,
        "requests",
        &format!(
            "{} over HTTP on {addr}, and so does the default site",
            super::all(n, "name answers", "names answer")
        ),
        "fail",
    );
    let summary = if all_names_pass
        && items
            .last()
            .is_some_and(|i| i.evidence.verdict != Verdict::Pass)
    {
        format!(
            "{} over HTTP on {addr}; {summary}",
            super::all(n, "name answers", "names answer")
        )
    } else {
        summary
    };
    Ok(Done { items, summary })
}

async fn one(cfg: &ProbeConfig, addr: SocketAddr, port: u16, name: &str) -> Item {
    let url = format!("http://{name}:{port}/");
    let subject = format!("{url} via {addr}");
    let client = match reqwest::Client::builder()
        .resolve(name, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Item::new(
                subject,
                Verdict::CannotRun,
                format!("cannot set up HTTP: {e}"),
                name,
            )
        }
    };
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                format!("timed out after {}", secs(cfg.timeout))
            } else {
                root_cause(&e)
            };
            return Item::new(subject, Verdict::Fail, why.clone(), format!("{name} {why}"));
        }
    };
    let status = response.status();
    let header = |h: reqwest::header::HeaderName| {
        response
            .headers()
            .get(h)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut detail = status.to_string();
    if status.is_redirection() {
        if let Some(loc) = header(reqwest::header::LOCATION) {
            detail.push_str(&format!(" -> {loc}"));
        }
    }
    if let Some(server) = header(reqwest::header::SERVER) {
        detail.push_str(&format!(", Server: {server}"));
    }
    let code = status.as_u16();
    let verdict = match code {
        200..=399 => Verdict::Pass,
        400..=499 => Verdict::Warn,
        _ => Verdict::Fail,
    };
    Item::new(subject, verdict, detail, format!("{name} {code}"))
}

/// The innermost cause of an error, in words: `Connection refused (os error 111)`.
fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    if let Some(io) = last.downcast_ref::<std::io::Error>() {
        return super::io_reason(io);
    }
    last.to_string()
}

/// `GET / HTTP/1.0` without a Host header over raw TCP: what the default site answers.
async fn without_host(cfg: &ProbeConfig, addr: SocketAddr) -> Item {
    let subject = format!("HTTP/1.0 without Host on {addr}");
    let mut stream = match connect(addr, cfg.timeout).await {
        Ok(s) => s,
        Err(why) => {
            return Item::new(
                subject,
                Verdict::Fail,
                format!("cannot connect: {why}"),
                format!("HTTP/1.0 without Host: {why}"),
            )
        }
    };
    let exchange = async {
        stream
            .write_all(b"GET / HTTP/1.0\r\nUser-Agent: switchboard-probe\r\n\r\n")
            .await?;
        let mut reader = BufReader::new((&mut stream).take(1024));
        let mut raw = Vec::new();
        reader.read_until(b'\n', &mut raw).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&raw).trim_end().to_owned())
    };
    let line = match tokio::time::timeout(cfg.timeout, exchange).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => {
            let why = super::io_reason(&e);
            return Item::new(
                subject,
                Verdict::Warn,
                format!("connected, then {why}"),
                format!("HTTP/1.0 without Host: {why}"),
            );
        }
        Err(_) => {
            return Item::new(
                subject,
                Verdict::Warn,
                format!("connected, no answer within {}", secs(cfg.timeout)),
                "HTTP/1.0 without Host: no answer",
            )
        }
    };
    // `HTTP/1.1 200 OK` -> `200`.
    let code = line.split_whitespace().nth(1).filter(|c| {
        line.starts_with("HTTP/") && c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit())
    });
    match code {
        Some(code) => Item::new(
            subject,
            Verdict::Pass,
            format!("HTTP/1.0 without Host: {code}, the default site answers ({line})"),
            "",
        ),
        None if line.is_empty() => Item::new(
            subject,
            Verdict::Warn,
            "connected, closed without an answer",
            "HTTP/1.0 without Host: closed without an answer",
        ),
        None => Item::new(
            subject,
            Verdict::Warn,
            format!(
                "connected, the answer is not HTTP: {}",
                line.chars().take(100).collect::<String>()
            ),
            "HTTP/1.0 without Host: not HTTP",
        ),
    }
}
