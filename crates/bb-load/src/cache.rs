//! The parse cache: what a parse of a build directory found, with the state of every input
//! it read, so that the next parse reuses each recipe whose inputs are unchanged.
//!
//! Inputs are recorded as [`FileStamp`]s (path, size, modification time, or "absent" for the
//! places BitBake looked and found nothing): the base configuration's files, the layers'
//! python libraries, each recipe's own files (recipe, bbappends, classes, includes). The
//! file is versioned, carries digests of its contents, and is replaced atomically; a file
//! that is corrupt, truncated or from another version is reported and never used.
//!
//! A command reads only the sections it needs ([`Sections`]): checking the cache reads the
//! index; resolving a target also reads every variant's provider fields (PN, versions,
//! PROVIDES, packages); a recipe's tasks and dependencies stay compressed until a task
//! graph asks for them.
//!
//! The file is five lines:
//! 1. `hitzeleiter-parse-cache VERSION`;
//! 2. the SHA-256 of the index, of the providers section and of the infos section, and the
//!    byte lengths of the last two (a truncated file is caught without hashing them);
//! 3. the index (JSON): key, base configuration, a table of input paths and each recipe's
//!    file, appends, inputs (as numbers into the table: openembedded-core's recipes name
//!    the same ~1,700 classes and includes ~26,000 times) and variants;
//! 4. the providers (JSON): per recipe, per variant, the fields of its
//!    [`bb_data::RecipeInfo`] that choosing providers reads;
//! 5. the infos (JSON): per recipe, its variants' whole infos ([`EncodedInfos`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use bb_data::{DataError, DataStore, FileStamp, RecipeInfo};

/// First line of a cache file; the number is the format version.
const MAGIC: &str = "hitzeleiter-parse-cache 7";

/// The state of each file a cache's checks looked at that is in no [`PathTable`] (the base
/// configuration's, a parse's own), as first seen.
#[derive(Debug, Default)]
struct SeenStates(std::sync::Mutex<HashMap<PathBuf, FileState>>);

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

/// The paths of the recipe inputs of a cache file, with the state each was found in when
/// first checked: each is looked at once, however many recipes name it.
#[derive(Debug)]
pub(crate) struct PathTable {
    paths: Vec<PathBuf>,
    found: Vec<std::sync::OnceLock<FileState>>,
}

impl PathTable {
    fn new(paths: Vec<PathBuf>) -> PathTable {
        PathTable {
            found: paths.iter().map(|_| std::sync::OnceLock::new()).collect(),
            paths,
        }
    }

    /// Whether path `number` (in the table: checked when read) is in `state`.
    fn is_current(&self, number: u32, state: FileState) -> bool {
        let number = number as usize;
        *self.found[number].get_or_init(|| FileStamp::of(&self.paths[number]).state) == state
    }
}

/// A file's size and modification time (ns since the epoch), `None` when it did not exist:
/// [`FileStamp::state`].
type FileState = Option<(u64, u128)>;

/// A recipe's inputs.
#[derive(Debug, Clone)]
pub(crate) enum Inputs {
    /// As its parse found them.
    Found(Vec<FileStamp>),
    /// As a cache file holds them: numbers into its path table (each valid there), with
    /// the state each path had. The 3,800 recipes of a large stack name 140,000 inputs, of
    /// 4,900 paths.
    Read {
        table: std::sync::Arc<PathTable>,
        inputs: Vec<(u32, FileState)>,
    },
}

impl Default for Inputs {
    fn default() -> Inputs {
        Inputs::Found(Vec::new())
    }
}

impl Inputs {
    /// Each input's path and state.
    fn each(&self) -> Box<dyn Iterator<Item = (&Path, FileState)> + '_> {
        match self {
            Inputs::Found(stamps) => Box::new(stamps.iter().map(|s| (s.path.as_path(), s.state))),
            Inputs::Read { table, inputs } => Box::new(
                inputs
                    .iter()
                    .map(|&(number, state)| (table.paths[number as usize].as_path(), state)),
            ),
        }
    }

    /// Whether every input is as recorded; `seen` keeps what was found of the paths that
    /// are in no table.
    fn are_current(&self, seen: &SeenStates) -> bool {
        match self {
            Inputs::Found(stamps) => stamps.iter().all(|s| seen.is_current(s)),
            Inputs::Read { table, inputs } => inputs
                .iter()
                .all(|&(number, state)| table.is_current(number, state)),
        }
    }
}

