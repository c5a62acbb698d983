//! `bitbake -e`'s output: BitBake's `IncludeHistory.emit`, `VariableHistory.emit`,
//! `bb.data.emit_env` and the python functions `showEnvironment` prints after them.

use std::fmt::Write as _;

use crate::store::to_boolean;
use crate::{DataError, DataStore, Value};

/// The whole `bitbake -e` text for `d`, with the include history of `base` (BitBake prints
/// the base configuration's, also for a recipe).
///
/// ```
/// let d = bb_data::DataStore::new();
/// d.enable_tracking();
/// d.set_var("A", "${B} \"q\"")?;
/// d.set_var("B", "b")?;
/// d.set_var_flag("A", "export", 1)?;
/// let text = bb_data::emit_environment(&d, &d);
/// assert!(text.contains("export A=\"b \\\"q\\\"\"\n"));
/// # Ok::<(), bb_data::DataError>(())
/// ```
pub fn emit_environment(d: &DataStore, base: &DataStore) -> String {
    let mut out = include_history(base);
    out.push('\n');
    out.push_str(&emit_env(d));
    out.push('\n');
    let mut keys = d.keys().unwrap_or_default();
    keys.sort();
    for key in keys {
        if flag_is_set(d, &key, "func", false) && flag_is_set(d, &key, "python", false) {
            let body = d
                .get_var_raw(&key)
                .ok()
                .flatten()
                .map(Value::into_string)
                .unwrap_or_else(|| "None".into());
            let _ = write!(out, "\npython {key} () {{\n{body}}}\n\n");
        }
    }
    out
}

/// `IncludeHistory.emit`, without its final newline.
fn include_history(d: &DataStore) -> String {
    let mut out = String::from("#\n# INCLUDE HISTORY:\n#");
    let includes = d.include_history();
    for (i, (depth, file)) in includes.iter().enumerate() {
        let has_children = includes.get(i + 1).is_some_and(|(next, _)| next > depth);
        let _ = write!(out, "\n# {}{file}", "  ".repeat(depth - 1));
        if has_children {
            out.push_str(" includes:");
        }
    }
    out
}

fn flag_is_set(d: &DataStore, var: &str, flag: &str, expand: bool) -> bool {
    d.get_var_flag(var, flag, expand)
        .ok()
        .flatten()
        .is_some_and(|v| {
            if expand {
                to_boolean(&v)
            } else {
                v.is_truthy()
            }
        })
}

/// `bb.data.emit_env(o, d, all=True)`: variables (with their history), then shell
/// functions, each group sorted.
fn emit_env(d: &DataStore) -> String {
    let mut keys: Vec<String> = d
        .keys()
        .unwrap_or_default()
        .into_iter()
        .filter(|k| !k.starts_with("__"))
        .collect();
    keys.sort();
    let (functions, variables): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| flag_is_set(d, k, "func", false));
    let mut out = String::new();
    for var in variables {
        emit_var(d, &var, true, &mut out);
    }
    for func in functions {
        if emit_var(d, &func, false, &mut out) {
            out.push('\n');
        }
    }
    out
}

fn exception_name(err: &DataError) -> &'static str {
    match err {
        DataError::Expansion(_) => "ExpansionError",
        DataError::Fatal(_) => "BBHandledException",
        DataError::SkipRecipe(_) => "SkipRecipe",
    }
}

/// `bb.data.emit_var`; true when a shell function was written.
fn emit_var(d: &DataStore, var: &str, all: bool, out: &mut String) -> bool {
    let func = flag_is_set(d, var, "func", false);
    if func && flag_is_set(d, var, "python", false) {
        return false;
    }
    let export = flag_is_set(d, var, "export", true);
    let unexport = flag_is_set(d, var, "unexport", true);
    if !all && !export && !unexport && !func {
        return false;
    }
    let read = || -> Result<(Option<Value>, Option<Value>), DataError> {
        let unexpanded = if all { d.get_var_raw(var)? } else { None };
        Ok((unexpanded, d.get_var(var)?))
    };
    let (unexpanded, value) = match read() {
        Ok(values) => values,
        Err(err) => {
            let _ = writeln!(
                out,
                "# expansion of {var} threw {}: {err}",
                exception_name(&err)
            );
            return false;
        }
    };
    if all {
        out.push_str(&variable_history(d, var, unexpanded.as_ref()));
    }
    if var.contains(['-', '.', '{', '}', '+']) && !all {
        return false;
    }
    let name = d.expand(var).unwrap_or_else(|_| var.to_owned());
    if unexport {
        let _ = writeln!(out, "unset {name}");
        return false;
    }
    // A variable set to python's None has no value to print (BitBake's `val is None`).
    let Some(value) = value.filter(|v| !matches!(v, Value::None)) else {
        return false;
    };
    let value = value.to_string();
    if let Some(function) = name.strip_prefix("BASH_FUNC_") {
        let function = &function[..function.len().saturating_sub(2)];
        let body = value.get(3..).unwrap_or_default();
        let _ = writeln!(out, "{function}() {body}\nexport -f {function}");
        return true;
    }
    if func {
        let flag = |f: &str| {
            d.get_var_flag(var, f, false)
                .ok()
                .flatten()
                .map_or_else(|| "None".to_owned(), |v| v.to_string())
        };
        let _ = writeln!(
            out,
            "# line: {}, file: {}",
            flag("lineno"),
            flag("filename")
        );
        let _ = writeln!(out, "{name}() {{\n{}\n}}", value.trim_end_matches('\n'));
        return true;
    }
    if export {
        out.push_str("export ");
    }
    let _ = writeln!(out, "{name}=\"{}\"", shell_quote(&value));
    false
}

