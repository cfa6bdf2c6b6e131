//! The replicas' road to PostgreSQL: a TCP relay on loopback between them and
//! the server. Cutting it is "PostgreSQL goes away" for these three replicas
//! only: every connection through it is cut and new ones are refused, while
//! the PostgreSQL server itself, which other test binaries may be using, is
//! never stopped.

use std::{
    collections::HashMap,
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context as _, Result};

pub(crate) struct Link {
    /// Where the replicas connect.
    pub(crate) addr: SocketAddr,
    upstream: SocketAddr,
    relays: Arc<Relays>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

/// The connections through the link, both ends of each, by a serial number.
#[derive(Default)]
struct Relays {
    up: AtomicBool,
    next: AtomicU64,
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
}

impl Relays {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, [TcpStream; 2]>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Link {
    /// A link to `upstream` on a free loopback port, open.
    pub(crate) fn open(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let link = Self {
            addr: listener.local_addr()?,
            upstream,
            relays: Arc::default(),
            acceptor: Mutex::new(None),
        };
        link.serve(listener);
        Ok(link)
    }

    fn serve(&self, listener: TcpListener) {
        self.relays.up.store(true, Ordering::SeqCst);
        let (relays, upstream) = (self.relays.clone(), self.upstream);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if !relays.up.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                relay(&relays, client, server);
            }
        });
        *self.acceptor.lock().unwrap_or_else(PoisonError::into_inner) = Some(acceptor);
    }

    /// Cuts every connection and refuses new ones until [`Outage::end`] (or
    /// the outage is dropped).
    pub(crate) fn cut(&self) -> Result<Outage<'_>> {
        self.relays.up.store(false, Ordering::SeqCst);
        // Wake the acceptor so that it sees the link is down and closes the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self
            .acceptor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            acceptor
                .join()
                .map_err(|_| anyhow::anyhow!("the link's acceptor panicked"))?;
        }
        for (_, ends) in self.relays.open().drain() {
            for end in ends {
                let _ = end.shutdown(Shutdown::Both);
            }
        }
        Ok(Outage { link: Some(self) })
    }

    fn restore(&self) -> Result<()> {
        let listener = TcpListener::bind(self.addr)
            .with_context(|| format!("reopening the link on {}", self.addr))?;
        self.serve(listener);
        Ok(())
    }
}

/// Bytes both ways between `client` and `server`, each way on a thread of its
/// own; the pair is known to the link until both ways have ended.
fn relay(relays: &Arc<Relays>, client: TcpStream, server: TcpStream) {
    let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let id = relays.next.fetch_add(1, Ordering::SeqCst);
    relays.open().insert(id, [c, s]);
    let relays = relays.clone();
    std::thread::spawn(move || {
        let (Ok(mut from_client), Ok(mut to_client)) = (client.try_clone(), client.try_clone())
        else {
            return;
        };
        let (Ok(mut to_server), Ok(mut from_server)) = (server.try_clone(), server.try_clone())
        else {
            return;
        };
        let back = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_server, &mut to_client);
            let _ = to_client.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
        let _ = back.join();
        relays.open().remove(&id);
    });
}

/// The link cut; it opens again on [`Outage::end`] or when dropped.
pub(crate) struct Outage<'a> {
    link: Option<&'a Link>,
}

impl Outage<'_> {
    /// Opens the link again on the same address.
    pub(crate) fn end(mut self) -> Result<()> {
        self.link.take().map_or(Ok(()), Link::restore)
    }
}

impl Drop for Outage<'_> {
    fn drop(&mut self) {
        if let Some(link) = self.link.take() {
            let _ = link.restore();
        }
    }
}
