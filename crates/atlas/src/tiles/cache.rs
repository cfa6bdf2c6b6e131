//! Serving coverage tiles: keys that carry the data version, a memory cache
//! bounded by bytes, an optional disk cache bounded by bytes (`disk`), and one
//! render per tile however many requests ask for it at once.
//!
//! Renders wait for a free render thread in a queue bounded by permits
//! (`TileSettings::render_queue`, queued and running together): a tile that
//! needs a render when none is free is refused at once with
//! [`Error::Overloaded`] (503 with `Retry-After`), and a queued render whose
//! requests have all gone away is skipped (see `pool`).
//!
//! A key is `<data version>.<layers>`, the layers being `sel|kinds` pairs joined
//! by `;`, base64url-encoded. Any replica decodes it without shared state, and a
//! change to the data changes the version, so a client never holds a stale
//! tile: a key for an older version is refused (404), never served.
//!
//! In a URL the key is followed by `.<signature>`: 128 bits of HMAC-SHA256 under
//! a key kept in the database (`dataset.tile_signing_key`, the same for every
//! replica). Only the routes that check who asks hand out signed keys, so a tile
//! request needs no session: a forged or unsigned key is a 404.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{empty_png, render, TileId};
use crate::{AtlasService, Db, Error, Result};

/// Bytes of HMAC-SHA256 a tile URL carries (128 bits).
const SIGNATURE_BYTES: usize = 16;

/// The most layers one key may merge.
const MAX_LAYERS: usize = 8;

/// The selections a key draws, at one data version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub version: String,
    /// (selection, kinds) per layer, as the map's URL writes them.
    pub layers: Vec<(String, String)>,
}

impl TileKey {
    /// The URL-safe text of the key.
    #[must_use]
    pub fn encode(&self) -> String {
        let layers: Vec<String> = self
            .layers
            .iter()
            .map(|(s, k)| format!("{s}|{k}"))
            .collect();
        format!(
            "{}.{}",
            self.version,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(layers.join(";"))
        )
    }

    /// Reads a key.
    ///
    /// # Errors
    /// `Error::NotFound` for text that is not a key.
    pub fn decode(text: &str) -> Result<Self> {
        let bad = || Error::NotFound(format!("tile key {text:?}"));
        let (version, layers) = text.split_once('.').ok_or_else(bad)?;
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(layers)
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let layers: Vec<(String, String)> = raw
            .split(';')
            .map(|l| {
                let (s, k) = l.split_once('|').unwrap_or((l, ""));
                (s.to_owned(), k.to_owned())
            })
            .collect();
        if layers.is_empty() || layers.len() > MAX_LAYERS {
            return Err(Error::invalid(format!(
                "a tile key merges 1 to {MAX_LAYERS} layers"
            )));
        }
        Ok(Self {
            version: version.to_owned(),
            layers,
        })
    }
}

/// Cache settings.
#[derive(Clone, Debug)]
pub struct TileSettings {
    /// Bytes of PNG kept in memory.
    pub memory_bytes: usize,
    /// A folder for rendered tiles (shared by replicas if it is on a shared disk).
    pub disk: Option<PathBuf>,
    /// Bytes of disk the folder may use (see `disk` for how files are counted).
    pub disk_max_bytes: u64,
    /// Whether "this tile is empty" is remembered (or the tile rendered again).
    pub cache_empty: bool,
    /// Threads that render (at a lower priority): one per core by default.
    pub render_threads: usize,
    /// Renders queued or running at once, at most; a tile needing a render
    /// beyond it is refused with "busy, retry".
    pub render_queue: usize,
}

/// The disk cache's bound unless configured: 1 GiB.
pub const DEFAULT_DISK_MAX_BYTES: u64 = 1 << 30;

/// Renders that may queue per render thread unless configured.
pub const QUEUE_PER_THREAD: usize = 4;

impl Default for TileSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            memory_bytes: 64 * 1024 * 1024,
            disk: None,
            disk_max_bytes: DEFAULT_DISK_MAX_BYTES,
            cache_empty: true,
            render_threads: cores,
            render_queue: QUEUE_PER_THREAD * cores,
        }
    }
}

/// A served tile: its PNG, and whether it is the shared empty one.
#[derive(Clone, Debug)]
pub struct Tile {
    /// Shared: a response's body is a reference to it, not a copy.
    pub png: bytes::Bytes,
    pub empty: bool,
}

/// The key text of the basemap's tiles (after the data version).
const BASE: &str = "base";

