//! What python code reads and calls, found in its syntax tree as BitBake's
//! `bb.codeparser.PythonParser` finds it: every call in the tree (nested functions,
//! lambdas and comprehensions included) is looked at once, nothing is run.

use std::collections::BTreeSet;

use bb_data::{CodeRefs, PythonFailure};
use ruff_python_ast::visitor::{Visitor, walk_expr};
use ruff_python_ast::{Expr, ExprCall};

const GETVARS: [&str; 4] = [
    ".getVar",
    ".appendVar",
    ".prependVar",
    "oe.utils.conditional",
];
const GETVARFLAGS: [&str; 3] = [".getVarFlag", ".appendVarFlag", ".prependVarFlag"];
const CONTAINS: [&str; 2] = ["bb.utils.contains", "base_contains"];
const CONTAINS_ANY: [&str; 2] = ["bb.utils.contains_any", "bb.utils.filter"];
const EXEC_FUNCS: [&str; 2] = ["bb.build.exec_func", "bb.build.exec_task"];

/// BitBake's `check_indent`: indented code is put under `if 1:` so that it compiles.
fn check_indent(code: &str) -> String {
    let indent = code.bytes().take_while(|b| b" \t\n".contains(b)).count();
    if indent == 0 {
        return code.to_owned();
    }
    if matches!(code.as_bytes()[indent - 1], b' ' | b'\t') {
        let code = code.strip_prefix('\n').unwrap_or(code);
        return format!("if 1:\n{code}");
    }
    code.to_owned()
}

/// Analyzes `code` (a function body or a `${@…}` expression).
pub(crate) fn analyze(code: &str) -> Result<CodeRefs, PythonFailure> {
    let mut refs = CodeRefs::default();
    if code.trim().is_empty() {
        return Ok(refs);
    }
    let source = check_indent(code);
    let parsed =
        ruff_python_parser::parse_module(&source).map_err(|e| PythonFailure::Exception {
            type_name: "SyntaxError".into(),
            message: e.to_string(),
        })?;
    let mut visitor = CallVisitor {
        refs: &mut refs,
        var_execs: BTreeSet::new(),
    };
    visitor.visit_body(&parsed.syntax().body);
    let var_execs = std::mem::take(&mut visitor.var_execs);
    refs.execs.extend(var_execs);
    Ok(refs)
}

struct CallVisitor<'r> {
    refs: &'r mut CodeRefs,
    var_execs: BTreeSet<String>,
}

/// `called_node_name`: the dotted name of `a.b.c(…)`, `None` when it is not a plain chain
/// of attributes on a name.
fn called_name(mut expr: &Expr) -> Option<String> {
    let mut parts = Vec::new();
    loop {
        match expr {
            Expr::Attribute(attr) => {
                parts.push(attr.attr.as_str());
                expr = &attr.value;
            }
            Expr::Name(name) => {
                parts.push(name.id.as_str());
                parts.reverse();
                return Some(parts.join("."));
            }
            _ => return None,
        }
    }
}

fn string_literal(expr: Option<&Expr>) -> Option<String> {
    match expr? {
        Expr::StringLiteral(s) => Some(s.value.to_str().to_owned()),
        _ => None,
    }
}

impl CallVisitor<'_> {
    fn visit_call(&mut self, call: &ExprCall) {
        let Some(name) = called_name(&call.func) else {
            return;
        };
        let args = &call.arguments.args;
        let is_getvar = GETVARS.iter().any(|s| name.ends_with(s));
        let is_getvarflag = GETVARFLAGS.iter().any(|s| name.ends_with(s));
        let is_contains = CONTAINS.contains(&name.as_str());
        let is_contains_any = CONTAINS_ANY.contains(&name.as_str());
        if is_getvar || is_getvarflag || is_contains || is_contains_any {
            // A name that is not a literal cannot be tracked (BitBake logs it at debug level).
            let Some(var) = string_literal(args.first()) else {
                return;
            };
            let second = string_literal(args.get(1));
            if is_contains && let Some(item) = second {
                self.refs.contains.entry(var).or_default().insert(item);
            } else if is_contains_any && let Some(items) = second {
                let entry = self.refs.contains.entry(var).or_default();
                entry.extend(items.split_whitespace().map(str::to_owned));
            } else if is_getvarflag {
                if let Some(flag) = second {
                    self.refs.references.insert(format!("{var}[{flag}]"));
                }
            } else {
                // Also `bb.utils.contains("X", non_literal, …)`: it reads X.
                self.refs.references.insert(var);
            }
        } else if name.ends_with(".expand") {
            if let Some(text) = string_literal(args.first()) {
                self.refs.expands.push(text);
            }
        } else if EXEC_FUNCS.contains(&name.as_str()) {
            if let Some(func) = string_literal(args.first()) {
                self.var_execs.insert(func);
            }
        } else {
            self.refs.execs.insert(name);
        }
    }
}

impl<'a> Visitor<'a> for CallVisitor<'_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            self.visit_call(call);
        }
        walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::analyze;

    #[test]
    fn finds_reads_calls_and_contains() {
        let refs = analyze(
            "    a = d.getVar(\"PV\")\n    b = bb.utils.contains(\"DISTRO_FEATURES\", \"x11\", \"y\", \"n\", d)\n    f = lambda: d.getVarFlag('X', 'doc')\n    oe.utils.helper(d.expand('${E}'))\n    bb.build.exec_func('do_it', d)\n",
        )
        .unwrap();
        assert_eq!(refs.references.iter().collect::<Vec<_>>(), ["PV", "X[doc]"]);
        assert_eq!(
            refs.execs.iter().collect::<Vec<_>>(),
            ["do_it", "oe.utils.helper"]
        );
        assert_eq!(
            refs.contains["DISTRO_FEATURES"].iter().collect::<Vec<_>>(),
            ["x11"]
        );
        assert_eq!(refs.expands, ["${E}"]);
    }
}
