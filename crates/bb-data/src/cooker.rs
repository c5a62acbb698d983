//! BitBake's parse order (`cookerdata.py`, `parse/ast.py` finalisation): the base
//! configuration from a build directory, then recipes with their bbappends, deferred
//! inherits, handlers, anonymous python, tasks and BBCLASSEXTEND variants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::eval::{EvalError, Evaluator, add_task_deps};
use crate::event::{CookerEvent, Handler};
use crate::{DataError, DataStore, LogLevel, Value, profile};

/// What a parse needs from the outside world.
#[derive(Debug, Clone, Default)]
pub struct CookerConfig {
    /// The directory BitBake would run in (bblayers.conf is searched from here up).
    pub cwd: PathBuf,
    /// The process environment; only BitBake's approved variables are used.
    pub env: Vec<(String, String)>,
    /// Record variable history (for `env` and `getvar`).
    pub tracking: bool,
}

/// One parsed recipe: the datastore of each variant (`""` is the recipe itself).
#[derive(Debug, Clone)]
pub struct ParsedRecipe {
    /// Variant name (`""`, `native`, `nativesdk`, `multilib:lib32`, …) → finalised store.
    pub variants: BTreeMap<String, DataStore>,
}

impl ParsedRecipe {
    /// The reason a variant was skipped (`SkipRecipe`), if it was.
    pub fn skipped(&self, variant: &str) -> Result<Option<String>, DataError> {
        let Some(d) = self.variants.get(variant) else {
            return Ok(None);
        };
        Ok(d.get_var_raw("__SKIPPED")?
            .filter(Value::is_truthy)
            .map(Value::into_string))
    }
}

/// Variables BitBake takes from the environment by default.
const PRESERVED_EXPORTED: &[&str] = &[
    "BB_TASKHASH",
    "HOME",
    "LOGNAME",
    "PATH",
    "PWD",
    "SHELL",
    "USER",
    "LC_ALL",
    "BBSERVER",
];

/// `bb.utils.approved_variables()` for an environment.
fn approved_variables(env: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if get("BB_PRESERVE_ENV").is_some() {
        return env.iter().map(|(k, _)| k.clone()).collect();
    }
    let mut approved: Vec<String> = match get("BB_ENV_PASSTHROUGH") {
        Some(list) => {
            let mut v: Vec<String> = list.split_whitespace().map(str::to_owned).collect();
            v.push("BB_ENV_PASSTHROUGH".into());
            v
        }
        None => ["BBPATH", "BB_PRESERVE_ENV", "BB_ENV_PASSTHROUGH_ADDITIONS"]
            .iter()
            .chain(PRESERVED_EXPORTED)
            .map(|s| s.to_string())
            .collect(),
    };
    if let Some(more) = get("BB_ENV_PASSTHROUGH_ADDITIONS") {
        approved.extend(more.split_whitespace().map(str::to_owned));
        if !approved.iter().any(|a| a == "BB_ENV_PASSTHROUGH_ADDITIONS") {
            approved.push("BB_ENV_PASSTHROUGH_ADDITIONS".into());
        }
    }
    approved
}

/// Parses configuration and recipes in BitBake's order.
#[derive(Debug)]
pub struct Cooker<'e> {
    evaluator: &'e Evaluator,
    config: CookerConfig,
    handlers: Vec<Handler>,
    layer_dirs: Vec<(String, PathBuf)>,
    /// Each path of `__depends` made absolute, as `os.path.abspath`: every target names the
    /// base configuration's few hundred files again.
    absolute_paths: rustc_hash::FxHashMap<String, String>,
}

