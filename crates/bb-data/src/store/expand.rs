//! Expansion of `${NAME}` and `${@python}`, as BitBake's `expandWithRefs`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::{DataError, DataStore, ExpansionError, PythonFailure, Value};

/// The result of expanding one value: BitBake's `VariableParse`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    /// The expanded value.
    pub(crate) value: Option<Value>,
    /// The value before expansion, shared with the store (or the appends' result).
    pub(crate) unexpanded: Option<Arc<Value>>,
    /// Names referenced with `${NAME}`.
    pub(crate) references: BTreeSet<String>,
    /// The `:remove` values that removed something (carried from override variants).
    pub(crate) removes: Option<BTreeSet<String>>,
    /// The `${@…}` code that was evaluated, for signature dependencies.
    pub(crate) python: Vec<String>,
}

/// Characters of a name in `${NAME}`.
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_+./~:".contains(&b)
}

/// The end of a `${NAME}` reference at `start`, if there is one there.
fn var_ref_end(bytes: &[u8], start: usize) -> Option<usize> {
    if !bytes[start..].starts_with(b"${") {
        return None;
    }
    let name_len = bytes[start + 2..]
        .iter()
        .take_while(|&&b| is_name_char(b))
        .count();
    (name_len > 0 && bytes.get(start + 2 + name_len) == Some(&b'}')).then_some(start + 3 + name_len)
}

fn contains_var_ref(s: &str) -> bool {
    let bytes = s.as_bytes();
    s.match_indices("${")
        .any(|(i, _)| var_ref_end(bytes, i).is_some())
}

pub(crate) fn expand_with_refs(
    d: &DataStore,
    value: Option<Arc<Value>>,
    varname: Option<&str>,
) -> Result<Parsed, DataError> {
    let mut parsed = Parsed {
        unexpanded: value,
        ..Parsed::default()
    };
    let mut s: Cow<str> = match parsed.unexpanded.as_deref() {
        Some(Value::Str(s)) => Cow::Borrowed(s),
        other => {
            parsed.value = other.cloned();
            return Ok(parsed);
        }
    };
    while s.contains("${") {
        let mut next = substitute_var_refs(d, &s, varname, &mut parsed.references)
            .map_err(|e| add_var(e, varname))?;
        if next.contains("${@") {
            match substitute_python(d, &next, varname, &mut parsed.python) {
                Ok(Some(substituted)) => next = substituted,
                Ok(None) => {}
                Err(err) => return Err(add_var(err, varname)),
            }
        }
        if next == s {
            break;
        }
        s = Cow::Owned(next);
    }
    parsed.value = Some(Value::Str(s.into_owned()));
    Ok(parsed)
}

fn add_var(err: DataError, varname: Option<&str>) -> DataError {
    match err {
        DataError::Expansion(mut e) => {
            // As BitBake's `addVar`, for failures of nested expansions only: an error made
            // while expanding `varname` already names it.
            if let Some(name) = varname
                && e.chain.last().map(String::as_str) != Some(name)
            {
                e.chain.push(name.to_owned());
            }
            DataError::Expansion(e)
        }
        other => other,
    }
}

/// `__expand_var_regexp__.sub(var_sub, s)`.
fn substitute_var_refs(
    d: &DataStore,
    s: &str,
    varname: Option<&str>,
    references: &mut BTreeSet<String>,
) -> Result<String, DataError> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = s[search..].find("${") {
        let at = search + found;
        let Some(end) = var_ref_end(bytes, at) else {
            search = at + 1;
            continue;
        };
        let key = &s[at + 2..end - 1];
        if varname == Some(key) {
            return Err(DataError::Expansion(ExpansionError::new(
                varname,
                Some(s),
                format!("Exception: variable {key} references itself!"),
            )));
        }
        references.insert(key.to_owned());
        out.push_str(&s[copied..at]);
        let not_a_string = d.with_var(key, |value| match value {
            Some(Value::Str(value)) => {
                out.push_str(value);
                None
            }
            None | Some(Value::None) => {
                out.push_str(&s[at..end]);
                None
            }
            Some(other) => Some(other.python_type()),
        })?;
        // BitBake's substitution must return a string (re.sub raises otherwise).
        if let Some(type_name) = not_a_string {
            return Err(DataError::Expansion(ExpansionError::new(
                varname,
                Some(s),
                format!("TypeError: expected str instance, {type_name} found"),
            )));
        }
        copied = end;
        search = end;
    }
    out.push_str(&s[copied..]);
    Ok(out)
}

/// `__expand_python_regexp__.sub(python_sub, s)`; `None` when an unterminated string
/// literal stops this round (BitBake leaves the expression for later).
fn substitute_python(
    d: &DataStore,
    s: &str,
    varname: Option<&str>,
    evaluated: &mut Vec<String>,
) -> Result<Option<String>, DataError> {
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = s[search..].find("${@") {
        let at = search + found;
        let Some(end) = bb_syntax::inline_python_end(s, at) else {
            search = at + 1;
            continue;
        };
        let code = &s[at + 3..end - 1];
        out.push_str(&s[copied..at]);
        if contains_var_ref(code) {
            // Code with unexpanded references waits until they are expanded.
            out.push_str(&s[at..end]);
        } else if let Some(result) = super::fastpy::eval(d, code.trim()) {
            out.push_str(&result?);
            evaluated.push(code.to_owned());
        } else {
            let Some(python) = d.python() else {
                return Err(DataError::Expansion(ExpansionError::new(
                    varname,
                    Some(s),
                    "inline python ${@…} needs a python host, and this datastore has none".into(),
                )));
            };
            let result = crate::profile::python(
                || format!("${{@{}}}", code.trim()),
                || python.eval_inline(d, code.trim(), varname),
            );
            match result {
                Ok(result) => {
                    out.push_str(&result);
                    evaluated.push(code.to_owned());
                }
                Err(PythonFailure::UnterminatedString) => return Ok(None),
                Err(failure) => return Err(failure.into_data_error(varname, Some(s))),
            }
        }
        copied = end;
        search = end;
    }
    out.push_str(&s[copied..]);
    Ok(Some(out))
}
