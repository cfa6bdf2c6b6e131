//! HAProxy's own view of its servers: the stats CSV, read from the stats page over
//! HTTP (`<stats uri>;csv`) or from the Runtime API socket (`show stat`), and where it
//! disagrees with our checker.
//!
//! Both sources answer the same CSV: a header line starting with `# ` naming the
//! columns, then one line per frontend, backend, server and listener. Columns are
//! read by name, so HAProxy versions that add columns still parse.
//!
//! A server's `addr` is only in the CSV when HAProxy shows "legends": on the admin
//! socket, or on a stats page with `stats show-legends`. Without it a server cannot be
//! matched to one of our targets by address.

use std::{net::SocketAddr, path::Path, path::PathBuf, time::Duration};

use model::health::{HaproxyRow, HaproxyRowKind, HealthState};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[cfg(test)]
#[path = "haproxy_tests.rs"]
mod tests;

/// Where an HAProxy instance's stats are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsSource {
    /// The stats page's CSV, `http://127.0.0.1:8404/stats;csv`, with optional basic auth
    /// (`stats auth user:password`). Plain HTTP only.
    Http {
        url: String,
        user: Option<String>,
        password: Option<String>,
    },
    /// The Runtime API socket (`stats socket /run/haproxy/admin.sock`).
    Socket { path: PathBuf },
}

/// One HAProxy whose stats we read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaproxyInstance {
    /// For people: `edge-1`.
    pub name: String,
    pub source: StatsSource,
}

/// Why HAProxy's stats could not be read: sentences for people.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(
        "https stats URLs are not supported ({url}): use the stats page over http:// or the stats socket"
    )]
    Https { url: String },
    #[error("cannot set up HTTP for the HAProxy stats: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{url} is not a usable stats URL: {cause}")]
    BadUrl { url: String, cause: String },
    /// Nothing listens, the connection broke...: `cause` in words.
    #[error("HAProxy stats at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("HAProxy stats answered 401: check the user and password")]
    Unauthorized,
    #[error("HAProxy stats at {url} answered {}", status_words(*.code, .reason))]
    Status {
        url: String,
        code: u16,
        reason: &'static str,
    },
    #[error("HAProxy socket {path}: {cause}")]
    Socket { path: String, cause: String },
    /// `what` is `HAProxy stats at <url>` or `HAProxy socket <path>`.
    #[error("{what}: no answer within {} ms", .timeout.as_millis())]
    NoAnswer { what: String, timeout: Duration },
    #[error(transparent)]
    Csv(#[from] CsvError),
}

/// `503 Service Unavailable`; the code alone when it has no name.
fn status_words(code: u16, reason: &str) -> String {
    format!("{code} {reason}").trim_end().to_owned()
}

/// What is wrong with a stats answer: sentences for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error(
        "HAProxy answered an HTML page, not CSV: the stats URL should end in ;csv \
         (http://host:8404/stats;csv)"
    )]
    Html,
    #[error("HAProxy's stats were empty: no header line")]
    Empty,
    /// The first line, up to 60 characters.
    #[error(
        "not HAProxy stats CSV: the first line should be the header `# pxname,svname,...`, \
         not `{0}`"
    )]
    NoHeader(String),
    #[error(
        "HAProxy's stats CSV lacks the column{} {}",
        if .0.len() == 1 { "" } else { "s" },
        .0.join(", ")
    )]
    MissingColumns(Vec<&'static str>),
    #[error("HAProxy's stats CSV, line {line}: {column} `{value}` is not a number")]
    NotANumber {
        line: usize,
        column: &'static str,
        value: String,
    },
    #[error("HAProxy's stats CSV, line {line}: type `{value}` is not a row type (0-3)")]
    RowType { line: usize, value: String },
}

/// Reads `instance`'s stats, all of it within `timeout`.
///
/// # Errors
/// The stats page answered 401 (wrong credentials), an HTML page instead of CSV,
/// nothing listening, no answer in time, or CSV without the columns.
#[tracing::instrument(skip_all, fields(instance = %instance.name), err(level = "warn"))]
pub async fn fetch(
    instance: &HaproxyInstance,
    timeout: Duration,
) -> Result<Vec<HaproxyRow>, StatsError> {
    let text = match &instance.source {
        StatsSource::Http {
            url,
            user,
            password,
        } => fetch_http(url, user.as_deref(), password.as_deref(), timeout).await?,
        StatsSource::Socket { path } => fetch_socket(path, timeout).await?,
    };
    Ok(parse_csv(&text)?)
}