impl<'e> Cooker<'e> {
    /// A cooker using `evaluator` for files and python.
    pub fn new(evaluator: &'e Evaluator, config: CookerConfig) -> Cooker<'e> {
        Cooker {
            evaluator,
            config,
            handlers: Vec::new(),
            layer_dirs: Vec::new(),
            absolute_paths: rustc_hash::FxHashMap::default(),
        }
    }

    fn fatal(message: impl Into<String>) -> EvalError {
        EvalError::Data(DataError::Fatal(message.into()))
    }

    /// `bb.parse.get_file_depends`: every file read or tried, absolute, space-separated.
    fn file_depends(&mut self, d: &DataStore) -> Result<String, DataError> {
        let mut files = String::new();
        for var in ["__base_depends", "__depends"] {
            if let Some(Value::List(entries)) = d.get_var_raw(var)? {
                for entry in entries {
                    if let Value::List(pair) = entry
                        && let Some(path) = pair.into_iter().next()
                    {
                        if !files.is_empty() {
                            files.push(' ');
                        }
                        let path = path.into_string();
                        let absolute = self.absolute_paths.entry(path).or_insert_with_key(|path| {
                            let mut absolute = String::new();
                            push_abspath(&mut absolute, path);
                            absolute
                        });
                        files.push_str(absolute);
                    }
                }
            }
        }
        Ok(files)
    }

    /// The directory of each layer collection, by the layer.conf that added it to
    /// BBFILE_COLLECTIONS (known after [`Cooker::parse_base_configuration`]).
    pub fn layer_dirs(&self) -> &[(String, PathBuf)] {
        &self.layer_dirs
    }

    /// `CookerDataBuilder.__init__` + `parseBaseConfiguration`: the store every recipe
    /// starts from.
    pub fn parse_base_configuration(&mut self) -> Result<DataStore, EvalError> {
        let base = DataStore::new();
        self.evaluator.attach(&base);
        if self.config.tracking {
            base.enable_tracking();
        }
        let approved = approved_variables(&self.config.env);
        // BitBake keeps the whole original environment as a datastore.
        let origenv = DataStore::new();
        for (key, value) in &self.config.env {
            origenv.set_var(key, value.as_str())?;
            if approved.contains(key) {
                base.set_var_logged(
                    key,
                    Value::Str(value.clone()),
                    false,
                    None,
                    "from env",
                    value,
                )?;
                if PRESERVED_EXPORTED.contains(&key.as_str()) {
                    base.set_var_flag(key, "export", true)?;
                }
            }
        }
        base.set_var("BB_ORIGENV", Value::Datastore(origenv.freeze()))?;
        base.set_var("__bbclasstype", "global")?;

        let data = self.parse_configuration_files(&base)?;
        self.register_handlers(&data)?;
        self.fire(&data, &CookerEvent::ConfigParsed)?;
        self.check_renamed_variables(&data)?;
        data.rename_var("__depends", "__base_depends")?;
        data.set_var("__bbclasstype", "recipe")?;
        Ok(data.create_copy())
    }

    fn parse_configuration_files(&mut self, base: &DataStore) -> Result<DataStore, EvalError> {
        let mut data = base.create_copy();
        data.set_var("BB_CURRENT_MC", "")?;
        let layerconf = self.find_config_file("bblayers.conf", &data)?;
        if let Some(layerconf) = &layerconf {
            data = self.parse_layers(data, layerconf)?;
        }
        if !data.get_var("BBPATH")?.is_some_and(|v| v.is_truthy()) {
            let mut message = "The BBPATH variable is not set".to_owned();
            if layerconf.is_none() {
                message.push_str(&format!(
                    " and bitbake did not find a conf/bblayers.conf file in the expected location (searched from {} upwards).\nMaybe you accidentally invoked bitbake from the wrong directory?",
                    self.config.cwd.display()
                ));
            }
            return Err(Self::fatal(message));
        }
        if !data.get_var("TOPDIR")?.is_some_and(|v| v.is_truthy()) {
            data.set_var("TOPDIR", self.config.cwd.display().to_string())?;
        }
        if !data.get_var("BB_CACHEDIR")?.is_some_and(|v| v.is_truthy()) {
            data.set_var("BB_CACHEDIR", "${TOPDIR}/cache")?;
        }
        let bbpath = data.get_var_str("BBPATH")?.unwrap_or_default();
        if !bbpath
            .split(':')
            .any(|dir| Path::new(dir).join("conf/bitbake.conf").is_file())
        {
            return Err(EvalError::Parse {
                file: "conf/bitbake.conf".into(),
                line: 0,
                message: format!("conf/bitbake.conf was not found in any BBPATH entry ({bbpath})"),
            });
        }
        self.evaluator.handle(&data, "conf/bitbake.conf", true)?;
        let mut classes = vec!["base".to_owned()];
        classes.extend(
            data.get_var_str("INHERIT")?
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned),
        );
        for class in classes {
            self.evaluator
                .inherit(&data, &class, "configuration INHERITs", 0, false)?;
        }
        data.set_var("BBINCLUDED", self.file_depends(&data)?)?;
        Ok(data)
    }

