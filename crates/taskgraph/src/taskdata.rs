//! Resolving what targets need: BitBake's `TaskData` (build and runtime targets, their
//! providers, and the recipes that cannot be built because something is missing).

use bb_data::RecipeInfo;
use indexmap::IndexMap;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::Variables;
use crate::cache::{FileId, RecipeCache};
use crate::providers::{Level, Notice, filter_providers, filter_providers_runtime};

/// A task of a recipe variant.
pub type TaskKey = (FileId, String);

/// What one task depends on before the graph is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskEntry {
    /// Tasks of the same recipe (`addtask … after`).
    pub(crate) tdepends: Vec<TaskKey>,
    /// `[depends]`: (build target, task).
    pub(crate) idepends: Vec<(String, String)>,
    /// `[rdepends]`: (runtime target, task).
    pub(crate) irdepends: Vec<(String, String)>,
}

/// Why a target could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Nothing provides a name a target needs (BitBake's `NoProvider` message).
    NoProvider(String),
    /// A task's dependency flag is malformed.
    BadFlag(String),
    /// A recipe variant was reached whose tasks and dependencies were never given
    /// ([`RecipeCache::add_summary`] without [`RecipeCache::complete`]): the variant.
    Incomplete(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NoProvider(m) | ResolveError::BadFlag(m) => f.write_str(m),
            ResolveError::Incomplete(file) => {
                write!(f, "{file}: its tasks and dependencies were not loaded")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Build and runtime targets with their providers, and the tasks of every recipe that
/// may take part in the build.
#[derive(Debug, Default)]
pub struct TaskData {
    pub(crate) build_targets: IndexMap<String, Vec<FileId>>,
    pub(crate) run_targets: IndexMap<String, Vec<FileId>>,
    external_targets: Vec<String>,
    seen_files: FxHashSet<FileId>,
    pub(crate) task_entries: FxHashMap<TaskKey, TaskEntry>,
    /// Task entries in the order they were added.
    pub(crate) task_order: Vec<TaskKey>,
    pub(crate) depids: FxHashMap<FileId, Vec<String>>,
    pub(crate) rdepids: FxHashMap<FileId, Vec<String>>,
    pub(crate) failed_deps: FxHashSet<String>,
    failed_rdeps: FxHashSet<String>,
    pub(crate) failed_files: FxHashSet<FileId>,
    consider_messages: FxHashSet<String>,
    /// Warnings and errors, in BitBake's words, in the order they arose (each once).
    pub notices: Vec<Notice>,
    halt: bool,
    allow_incomplete: bool,
}

/// Splits a `[depends]`-style flag (`pn:task …`).
fn dependency_pairs(
    cache: &RecipeCache,
    file: FileId,
    task: &str,
    flag: &str,
    value: &str,
) -> Result<Vec<(String, String)>, ResolveError> {
    value
        .split_whitespace()
        .map(|dep| match dep.split_once(':') {
            Some((name, dep_task)) if !dep_task.contains(':') => {
                Ok((name.to_owned(), dep_task.to_owned()))
            }
            _ => Err(ResolveError::BadFlag(format!(
                "Error for {}:{task}[{flag}], dependency {dep} in '{value}' does not contain exactly one ':' character.\n Task '{flag}' should be specified in the form 'packagename:task'",
                cache.recipe(file).file
            ))),
        })
        .collect()
}

impl TaskData {
    /// Empty task data; with `halt`, a target that cannot be built is an error (BitBake's
    /// default, `-k` turns it off); with `allow_incomplete` (a graph rather than a build),
    /// recipes needing something nothing provides stay in.
    pub fn new(halt: bool, allow_incomplete: bool) -> TaskData {
        TaskData {
            halt,
            allow_incomplete,
            ..TaskData::default()
        }
    }

    /// The providers chosen for a build-time name, best first.
    pub fn build_providers(&self, name: &str) -> &[FileId] {
        self.build_targets.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every build-time name resolved so far with the provider chosen for it.
    pub fn chosen_providers(&self) -> impl Iterator<Item = (&str, FileId)> {
        self.build_targets
            .iter()
            .filter_map(|(name, providers)| Some((name.as_str(), *providers.first()?)))
    }

    /// Adds a recipe's tasks and notes what it depends on (`add_tasks`).
    fn add_tasks(&mut self, cache: &RecipeCache, file: FileId) -> Result<(), ResolveError> {
        if !cache.is_complete(file) {
            return Err(ResolveError::Incomplete(cache.recipe(file).file.clone()));
        }
        if !self.seen_files.insert(file) {
            return Ok(());
        }
        let info = &cache.recipe(file).info;
        for task in &info.tasks {
            let key = (file, task.name.clone());
            let mut entry = TaskEntry::default();
            for parent in &task.parents {
                if info.task(parent).is_some() {
                    entry.tdepends.push((file, parent.clone()));
                }
            }
            if let Some(value) = task.flags.get("depends") {
                entry.idepends = dependency_pairs(cache, file, &task.name, "depends", value)?;
                for (name, _) in &entry.idepends {
                    self.seen_build_target(name);
                }
            }
            if let Some(value) = task.flags.get("rdepends") {
                entry.irdepends = dependency_pairs(cache, file, &task.name, "rdepends", value)?;
                for (name, _) in &entry.irdepends {
                    self.seen_run_target(name);
                }
            }
            if !self.task_entries.contains_key(&key) {
                self.task_order.push(key.clone());
            }
            self.task_entries.insert(key, entry);
        }
        let mut depends: Vec<String> = Vec::new();
        for dep in &info.depends {
            if !depends.contains(dep) {
                depends.push(dep.clone());
            }
        }
        self.depids.entry(file).or_insert(depends);
        self.rdepids
            .entry(file)
            .or_insert_with(|| runtime_dependencies(info));
        for dep in self.depids[&file].clone() {
            self.seen_build_target(&dep);
            if self.failed_deps.contains(&dep) {
                self.fail_file(cache, file, Vec::new())?;
                return Ok(());
            }
        }
        for dep in self.rdepids[&file].clone() {
            self.seen_run_target(&dep);
            if self.failed_rdeps.contains(&dep) {
                self.fail_file(cache, file, Vec::new())?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Records a notice unless the same one was recorded already (an unresolvable target
    /// is tried again on every round of [`TaskData::add_unresolved`]).
    fn notice(&mut self, level: Level, message: String) {
        let notice = Notice { level, message };
        if !self.notices.contains(&notice) {
            self.notices.push(notice);
        }
    }

    fn seen_build_target(&mut self, name: &str) {
        if !self.build_targets.contains_key(name) {
            self.build_targets.insert(name.to_owned(), Vec::new());
        }
    }

    fn seen_run_target(&mut self, name: &str) {
        if !self.run_targets.contains_key(name) {
            self.run_targets.insert(name.to_owned(), Vec::new());
        }
    }

    fn dependees(&self, cache: &RecipeCache, name: &str, runtime: bool) -> Vec<String> {
        let table = if runtime { &self.rdepids } else { &self.depids };
        let mut files: Vec<FileId> = table
            .iter()
            .filter(|(_, deps)| deps.iter().any(|d| d == name))
            .map(|(&file, _)| file)
            .collect();
        files.sort_unstable();
        files
            .into_iter()
            .map(|f| cache.recipe(f).file.clone())
            .collect()
    }

    /// Why nothing provides `name`: skipped recipes that would have.
    fn skip_reasons(cache: &RecipeCache, name: &str, runtime: bool) -> Vec<String> {
        let mut reasons = Vec::new();
        for skipped in cache.skipped() {
            let info = &skipped.info;
            let reason = info.skipped.as_deref().unwrap_or_default();
            if info.pn == name {
                reasons.push(format!("{} was skipped: {reason}", info.pn));
            } else if runtime && info.rprovides.iter().any(|p| p == name) {
                reasons.push(format!(
                    "{} RPROVIDES {name} but was skipped: {reason}",
                    info.pn
                ));
            } else if !runtime && info.provides.iter().any(|p| p == name) {
                reasons.push(format!(
                    "{} PROVIDES {name} but was skipped: {reason}",
                    info.pn
                ));
            }
        }
        reasons
    }

    /// BitBake's `NoProvider` message.
    fn no_provider(
        &self,
        cache: &RecipeCache,
        name: &str,
        runtime: bool,
        reasons: Vec<String>,
    ) -> String {
        let r = if runtime { "R" } else { "" };
        let dependees = self.dependees(cache, name, runtime);
        let mut message = if dependees.is_empty() {
            format!("Nothing {r}PROVIDES '{name}'")
        } else {
            format!(
                "Nothing {r}PROVIDES '{name}' (but {} {r}DEPENDS on or otherwise requires it)",
                dependees.join(", ")
            )
        };
        for reason in reasons {
            message.push('\n');
            message.push_str(&reason);
        }
        if let Some(chain) = self.requirement_chain(cache, name)
            && chain.len() > 2
        {
            message.push_str(&format!(
                "\nThe chain that requires it: {}",
                chain.join(" -> ")
            ));
        }
        message
    }

    /// The shortest chain from a target asked for to `name`, through the chosen providers'
    /// DEPENDS and runtime dependencies (PNs, then `name`).
    fn requirement_chain(&self, cache: &RecipeCache, name: &str) -> Option<Vec<String>> {
        let mut queue: std::collections::VecDeque<(FileId, Vec<String>)> = self
            .external_targets
            .iter()
            .filter_map(|t| Some((*self.build_targets.get(t)?.first()?, vec![t.clone()])))
            .collect();
        let mut seen: FxHashSet<FileId> = queue.iter().map(|(f, _)| *f).collect();
        while let Some((file, chain)) = queue.pop_front() {
            let empty = Vec::new();
            let build = self
                .depids
                .get(&file)
                .unwrap_or(&empty)
                .iter()
                .map(|d| (d, false));
            let run = self
                .rdepids
                .get(&file)
                .unwrap_or(&empty)
                .iter()
                .map(|d| (d, true));
            for (dep, runtime) in build.chain(run) {
                let mut next = chain.clone();
                if dep == name {
                    next.push(dep.clone());
                    return Some(next);
                }
                let targets = if runtime {
                    &self.run_targets
                } else {
                    &self.build_targets
                };
                if let Some(&provider) = targets.get(dep).and_then(|p| p.first())
                    && seen.insert(provider)
                {
                    next.push(cache.recipe(provider).info.pn.clone());
                    queue.push_back((provider, next));
                }
            }
        }
        None
    }

    /// Adds a target named on the command line (`add_provider`).
    pub fn add_provider(
        &mut self,
        cache: &RecipeCache,
        vars: &dyn Variables,
        name: &str,
    ) -> Result<(), ResolveError> {
        if let Err(err) = self.add_provider_internal(cache, vars, name) {
            if self.halt || !matches!(err, ResolveError::NoProvider(_)) {
                return Err(err);
            }
            self.notice(Level::Error, err.to_string());
            self.remove_build_target(cache, name, Vec::new())?;
        }
        if !self.external_targets.iter().any(|t| t == name) {
            self.external_targets.push(name.to_owned());
        }
        Ok(())
    }

    fn add_provider_internal(
        &mut self,
        cache: &RecipeCache,
        vars: &dyn Variables,
        name: &str,
    ) -> Result<(), ResolveError> {
        if cache.is_assumed(name) {
            return Ok(());
        }
        let Some(all) = cache.providers.get(name) else {
            let reasons = Self::skip_reasons(cache, name, false);
            return Err(ResolveError::NoProvider(
                self.no_provider(cache, name, false, reasons),
            ));
        };
        if !self.build_providers(name).is_empty() {
            return Ok(());
        }
        let (eligible, unique) = filter_providers(cache, vars, all, name, &mut self.notices);
        let eligible = self.usable(cache, name, eligible, false)?;
        if !unique {
            self.note_multiple(cache, name, &eligible, false);
        }
        self.adopt(cache, name, eligible, false)
    }

    fn add_rprovider(
        &mut self,
        cache: &RecipeCache,
        vars: &dyn Variables,
        name: &str,
    ) -> Result<(), ResolveError> {
        if cache.is_assumed(name) || self.run_targets.get(name).is_some_and(|p| !p.is_empty()) {
            return Ok(());
        }
        let all = cache.runtime_providers(name);
        if all.is_empty() {
            let reasons = Self::skip_reasons(cache, name, true);
            return Err(ResolveError::NoProvider(
                self.no_provider(cache, name, true, reasons),
            ));
        }
        let (eligible, preferred) =
            filter_providers_runtime(cache, vars, &all, name, &mut self.notices);
        let eligible = self.usable(cache, name, eligible, true)?;
        if preferred == 0 {
            self.note_multiple(cache, name, &eligible, true);
        }
        if preferred > 1 {
            self.consider_messages.insert(name.to_owned());
            return Err(ResolveError::NoProvider(format!(
                "Multiple RPROVIDERs of '{name}' are preferred"
            )));
        }
        self.adopt(cache, name, eligible, true)
    }

    /// The eligible providers that have not failed; none is BitBake's `NoProvider`.
    fn usable(
        &self,
        cache: &RecipeCache,
        name: &str,
        eligible: Vec<FileId>,
        runtime: bool,
    ) -> Result<Vec<FileId>, ResolveError> {
        let eligible: Vec<FileId> = eligible
            .into_iter()
            .filter(|f| !self.failed_files.contains(f))
            .collect();
        if eligible.is_empty() {
            let r = if runtime { "R" } else { "" };
            let reasons = vec![format!("No eligible {r}PROVIDERs exist for '{name}'")];
            return Err(ResolveError::NoProvider(
                self.no_provider(cache, name, runtime, reasons),
            ));
        }
        Ok(eligible)
    }

    /// BitBake's "Multiple providers" note, once per name, when no preference settled it.
    fn note_multiple(
        &mut self,
        cache: &RecipeCache,
        name: &str,
        eligible: &[FileId],
        runtime: bool,
    ) {
        if eligible.len() > 1 && self.consider_messages.insert(name.to_owned()) {
            self.notices.push(Notice {
                level: Level::Note,
                message: multiple_providers(cache, name, eligible, runtime),
            });
        }
    }

    /// Records `eligible` as the providers of `name` and adds their tasks (a provider
    /// that fails while others are added is skipped).
    fn adopt(
        &mut self,
        cache: &RecipeCache,
        name: &str,
        eligible: Vec<FileId>,
        runtime: bool,
    ) -> Result<(), ResolveError> {
        for file in eligible {
            if self.failed_files.contains(&file) {
                continue;
            }
            let targets = if runtime {
                &mut self.run_targets
            } else {
                &mut self.build_targets
            };
            let providers = targets.entry(name.to_owned()).or_default();
            if !providers.contains(&file) {
                providers.push(file);
            }
            self.add_tasks(cache, file)?;
        }
        Ok(())
    }

    /// Marks a recipe unbuildable and everything that needed only it (`fail_fn`).
    fn fail_file(
        &mut self,
        cache: &RecipeCache,
        file: FileId,
        missing: Vec<String>,
    ) -> Result<(), ResolveError> {
        if !self.failed_files.insert(file) {
            return Ok(());
        }
        let emptied = |targets: &mut IndexMap<String, Vec<FileId>>| {
            let mut emptied = Vec::new();
            for (target, providers) in targets.iter_mut() {
                if let Some(at) = providers.iter().position(|&p| p == file) {
                    providers.remove(at);
                    if providers.is_empty() {
                        emptied.push(target.clone());
                    }
                }
            }
            emptied
        };
        for target in emptied(&mut self.build_targets) {
            self.remove_build_target(cache, &target, missing.clone())?;
        }
        for target in emptied(&mut self.run_targets) {
            self.remove_run_target(cache, &target, missing.clone())?;
        }
        Ok(())
    }

    fn files_needing(&self, name: &str, runtime: bool) -> Vec<FileId> {
        let table = if runtime { &self.rdepids } else { &self.depids };
        let mut files: Vec<FileId> = table
            .iter()
            .filter(|(_, deps)| deps.iter().any(|d| d == name))
            .map(|(&f, _)| f)
            .collect();
        for key in &self.task_order {
            let entry = &self.task_entries[key];
            let list = if runtime {
                &entry.irdepends
            } else {
                &entry.idepends
            };
            if list.iter().any(|(n, _)| n == name) && !files.contains(&key.0) {
                files.push(key.0);
            }
        }
        files.sort_unstable();
        files
    }

    fn remove_build_target(
        &mut self,
        cache: &RecipeCache,
        target: &str,
        missing: Vec<String>,
    ) -> Result<(), ResolveError> {
        let mut chain = vec![target.to_owned()];
        chain.extend(missing);
        self.failed_deps.insert(target.to_owned());
        for file in self.files_needing(target, false) {
            self.fail_file(cache, file, chain.clone())?;
        }
        if self.halt && self.external_targets.iter().any(|t| t == target) {
            return Err(ResolveError::NoProvider(format!(
                "Required build target '{target}' has no buildable providers.\nMissing or unbuildable dependency chain was: {chain:?}"
            )));
        }
        Ok(())
    }

    fn remove_run_target(
        &mut self,
        cache: &RecipeCache,
        target: &str,
        missing: Vec<String>,
    ) -> Result<(), ResolveError> {
        let mut chain = vec![target.to_owned()];
        chain.extend(missing);
        self.notice(
            Level::Warning,
            format!(
                "Runtime target '{target}' is unbuildable, removing...\nMissing or unbuildable dependency chain was: {chain:?}"
            ),
        );
        self.failed_rdeps.insert(target.to_owned());
        for file in self.files_needing(target, true) {
            self.fail_file(cache, file, chain.clone())?;
        }
        Ok(())
    }

    /// Resolves every target seen so far until nothing new appears (`add_unresolved`).
    pub fn add_unresolved(
        &mut self,
        cache: &RecipeCache,
        vars: &dyn Variables,
    ) -> Result<(), ResolveError> {
        loop {
            let mut added = 0;
            let unresolved: Vec<String> = self
                .build_targets
                .iter()
                .filter(|(name, providers)| {
                    providers.is_empty()
                        && !cache.is_assumed(name)
                        && !self.failed_deps.contains(*name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for target in unresolved {
                match self.add_provider_internal(cache, vars, &target) {
                    Ok(()) => added += 1,
                    Err(ResolveError::NoProvider(message)) => {
                        if self.halt && self.external_targets.contains(&target) {
                            return Err(ResolveError::NoProvider(message));
                        }
                        self.notice(Level::Error, message);
                        // A graph may be incomplete; a build may not.
                        if !self.allow_incomplete {
                            self.remove_build_target(cache, &target, Vec::new())?;
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
            let unresolved: Vec<String> = self
                .run_targets
                .iter()
                .filter(|(name, providers)| {
                    providers.is_empty()
                        && !cache.is_assumed(name)
                        && !self.failed_rdeps.contains(*name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for target in unresolved {
                match self.add_rprovider(cache, vars, &target) {
                    Ok(()) => added += 1,
                    Err(ResolveError::NoProvider(message)) => {
                        self.notice(Level::Error, message);
                        self.remove_run_target(cache, &target, Vec::new())?;
                    }
                    Err(err) => return Err(err),
                }
            }
            if added == 0 {
                return Ok(());
            }
        }
    }
}

/// The runtime names a recipe variant needs, as the task data takes them: RDEPENDS and
/// RRECOMMENDS, of the recipe and of each of its PACKAGES, each once, in order.
pub fn runtime_dependencies(info: &RecipeInfo) -> Vec<String> {
    let mut rdepends: Vec<String> = Vec::new();
    for package in &info.packages {
        let none = Vec::new();
        let per_package = [
            &info.rdepends,
            info.rdepends_pkg.get(package).unwrap_or(&none),
            &info.rrecommends,
            info.rrecommends_pkg.get(package).unwrap_or(&none),
        ];
        for dep in per_package.into_iter().flatten() {
            if !rdepends.contains(dep) {
                rdepends.push(dep.clone());
            }
        }
    }
    rdepends
}

fn multiple_providers(
    cache: &RecipeCache,
    name: &str,
    eligible: &[FileId],
    runtime: bool,
) -> String {
    let pns: Vec<&str> = eligible
        .iter()
        .map(|&f| cache.recipe(f).info.pn.as_str())
        .collect();
    let r = if runtime { "runtime " } else { "" };
    // Eligible providers are one per PN in PN order, with the one named like the item
    // moved first: the first is used.
    let chosen = &cache.recipe(eligible[0]).info.pn;
    let why = if chosen == name {
        "its PN is the name asked for"
    } else {
        "first of the candidates in PN order"
    };
    format!(
        "Multiple providers are available for {r}{name} ({}).\nConsider defining a PREFERRED_{}PROVIDER entry to match {name}\nUsing {chosen} ({}): {why}",
        pns.join(", "),
        if runtime { "R" } else { "" },
        cache.recipe(eligible[0]).file,
    )
}
