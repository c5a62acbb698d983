//! The graph of tasks a build runs: BitBake's `RunQueueData.prepare` (task dependencies
//! from `addtask`, `[depends]`, `[rdepends]`, `[deptask]`, `[rdeptask]`,
//! `[recrdeptask]`, `[recideptask]`, pruned to what the targets need) and its `-g` output.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::cache::{FileId, RecipeCache};
use crate::providers::Notice;
use crate::taskdata::{TaskData, TaskKey};

/// A task of a [`TaskGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u32);

impl TaskId {
    /// Its position in the graph's order (`0..len`): where an embedder keeps what it knows
    /// of each task.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn at(index: usize) -> TaskId {
        TaskId(u32::try_from(index).expect("fewer than 2^32 tasks"))
    }
}

/// What a build was asked for: a name (PN or PROVIDES) and a task (`do_build`); a task
/// ending in `-` means only what the task depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name as given.
    pub name: String,
    /// The task.
    pub task: String,
    /// The recipe variant chosen for it.
    pub file: FileId,
}

/// Why the graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// A target or a `[depends]` names a task that does not exist.
    MissingTask(String),
    /// Tasks depend on each other in a circle (the tasks of the circle, in order).
    Cycle(Vec<String>),
    /// Two versions of one recipe would be built.
    MultipleVersions(String),
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphError::MissingTask(m) | GraphError::MultipleVersions(m) => f.write_str(m),
            GraphError::Cycle(tasks) => write!(
                f,
                "Dependency loop of {} tasks:\n  {}",
                tasks.len(),
                tasks.join(" ->\n  ")
            ),
        }
    }
}

impl std::error::Error for GraphError {}

/// A pruned task graph: every task the targets need and what each depends on.
#[derive(Debug, Clone)]
pub struct TaskGraph {
    tasks: Vec<TaskKey>,
    depends: Vec<Vec<TaskId>>,
    targets: Vec<TaskId>,
    /// Warnings and errors found while building it.
    pub notices: Vec<Notice>,
}

impl TaskGraph {
    /// Builds the graph of `targets` from resolved task data (`RunQueueData.prepare`).
    pub fn build(
        cache: &RecipeCache,
        taskdata: &TaskData,
        targets: &[Target],
    ) -> Result<TaskGraph, GraphError> {
        let keys: Vec<&TaskKey> = taskdata.task_order.iter().collect();
        let index = TaskIndex::new(&keys);
        let (mut depends, recursive) = direct_dependencies(cache, taskdata, &keys, &index)?;
        add_recursive(&keys, &index, &mut depends, &recursive);
        let (active, target_ids) = needed(cache, taskdata, targets, &index, &depends)?;
        // Only the needed tasks, numbered again in the task data's order.
        let count = keys.len();
        let mut new_id = vec![usize::MAX; count];
        let mut tasks = Vec::new();
        for (old, key) in keys.iter().enumerate() {
            if active[old] {
                new_id[old] = tasks.len();
                tasks.push((*key).clone());
            }
        }
        let depends: Vec<Vec<TaskId>> = (0..count)
            .filter(|&old| active[old])
            .map(|old| {
                let mut deps: Vec<TaskId> = depends[old]
                    .iter()
                    .map(|&d| TaskId::at(new_id[d]))
                    .collect();
                deps.sort_unstable();
                deps
            })
            .collect();
        let mut graph = TaskGraph {
            tasks,
            depends,
            targets: target_ids
                .into_iter()
                .map(|id| TaskId::at(new_id[id]))
                .collect(),
            notices: Vec::new(),
        };
        if let Some(cycle) = graph.find_cycle() {
            return Err(GraphError::Cycle(
                cycle
                    .into_iter()
                    .map(|id| graph.task_name(cache, id))
                    .collect(),
            ));
        }
        graph.check_providers(cache)?;
        Ok(graph)
    }

    /// How many tasks it has.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it has no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Every task, in the graph's order.
    pub fn ids(&self) -> impl Iterator<Item = TaskId> + use<> {
        (0..self.tasks.len()).map(TaskId::at)
    }

    /// The recipe variant and task name of a task.
    pub fn task(&self, id: TaskId) -> (FileId, &str) {
        let (file, task) = &self.tasks[id.index()];
        (*file, task)
    }

    /// What a task depends on.
    pub fn depends(&self, id: TaskId) -> &[TaskId] {
        &self.depends[id.index()]
    }

    /// The tasks the targets asked for.
    pub fn targets(&self) -> &[TaskId] {
        &self.targets
    }