impl Tile {
    /// Bytes a tile counts for in the memory budget: an empty tile costs an
    /// entry, not its bytes (they are shared).
    fn cost(&self) -> usize {
        if self.empty {
            64
        } else {
            self.png.len()
        }
    }
}

type Slot = Arc<tokio::sync::OnceCell<Tile>>;

/// A request's hold on an in-flight slot, and its only reference to it: when
/// it goes (answered, failed or dropped because its client left) and no other
/// request holds the slot, the slot leaves the in-flight table. Every
/// reference is taken and given back under the table's lock, so the count
/// read there is exact (two requests leaving at once cannot both see the
/// other and leave the slot behind).
struct Leaving<'a> {
    inflight: &'a Mutex<HashMap<(String, TileId), Slot>>,
    id: &'a (String, TileId),
    slot: Option<Slot>,
}

impl Leaving<'_> {
    fn slot(&self) -> &Slot {
        self.slot
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(mine) = self.slot.take() else { return };
        let same = inflight.get(self.id).is_some_and(|s| Arc::ptr_eq(s, &mine));
        drop(mine);
        // Held by the table only now: nobody else waits on it.
        if same
            && inflight
                .get(self.id)
                .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            inflight.remove(self.id);
        }
    }
}

/// Tiles in memory. A coverage tile is filed under its URL's signed key, so a
/// request naming a key already here needs no signature check (it was checked
/// before the tile was stored) and no decoding; basemap tiles under
/// `base/<version>`, which no URL key can be (a key is one path segment).
#[derive(Default)]
struct Memory {
    /// Each tile with the tick it was last used at, by key then tile: a lookup
    /// borrows the request's key (no allocation).
    map: HashMap<String, HashMap<TileId, (Tile, u64)>>,
    /// Tiles by the tick they were stored at. A hit only bumps the tick in
    /// `map` (no reordering, no allocation); eviction gives an entry used since
    /// it was stored a second chance at its newer tick.
    order: BTreeMap<u64, (String, TileId)>,
    bytes: usize,
    tick: u64,
    /// The data version every tile here belongs to (older ones are dropped when it
    /// moves), and the atlas generation at which it was last seen current.
    version: String,
    generation: Option<u64>,
}

impl Memory {
    fn entry(&mut self, id: &str, tile: TileId) -> Option<&mut (Tile, u64)> {
        self.map.get_mut(id)?.get_mut(&tile)
    }

    fn remove(&mut self, id: &str, tile: TileId) -> Option<Tile> {
        let inner = self.map.get_mut(id)?;
        let (old, _) = inner.remove(&tile)?;
        if inner.is_empty() {
            self.map.remove(id);
        }
        self.bytes -= old.cost();
        Some(old)
    }
}

/// Renders and caches coverage tiles.
#[derive(Clone)]
pub struct TileService {
    db: Db,
    atlas: AtlasService,
    /// The key that signs tile URLs: made once, kept in the database, the same
    /// on every replica.
    signing: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    settings: TileSettings,
    memory: Arc<Mutex<Memory>>,
    inflight: Arc<Mutex<HashMap<(String, TileId), Slot>>>,
    renders: Arc<AtomicU64>,
    renderer: super::pool::RenderPool,
    /// One permit per render queued or running.
    queue: Arc<tokio::sync::Semaphore>,
    disk: Option<Arc<super::disk::DiskCache>>,
}

impl std::fmt::Debug for TileService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileService")
            .field("settings", &self.settings)
            .field("renders", &self.renders())
            .finish_non_exhaustive()
    }
}

impl TileService {
    #[must_use]
    pub fn new(atlas: AtlasService, settings: TileSettings) -> Self {
        Self {
            // The same database as the map's data (the signing key is kept beside it).
            db: atlas.db.clone(),
            atlas,
            signing: Arc::default(),
            memory: Arc::default(),
            inflight: Arc::default(),
            renders: Arc::default(),
            // One render thread per core, at a lower priority (see `pool`).
            renderer: super::pool::RenderPool::start(settings.render_threads),
            queue: Arc::new(tokio::sync::Semaphore::new(settings.render_queue.max(1))),
            disk: settings
                .disk
                .clone()
                .map(|dir| Arc::new(super::disk::DiskCache::new(dir, settings.disk_max_bytes))),
            settings,
        }
    }