    /// bblayers.conf and each layer's conf/layer.conf (`parseConfigurationFiles`' layer
    /// part): LAYERDIR, the collections' directories, BBFILES_DYNAMIC, and the layers'
    /// LAYERSERIES_COMPAT checked against the core layer's series.
    fn parse_layers(
        &mut self,
        mut data: DataStore,
        layerconf: &Path,
    ) -> Result<DataStore, EvalError> {
        let topdir = layerconf
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        data.set_var("TOPDIR", topdir.display().to_string())?;
        self.evaluator
            .handle(&data, &layerconf.display().to_string(), true)?;
        if !data.get_var("BB_CACHEDIR")?.is_some_and(|v| v.is_truthy()) {
            data.set_var("BB_CACHEDIR", "${TOPDIR}/cache")?;
        }
        let layers: Vec<String> = data.get_var_words("BBLAYERS")?;
        if layers.is_empty() {
            return Err(Self::fatal(
                "The bblayers.conf file doesn't contain any BBLAYERS definition",
            ));
        }
        data = data.create_copy();
        let broken: Vec<&String> = layers.iter().filter(|l| !Path::new(l).is_dir()).collect();
        if !broken.is_empty() {
            return Err(Self::fatal(format!(
                "The following layer directories do not exist:\n   {}\nPlease check BBLAYERS in {}",
                broken
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n   "),
                layerconf.display()
            )));
        }
        let (series, compat_entries) = self.parse_layer_confs(&data, &layers)?;
        data.del_var("LAYERDIR_RE");
        data.del_var("LAYERDIR");
        for (c, entries) in &compat_entries {
            data.set_var(&format!("LAYERSERIES_COMPAT_{c}"), entries.join(" "))?;
        }
        let collections: Vec<String> = data.get_var_words("BBFILE_COLLECTIONS")?;
        add_dynamic_bbfiles(&data, &collections)?;
        for (i, c) in collections.iter().enumerate() {
            if collections[i + 1..].contains(c) {
                return Err(Self::fatal(format!(
                    "Found duplicated BBFILE_COLLECTIONS '{c}', check bblayers.conf or layer.conf to fix it."
                )));
            }
            let compat = compat_entries.get(c).cloned().unwrap_or_default();
            if !compat.is_empty() && series.is_empty() {
                return Err(Self::fatal(format!(
                    "No core layer found to work with layer '{c}'. Missing entry in bblayers.conf?"
                )));
            }
            if !compat.is_empty() && !compat.iter().any(|s| series.contains(s)) {
                return Err(Self::fatal(format!(
                    "Layer {c} is not compatible with the core layer which only supports these series: {} (layer is compatible with {})",
                    series.join(" "),
                    compat.join(" ")
                )));
            } else if compat.is_empty() && data.get_var("BB_WORKERCONTEXT")?.is_none() {
                data.log(
                    LogLevel::Warning,
                    format!("Layer {c} should set LAYERSERIES_COMPAT_{c} in its conf/layer.conf file to list the core layer names it is compatible with."),
                );
            }
        }
        let mut sorted = series.clone();
        sorted.sort();
        sorted.dedup();
        data.set_var("LAYERSERIES_CORENAMES", sorted.join(" "))?;
        Ok(data)
    }

    /// Each layer's conf/layer.conf with LAYERDIR set: the core layer's series
    /// (LAYERSERIES_CORENAMES) and each collection's LAYERSERIES_COMPAT, taken out of
    /// `data`.
    fn parse_layer_confs(
        &mut self,
        data: &DataStore,
        layers: &[String],
    ) -> Result<(Vec<String>, LayerCompat), EvalError> {
        let mut layerseries: Option<Vec<String>> = None;
        let mut compat_entries = LayerCompat::new();
        for layer in layers {
            let layer = layer.trim_end_matches('/');
            data.set_var("LAYERDIR", layer)?;
            data.set_var("LAYERDIR_RE", regex_escape(layer))?;
            let conf = Path::new(layer).join("conf/layer.conf");
            let before = data.get_var_str("BBFILE_COLLECTIONS")?.unwrap_or_default();
            self.evaluator
                .handle(data, &conf.display().to_string(), true)?;
            let after = data.get_var_str("BBFILE_COLLECTIONS")?.unwrap_or_default();
            for added in after.split_whitespace() {
                if !before.split_whitespace().any(|c| c == added) {
                    self.layer_dirs
                        .push((added.to_owned(), PathBuf::from(layer)));
                }
            }
            data.expand_var_ref("LAYERDIR")?;
            data.expand_var_ref("LAYERDIR_RE")?;
            let collections = data.get_var_str("BBFILE_COLLECTIONS")?.unwrap_or_default();
            for c in collections.split_whitespace() {
                let var = format!("LAYERSERIES_COMPAT_{c}");
                if let Some(entry) = data.get_var_str(&var)?.filter(|s| !s.is_empty()) {
                    let mut set: Vec<String> =
                        entry.split_whitespace().map(str::to_owned).collect();
                    set.sort();
                    set.dedup();
                    compat_entries.insert(c.to_owned(), set);
                    data.del_var(&var);
                }
            }
            if layerseries.as_ref().is_none_or(|s| s.is_empty()) {
                let series: Vec<String> = data.get_var_words("LAYERSERIES_CORENAMES")?;
                if !series.is_empty() {
                    data.del_var("LAYERSERIES_CORENAMES");
                }
                layerseries = Some(series);
            }
        }
        Ok((layerseries.unwrap_or_default(), compat_entries))
    }