async fn fetch_http(
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> Result<String, StatsError> {
    if url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        return Err(StatsError::Https { url: url.into() });
    }
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(StatsError::Client)?;
    let mut request = client.get(url);
    if let Some(user) = user {
        request = request.basic_auth(user, password);
    }
    let answer = async {
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    let (status, body) = match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) if e.is_timeout() => return Err(no_answer(url, timeout)),
        Ok(Err(e)) if e.is_builder() => {
            return Err(StatsError::BadUrl {
                url: url.into(),
                cause: root_cause(&e),
            })
        }
        Ok(Err(e)) => {
            return Err(StatsError::Unreachable {
                url: url.into(),
                cause: root_cause(&e),
            })
        }
        Err(_) => return Err(no_answer(url, timeout)),
    };
    match status.as_u16() {
        200..=299 => Ok(body),
        401 => Err(StatsError::Unauthorized),
        code => Err(StatsError::Status {
            url: url.into(),
            code,
            reason: status.canonical_reason().unwrap_or(""),
        }),
    }
}

fn no_answer(url: &str, timeout: Duration) -> StatsError {
    StatsError::NoAnswer {
        what: format!("HAProxy stats at {url}"),
        timeout,
    }
}

/// The innermost cause of an error, in words: `connection refused`.
fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    if let Some(io) = last.downcast_ref::<std::io::Error>() {
        return io_reason(io);
    }
    last.to_string()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is HAProxy running?)".to_owned()
        }
        std::io::ErrorKind::NotFound => "no such socket (is HAProxy running?)".to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (the socket's mode or owner)".to_owned()
        }
        std::io::ErrorKind::ConnectionReset => "connection reset by HAProxy".to_owned(),
        _ => e.to_string(),
    }
}

/// `show stat` on the Runtime API: HAProxy answers the CSV and closes.
async fn fetch_socket(path: &Path, timeout: Duration) -> Result<String, StatsError> {
    let shown = path.display();
    let talk = async {
        let mut stream = tokio::net::UnixStream::connect(path).await?;
        stream.write_all(b"show stat\n").await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    match tokio::time::timeout(timeout, talk).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(StatsError::Socket {
            path: shown.to_string(),
            cause: io_reason(&e),
        }),
        Err(_) => Err(StatsError::NoAnswer {
            what: format!("HAProxy socket {shown}"),
            timeout,
        }),
    }
}

/// The columns a row cannot do without.
const REQUIRED: [&str; 9] = [
    "pxname",
    "svname",
    "type",
    "status",
    "check_status",
    "scur",
    "stot",
    "bin",
    "bout",
];

