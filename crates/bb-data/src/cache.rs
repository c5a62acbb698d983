//! The parse cache: what a parse of a build directory found, with the state of every input
//! it read, so that the next parse reuses each recipe whose inputs are unchanged.
//!
//! Inputs are recorded as [`FileStamp`]s (path, size, modification time, or "absent" for the
//! places BitBake looked and found nothing): the base configuration's files, the layers'
//! python libraries, each recipe's own files (recipe, bbappends, classes, includes). The
//! file is versioned, carries a digest of its contents, and is replaced atomically; a file
//! that is corrupt, truncated or from another version is reported and never used.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{DataError, DataStore, Value};

/// First line of a cache file; the number is the format version.
const MAGIC: &str = "hitzeleiter-parse-cache 6";

/// The state of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// The file.
    pub path: PathBuf,
    /// Size and modification time (ns since the epoch); `None` when it did not exist.
    pub state: Option<(u64, u128)>,
}

impl FileStamp {
    /// The file's state now.
    pub fn of(path: &Path) -> FileStamp {
        let state = std::fs::metadata(path).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        });
        FileStamp {
            path: path.to_owned(),
            state,
        }
    }

    /// Whether the file is still as recorded.
    pub fn is_current(&self) -> bool {
        FileStamp::of(&self.path).state == self.state
    }
}

/// The state of each file a cache's checks looked at, as first seen: recipes share most
/// of their inputs (classes, includes, the places a class was looked for), and checking
/// openembedded-core's cache looked 26,323 times at 1,695 paths.
#[derive(Debug, Default)]
struct SeenStates(std::sync::Mutex<std::collections::HashMap<PathBuf, Option<(u64, u128)>>>);

impl SeenStates {
    fn is_current(&self, stamp: &FileStamp) -> bool {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Most checks find the path seen: the key is copied only for a new one.
        if let Some(state) = seen.get(&stamp.path) {
            return *state == stamp.state;
        }
        let state = FileStamp::of(&stamp.path).state;
        seen.insert(stamp.path.clone(), state);
        state == stamp.state
    }
}

/// What was seen is not part of the cache's value: a copy starts afresh.
impl Clone for SeenStates {
    fn clone(&self) -> SeenStates {
        SeenStates::default()
    }
}

impl PartialEq for SeenStates {
    fn eq(&self, _: &SeenStates) -> bool {
        true
    }
}

impl Eq for SeenStates {}

/// One variant of a cached recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedVariant {
    /// The variant (`""` for the recipe itself, `native`, …).
    pub name: String,
    /// Why it was skipped (SkipRecipe), if it was.
    pub skipped: Option<String>,
    /// What the build needs to know of it. Kept in a second section of the cache file,
    /// read only by [`ParseCache::load_with_infos`] (a plain [`ParseCache::load`] leaves
    /// it empty), so that checking the cache stays fast.
    #[serde(skip)]
    pub info: crate::RecipeInfo,
}

/// A recipe file's parse result and its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRecipe {
    /// The recipe file.
    pub file: PathBuf,
    /// The bbappends applied, in order.
    pub appends: Vec<PathBuf>,
    /// Every file it read (or looked for) beyond the base configuration.
    pub inputs: Vec<FileStamp>,
    /// Its variants.
    pub variants: Vec<CachedVariant>,
}

/// A recipe's variant infos encoded as the cache file keeps them: the JSON array (one per
/// variant, in order), compressed with zstd. Parse workers send them so, and the parse
/// cache saves them so: a process that only collects and saves them holds about a
/// fifteenth of what the JSON takes, and a sixtieth of what the decoded infos take. In a
/// human-readable format (the cache file, the workers' reports) they are a base64 string.
///
/// ```
/// use bb_data::{CacheKey, CachedRecipe, CachedVariant, EncodedInfos, ParseCache, RecipeInfo};
///
/// let info = RecipeInfo { pn: "zlib".into(), ..RecipeInfo::default() };
/// let variant = CachedVariant { name: String::new(), skipped: None, info: info.clone() };
/// let mut recipe = CachedRecipe {
///     file: "zlib_1.3.bb".into(),
///     appends: vec![],
///     inputs: vec![],
///     variants: vec![variant],
/// };
/// let infos = EncodedInfos::take(&mut recipe);
/// assert_eq!(recipe.variants[0].info, RecipeInfo::default());
///
/// // Saved encoded, read back decoded.
/// let dir = std::env::temp_dir().join(format!("bb-data-infos-{}", std::process::id()));
/// let file = dir.join("parse.cache");
/// let key = CacheKey { tool: "example 1".into(), environment: vec![] };
/// let cache = ParseCache::new(key, vec![], vec![], vec![], vec![], vec![recipe.clone()]);
/// cache.save_with_infos(&file, &[infos.clone()]).unwrap();
/// let loaded = ParseCache::load_with_infos(&file).unwrap().unwrap();
/// assert_eq!(loaded.recipes[0].variants[0].info, info);
/// std::fs::remove_dir_all(&dir).unwrap();
///
/// infos.decode_into(&mut recipe).unwrap();
/// assert_eq!(recipe.variants[0].info, info);
/// ```
#[derive(Debug, Clone)]
pub struct EncodedInfos(Box<[u8]>);

