//! What the rest of a build needs to know about a parsed recipe without its datastore:
//! BitBake's `CoreRecipeInfo` (what its parse cache keeps).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DataError, DataStore, Value};

/// One task of a recipe: what `addtask` and the task's dependency flags say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task (`do_compile`).
    pub name: String,
    /// Tasks of the same recipe it runs after (`addtask … after …`, `[deps]`).
    pub parents: Vec<String>,
    /// Its expanded dependency flags: `depends`, `rdepends`, `deptask`, `rdeptask`,
    /// `recrdeptask`, `recideptask`, `mcdepends`, `nostamp`, `fakeroot`, `noexec`, `umask`.
    pub flags: BTreeMap<String, String>,
}

impl TaskInfo {
    /// A flag's words (`[deptask] = "do_populate_sysroot do_foo"` → both names).
    pub fn flag_words(&self, flag: &str) -> impl Iterator<Item = &str> {
        self.flags
            .get(flag)
            .map(String::as_str)
            .unwrap_or_default()
            .split_whitespace()
    }
}

/// A parsed recipe variant as the provider and task-graph code sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeInfo {
    /// `PN`.
    pub pn: String,
    /// `PE` (empty when unset).
    pub pe: String,
    /// `PV`.
    pub pv: String,
    /// `PR`.
    pub pr: String,
    /// `PROVIDES`, without version constraints.
    pub provides: Vec<String>,
    /// `RPROVIDES`.
    pub rprovides: Vec<String>,
    /// `PACKAGES` (`[PN]` when empty).
    pub packages: Vec<String>,
    /// `PACKAGES_DYNAMIC`: regular expressions of packages made at packaging time.
    pub packages_dynamic: Vec<String>,
    /// `RPROVIDES:<package>` of each package.
    pub rprovides_pkg: BTreeMap<String, Vec<String>>,
    /// Why the variant was skipped (`SkipRecipe`); the fields below are empty then.
    pub skipped: Option<String>,
    /// `DEPENDS`.
    pub depends: Vec<String>,
    /// `RDEPENDS`.
    pub rdepends: Vec<String>,
    /// `RRECOMMENDS`.
    pub rrecommends: Vec<String>,
    /// `RDEPENDS:<package>` of each package.
    pub rdepends_pkg: BTreeMap<String, Vec<String>>,
    /// `RRECOMMENDS:<package>` of each package.
    pub rrecommends_pkg: BTreeMap<String, Vec<String>>,
    /// `DEFAULT_PREFERENCE`.
    pub default_preference: i64,
    /// `EXCLUDE_FROM_WORLD` is true.
    pub exclude_from_world: bool,
    /// Classes inherited (`__inherit_cache`: the class files, in order).
    pub inherits: Vec<String>,
    /// The tasks, in `addtask` order.
    pub tasks: Vec<TaskInfo>,
}

/// `bb.utils.explode_deps`: the names of a dependency list, version constraints
/// (`(>= 1.0)`) dropped.
pub(crate) fn explode_deps(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_version = false;
    for word in text.split_whitespace() {
        if word.starts_with('(') {
            in_version = true;
        }
        if !in_version {
            names.push(word.to_owned());
        }
        if in_version && word.ends_with(')') {
            in_version = false;
        }
    }
    names
}

