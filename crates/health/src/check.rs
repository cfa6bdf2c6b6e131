//! One health check: a TCP connect, or a lean HTTP/1.1 request over TCP or TLS.
//!
//! No HTTP client library: the request is written once per target (see [`Prepared`]),
//! the answer is read into a small buffer, and only the status line is parsed (plus
//! up to [`BODY_LIMIT`] of body when the check looks for a string in it). Sockets are
//! closed with a zero linger (an RST, as HAProxy does), so checks leave no TIME_WAIT.

use std::{
    net::SocketAddr,
    str::FromStr as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use model::health::{CheckKind, Observation, TargetSpec};
use rustls::{pki_types::ServerName, CertificateError, ClientConfig};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::TcpStream,
};
use x509_parser::prelude::FromDer as _;

use probe::tls::{provider, root_store, trust_problem};

/// How much of the body a `body_match` check reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Why the TLS client of the HTTPS checks could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The extra CA certificates are unusable (the sentence says why).
    #[error("{0}")]
    Roots(#[from] probe::CannotRun),
    #[error("cannot set up TLS: {0}")]
    Protocols(#[source] rustls::Error),
}

/// Why a target cannot be checked as it is given: every check of it fails
/// with this sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid address {0:?} (expected host:port)")]
    Address(String),
    /// A method, path or host that cannot go into the request as it is.
    #[error("invalid HTTP {what}: {value:?}")]
    Request { what: &'static str, value: String },
    #[error("invalid TLS server name {name:?}: {reason}")]
    ServerName { name: String, reason: String },
}

/// Why an answer is not one the check can judge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum AnswerError {
    #[error("connection closed without an answer")]
    Empty,
    /// The first line (up to 80 bytes) as sent.
    #[error("not an HTTP answer: {0:?}")]
    NotHttp(String),
}