/// More than any recipe's infos take: a larger size in a frame is corruption.
const MAX_INFOS_SIZE: u64 = 1 << 30;

/// zstd's fastest level: the infos compress about 15-fold at it, and a cold parse encodes
/// all of them.
const INFOS_LEVEL: i32 = 1;

impl EncodedInfos {
    /// Encodes `recipe`'s variant infos.
    pub fn of(recipe: &CachedRecipe) -> EncodedInfos {
        let infos: Vec<&crate::RecipeInfo> = recipe.variants.iter().map(|v| &v.info).collect();
        let json = serde_json::to_vec(&infos)
            .expect("recipe infos have string keys and no non-finite floats");
        thread_local! {
            // A context of its own costs more than compressing a small recipe's infos.
            static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        let compressed = COMPRESSOR.with_borrow_mut(|slot| {
            let mut compressor = match slot.take() {
                Some(compressor) => compressor,
                None => zstd::bulk::Compressor::new(INFOS_LEVEL)?,
            };
            let compressed = compressor.compress(&json);
            *slot = Some(compressor);
            compressed
        });
        EncodedInfos(
            compressed
                .expect("compressing a buffer in memory fails only when memory runs out")
                .into_boxed_slice(),
        )
    }

    /// Encodes `recipe`'s variant infos and leaves them empty in it.
    pub fn take(recipe: &mut CachedRecipe) -> EncodedInfos {
        let infos = EncodedInfos::of(recipe);
        for variant in &mut recipe.variants {
            variant.info = crate::RecipeInfo::default();
        }
        infos
    }

    /// Decodes the infos into `recipe`'s variants, which must be the ones they were taken
    /// from.
    pub fn decode_into(&self, recipe: &mut CachedRecipe) -> Result<(), CacheError> {
        let corrupt = |what: String| {
            CacheError::Corrupt(format!("{}: recipe infos: {what}", recipe.file.display()))
        };
        thread_local! {
            // As for compressing: a context costs more to make than a small recipe's infos
            // take to decompress (a graph decodes every recipe's), and the buffer keeps
            // its capacity.
            static DECOMPRESSION: std::cell::RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> =
                const { std::cell::RefCell::new(None) };
        }
        let infos: Vec<crate::RecipeInfo> = DECOMPRESSION.with_borrow_mut(|slot| {
            let (mut decompressor, mut json) = match slot.take() {
                Some(state) => state,
                None => (
                    zstd::bulk::Decompressor::new().map_err(|e| corrupt(e.to_string()))?,
                    Vec::new(),
                ),
            };
            let decoded = (|| {
                let size = zstd::zstd_safe::get_frame_content_size(&self.0)
                    .ok()
                    .flatten()
                    .filter(|&size| size <= MAX_INFOS_SIZE)
                    .ok_or_else(|| corrupt("no valid size".to_owned()))?;
                json.clear();
                json.reserve(size as usize);
                decompressor
                    .decompress_to_buffer(&self.0, &mut json)
                    .map_err(|e| corrupt(e.to_string()))?;
                serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
            })();
            *slot = Some((decompressor, json));
            decoded
        })?;
        if infos.len() != recipe.variants.len() {
            return Err(corrupt(format!(
                "{} for {} variants",
                infos.len(),
                recipe.variants.len()
            )));
        }
        for (variant, info) in recipe.variants.iter_mut().zip(infos) {
            variant.info = info;
        }
        Ok(())
    }
}

impl Serialize for EncodedInfos {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for EncodedInfos {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = EncodedInfos;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("compressed recipe infos (bytes, or base64 in a string)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<EncodedInfos, E> {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(|bytes| EncodedInfos(bytes.into_boxed_slice()))
                    .map_err(E::custom)
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<EncodedInfos, E> {
                Ok(EncodedInfos(bytes.into()))
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Visitor)
        } else {
            deserializer.deserialize_bytes(Visitor)
        }
    }
}

/// What must be equal for a cache to apply at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The program that wrote it (name, version and build), so a new build never trusts an
    /// old cache.
    pub tool: String,
    /// The environment variables the parse took in (BitBake's approved variables).
    pub environment: Vec<(String, String)>,
}

