//! The checks against real peers on loopback: dnsmasq, openssl s_server, and tokio
//! listeners in the test. A missing binary fails the test with what installs it.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use model::checklist::{AutomatedCheck, CheckReport, Verdict};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::testing::*;

fn verdict_of<'a>(report: &'a CheckReport, subject_part: &str) -> &'a model::checklist::Evidence {
    report
        .evidence
        .iter()
        .find(|e| e.subject.contains(subject_part))
        .unwrap_or_else(|| panic!("no evidence for {subject_part} in {report:#?}"))
}

fn target(names: &[&str], target: &str) -> MigrationTarget {
    MigrationTarget {
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        target: target.to_owned(),
        services: Vec::new(),
        ttl_limit: 300,
        moved: false,
        http_port: 80,
        https_port: 443,
    }
}

fn quick() -> ProbeConfig {
    ProbeConfig {
        timeout: Duration::from_millis(500),
        ..ProbeConfig::default()
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn parse_domain_normalises_and_explains() {
    assert_eq!(
        parse_domain("  WWW.Example.COM. "),
        Ok("www.example.com".to_owned())
    );
    assert_eq!(
        parse_domain("a-b.c1.example"),
        Ok("a-b.c1.example".to_owned())
    );
    let err = |s: &str| parse_domain(s).expect_err(s).0;
    assert_eq!(
        err("exa mple.com"),
        "\"exa mple.com\" is not a domain name: a label may hold only letters, digits and hyphens"
    );
    assert!(
        err("*.example.com").contains("wildcards"),
        "{}",
        err("*.example.com")
    );
    assert!(err("localhost").contains("at least two labels"));
    assert!(err("a..example.com").contains("empty"));
    assert!(err(".example.com").contains("empty"));
    assert!(err("-a.example.com").contains("hyphen"));
    assert!(err(&format!("{}.com", "a".repeat(64))).contains("longer than 63"));
    let long = format!("{}.com", ["abcdefghij"; 24].join("."));
    assert!(long.len() > 253);
    assert!(err(&long).contains("253"));
    assert!(err("").contains("needed"));
    assert!(err("bücher.example").contains("only letters"));
    assert!(err("example.com/path").contains("only letters"));
}

#[test]
fn service_ports_parse_and_round_trip() {
    let p = |s: &str| s.parse::<ServicePort>();
    assert_eq!(
        p("smtp"),
        Ok(ServicePort {
            service: Service::Smtp,
            port: 25
        })
    );
    assert_eq!(
        p(" SMTP:2525 "),
        Ok(ServicePort {
            service: Service::Smtp,
            port: 2525
        })
    );
    assert_eq!(p("postgresql").map(|s| s.service), Ok(Service::Postgres));
    assert_eq!(p("Postgres").map(|s| s.port), Ok(5432));
    assert_eq!(p("pop3").map(|s| s.port), Ok(110));
    assert_eq!(p("mysql").map(|s| s.port), Ok(3306));
    let defaults: Vec<u16> = Service::ALL.iter().map(|s| s.default_port()).collect();
    assert_eq!(defaults, [80, 443, 25, 143, 110, 21, 3306, 5432, 22]);
    for s in Service::ALL {
        let sp = ServicePort::default_for(s);
        assert_eq!(sp.to_string().parse::<ServicePort>(), Ok(sp));
    }
    assert_eq!(
        p("smtp:2525").map(|s| s.to_string()),
        Ok("smtp:2525".to_owned())
    );
    assert_eq!(p("ssh").map(|s| s.to_string()), Ok("ssh:22".to_owned()));
    let e = p("gopher").expect_err("gopher").0;
    assert!(e.starts_with("\"gopher\" is not a known service"), "{e}");
    assert!(
        e.contains("smtp") && e.contains("postgres") && e.contains("ssh"),
        "{e}"
    );
    assert!(p("smtp:0").expect_err("0").0.contains("1 to 65535"));
    assert!(p("smtp:70000").expect_err("70000").0.contains("1 to 65535"));
    assert!(p("smtp:x").expect_err("x").0.contains("bad port"));
}

#[test]
fn wildcards_cover_one_label() {
    assert!(tls::name_matches("*.example.test", "www.example.test"));
    assert!(!tls::name_matches("*.example.test", "example.test"));
    assert!(!tls::name_matches("*.example.test", "a.b.example.test"));
    assert!(tls::name_matches("WWW.example.test", "www.example.test"));
}

#[tokio::test]
async fn nothing_to_check_cannot_run() {
    let cfg = quick();
    for check in [
        AutomatedCheck::DnsTtl,
        AutomatedCheck::TlsCertificate,
        AutomatedCheck::HttpHost,
    ] {
        let r = run(check, &cfg, &target(&[], "127.0.0.1")).await;
        assert_eq!(r.verdict, Verdict::CannotRun, "{r:?}");
        assert!(r.summary.contains("no names"), "{r:?}");
    }
    let r = run(
        AutomatedCheck::ServicePorts,
        &cfg,
        &target(&["a.example.test"], "127.0.0.1"),
    )
    .await;
    assert_eq!(r.verdict, Verdict::CannotRun);
    assert!(r.summary.contains("no services"), "{}", r.summary);
}

// ---------------------------------------------------------------- DNS

fn dns_cfg(dns: &Dns) -> ProbeConfig {
    ProbeConfig {
        dns_server: Some(dns.addr),
        timeout: Duration::from_secs(2),
        ..ProbeConfig::default()
    }
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs dnsmasq: cargo xtask test runs it"
)]
#[tokio::test]
async fn dns_ttl_before_the_move() {
    let dns = dnsmasq().await;
    let cfg = dns_cfg(&dns);
    let names = [
        "low.example.test",
        "high.example.test",
        "www.example.test",
        "missing.example.test",
    ];
    let r = run(AutomatedCheck::DnsTtl, &cfg, &target(&names, "127.0.0.1")).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert_eq!(r.evidence.len(), 4);
    let low = verdict_of(&r, "low.example.test");
    assert_eq!(low.verdict, Verdict::Pass, "{low:?}");
    assert!(low.detail.contains("A 127.0.0.1 (TTL 60 s)"), "{low:?}");
    let high = verdict_of(&r, "high.example.test");
    assert_eq!(high.verdict, Verdict::Fail, "{high:?}");
    assert!(high.detail.contains("3600 s > limit 300 s"), "{high:?}");
    let www = verdict_of(&r, "www.example.test");
    assert_eq!(www.verdict, Verdict::Pass, "{www:?}");
    assert!(
        www.detail.contains("CNAME low.example.test (TTL 120 s)"),
        "{www:?}"
    );
    assert!(
        www.detail
            .contains("low.example.test A 127.0.0.1 (TTL 60 s)"),
        "{www:?}"
    );
    let missing = verdict_of(&r, "missing.example.test");
    assert_eq!(missing.verdict, Verdict::Fail);
    assert!(missing.detail.contains("does not exist"), "{missing:?}");
    assert!(
        r.summary.starts_with("2 of 4 names are not ready"),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains("high.example.test TTL 3600 s"),
        "{}",
        r.summary
    );

    let ok = run(
        AutomatedCheck::DnsTtl,
        &cfg,
        &target(&names[..1], "127.0.0.1"),
    )
    .await;
    assert_eq!(ok.verdict, Verdict::Pass, "{ok:#?}");
    assert_eq!(ok.summary, "The name has TTL <= 300 s");
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs dnsmasq: cargo xtask test runs it"
)]
#[tokio::test]
async fn dns_after_the_move() {
    let dns = dnsmasq().await;
    let cfg = dns_cfg(&dns);
    let mut t = target(&["low.example.test", "elsewhere.example.test"], "127.0.0.1");
    t.moved = true;
    let r = run(AutomatedCheck::DnsTtl, &cfg, &t).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert_eq!(verdict_of(&r, "low.example.test").verdict, Verdict::Pass);
    let elsewhere = verdict_of(&r, "elsewhere.example.test");
    assert_eq!(elsewhere.verdict, Verdict::Fail);
    assert!(
        elsewhere
            .detail
            .contains("resolves to 192.0.2.50, not the target 127.0.0.1"),
        "{elsewhere:?}"
    );
    assert!(elsewhere.detail.contains("TTL 60 s"), "{elsewhere:?}");

    // The target by name, resolved through the same server.
    t.target = "high.example.test".to_owned();
    t.names = vec!["low.example.test".to_owned()];
    let r = run(AutomatedCheck::DnsTtl, &cfg, &t).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    t.target = "nowhere.example.test".to_owned();
    let r = run(AutomatedCheck::DnsTtl, &cfg, &t).await;
    assert_eq!(r.verdict, Verdict::CannotRun, "{r:#?}");
    assert!(r.summary.contains("does not resolve"), "{}", r.summary);
}

