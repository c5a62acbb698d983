//! What a task's signature depends on: BitBake's `bb.data.build_dependencies` and
//! `generate_dependencies`.
//!
//! Each variable or function contributes the value that is hashed and the names it
//! depends on: references `${X}`, names read in python (`d.getVar("X")`), shell commands
//! and python calls that are themselves variables or functions, exported variables for
//! shell code, `[vardeps]`, `[prefuncs]`/`[postfuncs]`, minus `[vardepsexclude]`.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::store::Parsed;
use crate::store::to_boolean;
use crate::{CodeRefs, DataError, DataStore, InlinePython, Value};

/// The signature inputs of one variable or function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarDeps {
    /// The names it depends on (variables, functions, `VAR[flag]`).
    pub deps: BTreeSet<String>,
    /// The value that is hashed (`None` for an unset `VAR[flag]`).
    pub value: Option<String>,
}

/// Computes signature dependencies for one recipe's datastore, with BitBake's settings
/// read once: the datastore keys, the exported variables (which shell code depends on),
/// `BB_SIGNATURE_EXCLUDE_FLAGS`, `BB_BASEHASH_IGNORE_VARS` and `BB_HASH_CODEPARSER_VALS`.
///
/// ```
/// use bb_data::{DataStore, Signatures};
///
/// let d = DataStore::new();
/// d.set_var("B", "b")?;
/// d.set_var("helper", "    :\n")?;
/// d.set_var_flag("helper", "func", "1")?;
/// d.set_var("do_x", "    echo ${B}\n    helper\n")?;
/// d.set_var_flag("do_x", "func", "1")?;
/// let deps = Signatures::new(&d)?.dependencies("do_x")?;
/// assert_eq!(deps.deps.iter().collect::<Vec<_>>(), ["B", "helper"]);
/// assert_eq!(deps.value.as_deref(), Some("    echo ${B}\n    helper\n"));
/// # Ok::<(), bb_data::DataError>(())
/// ```
pub struct Signatures {
    d: DataStore,
    keys: BTreeSet<String>,
    exported: BTreeSet<String>,
    flags_excluded: Option<Vec<String>>,
    ignored: BTreeSet<String>,
    codeparse: DataStore,
}

