//! A parse session (python host and evaluator) and the base configuration parsed in it,
//! from which single recipe files are parsed.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bb_data::{Cooker, CookerConfig, DataStore, Evaluator, ParsedRecipe, PythonHost, RecipeFiles};

use crate::{LoadError, Workspace};

/// One variant of a recipe file, with the bbappends BBFILES gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeTarget {
    /// The recipe file.
    pub file: PathBuf,
    /// The variant, `""` for the recipe itself.
    pub variant: String,
    /// Its bbappends, in order.
    pub appends: Vec<PathBuf>,
}

/// A python host and an evaluator, with where and how to parse. One per thread: python
/// objects never cross threads.
pub struct Session {
    evaluator: Evaluator,
    config: CookerConfig,
    python: Rc<bb_python::Python>,
}

impl Session {
    /// A session for `workspace` ([`Workspace::session`]).
    pub(crate) fn new(workspace: &Workspace, tracking: bool) -> Result<Session, LoadError> {
        let code_cache = workspace.build_dir().join("cache/hitzeleiter/python");
        let python =
            Rc::new(bb_python::Python::with_code_cache(&code_cache).map_err(LoadError::Python)?);
        Ok(Session {
            evaluator: Evaluator::new(Some(python.clone() as Rc<dyn PythonHost>)),
            python,
            config: workspace.cooker_config(tracking),
        })
    }

    /// The python host (for running python tasks).
    pub fn python(&self) -> &dyn PythonHost {
        &*self.python
    }

    /// The host as bb-python's type, for what only it offers.
    pub(crate) fn interpreter(&self) -> &bb_python::Python {
        &self.python
    }

    /// The evaluator every parse of this session shares (files are read once).
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// A cooker of this session, for BitBake's parse steps one by one.
    pub fn cooker(&self) -> Cooker<'_> {
        Cooker::new(&self.evaluator, self.config.clone())
    }

    /// Parses the base configuration (bblayers.conf, layer.conf files, bitbake.conf, base
    /// classes, INHERIT), as BitBake does before anything else.
    pub fn configure(&self) -> Result<Configuration<'_>, LoadError> {
        let _span = tracing::info_span!("configure").entered();
        let mut cooker = self.cooker();
        let data = cooker.parse_base_configuration()?;
        Ok(Configuration {
            cooker,
            data,
            recipe_files: OnceCell::new(),
        })
    }
}

/// A parsed base configuration, from which recipe files are parsed.
pub struct Configuration<'s> {
    cooker: Cooker<'s>,
    data: DataStore,
    recipe_files: OnceCell<RecipeFiles>,
}

impl<'s> Configuration<'s> {
    /// The configuration's datastore.
    pub fn data(&self) -> &DataStore {
        &self.data
    }