    /// `findConfigFile`: BBPATH entries, then the working directory and its parents.
    /// The build directory (TOPDIR) the parse will use: where conf/bblayers.conf is found
    /// on BBPATH from the environment, else from the working directory upwards. Found
    /// without parsing anything.
    pub fn build_dir(&self) -> Option<PathBuf> {
        let data = DataStore::new();
        if let Some((_, bbpath)) = self.config.env.iter().find(|(k, _)| k == "BBPATH") {
            data.set_var("BBPATH", bbpath.as_str()).ok()?;
        }
        let layerconf = self.find_config_file("bblayers.conf", &data).ok()??;
        Some(layerconf.parent()?.parent()?.to_path_buf())
    }

    /// The environment variables a parse takes in (BitBake's approved variables), sorted.
    pub fn approved_environment(&self) -> Vec<(String, String)> {
        let approved = approved_variables(&self.config.env);
        let mut out: Vec<(String, String)> = self
            .config
            .env
            .iter()
            .filter(|(k, _)| approved.contains(k))
            .cloned()
            .collect();
        out.sort();
        out
    }

    fn find_config_file(&self, name: &str, data: &DataStore) -> Result<Option<PathBuf>, EvalError> {
        let mut search = Vec::new();
        if let Some(bbpath) = data.get_var_str("BBPATH")?.filter(|s| !s.is_empty()) {
            search.extend(
                bbpath
                    .split(':')
                    .map(|dir| Path::new(dir).join("conf").join(name)),
            );
        }
        let mut dir = Some(self.config.cwd.as_path());
        while let Some(current) = dir {
            if current == Path::new("/") {
                break;
            }
            search.push(current.join("conf").join(name));
            dir = current.parent();
        }
        Ok(search.into_iter().find(|p| p.exists()))
    }

    /// Registers the handlers named in `__BBHANDLERS` (BitBake does so at the end of the
    /// configuration and in each recipe's finalisation).
    fn register_handlers(&mut self, d: &DataStore) -> Result<(), EvalError> {
        for name in string_list(d.get_var_raw("__BBHANDLERS")?) {
            let file = d
                .get_var_flag(&name, "filename", false)?
                .filter(Value::is_truthy);
            let Some(file) = file else {
                return Err(Self::fatal(format!(
                    "Undefined event handler function '{name}'"
                )));
            };
            let line = d
                .get_var_flag(&name, "lineno", false)?
                .map(Value::into_string)
                .unwrap_or_default();
            let code = d
                .get_var_raw(&name)?
                .map(Value::into_string)
                .unwrap_or_default();
            let mask = d
                .get_var_flag(&name, "eventmask", true)?
                .map(Value::into_string)
                .unwrap_or_default();
            self.handlers.retain(|h| h.name != name);
            self.handlers.push(Handler {
                name,
                code,
                mask: mask.split_whitespace().map(str::to_owned).collect(),
                file: file.to_string(),
                line: line.parse().unwrap_or(0),
            });
        }
        Ok(())
    }

    fn fire(&self, d: &DataStore, event: &CookerEvent) -> Result<(), EvalError> {
        if self.handlers.is_empty() {
            return Ok(());
        }
        self.evaluator
            .python()?
            .fire_event(d, event, &self.handlers)
    }