/// Parses HAProxy's stats CSV (`# pxname,svname,...` then one line per row).
///
/// # Errors
/// The text is an HTML page, has no header line, lacks a needed column, or holds a
/// value that is not what its column should hold.
pub fn parse_csv(text: &str) -> Result<Vec<HaproxyRow>, CsvError> {
    let start = text.trim_start();
    let head = start.get(..start.len().min(512)).unwrap_or(start);
    if start.starts_with('<') || head.to_ascii_lowercase().contains("<html") {
        return Err(CsvError::Html);
    }
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(CsvError::Empty);
    };
    let Some(header) = header.strip_prefix('#') else {
        return Err(CsvError::NoHeader(header.chars().take(60).collect()));
    };
    let names = split_csv_line(header);
    let find = |name: &str| names.iter().position(|n| n.trim() == name);
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|n| find(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CsvError::MissingColumns(missing));
    }
    let col = |name: &str| find(name).unwrap_or(usize::MAX);
    let [pxname, svname, kind, status, check_status, scur, stot, bin, bout] = REQUIRED.map(col);
    let check_desc = find("check_desc");
    let last_chk = find("last_chk");
    let lastchg = find("lastchg");
    let addr = find("addr");

    let mut rows = Vec::new();
    for (index, line) in lines {
        let fields = split_csv_line(line);
        let line_no = index + 1;
        let get = |i: usize| fields.get(i).map_or("", |s| s.trim());
        let get_opt = |i: Option<usize>| i.map_or("", get);
        let number = |i: usize, column: &'static str| -> Result<u64, CsvError> {
            let v = get(i);
            if v.is_empty() {
                return Ok(0);
            }
            v.parse().map_err(|_| CsvError::NotANumber {
                line: line_no,
                column,
                value: v.to_owned(),
            })
        };
        let kind = match get(kind) {
            "0" => HaproxyRowKind::Frontend,
            "1" => HaproxyRowKind::Backend,
            "2" => HaproxyRowKind::Server,
            "3" => HaproxyRowKind::Listener,
            other if other.parse::<u32>().is_ok() => continue, // a newer kind of row
            other => {
                return Err(CsvError::RowType {
                    line: line_no,
                    value: other.to_owned(),
                })
            }
        };
        let check_detail = match get_opt(check_desc) {
            "" => get_opt(last_chk),
            desc => desc,
        };
        let last_change_secs = match get_opt(lastchg) {
            "" => None,
            v => Some(v.parse().map_err(|_| CsvError::NotANumber {
                line: line_no,
                column: "lastchg",
                value: v.to_owned(),
            })?),
        };
        let address = Some(get_opt(addr))
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        rows.push(HaproxyRow {
            proxy: get(pxname).to_owned(),
            service: get(svname).to_owned(),
            kind,
            status: get(status).to_owned(),
            check_status: strip_in_progress(get(check_status)).to_owned(),
            check_detail: check_detail.to_owned(),
            sessions: number(scur, "scur")?,
            sessions_total: number(stot, "stot")?,
            bytes_in: number(bin, "bin")?,
            bytes_out: number(bout, "bout")?,
            last_change_secs,
            address,
        });
    }
    Ok(rows)
}

/// `* L7OK` (a check in progress) is `L7OK`.
fn strip_in_progress(status: &str) -> &str {
    status.strip_prefix('*').map_or(status, str::trim_start)
}

/// Splits one CSV line; HAProxy quotes a field holding a comma or a quote (`"a ""b"", c"`).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Our checker's view vs HAProxy's for the same server: which disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The backend (`pxname`).
    pub proxy: String,
    /// The server's name in HAProxy (`svname`).
    pub server: String,
    /// HAProxy's status as it gives it: `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`.
    pub haproxy: String,
    /// What our checker holds.
    pub ours: HealthState,
    /// The server's `addr`, which matched ours.
    pub address: Option<String>,
}

/// The servers HAProxy says are UP (`UP`, or `UP 1/3` on its way down) while our
/// checker says Down, or DOWN (`DOWN`, `DOWN 1/2`) while ours says Up.
///
/// `ours` is `(host:port, state)`, matched against the servers' `addr`. Servers
/// without a check (`no check`), in MAINT, DRAIN or NOLB, and servers whose address
/// HAProxy does not show, are left out.
#[must_use]
pub fn disagreements(rows: &[HaproxyRow], ours: &[(String, HealthState)]) -> Vec<Disagreement> {
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| r.kind == HaproxyRowKind::Server) {
        let Some(address) = &row.address else {
            continue;
        };
        let status = row.status.trim().to_ascii_uppercase();
        let theirs = if status.starts_with("UP") {
            HealthState::Up
        } else if status.starts_with("DOWN") {
            HealthState::Down
        } else {
            continue; // no check, MAINT, DRAIN, NOLB...
        };
        for (_, state) in ours.iter().filter(|(a, _)| same_address(a, address)) {
            if *state != theirs {
                out.push(Disagreement {
                    proxy: row.proxy.clone(),
                    server: row.service.clone(),
                    haproxy: row.status.clone(),
                    ours: *state,
                    address: Some(address.clone()),
                });
            }
        }
    }
    out
}

/// `127.0.0.1:80` is `127.0.0.1:80`; names compare without case; `[::1]:80` is `[0:0::1]:80`.
fn same_address(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}