    /// Renders queued or running now.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.settings
            .render_queue
            .max(1)
            .saturating_sub(self.queue.available_permits())
    }

    /// Tiles being asked for right now (entries of the in-flight table).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Test support: keeps every render thread busy (so renders queue) until
    /// the answer is dropped.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn occupy_render_threads(&self) -> RenderThreadsHeld {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut started = Vec::new();
        for _ in 0..self.settings.render_threads.max(1) {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let (pool, gate) = (self.renderer.clone(), gate.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = tx.send(());
                    let (open, cv) = &*gate;
                    let mut open = open
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    while !*open {
                        open = cv
                            .wait(open)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                })
                .await
            });
            started.push(rx);
        }
        for rx in started {
            let _ = rx.await;
        }
        RenderThreadsHeld { gate }
    }

    /// Bytes the disk cache counts (0 without one).
    #[must_use]
    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, |d| d.bytes())
    }

    /// Brings the disk cache to the current data version now (deleting other
    /// versions' tiles and indexing this one's) rather than on the first tile
    /// request: call it at start-up.
    ///
    /// # Errors
    /// The map's data cannot be loaded.
    pub async fn prepare_disk(&self) -> Result<()> {
        let version = self.atlas.atlas().await?.version().to_owned();
        self.disk_at(&version).await;
        Ok(())
    }

    /// The disk cache, brought to `version` first (a scan off the async threads).
    async fn disk_at(&self, version: &str) -> Option<Arc<super::disk::DiskCache>> {
        let disk = self.disk.clone()?;
        if !disk.is_at(version) {
            let (d, v) = (disk.clone(), version.to_owned());
            if let Err(e) = tokio::task::spawn_blocking(move || d.prepare(&v)).await {
                tracing::error!("the tile disk cache's scan failed: {e}");
                return None;
            }
        }
        Some(disk)
    }

    /// How many tiles were rendered (not served from a cache) so far.
    #[must_use]
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// The key for `layers` at the current data version.
    ///
    /// # Errors
    /// An unknown region or kind in a layer.
    pub async fn key(&self, layers: &[(String, String)]) -> Result<TileKey> {
        let atlas = self.atlas.atlas().await?;
        if layers.is_empty() || layers.len() > MAX_LAYERS {
            return Err(Error::invalid(format!(
                "a tile key merges 1 to {MAX_LAYERS} layers"
            )));
        }
        let mut canonical = Vec::new();
        for (sel, kinds) in layers {
            let s = atlas.select(sel, kinds)?;
            let kinds: Vec<&str> = s.kinds.iter().map(|k| k.as_str()).collect();
            canonical.push((s.text.clone(), kinds.join(",")));
        }
        Ok(TileKey {
            version: atlas.version().to_owned(),
            layers: canonical,
        })
    }

    /// The tile for `key` at `tile`: from memory, from disk, or rendered once.
    ///
    /// # Errors
    /// A key for another data version or naming unknown regions (404/400);
    /// rendering failures.
    pub async fn get(&self, signed: &str, tile: TileId) -> Result<Tile> {
        if let Some(t) = self.recall_signed(signed, tile) {
            return Ok(t);
        }
        // Read before the atlas: the atlas got below is at least this new.
        let generation = self.atlas.generation();
        let key = self.verify(signed).await?;
        let atlas = self.atlas.atlas().await?;
        let parsed = TileKey::decode(key)?;
        if parsed.version != atlas.version() {
            return Err(Error::NotFound(format!(
                "tiles of data version {} (the map's data is now at {}: reload the map)",
                parsed.version,
                atlas.version()
            )));
        }
        self.settle(generation, atlas.version());
        self.cached(atlas, parsed, signed.to_owned(), key, tile)
            .await
    }

    /// A coverage tile already in memory under exactly this signed key, while the
    /// data is still at the version it was drawn for.
    fn recall_signed(&self, signed: &str, tile: TileId) -> Option<Tile> {
        let generation = self.atlas.generation();
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.generation != Some(generation) {
            return None;
        }
        let (version, _) = signed.split_once('.')?;
        if version != m.version {
            return None;
        }
        m.tick += 1;
        let tick = m.tick;
        let entry = m.entry(signed, tile)?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    /// Notes that the data is at `version` as of atlas `generation`; tiles of
    /// another version are dropped.
    fn settle(&self, generation: u64, version: &str) {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.version != version {
            m.map.clear();
            m.order.clear();
            m.bytes = 0;
            version.clone_into(&mut m.version);
        }
        m.generation = Some(generation);
    }

    /// The text of `key` for a URL, signed: a tile URL is its own permission
    /// (only `/api/tiles/key` and `/api/map/plan` hand them out, after checking
    /// who asks), so serving a tile needs no session lookup.
    ///
    /// # Errors
    /// The database could not give the signing key.
    pub async fn signed(&self, key: &TileKey) -> Result<String> {
        let text = key.encode();
        let tag = self.mac(&text).await?.finalize().into_bytes();
        Ok(format!(
            "{text}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..SIGNATURE_BYTES])
        ))
    }

    /// The key text of a signed key, if this server's key signed it.
    ///
    /// # Errors
    /// `Error::NotFound` for a key this server did not sign.
    pub async fn verify<'a>(&self, signed: &'a str) -> Result<&'a str> {
        let refused = || {
            Error::NotFound(format!(
                "tile key {signed:?}: not one this server handed out (ask /api/tiles/key)"
            ))
        };
        let (text, tag) = signed.rsplit_once('.').ok_or_else(refused)?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| refused())?;
        if tag.len() != SIGNATURE_BYTES {
            return Err(refused());
        }
        self.mac(text)
            .await?
            .verify_truncated_left(&tag)
            .map_err(|_| refused())?;
        Ok(text)
    }

    async fn mac(&self, text: &str) -> Result<Hmac<Sha256>> {
        let secret = self
            .signing
            .get_or_try_init(|| async {
                // Whichever replica comes first makes it; the rest read it.
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh)
                    .map_err(|e| Error::Internal(format!("random source: {e}")))?;
                sqlx::query(
                    "INSERT INTO dataset (key, value) VALUES ('tile_signing_key', $1) ON CONFLICT (key) DO NOTHING",
                )
                .bind(base64::engine::general_purpose::STANDARD.encode(fresh))
                .execute(self.db.pool())
                .await?;
                let stored: String = sqlx::query_scalar(
                    "SELECT value FROM dataset WHERE key = 'tile_signing_key'",
                )
                .fetch_one(self.db.pool())
                .await?;
                base64::engine::general_purpose::STANDARD
                    .decode(stored)
                    .map_err(|e| Error::Internal(format!("the stored tile signing key: {e}")))
            })
            .await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|e| Error::Internal(format!("tile signing key: {e}")))?;
        mac.update(text.as_bytes());
        Ok(mac)
    }

    /// The offline basemap's tile at the current data version, and that version.
    ///
    /// # Errors
    /// Rendering failures.
    pub async fn base(&self, tile: TileId) -> Result<(String, Tile)> {
        let generation = self.atlas.generation();
        let atlas = self.atlas.atlas().await?;
        let version = atlas.version().to_owned();
        self.settle(generation, &version);
        // In memory: not a URL key (it has a slash). On disk: "base" is not
        // valid base64 of a layer list.
        let id = format!("base/{version}");
        let on_disk = format!("{version}.{BASE}");
        let key = TileKey {
            version: version.clone(),
            layers: Vec::new(),
        };
        Ok((version, self.cached(atlas, key, id, &on_disk, tile).await?))
    }

    /// A tile from memory, from disk, or rendered once however many ask at once.
    /// `id` files it in memory, `on_disk` (the key's text) on disk.
    async fn cached(
        &self,
        atlas: Arc<crate::Atlas>,
        parsed: TileKey,
        id: String,
        on_disk: &str,
        tile: TileId,
    ) -> Result<Tile> {
        let id = (id, tile);
        if let Some(t) = self.recall(&id) {
            return Ok(t);
        }
        // The last request out removes the slot, even one dropped mid-way.
        let leaving = Leaving {
            inflight: &self.inflight,
            id: &id,
            slot: Some(
                self.inflight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(id.clone())
                    .or_default()
                    .clone(),
            ),
        };
        let result = leaving
            .slot()
            .get_or_try_init(|| async {
                let disk = self.disk_at(&parsed.version).await;
                let on_disk = super::disk::DiskCache::name(&parsed.version, on_disk, tile);
                if let Some(t) = disk.as_ref().and_then(|d| load_from_disk(d, &on_disk)) {
                    return Ok(t);
                }
                // A place in the render queue, or "busy" at once. The permit
                // goes with the job: it is given back when a thread has run it,
                // or skipped it because every request for it went away.
                let permit =
                    self.queue
                        .clone()
                        .try_acquire_owned()
                        .map_err(|_| Error::Overloaded {
                            what: "tiles".into(),
                            retry_after_secs: 1,
                        })?;
                // No layers: the basemap.
                let selections = parsed
                    .layers
                    .iter()
                    .map(|(s, k)| atlas.select(s, k))
                    .collect::<Result<Vec<_>>>()?;
                let atlas = atlas.clone();
                let renders = self.renders.clone();
                let png = self
                    .renderer
                    .run(move || {
                        let _permit = permit;
                        renders.fetch_add(1, Ordering::Relaxed);
                        if selections.is_empty() {
                            super::base::render(&atlas, tile)
                        } else {
                            render(&atlas, &selections, tile)
                        }
                    })
                    .await??;
                let t = match png {
                    Some(png) => Tile {
                        png: png.into(),
                        empty: false,
                    },
                    None => Tile {
                        png: bytes::Bytes::from_static(empty_png()),
                        empty: true,
                    },
                };
                if let Some(d) = &disk {
                    if !t.empty || self.settings.cache_empty {
                        let bytes = if t.empty { &[][..] } else { &t.png[..] };
                        d.store(&parsed.version, &on_disk, bytes);
                    }
                }
                Ok::<_, Error>(t)
            })
            .await
            .cloned();
        let t = result?;
        if !t.empty || self.settings.cache_empty {
            self.remember(id.clone(), t.clone());
        }
        Ok(t)
    }

    fn recall(&self, id: &(String, TileId)) -> Option<Tile> {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.tick += 1;
        let tick = m.tick;
        let entry = m.entry(&id.0, id.1)?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    fn remember(&self, id: (String, TileId), t: Tile) {
        let cost = t.cost();
        if cost > self.settings.memory_bytes {
            return;
        }
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.tick += 1;
        let tick = m.tick;
        if let Some((old, _)) = m
            .map
            .entry(id.0.clone())
            .or_default()
            .insert(id.1, (t, tick))
        {
            // Its older place in `order` is found stale and dropped later.
            m.bytes -= old.cost();
        }
        m.order.insert(tick, id);
        m.bytes += cost;
        while m.bytes > self.settings.memory_bytes {
            let Some((at, oldest)) = m.order.pop_first() else {
                break;
            };
            match m.entry(&oldest.0, oldest.1).map(|(_, used)| *used) {
                // Used (or stored again) since: keep it, at its newer tick.
                Some(used) if used != at => {
                    m.order.insert(used, oldest);
                }
                Some(_) => {
                    m.remove(&oldest.0, oldest.1);
                }
                None => {}
            }
        }
    }

    /// How many tiles and bytes are in memory.
    #[must_use]
    pub fn memory_use(&self) -> (usize, usize) {
        let m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (m.map.values().map(HashMap::len).sum(), m.bytes)
    }
}

