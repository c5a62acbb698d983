//! The parse cache: what a parse of a build directory found, with the state of every input
//! it read, so that the next parse reuses each recipe whose inputs are unchanged.
//!
//! Inputs are recorded as [`FileStamp`]s (path, size, modification time, or "absent" for the
//! places BitBake looked and found nothing): the base configuration's files, the layers'
//! python libraries, each recipe's own files (recipe, bbappends, classes, includes). The
//! file is versioned, carries a digest of its contents, and is replaced atomically; a file
//! that is corrupt, truncated or from another version is reported and never used.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use bb_data::{DataError, DataStore, FileStamp};

/// First line of a cache file; the number is the format version.
const MAGIC: &str = "hitzeleiter-parse-cache 6";

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
    pub info: bb_data::RecipeInfo,
}

/// A recipe file's parse result and its inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
/// use bb_load::{CacheKey, CachedRecipe, CachedVariant, EncodedInfos, ParseCache};
/// use bb_data::RecipeInfo;
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
        let infos: Vec<&bb_data::RecipeInfo> = recipe.variants.iter().map(|v| &v.info).collect();
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
            variant.info = bb_data::RecipeInfo::default();
        }
        infos
    }

    /// Decodes the infos into `recipe`'s variants, which must be the ones they were taken
    /// from.
    pub fn decode_into(&self, recipe: &mut CachedRecipe) -> Result<(), CacheError> {
        let corrupt = |what: String| CacheError::Corrupt {
            path: recipe.file.clone(),
            what: format!("recipe infos: {what}"),
        };
        thread_local! {
            // As for compressing: a context costs more to make than a small recipe's infos
            // take to decompress (a graph decodes every recipe's), and the buffer keeps
            // its capacity.
            static DECOMPRESSION: std::cell::RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> =
                const { std::cell::RefCell::new(None) };
        }
        let infos: Vec<bb_data::RecipeInfo> = DECOMPRESSION.with_borrow_mut(|slot| {
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
/// use bb_data::FileStamp;
/// use bb_load::{CacheKey, ParseCache};
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
    /// Each layer collection's directory ([`bb_data::Cooker::layer_dirs`]).
    pub layer_dirs: Vec<(String, PathBuf)>,
    /// The lines the base configuration's parse printed ([`bb_data::LogRecord::line`]):
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

/// Why a cache file was not used, or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing the file failed.
    #[error("parse cache: {}: {source}", path.display())]
    Io {
        /// The cache file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another version wrote it, or it is not a cache file.
    #[error("parse cache from another version: {}: expected '{MAGIC}', found '{found:.40}'", path.display())]
    Version {
        /// The cache file.
        path: PathBuf,
        /// Its first line.
        found: String,
    },
    /// Its contents do not match their digest (truncated or corrupted), or do not decode.
    #[error("parse cache is corrupt: {}: {what}", path.display())]
    Corrupt {
        /// The cache file, or the recipe whose infos are broken.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// What was to be saved does not fit together.
    #[error("parse cache: {}: {infos} recipe infos for {recipes} recipes", path.display())]
    Mismatch {
        /// The cache file.
        path: PathBuf,
        /// How many encoded infos were given.
        infos: usize,
        /// For how many recipes.
        recipes: usize,
    },
    /// Encoding the cache failed.
    #[error("parse cache: {0}")]
    Encode(#[source] serde_json::Error),
}

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

    /// Reads a cache file with every variant's [`bb_data::RecipeInfo`].
    pub fn load_with_infos(path: &Path) -> Result<Option<ParseCache>, CacheError> {
        Self::read(path, true)
    }

    fn read(path: &Path, with_infos: bool) -> Result<Option<ParseCache>, CacheError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CacheError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let corrupt = |what: &str| CacheError::Corrupt {
            path: path.to_owned(),
            what: what.to_owned(),
        };
        let text = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
        let mut parts = text.splitn(4, '\n');
        let (Some(magic), Some(sums), Some(index), Some(infos)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("truncated"));
        };
        if magic != MAGIC {
            return Err(CacheError::Version {
                path: path.to_owned(),
                found: magic.to_owned(),
            });
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
                    CacheError::Corrupt { path: recipe, what } => {
                        corrupt(&format!("{}: {what}", recipe.display()))
                    }
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
        let io = |source: std::io::Error| CacheError::Io {
            path: path.to_owned(),
            source,
        };
        if infos.len() != self.recipes.len() {
            return Err(CacheError::Mismatch {
                path: path.to_owned(),
                infos: infos.len(),
                recipes: self.recipes.len(),
            });
        }
        // serde_json writes no newline, so each section is one line.
        let index = serde_json::to_string(self).map_err(CacheError::Encode)?;
        let infos = serde_json::to_string(infos).map_err(CacheError::Encode)?;
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
    /// [`bb_data::collect_recipe_files`] without parsing the configuration.
    pub fn collection_store(&self) -> Result<DataStore, DataError> {
        let d = DataStore::new();
        for (name, value) in &self.collection_vars {
            d.set_var(name, value.as_str())?;
        }
        Ok(d)
    }

    /// Where `file`'s entry is, if the cache has one it has not handed out.
    fn index_of(&self, file: &Path) -> Option<usize> {
        let index = self.by_file.get_or_init(|| {
            self.recipes
                .iter()
                .enumerate()
                .map(|(i, r)| (r.file.clone(), i))
                .collect()
        });
        index.get(file).copied()
    }

    /// The cached result for `file` with `appends`, if all its inputs are unchanged.
    pub fn current_recipe(&self, file: &Path, appends: &[PathBuf]) -> Option<&CachedRecipe> {
        self.index_of(file)
            .map(|i| &self.recipes[i])
            .filter(|r| r.appends == appends && r.inputs.iter().all(|s| self.seen.is_current(s)))
    }

    /// [`ParseCache::current_recipe`], moved out of the cache (a recipe's infos are large:
    /// a command that takes every recipe would otherwise copy them all). The cache no
    /// longer has it: a second call for `file` gives `None`.
    pub fn take_current_recipe(
        &mut self,
        file: &Path,
        appends: &[PathBuf],
    ) -> Option<CachedRecipe> {
        self.current_recipe(file, appends)?;
        let index = self.by_file.get_mut()?.remove(file)?;
        Some(std::mem::take(&mut self.recipes[index]))
    }
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
                    info: bb_data::RecipeInfo {
                        pn: format!("a{i}"),
                        ..bb_data::RecipeInfo::default()
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
