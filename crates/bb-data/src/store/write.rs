//! Writing: setting, deleting, appending and renaming variables and flags, with the
//! bookkeeping BitBake does on each write (pending operations, override tables, renamed
//! variables, history).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::layers::Variant;
use super::{
    CONTENT, DEFAULTVAL, DataStore, Inner, Read, SETVAR_KEYWORDS, VarData, override_active,
    override_indexes, split_setvar_keyword,
};
use crate::history::{Event, Origin};
use crate::{DataError, LogLevel, Value};

impl DataStore {
    /// `d.setVar(var, value)` from python: pending `:append`/`:prepend`/`:remove` and
    /// active override variants of `var` are dropped.
    pub fn set_var(&self, var: &str, value: impl Into<Value>) -> Result<(), DataError> {
        self.set_var_full(var, value.into(), false, None, "set")
    }

    /// An assignment from a metadata file (`parsing=True`): pending operations are kept.
    pub fn set_var_parsing(
        &self,
        var: &str,
        value: impl Into<Value>,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.set_var_full(var, value.into(), true, origin, op)
    }

    /// `setVar` with everything BitBake's callers pass: `parsing`, the origin, the history
    /// op name and the detail shown in the history (the text written; for `+=` only the
    /// appended part).
    pub fn set_var_logged(
        &self,
        var: &str,
        value: Value,
        parsing: bool,
        origin: Option<&Origin>,
        op: &str,
        detail: &str,
    ) -> Result<(), DataError> {
        self.with_detail(detail, || {
            self.set_var_full(var, value, parsing, origin, op)
        })
    }

    pub(super) fn set_var_full(
        &self,
        var: &str,
        value: Value,
        parsing: bool,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        if !var.starts_with("__anon_")
            && ["_append", "_prepend", "_remove"]
                .iter()
                .any(|k| var.contains(k))
        {
            let mut info = var.to_owned();
            if let Some(origin) = origin {
                info.push_str(&format!(" file: {} line: {}", origin.file, origin.line));
            }
            return Err(DataError::Fatal(format!(
                "Variable {info} contains an operation using the old override syntax. Please convert this layer/metadata before attempting to use with a newer bitbake."
            )));
        }
        let shortvar = var.split(':').next().unwrap_or(var);
        self.check_renamed(shortvar, var, origin)?;

        if let Some((base, keyword, override_)) = split_setvar_keyword(var) {
            let mut inner = self.inner.borrow_mut();
            Self::clear_expand_cache(&mut inner);
            let entry = Value::List(vec![
                value.clone(),
                override_.map_or(Value::None, |o| Value::Str(o.to_owned())),
            ]);
            let data = inner.local_mut(base);
            match data.get_or_insert_with(keyword, || Value::List(Vec::new())) {
                Value::List(list) => list.push(entry),
                other => *other = Value::List(vec![entry]),
            }
            let op = match override_ {
                Some(o) => format!("{keyword}[{o}]"),
                None => keyword.to_owned(),
            };
            inner.record(|| Event::new(base, &op, origin, self.history_detail(&value), None));
            Self::update_overrides(&mut inner, base);
            let is_override_var = inner.overridevars.contains(base);
            drop(inner);
            if is_override_var {
                self.update_overridevars(var, &value)?;
            }
            return Ok(());
        }

        // BitBake clears the expansion cache before looking at active override variants,
        // which may fill it again; it is not cleared after the value is stored.
        Self::clear_expand_cache(&mut self.inner.borrow_mut());
        if !parsing {
            self.drop_pending_operations(var)?;
        }
        let mut inner = self.inner.borrow_mut();
        if var.contains(':') {
            Self::update_overrides(&mut inner, var);
        }
        inner.record(|| Event::new(var, op, origin, self.history_detail(&value), None));
        // The value moves into the store: a copy only for the rare variable OVERRIDES
        // depends on (lists like `__depends` grow to hundreds of entries).
        let override_var_value = inner.overridevars.contains(var).then(|| value.clone());
        inner.local_mut(var).insert(CONTENT, value);
        drop(inner);
        if let Some(value) = override_var_value {
            self.update_overridevars(var, &value)?;
        }
        Ok(())
    }

