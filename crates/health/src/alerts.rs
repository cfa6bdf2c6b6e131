//! Webhook alerts when a target goes UP or DOWN: one JSON POST per change, retried
//! with exponential backoff while the receiver is unreachable or overloaded.

use std::{sync::Arc, time::Duration};

use model::health::StateChange;

/// Where and how alerts are posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `http://alerts.internal/hooks/switchboard` (plain HTTP only).
    pub url: String,
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second try; it doubles before each further try.
    pub first_backoff: Duration,
    /// How long one try may take (connect, send, answer).
    pub timeout: Duration,
}

impl WebhookSettings {
    /// `url` with the default retries: 5 attempts, 500 ms first backoff, 5 s per try.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why an alert was not delivered: sentences for people.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot set up HTTP for the webhook: {0}")]
    Client(#[source] Arc<reqwest::Error>),
    #[error("https webhook URLs are not supported ({url}): use http://")]
    Https { url: String },
    /// A 4xx other than 429: sending the same body again would not help.
    #[error("webhook {url} {said}; not retried (attempt {attempt} of {attempts})")]
    Refused {
        url: String,
        /// `answered 400 Bad Request`.
        said: String,
        attempt: u32,
        attempts: u32,
    },
    #[error("webhook {url} failed after {attempts} attempt{}: {last}", if *.attempts == 1 { "" } else { "s" })]
    GaveUp {
        url: String,
        attempts: u32,
        /// What the last try met: `answered 503 Service Unavailable`, `connection refused`.
        last: String,
    },
}

/// Posts state changes to a webhook.
#[derive(Clone, Debug)]
pub struct Alerter {
    settings: WebhookSettings,
    /// `Err` when the HTTP client could not be built; every send says so.
    client: Result<reqwest::Client, Arc<reqwest::Error>>,
}

/// The longest wait between two tries, however many there are.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Alerter {
    #[must_use]
    pub fn new(settings: WebhookSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(Arc::new);
        Self { settings, client }
    }

    #[must_use]
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Sends one JSON POST for `change` (see [`payload`]); retries 5xx, 429 and
    /// connection errors with exponential backoff; gives up after `attempts`. A 4xx
    /// other than 429 is not retried: sending the same body again would not help.
    ///
    /// # Errors
    /// What the webhook answered last, and after how many tries.
    #[tracing::instrument(
        skip_all,
        fields(target = %change.name, pool = %change.pool, to = change.to.as_str()),
        err(level = "warn")
    )]
    pub async fn send(&self, change: &StateChange) -> Result<u32, AlertError> {
        let url = &self.settings.url;
        let client = self
            .client
            .as_ref()
            .map_err(|e| AlertError::Client(Arc::clone(e)))?;
        if url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            return Err(AlertError::Https { url: url.clone() });
        }
        let body = payload(change).to_string();
        let attempts = self.settings.attempts.max(1);
        let mut backoff = self.settings.first_backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            let sent = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(attempt);
                    }
                    let code = status.as_u16();
                    let said = format!(
                        "answered {code} {}",
                        status.canonical_reason().unwrap_or("")
                    )
                    .trim_end()
                    .to_owned();
                    if !(code == 429 || status.is_server_error()) {
                        return Err(AlertError::Refused {
                            url: url.clone(),
                            said,
                            attempt,
                            attempts,
                        });
                    }
                    last = said;
                }
                Err(e) if e.is_timeout() => {
                    last = format!("no answer within {} ms", self.settings.timeout.as_millis());
                }
                Err(e) => last = root_cause(&e),
            }
            if attempt < attempts {
                tracing::debug!(%url, attempt, %last, "webhook failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
        Err(AlertError::GaveUp {
            url: url.clone(),
            attempts,
            last,
        })
    }
}

/// The JSON posted for `change`:
/// `{"event":"health.state_change","target":"web-1","target_id":1,"pool":"web",
/// "from":"up","to":"down","at":"2025-01-02T03:04:05Z","message":"connection refused"}`.
#[must_use]
pub fn payload(change: &StateChange) -> serde_json::Value {
    let at =
        jiff::Timestamp::from_millisecond(change.at_ms).unwrap_or_else(|_| jiff::Timestamp::now());
    serde_json::json!({
        "event": "health.state_change",
        "target": change.name,
        "target_id": change.target_id,
        "pool": change.pool,
        "from": change.from.as_str(),
        "to": change.to.as_str(),
        "at": at.to_string(),
        "message": change.message,
    })
}