    /// `PN.do_task`, as in BitBake's graph files.
    pub fn task_name(&self, cache: &RecipeCache, id: TaskId) -> String {
        let (file, task) = self.task(id);
        format!("{}.{task}", cache.recipe(file).info.pn)
    }

    /// The recipes in the graph, by PN, sorted (`pn-buildlist`).
    pub fn pns(&self, cache: &RecipeCache) -> BTreeSet<String> {
        self.tasks
            .iter()
            .map(|(file, _)| cache.recipe(*file).info.pn.clone())
            .collect()
    }

    /// A circle of dependencies, if there is one: its tasks, each depending on the next.
    fn find_cycle(&self) -> Option<Vec<TaskId>> {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.tasks.len()];
        for start in self.ids() {
            if state[start.index()] != 0 {
                continue;
            }
            let mut path: Vec<(TaskId, usize)> = vec![(start, 0)];
            state[start.index()] = 1;
            while let Some((node, next)) = path.last_mut() {
                let node = *node;
                if let Some(&dep) = self.depends(node).get(*next) {
                    *next += 1;
                    match state[dep.index()] {
                        0 => {
                            state[dep.index()] = 1;
                            path.push((dep, 0));
                        }
                        1 => {
                            let at = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                            let mut cycle: Vec<TaskId> =
                                path[at..].iter().map(|(n, _)| *n).collect();
                            cycle.push(dep);
                            return Some(cycle);
                        }
                        _ => {}
                    }
                } else {
                    state[node.index()] = 2;
                    path.pop();
                }
            }
        }
        None
    }

    /// Two recipes in the graph providing the same name: an error for two versions of one
    /// PN, a notice otherwise (unless BB_MULTI_PROVIDER_ALLOWED lists it).
    fn check_providers(&mut self, cache: &RecipeCache) -> Result<(), GraphError> {
        let mut files: Vec<FileId> = self.tasks.iter().map(|(f, _)| *f).collect();
        files.sort_unstable();
        files.dedup();
        let mut by_name: indexmap::IndexMap<&str, Vec<FileId>> = indexmap::IndexMap::new();
        for &file in &files {
            for provide in cache.recipe(file).info.build_provides() {
                by_name.entry(provide).or_default().push(file);
            }
        }
        for (name, providers) in by_name {
            if providers.len() < 2
                || cache
                    .settings
                    .multi_provider_allowed
                    .iter()
                    .any(|a| a == name)
            {
                continue;
            }
            let list: Vec<&str> = providers
                .iter()
                .map(|&f| cache.recipe(f).file.as_str())
                .collect();
            let mut seen = BTreeSet::new();
            for &file in &providers {
                let pn = &cache.recipe(file).info.pn;
                if !seen.insert(pn) {
                    return Err(GraphError::MultipleVersions(format!(
                        "Multiple versions of {pn} are due to be built ({}). Only one version of a given PN should be built in any given build. You likely need to set PREFERRED_VERSION_{pn} to select the correct version or don't depend on multiple versions.",
                        list.join(" ")
                    )));
                }
            }
            self.notices.push(Notice {
                level: crate::Level::Error,
                message: format!(
                    "Multiple .bb files are due to be built which each provide {name}:\n  {}",
                    list.join("\n  ")
                ),
            });
        }
        Ok(())
    }

    /// `task-depends.dot` as `bitbake -g` writes it.
    pub fn to_dot(&self, cache: &RecipeCache) -> String {
        let mut nodes: Vec<(String, TaskId)> = self
            .ids()
            .map(|id| (self.task_name(cache, id), id))
            .collect();
        nodes.sort();
        let mut out = String::from("digraph depends {\n");
        for (name, id) in nodes {
            let (file, task) = self.task(id);
            let recipe = cache.recipe(file);
            let info = &recipe.info;
            let _ = writeln!(
                out,
                "\"{name}\" [label=\"{} {task}\\n{}:{}-{}\\n{}\"]",
                info.pn, info.pe, info.pv, info.pr, recipe.file
            );
            let mut deps: Vec<String> = self
                .depends(id)
                .iter()
                .map(|&d| self.task_name(cache, d))
                .collect();
            deps.sort();
            for dep in deps {
                let _ = writeln!(out, "\"{name}\" -> \"{dep}\"");
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Where each task of the task data is in its order.
struct TaskIndex<'a>(FxHashMap<(FileId, &'a str), usize>);

impl<'a> TaskIndex<'a> {
    fn new(keys: &[&'a TaskKey]) -> TaskIndex<'a> {
        TaskIndex(
            keys.iter()
                .enumerate()
                .map(|(i, (file, task))| ((*file, task.as_str()), i))
                .collect(),
        )
    }

    fn get(&self, file: FileId, task: &str) -> Option<usize> {
        self.0.get(&(file, task)).copied()
    }
}

/// The tasks with `[recrdeptask]`: each with the tasks it names, the `[recideptask]`
/// tasks of those that have one, and those that name themselves.
#[derive(Default)]
struct Recursive {
    tasks: Vec<(usize, Vec<String>)>,
    itasks: FxHashMap<usize, Vec<TaskKey>>,
    self_referencing: FxHashSet<usize>,
}

/// What each task depends on directly (`addtask`, `[depends]`, `[rdepends]`, `[deptask]`,
/// `[rdeptask]`, and `[recrdeptask]`'s first level), and the recursive tasks.
fn direct_dependencies(
    cache: &RecipeCache,
    taskdata: &TaskData,
    keys: &[&TaskKey],
    index: &TaskIndex<'_>,
) -> Result<(Vec<FxHashSet<usize>>, Recursive), GraphError> {
    let lookup = |file: FileId, task: &str| index.get(file, task);
    let mut depends: Vec<FxHashSet<usize>> = vec![FxHashSet::default(); keys.len()];
    let mut recursive = Recursive::default();
    let first_provider = |targets: &indexmap::IndexMap<String, Vec<FileId>>, name: &str| {
        targets.get(name).and_then(|p| p.first().copied())
    };
    for (id, (file, task)) in keys.iter().enumerate() {
        let (file, task) = (*file, task.as_str());
        if taskdata.failed_files.contains(&file) {
            continue;
        }
        let info = &cache.recipe(file).info;
        let Some(task_info) = info.task(task) else {
            continue;
        };
        let entry = &taskdata.task_entries[&(file, task.to_owned())];
        let deps = &mut depends[id];
        for (dep_file, dep_task) in &entry.tdepends {
            if let Some(dep) = lookup(*dep_file, dep_task) {
                deps.insert(dep);
            }
        }
        let empty = Vec::new();
        let build_names = taskdata.depids.get(&file).unwrap_or(&empty);
        let run_names = taskdata.rdepids.get(&file).unwrap_or(&empty);
        let add_from = |deps: &mut FxHashSet<usize>,
                        names: &[String],
                        providers: &indexmap::IndexMap<String, Vec<FileId>>,
                        tasks: &[&str]| {
            for name in names {
                if let Some(provider) = first_provider(providers, name) {
                    for task in tasks {
                        if let Some(dep) = lookup(provider, task) {
                            deps.insert(dep);
                        }
                    }
                }
            }
        };
        let deptask: Vec<&str> = task_info.flag_words("deptask").collect();
        add_from(deps, build_names, &taskdata.build_targets, &deptask);
        let rdeptask: Vec<&str> = task_info.flag_words("rdeptask").collect();
        add_from(deps, run_names, &taskdata.run_targets, &rdeptask);
        // `[depends]` and `[rdepends]`: a named task of the name's provider, which must
        // have it.
        let named = entry
            .idepends
            .iter()
            .filter(|(name, _)| !taskdata.failed_deps.contains(name))
            .map(|named| (named, &taskdata.build_targets, "depends"))
            .chain(
                entry
                    .irdepends
                    .iter()
                    .map(|named| (named, &taskdata.run_targets, "rdepends")),
            );
        for ((name, dep_task), providers, how) in named {
            if let Some(provider) = first_provider(providers, name) {
                let dep = lookup(provider, dep_task).ok_or_else(|| {
                    GraphError::MissingTask(format!(
                        "Task {task} in {} {how} upon non-existent task {dep_task} in {}",
                        cache.recipe(file).file,
                        cache.recipe(provider).file
                    ))
                })?;
                deps.insert(dep);
            }
        }
        let recrdeptask: Vec<&str> = task_info.flag_words("recrdeptask").collect();
        if !recrdeptask.is_empty() {
            add_from(deps, build_names, &taskdata.build_targets, &recrdeptask);
            add_from(deps, run_names, &taskdata.run_targets, &recrdeptask);
            if recrdeptask.contains(&task) {
                recursive.self_referencing.insert(id);
            }
            let itasks: Vec<TaskKey> = task_info
                .flag_words("recideptask")
                .map(|t| (file, t.to_owned()))
                .collect();
            if task_info.flags.contains_key("recideptask") {
                recursive.itasks.insert(id, itasks);
            }
            recursive
                .tasks
                .push((id, recrdeptask.iter().map(|t| (*t).to_owned()).collect()));
        }
        deps.remove(&id);
    }

    Ok((depends, recursive))
}

/// `[recrdeptask]`: the named tasks of every recipe reached, until nothing is added; then
/// the self-referencing tasks no longer depend on each other.
fn add_recursive(
    keys: &[&TaskKey],
    index: &TaskIndex<'_>,
    depends: &mut [FxHashSet<usize>],
    recursive: &Recursive,
) {
    let lookup = |file: FileId, task: &str| index.get(file, task);
    // Which recipe files each task reaches, on the graph before recursion.
    let reached = reached_files(keys, depends);
    // [recrdeptask]: the named tasks of every recipe reached, until nothing is added.
    loop {
        let mut added = 0;
        for (id, tasks) in &recursive.tasks {
            let id = *id;
            let mut total: Vec<usize> = depends[id].iter().copied().collect();
            if let Some(itasks) = recursive.itasks.get(&id) {
                for (file, task) in itasks {
                    if let Some(dep) = lookup(*file, task) {
                        total.push(dep);
                        total.extend(depends[dep].iter().copied());
                    }
                }
            }
            let mut files: FxHashSet<FileId> = FxHashSet::default();
            for dep in total {
                files.extend(reached[dep].iter().copied());
            }
            for file in files {
                for task in tasks {
                    if let Some(new) = lookup(file, task)
                        && new != id
                        && depends[id].insert(new)
                    {
                        added += 1;
                    }
                }
            }
            let mut more: Vec<usize> = Vec::new();
            for (other, _) in &recursive.tasks {
                if depends[id].contains(other) {
                    more.extend(
                        depends[*other]
                            .iter()
                            .filter(|d| !depends[id].contains(d))
                            .copied(),
                    );
                }
            }
            for new in more {
                let name = &keys[new].1;
                if tasks.iter().any(|t| t == name) && depends[id].insert(new) {
                    added += 1;
                }
            }
        }
        if added == 0 {
            break;
        }
    }
    let self_referencing = &recursive.self_referencing;
    for id in self_referencing {
        depends[*id].retain(|d| !self_referencing.contains(d));
    }
}

/// Which tasks the targets need (`-` after a task: only what it depends on), and the
/// targets' tasks.
fn needed(
    cache: &RecipeCache,
    taskdata: &TaskData,
    targets: &[Target],
    index: &TaskIndex<'_>,
    depends: &[FxHashSet<usize>],
) -> Result<(Vec<bool>, Vec<usize>), GraphError> {
    let lookup = |file: FileId, task: &str| index.get(file, task);
    // Keep what the targets need.
    let mut active = vec![false; depends.len()];
    let mut target_ids = Vec::new();
    for target in targets {
        if taskdata.failed_files.contains(&target.file) {
            continue;
        }
        let (task, parents_only) = match target.task.strip_suffix('-') {
            Some(task) => (task, true),
            None => (target.task.as_str(), false),
        };
        let Some(id) = lookup(target.file, task) else {
            return Err(GraphError::MissingTask(format!(
                "Task {task} does not exist for target {} ({}:{task})",
                target.name,
                cache.recipe(target.file).file
            )));
        };
        target_ids.push(id);
        let mut stack: Vec<usize> = if parents_only {
            depends[id].iter().copied().collect()
        } else {
            vec![id]
        };
        while let Some(next) = stack.pop() {
            if !std::mem::replace(&mut active[next], true) {
                stack.extend(depends[next].iter().copied());
            }
        }
    }
    Ok((active, target_ids))
}

/// For each task, the recipe files of every task it reaches (BitBake's `cumulativedeps`:
/// the files of the tasks reached, computed from the leaves up).
fn reached_files(keys: &[&TaskKey], depends: &[FxHashSet<usize>]) -> Vec<FxHashSet<FileId>> {
    let count = keys.len();
    let mut reverse: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut remaining: Vec<usize> = depends.iter().map(FxHashSet::len).collect();
    for (id, deps) in depends.iter().enumerate() {
        for &dep in deps {
            reverse[dep].push(id);
        }
    }
    let mut reached: Vec<FxHashSet<FileId>> = vec![FxHashSet::default(); count];
    let mut ready: Vec<usize> = (0..count).filter(|&id| remaining[id] == 0).collect();
    while let Some(id) = ready.pop() {
        let file = keys[id].0;
        let mine = std::mem::take(&mut reached[id]);
        for &user in &reverse[id] {
            let theirs = &mut reached[user];
            theirs.insert(file);
            theirs.extend(mine.iter().copied());
            remaining[user] -= 1;
            if remaining[user] == 0 {
                ready.push(user);
            }
        }
        reached[id] = mine;
    }
    reached
}