/// The TLS client the HTTPS checks use: the webpki roots plus `extra_roots_pem`
/// (PEM CA certificates; none when empty).
///
/// # Errors
/// The extra roots are unusable, or rustls refuses its default protocols.
pub fn tls_config(extra_roots_pem: &[u8]) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let roots = root_store(extra_roots_pem)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Checks `spec` once.
#[tracing::instrument(level = "trace", skip_all, fields(target = spec.id, kind = spec.kind.as_str()))]
pub async fn check_once(spec: &TargetSpec, tls: &Arc<ClientConfig>) -> Observation {
    match Prepared::new(spec) {
        Ok(p) => p.run(tls).await,
        Err(e) => Observation {
            at_ms: now_ms(),
            ok: false,
            latency_ms: 0,
            message: e.to_string(),
            warning: None,
        },
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where to connect.
#[derive(Debug)]
enum Addr {
    Ip(SocketAddr),
    /// A name, resolved at every check.
    Name(String, u16),
}

/// A target made ready to check again and again: the address parsed, the request
/// written out, the TLS server name built.
#[derive(Debug)]
pub(crate) struct Prepared {
    kind: CheckKind,
    addr: Addr,
    request: Box<[u8]>,
    server_name: Option<ServerName<'static>>,
    expect_status: Option<u16>,
    body_match: Option<Box<[u8]>>,
    body_match_text: String,
    timeout: Duration,
    timeout_ms: u32,
    cert_warn_days: u32,
}

/// What an exchange ended with (the latency is added afterwards).
enum Outcome {
    Connected,
    Status(u16),
    WrongStatus(u16),
    BodyMismatch(u16),
    Failed(String),
}

impl Prepared {
    /// `Err` says what is wrong with the spec (the check then fails with it).
    pub(crate) fn new(spec: &TargetSpec) -> Result<Self, SpecError> {
        let (host, port) = split_host_port(&spec.address)?;
        let addr = match std::net::IpAddr::from_str(host) {
            Ok(ip) => Addr::Ip(SocketAddr::new(ip, port)),
            Err(_) => Addr::Name(host.to_owned(), port),
        };
        let http = &spec.http;
        let host_header = http.host.as_deref().unwrap_or(&spec.address);
        for (what, v) in [
            ("method", http.method.as_str()),
            ("path", http.path.as_str()),
            ("host", host_header),
        ] {
            if !fits_request_line(v) {
                return Err(SpecError::Request {
                    what,
                    value: v.to_owned(),
                });
            }
        }
        let request = format!(
            "{} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: Switchboard-health\r\nConnection: close\r\n\r\n",
            http.method, http.path
        )
        .into_bytes()
        .into_boxed_slice();
        let server_name = if spec.kind == CheckKind::Https {
            let sni = match http.host.as_deref() {
                Some(h) => split_host_port(h).map_or(h, |(h, _)| h),
                None => host,
            };
            Some(
                ServerName::try_from(sni.to_owned()).map_err(|e| SpecError::ServerName {
                    name: sni.to_owned(),
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let body_match = http
            .body_match
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| m.as_bytes().to_vec().into_boxed_slice());
        Ok(Self {
            kind: spec.kind,
            addr,
            request,
            server_name,
            expect_status: http.expect_status,
            body_match,
            body_match_text: http.body_match.clone().unwrap_or_default(),
            timeout: Duration::from_millis(u64::from(spec.timing.timeout_ms.max(1))),
            timeout_ms: spec.timing.timeout_ms.max(1),
            cert_warn_days: spec.cert_warn_days,
        })
    }

    /// One check, bounded as a whole by the timeout.
    pub(crate) async fn run(&self, tls: &Arc<ClientConfig>) -> Observation {
        let start = Instant::now();
        let connected = AtomicBool::new(false);
        let mut warning = None;
        let result =
            tokio::time::timeout(self.timeout, self.exchange(tls, &connected, &mut warning)).await;
        let latency_ms = u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX);
        let (ok, message) = match result {
            Ok(Outcome::Connected) => (true, format!("connected in {latency_ms} ms")),
            Ok(Outcome::Status(code)) => (true, format!("HTTP {code} in {latency_ms} ms")),
            Ok(Outcome::WrongStatus(code)) => (
                false,
                match self.expect_status {
                    Some(e) => format!("HTTP {code} (expected {e})"),
                    None => format!("HTTP {code} (expected 2xx/3xx)"),
                },
            ),
            Ok(Outcome::BodyMismatch(code)) => (
                false,
                format!(
                    "HTTP {code}, body does not contain {:?}",
                    self.body_match_text
                ),
            ),
            Ok(Outcome::Failed(why)) => (false, why),
            Err(_) => (
                false,
                if connected.load(Ordering::Relaxed) {
                    format!(
                        "timeout after {} ms (connected, no answer)",
                        self.timeout_ms
                    )
                } else {
                    format!("timeout after {} ms (no connection)", self.timeout_ms)
                },
            ),
        };
        Observation {
            at_ms: now_ms(),
            ok,
            latency_ms,
            message,
            warning,
        }
    }

    async fn exchange(
        &self,
        tls: &Arc<ClientConfig>,
        connected: &AtomicBool,
        warning: &mut Option<String>,
    ) -> Outcome {
        let addr = match &self.addr {
            Addr::Ip(a) => *a,
            Addr::Name(host, port) => match tokio::net::lookup_host((host.as_str(), *port)).await {
                Ok(mut addrs) => match addrs.next() {
                    Some(a) => a,
                    None => return Outcome::Failed(format!("{host} has no address")),
                },
                Err(e) => return Outcome::Failed(format!("cannot resolve {host}: {e}")),
            },
        };
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                return Outcome::Failed(match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                    _ => format!("connection failed: {e}"),
                })
            }
        };
        connected.store(true, Ordering::Relaxed);
        // An RST on close: no TIME_WAIT left behind by thousands of checks.
        let _ = stream.set_zero_linger();
        match (self.kind, &self.server_name) {
            (CheckKind::Tcp, _) => Outcome::Connected,
            (CheckKind::Http, _) | (CheckKind::Https, None) => self.http(stream).await,
            // Boxed: the TLS state is large, and only HTTPS checks need it.
            (CheckKind::Https, Some(name)) => {
                Box::pin(self.https(stream, tls, name, warning)).await
            }
        }
    }

    async fn https(
        &self,
        stream: TcpStream,
        tls: &Arc<ClientConfig>,
        name: &ServerName<'static>,
        warning: &mut Option<String>,
    ) -> Outcome {
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let stream = match connector.connect(name.clone(), stream).await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(handshake_failure(&e, name)),
        };
        if self.cert_warn_days > 0 {
            *warning = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|leaf| expiry_warning(leaf.as_ref(), self.cert_warn_days));
        }
        self.http(stream).await
    }

    /// Sends the request, reads the status line (and the body when it is matched).
    async fn http<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) -> Outcome {
        if let Err(e) = s.write_all(&self.request).await {
            return Outcome::Failed(format!("cannot send the request: {}", io_words(&e)));
        }
        if let Err(e) = s.flush().await {
            return Outcome::Failed(format!("cannot send the request: {}", io_words(&e)));
        }
        let Some(pattern) = &self.body_match else {
            // The status line only: a small buffer on the stack.
            let mut buf = [0u8; 128];
            let mut len = 0;
            loop {
                match s.read(&mut buf[len..]).await {
                    Ok(0) => break,
                    Ok(n) => len += n,
                    Err(e) if len > 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Outcome::Failed(read_failure(&e)),
                }
                if len == buf.len() || buf[..len].contains(&b'\n') {
                    break;
                }
            }
            return match status_code(&buf[..len]) {
                Ok(code) => self.judge(code),
                Err(why) => Outcome::Failed(why.to_string()),
            };
        };
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut head_end: Option<usize> = None;
        let mut content_length: Option<usize> = None;
        loop {
            buf.reserve(4096);
            match s.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Outcome::Failed(read_failure(&e)),
            }
            if head_end.is_none() {
                head_end = find(&buf, b"\r\n\r\n").map(|i| i + 4);
                if let Some(h) = head_end {
                    content_length = header_content_length(&buf[..h]);
                } else if buf.len() > 64 * 1024 {
                    return Outcome::Failed("the answer's headers are too long".to_owned());
                }
            }
            if let Some(h) = head_end {
                let body = buf.len() - h;
                if body >= BODY_LIMIT || content_length.is_some_and(|l| body >= l) {
                    break;
                }
            }
        }
        let code = match status_code(&buf) {
            Ok(code) => code,
            Err(why) => return Outcome::Failed(why.to_string()),
        };
        let outcome = self.judge(code);
        if !matches!(outcome, Outcome::Status(_)) {
            return outcome;
        }
        let body = head_end.map_or(&[][..], |h| {
            let end = buf.len().min(h + BODY_LIMIT);
            &buf[h..end]
        });
        if find(body, pattern).is_some() {
            outcome
        } else {
            Outcome::BodyMismatch(code)
        }
    }

    fn judge(&self, code: u16) -> Outcome {
        let good = match self.expect_status {
            Some(e) => code == e,
            None => (200..400).contains(&code),
        };
        if good {
            Outcome::Status(code)
        } else {
            Outcome::WrongStatus(code)
        }
    }
}

