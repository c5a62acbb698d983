//! The commonest `${@…}` expressions of real metadata, evaluated without python.
//!
//! openembedded-core's parse evaluates ~185,000 inline expressions; more than half are a
//! handful of shapes: `d.getVar('X')`, optionally followed by `.replace('a', 'b')` and
//! `or 'default'`, and `bb.utils.contains('VAR', 'items', 'yes', 'no', d)`. Those are
//! evaluated here with python's exact semantics; anything else (or any value that is not
//! a plain string) goes to the python host as before.

use crate::{DataError, DataStore, Value};

/// A parsed expression of one of the supported shapes.
enum Expr {
    /// `d.getVar('X'[, False])` then `.replace('a', 'b')`s, then `or 'default'`.
    GetVar {
        var: String,
        expand: bool,
        replaces: Vec<(String, String)>,
        default: Option<String>,
    },
    /// `bb.parse.vars_from_file(d.getVar('FILE', False), d)[N] or 'default'`: PN, PV or PR
    /// from the recipe's file name.
    VarsFromFile {
        index: usize,
        default: Option<String>,
    },
    /// `bb.utils.contains('VAR', 'items', 'yes', 'no', d)`.
    Contains {
        var: String,
        items: String,
        yes: String,
        no: String,
    },
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, token: &str) -> Option<()> {
        self.skip_space();
        self.rest = self.rest.strip_prefix(token)?;
        Some(())
    }

    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.rest.is_empty()
    }

    /// A plain string literal: '…' or "…", without backslashes or prefixes.
    fn string(&mut self) -> Option<String> {
        self.skip_space();
        let quote = self
            .rest
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')?;
        let body = &self.rest[1..];
        let end = body.find(quote)?;
        let text = &body[..end];
        if text.contains(['\\', '\n']) {
            return None;
        }
        self.rest = &body[end + 1..];
        Some(text.to_owned())
    }
}

fn parse(code: &str) -> Option<Expr> {
    let mut c = Cursor { rest: code.trim() };
    if c.eat("bb.parse.vars_from_file(").is_some() {
        c.eat("d.getVar(")?;
        (c.string()? == "FILE").then_some(())?;
        c.eat(",")?;
        c.eat("False")?;
        c.eat(")")?;
        c.eat(",")?;
        c.eat("d")?;
        c.eat(")")?;
        c.eat("[")?;
        c.skip_space();
        let digits = c.rest.find(']')?;
        let index: usize = c.rest[..digits].trim().parse().ok().filter(|i| *i < 3)?;
        c.rest = &c.rest[digits + 1..];
        let default = if c.eat("or ").is_some() {
            Some(c.string()?)
        } else {
            None
        };
        return c.at_end().then_some(Expr::VarsFromFile { index, default });
    }
    if c.eat("bb.utils.contains(").is_some() {
        let var = c.string()?;
        c.eat(",")?;
        let items = c.string()?;
        c.eat(",")?;
        let yes = c.string()?;
        c.eat(",")?;
        let no = c.string()?;
        c.eat(",")?;
        c.eat("d")?;
        c.eat(")")?;
        return c.at_end().then_some(Expr::Contains {
            var,
            items,
            yes,
            no,
        });
    }
    c.eat("d.getVar(")?;
    let var = c.string()?;
    let expand = if c.eat(",").is_some() {
        c.eat("False")?;
        false
    } else {
        true
    };
    c.eat(")")?;
    let mut replaces = Vec::new();
    while c.eat(".replace(").is_some() {
        // python's str.replace("", x) inserts x between every character; leave it to python.
        let from = c.string().filter(|f| !f.is_empty())?;
        c.eat(",")?;
        let to = c.string()?;
        c.eat(")")?;
        replaces.push((from, to));
    }
    let default = if c.eat("or ").is_some() {
        Some(c.string()?)
    } else {
        None
    };
    c.at_end().then_some(Expr::GetVar {
        var,
        expand,
        replaces,
        default,
    })
}

/// The value of `code` as python's `str()` of it would give, when `code` has one of the
/// supported shapes and the values it reads are strings (or unset); `None` otherwise.
pub(crate) fn eval(d: &DataStore, code: &str) -> Option<Result<String, DataError>> {
    evaluate(d, &parse(code)?).transpose()
}