    /// The renamed-variable check of `parseBaseConfiguration`.
    fn check_renamed_variables(&self, d: &DataStore) -> Result<(), EvalError> {
        let mut renamed: BTreeMap<String, String> = d
            .get_var_flags("BB_RENAMED_VARIABLES")
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        for (old, new) in crate::store::renamed_variables() {
            renamed.insert(old.to_owned(), new.to_owned());
        }
        // Set-time reports (with file and line) come first, as BitBake logs them.
        let mut issues = Vec::new();
        for record in d.take_log() {
            if record.level == crate::LogLevel::Error && record.message.contains(" renamed to ") {
                issues.push(record.message);
            } else {
                d.log(record.level, record.message);
            }
        }
        let logged = issues.len();
        for (old, new) in &renamed {
            if d.get_var(old)?.is_some() || d.has_overrides(old) {
                let what = if new.contains(' ') {
                    format!("Variable {old} {new}")
                } else {
                    format!("Variable {old} has been renamed to {new}")
                };
                issues.push(what);
            }
        }
        if issues.len() == logged {
            for issue in issues {
                d.log(crate::LogLevel::Error, issue);
            }
            Ok(())
        } else {
            // One message of several lines, each an error as BitBake prints them.
            Err(Self::fatal(issues.join("\nERROR: ")))
        }
    }

    /// `parseRecipeVariants`: the recipe with its appends, finalised, and its variants.
    /// `layername` is the name of the layer collection the recipe is in, `""` if none.
    pub fn parse_recipe(
        &mut self,
        config: &DataStore,
        recipe: &Path,
        appends: &[PathBuf],
        layername: &str,
    ) -> Result<ParsedRecipe, EvalError> {
        let mut variants = BTreeMap::new();
        self.parse_recipe_variants(config, recipe, appends, layername, &mut |name, d| {
            variants.insert(name.to_owned(), d);
            Ok(())
        })?;
        Ok(ParsedRecipe { variants })
    }

    /// `parseRecipe` (`bitbake -e`): the store of one variant of the recipe (`""` for the
    /// recipe itself). Only the recipe and the variants BitBake's `__ONLYFINALISE` selects
    /// are finalised, not all of BBCLASSEXTEND. `None` if the recipe has no such variant.
    pub fn parse_recipe_variant(
        &mut self,
        config: &DataStore,
        recipe: &Path,
        appends: &[PathBuf],
        layername: &str,
        variant: &str,
    ) -> Result<Option<DataStore>, EvalError> {
        let mut found = None;
        // BitBake's "default" names the recipe itself.
        let only = if variant.is_empty() {
            "default"
        } else {
            variant
        };
        self.parse_variants(
            config,
            recipe,
            appends,
            layername,
            Some(only),
            &mut |name, d| {
                if name == variant {
                    found = Some(d);
                }
                Ok(())
            },
        )?;
        Ok(found)
    }

    /// As [`Cooker::parse_recipe`], but each finalised store is handed to `visit` (the
    /// recipe itself, `""`, first, then the variants in BBCLASSEXTEND order) as soon as it
    /// is made, so that only one is alive at a time: a recipe can have hundreds of variants.
    /// An error from `visit` ends the parse of the recipe with that error.
    pub fn parse_recipe_variants(
        &mut self,
        config: &DataStore,
        recipe: &Path,
        appends: &[PathBuf],
        layername: &str,
        visit: &mut dyn FnMut(&str, DataStore) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        self.parse_variants(config, recipe, appends, layername, None, visit)
    }

    /// The parse of a recipe, its variants restricted as by BitBake's `__ONLYFINALISE`
    /// (`only`) if given.
    fn parse_variants(
        &mut self,
        config: &DataStore,
        recipe: &Path,
        appends: &[PathBuf],
        layername: &str,
        only: Option<&str>,
        visit: &mut dyn FnMut(&str, DataStore) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let d = config.create_copy();
        let recipe_text = recipe.display().to_string();
        d.set_var("__BBMULTICONFIG", "")?;
        // A file in no layer collection has no layer name: BitBake sets None, which
        // `${FILE_LAYERNAME}` leaves unexpanded (collection names are never empty).
        if layername.is_empty() {
            d.set_var("FILE_LAYERNAME", Value::None)?;
        } else {
            d.set_var("FILE_LAYERNAME", layername)?;
        }
        d.set_var("__BB_RECIPE_FILE", recipe_text.clone())?;
        if !appends.is_empty() {
            let list: Vec<String> = appends.iter().map(|a| a.display().to_string()).collect();
            d.set_var("__BBAPPEND", list.join(" "))?;
        }
        profile::step("recipe statements", || {
            self.evaluator.handle(&d, &recipe_text, false)
        })?;
        if d.get_var_raw("__SKIPPED")?.is_some_and(|v| v.is_truthy()) {
            return visit("", d);
        }
        self.multi_finalize(&recipe_text, d, only, visit)
    }