/// A whole parse: the key, the base configuration's inputs, the variables that select the
/// recipe files, and every recipe.
///
/// ```
/// use bb_data::{CacheKey, FileStamp, ParseCache};
///
/// let dir = std::env::temp_dir().join(format!("bb-data-doc-{}", std::process::id()));
/// let input = dir.join("local.conf");
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(&input, "A = \"1\"\n").unwrap();
/// let key = CacheKey { tool: "example 1".into(), environment: vec![] };
/// let cache = ParseCache::new(key, vec![FileStamp::of(&input)], vec![], vec![], vec![], vec![]);
/// let file = dir.join("parse.cache");
/// cache.save(&file).unwrap();
/// assert_eq!(ParseCache::load(&file).unwrap().as_ref(), Some(&cache));
/// assert!(cache.base_is_current());
/// std::fs::write(&input, "A = \"22\"\n").unwrap();
/// // A cache looks at each file once: a check after a change loads it again.
/// let reloaded = ParseCache::load(&file).unwrap().unwrap();
/// assert!(!reloaded.base_is_current());
/// // A damaged file is refused, never half-read.
/// let bytes = std::fs::read(&file).unwrap();
/// std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
/// assert!(ParseCache::load(&file).is_err());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseCache {
    /// See [`CacheKey`].
    pub key: CacheKey,
    /// Files of the base configuration and of the layers' python libraries.
    pub base_inputs: Vec<FileStamp>,
    /// BBFILES, BBMASK and the layer collections, to collect the recipe files again.
    pub collection_vars: Vec<(String, String)>,
    /// The configuration's provider settings ([`provider_vars`]), so that choosing
    /// providers needs no parse of the configuration.
    pub provider_vars: Vec<(String, String)>,
    /// Each layer collection's directory ([`crate::Cooker::layer_dirs`]).
    pub layer_dirs: Vec<(String, PathBuf)>,
    /// The lines the base configuration's parse printed ([`crate::LogRecord::line`]):
    /// BitBake parses the configuration, and prints its warnings, on every run; a run
    /// that takes everything from the cache shows them from here. Empty from
    /// [`ParseCache::new`].
    pub configuration_messages: Vec<String>,
    /// Recipe file → index in `recipes`, made on first lookup.
    #[serde(skip)]
    by_file: std::sync::OnceLock<std::collections::HashMap<PathBuf, usize>>,
    /// The inputs' states as the checks found them: each file is looked at once.
    #[serde(skip)]
    seen: SeenStates,
    /// The recipes.
    pub recipes: Vec<CachedRecipe>,
}

/// Why a cache file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// Reading or writing failed.
    Io(String),
    /// Another version wrote it, or it is not a cache file.
    Version(String),
    /// Its digest does not match its contents (truncated or corrupted).
    Corrupt(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Io(m) => write!(f, "parse cache: {m}"),
            CacheError::Version(m) => write!(f, "parse cache from another version: {m}"),
            CacheError::Corrupt(m) => write!(f, "parse cache is corrupt: {m}"),
        }
    }
}

impl std::error::Error for CacheError {}