/// One variable as `bitbake-getvar` prints it (BitBake's `emit_var(var, d, all=True)`):
/// its history, then `[export ]VAR="value"` (nothing more for a python function, `unset
/// VAR` for an unexported one).
pub fn emit_variable(d: &DataStore, var: &str) -> String {
    let mut out = String::new();
    emit_var(d, var, true, &mut out);
    out
}

/// What BitBake writes into a shell task's run file before the call (`bb.data.emit_func`):
/// every exported variable, then the function `func` and every shell function it calls
/// (found by parsing the shell code, plus `[vardeps]`), transitively.
///
/// ```
/// let d = bb_data::DataStore::new();
/// d.set_var("CC", "gcc")?;
/// d.set_var_flag("CC", "export", 1)?;
/// d.set_var("helper", "    echo help\n")?;
/// d.set_var_flag("helper", "func", 1)?;
/// d.set_var("do_x", "    helper\n")?;
/// d.set_var_flag("do_x", "func", 1)?;
/// let text = bb_data::emit_function(&d, "do_x")?;
/// assert!(text.starts_with("export CC=\"gcc\"\n"));
/// assert!(text.contains("do_x() {\n    helper\n}\n") && text.contains("helper() {\n    echo help\n}\n"));
/// # Ok::<(), bb_data::DataError>(())
/// ```
pub fn emit_function(d: &DataStore, func: &str) -> Result<String, DataError> {
    let mut out = String::new();
    let mut keys: Vec<String> = d
        .keys()?
        .into_iter()
        .filter(|k| !k.starts_with("__") && !flag_is_set(d, k, "func", false))
        .collect();
    keys.sort();
    for key in keys {
        emit_var(d, &key, false, &mut out);
    }
    out.push('\n');
    if emit_var(d, func, false, &mut out) {
        out.push('\n');
    }
    let called = |name: &str| -> Result<std::collections::BTreeSet<String>, DataError> {
        let body = d.get_var(name)?.map(Value::into_string).unwrap_or_default();
        let mut names =
            crate::shell_execs(&body).map_err(|e| DataError::Fatal(format!("{name}: {e}")))?;
        if let Some(vardeps) = d.get_var_flag(name, "vardeps", true)? {
            names.extend(vardeps.to_string().split_whitespace().map(str::to_owned));
        }
        Ok(names)
    };
    let mut seen = std::collections::BTreeSet::from([func.to_owned()]);
    let mut pending = called(func)?;
    while !pending.is_empty() {
        seen.extend(pending.iter().cloned());
        let mut next = std::collections::BTreeSet::new();
        for dep in &pending {
            if flag_is_set(d, dep, "func", false) && !flag_is_set(d, dep, "python", false) {
                if emit_var(d, dep, false, &mut out) {
                    out.push('\n');
                }
                next.extend(called(dep)?);
            }
        }
        pending = &next - &seen;
    }
    Ok(out)
}

/// How `emit_var` escapes a value written between double quotes.
fn shell_quote(value: &str) -> String {
    value
        .replace('"', "\\\"")
        .replace('`', "\\`")
        .replace('\n', " \\\n")
        .replace('$', "\\$")
}

/// `VariableHistory.emit`: the operations on `var` and its override variants, and the
/// value before expansion (`unexpanded`).
fn variable_history(d: &DataStore, var: &str, unexpanded: Option<&Value>) -> String {
    let mut events = d.history(var);
    for (variant, override_name) in d.override_variants(var) {
        for mut event in d.history(&variant) {
            if event
                .flag
                .as_ref()
                .is_some_and(|f| !f.starts_with(['_', ':']))
            {
                continue;
            }
            event.variable = var.to_owned();
            event.op = format!("override[{override_name}]:{}", event.op);
            events.push(event);
        }
    }
    let shown = unexpanded
        .map_or_else(|| "None".to_owned(), Value::to_string)
        .replace('\n', "\n#");
    let mut out = String::new();
    if events.is_empty() {
        let _ = write!(
            out,
            "#\n# ${var}\n#   [no history recorded]\n#\n#   \"{shown}\"\n"
        );
        return out;
    }
    if events.len() == 1 {
        let _ = writeln!(out, "#\n# ${var}");
    } else {
        let _ = writeln!(out, "#\n# ${var} [{} operations]", events.len());
    }
    for event in &events {
        let flag = event
            .flag
            .as_ref()
            .map(|f| format!("[{f}] "))
            .unwrap_or_default();
        // An operation made by python code names the file's base name and the function.
        let (file, func) = match &event.func {
            Some(func) => (
                event.file.rsplit('/').next().unwrap_or(&event.file),
                format!(" [{func}]"),
            ),
            None => (event.file.as_str(), String::new()),
        };
        let _ = writeln!(
            out,
            "#   {} {file}:{}{func}\n#     {flag}\"{}\"",
            event.op,
            event.line,
            event.detail.replace('\n', "\n#     ")
        );
    }
    if events.len() > 1 {
        let _ = writeln!(out, "# pre-expansion value:\n#   \"{shown}\"");
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{DataStore, Value};

    #[test]
    fn a_variable_set_to_none_has_history_and_no_value() {
        let d = DataStore::new();
        d.enable_tracking();
        d.set_var("AR_FOR_TARGET", Value::None).expect("set");
        let text = super::emit_environment(&d, &d);
        assert!(text.contains("\n# $AR_FOR_TARGET\n"), "{text}");
        assert!(!text.contains("AR_FOR_TARGET=\""), "{text}");
    }
}
