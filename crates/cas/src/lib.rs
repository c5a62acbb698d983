//! A content-addressed store and action cache on local disk.
//!
//! Blobs are keyed by [`Digest`] (SHA-256 and size, as the Bazel Remote Execution API),
//! compressed with the store's [`Codec`], deduplicated, written atomically (temporary
//! file, fsync, rename) and verified on every read: a blob whose contents do not match
//! its digest is removed and reported as [`CasError::Corrupt`], never returned. The action
//! cache maps an action's digest to an [`ActionResult`]; an entry whose outputs are no
//! longer all in the store is a miss. [`Store::gc`] evicts least-recently-used blobs down
//! to a size. Processes sharing a store directory coordinate through a lock file:
//! readers and writers share it, eviction takes it alone.
//!
//! ```
//! use cas::{ActionResult, Codec, Digest, OutputFile, Store};
//!
//! let dir = std::env::temp_dir().join(format!("cas-doc-{}", std::process::id()));
//! let store = Store::open(&dir, Codec::Zstd)?;
//! let digest = store.put(b"hello")?;
//! assert_eq!(digest, Digest::of(b"hello"));
//! assert_eq!(digest.to_string(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824/5");
//! assert_eq!(store.get(&digest)?, b"hello");
//!
//! let action = Digest::of(b"gcc -c hello.c");
//! let result = ActionResult {
//!     exit_code: 0,
//!     output_files: vec![OutputFile { path: "hello.o".into(), digest, executable: false }],
//!     ..ActionResult::default()
//! };
//! store.put_action(&action, &result)?;
//! assert_eq!(store.get_action(&action)?, Some(result));
//! std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), cas::CasError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A blob's identity: its SHA-256 and its size in bytes (REAPI's `Digest`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The SHA-256 of the contents.
    pub hash: [u8; 32],
    /// The size of the contents.
    pub size: u64,
}