    fn multi_finalize(
        &mut self,
        file: &str,
        d: DataStore,
        only: Option<&str>,
        visit: &mut dyn FnMut(&str, DataStore) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        for append in d
            .get_var_str("__BBAPPEND")?
            .unwrap_or_default()
            .split_whitespace()
        {
            profile::step("bbappend statements", || {
                self.evaluator.handle(&d, append, true)
            })?;
        }
        let safe = d;
        let main = safe.create_copy();
        self.finalize_skipping(file, &main)?;

        let extended = main.get_var_str("BBCLASSEXTEND")?.unwrap_or_default();
        if extended.is_empty() {
            return visit("", main);
        }
        let pn = main.get_var_str("PN")?.unwrap_or_default();
        visit("", main)?;
        safe.set_var("BBCLASSEXTEND", extended.clone())?;
        let mut seen = std::collections::HashSet::new();
        for ext in extended.split_whitespace() {
            // BitBake keeps the variants in a dict: a repeated name is one variant.
            if !seen.insert(ext) {
                continue;
            }
            // BitBake's `name not in onlyfinalise` is python's substring test on a string.
            if only.is_some_and(|only| !only.contains(ext)) {
                continue;
            }
            let variant = safe.create_copy();
            let parts: Vec<&str> = ext.splitn(3, ':').collect();
            let class = parts[0];
            if parts.len() > 1 {
                variant.set_var("BBEXTENDCURR", class)?;
                variant.set_var("BBEXTENDVARIANT", parts[1])?;
            } else {
                variant.set_var("PN", format!("{pn}-{ext}"))?;
            }
            crate::eval::inherit_defer(&variant, class, file, 0)?;
            self.finalize_skipping(file, &variant)?;
            visit(ext, variant)?;
        }
        Ok(())
    }

