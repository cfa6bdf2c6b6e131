//! Who is asking, and whether they may: the session cookie becomes a
//! [`Principal`] in the request's extensions; pages need a signed-in user;
//! state-changing requests must come from our own pages (CSRF); sign-in and
//! sign-out are plain form posts that work without JavaScript.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
    Form,
};
use serde::Deserialize;
use services::{
    auth::{limits, Client, Principal},
    Error,
};

use crate::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";

/// Paths anyone may load without signing in.
fn is_public(path: &str) -> bool {
    const PREFIXES: [&str; 5] = ["/pkg/", "/leaflet/", "/share/", "/api/geo/", "/api/share/"];
    matches!(path, "/login" | "/healthz" | "/favicon.svg")
        || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Resolves the principal, refuses cross-site writes, and sends anonymous
/// page loads to the sign-in page.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = client_of(&req, &state.http.forwarded);
    if !is_safe(req.method()) && !same_origin(req.headers()) {
        tracing::warn!(addr = %client.addr, path = %req.uri().path(), "cross-site request refused");
        return (
            StatusCode::FORBIDDEN,
            Html(message_page(
                "Request refused",
                "This request did not come from Switchboard's own pages, so it was refused to protect your account. Go back, reload the page and try again.",
            )),
        )
            .into_response();
    }
    // Built assets and the health check never depend on who asks: no session
    // lookup (a database read) for every script, stylesheet and map icon.
    // (Tiles do not pass through this middleware at all: see `routes.rs`.)
    let path = req.uri().path();
    let needs_principal = !(path.starts_with("/pkg/")
        || path.starts_with("/leaflet/")
        || path == "/favicon.svg"
        || path == "/healthz");
    let principal = match cookie(req.headers(), SESSION_COOKIE).filter(|_| needs_principal) {
        Some(token) => match state.services.auth.session(&token).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Html(message_page(
                        "Switchboard is unavailable",
                        "The database is unavailable, so Switchboard cannot check who you are. Try again in a moment.",
                    )),
                )
                    .into_response();
            }
        },
        None => Principal::Anonymous,
    };
    let path = req.uri().path().to_owned();
    if principal == Principal::Anonymous
        && req.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/tiles/")
        && !is_public(&path)
    {
        let next = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        return Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(client);
    next.run(req).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The Origin (or, failing that, the Referer) names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else { return false };
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

fn client_of(req: &Request, policy: &crate::forwarded::ForwardedPolicy) -> Client {
    let headers = req.headers();
    let forwarded: Vec<&str> = if policy.trust {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    } else {
        Vec::new()
    };
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|ci| ci.0.ip());
    Client {
        addr: policy
            .client(peer, &forwarded)
            .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The value of cookie `name`, if the request has it.
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: sign in, set the cookie, go where the user was headed.
pub async fn login(State(state): State<AppState>, req: Request) -> Response {
    let client = client_of(&req, &state.http.forwarded);
    let secure = state.http.cookie_secure || forwarded_https(req.headers());
    let form = match Form::<LoginForm>::from_request(req, &state).await {
        Ok(Form(form)) => form,
        // Over `LOGIN_BODY_MAX`: nothing was read into memory, stored or hashed.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Redirect::to("/login?error=too_long").into_response();
        }
        Err(_) => return Redirect::to("/login?error=form").into_response(),
    };
    let next = safe_next(&form.next);
    match state
        .services
        .auth
        .login(&form.username, &form.password, &client)
        .await
    {
        Ok(session) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                session.token,
                session.max_age.as_secs(),
                if secure { "; Secure" } else { "" }
            );
            let mut res = Redirect::to(next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(Error::Overloaded {
            retry_after_secs, ..
        }) => {
            // Every hashing turn is taken: nothing was tried, and the account's
            // throttle is untouched. A real 503 (load balancers and the load
            // test count it), with a page that says what to do.
            let mut res = (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(message_page(
                    "Switchboard is busy",
                    &format!(
                        "Too many sign-ins are being checked right now, so yours was not tried. Wait {retry_after_secs} second(s), then <a href=\"/login?next={}\">sign in again</a>.",
                        encode(next)
                    ),
                )),
            )
                .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            res
        }
        Err(e) => {
            let (code, extra) = match &e {
                Error::LoginFailed => ("invalid", String::new()),
                Error::Invalid(_) => ("too_long", String::new()),
                Error::Throttled { retry_after_secs } => (
                    "throttled",
                    format!("&retry={}", retry_after_secs.div_ceil(60)),
                ),
                _ => {
                    tracing::error!(error = ?e, "sign-in failed");
                    ("unavailable", String::new())
                }
            };
            // The name is given back to the form only when it could be a name.
            let user = form.username.trim();
            let user = if user.chars().count() <= limits::USERNAME_MAX {
                user
            } else {
                ""
            };
            Redirect::to(&format!(
                "/login?error={code}{extra}&user={}&next={}",
                encode(user),
                encode(next)
            ))
            .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    everywhere: Option<String>,
}

/// `POST /logout`: end this session (or all of the user's), clear the cookie.
pub async fn logout(State(state): State<AppState>, req: Request) -> Response {
    let client = req
        .extensions()
        .get::<Client>()
        .cloned()
        .unwrap_or_default();
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let token = cookie(req.headers(), SESSION_COOKIE);
    let everywhere = Form::<LogoutForm>::from_request(req, &state)
        .await
        .map(|Form(f)| f.everywhere.is_some())
        .unwrap_or(false);
    let auth = &state.services.auth;
    let result = match (everywhere, token) {
        (true, _) => auth
            .logout_everywhere(&principal, &client)
            .await
            .map(|_| ()),
        (false, Some(t)) => auth.logout(&t, &client).await,
        (false, None) => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "sign-out");
    }
    let mut res = Redirect::to("/login?signed_out=1").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    res
}

use axum::extract::FromRequest as _;

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The longest `next` kept; a longer one becomes `/`.
const MAX_NEXT_LEN: usize = 2048;

/// Only same-site paths: never `//host` or `https://...` (an open redirect).
///
/// Browsers strip tabs and newlines from a URL and read a backslash as `/`, so
/// `/<TAB>/evil.example` or `/\evil.example` would leave the site: a path with any
/// control character, any whitespace or any backslash is refused whole.
fn safe_next(next: &str) -> &str {
    let plain = next
        .chars()
        .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\');
    if plain && next.len() <= MAX_NEXT_LEN && next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A small self-contained page for refusals that happen before the app renders.
/// A minimal page with one message (for answers given outside Leptos).
pub(crate) fn message_page(title: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Switchboard</title><link rel=\"stylesheet\" href=\"/pkg/switchboard.css\"></head><body><main id=\"main\"><section class=\"panel error-panel\" role=\"alert\"><h1>{title}</h1><p>{text}</p><p><a href=\"/\">Back to Switchboard</a></p></section></main></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(safe_next("/map?sel=east"), "/map?sel=east");
        assert_eq!(
            safe_next("/checklist/3?tz=Europe%2FLondon"),
            "/checklist/3?tz=Europe%2FLondon"
        );
        let long = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        for bad in [
            "//evil.example",
            "https://evil.example/",
            "/\\evil",
            "",
            "map",
            // Browsers strip tab, CR and LF, then follow `//evil.example`.
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            // A backslash is a slash to a browser, wherever it is.
            "/\\/evil.example",
            "/a\\b",
            // Other controls and whitespace have no place in a path we wrote.
            "/\u{0}/evil.example",
            "/\u{b}/evil.example",
            "/\u{c}/evil.example",
            "/ /evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{7f}/evil.example",
            &long,
        ] {
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }

    #[test]
    fn same_origin_compares_the_authority() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        assert!(!same_origin(&h), "no Origin and no Referer");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:3000"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:3000.evil.example"),
        );
        assert!(!same_origin(&h));
        h.remove(header::ORIGIN);
        h.insert(
            header::REFERER,
            HeaderValue::from_static("http://127.0.0.1:3000/admin"),
        );
        assert!(same_origin(&h));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sb_session_x=2; sb_session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "zzz"), None);
    }
}