/// The innermost cause of an error, in words: `connection refused`.
fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    if let Some(io) = last.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            _ => io.to_string(),
        };
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use std::{
        net::Ipv4Addr,
        sync::{Arc, Mutex},
    };

    use model::health::HealthState;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A webhook receiver on loopback: answers the `statuses` in turn (the last one
    /// from then on) and keeps every request body.
    struct Receiver {
        url: String,
        bodies: Arc<Mutex<Vec<String>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Receiver {
        async fn start(statuses: Vec<u16>) -> Self {
            let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind the webhook receiver");
            let port = listener.local_addr().expect("local addr").port();
            let bodies = Arc::new(Mutex::new(Vec::new()));
            let kept = bodies.clone();
            let task = tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        return;
                    };
                    let body = read_request(&mut stream).await;
                    let n = {
                        let mut kept = kept.lock().expect("bodies");
                        kept.push(body);
                        kept.len()
                    };
                    let status = statuses[(n - 1).min(statuses.len() - 1)];
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
            Self {
                url: format!("http://127.0.0.1:{port}/hook"),
                bodies,
                task,
            }
        }

        fn bodies(&self) -> Vec<String> {
            self.bodies.lock().expect("bodies").clone()
        }
    }

    /// Reads one HTTP request; answers its body (by Content-Length).
    async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                assert!(
                    head.starts_with("post /hook "),
                    "a POST to the hook: {head}"
                );
                assert!(head.contains("content-type: application/json"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().expect("a Content-Length"));
                while buf.len() < end + 4 + length {
                    let n = stream.read(&mut chunk).await.expect("read the body");
                    assert!(n > 0, "the body ended early");
                    buf.extend_from_slice(&chunk[..n]);
                }
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            }
            let n = stream.read(&mut chunk).await.expect("read the request");
            if n == 0 {
                return String::new();
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn change() -> StateChange {
        StateChange {
            target_id: 7,
            name: "web-2".into(),
            pool: "web".into(),
            from: HealthState::Up,
            to: HealthState::Down,
            at_ms: 1_735_787_045_123,
            message: "connection refused".into(),
        }
    }

    fn quick(url: &str, attempts: u32) -> WebhookSettings {
        WebhookSettings {
            attempts,
            first_backoff: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
            ..WebhookSettings::new(url)
        }
    }

    #[test]
    fn alerts_defaults_are_five_attempts_from_500_ms() {
        let s = WebhookSettings::new("http://x/");
        assert_eq!(s.attempts, 5);
        assert_eq!(s.first_backoff, Duration::from_millis(500));
        assert_eq!(s.timeout, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn alerts_retry_5xx_until_the_webhook_takes_it() {
        let hook = Receiver::start(vec![500, 500, 200]).await;
        let alerter = Alerter::new(quick(&hook.url, 5));
        assert_eq!(alerter.send(&change()).await.expect("delivered"), 3);
        let bodies = hook.bodies();
        assert_eq!(bodies.len(), 3, "one request per attempt");
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "the same body each time"
        );
        let body: serde_json::Value = serde_json::from_str(&bodies[2]).expect("JSON");
        assert_eq!(body["event"], "health.state_change");
        assert_eq!(body["target"], "web-2");
        assert_eq!(body["target_id"], 7);
        assert_eq!(body["pool"], "web");
        assert_eq!(body["from"], "up");
        assert_eq!(body["to"], "down");
        assert_eq!(body["message"], "connection refused");
        let at = body["at"].as_str().expect("at is a string");
        assert_eq!(at, "2025-01-02T03:04:05.123Z");
        let parsed: jiff::Timestamp = at.parse().expect("RFC 3339");
        assert_eq!(parsed.as_millisecond(), 1_735_787_045_123);
    }

    #[tokio::test]
    async fn alerts_retry_429() {
        let hook = Receiver::start(vec![429, 200]).await;
        let alerter = Alerter::new(quick(&hook.url, 5));
        assert_eq!(alerter.send(&change()).await.expect("delivered"), 2);
    }

    #[tokio::test]
    async fn alerts_do_not_retry_400() {
        let hook = Receiver::start(vec![400]).await;
        let alerter = Alerter::new(quick(&hook.url, 5));
        let err = alerter
            .send(&change())
            .await
            .expect_err("400 fails")
            .to_string();
        assert_eq!(hook.bodies().len(), 1, "not retried: {err}");
        assert!(err.contains("answered 400"), "{err}");
        assert!(err.contains("not retried"), "{err}");
    }

    #[tokio::test]
    async fn alerts_give_up_after_the_attempts_when_a_5xx_persists() {
        let hook = Receiver::start(vec![503]).await;
        let alerter = Alerter::new(quick(&hook.url, 3));
        let err = alerter
            .send(&change())
            .await
            .expect_err("always 503")
            .to_string();
        assert_eq!(hook.bodies().len(), 3);
        assert!(err.contains("after 3 attempts"), "{err}");
        assert!(err.contains("503"), "{err}");
    }

    #[tokio::test]
    async fn alerts_give_up_when_nothing_listens() {
        let port = {
            let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            l.local_addr().expect("local addr").port()
        };
        let alerter = Alerter::new(quick(&format!("http://127.0.0.1:{port}/hook"), 4));
        let started = std::time::Instant::now();
        let err = alerter
            .send(&change())
            .await
            .expect_err("nothing listens")
            .to_string();
        let took = started.elapsed();
        assert!(err.contains("after 4 attempts"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        // 10 + 20 + 40 ms of backoff between the four tries.
        assert!(took >= Duration::from_millis(70), "backed off: {took:?}");
        assert!(took < Duration::from_secs(3), "small backoffs: {took:?}");
    }

    #[tokio::test]
    async fn alerts_refuse_https() {
        let alerter = Alerter::new(quick("https://hooks.example/x", 3));
        let err = alerter
            .send(&change())
            .await
            .expect_err("no TLS")
            .to_string();
        assert!(
            err.contains("https webhook URLs are not supported"),
            "{err}"
        );
    }
}