    fn finalize_skipping(&mut self, file: &str, d: &DataStore) -> Result<(), EvalError> {
        match self.finalize(file, d) {
            Ok(()) => Ok(()),
            Err(EvalError::Skip(reason)) => {
                d.set_var("__SKIPPED", reason)?;
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// `ast.finalize`.
    fn finalize(&mut self, file: &str, d: &DataStore) -> Result<(), EvalError> {
        let saved_handlers = self.handlers.clone();
        let result = self.finalize_steps(file, d);
        self.handlers = saved_handlers;
        result
    }

    fn finalize_steps(&mut self, file: &str, d: &DataStore) -> Result<(), EvalError> {
        if d.get_var_raw("_FAILPARSINGERRORHANDLED")? == Some(Value::Bool(true)) {
            let messages: Vec<String> = d
                .take_log()
                .into_iter()
                .filter(|r| r.level == LogLevel::Error)
                .map(|r| r.message)
                .collect();
            return Err(Self::fatal(messages.join("\n")));
        }
        let pending: Vec<String> = deferred(d)?.into_iter().map(|(e, _, _)| e).collect();
        self.fire_step(
            d,
            &CookerEvent::RecipePreDeferredInherits {
                file: file.to_owned(),
                inherits: pending,
            },
        )?;
        profile::step("deferred inherits", || self.deferred_inherits(d))?;
        self.register_handlers(d)?;
        self.fire_step(
            d,
            &CookerEvent::RecipePreFinalise {
                file: file.to_owned(),
            },
        )?;
        profile::step("key expansion", || d.expand_keys())?;
        self.fire_step(
            d,
            &CookerEvent::RecipePostKeyExpansion {
                file: file.to_owned(),
            },
        )?;
        profile::step("anonymous python", || self.run_anonymous_functions(d))?;
        let tasks = string_list(d.get_var_raw("__BBTASKS")?);
        self.fire_step(
            d,
            &CookerEvent::RecipeTaskPreProcess {
                file: file.to_owned(),
                tasks: tasks.clone(),
            },
        )?;
        profile::step("virtual recipe providers", || {
            virtual_recipe_providers(d, &tasks)
        })?;
        profile::step("task dependencies", || add_task_deps(d, &tasks))?;
        profile::step("included files", || {
            d.set_var("BBINCLUDED", self.file_depends(d)?)
        })?;
        let seen = |var: &str| -> Result<bool, DataError> {
            Ok(d.get_var(var)?.is_some_and(|v| v.is_truthy()))
        };
        if seen("__BBAUTOREV_SEEN")? && seen("__BBSRCREV_SEEN")? && !seen("__BBAUTOREV_ACTED_UPON")?
        {
            return Err(EvalError::Data(DataError::Fatal(
                "AUTOREV/SRCPV set too late for the fetcher to work properly, please set the variables earlier in parsing. Erroring instead of later obtuse build failures.".into(),
            )));
        }
        self.fire_step(
            d,
            &CookerEvent::RecipeParsed {
                file: file.to_owned(),
            },
        )?;
        Ok(())
    }

    /// An event of a recipe's finalisation, timed as the step `event handlers`.
    fn fire_step(&self, d: &DataStore, event: &CookerEvent) -> Result<(), EvalError> {
        profile::step("event handlers", || self.fire(d, event))
    }

    /// The inherits deferred to finalisation (`inherit_defer`, BBCLASSEXTEND), in order.
    fn deferred_inherits(&self, d: &DataStore) -> Result<(), EvalError> {
        loop {
            let mut inherits = deferred(d)?;
            if inherits.is_empty() {
                break;
            }
            let (expression, from, line) = inherits.remove(0);
            let rest: Vec<Value> = inherits
                .into_iter()
                .map(|(e, f, l)| {
                    Value::List(vec![Value::Str(e), Value::Str(f), Value::Int(i64::from(l))])
                })
                .collect();
            d.set_var("__BBDEFINHERITS", Value::List(rest))?;
            self.evaluator.inherit(d, &expression, &from, line, true)?;
        }
        Ok(())
    }
}

impl Cooker<'_> {
    /// BitBake's `runAnonFuncs`: every anonymous python function, in order, in one run.
    fn run_anonymous_functions(&self, d: &DataStore) -> Result<(), EvalError> {
        let anonymous = string_list(d.get_var_raw("__BBANONFUNCS")?);
        if anonymous.is_empty() {
            return Ok(());
        }
        let python = self.evaluator.python()?;
        if !profile::is_on() {
            let code: Vec<String> = anonymous.iter().map(|f| format!("{f}(d)")).collect();
            return python.exec(d, &code.join("\n"));
        }
        // One run each, to be timed apart; each call keeps its line in the code of the
        // one run, for tracebacks.
        for (line, function) in anonymous.iter().enumerate() {
            let code = format!("{}{function}(d)", "\n".repeat(line));
            profile::python(
                || anonymous_function_name(d, function),
                || python.exec(d, &code),
            )?;
        }
        Ok(())
    }

    /// The global environment `bitbake -e` shows without a recipe: a copy of the base
    /// configuration with its keys expanded and its anonymous functions run.
    pub fn global_environment(&self, config: &DataStore) -> Result<DataStore, EvalError> {
        let d = config.create_copy();
        d.expand_keys()?;
        self.run_anonymous_functions(&d)?;
        Ok(d)
    }
}

/// An anonymous function as a parse profile names it: its file's last two components
/// and its line.
fn anonymous_function_name(d: &DataStore, function: &str) -> String {
    let flag = |name: &str| {
        d.get_var_flag(function, name, false)
            .ok()
            .flatten()
            .map(Value::into_string)
            .unwrap_or_default()
    };
    let file = flag("filename");
    let mut parts = file.rsplit('/');
    let short = match (parts.next(), parts.next()) {
        (Some(name), Some(dir)) => format!("{dir}/{name}"),
        _ => file.clone(),
    };
    format!("anonymous python {short}:{}", flag("lineno"))
}

/// `handleVirtRecipeProviders`: DEPENDS and `[depends]` entries naming a recipe-level
/// virtual provider become its PREFERRED_PROVIDER. DEPENDS is always rewritten.
fn virtual_recipe_providers(d: &DataStore, tasks: &[String]) -> Result<(), EvalError> {
    let depends = d.get_var_str("DEPENDS")?.unwrap_or_default();
    let virtual_providers: Vec<String> = d.get_var_words("BB_RECIPE_VIRTUAL_PROVIDERS")?;
    let mut new = Vec::new();
    for dep in depends.split_whitespace() {
        if virtual_providers.iter().any(|v| v == dep) {
            let provider = d
                .get_var_str(&format!("PREFERRED_PROVIDER_{dep}"))?
                .filter(|s| !s.is_empty());
            let Some(provider) = provider else {
                return Err(Cooker::fatal(format!(
                    "Error, recipe virtual provider PREFERRED_PROVIDER_{dep} not set"
                )));
            };
            new.push(provider);
        } else {
            new.push(dep.to_owned());
        }
    }
    d.set_var("DEPENDS", new.join(" "))?;
    for task in tasks {
        let entries = d
            .get_var_flag(task, "depends", true)?
            .map(Value::into_string)
            .unwrap_or_default();
        let mut remapped = Vec::new();
        for entry in entries.split_whitespace() {
            let parts: Vec<&str> = entry.split(':').collect();
            let [recipe, target] = parts.as_slice() else {
                return Err(Cooker::fatal(format!(
                    "Error, incorrect format for task dependency (task '{task}'): {entry}"
                )));
            };
            let recipe = if virtual_providers.iter().any(|v| v == recipe) {
                d.get_var_str(&format!("PREFERRED_PROVIDER_{recipe}"))?
                    .unwrap_or_default()
            } else {
                (*recipe).to_owned()
            };
            remapped.push(format!("{recipe}:{target}"));
        }
        d.set_var_flag(task, "depends", remapped.join(" "))?;
    }
    Ok(())
}

fn deferred(d: &DataStore) -> Result<Vec<(String, String, u32)>, DataError> {
    let Some(Value::List(items)) = d.get_var_raw("__BBDEFINHERITS")? else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            Value::List(parts) if parts.len() == 3 => Some((
                parts[0].to_string(),
                parts[1].to_string(),
                match &parts[2] {
                    Value::Int(i) => *i as u32,
                    other => other.to_string().parse().unwrap_or(0),
                },
            )),
            _ => None,
        })
        .collect())
}

