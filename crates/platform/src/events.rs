//! The change feed: small events ("the audit log grew", "a job finished") that
//! live pages subscribe to through server-sent events.
//!
//! On SQLite there is one process, so the feed is an in-process broadcast. On
//! PostgreSQL every replica publishes with `pg_notify` and listens on one
//! dedicated connection (`LISTEN switchboard`), so an event published through
//! replica A reaches the pages connected to replica B, and to A itself by the
//! same path (no event is delivered twice). When the listening connection drops
//! (PostgreSQL restarting), the replica reconnects by itself and sends its
//! subscribers a `resync` event: what happened meanwhile was not seen, so pages
//! should reload their data.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgListener, AnyPool};
use tokio::sync::broadcast;

use crate::{db::Engine, Error, Result};

/// The PostgreSQL channel every replica listens on.
const CHANNEL: &str = "switchboard";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// One change. `topic` says what kind (`audit`, `job`, `resync`...), `data` the
/// few fields a page needs to update itself, `origin` the replica it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub topic: String,
    pub origin: String,
    pub data: serde_json::Value,
}

/// Publishes and delivers [`Event`]s; see the module documentation.
#[derive(Debug)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Event>>,
    engine: Engine,
    pool: AnyPool,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Bus {
    /// Starts the feed; on PostgreSQL this opens the listening connection.
    pub(crate) async fn start(engine: Engine, url: &str, pool: &AnyPool) -> Result<Self> {
        let (tx, _) = broadcast::channel(1024);
        let listener = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => {
                let mut listener = PgListener::connect(url).await?;
                listener.listen(CHANNEL).await?;
                Some(tokio::spawn(listen(listener, tx.clone())))
            }
        };
        Ok(Self {
            tx,
            engine,
            pool: pool.clone(),
            listener: Mutex::new(listener),
        })
    }

    /// Tells every subscriber on every replica that `topic` changed.
    ///
    /// # Errors
    /// The event is too large for PostgreSQL's NOTIFY, or the database is down.
    pub async fn publish(&self, topic: &str, data: serde_json::Value) -> Result<()> {
        let event = Event {
            topic: topic.to_owned(),
            origin: crate::replica_id().to_owned(),
            data,
        };
        match self.engine {
            Engine::Sqlite => {
                // No subscribers is not an error: nobody is watching.
                let _ = self.tx.send(Arc::new(event));
            }
            Engine::Postgres => {
                let payload = serde_json::to_string(&event)
                    .map_err(|e| Error::Internal(format!("event does not serialise: {e}")))?;
                if payload.len() > MAX_PAYLOAD {
                    return Err(Error::Internal(format!(
                        "event {topic} is {} bytes: events must stay under {MAX_PAYLOAD}",
                        payload.len()
                    )));
                }
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// A receiver of every event published from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Stops listening (on shutdown).
    pub(crate) fn stop(&self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Forwards notifications to the local subscribers until the task is aborted.
async fn listen(mut listener: PgListener, tx: broadcast::Sender<Arc<Event>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(note)) => match serde_json::from_str::<Event>(note.payload()) {
                Ok(event) => {
                    let _ = tx.send(Arc::new(event));
                }
                Err(e) => tracing::warn!("ignoring a malformed event on {CHANNEL}: {e}"),
            },
            Ok(None) => {
                // The connection dropped; the next try_recv reconnects. Anything
                // published in between is lost, so tell the pages to reload.
                tracing::warn!("the event listener lost its connection; reconnecting");
                let _ = tx.send(Arc::new(Event {
                    topic: "resync".into(),
                    origin: crate::replica_id().to_owned(),
                    data: serde_json::Value::Null,
                }));
            }
            Err(e) => {
                tracing::warn!("the event listener cannot reconnect yet: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::Db;

    async fn next(
        rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<super::Event>>,
    ) -> super::Event {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("open channel")
            .as_ref()
            .clone()
    }

    #[tokio::test]
    async fn an_event_reaches_subscribers_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = crate::testing::database_url(dir.path()).await;
        let db = Db::connect(&url).await.expect("connect");
        let mut rx = db.bus().subscribe();
        db.bus()
            .publish("audit", serde_json::json!({"action": "x"}))
            .await
            .expect("publish");
        let got = next(&mut rx).await;
        assert_eq!(got.topic, "audit");
        assert_eq!(got.data["action"], "x");
        db.bus()
            .publish("job", serde_json::json!({}))
            .await
            .expect("publish");
        // The next event is the second one, not a duplicate of the first.
        assert_eq!(next(&mut rx).await.topic, "job");
        db.close().await;
    }

    /// Two handles on one PostgreSQL database stand for two replicas: what one
    /// publishes, the other's subscribers see.
    #[tokio::test]
    async fn on_postgres_an_event_crosses_replicas() {
        let Some(url) = crate::testing::postgres_database().await else {
            return;
        };
        let a = Db::connect(&url).await.expect("replica a");
        let b = Db::connect(&url).await.expect("replica b");
        let mut rx = b.bus().subscribe();
        a.bus()
            .publish("share", serde_json::json!({"id": 7}))
            .await
            .expect("publish");
        let got = next(&mut rx).await;
        assert_eq!(
            (got.topic.as_str(), got.data["id"].as_i64()),
            ("share", Some(7))
        );
        let huge = "x".repeat(10_000);
        let err = a
            .bus()
            .publish("big", serde_json::json!({ "x": huge }))
            .await
            .expect_err("too big for NOTIFY");
        assert!(err.to_string().contains("under"), "{err}");
        a.close().await;
        b.close().await;
    }
}