/// `Ok(None)` when a value read makes the expression one for python after all.
fn evaluate(d: &DataStore, expr: &Expr) -> Result<Option<String>, DataError> {
    match expr {
        Expr::GetVar {
            var,
            expand,
            replaces,
            default,
        } => {
            let value = if *expand {
                d.get_var(var)?
            } else {
                d.get_var_raw(var)?
            };
            let mut text = match value {
                Some(Value::Str(s)) => Some(s),
                // `None.replace` raises and `str(None)` is "None": leave both to python.
                None if replaces.is_empty() => None,
                _ => return Ok(None),
            };
            if let Some(text) = &mut text {
                for (from, to) in replaces {
                    *text = text.replace(from.as_str(), to);
                }
            }
            Ok(Some(match (text, default) {
                (Some(s), Some(default)) if s.is_empty() => default.clone(),
                (Some(s), _) => s,
                (None, Some(default)) => default.clone(),
                (None, None) => "None".to_owned(),
            }))
        }
        Expr::VarsFromFile { index, default } => {
            let Some(Value::Str(file)) = d.get_var_raw("FILE")? else {
                return Ok(None);
            };
            if !file.ends_with(".bb") && !file.ends_with(".bbappend") {
                return Ok(None);
            }
            let base = file.rsplit('/').next().unwrap_or(&file);
            // os.path.splitext: the last dot, unless the name only starts with dots.
            let stem = match base.rfind('.') {
                Some(dot) if base[..dot].chars().any(|c| c != '.') => &base[..dot],
                _ => base,
            };
            let parts: Vec<&str> = stem.split('_').collect();
            if parts.len() > 3 {
                // BitBake raises a ParseError: let python say it.
                return Ok(None);
            }
            let part = parts.get(*index).copied().unwrap_or_default();
            Ok(Some(match (part, default) {
                ("", Some(default)) => default.clone(),
                // A missing part is None: `str(None)`.
                ("", None) if *index >= parts.len() => "None".to_owned(),
                (part, _) => part.to_owned(),
            }))
        }
        Expr::Contains {
            var,
            items,
            yes,
            no,
        } => {
            let value = match d.get_var(var)? {
                Some(Value::Str(s)) => s,
                None => return Ok(Some(no.clone())),
                _ => return Ok(None),
            };
            let words: Vec<&str> = value.split_whitespace().collect();
            // An empty value is python's falsy `val`: the false value.
            let all = !value.is_empty() && items.split_whitespace().all(|i| words.contains(&i));
            Ok(Some(if all { yes.clone() } else { no.clone() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::eval;
    use crate::DataStore;

    fn run(d: &DataStore, code: &str) -> Option<String> {
        eval(d, code).map(|r| r.expect("no error"))
    }

    #[test]
    fn evaluates_the_supported_shapes_as_python() {
        let d = DataStore::new();
        d.set_var("TARGET_ARCH", "x86_64").unwrap();
        d.set_var("TUNE_FEATURES", "m64 core2").unwrap();
        d.set_var("EMPTY", "").unwrap();
        d.set_var("REF", "${TARGET_ARCH}").unwrap();
        assert_eq!(
            run(&d, "d.getVar('TARGET_ARCH').replace(\"_\", \"-\")").as_deref(),
            Some("x86-64")
        );
        assert_eq!(run(&d, "d.getVar('UNSET') or ''").as_deref(), Some(""));
        assert_eq!(run(&d, "d.getVar('UNSET')").as_deref(), Some("None"));
        assert_eq!(run(&d, "d.getVar('EMPTY') or 'x'").as_deref(), Some("x"));
        assert_eq!(
            run(&d, "d.getVar('REF', False)").as_deref(),
            Some("${TARGET_ARCH}")
        );
        assert_eq!(run(&d, "d.getVar('REF')").as_deref(), Some("x86_64"));
        assert_eq!(
            run(
                &d,
                "bb.utils.contains('TUNE_FEATURES', 'm64', 'x86_64', '', d)"
            )
            .as_deref(),
            Some("x86_64")
        );
        assert_eq!(
            run(
                &d,
                "bb.utils.contains('TUNE_FEATURES', 'm64 mx32', 'y', 'n', d)"
            )
            .as_deref(),
            Some("n")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('TUNE_FEATURES', '', 'y', 'n', d)").as_deref(),
            Some("y")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('EMPTY', '', 'y', 'n', d)").as_deref(),
            Some("n")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('UNSET', 'a', 'y', 'n', d)").as_deref(),
            Some("n")
        );
    }

    #[test]
    fn leaves_everything_else_to_python() {
        let d = DataStore::new();
        for code in [
            "d.getVar('UNSET').replace('a', 'b')",
            "d.getVar('X') + 'y'",
            "d.getVar(\"A\\\"B\")",
            "bb.utils.contains('A', ['x'], 'y', 'n', d)",
            "d.getVar('X').replace('', 'b')",
            "os.getcwd()",
            "bb.parse.vars_from_file(d.getVar('FILE', False),d)[3]",
        ] {
            assert!(eval(&d, code).is_none(), "{code}");
        }
    }
}