/// Render threads kept busy by [`TileService::occupy_render_threads`], freed on drop.
#[cfg(any(test, feature = "test-support"))]
pub struct RenderThreadsHeld {
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

#[cfg(any(test, feature = "test-support"))]
impl Drop for RenderThreadsHeld {
    fn drop(&mut self) {
        let (open, cv) = &*self.gate;
        *open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
    }
}

/// A tile from disk; anything not a PNG is ignored (and rendered again), so a
/// damaged cache never breaks serving.
fn load_from_disk(disk: &super::disk::DiskCache, rel: &str) -> Option<Tile> {
    let bytes = disk.load(rel)?;
    if bytes.is_empty() {
        return Some(Tile {
            png: bytes::Bytes::from_static(empty_png()),
            empty: true,
        });
    }
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        tracing::warn!(file = rel, "ignoring a damaged cached tile");
        return None;
    }
    Some(Tile {
        png: bytes.into(),
        empty: false,
    })
}

#[cfg(test)]
mod leaving_tests {
    use super::*;

    /// Requests leaving in any order, the last one out empties the table; a
    /// guard for a slot the table no longer holds leaves the new one alone.
    #[test]
    fn the_last_request_out_removes_the_slot_whatever_the_order() {
        let inflight: Mutex<HashMap<(String, TileId), Slot>> = Mutex::default();
        let id = (
            "k".to_owned(),
            TileId {
                z: 1,
                x: 0,
                y: 0,
                scale: 1,
            },
        );
        let join = || Leaving {
            inflight: &inflight,
            id: &id,
            slot: Some(
                inflight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(id.clone())
                    .or_default()
                    .clone(),
            ),
        };
        let len = || inflight.lock().map_or(usize::MAX, |m| m.len());
        for first_leaves_first in [true, false] {
            let (a, b) = (join(), join());
            assert!(Arc::ptr_eq(a.slot(), b.slot()), "one slot for both");
            let (x, y) = if first_leaves_first { (a, b) } else { (b, a) };
            drop(x);
            assert_eq!(len(), 1, "one request still waits");
            drop(y);
            assert_eq!(len(), 0, "the last one out removed it");
        }
        // A stale guard (its slot was replaced) does not remove the new slot.
        let stale = join();
        inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), Slot::default());
        drop(stale);
        assert_eq!(len(), 1);
    }
}