/// Whether `v` can go into the check's request line or `Host` header as it
/// is: not empty, no spaces, no control characters (a new line would end the
/// header). The target form refuses what this refuses, so a stored target
/// never fails every check for it.
#[must_use]
pub fn fits_request_line(v: &str) -> bool {
    !v.is_empty() && !v.bytes().any(|b| b.is_ascii_control() || b == b' ')
}

/// `host:port`, `[v6]:port`: the host (without brackets) and the port.
fn split_host_port(address: &str) -> Result<(&str, u16), SpecError> {
    let bad = || SpecError::Address(address.to_owned());
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host, port))
}

/// The code of `HTTP/1.x NNN ...`.
fn status_code(answer: &[u8]) -> Result<u16, AnswerError> {
    if answer.is_empty() {
        return Err(AnswerError::Empty);
    }
    let line_end = answer
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(answer.len());
    let line = String::from_utf8_lossy(&answer[..line_end.min(80)]);
    let line = line.trim_end();
    let mut parts = line.split(' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return Err(AnswerError::NotHttp(line.to_owned()));
    }
    code.parse()
        .map_err(|_| AnswerError::NotHttp(line.to_owned()))
}

fn header_content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset => "connection reset by the peer".to_owned(),
        std::io::ErrorKind::BrokenPipe => "connection closed by the peer".to_owned(),
        _ => e.to_string(),
    }
}

fn read_failure(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "connection closed without an answer".to_owned(),
        _ => format!("no answer: {}", io_words(e)),
    }
}

/// `TLS handshake failed: ...`, saying what is wrong with the certificate when that is it.
fn handshake_failure(e: &std::io::Error, name: &ServerName<'_>) -> String {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return format!("TLS handshake failed: {}", io_words(e));
    };
    let why = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired => "certificate expired".to_owned(),
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("certificate expired on {}", date(not_after.as_secs()))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("certificate not valid for {}", name.to_str())
            }
            _ => trust_problem(tls).unwrap_or_else(|| format!("bad certificate: {c:?}")),
        },
        other => other.to_string(),
    };
    format!("TLS handshake failed: {why}")
}

fn date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| secs.to_string(), |t| t.strftime("%Y-%m-%d").to_string())
}

/// `certificate expires in N days (YYYY-MM-DD)` when the leaf expires within `warn_days`.
fn expiry_warning(leaf_der: &[u8], warn_days: u32) -> Option<String> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf_der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let now = now_ms() / 1000;
    let days_left = (not_after - now).div_euclid(86_400);
    (days_left < i64::from(warn_days)).then(|| {
        format!(
            "certificate expires in {days_left} days ({})",
            date(u64::try_from(not_after).unwrap_or(0))
        )
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn addresses_split() {
        assert_eq!(split_host_port("127.0.0.1:80"), Ok(("127.0.0.1", 80)));
        assert_eq!(split_host_port("[::1]:8443"), Ok(("::1", 8443)));
        assert_eq!(
            split_host_port("db.internal:5432"),
            Ok(("db.internal", 5432))
        );
        assert!(split_host_port("nohost").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("h:0").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Ok(503)
        );
        assert_eq!(status_code(b"HTTP/1.1 204"), Ok(204));
        assert_eq!(
            status_code(b"SSH-2.0-OpenSSH\r\n")
                .expect_err("not HTTP")
                .to_string(),
            "not an HTTP answer: \"SSH-2.0-OpenSSH\""
        );
        assert_eq!(
            status_code(b"").expect_err("empty").to_string(),
            "connection closed without an answer"
        );
        assert_eq!(
            header_content_length(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"),
            Some(12)
        );
    }
}