/// A parse worker sends the inputs it found; what a cache file holds is never sent.
impl Serialize for Inputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.each().map(|(path, state)| FileStamp {
            path: path.to_owned(),
            state,
        }))
    }
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<FileStamp>::deserialize(deserializer).map(Inputs::Found)
    }
}

/// One variant of a cached recipe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedVariant {
    /// The variant (`""` for the recipe itself, `native`, …).
    pub(crate) name: String,
    /// Why it was skipped (SkipRecipe), if it was.
    pub(crate) skipped: Option<String>,
    /// Its info's fields that choose providers ([`provider_fields`]); empty when the cache
    /// was read without them.
    pub(crate) providers: RecipeInfo,
}

/// A recipe file's parse result and its inputs; a parse worker sends it so.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CachedRecipe {
    /// The recipe file.
    pub(crate) file: PathBuf,
    /// The bbappends applied, in order.
    pub(crate) appends: Vec<PathBuf>,
    /// Every file it read (or looked for) beyond the base configuration.
    pub(crate) inputs: Inputs,
    /// Its variants, sorted by name.
    pub(crate) variants: Vec<CachedVariant>,
    /// Its variants' whole infos, encoded; `None` when the cache was read without them.
    pub(crate) infos: Option<EncodedInfos>,
}

impl CachedRecipe {
    /// The entry of a parsed recipe: `variants` with their whole infos.
    pub(crate) fn new(
        file: PathBuf,
        appends: Vec<PathBuf>,
        inputs: Vec<FileStamp>,
        variants: Vec<(String, RecipeInfo)>,
    ) -> CachedRecipe {
        let infos: Vec<&RecipeInfo> = variants.iter().map(|(_, info)| info).collect();
        let infos = EncodedInfos::of(&infos);
        CachedRecipe {
            file,
            appends,
            inputs: Inputs::Found(inputs),
            variants: variants
                .iter()
                .map(|(name, info)| CachedVariant {
                    name: name.clone(),
                    skipped: info.skipped.clone(),
                    providers: provider_fields(info),
                })
                .collect(),
            infos: Some(infos),
        }
    }

    /// Its variants' whole infos, in the order of `variants`.
    pub(crate) fn decode_infos(&self) -> Result<Vec<RecipeInfo>, CacheError> {
        let corrupt = |what: String| CacheError::Corrupt {
            path: self.file.clone(),
            what: format!("recipe infos: {what}"),
        };
        let infos = self
            .infos
            .as_ref()
            .ok_or_else(|| corrupt("not read".to_owned()))?
            .decode()
            .map_err(corrupt)?;
        if infos.len() != self.variants.len() {
            return Err(corrupt(format!(
                "{} for {} variants",
                infos.len(),
                self.variants.len()
            )));
        }
        Ok(infos)
    }
}

/// The fields of `info` that choosing providers and listing recipes read (BitBake's
/// `CacheData` indexes): everything but the dependencies, classes and tasks, which only
/// task graphs need and which make up most of an info.
pub(crate) fn provider_fields(info: &RecipeInfo) -> RecipeInfo {
    RecipeInfo {
        pn: info.pn.clone(),
        pe: info.pe.clone(),
        pv: info.pv.clone(),
        pr: info.pr.clone(),
        provides: info.provides.clone(),
        rprovides: info.rprovides.clone(),
        packages: info.packages.clone(),
        packages_dynamic: info.packages_dynamic.clone(),
        rprovides_pkg: info.rprovides_pkg.clone(),
        skipped: info.skipped.clone(),
        default_preference: info.default_preference,
        exclude_from_world: info.exclude_from_world,
        depends: Vec::new(),
        rdepends: Vec::new(),
        rrecommends: Vec::new(),
        rdepends_pkg: Default::default(),
        rrecommends_pkg: Default::default(),
        inherits: Vec::new(),
        tasks: Vec::new(),
    }
}

/// A recipe's variant infos as the cache file keeps them: the JSON array (one per
/// variant, in order), compressed with zstd. Parse workers send them so, and the parse
/// cache saves them so; they are decoded only for the recipes a command reaches. In a
/// human-readable format (the cache file, the workers' reports) they are a base64 string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedInfos(Box<[u8]>);

