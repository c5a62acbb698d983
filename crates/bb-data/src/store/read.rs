//! Reading: values and flags with overrides, pending operations and expansion applied,
//! keys, and the overrides themselves.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use indexmap::IndexMap;

use super::expand::{self, Parsed};
use super::{
    CONTENT, DEFAULTVAL, DataStore, Inner, RawAndParsed, into_string, pending_entries,
    split_keep_whitespace, to_boolean,
};
use crate::{DataError, ExpansionError, LogLevel, Value};

/// Options of a read (BitBake's `getVarFlag` keyword arguments).
#[derive(Debug, Clone, Copy)]
pub(super) struct Read {
    pub(super) expand: bool,
    pub(super) noweakdefault: bool,
    pub(super) parsing: bool,
    pub(super) retparser: bool,
}

impl DataStore {
    /// `d.getVar(var)`: overrides, appends and removes applied, fully expanded.
    pub fn get_var(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, CONTENT, Read::plain(true))?.0)
    }

    /// `d.getVar(var, expand, noweakdefault, parsing)` with every option.
    pub fn get_var_with(
        &self,
        var: &str,
        expand: bool,
        noweakdefault: bool,
        parsing: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                CONTENT,
                Read {
                    expand,
                    noweakdefault,
                    parsing,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlag(var, flag, expand, noweakdefault)` with every option.
    pub fn get_var_flag_with(
        &self,
        var: &str,
        flag: &str,
        expand: bool,
        noweakdefault: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                flag,
                Read {
                    expand,
                    noweakdefault,
                    parsing: false,
                    retparser: false,
                },
            )?
            .0)
    }

    /// Identifies the store (not the contents): two handles to one store share it.
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.inner) as *const () as usize
    }

    /// The words of `var`'s expanded value (none when it is unset).
    pub(crate) fn get_var_words(&self, var: &str) -> Result<Vec<String>, DataError> {
        Ok(self
            .get_var_str(var)?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect())
    }

    /// `d.getVar(var)` as a string (`None` when unset).
    pub fn get_var_str(&self, var: &str) -> Result<Option<String>, DataError> {
        Ok(self.get_var(var)?.map(Value::into_string))
    }

    /// `d.getVar(var, False)`: overrides and appends applied, not expanded, no removes.
    pub fn get_var_raw(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, CONTENT, Read::plain(false))?.0)
    }

    /// `d.getVar(var, False, noweakdefault=True, parsing=True)`: the base value only, as
    /// the `?=` and `+=` operators see it.
    pub fn get_var_base(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                CONTENT,
                Read {
                    expand: false,
                    noweakdefault: true,
                    parsing: true,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlag(var, flag, expand)`.
    pub fn get_var_flag(
        &self,
        var: &str,
        flag: &str,
        expand: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, flag, Read::plain(expand))?.0)
    }

    /// `d.getVarFlag(var, flag, False, retparser=True)`: the unexpanded value and its
    /// expansion.
    pub(crate) fn get_var_flag_parsed(
        &self,
        var: &str,
        flag: &str,
    ) -> Result<(Option<Value>, Rc<Parsed>), DataError> {
        let read = Read {
            retparser: true,
            ..Read::plain(false)
        };
        let (value, parsed) = self.get_var_flag_full(var, flag, read)?;
        Ok((value, parsed.unwrap_or_default()))
    }

    /// `d.getVarFlag(var, flag, expand=False, noweakdefault=True)`: ignores `??=` defaults.
    pub fn get_var_flag_no_default(
        &self,
        var: &str,
        flag: &str,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                flag,
                Read {
                    expand: false,
                    noweakdefault: true,
                    parsing: false,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlags(var, internalflags=True)`: every flag, internal ones included.
    pub fn get_var_flags_internal(&self, var: &str) -> IndexMap<String, Value> {
        self.inner
            .borrow()
            .find(var)
            .map(|data| {
                data.iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `d.delVarFlags(var)`: all flags go, the value stays.
    pub fn del_var_flags(&self, var: &str) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if inner.find(var).is_none() {
            return;
        }
        let data = inner.local_mut(var);
        let content = data.shift_remove(CONTENT);
        data.clear();
        if let Some(content) = content {
            data.insert(CONTENT, content);
        }
    }

    /// `d.getVarFlags(var)`: the user-visible flags (internal `_`/`:` ones left out,
    /// `??=` flag defaults shown where no value is set). Unexpanded.
    pub fn get_var_flags(&self, var: &str) -> IndexMap<String, Value> {
        let inner = self.inner.borrow();
        let mut flags = IndexMap::new();
        if let Some(data) = inner.find(var) {
            for (name, value) in data.iter() {
                if let Some(flag) = name.strip_prefix("_defaultval_flag_") {
                    if !data.contains_key(flag) {
                        flags.insert(flag.to_owned(), value.clone());
                    }
                } else if !name.starts_with(['_', ':']) {
                    flags.insert(name.to_owned(), value.clone());
                }
            }
        }
        flags
    }

    /// Whether `var` exists in this store (possibly with no value).
    pub fn contains(&self, var: &str) -> bool {
        self.inner.borrow().find(var).is_some_and(|d| !d.is_empty())
    }

    /// `d.expand(s)`.
    pub fn expand(&self, s: &str) -> Result<String, DataError> {
        Ok(self
            .expand_with_refs(Some(Arc::new(Value::Str(s.to_owned()))), None)?
            .value
            .map(Value::into_string)
            .unwrap_or_default())
    }

    /// `d.expand(s, varname)`: self-references of `varname` are errors.
    pub fn expand_named(&self, s: &str, varname: &str) -> Result<String, DataError> {
        Ok(self
            .expand_with_refs(Some(Arc::new(Value::Str(s.to_owned()))), Some(varname))?
            .value
            .map(Value::into_string)
            .unwrap_or_default())
    }

    /// The keys of the store, as `iter(d)`: every variable not deleted, plus variables
    /// that only exist through an active override.
    pub fn keys(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let inner = self.inner.borrow();
        // Sorted and unique; one sort of a vector is cheaper than a tree of ~10k keys.
        let mut keys: Vec<String> = inner.visible_vars(|_| true).cloned().collect();
        keys.extend(inner.overridden_keys(|_| true).map(str::to_owned));
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// `[k for k in d.keys() if d.getVarFlag(k, flag)]` (expanded), in that order, looking
    /// only at the variables that hold the flag or its weak default: a key made only by
    /// overrides has no flags of its own. `bb.build` lists a recipe's tasks so.
    pub fn keys_with_flag(&self, flag: &str) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let weak_default = format!("_defaultval_flag_{flag}");
        let candidates: BTreeSet<String> = self
            .inner
            .borrow()
            .visible_vars(|data| data.contains_key(flag) || data.contains_key(&weak_default))
            .cloned()
            .collect();
        let mut keys = Vec::new();
        for key in candidates {
            if self
                .get_var_flag_with(&key, flag, true, false)?
                .is_some_and(|v| v.is_truthy())
            {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// The keys of [`DataStore::keys`] that contain `${`, found without listing every key.
    pub(super) fn templated_keys(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let inner = self.inner.borrow();
        let mut candidates: BTreeSet<&str> = inner
            .local
            .keys()
            .filter(|k| k.contains("${"))
            .map(String::as_str)
            .collect();
        let mut parent = inner.parent.as_deref();
        while let Some(layer) = parent {
            let names = layer.templated_names.get_or_init(|| {
                layer
                    .vars
                    .keys()
                    .filter(|k| k.contains("${"))
                    .cloned()
                    .collect()
            });
            candidates.extend(names.iter().map(String::as_str));
            parent = layer.parent.as_deref();
        }
        let mut keys: BTreeSet<String> = candidates
            .into_iter()
            .filter(|k| inner.find(k).is_some_and(|d| !d.is_empty()))
            .map(str::to_owned)
            .collect();
        keys.extend(
            inner
                .overridden_keys(|k| k.contains("${"))
                .map(str::to_owned),
        );
        Ok(keys.into_iter().collect())
    }

    /// Whether override variants of `var` exist (`d.hasOverrides`).
    pub fn has_overrides(&self, var: &str) -> bool {
        self.inner.borrow().overridedata.contains_key(var)
    }

    /// Keys set in this store itself, not inherited from a parent (`d.localkeys()`).
    pub fn local_keys(&self) -> Vec<String> {
        let inner = self.inner.borrow();
        let mut keys: BTreeSet<String> = inner.local.keys().cloned().collect();
        let mut layer = inner.parent.as_deref();
        for _ in 0..inner.own_layers {
            let Some(current) = layer else { break };
            keys.extend(current.vars.keys().cloned());
            layer = current.parent.as_deref();
        }
        keys.into_iter().collect()
    }

    /// `d.expandVarref(variable)`: in every local variable, `${variable}` is replaced by
    /// the variable's unexpanded value (used for `LAYERDIR`).
    pub fn expand_var_ref(&self, variable: &str) -> Result<(), DataError> {
        let reference = format!("${{{variable}}}");
        let value = self
            .get_var_raw(variable)?
            .map(Value::into_string)
            .unwrap_or_default();
        for key in self.local_keys() {
            if let Some(Value::Str(referrer)) = self.get_var_raw(&key)?
                && referrer.contains(&reference)
            {
                self.set_var(&key, referrer.replace(&reference, &value))?;
            }
        }
        Ok(())
    }

    /// The active overrides (`OVERRIDES` split on `:`, after the fixpoint).
    pub fn overrides(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        Ok(self.inner.borrow().overrides.clone().unwrap_or_default())
    }

    /// BitBake's `need_overrides`: expand OVERRIDES until stable, at most 5 times.
    pub(super) fn need_overrides(&self) -> Result<(), DataError> {
        {
            let inner = self.inner.borrow();
            if inner.overrides.is_some() || inner.inoverride {
                return Ok(());
            }
        }
        let split = |value: Option<Value>| -> Vec<String> {
            value
                .map(Value::into_string)
                .unwrap_or_default()
                .split(':')
                .map(str::to_owned)
                .collect()
        };
        let mut stack = Vec::new();
        for _ in 0..5 {
            {
                let mut inner = self.inner.borrow_mut();
                inner.inoverride = true;
                inner.overrides = Some(Vec::new());
                inner.overridesset.clear();
                inner.overrides_generation += 1;
            }
            let result = self.get_var_flag_full("OVERRIDES", CONTENT, Read::plain(true));
            let current = match result {
                Ok((value, _)) => split(value),
                Err(err) => {
                    let mut inner = self.inner.borrow_mut();
                    inner.inoverride = false;
                    inner.overrides = None;
                    return Err(err);
                }
            };
            {
                let mut inner = self.inner.borrow_mut();
                inner.overridesset = current.iter().cloned().collect();
                inner.overrides = Some(current.clone());
                inner.overrides_generation += 1;
                inner.inoverride = false;
                Self::clear_expand_cache(&mut inner);
            }
            stack.push(current.clone());
            let again = split(
                self.get_var_flag_full("OVERRIDES", CONTENT, Read::plain(true))?
                    .0,
            );
            let mut inner = self.inner.borrow_mut();
            if again == current {
                return Ok(());
            }
            inner.overridesset = again.iter().cloned().collect();
            inner.overrides = Some(again);
            inner.overrides_generation += 1;
        }
        Err(DataError::Fatal(format!(
            "Overrides could not be expanded into a stable state after 5 iterations, overrides must be being referenced by other overridden variables in some recursive fashion. The list of failing override expansions: {}",
            stack
                .iter()
                .map(|s| s.join(":"))
                .collect::<Vec<_>>()
                .join("\n")
        )))
    }

    /// BitBake's `getVarFlag`, with all its options. A read that needs its own result
    /// (`A = "${B}"`, `B = "${A}"`, or a `:remove` of `${A}` on A) is an expansion error
    /// naming the chain; BitBake reaches the same through python's recursion limit.
    pub(super) fn get_var_flag_full(
        &self,
        var: &str,
        flag: &str,
        read: Read,
    ) -> Result<(Option<Value>, Option<Rc<Parsed>>), DataError> {
        let (raw, parsed) = self.read(var, flag, read)?;
        let value = match &parsed {
            Some(parsed) if read.expand => parsed.value.clone(),
            _ => raw.map(Arc::unwrap_or_clone),
        };
        Ok((value, parsed))
    }

    /// `d.getVar(var)` lent to `f`: a read the expansion cache holds is not copied.
    pub fn with_var<T>(
        &self,
        var: &str,
        f: impl FnOnce(Option<&Value>) -> T,
    ) -> Result<T, DataError> {
        self.with_var_flag(var, CONTENT, f)
    }

    /// `d.getVarFlag(var, flag)` lent to `f`, as [`DataStore::with_var`].
    pub fn with_var_flag<T>(
        &self,
        var: &str,
        flag: &str,
        f: impl FnOnce(Option<&Value>) -> T,
    ) -> Result<T, DataError> {
        let (_, parsed) = self.read(var, flag, Read::plain(true))?;
        Ok(f(parsed.as_ref().and_then(|p| p.value.as_ref())))
    }

    /// A read with its expansion (always there when `read.expand` or `read.retparser`),
    /// and the unexpanded value when it is not expanded. An expanded value is only in
    /// the expansion: a caller wanting its own copy makes it.
    pub(super) fn read(
        &self,
        var: &str,
        flag: &str,
        read: Read,
    ) -> Result<RawAndParsed, DataError> {
        // Most reads are of content and hit the cache: they allocate nothing.
        let cachename: std::borrow::Cow<str> = if flag == CONTENT {
            var.into()
        } else {
            format!("{var}[{flag}]").into()
        };
        if !read.noweakdefault {
            let inner = self.inner.borrow();
            if let Some(cached) = inner.expand_cache.get(&*cachename) {
                if read.expand {
                    return Ok((None, Some(cached.clone())));
                }
                if read.retparser {
                    return Ok((cached.unexpanded.clone(), Some(cached.clone())));
                }
            }
        }
        {
            let mut inner = self.inner.borrow_mut();
            let Inner {
                reading,
                reading_depth,
                inoverride,
                overrides_generation,
                ..
            } = &mut *inner;
            let state = (*inoverride, *overrides_generation);
            let active = &reading[..*reading_depth];
            if active
                .iter()
                .any(|(n, o, g)| *n == *cachename && (*o, *g) == state)
            {
                let mut chain: Vec<&str> = active.iter().map(|(n, _, _)| n.as_str()).collect();
                chain.push(&cachename);
                let start = chain.iter().position(|n| **n == *cachename).unwrap_or(0);
                return Err(DataError::Expansion(crate::ExpansionError::new(
                    Some(&cachename),
                    None,
                    format!(
                        "variable {cachename} references itself (through {})",
                        chain[start..].join(" -> ")
                    ),
                )));
            }
            // The stack's entries keep their buffers for the next reads at that depth.
            match reading.get_mut(*reading_depth) {
                Some(entry) => {
                    entry.0.clear();
                    entry.0.push_str(&cachename);
                    (entry.1, entry.2) = state;
                }
                None => reading.push((cachename.to_string(), state.0, state.1)),
            }
            *reading_depth += 1;
        }
        let result = self.read_unguarded(var, flag, &cachename, read);
        self.inner.borrow_mut().reading_depth -= 1;
        result
    }

    pub(super) fn read_unguarded(
        &self,
        var: &str,
        flag: &str,
        cachename: &str,
        read: Read,
    ) -> Result<RawAndParsed, DataError> {
        let content = flag == CONTENT;
        // Shared with the store until an append or prepend makes a new value.
        let mut value: Option<Arc<Value>> = None;
        let mut removes: BTreeSet<String> = BTreeSet::new();

        // An active override variant replaces the value (and carries its removes).
        if content
            && !read.parsing
            && let Some((winning, parsed)) = self.winning_override(var)?
        {
            value = winning;
            if let Some(carried) = parsed.and_then(|p| p.removes.clone()) {
                removes = carried;
            }
        }

        let (appends, prepends, local_removes) = {
            let inner = self.inner.borrow();
            let data = inner.find(var);
            if let Some(data) = data
                && value.is_none()
            {
                if let Some(v) = data.get_shared(flag) {
                    value = Some(v);
                } else if content && !read.noweakdefault && data.contains_key(DEFAULTVAL) {
                    value = data.get_shared(DEFAULTVAL);
                } else if !read.noweakdefault
                    && let Some((name, _)) = data
                        .iter()
                        .find(|(name, _)| name.strip_prefix("_defaultval_flag_") == Some(flag))
                {
                    value = data.get_shared(name);
                }
            }
            // `None`: the variable has no such flag at all (BitBake then does not even
            // compute the overrides).
            let pending = |keyword: &str| -> Option<Arc<Value>> {
                if !content || read.parsing {
                    return None;
                }
                data?.get_shared(keyword)
            };
            (pending(":append"), pending(":prepend"), pending(":remove"))
        };

        let applies = |o: Option<&str>, overrides: &[String]| {
            o.is_none_or(|o| o.split(':').all(|p| overrides.iter().any(|x| x == p)))
        };
        // Appends first, then prepends, as BitBake applies them.
        for (pending, at_end) in [(&appends, true), (&prepends, false)] {
            let Some(pending) = pending else { continue };
            self.need_overrides()?;
            let inner = self.inner.borrow();
            let overrides = inner.overrides.as_deref().unwrap_or_default();
            for (text, o) in pending_entries(pending) {
                if applies(o, overrides) {
                    let base = value.take().map(into_string).unwrap_or_default();
                    let joined = if at_end {
                        base + &text
                    } else {
                        text.into_owned() + &base
                    };
                    value = Some(Arc::new(Value::Str(joined)));
                }
            }
        }

        let mut parsed = None;
        if read.expand {
            parsed = Some(self.expand_with_refs(value.take(), Some(cachename))?);
        } else if read.retparser {
            parsed = Some(self.expand_with_refs(value.clone(), Some(cachename))?);
        }

        let current = match &parsed {
            Some(parsed) if read.expand => parsed.value.as_ref(),
            _ => value.as_deref(),
        };
        let truthy = current.is_some_and(Value::is_truthy);
        if truthy && content && !read.parsing {
            if let Some(local_removes) = &local_removes {
                self.need_overrides()?;
                let inner = self.inner.borrow();
                let overrides = inner.overrides.as_deref().unwrap_or_default();
                for (text, o) in pending_entries(local_removes) {
                    if applies(o, overrides) {
                        removes.insert(text.into_owned());
                    }
                }
            }
            if !removes.is_empty()
                && let Some(parsed) = parsed.as_mut()
            {
                self.apply_removes(parsed, &removes)?;
            }
        }

        if read.expand
            && flag == CONTENT
            && let Some(parsed) = &mut parsed
            && let Some(Value::Str(current)) = &parsed.value
            && !current.is_empty()
        {
            let base = var.split(':').next().unwrap_or(var);
            let filter = self.inner.borrow().filters.get(base).cloned();
            if let Some(filter) = filter {
                let filtered = self.apply_filter(var, current, &filter)?;
                parsed.value = Some(Value::Str(filtered));
            }
        }

        let parsed = parsed.map(Rc::new);
        if let Some(parsed) = &parsed
            && !read.noweakdefault
        {
            self.inner
                .borrow_mut()
                .expand_cache
                .insert(cachename.to_owned(), parsed.clone());
        }
        Ok((value, parsed))
    }

    /// The read of `var`'s winning override variant, if one is active (its expansion
    /// carries its removes).
    fn winning_override(&self, var: &str) -> Result<Option<RawAndParsed>, DataError> {
        if !self.inner.borrow().overridedata.contains_key(var) {
            return Ok(None);
        }
        self.need_overrides()?;
        let winner = {
            let inner = self.inner.borrow();
            let variants = inner.overridedata.get(var);
            variants.and_then(|variants| inner.override_winner(variants))
        };
        let Some(winner) = winner else {
            return Ok(None);
        };
        let read = self.read(
            &winner,
            CONTENT,
            Read {
                expand: false,
                noweakdefault: false,
                parsing: false,
                retparser: true,
            },
        )?;
        Ok(Some(read))
    }

    /// `:remove`: every word of the expanded value equal to a word of an expanded remove
    /// is dropped (whitespace between the others kept); `parsed` records which removes
    /// applied.
    fn apply_removes(
        &self,
        parsed: &mut Parsed,
        removes: &BTreeSet<String>,
    ) -> Result<(), DataError> {
        let mut expanded: Vec<(String, Vec<String>)> = Vec::new();
        for r in removes {
            let words = self
                .expand(r)?
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            expanded.push((r.clone(), words));
        }
        let current = parsed
            .value
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut applied = BTreeSet::new();
        let mut kept = String::with_capacity(current.len());
        for piece in split_keep_whitespace(&current) {
            let mut skip = false;
            for (r, words) in &expanded {
                if words.iter().any(|w| w == piece) {
                    applied.insert(r.clone());
                    skip = true;
                }
            }
            if !skip {
                kept.push_str(piece);
            }
        }
        parsed.removes = Some(applied);
        parsed.value = Some(Value::Str(kept));
        Ok(())
    }

    /// `d.setVarFilter(var, expression)`: expanded reads of `var` (and its override
    /// variants) pass through the python `expression` with `val` bound to the value; an
    /// empty expression removes the filter.
    pub fn set_var_filter(&self, var: &str, expression: &str) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if expression.is_empty() {
            inner.filters.remove(var);
        } else {
            inner.filters.insert(var.to_owned(), expression.to_owned());
        }
    }

    pub(super) fn apply_filter(
        &self,
        var: &str,
        value: &str,
        filter: &str,
    ) -> Result<String, DataError> {
        let Some(python) = self.python() else {
            return Err(DataError::Expansion(ExpansionError::new(
                Some(var),
                Some(filter),
                "a variable filter needs a python host, and this datastore has none".into(),
            )));
        };
        python
            .apply_filter(value, filter)
            .map_err(|failure| failure.into_data_error(Some(var), Some(filter)))
    }

    pub(crate) fn expand_with_refs(
        &self,
        value: Option<Arc<Value>>,
        varname: Option<&str>,
    ) -> Result<Parsed, DataError> {
        expand::expand_with_refs(self, value, varname)
    }

    /// BitBake's `expandKeys`: every key containing `${` is renamed to its expansion.
    pub fn expand_keys(&self) -> Result<(), DataError> {
        let mut todo = Vec::new();
        for key in self.templated_keys()? {
            let expanded = self.expand(&key)?;
            if expanded != key {
                todo.push((key, expanded));
            }
        }
        todo.sort();
        for (key, expanded) in todo {
            if let Some(existing) = self.get_var_raw(&expanded)?
                && let Some(value) = self.get_var_raw(&key)?
            {
                self.log(
                    LogLevel::Warning,
                    format!("Variable key {key} ({value}) replaces original key {expanded} ({existing})."),
                );
            }
            self.rename_var(&key, &expanded)?;
        }
        Ok(())
    }

    /// Names of exported variables (`[export]` true and `[unexport]` false), as
    /// `bb.data.exported_keys`.
    pub fn exported_keys(&self) -> Result<Vec<String>, DataError> {
        let mut out = Vec::new();
        for key in self.keys()? {
            if key.starts_with("__") {
                continue;
            }
            let flag = |name: &str| -> Result<bool, DataError> {
                Ok(self
                    .get_var_flag(&key, name, true)?
                    .is_some_and(|v| to_boolean(&v)))
            };
            if flag("export")? && !flag("unexport")? {
                out.push(key);
            }
        }
        Ok(out)
    }
}

impl Read {
    pub(super) fn plain(expand: bool) -> Read {
        Read {
            expand,
            noweakdefault: false,
            parsing: false,
            retparser: false,
        }
    }
}