fn words(value: Option<Value>) -> Vec<String> {
    value
        .map(|v| {
            v.to_string()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Signatures {
    /// Reads the settings from `d`.
    pub fn new(d: &DataStore) -> Result<Signatures, DataError> {
        let keys = d
            .keys()?
            .into_iter()
            .filter(|k| !k.starts_with("__"))
            .collect();
        let exported = d.exported_keys()?.into_iter().collect();
        let flags_excluded = d
            .get_var_str("BB_SIGNATURE_EXCLUDE_FLAGS")?
            .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|v| !v.is_empty());
        let ignored = words(d.get_var("BB_BASEHASH_IGNORE_VARS")?)
            .into_iter()
            .collect();
        let codeparse = d.create_copy();
        for forced in words(d.get_var("BB_HASH_CODEPARSER_VALS")?) {
            let Some((key, value)) = forced.split_once('=') else {
                return Err(DataError::Fatal(format!(
                    "BB_HASH_CODEPARSER_VALS: '{forced}' is not KEY=VALUE"
                )));
            };
            codeparse.set_var(key, value)?;
        }
        Ok(Signatures {
            d: d.clone(),
            keys,
            exported,
            flags_excluded,
            ignored,
            codeparse,
        })
    }

    /// Every task of `__BBTASKS` and everything it depends on, transitively (BitBake's
    /// `generate_dependencies`).
    pub fn all_tasks(&self) -> Result<BTreeMap<String, VarDeps>, DataError> {
        let mut out: BTreeMap<String, VarDeps> = BTreeMap::new();
        let tasks = match self.d.get_var_raw("__BBTASKS")? {
            Some(Value::List(tasks)) => tasks.iter().map(Value::to_string).collect(),
            _ => Vec::new(),
        };
        let mut todo: Vec<String> = tasks;
        while let Some(name) = todo.pop() {
            if out.contains_key(&name) {
                continue;
            }
            let deps = self.dependencies(&name)?;
            todo.extend(deps.deps.iter().filter(|d| !out.contains_key(*d)).cloned());
            out.insert(name, deps);
        }
        Ok(out)
    }

    /// The direct dependencies and hashed value of `key` (a variable, function or
    /// `VAR[flag]`): BitBake's `build_dependencies`.
    pub fn dependencies(&self, key: &str) -> Result<VarDeps, DataError> {
        let d = &self.d;
        if let Some(var_flag) = key.strip_suffix(']') {
            let (var, flag) = var_flag.split_once('[').unwrap_or((var_flag, ""));
            if flag == "vardepvalueexclude" {
                return Ok(VarDeps {
                    deps: BTreeSet::new(),
                    value: Some(String::new()),
                });
            }
            let (value, parsed) = d.get_var_flag_parsed(var, flag)?;
            let refs = self.expansion_refs(&parsed)?;
            let mut deps = refs.references;
            deps.extend(self.known(&refs.execs));
            return Ok(VarDeps {
                deps: &deps - &self.ignored,
                value: value.map(Value::into_string),
            });
        }

        let flags = d.get_var_flags(key);
        let expanded = |name: &str| -> Result<Option<String>, DataError> {
            match flags.get(name) {
                Some(Value::Str(s)) => Ok(Some(d.expand_named(s, &format!("{key}[{name}]"))?)),
                Some(other) => Ok(Some(other.to_string())),
                None => Ok(None),
            }
        };
        let vardeps = expanded("vardeps")?;
        let exclusions: BTreeSet<String> = expanded("vardepsexclude")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let is_flag = |name: &str| flags.get(name).is_some_and(to_boolean);

        let mut deps = BTreeSet::new();
        let mut value;
        if let Some(fixed) = expanded("vardepvalue")? {
            value = fixed;
        } else if is_flag("func") {
            if is_flag("python") {
                let code = self
                    .codeparse
                    .get_var_flag(key, "_content", false)?
                    .map(Value::into_string)
                    .unwrap_or_default();
                let refs = self.python_refs(key, &code)?;
                deps.extend(refs.references);
                deps.extend(self.known(&refs.execs));
                value = self.with_contains(code, &refs.contains, &exclusions)?;
            } else {
                let (hashed, parsed) =
                    self.expansion_deps(&self.codeparse, key, &exclusions, &mut deps)?;
                value = hashed;
                // BitBake hands the expanded value to the shell parser; `str(None)` if unset.
                let script = parsed
                    .value
                    .as_ref()
                    .map_or_else(|| "None".to_owned(), Value::to_string);
                let execs = crate::shell_execs(&script).map_err(|e| {
                    DataError::Fatal(format!("Error during parse shell code of {key}: {e}"))
                })?;
                deps.extend(self.exported.iter().cloned());
                deps.extend(self.known(&execs));
            }
            for name in ["prefuncs", "postfuncs", "exports"] {
                if let Some(list) = expanded(name)? {
                    deps.extend(list.split_whitespace().map(str::to_owned));
                }
            }
        } else {
            value = self.expansion_deps(d, key, &exclusions, &mut deps)?.0;
        }

        if let Some(exclude) = expanded("vardepvalueexclude")? {
            for pattern in exclude.split('|').filter(|p| !p.is_empty()) {
                value = value.replace(pattern, "");
            }
        }
        if let Some(excluded) = &self.flags_excluded {
            deps.extend(
                flags
                    .keys()
                    .filter(|f| !excluded.contains(f))
                    .map(|f| format!("{key}[{f}]")),
            );
        }
        deps.extend(
            vardeps
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned),
        );
        let deps = deps
            .into_iter()
            .filter(|d| !exclusions.contains(d) && !self.ignored.contains(d))
            .collect();
        Ok(VarDeps {
            deps,
            value: Some(value),
        })
    }

    /// The value to hash of a variable or shell function read from `store` (unexpanded,
    /// with its `contains` and `:remove` lines) and the dependencies its expansion finds.
    fn expansion_deps(
        &self,
        store: &DataStore,
        key: &str,
        exclusions: &BTreeSet<String>,
        deps: &mut BTreeSet<String>,
    ) -> Result<(String, std::rc::Rc<Parsed>), DataError> {
        let (raw, parsed) = store.get_var_flag_parsed(key, "_content")?;
        let refs = self.expansion_refs(&parsed)?;
        deps.extend(refs.references);
        deps.extend(self.known(&refs.execs));
        let value = self.with_contains(
            raw.map(Value::into_string).unwrap_or_default(),
            &refs.contains,
            exclusions,
        )?;
        let value = self.with_removes(value, deps, &parsed, exclusions)?;
        Ok((value, parsed))
    }

    fn known<'a>(&'a self, names: &'a BTreeSet<String>) -> impl Iterator<Item = String> + 'a {
        names.intersection(&self.keys).cloned()
    }

    fn host(&self) -> Result<Rc<dyn InlinePython>, DataError> {
        self.d.python().ok_or_else(|| {
            DataError::Fatal("python code needs a python host to find its dependencies".into())
        })
    }

    /// `PythonParser.parse_python`, with the references of `d.expand("…")` literals.
    fn python_refs(&self, name: &str, code: &str) -> Result<CodeRefs, DataError> {
        if code.trim().is_empty() {
            return Ok(CodeRefs::default());
        }
        let host = self.host()?;
        let mut refs = host
            .analyze(code)
            .map_err(|e| e.into_data_error(Some(name), None))?;
        for literal in std::mem::take(&mut refs.expands) {
            // BitBake expands the literal in an empty datastore.
            let empty = DataStore::new();
            empty.set_python(host.clone());
            let parsed = empty.expand_with_refs(Some(Arc::new(Value::Str(literal))), Some(name))?;
            let inner = self.expansion_refs(&parsed)?;
            refs.references.extend(inner.references);
            refs.execs.extend(inner.execs);
            merge_contains(&mut refs.contains, inner.contains);
        }
        Ok(refs)
    }

    /// The references of an expansion and of the `${@…}` code it evaluated.
    fn expansion_refs(&self, parsed: &Parsed) -> Result<CodeRefs, DataError> {
        let mut refs = CodeRefs {
            references: parsed.references.clone(),
            ..CodeRefs::default()
        };
        for code in &parsed.python {
            let inner = self.python_refs("<expansion>", code)?;
            refs.references.extend(inner.references);
            refs.execs.extend(inner.execs);
            merge_contains(&mut refs.contains, inner.contains);
        }
        Ok(refs)
    }

    /// `handle_contains`: the state of each tested item is part of the hashed value.
    fn with_contains(
        &self,
        mut value: String,
        contains: &BTreeMap<String, BTreeSet<String>>,
        exclusions: &BTreeSet<String>,
    ) -> Result<String, DataError> {
        for (var, items) in contains {
            if exclusions.contains(var) || self.ignored.contains(var) {
                continue;
            }
            let current = self.d.get_var_str(var)?.unwrap_or_default();
            let current: Vec<&str> = current.split_whitespace().collect();
            for item in items {
                let set = item.split_whitespace().all(|w| current.contains(&w));
                let state = if set { "Set" } else { "Unset" };
                value.push_str(&format!("\n{var}{{{item}}} = {state}"));
            }
        }
        Ok(value)
    }

    /// `handle_remove`: each `:remove` value is part of the hashed value and its references
    /// are dependencies (BitBake drops the calls found in them).
    fn with_removes(
        &self,
        mut value: String,
        deps: &mut BTreeSet<String>,
        parsed: &Parsed,
        exclusions: &BTreeSet<String>,
    ) -> Result<String, DataError> {
        for removed in parsed.removes.iter().flatten() {
            let expansion = self
                .d
                .expand_with_refs(Some(Arc::new(Value::Str(removed.clone()))), None)?;
            let refs = self.expansion_refs(&expansion)?;
            value.push_str(&format!("\n_remove of {removed}"));
            deps.extend(refs.references);
            value = self.with_contains(value, &refs.contains, exclusions)?;
        }
        Ok(value)
    }
}

fn merge_contains(
    into: &mut BTreeMap<String, BTreeSet<String>>,
    from: BTreeMap<String, BTreeSet<String>>,
) {
    for (var, items) in from {
        into.entry(var).or_default().extend(items);
    }
}