/// More than any recipe's infos take: a larger size in a frame is corruption.
const MAX_INFOS_SIZE: u64 = 1 << 30;

/// zstd's fastest level: the infos compress about 15-fold at it, and a cold parse encodes
/// all of them.
const INFOS_LEVEL: i32 = 1;

impl EncodedInfos {
    fn of(infos: &[&RecipeInfo]) -> EncodedInfos {
        let json = serde_json::to_vec(infos)
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

    /// The infos; what is wrong otherwise.
    fn decode(&self) -> Result<Vec<RecipeInfo>, String> {
        thread_local! {
            // As for compressing: a context costs more to make than a small recipe's infos
            // take to decompress (a graph decodes every recipe's), and the buffer keeps
            // its capacity.
            static DECOMPRESSION: std::cell::RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> =
                const { std::cell::RefCell::new(None) };
        }
        DECOMPRESSION.with_borrow_mut(|slot| {
            let (mut decompressor, mut json) = match slot.take() {
                Some(state) => state,
                None => (
                    zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?,
                    Vec::new(),
                ),
            };
            let decoded = (|| {
                let size = zstd::zstd_safe::get_frame_content_size(&self.0)
                    .ok()
                    .flatten()
                    .filter(|&size| size <= MAX_INFOS_SIZE)
                    .ok_or_else(|| "no valid size".to_owned())?;
                json.clear();
                json.reserve(size as usize);
                decompressor
                    .decompress_to_buffer(&self.0, &mut json)
                    .map_err(|e| e.to_string())?;
                serde_json::from_slice(&json).map_err(|e| e.to_string())
            })();
            *slot = Some((decompressor, json));
            decoded
        })
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
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
pub(crate) struct CacheKey {
    /// The program that wrote it (name, version and build), so a new build never trusts an
    /// old cache.
    pub(crate) tool: String,
    /// The environment variables the parse took in (BitBake's approved variables).
    pub(crate) environment: Vec<(String, String)>,
}

/// The index section as the file holds it. Each field borrows when saving and owns when
/// loading.
#[derive(Serialize, Deserialize)]
struct Index<'a> {
    key: Cow<'a, CacheKey>,
    base_inputs: Cow<'a, [FileStamp]>,
    collection_vars: Cow<'a, [(String, String)]>,
    provider_vars: Cow<'a, [(String, String)]>,
    layer_dirs: Cow<'a, [(String, PathBuf)]>,
    configuration_messages: Cow<'a, [String]>,
    /// Every recipe input's path, once.
    paths: Vec<Cow<'a, Path>>,
    recipes: Vec<RecipeRecord<'a>>,
}

/// A recipe in the index section.
#[derive(Serialize, Deserialize)]
struct RecipeRecord<'a> {
    file: Cow<'a, Path>,
    appends: Cow<'a, [PathBuf]>,
    /// Its inputs: (number in [`Index::paths`], state).
    inputs: Vec<(u32, FileState)>,
    variants: Vec<VariantRecord<'a>>,
}

/// A variant in the index section.
#[derive(Serialize, Deserialize)]
struct VariantRecord<'a> {
    name: Cow<'a, str>,
    skipped: Option<Cow<'a, str>>,
}