    /// `l = d.getVar(var, False) or []; if entry not in l: l.append(entry);
    /// d.setVar(var, l)`, as BitBake keeps `__depends`. A list the store holds as a plain
    /// value of its own grows in place; anything else goes the long way.
    pub fn push_unique(&self, var: &str, entry: Value) -> Result<(), DataError> {
        {
            let mut inner = self.inner.borrow_mut();
            let plain = inner.history.is_none()
                && !inner.overridedata.contains_key(var)
                && !inner.overridevars.contains(var)
                && !inner.renames.contains_key(var)
                && !var.contains(':');
            if plain
                && let Some(data) = inner.local.get_mut(var)
                && let Some(Value::List(list)) = data.only_mut(CONTENT)
            {
                if !list.contains(&entry) {
                    list.push(entry);
                    Self::clear_expand_cache(&mut inner);
                }
                return Ok(());
            }
        }
        let mut list = crate::store::list(self.get_var_raw(var)?);
        if !list.contains(&entry) {
            list.push(entry);
            self.set_var(var, Value::List(list))?;
        }
        Ok(())
    }

    pub(super) fn check_renamed(
        &self,
        shortvar: &str,
        fullvar: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        let renamed = self.inner.borrow().renames.get(shortvar).cloned();
        let Some(renamed) = renamed else {
            return Ok(());
        };
        let mut info = String::new();
        if let Some(origin) = origin {
            info = format!("file: {} line: {}", origin.file, origin.line);
        }
        if fullvar != shortvar {
            info = format!("{info} referenced as: {fullvar}").trim().to_owned();
        }
        let info = if info.is_empty() {
            String::new()
        } else {
            format!(" ({info})")
        };
        let message = if renamed.contains(' ') {
            format!("Variable {shortvar} {renamed}{info}")
        } else {
            format!("Variable {shortvar} has been renamed to {renamed}{info}")
        };
        self.log(LogLevel::Error, message);
        // BitBake logs the error, marks the parse as failed, and goes on.
        self.set_var("_FAILPARSINGERRORHANDLED", true)
    }

    /// `setVar` without `parsing`: drop `:append`/`:prepend`/`:remove` and the override
    /// variants that are active now.
    pub(super) fn drop_pending_operations(&self, var: &str) -> Result<(), DataError> {
        let variants = {
            let mut inner = self.inner.borrow_mut();
            let has_pending = inner
                .find(var)
                .is_some_and(|d| SETVAR_KEYWORDS.iter().any(|k| d.contains_key(k)));
            if has_pending {
                let data = inner.local_mut(var);
                for keyword in SETVAR_KEYWORDS {
                    data.shift_remove(keyword);
                }
            }
            inner.overridedata.get(var).cloned()
        };
        if let Some(variants) = variants {
            self.need_overrides()?;
            let active: Vec<String> = {
                let inner = self.inner.borrow();
                variants
                    .iter()
                    .filter(|(_, o)| override_active(o, &inner.overridesset))
                    .map(|(r, _)| r.to_string())
                    .collect()
            };
            for name in active {
                self.del_var(&name);
            }
            self.inner.borrow_mut().overridedata.remove(var);
        }
        Ok(())
    }

    /// Indexes `VAR:o1:o2` under `VAR:o1` and `VAR` while each suffix looks like an
    /// override (`[a-z0-9]` first).
    pub(super) fn update_overrides(inner: &mut Inner, var: &str) {
        for (shortvar, override_) in override_indexes(var) {
            let known = inner
                .overridedata
                .get(shortvar)
                .is_some_and(|list| list.iter().any(|(v, o)| &**v == var && &**o == override_));
            if !known {
                inner
                    .overridedata
                    .variants_mut(shortvar)
                    .push((var.into(), override_.into()));
            }
        }
    }