fn string_list(value: Option<Value>) -> Vec<String> {
    crate::store::list(value)
        .iter()
        .map(Value::to_string)
        .collect()
}

/// Python's `os.path.abspath(path)`: joined to the working directory, then `.` and `..`
/// resolved without looking at the file system.
///
/// ```
/// assert_eq!(bb_data::abspath("/build/../layer/./x.bb"), "/layer/x.bb");
/// ```
pub fn abspath(path: &str) -> String {
    let mut out = String::new();
    push_abspath(&mut out, path);
    out
}

/// Appends [`abspath`]`(path)` to `out`.
fn push_abspath(out: &mut String, path: &str) {
    // Most paths are normal already: absolute, no empty, `.` or `..` parts.
    let normal = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.ends_with("/.")
        && !path.ends_with("/..")
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../");
    if normal {
        out.push_str(path);
        return;
    }
    let start = out.len();
    let cwd = if path.starts_with('/') {
        String::new()
    } else {
        std::env::current_dir()
            .unwrap_or_default()
            .display()
            .to_string()
    };
    for part in cwd.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                let parent = out[start..].rfind('/').map_or(start, |i| start + i);
                out.truncate(parent);
            }
            part => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    if out.len() == start {
        out.push('/');
    }
}

/// Python's `re.escape`: every character other than ASCII letters, digits and `_` escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_')
            && (c.is_ascii() && "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Each collection's LAYERSERIES_COMPAT: the series it works with, sorted.
type LayerCompat = BTreeMap<String, Vec<String>>;

/// BBFILES_DYNAMIC: each `collection:pattern` entry's pattern added to BBFILES when the
/// collection is there (`!collection:` when it is not).
fn add_dynamic_bbfiles(data: &DataStore, collections: &[String]) -> Result<(), EvalError> {
    let dynamic = data.get_var_str("BBFILES_DYNAMIC")?.unwrap_or_default();
    let mut invalid = Vec::new();
    for entry in dynamic.split_whitespace() {
        let Some((layer, pattern)) = entry.split_once(':') else {
            invalid.push(entry.to_owned());
            continue;
        };
        let (invert, layer) = match layer.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, layer),
        };
        if collections.iter().any(|c| c == layer) != invert {
            data.append_var("BBFILES", &format!(" {pattern}"))?;
        }
    }
    if !invalid.is_empty() {
        return Err(Cooker::fatal(format!(
            "BBFILES_DYNAMIC entries must be of the form {{!}}<collection name>:<filename pattern>, not:\n    {}",
            invalid.join("\n    ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::push_abspath;

    #[test]
    fn abspath_resolves_dots_without_touching_what_came_before() {
        let mut out = String::from("/kept");
        out.push(' ');
        push_abspath(&mut out, "/build/../layer/./meta//classes/base.bbclass");
        assert_eq!(out, "/kept /layer/meta/classes/base.bbclass");
        let mut root = String::from("x ");
        push_abspath(&mut root, "/../..");
        assert_eq!(root, "x /");
        let mut normal = String::from("x ");
        push_abspath(&mut normal, "/layer/meta/classes/base.bbclass");
        assert_eq!(normal, "x /layer/meta/classes/base.bbclass");
        let mut trailing = String::new();
        push_abspath(&mut trailing, "/layer/meta/.");
        assert_eq!(trailing, "/layer/meta");
        let mut relative = String::new();
        push_abspath(&mut relative, "conf/../local.conf");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(relative, format!("{}/local.conf", cwd.display()));
    }
}