impl RecipeInfo {
    /// Reads a finalised recipe datastore, as `CoreRecipeInfo.__init__`.
    pub fn from_datastore(d: &DataStore) -> Result<RecipeInfo, DataError> {
        let text = |var: &str| -> Result<String, DataError> {
            Ok(d.get_var(var)?
                .filter(Value::is_truthy)
                .map(Value::into_string)
                .unwrap_or_default())
        };
        // Lists are made from the expansion where it lies, not from a copy of it.
        let with_text = |var: &str, f: &dyn Fn(&str) -> Vec<String>| {
            d.with_var(var, |value| match value {
                Some(value) if value.is_truthy() => match value {
                    Value::Str(s) => f(s),
                    other => f(&other.to_string()),
                },
                _ => Vec::new(),
            })
        };
        let deps = |var: &str| with_text(var, &explode_deps);
        let words =
            |var: &str| with_text(var, &|s| s.split_whitespace().map(str::to_owned).collect());
        let mut info = RecipeInfo {
            pn: text("PN")?,
            provides: deps("PROVIDES")?,
            rprovides: deps("RPROVIDES")?,
            packages: words("PACKAGES")?,
            packages_dynamic: words("PACKAGES_DYNAMIC")?,
            ..RecipeInfo::default()
        };
        if info.packages.is_empty() {
            info.packages.push(info.pn.clone());
        }
        let per_package = |var: &str| -> Result<BTreeMap<String, Vec<String>>, DataError> {
            let mut map = BTreeMap::new();
            for package in &info.packages {
                map.insert(package.clone(), deps(&format!("{var}:{package}"))?);
            }
            Ok(map)
        };
        info.rprovides_pkg = per_package("RPROVIDES")?;
        info.skipped = d
            .get_var_raw("__SKIPPED")?
            .filter(Value::is_truthy)
            .map(Value::into_string);
        if info.skipped.is_some() {
            return Ok(info);
        }
        info.rdepends_pkg = per_package("RDEPENDS")?;
        info.rrecommends_pkg = per_package("RRECOMMENDS")?;
        info.pe = text("PE")?;
        info.pv = text("PV")?;
        info.pr = text("PR")?;
        info.default_preference = text("DEFAULT_PREFERENCE")?.trim().parse().unwrap_or(0);
        info.exclude_from_world = crate::to_boolean(&Value::Str(text("EXCLUDE_FROM_WORLD")?));
        info.depends = deps("DEPENDS")?;
        info.rdepends = deps("RDEPENDS")?;
        info.rrecommends = deps("RRECOMMENDS")?;
        info.inherits = match d.get_var_raw("__inherit_cache")? {
            Some(Value::List(list)) => list.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        info.tasks = tasks(d)?;
        Ok(info)
    }

    /// The names this variant provides at build time: PN, then PROVIDES.
    pub fn build_provides(&self) -> Vec<&str> {
        let mut out = vec![self.pn.as_str()];
        for provide in &self.provides {
            if !out.contains(&provide.as_str()) {
                out.push(provide);
            }
        }
        out
    }

    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// The tasks of `_task_deps` (made by `bb.build.add_tasks` during finalisation).
fn tasks(d: &DataStore) -> Result<Vec<TaskInfo>, DataError> {
    let Some(Value::Map(table)) = d.get_var_raw("_task_deps")? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = match table.get("tasks") {
        Some(Value::List(list)) => list.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for name in names {
        let parents = match table.get("parents") {
            Some(Value::Map(parents)) => match parents.get(&name) {
                Some(Value::List(list)) => list.iter().map(ToString::to_string).collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let mut flags = BTreeMap::new();
        for (flag, per_task) in &table {
            if let Value::Map(per_task) = per_task
                && flag != "parents"
                && let Some(value) = per_task.get(&name)
            {
                flags.insert(flag.clone(), value.to_string());
            }
        }
        out.push(TaskInfo {
            name,
            parents,
            flags,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constraints_are_dropped() {
        assert_eq!(
            explode_deps("a (>= 1.0) b (= 2 ) c"),
            vec!["a".to_owned(), "b".into(), "c".into()]
        );
    }

    #[test]
    fn a_recipe_without_packages_packages_its_pn() {
        let d = DataStore::new();
        d.set_var("PN", "hello").unwrap();
        d.set_var("PROVIDES", "virtual/hello hello").unwrap();
        let info = RecipeInfo::from_datastore(&d).unwrap();
        assert_eq!(info.packages, vec!["hello".to_owned()]);
        assert_eq!(info.build_provides(), vec!["hello", "virtual/hello"]);
    }
}