    /// Variables that OVERRIDES depends on: changing one of them resets the overrides.
    pub(super) fn update_overridevars(&self, var: &str, value: &Value) -> Result<(), DataError> {
        let parsed = self.expand_with_refs(Some(Arc::new(value.clone())), Some(var))?;
        let mut new: BTreeSet<String> = parsed.references;
        loop {
            let fresh: Vec<String> = {
                let inner = self.inner.borrow();
                new.iter()
                    .filter(|v| !inner.overridevars.contains(*v))
                    .cloned()
                    .collect()
            };
            if fresh.is_empty() {
                break;
            }
            self.inner
                .borrow_mut()
                .overridevars
                .extend(fresh.iter().cloned());
            let mut next = BTreeSet::new();
            for name in &new {
                let value = self.get_var_flag_full(name, CONTENT, Read::plain(true))?.0;
                next.extend(
                    self.expand_with_refs(value.map(Arc::new), Some(name))?
                        .references,
                );
            }
            new = next;
        }
        let mut inner = self.inner.borrow_mut();
        inner.overrides = None;
        inner.overrides_generation += 1;
        Self::clear_expand_cache(&mut inner);
        Ok(())
    }

    /// What the history shows of a write of `value`: the value, unless the caller gave
    /// its own words ([`DataStore::with_detail`]).
    pub(super) fn history_detail(&self, value: &Value) -> String {
        self.detail_override
            .borrow()
            .clone()
            .unwrap_or_else(|| value.to_string())
    }

    /// Runs a write whose history records `detail` instead of the value written.
    pub(super) fn with_detail<T>(&self, detail: &str, write: impl FnOnce() -> T) -> T {
        // Without history the detail is never shown: no copy of it.
        if !self.is_tracking() {
            return write();
        }
        self.detail_override.replace(Some(detail.to_owned()));
        let result = write();
        self.detail_override.replace(None);
        result
    }

    /// `d.setVarFlag(var, flag, value)`.
    pub fn set_var_flag(
        &self,
        var: &str,
        flag: &str,
        value: impl Into<Value>,
    ) -> Result<(), DataError> {
        self.set_var_flag_full(var, flag, value.into(), None, "set")
    }