fn digest(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ParseCache {
    /// A cache of a parse: its key, the base configuration's inputs, the collection and
    /// provider variables, the layer directories and the recipes.
    pub fn new(
        key: CacheKey,
        base_inputs: Vec<FileStamp>,
        collection_vars: Vec<(String, String)>,
        provider_vars: Vec<(String, String)>,
        layer_dirs: Vec<(String, PathBuf)>,
        recipes: Vec<CachedRecipe>,
    ) -> ParseCache {
        ParseCache {
            key,
            base_inputs,
            collection_vars,
            provider_vars,
            layer_dirs,
            configuration_messages: Vec::new(),
            recipes,
            by_file: std::sync::OnceLock::new(),
            seen: SeenStates::default(),
        }
    }

    /// Reads a cache file without the recipe infos; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<ParseCache>, CacheError> {
        Self::read(path, false)
    }

    /// Reads a cache file with every variant's [`crate::RecipeInfo`].
    pub fn load_with_infos(path: &Path) -> Result<Option<ParseCache>, CacheError> {
        Self::read(path, true)
    }

    fn read(path: &Path, with_infos: bool) -> Result<Option<ParseCache>, CacheError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(CacheError::Io(format!("{}: {err}", path.display()))),
        };
        let corrupt = |what: &str| CacheError::Corrupt(format!("{}: {what}", path.display()));
        let text = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
        let mut parts = text.splitn(4, '\n');
        let (Some(magic), Some(sums), Some(index), Some(infos)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("truncated"));
        };
        if magic != MAGIC {
            return Err(CacheError::Version(format!(
                "{}: expected '{MAGIC}', found '{magic:.40}'",
                path.display()
            )));
        }
        let mut sums = sums.split(' ');
        let (Some(index_sum), Some(infos_sum), Some(infos_len)) =
            (sums.next(), sums.next(), sums.next())
        else {
            return Err(corrupt("no digests"));
        };
        // The length catches a truncated file without hashing the infos.
        if infos_len != infos.len().to_string() {
            return Err(corrupt("truncated"));
        }
        if digest(index.as_bytes()) != index_sum {
            return Err(corrupt("the digest does not match the contents"));
        }
        let mut cache: ParseCache =
            serde_json::from_str(index).map_err(|e| corrupt(&e.to_string()))?;
        if with_infos {
            if digest(infos.as_bytes()) != infos_sum {
                return Err(corrupt(
                    "the digest of the recipe infos does not match them",
                ));
            }
            let infos: Vec<EncodedInfos> =
                serde_json::from_str(infos).map_err(|e| corrupt(&e.to_string()))?;
            if infos.len() != cache.recipes.len() {
                return Err(corrupt("the recipe infos do not match the recipes"));
            }
            for (recipe, infos) in cache.recipes.iter_mut().zip(&infos) {
                infos.decode_into(recipe).map_err(|e| match e {
                    CacheError::Corrupt(what) => corrupt(&what),
                    other => other,
                })?;
            }
        }
        Ok(Some(cache))
    }

    /// Writes the cache atomically: a temporary file beside `path`, flushed to disk, then
    /// renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        let infos: Vec<EncodedInfos> = self.recipes.iter().map(EncodedInfos::of).collect();
        self.save_with_infos(path, &infos)
    }

    /// [`ParseCache::save`], with each recipe's infos given encoded (one per recipe, in
    /// order) instead of those of its variants.
    pub fn save_with_infos(&self, path: &Path, infos: &[EncodedInfos]) -> Result<(), CacheError> {
        let io = |e: std::io::Error| CacheError::Io(format!("{}: {e}", path.display()));
        if infos.len() != self.recipes.len() {
            return Err(CacheError::Io(format!(
                "{}: {} recipe infos for {} recipes",
                path.display(),
                infos.len(),
                self.recipes.len()
            )));
        }
        // serde_json writes no newline, so each section is one line.
        let index = serde_json::to_string(self).map_err(|e| CacheError::Io(e.to_string()))?;
        let infos = serde_json::to_string(infos).map_err(|e| CacheError::Io(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let temporary = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            writeln!(file, "{MAGIC}")?;
            writeln!(
                file,
                "{} {} {}",
                digest(index.as_bytes()),
                digest(infos.as_bytes()),
                infos.len()
            )?;
            writeln!(file, "{index}")?;
            file.write_all(infos.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io(e)
        })
    }

    /// Whether the base configuration's inputs are unchanged. Each file is looked at once
    /// per cache (by this and [`ParseCache::current_recipe`] together), so that all the
    /// checks of one command see the same state; a check that must see later changes
    /// loads the cache again.
    pub fn base_is_current(&self) -> bool {
        self.base_inputs.iter().all(|s| self.seen.is_current(s))
    }

    /// A datastore holding only the variables that select recipe files, for
    /// [`crate::collect_recipe_files`] without parsing the configuration.
    pub fn collection_store(&self) -> Result<DataStore, DataError> {
        let d = DataStore::new();
        for (name, value) in &self.collection_vars {
            d.set_var(name, value.as_str())?;
        }
        Ok(d)
    }

    /// The cached result for `file` with `appends`, if all its inputs are unchanged.
    pub fn current_recipe(&self, file: &Path, appends: &[PathBuf]) -> Option<&CachedRecipe> {
        let index = self.by_file.get_or_init(|| {
            self.recipes
                .iter()
                .enumerate()
                .map(|(i, r)| (r.file.clone(), i))
                .collect()
        });
        index
            .get(file)
            .map(|&i| &self.recipes[i])
            .filter(|r| r.appends == appends && r.inputs.iter().all(|s| self.seen.is_current(s)))
    }
}

