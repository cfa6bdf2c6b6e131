//! The disk cache of rendered tiles, bounded in bytes.
//!
//! Files live at `<folder>/<data version>/<16 hex of the key's SHA-256>/<z>-<x>-<y>[@2x].png`
//! (an empty tile is an empty file). An index in memory holds every file of the
//! current data version with its cost and when it was last used; a write that takes
//! the total over the bound deletes the least recently used files first.
//!
//! A file's cost is its size rounded up to 4 KiB blocks plus one block for its
//! inode, its directory entry and its share of its key's folder, and the version's
//! folder takes one block off the bound, so that the disk really used stays under
//! the bound even for a flood of empty tiles.
//!
//! The index is built by scanning the folder when the cache is first used at a data
//! version (at start-up, and again when the version moves): files of other versions
//! are deleted then, leftover temporary files too, and at most as many files as the
//! bound could hold are indexed (oldest by modification time evicted first); any
//! beyond are deleted. Only names this cache writes are ever deleted (hex folders,
//! `.png` and temporary files), so a folder shared with something else loses nothing
//! of it. Replicas sharing one folder each count their own writes and what they
//! found when they scanned.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use super::TileId;

/// The disk's allocation unit as counted here.
const BLOCK: u64 = 4096;

/// What a file of `len` bytes counts for.
fn cost(len: u64) -> u64 {
    len.div_ceil(BLOCK) * BLOCK + BLOCK
}

/// The files of the current version, least recently used first.
#[derive(Default)]
struct Index {
    /// The data version the index holds; `None` until the first scan.
    version: Option<String>,
    /// By path relative to the folder: (cost, tick of last use).
    files: HashMap<String, (u64, u64)>,
    order: BTreeMap<u64, String>,
    bytes: u64,
    tick: u64,
}

impl Index {
    fn insert(&mut self, rel: String, cost: u64) {
        self.forget(&rel);
        self.tick += 1;
        self.files.insert(rel.clone(), (cost, self.tick));
        self.order.insert(self.tick, rel);
        self.bytes += cost;
    }

    fn touch(&mut self, rel: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(entry) = self.files.get_mut(rel) {
            self.order.remove(&entry.1);
            entry.1 = tick;
            self.order.insert(tick, rel.to_owned());
        }
    }

    fn forget(&mut self, rel: &str) {
        if let Some((cost, tick)) = self.files.remove(rel) {
            self.order.remove(&tick);
            self.bytes -= cost;
        }
    }

    /// Takes the least recently used files out until the total is within `max`:
    /// the caller deletes them.
    fn evict(&mut self, max: u64) -> Vec<String> {
        let mut out = Vec::new();
        while self.bytes > max {
            let Some((_, rel)) = self.order.pop_first() else {
                break;
            };
            if let Some((cost, _)) = self.files.remove(&rel) {
                self.bytes -= cost;
            }
            out.push(rel);
        }
        out
    }
}

/// A folder of tiles bounded in bytes.
pub(super) struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    /// Held while a scan runs, so that two never do.
    scanning: Mutex<()>,
}