impl Digest {
    /// The digest a store file is named after (`HASH-SIZE`).
    fn parse_file_name(name: &str) -> Option<Digest> {
        let (hex, size) = name.split_once('-')?;
        if hex.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Digest {
            hash,
            size: size.parse().ok()?,
        })
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest {
            hash: Sha256::digest(data).into(),
            size: data.len() as u64,
        }
    }

    /// The hash in lower-case hex.
    pub fn hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hex(), self.size)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Text that is not a digest (`HASH/SIZE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a digest (HASH/SIZE): '{0}'")]
pub struct DigestParseError(pub String);

impl std::str::FromStr for Digest {
    type Err = DigestParseError;

    /// Reads `HEX/SIZE`.
    fn from_str(text: &str) -> Result<Digest, DigestParseError> {
        let bad = || DigestParseError(text.to_owned());
        let (hex, size) = text.split_once('/').ok_or_else(bad)?;
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Digest {
            hash,
            size: size.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How blobs are compressed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is.
    None,
    /// zstd (level 3): the better ratio.
    Zstd,
    /// lz4: the faster one.
    Lz4,
}

impl Codec {
    fn tag(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
            Codec::Lz4 => 2,
        }
    }
}

/// A file an action produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Its path, relative to the action's output root.
    pub path: String,
    /// Its contents.
    pub digest: Digest,
    /// Whether it is executable.
    pub executable: bool,
}

/// A symbolic link an action produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSymlink {
    /// Its path, relative to the action's output root.
    pub path: String,
    /// What it points to, as written.
    pub target: String,
}

/// What an action gave: its exit code and outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The exit code.
    pub exit_code: i32,
    /// The files it produced.
    pub output_files: Vec<OutputFile>,
    /// The symbolic links it produced.
    #[serde(default)]
    pub output_symlinks: Vec<OutputSymlink>,
    /// The directories it produced (relative paths), so that empty ones come back too.
    #[serde(default)]
    pub output_directories: Vec<String>,
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum CasError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        error: std::io::Error,
    },
    /// A blob is not in the store.
    NotFound(Digest),
    /// A stored blob or entry does not match its digest; it has been removed.
    Corrupt {
        /// The blob or action key.
        digest: Digest,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for CasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CasError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CasError::NotFound(digest) => write!(f, "blob {digest} is not in the store"),
            CasError::Corrupt { digest, reason } => {
                write!(
                    f,
                    "blob {digest} was corrupt ({reason}) and has been removed"
                )
            }
        }
    }
}

impl std::error::Error for CasError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CasError + '_ {
    move |error| CasError::Io {
        path: path.to_owned(),
        error,
    }
}

/// What [`Store::gc`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: usize,
    /// Bytes (on disk) freed.
    pub freed: u64,
    /// Bytes (on disk) left.
    pub remaining: u64,
}

/// First bytes of every blob file: a format tag, then the codec.
const BLOB_MAGIC: &[u8; 4] = b"HZB1";

/// A store directory: `blobs/` (by hash), `ac/` (action results), `tmp/` (writes in
/// progress) and `lock`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    codec: Codec,
    /// Action results this process wrote or verified: looked up again without the disk
    /// (as Bazel keeps its action cache in memory).
    actions: Mutex<HashMap<Digest, ActionResult>>,
    /// The action keys on disk, listed on the first lookup (and added to by this store):
    /// a key not listed is a miss without a file system call.
    action_index: Mutex<Option<HashSet<Digest>>>,
}

impl Store {
    /// Opens (creating it if needed) the store at `root`; new blobs are written with
    /// `codec` (any codec is read).
    pub fn open(root: &Path, codec: Codec) -> Result<Store, CasError> {
        for dir in ["blobs", "ac", "tmp"] {
            let dir = root.join(dir);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(Store {
            root: root.to_owned(),
            codec,
            actions: Mutex::new(HashMap::new()),
            action_index: Mutex::new(None),
        })
    }

    fn shared(&self) -> Result<LockGuard, CasError> {
        LockGuard::take(&self.root, false)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(&hex[..2])
            .join(format!("{hex}-{}", digest.size))
    }

    fn action_path(&self, key: &Digest) -> PathBuf {
        self.root
            .join("ac")
            .join(format!("{}-{}", key.hex(), key.size))
    }

    /// A fresh temporary file name (unique per process and call).
    fn temporary(&self) -> PathBuf {
        // One counter for the process: several stores may share a directory.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}.{n}", std::process::id()))
    }

    /// Writes `parts` to a temporary file, flushes it to disk and renames it to `path`:
    /// `path` is either absent or complete, whenever the writer dies.
    fn write_entry(&self, parts: &[&[u8]], path: &Path) -> Result<(), CasError> {
        let temporary = self.temporary();
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temporary)?;
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_all()
        };
        if let Err(error) = write() {
            let _ = std::fs::remove_file(&temporary);
            return Err(CasError::Io {
                path: temporary,
                error,
            });
        }
        self.commit(&temporary, path)
    }

    /// Renames a written and fsynced temporary file to `path` and syncs the directory.
    fn commit(&self, temporary: &Path, path: &Path) -> Result<(), CasError> {
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::rename(temporary, path).map_err(io(path))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    }

    /// Whether the store holds `digest` (not verified; [`Store::get`] verifies).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores `data`; storing what is already there only refreshes its use time.
    pub fn put(&self, data: &[u8]) -> Result<Digest, CasError> {
        let digest = Digest::of(data);
        let _lock = self.shared()?;
        let path = self.blob_path(&digest);
        if path.is_file() {
            touch(&path);
            return Ok(digest);
        }
        let body = match self.codec {
            Codec::None => data.to_vec(),
            Codec::Zstd => zstd::bulk::compress(data, 3).map_err(io(&path))?,
            Codec::Lz4 => lz4_flex::compress_prepend_size(data),
        };
        self.write_entry(&[&BLOB_MAGIC[..], &[self.codec.tag()], &body], &path)?;
        Ok(digest)
    }

    /// Stores the contents of a file. Files over 8 MiB are streamed (uncompressed or
    /// zstd): hashed, then compressed while hashed again, so memory stays small; a file
    /// that changes meanwhile is refused.
    pub fn put_file(&self, path: &Path) -> Result<Digest, CasError> {
        let size = std::fs::metadata(path).map_err(io(path))?.len();
        if size <= STREAM_ABOVE || self.codec == Codec::Lz4 {
            let data = std::fs::read(path).map_err(io(path))?;
            return self.put(&data);
        }
        let digest = {
            let mut hashing = Hashing::new(File::open(path).map_err(io(path))?);
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io(path))?;
            hashing.digest()
        };
        let _lock = self.shared()?;
        let blob = self.blob_path(&digest);
        if blob.is_file() {
            touch(&blob);
            return Ok(digest);
        }
        let temporary = self.temporary();
        let codec = self.codec;
        let write = || -> std::io::Result<Digest> {
            let mut hashing = Hashing::new(File::open(path)?);
            let mut out = std::io::BufWriter::new(File::create(&temporary)?);
            out.write_all(BLOB_MAGIC)?;
            out.write_all(&[codec.tag()])?;
            if codec == Codec::Zstd {
                let mut encoder = zstd::stream::Encoder::new(&mut out, 3)?;
                std::io::copy(&mut hashing, &mut encoder)?;
                encoder.finish()?;
            } else {
                std::io::copy(&mut hashing, &mut out)?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(hashing.digest())
        };
        match write() {
            Ok(written) if written == digest => {
                self.commit(&temporary, &blob)?;
                Ok(digest)
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&temporary);
                Err(CasError::Io {
                    path: path.to_owned(),
                    error: std::io::Error::other("the file changed while it was stored"),
                })
            }
            Err(error) => {
                let _ = std::fs::remove_file(&temporary);
                Err(CasError::Io {
                    path: path.to_owned(),
                    error,
                })
            }
        }
    }

    /// The contents of `digest`, verified; a blob that fails verification is removed.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        let _lock = self.shared()?;
        let path = self.blob_path(digest);
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CasError::NotFound(*digest));
            }
            Err(error) => return Err(CasError::Io { path, error }),
        };
        let corrupt = |reason: &str| {
            let _ = std::fs::remove_file(&path);
            CasError::Corrupt {
                digest: *digest,
                reason: reason.to_owned(),
            }
        };
        if raw.len() < 5 || &raw[..4] != BLOB_MAGIC {
            return Err(corrupt("no blob header"));
        }
        let body = &raw[5..];
        let data = match raw[4] {
            0 => Ok(body.to_vec()),
            1 => zstd::bulk::decompress(body, usize::try_from(digest.size).unwrap_or(usize::MAX))
                .map_err(|e| e.to_string()),
            2 => lz4_flex::decompress_size_prepended(body).map_err(|e| e.to_string()),
            other => Err(format!("unknown codec {other}")),
        }
        .map_err(|reason| corrupt(&format!("cannot decompress: {reason}")))?;
        if Digest::of(&data) != *digest {
            return Err(corrupt("contents do not match the digest"));
        }
        touch(&path);
        Ok(data)
    }

    /// Writes the verified contents of `digest` to `dest` (atomically: a temporary file
    /// beside it, then renamed), executable or not.
    /// Blobs over 8 MiB stored uncompressed or with zstd are streamed (decompressed and
    /// hashed on the way); the destination appears only if they verify.
    pub fn get_to_file(
        &self,
        digest: &Digest,
        dest: &Path,
        executable: bool,
    ) -> Result<(), CasError> {
        let temporary = dest.with_file_name(format!(
            ".{}.{}.tmp",
            dest.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        if digest.size > STREAM_ABOVE
            && let Some(result) = self.stream_to_file(digest, &temporary)
        {
            result?;
            return finish_file(&temporary, dest, executable);
        }
        let data = self.get(digest)?;
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temporary)?;
            file.write_all(&data)?;
            file.sync_all()
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            CasError::Io {
                path: dest.to_owned(),
                error,
            }
        })?;
        finish_file(&temporary, dest, executable)
    }

    /// Decompresses a large blob into `temporary`, verifying it; `None` when its codec
    /// is not streamed (lz4).
    fn stream_to_file(&self, digest: &Digest, temporary: &Path) -> Option<Result<(), CasError>> {
        let path = self.blob_path(digest);
        let mut blob = match File::open(&path) {
            Ok(file) => std::io::BufReader::new(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(Err(CasError::NotFound(*digest)));
            }
            Err(error) => return Some(Err(CasError::Io { path, error })),
        };
        let mut header = [0u8; 5];
        if blob.read_exact(&mut header).is_err() || &header[..4] != BLOB_MAGIC || header[4] > 1 {
            // Not a streamed codec, or damaged: the whole-blob path decides.
            return None;
        }
        let corrupt = |reason: String| {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(temporary);
            CasError::Corrupt {
                digest: *digest,
                reason,
            }
        };
        // Only a fault of the blob condemns it; a full or unwritable destination does not.
        let destination = |error: std::io::Error| {
            let _ = std::fs::remove_file(temporary);
            CasError::Io {
                path: temporary.to_owned(),
                error,
            }
        };
        let file = match File::create(temporary) {
            Ok(file) => file,
            Err(e) => return Some(Err(destination(e))),
        };
        let mut out = Hashing::new(std::io::BufWriter::new(file));
        let copied = if header[4] == 1 {
            zstd::stream::Decoder::with_buffer(blob)
                .and_then(|mut decoder| std::io::copy(&mut decoder, &mut out))
        } else {
            std::io::copy(&mut blob, &mut out)
        };
        if let Err(e) = copied {
            return Some(Err(if out.write_failed {
                destination(e)
            } else {
                corrupt(format!("cannot decompress: {e}"))
            }));
        }
        let found = out.digest();
        let synced = out
            .inner
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all());
        Some(match synced {
            Err(e) => Err(destination(e)),
            Ok(()) if found == *digest => {
                touch(&path);
                Ok(())
            }
            Ok(()) => Err(corrupt("contents do not match the digest".into())),
        })
    }

    /// Records the result of the action `key`.
    pub fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<(), CasError> {
        self.remember(key, result);
        let _lock = self.shared()?;
        let path = self.action_path(key);
        let body = serde_json::to_string(result).map_err(|e| CasError::Io {
            path: path.clone(),
            error: std::io::Error::other(e),
        })?;
        let sum = format!("{}\n", Digest::of(body.as_bytes()));
        self.write_entry(&[sum.as_bytes(), body.as_bytes()], &path)
    }

    fn remember(&self, key: &Digest, result: &ActionResult) {
        if let Ok(mut actions) = self.actions.lock() {
            actions.insert(*key, result.clone());
        }
        if let Ok(mut index) = self.action_index.lock()
            && let Some(index) = index.as_mut()
        {
            index.insert(*key);
        }
    }

    /// Whether `key` was on disk when the action cache was first listed (or written by
    /// this store since).
    fn listed(&self, key: &Digest) -> Result<bool, CasError> {
        let mut index = self.action_index.lock().map_err(|_| CasError::Io {
            path: self.root.join("ac"),
            error: std::io::Error::other("a thread panicked holding the action index"),
        })?;
        if index.is_none() {
            let dir = self.root.join("ac");
            let mut keys = HashSet::new();
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let name = entry.map_err(io(&dir))?.file_name();
                if let Some(key) = name.to_str().and_then(Digest::parse_file_name) {
                    keys.insert(key);
                }
            }
            *index = Some(keys);
        }
        Ok(index.as_ref().is_some_and(|keys| keys.contains(key)))
    }

    /// The recorded result of the action `key`: read from disk the first time, verified
    /// (a damaged entry is removed and reported) and served only if every output it names
    /// is in the store; after that answered from memory (as Bazel's in-memory action
    /// cache), so a blob evicted meanwhile by another process shows only when the output
    /// is read ([`Store::get_to_file`] says `NotFound`). An entry another process writes
    /// after this store first listed the cache is not seen: a miss, never a wrong answer.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>, CasError> {
        if let Some(result) = self.actions.lock().ok().and_then(|a| a.get(key).cloned()) {
            return Ok(Some(result));
        }
        if !self.listed(key)? {
            return Ok(None);
        }
        // No lock: an entry is renamed into place whole and verified when read, and one
        // removed meanwhile is a miss.
        let path = self.action_path(key);
        let mut text = String::new();
        match File::open(&path) {
            Ok(mut file) => file.read_to_string(&mut text).map_err(io(&path))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(CasError::Io { path, error }),
        };
        let corrupt = |reason: &str| {
            let _ = std::fs::remove_file(&path);
            CasError::Corrupt {
                digest: *key,
                reason: reason.to_owned(),
            }
        };
        let (sum, body) = text.split_once('\n').ok_or_else(|| corrupt("truncated"))?;
        if sum != Digest::of(body.as_bytes()).to_string() {
            return Err(corrupt("action result does not match its digest"));
        }
        let result: ActionResult =
            serde_json::from_str(body).map_err(|e| corrupt(&e.to_string()))?;
        if result.output_files.iter().all(|o| self.contains(&o.digest)) {
            touch(&path);
            self.remember(key, &result);
            Ok(Some(result))
        } else {
            Ok(None)
        }
    }

    /// Bytes the blobs take on disk.
    pub fn disk_size(&self) -> Result<u64, CasError> {
        Ok(self.blobs()?.iter().map(|b| b.1).sum())
    }

    /// Every blob file with its size and last use.
    fn blobs(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>, CasError> {
        let mut out = Vec::new();
        let root = self.root.join("blobs");
        for shard in std::fs::read_dir(&root).map_err(io(&root))? {
            let shard = shard.map_err(io(&root))?.path();
            for entry in std::fs::read_dir(&shard).map_err(io(&shard))? {
                let entry = entry.map_err(io(&shard))?;
                let meta = entry.metadata().map_err(io(&entry.path()))?;
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((entry.path(), meta.len(), used));
            }
        }
        Ok(out)
    }

    /// Evicts least-recently-used blobs until the blobs take at most `max_bytes`, and
    /// removes what interrupted writers left; takes the store's lock alone.
    pub fn gc(&self, max_bytes: u64) -> Result<GcReport, CasError> {
        let _lock = LockGuard::take(&self.root, true)?;
        let tmp = self.root.join("tmp");
        for entry in std::fs::read_dir(&tmp).map_err(io(&tmp))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let mut blobs = self.blobs()?;
        blobs.sort_by_key(|b| b.2);
        let mut total: u64 = blobs.iter().map(|b| b.1).sum();
        let mut report = GcReport::default();
        for (path, size, _) in blobs {
            if total <= max_bytes {
                break;
            }
            std::fs::remove_file(&path).map_err(io(&path))?;
            total -= size;
            report.removed += 1;
            report.freed += size;
        }
        report.remaining = total;
        Ok(report)
    }
}

/// Marks a file as just used (its modification time is the LRU clock).
fn touch(path: &Path) {
    if let Ok(file) = File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// A held `flock` on the store's lock file, released when dropped (its own open file, so
/// that threads of one process hold and release their locks independently).
struct LockGuard {
    _file: File,
}

impl LockGuard {
    fn take(root: &Path, exclusive: bool) -> Result<LockGuard, CasError> {
        let path = root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let operation = if exclusive {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::LockShared
        };
        rustix::fs::flock(&file, operation).map_err(|e| CasError::Io {
            path,
            error: e.into(),
        })?;
        Ok(LockGuard { _file: file })
    }
}

/// Files larger than this are streamed rather than read whole.
const STREAM_ABOVE: u64 = 8 << 20;

/// Hashes what is read through it, or written through it.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    size: u64,
    /// Whether writing to `inner` failed (as opposed to reading what was written).
    write_failed: bool,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
            write_failed: false,
        }
    }

    fn digest(&self) -> Digest {
        Digest {
            hash: self.hasher.clone().finalize().into(),
            size: self.size,
        }
    }
}

impl<T: Read> Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self
            .inner
            .write(buf)
            .inspect_err(|_| self.write_failed = true)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|_| self.write_failed = true)
    }
}

/// Gives a written temporary file its mode, syncs it and renames it to `dest`.
fn finish_file(temporary: &Path, dest: &Path, executable: bool) -> Result<(), CasError> {
    let finish = || -> std::io::Result<()> {
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(
            temporary,
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )?;
        std::fs::rename(temporary, dest)
    };
    finish().map_err(|error| {
        let _ = std::fs::remove_file(temporary);
        CasError::Io {
            path: dest.to_owned(),
            error,
        }
    })
}