#[tokio::test]
async fn dns_server_not_answering_cannot_run() {
    let cfg = ProbeConfig {
        dns_server: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))),
        timeout: Duration::from_millis(500),
        ..ProbeConfig::default()
    };
    let started = std::time::Instant::now();
    let r = run(
        AutomatedCheck::DnsTtl,
        &cfg,
        &target(&["low.example.test"], "127.0.0.1"),
    )
    .await;
    assert_eq!(r.verdict, Verdict::CannotRun, "{r:#?}");
    assert!(
        r.summary.starts_with("Could not ask DNS server 127.0.0.1:"),
        "{}",
        r.summary
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- TLS

struct Tls {
    _peers: Vec<Peer>,
    _dir: tempfile::TempDir,
    ca_pem: Vec<u8>,
    valid: u16,
    nearly: u16,
    expired: u16,
}

async fn tls_servers() -> Tls {
    require("openssl", "openssl", "openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    test_ca(d, "DNS:www.example.test,DNS:example.test");
    let certs = [
        leaf(d, "valid", -1, 90),
        leaf(d, "nearly", -60, 3),
        leaf(d, "expired", -30, -2),
    ];
    let mut peers = Vec::new();
    let mut ports = Vec::new();
    for (cert, key) in certs {
        let port = free_port();
        let peer = s_server(port, &cert, &key).await;
        peers.push(peer);
        ports.push(port);
    }
    let ca_pem = std::fs::read(d.join("ca.pem")).expect("ca.pem");
    Tls {
        _peers: peers,
        _dir: dir,
        ca_pem,
        valid: ports[0],
        nearly: ports[1],
        expired: ports[2],
    }
}

async fn tls_run(cfg: &ProbeConfig, names: &[&str], port: u16) -> CheckReport {
    let mut t = target(names, "127.0.0.1");
    t.https_port = port;
    run(AutomatedCheck::TlsCertificate, cfg, &t).await
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs openssl s_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn tls_certificates() {
    let tls = tls_servers().await;
    let cfg = ProbeConfig {
        extra_roots_pem: tls.ca_pem.clone(),
        timeout: Duration::from_secs(3),
        ..ProbeConfig::default()
    };

    let r = tls_run(&cfg, &["www.example.test", "example.test"], tls.valid).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let e = &r.evidence[0];
    assert!(e.detail.starts_with("valid, expires "), "{e:?}");
    assert!(
        e.detail.contains("(89 days)") || e.detail.contains("(90 days)"),
        "{e:?}"
    );
    assert!(
        e.detail
            .contains("covers www.example.test, example.test; issuer Switchboard Test CA"),
        "{e:?}"
    );
    assert!(
        r.summary
            .starts_with("All 2 names have a valid, trusted certificate"),
        "{}",
        r.summary
    );

    let r = tls_run(&cfg, &["www.example.test"], tls.nearly).await;
    assert_eq!(r.verdict, Verdict::Warn, "{r:#?}");
    assert!(r.evidence[0].detail.starts_with("expires soon"), "{r:#?}");

    let r = tls_run(&cfg, &["www.example.test"], tls.expired).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert!(r.evidence[0].detail.starts_with("expired "), "{r:#?}");
    assert!(!r.evidence[0].detail.contains("untrusted"), "{r:#?}");

    let r = tls_run(&cfg, &["other.example.test"], tls.valid).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert!(
        r.evidence[0]
            .detail
            .starts_with("does not cover other.example.test"),
        "{r:#?}"
    );

    let no_ca = ProbeConfig {
        extra_roots_pem: Vec::new(),
        ..cfg.clone()
    };
    let r = tls_run(&no_ca, &["www.example.test"], tls.valid).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert!(r.evidence[0].detail.contains("untrusted"), "{r:#?}");
    assert!(r.summary.contains("untrusted"), "{}", r.summary);

    let r = tls_run(&cfg, &["www.example.test"], free_port()).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert!(r.evidence[0].detail.contains("refused"), "{r:#?}");

    let bad = ProbeConfig {
        extra_roots_pem: b"not pem".to_vec(),
        ..cfg.clone()
    };
    let r = tls_run(&bad, &["www.example.test"], tls.valid).await;
    assert_eq!(r.verdict, Verdict::CannotRun, "{r:#?}");
}

// ---------------------------------------------------------------- ports

/// A listener that greets each connection with `banner` (nothing when empty) and holds it.
async fn greeter(banner: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if !banner.is_empty() {
                    let _ = s.write_all(banner.as_bytes()).await;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn service_ports() {
    let (ssh, t1) = greeter("SSH-2.0-Switchboard_Test\r\n").await;
    let (smtp, t2) = greeter("220 mail.example.test ESMTP ready\r\n").await;
    let (plain, t3) = greeter("").await;
    let (silent, t4) = greeter("").await;
    let closed = free_port();
    let sp = |service, port| ServicePort { service, port };
    let mut t = target(&[], "127.0.0.1");
    t.services = vec![
        sp(Service::Ssh, ssh),
        sp(Service::Smtp, smtp),
        sp(Service::Mysql, plain),
        sp(Service::Pop3, silent),
        sp(Service::Smtp, closed),
    ];
    let started = std::time::Instant::now();
    let r = run(AutomatedCheck::ServicePorts, &quick(), &t).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    let e = |port: u16| verdict_of(&r, &format!(":{port}")).clone();
    assert_eq!(e(ssh).verdict, Verdict::Pass);
    assert!(
        e(ssh).detail.starts_with("SSH-2.0-Switchboard_Test"),
        "{:?}",
        e(ssh)
    );
    assert_eq!(e(smtp).verdict, Verdict::Pass);
    assert!(
        e(smtp).detail.starts_with("220 mail.example.test"),
        "{:?}",
        e(smtp)
    );
    assert_eq!(e(plain).verdict, Verdict::Pass);
    assert!(e(plain).detail.starts_with("accepted"), "{:?}", e(plain));
    assert_eq!(e(silent).verdict, Verdict::Warn);
    assert_eq!(e(silent).detail, "accepted, no banner within 0.5 s");
    assert_eq!(e(closed).verdict, Verdict::Fail);
    assert_eq!(e(closed).detail, "refused");
    assert_eq!(e(closed).subject, format!("smtp 127.0.0.1:{closed}"));
    assert!(
        r.summary.starts_with(&format!(
            "1 of 5 ports do not answer: smtp 127.0.0.1:{closed} refused"
        )),
        "{}",
        r.summary
    );
    assert!(r.summary.contains("no banner"), "{}", r.summary);

    t.services.truncate(3);
    let r = run(AutomatedCheck::ServicePorts, &quick(), &t).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(r.summary, "All 3 ports answer on 127.0.0.1");
    for task in [t1, t2, t3, t4] {
        task.abort();
    }
}

// ---------------------------------------------------------------- HTTP

/// A tiny HTTP server answering by Host header: 200 for good.example.test, 500 for
/// broken.example.test, 404 for others, 200 (the default site) without a Host header.
async fn http_server() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host:"))
                    .map(|h| h.trim().split(':').next().unwrap_or("").to_owned());
                let (status, body) = match host.as_deref() {
                    None => ("200 OK", "default site"),
                    Some("good.example.test") => ("200 OK", "good"),
                    Some("moved.example.test") => ("301 Moved Permanently", "moved"),
                    Some("broken.example.test") => ("500 Internal Server Error", "broken"),
                    Some(_) => ("404 Not Found", "no such site"),
                };
                let location = if status.starts_with("301") {
                    "Location: https://good.example.test/\r\n"
                } else {
                    ""
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nServer: TestHTTP/1.0\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn http_host() {
    let (port, task) = http_server().await;
    let names = [
        "good.example.test",
        "moved.example.test",
        "broken.example.test",
        "other.example.test",
    ];
    let mut t = target(&names, "127.0.0.1");
    t.http_port = port;
    let r = run(AutomatedCheck::HttpHost, &quick(), &t).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert_eq!(r.evidence.len(), 5);
    let good = verdict_of(&r, "//good.example.test");
    assert_eq!(good.verdict, Verdict::Pass);
    assert_eq!(good.detail, "200 OK, Server: TestHTTP/1.0");
    let moved = verdict_of(&r, "//moved.example.test");
    assert_eq!(moved.verdict, Verdict::Pass);
    assert!(
        moved
            .detail
            .contains("301 Moved Permanently -> https://good.example.test/"),
        "{moved:?}"
    );
    assert_eq!(
        verdict_of(&r, "//broken.example.test").verdict,
        Verdict::Fail
    );
    let other = verdict_of(&r, "//other.example.test");
    assert_eq!(other.verdict, Verdict::Warn);
    assert!(other.detail.starts_with("404"), "{other:?}");
    let old = verdict_of(&r, "without Host");
    assert_eq!(old.verdict, Verdict::Pass);
    assert!(
        old.detail
            .starts_with("HTTP/1.0 without Host: 200, the default site answers"),
        "{old:?}"
    );
    assert!(
        r.summary.contains("broken.example.test 500"),
        "{}",
        r.summary
    );

    t.names = vec!["good.example.test".to_owned()];
    let r = run(AutomatedCheck::HttpHost, &quick(), &t).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");

    t.http_port = free_port();
    let r = run(AutomatedCheck::HttpHost, &quick(), &t).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert!(
        r.evidence.iter().all(|e| e.verdict == Verdict::Fail),
        "{r:#?}"
    );
    assert!(r.evidence[0].detail.contains("refused"), "{r:#?}");
    task.abort();
}