impl DiskCache {
    pub(super) fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes,
            index: Mutex::default(),
            scanning: Mutex::new(()),
        }
    }

    /// What the files may count for: the bound less the version's own folder.
    fn budget(&self) -> u64 {
        self.max_bytes.saturating_sub(BLOCK)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the index holds `version` (no scan needed).
    pub(super) fn is_at(&self, version: &str) -> bool {
        self.index().version.as_deref() == Some(version)
    }

    /// Bytes the index counts.
    pub(super) fn bytes(&self) -> u64 {
        self.index().bytes
    }

    /// The file of a tile under a key's text, relative to the folder.
    pub(super) fn name(version: &str, key: &str, t: TileId) -> String {
        use sha2::Digest as _;
        let digest = format!("{:x}", sha2::Sha256::digest(key.as_bytes()));
        let scale = if t.scale == 2 { "@2x" } else { "" };
        format!(
            "{version}/{}/{}-{}-{}{scale}.png",
            &digest[..16],
            t.z,
            t.x,
            t.y
        )
    }

    /// Makes `version` the current one: deletes every other version's files and
    /// indexes this one's (blocking: file system work). Nothing when it already is.
    pub(super) fn prepare(&self, version: &str) {
        // Not a version this cache can file tiles under (an empty one would
        // make every path absolute): leave the folder alone.
        if !is_version(version) {
            tracing::warn!(version, "tile disk cache not used: not a data version");
            return;
        }
        let _scan = self
            .scanning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.is_at(version) {
            return;
        }
        let started = std::time::Instant::now();
        let mut found = Vec::new();
        let mut purged = 0u64;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if !is_dir || !is_version(&name) {
                    continue;
                }
                if name == version {
                    scan(&entry.path(), &name, &mut found);
                } else {
                    purged += purge(&entry.path());
                }
            }
        }
        // Oldest first; at most what the bound could hold is indexed.
        found.sort_by_key(|f| f.modified);
        let room = usize::try_from(self.budget() / cost(0)).unwrap_or(usize::MAX);
        let extra = found.len().saturating_sub(room);
        let mut fresh = Index {
            version: Some(version.to_owned()),
            ..Index::default()
        };
        let mut doomed = Vec::new();
        for (i, f) in found.into_iter().enumerate() {
            if i < extra {
                doomed.push(f.rel);
            } else {
                fresh.insert(f.rel, cost(f.len));
            }
        }
        doomed.extend(fresh.evict(self.budget()));
        let evicted = doomed.len();
        for rel in doomed {
            self.delete(&rel);
        }
        let (files, bytes) = (fresh.files.len(), fresh.bytes);
        *self.index() = fresh;
        tracing::info!(
            dir = %self.dir.display(),
            version,
            files,
            bytes,
            evicted,
            purged,
            elapsed_ms = started.elapsed().as_millis(),
            "tile disk cache ready"
        );
    }

    /// A tile's bytes, if the file is there (and counts as used).
    pub(super) fn load(&self, rel: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.dir.join(rel)).ok()?;
        self.index().touch(rel);
        Some(bytes)
    }

    /// Writes a tile (through a temporary file and a rename), then deletes the
    /// least recently used files while the total is over the bound. A tile of a
    /// version other than the current one is not written. A full or read-only
    /// disk is logged, not fatal.
    pub(super) fn store(&self, version: &str, rel: &str, bytes: &[u8]) {
        if !self.is_at(version) {
            return;
        }
        let path = self.dir.join(rel);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Unique per process and write: replicas sharing the folder (all
            // pid 1 in containers) and two writes of one tile never collide.
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = path.with_extension(format!("tmp{}{n}", std::process::id()));
            let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &path));
            if written.is_err() {
                // A full disk must not keep the half-written file.
                let _ = std::fs::remove_file(&tmp);
            }
            written
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), "tile not cached on disk: {e}");
            return;
        }
        let doomed = {
            let mut index = self.index();
            if index.version.as_deref() != Some(version) {
                // The version moved while writing: the scan deleted or will delete it.
                Vec::new()
            } else {
                index.insert(rel.to_owned(), cost(bytes.len() as u64));
                index.evict(self.budget())
            }
        };
        for rel in doomed {
            self.delete(&rel);
        }
    }

    /// Deletes a file and the folder it leaves empty.
    fn delete(&self, rel: &str) {
        let path = self.dir.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), "cached tile not deleted: {e}"),
        }
        if let Some(parent) = path.parent() {
            // Fails (and is meant to) while the folder holds other tiles.
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// A file found by a scan.
struct Found {
    rel: String,
    len: u64,
    modified: SystemTime,
}

/// A data version's folder name: hex digits, as the atlas writes them.
fn is_version(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_hexdigit())
}

/// A name this cache writes: a tile, or a temporary file on its way to being one.
fn is_ours(name: &str) -> bool {
    name.ends_with(".png")
        || name
            .rsplit_once(".tmp")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
}

/// Tiles under `dir` (`rel` is its path relative to the cache folder); leftover
/// temporary files are deleted.
fn scan(dir: &Path, rel: &str, found: &mut Vec<Found>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let child = format!("{rel}/{name}");
        match entry.metadata() {
            Ok(m) if m.is_dir() => {
                scan(&path, &child, found);
                let _ = std::fs::remove_dir(&path);
            }
            Ok(m) if name.ends_with(".png") => found.push(Found {
                rel: child,
                len: m.len(),
                modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            }),
            Ok(_) if is_ours(&name) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// Deletes this cache's files under `dir` and the folders left empty; answers
/// how many files went.
fn purge(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                n += purge(&path);
            } else if is_ours(&name) && std::fs::remove_file(&path).is_ok() {
                n += 1;
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
    n
}

#[cfg(test)]
mod tests {
    use super::DiskCache;

    fn files_under(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_no_version_no_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = DiskCache::new(dir.path().to_owned(), 1 << 20);
        let version = "abc123";
        cache.prepare(version);
        assert!(cache.is_at(version));
        // The tile's path is a folder holding a file: the rename must fail.
        let rel = format!("{version}/00/1-0-0.png");
        std::fs::create_dir_all(dir.path().join(&rel).join("in-the-way")).expect("dir");
        std::fs::write(dir.path().join(&rel).join("in-the-way/x"), b"x").expect("file");
        cache.store(version, &rel, b"png bytes");
        assert_eq!(files_under(dir.path()), ["x"], "no .tmp file left behind");

        // An empty version (never a real one) touches nothing, inside or out.
        let other = DiskCache::new(dir.path().to_owned(), 1 << 20);
        other.prepare("");
        assert!(!other.is_at(""));
        other.store("", "/escape.png", b"png");
        assert_eq!(files_under(dir.path()), ["x"]);
    }
}