/// The files a datastore read or looked for (`__base_depends` for a base configuration,
/// `__depends` for a recipe), each with the state `stamp` gives.
pub(crate) fn read_files(
    d: &DataStore,
    var: &str,
    stamp: impl Fn(&Path) -> FileStamp,
) -> Result<Vec<FileStamp>, DataError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    if let Some(Value::List(entries)) = d.get_var_raw(var)? {
        for entry in entries {
            let path = match entry {
                Value::List(pair) => pair.first().map(Value::to_string),
                other => Some(other.to_string()),
            };
            if let Some(path) = path
                && seen.insert(path.clone())
            {
                out.push(stamp(Path::new(&path)));
            }
        }
    }
    Ok(out)
}

/// What choosing providers reads from the configuration, expanded, after the keys are
/// expanded as BitBake does for it: every variable named PREFERRED_VERSION*,
/// PREFERRED_PROVIDER*, PREFERRED_RPROVIDER* or REQUIRED_VERSION* (also under the name
/// without its override suffix, as a lookup applies OVERRIDES), ASSUME_PROVIDED,
/// PREFERRED_PROVIDERS, BB_MULTI_PROVIDER_ALLOWED, BB_DEFAULT_TASK and INHERIT.
pub fn provider_vars(config: &DataStore) -> Result<Vec<(String, String)>, DataError> {
    const PREFIXES: [&str; 4] = [
        "PREFERRED_VERSION",
        "PREFERRED_PROVIDER",
        "PREFERRED_RPROVIDER",
        "REQUIRED_VERSION",
    ];
    const NAMES: [&str; 5] = [
        "ASSUME_PROVIDED",
        "PREFERRED_PROVIDERS",
        "BB_MULTI_PROVIDER_ALLOWED",
        "BB_DEFAULT_TASK",
        "INHERIT",
    ];
    let d = config.create_copy();
    d.expand_keys()?;
    let mut names: BTreeSet<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    for key in d.keys()? {
        if PREFIXES.iter().any(|p| key.starts_with(p)) {
            if let Some((base, _)) = key.split_once(':') {
                names.insert(base.to_owned());
            }
            names.insert(key);
        }
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = d.get_var_str(&name)? {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// The variables [`crate::collect_recipe_files`] and [`crate::layer_collections`] read,
/// with their values in `config`.
pub fn collection_vars(config: &DataStore) -> Result<Vec<(String, String)>, DataError> {
    let mut names = vec![
        "BBFILES".to_owned(),
        "BBMASK".to_owned(),
        "BBFILE_COLLECTIONS".to_owned(),
    ];
    for collection in config
        .get_var_str("BBFILE_COLLECTIONS")?
        .unwrap_or_default()
        .split_whitespace()
    {
        names.push(format!("BBFILE_PATTERN_{collection}"));
        names.push(format!("BBFILE_PRIORITY_{collection}"));
        names.push(format!("LAYERDEPENDS_{collection}"));
        names.push(format!("LAYERRECOMMENDS_{collection}"));
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = config.get_var_str(&name)? {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// Every python file below `dirs` (the layers' `addpylib` directories), with its state.
pub fn python_library_files(dirs: &[PathBuf]) -> Vec<FileStamp> {
    fn walk(dir: &Path, out: &mut Vec<FileStamp>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                out.push(FileStamp::of(&path));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        // The directory itself too: a new module appears in its listing.
        out.push(FileStamp::of(dir));
        walk(dir, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(variants: usize) -> CachedRecipe {
        CachedRecipe {
            file: "a_1.0.bb".into(),
            appends: vec![],
            inputs: vec![],
            variants: (0..variants)
                .map(|i| CachedVariant {
                    name: format!("v{i}"),
                    skipped: None,
                    info: crate::RecipeInfo {
                        pn: format!("a{i}"),
                        ..crate::RecipeInfo::default()
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn broken_encoded_infos_are_errors_naming_the_recipe() {
        let mut target = recipe(2);
        let garbage = EncodedInfos(b"not zstd at all".to_vec().into_boxed_slice());
        let huge = {
            // A frame header claiming 2^40 bytes of content.
            let mut frame = zstd::bulk::compress(b"[]", 1).unwrap();
            frame.truncate(4);
            frame.extend([0xc0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
            assert_eq!(
                zstd::zstd_safe::get_frame_content_size(&frame).ok(),
                Some(Some(1 << 40))
            );
            EncodedInfos(frame.into_boxed_slice())
        };
        let other_count = EncodedInfos::of(&recipe(3));
        for broken in [garbage, huge, other_count] {
            let err = broken.decode_into(&mut target).unwrap_err().to_string();
            assert!(err.contains("a_1.0.bb: recipe infos"), "{err}");
        }
        // A good one still decodes after the failures (the reused buffers are sound).
        EncodedInfos::of(&recipe(2))
            .decode_into(&mut target)
            .unwrap();
        assert_eq!(target.variants[1].info.pn, "a1");
    }
}