    /// The cooker that parsed it (layer directories, the global environment).
    pub fn cooker(&self) -> &Cooker<'s> {
        &self.cooker
    }

    /// The recipe files BBFILES selects and the bbappends, collected on first use.
    pub fn recipe_files(&self) -> Result<&RecipeFiles, LoadError> {
        if let Some(files) = self.recipe_files.get() {
            return Ok(files);
        }
        let files = bb_data::collect_recipe_files(&self.data)?;
        Ok(self.recipe_files.get_or_init(|| files))
    }

    /// The variant `variant` of `file`, with the bbappends BBFILES gives it.
    pub fn target(&self, file: &Path, variant: &str) -> Result<RecipeTarget, LoadError> {
        Ok(RecipeTarget {
            appends: bb_data::appends_for(file, &self.recipe_files()?.appends),
            file: file.to_owned(),
            variant: variant.to_owned(),
        })
    }

    /// The layer collection `file` belongs to, `""` for none.
    fn layer_of(&self, file: &Path) -> String {
        bb_data::file_layer_name(&self.data, file)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Parses `file` with its bbappends, in its layer: every variant, finalised.
    pub fn parse_recipe(&mut self, file: &Path) -> Result<ParsedRecipe, LoadError> {
        let _span = tracing::info_span!("parse_recipe", file = %file.display()).entered();
        let appends = bb_data::appends_for(file, &self.recipe_files()?.appends);
        let layer = self.layer_of(file);
        self.cooker
            .parse_recipe(&self.data, file, &appends, &layer)
            .map_err(|source| LoadError::Recipe {
                file: file.to_owned(),
                source,
            })
    }

    /// Parses the one variant `target` names, finalising only it (BitBake's
    /// `__ONLYFINALISE`, as `bitbake -e` does). Messages left in the configuration's log
    /// are dropped first: whoever resolved the target has shown them.
    pub fn parse_target(&mut self, target: &RecipeTarget) -> Result<DataStore, LoadError> {
        let _span = tracing::info_span!("parse_target", file = %target.file.display(), variant = %target.variant).entered();
        self.data.take_log();
        let layer = self.layer_of(&target.file);
        self.cooker
            .parse_recipe_variant(
                &self.data,
                &target.file,
                &target.appends,
                &layer,
                &target.variant,
            )
            .map_err(|source| LoadError::Recipe {
                file: target.file.clone(),
                source,
            })?
            .ok_or_else(|| LoadError::NoVariant {
                file: target.file.clone(),
                variant: target.variant.clone(),
            })
    }

    /// The finalised datastore of every recipe (variant) the tasks of `graph` belong to, by
    /// BitBake's (virtual) file name: what planning a build needs. Each recipe file is
    /// parsed once, with all its variants.
    pub fn datastores(
        &mut self,
        cache: &taskgraph::RecipeCache,
        graph: &taskgraph::TaskGraph,
    ) -> Result<BTreeMap<String, DataStore>, LoadError> {
        let _span = tracing::info_span!("datastores", tasks = graph.len()).entered();
        let mut parsed: HashMap<PathBuf, ParsedRecipe> = HashMap::new();
        let mut datastores = BTreeMap::new();
        for id in graph.ids() {
            let name = &cache.recipe(graph.task(id).0).file;
            if datastores.contains_key(name) {
                continue;
            }
            let (file, variant) = taskgraph::real_file(name);
            let file = PathBuf::from(file);
            if !parsed.contains_key(&file) {
                let recipe = self.parse_recipe(&file)?;
                parsed.insert(file.clone(), recipe);
            }
            let d = parsed[&file]
                .variants
                .get(variant)
                .ok_or_else(|| LoadError::NoVariant {
                    file: file.clone(),
                    variant: variant.to_owned(),
                })?;
            datastores.insert(name.clone(), d.clone());
        }
        Ok(datastores)
    }

    /// The global environment `bitbake -e` shows without a target.
    pub fn global_environment(&self) -> Result<DataStore, LoadError> {
        Ok(self.cooker.global_environment(&self.data)?)
    }

    /// BitBake's `matchFile` (`bitbake -b NAME`): the recipe file NAME names, as a path
    /// that exists (relative to the working directory) or else as a regular expression
    /// searched in each file of BBFILES, which must match exactly one; with its variant
    /// (`virtual:native:NAME`).
    pub fn match_file(&self, name: &str) -> Result<RecipeTarget, LoadError> {
        let (file, variant) = taskgraph::real_file(name);
        let files = self.recipe_files()?;
        let matches: Vec<PathBuf> = if Path::new(file).exists() {
            vec![PathBuf::from(bb_data::abspath(file))]
        } else {
            let pattern =
                fancy_regex::Regex::new(file).map_err(|source| LoadError::BadPattern {
                    pattern: file.to_owned(),
                    source: Box::new(source),
                })?;
            files
                .recipes
                .iter()
                .filter(|f| {
                    pattern.is_match(&f.display().to_string()).unwrap_or(false) && f.is_file()
                })
                .cloned()
                .collect()
        };
        match <[PathBuf; 1]>::try_from(matches) {
            Ok([one]) => Ok(RecipeTarget {
                appends: bb_data::appends_for(&one, &files.appends),
                file: one,
                variant: variant.to_owned(),
            }),
            Err(none) if none.is_empty() => Err(LoadError::NoMatchingFile {
                pattern: file.to_owned(),
            }),
            Err(several) => Err(LoadError::AmbiguousFile {
                pattern: file.to_owned(),
                files: several,
            }),
        }
    }
}
