//! Security headers on every response: a Content-Security-Policy with a fresh
//! nonce per response, `X-Content-Type-Options: nosniff`, `Referrer-Policy`
//! and `X-Frame-Options` (for browsers older than `frame-ancestors`).
//!
//! The policy allows scripts from this origin only, plus inline scripts that
//! carry the response's nonce: Leptos writes its hydration script and the
//! resources it serialises during SSR inline (their text differs per page, so
//! hashes cannot name them), and the shell's time-zone script. The nonce is
//! made here, put in the request's extensions, and handed to Leptos as its
//! `Nonce` (`routes.rs`), which prints it on each of those `<script>` tags.
//! WebAssembly needs `'wasm-unsafe-eval'` (compiling a module; not `eval`).
//! Styles allow `'unsafe-inline'`: Leaflet writes `style` attributes on the
//! elements it creates (tiles, markers, popups) and the pages use a few.
//! Images: this origin, `data:`/`blob:` (Leaflet), and the `--basemap-url`
//! tile server when one is configured.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

use crate::AppState;

/// The policy around the nonce, built once at start-up.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    before_nonce: String,
    after_nonce: String,
}

/// This response's CSP nonce (in the request's extensions).
#[derive(Clone, Debug)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    fn new() -> Self {
        let mut bytes = [0u8; 16];
        // The random source failing is not something to serve through.
        getrandom::fill(&mut bytes).expect("the random source");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(hex.into())
    }
}

/// `Referrer-Policy`: URLs never leave the site (a share link's token is in
/// its path, and the basemap may be another server's).
pub const REFERRER_POLICY: &str = "same-origin";

impl SecurityHeaders {
    /// The policy for a site whose basemap tiles come from `basemap_url`
    /// (an XYZ template, `{s}` standing for any subdomain) or from itself.
    #[must_use]
    pub fn new(basemap_url: Option<&str>) -> Self {
        let images = basemap_url
            .and_then(basemap_origin)
            .map(|o| format!(" {o}"))
            .unwrap_or_default();
        Self {
            before_nonce: "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'nonce-"
                .to_owned(),
            after_nonce: format!(
                "'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:{images}; \
                 connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
                 form-action 'self'; frame-ancestors 'none'"
            ),
        }
    }

    /// The whole policy with `nonce`.
    #[must_use]
    pub fn policy(&self, nonce: &str) -> String {
        format!("{}{nonce}{}", self.before_nonce, self.after_nonce)
    }
}

/// `https://{s}.tile.example.org/{z}/{x}/{y}.png` → `https://*.tile.example.org`.
fn basemap_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?.replace("{s}", "*");
    let plain = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']'));
    Some(if plain && !host.is_empty() {
        format!("{scheme}://{host}")
    } else {
        // A template in the host we cannot turn into a source: the scheme only.
        format!("{scheme}:")
    })
}

/// Adds the headers to every response of the main router (pages, the API,
/// assets, uploads). Tiles get [`tile_headers`] instead.
pub async fn add(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::new();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.headers.policy(&nonce.0)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    common(headers);
    res
}

fn common(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(REFERRER_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Tiles (PNG, the hot path): no policy to build, but never sniffed.
pub async fn tile_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    common(res.headers_mut());
    res
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_basemap_origin_stops_at_the_path_query_or_fragment() {
        for (url, origin) in [
            (
                "https://{s}.tile.example.org/{z}/{x}/{y}.png",
                "https://*.tile.example.org",
            ),
            ("https://t.example?k=1&z={z}", "https://t.example"),
            ("https://t.example#{z}", "https://t.example"),
            ("http://127.0.0.1:8080/{z}/{x}/{y}", "http://127.0.0.1:8080"),
            ("https://{host}/{z}.png", "https:"),
        ] {
            assert_eq!(super::basemap_origin(url).as_deref(), Some(origin), "{url}");
        }
    }

    use super::*;

    #[test]
    fn the_policy_is_strict_and_names_the_basemap() {
        let p = SecurityHeaders::new(None).policy("abc123");
        assert!(
            p.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc123';"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!p.contains(" 'unsafe-eval'"), "{p}");
        assert!(!p.contains("script-src 'self' 'unsafe-inline'"));
        assert!(p.contains("img-src 'self' data: blob:;"), "{p}");
        let p = SecurityHeaders::new(Some("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
            .policy("n");
        assert!(
            p.contains("img-src 'self' data: blob: https://*.tile.openstreetmap.org;"),
            "{p}"
        );
        let p =
            SecurityHeaders::new(Some("http://localhost:8080/tiles/{z}/{x}/{y}.png")).policy("n");
        assert!(p.contains("blob: http://localhost:8080;"), "{p}");
        let p = SecurityHeaders::new(Some("https://{z}.example/{x}/{y}.png")).policy("n");
        assert!(p.contains("blob: https:;"), "{p}");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(CspNonce::new().0, CspNonce::new().0);
        assert_eq!(CspNonce::new().0.len(), 32);
    }
}