    /// A flag assignment from a metadata file, with its origin and history op name.
    pub fn set_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: impl Into<Value>,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.set_var_flag_full(var, flag, value.into(), origin, op)
    }

    /// `setVarFlag` with the history detail given explicitly.
    pub fn set_var_flag_logged(
        &self,
        var: &str,
        flag: &str,
        value: Value,
        origin: Option<&Origin>,
        op: &str,
        detail: &str,
    ) -> Result<(), DataError> {
        self.with_detail(detail, || {
            self.set_var_flag_full(var, flag, value, origin, op)
        })
    }

    pub(super) fn set_var_flag_full(
        &self,
        var: &str,
        flag: &str,
        value: Value,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        if var == "BB_RENAMED_VARIABLES" {
            self.inner
                .borrow_mut()
                .renames
                .insert(flag.to_owned(), value.to_string());
        }
        self.check_renamed(var, var, origin)?;
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        inner.record(|| {
            Event::new(
                var,
                op,
                origin,
                self.history_detail(&value),
                Some(flag.to_owned()),
            )
        });
        inner.local_mut(var).insert(flag, value.clone());
        if flag == DEFAULTVAL && var.contains(':') {
            Self::update_overrides(&mut inner, var);
        }
        let is_override_var = flag == DEFAULTVAL && inner.overridevars.contains(var);
        if flag == "export" || flag == "unexport" {
            let list = inner.local_mut("__exportlist");
            let mut names: BTreeSet<String> = match list.get(CONTENT) {
                Some(Value::List(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => BTreeSet::new(),
            };
            names.insert(var.to_owned());
            list.insert(
                CONTENT,
                Value::List(names.into_iter().map(Value::Str).collect()),
            );
        }
        drop(inner);
        if is_override_var {
            self.update_overridevars(var, &value)?;
        }
        Ok(())
    }

    /// `d.delVar(var)`: the variable and its flags are gone (hiding any parent's).
    pub fn del_var(&self, var: &str) {
        self.del_var_from(var, None);
    }

    /// `delVar` from a metadata file (`unset`), recorded with its origin.
    pub fn del_var_from(&self, var: &str, origin: Option<&Origin>) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        inner.record(|| Event::new(var, "del", origin, String::new(), None));
        inner.local.insert(var.to_owned(), VarData::default());
        inner.overridedata.remove(var);
        for (shortvar, override_) in override_indexes(var) {
            let listed = inner
                .overridedata
                .get(shortvar)
                .is_some_and(|list| list.iter().any(|(v, o)| &**v == var && &**o == override_));
            if listed {
                inner
                    .overridedata
                    .variants_mut(shortvar)
                    .retain(|(v, o)| !(&**v == var && &**o == override_));
            }
        }
    }

    /// `d.delVarFlag(var, flag)`.
    pub fn del_var_flag(&self, var: &str, flag: &str) {
        self.del_var_flag_from(var, flag, None);
    }

    /// `delVarFlag` recorded with the origin of the call.
    pub fn del_var_flag_from(&self, var: &str, flag: &str, origin: Option<&Origin>) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if inner.find(var).is_none() {
            return;
        }
        let data = inner.local_mut(var);
        if data.shift_remove(flag).is_some() {
            data.shift_remove(&format!("_defaultval_flag_{flag}"));
            inner.record(|| {
                Event::new(var, "delFlag", origin, String::new(), Some(flag.to_owned()))
            });
        }
    }

    /// Runs `write` without recording anything in the history: BitBake's `ignore=True`,
    /// for an operation whose caller records it in its own words.
    pub fn without_history<T>(&self, write: impl FnOnce() -> T) -> T {
        let before = std::mem::replace(&mut self.inner.borrow_mut().ignore_history, true);
        let result = write();
        self.inner.borrow_mut().ignore_history = before;
        result
    }

    /// Records one history event (when tracking: its strings are made only then).
    pub(super) fn record_event(
        &self,
        var: &str,
        op: impl fmt::Display,
        origin: Option<&Origin>,
        detail: impl fmt::Display,
        flag: Option<&str>,
    ) {
        self.inner.borrow_mut().record(|| {
            Event::new(
                var,
                &op.to_string(),
                origin,
                detail.to_string(),
                flag.map(str::to_owned),
            )
        });
    }

    /// `d.appendVar(var, value)`: an `:append` entry.
    pub fn append_var(&self, var: &str, value: &str) -> Result<(), DataError> {
        self.append_var_from(var, value, None)
    }

    /// `appendVar` recorded as BitBake does: one `append` event from `origin`.
    pub fn append_var_from(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var(var, value, origin, "append")
    }

    /// `d.prependVar(var, value)`: a `:prepend` entry.
    pub fn prepend_var(&self, var: &str, value: &str) -> Result<(), DataError> {
        self.prepend_var_from(var, value, None)
    }

    /// `prependVar` recorded as BitBake does: one `prepend` event from `origin`.
    pub fn prepend_var_from(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var(var, value, origin, "prepend")
    }

    /// An `:append` or `:prepend` entry (`op`), recorded as one event.
    pub(super) fn add_to_var(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.record_event(var, op, origin, value, None);
        self.without_history(|| {
            self.set_var_full(&format!("{var}:{op}"), Value::from(value), true, origin, op)
        })
    }

    /// `d.appendVarFlag(var, flag, value)`.
    pub fn append_var_flag(&self, var: &str, flag: &str, value: &str) -> Result<(), DataError> {
        self.append_var_flag_from(var, flag, value, None)
    }

    /// `appendVarFlag` recorded as BitBake does: an `append` event with the added part.
    pub fn append_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var_flag(var, flag, value, origin, "append")
    }

    /// `d.prependVarFlag(var, flag, value)`.
    pub fn prepend_var_flag(&self, var: &str, flag: &str, value: &str) -> Result<(), DataError> {
        self.prepend_var_flag_from(var, flag, value, None)
    }

    /// `prependVarFlag` recorded as BitBake does: a `prepend` event with the added part.
    pub fn prepend_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var_flag(var, flag, value, origin, "prepend")
    }

    /// A flag's value with `value` added after (`append`) or before (`prepend`), recorded
    /// as one event naming the added part.
    pub(super) fn add_to_var_flag(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.record_event(var, op, origin, value, Some(flag));
        let old = self
            .get_var_flag(var, flag, false)?
            .map(Value::into_string)
            .unwrap_or_default();
        let new = if op == "prepend" {
            value.to_owned() + &old
        } else {
            old + value
        };
        self.without_history(|| self.set_var_flag_full(var, flag, Value::Str(new), origin, op))
    }

    /// `d.renameVar(key, newkey)`: value, pending operations and override variants move.
    pub fn rename_var(&self, key: &str, newkey: &str) -> Result<(), DataError> {
        self.rename_var_from(key, newkey, None)
    }

    /// `renameVar` recorded as BitBake does: `newkey` gets `key`'s history and a
    /// `rename from KEY` event, `key` a `rename (to)` event, both from `origin`.
    pub fn rename_var_from(
        &self,
        key: &str,
        newkey: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        if key == newkey {
            self.log(
                LogLevel::Warning,
                format!("Calling renameVar with equivalent keys ({key}) is invalid"),
            );
            return Ok(());
        }
        let mut found = false;
        let value = self
            .get_var_flag_full(
                key,
                CONTENT,
                Read {
                    expand: false,
                    noweakdefault: false,
                    parsing: true,
                    retparser: false,
                },
            )?
            .0;
        if let Some(value) = &value {
            {
                let mut inner = self.inner.borrow_mut();
                if !inner.ignore_history
                    && let Some(history) = &mut inner.history
                {
                    history.copy_events(key, newkey);
                }
            }
            self.record_event(
                newkey,
                format_args!("rename from {key}"),
                origin,
                value,
                None,
            );
            self.without_history(|| {
                self.set_var_full(newkey, value.clone(), true, origin, "rename")
            })?;
            found = true;
        }
        let pending: Vec<(String, Value)> = self
            .inner
            .borrow()
            .find(key)
            .map(|d| {
                SETVAR_KEYWORDS
                    .iter()
                    .filter_map(|k| d.get(k).map(|v| (k.to_string(), v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for (keyword, entries) in pending {
            let mut inner = self.inner.borrow_mut();
            Self::clear_expand_cache(&mut inner);
            // Assigning an existing flag keeps its place, as in a python dict.
            let slot = inner
                .local_mut(newkey)
                .get_or_insert_with(&keyword, || Value::List(Vec::new()));
            if !matches!(slot, Value::List(_)) {
                *slot = Value::List(Vec::new());
            }
            if let (Value::List(list), Value::List(entries)) = (slot, entries) {
                list.extend(entries);
            }
            found = true;
        }
        let variants = self.inner.borrow().overridedata.get(key).cloned();
        if let Some(variants) = variants {
            found = true;
            let renamed: Vec<Variant> = variants
                .iter()
                .map(|(v, o)| (v.replace(key, newkey).into(), o.clone()))
                .collect();
            self.inner
                .borrow_mut()
                .overridedata
                .insert(newkey, Arc::new(renamed));
            for (v, _) in variants.iter() {
                self.rename_var_from(v, &v.replace(key, newkey), origin)?;
            }
        }
        if !found {
            return Ok(());
        }
        if newkey.contains(':') && value.is_none() {
            Self::update_overrides(&mut self.inner.borrow_mut(), newkey);
        }
        self.record_event(key, "rename (to)", origin, newkey, None);
        self.without_history(|| self.del_var(key));
        Ok(())
    }
}