/// A whole parse: the key, the base configuration's inputs, the variables that select the
/// recipe files, and every recipe.
#[derive(Debug)]
pub(crate) struct ParseCache {
    /// See [`CacheKey`].
    pub(crate) key: CacheKey,
    /// Files of the base configuration and of the layers' python libraries.
    pub(crate) base_inputs: Vec<FileStamp>,
    /// BBFILES, BBMASK and the layer collections, to collect the recipe files again.
    pub(crate) collection_vars: Vec<(String, String)>,
    /// The configuration's provider settings ([`bb_data::provider_vars`]), so that
    /// choosing providers needs no parse of the configuration.
    pub(crate) provider_vars: Vec<(String, String)>,
    /// Each layer collection's directory ([`bb_data::Cooker::layer_dirs`]).
    pub(crate) layer_dirs: Vec<(String, PathBuf)>,
    /// The lines the base configuration's parse printed ([`bb_data::LogRecord::line`]):
    /// BitBake parses the configuration, and prints its warnings, on every run; a run
    /// that takes everything from the cache shows them from here.
    pub(crate) configuration_messages: Vec<String>,
    /// The recipes.
    recipes: Vec<CachedRecipe>,
    /// Recipe file → index in `recipes`, made on first lookup.
    by_file: std::sync::OnceLock<HashMap<PathBuf, usize>>,
    /// The inputs' states as the checks found them: each file is looked at once.
    seen: SeenStates,
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
    /// A recipe to be saved has no infos (its entry was read without them).
    #[error("parse cache: {}: no recipe infos for {}", path.display(), recipe.display())]
    Incomplete {
        /// The cache file.
        path: PathBuf,
        /// The recipe.
        recipe: PathBuf,
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
    pub(crate) fn new(
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

    /// Reads a cache file's index (without the recipes' infos); `Ok(None)` when there is
    /// none.
    pub(crate) fn load(path: &Path) -> Result<Option<ParseCache>, CacheError> {
        Self::read(path, false)
    }

    /// Reads a cache file with every variant's provider fields and every recipe's encoded
    /// infos.
    pub(crate) fn load_with_infos(path: &Path) -> Result<Option<ParseCache>, CacheError> {
        Self::read(path, true)
    }

    fn read(path: &Path, with_infos: bool) -> Result<Option<ParseCache>, CacheError> {
        use std::io::{BufRead, Read};
        let io = |source: std::io::Error| CacheError::Io {
            path: path.to_owned(),
            source,
        };
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io(source)),
        };
        let size = file.metadata().map_err(io)?.len();
        let corrupt = |what: &str| CacheError::Corrupt {
            path: path.to_owned(),
            what: what.to_owned(),
        };
        // Only the sections asked for are read: the index is a fifth of the file.
        let mut reader = std::io::BufReader::new(file);
        let mut line = || -> Result<Vec<u8>, CacheError> {
            let mut line = Vec::new();
            reader.read_until(b'\n', &mut line).map_err(io)?;
            match line.pop() {
                Some(b'\n') => Ok(line),
                _ => Err(corrupt("truncated")),
            }
        };
        let magic = line()?;
        if magic != MAGIC.as_bytes() {
            return Err(CacheError::Version {
                path: path.to_owned(),
                found: String::from_utf8_lossy(&magic).into_owned(),
            });
        }
        let sums = line()?;
        let sums = std::str::from_utf8(&sums).map_err(|_| corrupt("no digests"))?;
        let [
            index_sum,
            providers_sum,
            providers_len,
            infos_sum,
            infos_len,
        ] = sums
            .split(' ')
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| corrupt("no digests"))?;
        // The lengths give the index's, and catch a truncated file without reading or
        // hashing the sections; each section is read into a buffer of its size.
        let length = |text: &str| text.parse::<u64>().map_err(|_| corrupt("no lengths"));
        let (providers_len, infos_len) = (length(providers_len)?, length(infos_len)?);
        let index_len = size
            .checked_sub((MAGIC.len() + sums.len() + 4) as u64 + providers_len + infos_len)
            .ok_or_else(|| corrupt("truncated"))?;
        let mut section = |len: u64, ends_line: bool| -> Result<Vec<u8>, CacheError> {
            let mut bytes = vec![0; len as usize + usize::from(ends_line)];
            reader
                .read_exact(&mut bytes)
                .map_err(|err| match err.kind() {
                    std::io::ErrorKind::UnexpectedEof => corrupt("truncated"),
                    _ => io(err),
                })?;
            if ends_line && bytes.pop() != Some(b'\n') {
                return Err(corrupt("truncated"));
            }
            Ok(bytes)
        };
        let index = section(index_len, true)?;
        let (providers, infos) = if with_infos {
            (section(providers_len, true)?, section(infos_len, false)?)
        } else {
            Default::default()
        };
        fn verified<'a>(
            section: &'a [u8],
            sum: &str,
            name: &str,
            corrupt: impl Fn(&str) -> CacheError,
        ) -> Result<&'a [u8], CacheError> {
            if digest(section) != sum {
                return Err(corrupt(&format!(
                    "the digest of the {name} does not match them"
                )));
            }
            Ok(section)
        }
        let index: Index<'static> =
            serde_json::from_slice(verified(&index, index_sum, "index", corrupt)?)
                .map_err(|e| corrupt(&format!("index: {e}")))?;
        let mut cache = ParseCache::from_index(index).map_err(|what| corrupt(&what))?;
        if with_infos {
            let providers: Vec<Vec<RecipeInfo>> =
                serde_json::from_slice(verified(&providers, providers_sum, "providers", corrupt)?)
                    .map_err(|e| corrupt(&format!("providers: {e}")))?;
            let infos: Vec<EncodedInfos> =
                serde_json::from_slice(verified(&infos, infos_sum, "recipe infos", corrupt)?)
                    .map_err(|e| corrupt(&format!("recipe infos: {e}")))?;
            if providers.len() != cache.recipes.len() || infos.len() != cache.recipes.len() {
                return Err(corrupt("the sections do not match the recipes"));
            }
            for ((recipe, providers), infos) in cache.recipes.iter_mut().zip(providers).zip(infos) {
                if providers.len() != recipe.variants.len() {
                    return Err(corrupt(&format!(
                        "{}: providers of {} variants for {}",
                        recipe.file.display(),
                        providers.len(),
                        recipe.variants.len()
                    )));
                }
                for (variant, providers) in recipe.variants.iter_mut().zip(providers) {
                    variant.providers = providers;
                }
                recipe.infos = Some(infos);
            }
        }
        Ok(Some(cache))
    }

    /// The cache an index section describes; what is wrong with it otherwise.
    fn from_index(index: Index<'_>) -> Result<ParseCache, String> {
        let table = std::sync::Arc::new(PathTable::new(
            index.paths.into_iter().map(Cow::into_owned).collect(),
        ));
        let recipes = index
            .recipes
            .into_iter()
            .map(|record| {
                if let Some((number, _)) = record
                    .inputs
                    .iter()
                    .find(|(number, _)| *number as usize >= table.paths.len())
                {
                    return Err(format!("{}: no input path {number}", record.file.display()));
                }
                Ok(CachedRecipe {
                    file: record.file.into_owned(),
                    appends: record.appends.into_owned(),
                    inputs: Inputs::Read {
                        table: table.clone(),
                        inputs: record.inputs,
                    },
                    variants: record
                        .variants
                        .into_iter()
                        .map(|variant| CachedVariant {
                            name: variant.name.into_owned(),
                            skipped: variant.skipped.map(Cow::into_owned),
                            providers: RecipeInfo::default(),
                        })
                        .collect(),
                    infos: None,
                })
            })
            .collect::<Result<Vec<CachedRecipe>, String>>()?;
        let mut cache = ParseCache::new(
            index.key.into_owned(),
            index.base_inputs.into_owned(),
            index.collection_vars.into_owned(),
            index.provider_vars.into_owned(),
            index.layer_dirs.into_owned(),
            recipes,
        );
        cache.configuration_messages = index.configuration_messages.into_owned();
        Ok(cache)
    }

    /// The index section of this cache.
    fn index(&self) -> Index<'_> {
        let mut numbers: HashMap<&Path, u32> = HashMap::new();
        let mut paths = Vec::new();
        let recipes = self
            .recipes
            .iter()
            .map(|recipe| RecipeRecord {
                file: Cow::Borrowed(&recipe.file),
                appends: Cow::Borrowed(&recipe.appends),
                inputs: recipe
                    .inputs
                    .each()
                    .map(|(path, state)| {
                        let number = *numbers.entry(path).or_insert_with(|| {
                            paths.push(Cow::Borrowed(path));
                            (paths.len() - 1) as u32
                        });
                        (number, state)
                    })
                    .collect(),
                variants: recipe
                    .variants
                    .iter()
                    .map(|variant| VariantRecord {
                        name: Cow::Borrowed(&variant.name),
                        skipped: variant.skipped.as_deref().map(Cow::Borrowed),
                    })
                    .collect(),
            })
            .collect();
        Index {
            key: Cow::Borrowed(&self.key),
            base_inputs: Cow::Borrowed(&self.base_inputs),
            collection_vars: Cow::Borrowed(&self.collection_vars),
            provider_vars: Cow::Borrowed(&self.provider_vars),
            layer_dirs: Cow::Borrowed(&self.layer_dirs),
            configuration_messages: Cow::Borrowed(&self.configuration_messages),
            paths,
            recipes,
        }
    }

    /// Writes the cache atomically: a temporary file beside `path`, flushed to disk, then
    /// renamed over it. Every recipe must have its infos.
    pub(crate) fn save(&self, path: &Path) -> Result<(), CacheError> {
        let io = |source: std::io::Error| CacheError::Io {
            path: path.to_owned(),
            source,
        };
        let infos = self
            .recipes
            .iter()
            .map(|recipe| {
                recipe.infos.as_ref().ok_or_else(|| CacheError::Incomplete {
                    path: path.to_owned(),
                    recipe: recipe.file.clone(),
                })
            })
            .collect::<Result<Vec<&EncodedInfos>, CacheError>>()?;
        let providers: Vec<Vec<&RecipeInfo>> = self
            .recipes
            .iter()
            .map(|recipe| recipe.variants.iter().map(|v| &v.providers).collect())
            .collect();
        // serde_json writes no newline, so each section is one line.
        let index = serde_json::to_string(&self.index()).map_err(CacheError::Encode)?;
        let providers = serde_json::to_string(&providers).map_err(CacheError::Encode)?;
        let infos = serde_json::to_string(&infos).map_err(CacheError::Encode)?;
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
            let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
            writeln!(file, "{MAGIC}")?;
            writeln!(
                file,
                "{} {} {} {} {}",
                digest(index.as_bytes()),
                digest(providers.as_bytes()),
                providers.len(),
                digest(infos.as_bytes()),
                infos.len()
            )?;
            writeln!(file, "{index}")?;
            writeln!(file, "{providers}")?;
            file.write_all(infos.as_bytes())?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&temporary, path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io(e)
        })
    }

    /// Its recipes, moved out.
    pub(crate) fn into_recipes(self) -> Vec<CachedRecipe> {
        self.recipes
    }

    /// Whether the base configuration's inputs are unchanged. Each file is looked at once
    /// per cache (by this and [`ParseCache::current_recipe`] together), so that all the
    /// checks of one command see the same state; a check that must see later changes
    /// loads the cache again.
    pub(crate) fn base_is_current(&self) -> bool {
        self.base_inputs.iter().all(|s| self.seen.is_current(s))
    }

    /// A datastore holding only the variables that select recipe files, for
    /// [`bb_data::collect_recipe_files`] without parsing the configuration.
    pub(crate) fn collection_store(&self) -> Result<DataStore, DataError> {
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
    pub(crate) fn current_recipe(&self, file: &Path, appends: &[PathBuf]) -> Option<&CachedRecipe> {
        self.index_of(file)
            .map(|i| &self.recipes[i])
            .filter(|r| r.appends == appends && r.inputs.are_current(&self.seen))
    }

    /// [`ParseCache::current_recipe`], moved out of the cache (a command that takes every
    /// recipe would otherwise copy them all). The cache no longer has it: a second call
    /// for `file` gives `None`.
    pub(crate) fn take_current_recipe(
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

    fn info(pn: &str) -> RecipeInfo {
        RecipeInfo {
            pn: pn.to_owned(),
            pv: "1.0".to_owned(),
            provides: vec![format!("virtual/{pn}")],
            depends: vec!["zlib".to_owned()],
            tasks: vec![bb_data::TaskInfo {
                name: "do_compile".to_owned(),
                ..bb_data::TaskInfo::default()
            }],
            ..RecipeInfo::default()
        }
    }

    fn recipe(file: &str, inputs: &[FileStamp], variants: usize) -> CachedRecipe {
        CachedRecipe::new(
            file.into(),
            vec![format!("{file}append").into()],
            inputs.to_vec(),
            (0..variants)
                .map(|i| (format!("v{i}"), info(&format!("{file}{i}"))))
                .collect(),
        )
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bb-load-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn key() -> CacheKey {
        CacheKey {
            tool: "test 1".into(),
            environment: vec![("A".into(), "1".into())],
        }
    }

    #[test]
    fn sections_are_read_as_asked() {
        let dir = scratch("sections");
        let shared = FileStamp::of(&dir.join("shared.bbclass"));
        let own = FileStamp {
            path: dir.join("a.inc"),
            state: Some((3, 4)),
        };
        let recipes = vec![
            recipe("a.bb", &[shared.clone(), own], 2),
            recipe("b.bb", &[shared], 1),
        ];
        let mut cache = ParseCache::new(key(), vec![], vec![], vec![], vec![], recipes.clone());
        cache.configuration_messages = vec!["WARNING: x".into()];
        let file = dir.join("parse.cache");
        cache.save(&file).unwrap();

        // The index alone: inputs and variants, no providers, no infos.
        let index = ParseCache::load(&file).unwrap().unwrap();
        assert_eq!(index.key, key());
        assert_eq!(index.configuration_messages, ["WARNING: x"]);
        for (loaded, saved) in index.recipes.iter().zip(&recipes) {
            assert!(loaded.inputs.each().eq(saved.inputs.each()));
            assert_eq!(loaded.appends, saved.appends);
            assert!(loaded.infos.is_none());
            for (loaded, saved) in loaded.variants.iter().zip(&saved.variants) {
                assert_eq!(
                    (&loaded.name, &loaded.skipped),
                    (&saved.name, &saved.skipped)
                );
                assert_eq!(loaded.providers, RecipeInfo::default());
            }
        }
        // With infos: providers decoded, whole infos on demand.
        let full = ParseCache::load_with_infos(&file).unwrap().unwrap();
        for (loaded, saved) in full.recipes.iter().zip(&recipes) {
            assert!(loaded.inputs.each().eq(saved.inputs.each()));
            assert_eq!(loaded.variants, saved.variants);
            assert_eq!(loaded.infos, saved.infos);
        }
        let infos = full.recipes[0].decode_infos().unwrap();
        assert_eq!(infos, [info("a.bb0"), info("a.bb1")]);
        assert!(full.recipes[0].variants[0].providers.tasks.is_empty());
        assert_eq!(
            full.recipes[0].variants[0].providers.provides,
            ["virtual/a.bb0"]
        );
        // An index without infos cannot be saved: it would lose them.
        let err = index.save(&file).unwrap_err().to_string();
        assert!(err.contains("no recipe infos for a.bb"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_files_are_refused() {
        let dir = scratch("damaged");
        let file = dir.join("parse.cache");
        let cache = ParseCache::new(
            key(),
            vec![],
            vec![],
            vec![],
            vec![],
            vec![recipe("a.bb", &[], 1)],
        );
        cache.save(&file).unwrap();
        let good = std::fs::read(&file).unwrap();
        let mut flipped = good.clone();
        let in_index = good.iter().position(|&b| b == b'{').unwrap() + 5;
        flipped[in_index] ^= 1;
        let mut late = good.clone();
        let last = late.len() - 2;
        late[last] ^= 1;
        let mut other = good.clone();
        other[MAGIC.len() - 1] = b'6';
        for (bytes, expected, with_infos) in [
            (&good[..good.len() - 3], "truncated", false),
            (&good[..good.len() / 2], "truncated", false),
            (&flipped[..], "digest of the index", false),
            (&late[..], "digest of the recipe infos", true),
            (&other[..], "another version", false),
        ] {
            std::fs::write(&file, bytes).unwrap();
            let err = ParseCache::read(&file, with_infos).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        // A damage in the infos is seen only by a read that decodes them.
        std::fs::write(&file, &late).unwrap();
        assert!(ParseCache::load(&file).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_input_is_looked_at_once() {
        let dir = scratch("inputs");
        let input = dir.join("local.conf");
        std::fs::write(&input, "A = \"1\"\n").unwrap();
        let cache = ParseCache::new(
            key(),
            vec![FileStamp::of(&input)],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        assert!(cache.base_is_current());
        std::fs::write(&input, "A = \"22\"\n").unwrap();
        // A cache looks at each file once: a check after a change loads it again.
        assert!(cache.base_is_current());
        let file = dir.join("parse.cache");
        cache.save(&file).unwrap();
        assert!(!ParseCache::load(&file).unwrap().unwrap().base_is_current());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_encoded_infos_are_errors_naming_the_recipe() {
        let mut target = recipe("a_1.0.bb", &[], 2);
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
        let other_count = recipe("a_1.0.bb", &[], 3).infos.unwrap();
        let good = target.infos.clone();
        for broken in [garbage, huge, other_count] {
            target.infos = Some(broken);
            let err = target.decode_infos().unwrap_err().to_string();
            assert!(err.contains("a_1.0.bb: recipe infos"), "{err}");
        }
        // A good one still decodes after the failures (the reused buffers are sound).
        target.infos = good;
        assert_eq!(target.decode_infos().unwrap()[1].pn, "a_1.0.bb1");
    }
}
