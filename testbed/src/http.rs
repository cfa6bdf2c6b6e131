//! A bare HTTP/1.0 client: one request per connection (the server closes it
//! after the reply, so no chunked bodies), with the session cookie and the
//! `Origin` header our own pages send.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

/// A reply to a bare HTTP/1.0 request.
pub struct Reply {
    pub status: u16,
    head: String,
    pub body: String,
}

impl Reply {
    /// The value of the first header called `name` (any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.0 request. Non-GET requests carry our own Origin, as pages do.
///
/// # Errors
/// The connection failed or the reply has no status line.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Result<Reply> {
    request_with(addr, method, path, cookie, form, &[])
}

/// [`request`] with more header lines (`Name: value`).
///
/// # Errors
/// As [`request`].
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    headers: &[&str],
) -> Result<Reply> {
    let body = form.map(|f| Body {
        content_type: "application/x-www-form-urlencoded",
        text: f,
    });
    send(addr, method, path, cookie, body, headers)
}

/// A request with a body of any type (a multipart upload, say).
///
/// # Errors
/// As [`request`].
pub fn request_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    content_type: &str,
    body: &str,
) -> Result<Reply> {
    let body = Body {
        content_type,
        text: body,
    };
    send(addr, method, path, Some(cookie), Some(body), &[])
}

#[derive(Clone, Copy)]
struct Body<'a> {
    content_type: &'a str,
    text: &'a str,
}

fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<Body<'_>>,
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
    if let Some(Body { content_type, text }) = body {
        req.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
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

/// A bare HTTP/1.0 GET with short timeouts: the status code.
///
/// # Errors
/// Not answered within a second to connect and five to reply.
pub fn status(addr: SocketAddr, path: &str) -> Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 16];
    s.read_exact(&mut head[..12])?;
    let text = std::str::from_utf8(&head[..12])?;
    text.get(9..12)
        .context("short status line")?
        .parse()
        .context("status code")
}

/// Signs in with the form, as a browser does; the session cookie's value.
///
/// # Errors
/// The request failed or set no session.
pub fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Result<String> {
    sign_in_with(addr, user, password, &[])
}

/// [`sign_in`] with more header lines (an `X-Forwarded-For`, say).
///
/// # Errors
/// As [`sign_in`].
pub fn sign_in_with(
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

/// A loopback address with a port free right now.
///
/// # Errors
/// No port could be bound.
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Asks `ok` every 100 ms until it says yes; how long that took.
///
/// # Errors
/// `ok` failed, or did not say yes within `limit`.
pub fn wait_for(
    limit: Duration,
    what: &str,
    mut ok: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok()? {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("gave up waiting {limit:?} for {what}")
}
