//! Tests on the real openembedded-core corpus and on BitBake's conformance cases, read from
//! `../shared` (or `HZ_SHARED=DIR`). Where neither exists each test says it is skipped.

use std::path::{Path, PathBuf};

use bb_syntax::ast::Statement;
use bb_syntax::{FileKind, LineIndex, Parse, Severity};
use test_support::{Rng, bitbake_python, require_shared};

/// Files under `conf/` that belong to other programs and are never parsed by BitBake.
const NOT_BITBAKE_METADATA: &[&str] = &["meta/conf/ccache.conf"];

fn corpus_files(shared: &Path) -> Vec<PathBuf> {
    let root = shared.join("corpus/openembedded-core");
    let files = bb_syntax::collect_metadata_files(&root).expect("corpus is readable");
    files
        .into_iter()
        .filter(|f| {
            let relative = f.strip_prefix(&root).expect("under root");
            !NOT_BITBAKE_METADATA
                .iter()
                .any(|n| relative == Path::new(n))
        })
        .collect()
}

fn describe_errors(path: &Path, text: &str, parse: &Parse) -> Vec<String> {
    let index = LineIndex::new(text);
    parse
        .errors()
        .iter()
        .filter(|e| e.severity() == Severity::Error)
        .map(|e| {
            let at = index.line_col(e.range().start());
            format!("{}:{}:{}: {}", path.display(), at.line, at.col, e.message())
        })
        .collect()
}

#[test]
fn corpus_parses_without_errors_and_round_trips() {
    let Some(shared) = require_shared("corpus_parses_without_errors_and_round_trips") else {
        return;
    };
    let files = corpus_files(&shared);
    assert!(
        files.len() >= 1597,
        "found only {} metadata files",
        files.len()
    );
    let mut problems = Vec::new();
    let mut bytes_parsed = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("corpus files are UTF-8");
        bytes_parsed += text.len();
        let parse = bb_syntax::parse(&text, FileKind::from_path(path).expect("metadata file"));
        if parse.syntax().to_string() != text {
            problems.push(format!("{}: round trip differs", path.display()));
        }
        problems.extend(describe_errors(path, &text, &parse));
        exercise_ast(&parse);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "{} files, {bytes_parsed} bytes: no errors, exact round trip",
        files.len()
    );
}

/// Calls every accessor, so that a panic anywhere in the typed layer shows up.
fn exercise_ast(parse: &Parse) {
    let tree = parse.tree();
    for statement in tree.statements() {
        match statement {
            Statement::Assignment(a) => {
                let _ = (a.is_exported(), a.op());
                let _ = a.name().map(|n| n.text());
                let _ = a.flag().map(|f| f.name());
                if let Some(value) = a.value() {
                    let _ = (value.text(), value.quote());
                }
            }
            Statement::Export(e) => drop(e.name().map(|n| n.text())),
            Statement::Unset(u) => drop((u.name().map(|n| n.text()), u.flag().map(|f| f.name()))),
            Statement::Include(i) => drop((i.kind(), i.args().map(|a| a.text()))),
            Statement::Inherit(i) => drop((i.is_deferred(), i.args().map(|a| a.text()))),
            Statement::AddTask(t) => drop((t.tasks(), t.after(), t.before(), t.comment())),
            Statement::DelTask(t) => drop(t.tasks()),
            Statement::AddHandler(h) => drop(h.args().map(|a| a.text())),
            Statement::ExportFunctions(e) => drop(e.args().map(|a| a.text())),
            Statement::AddPylib(p) => drop(p.parts()),
            Statement::AddFragments(f) => drop(f.parts()),
            Statement::Function(f) => {
                let _ = (
                    f.name(),
                    f.is_anonymous(),
                    f.is_python(),
                    f.is_fakeroot(),
                    f.is_closed(),
                );
                let _ = f.body_text();
            }
            Statement::PythonDef(d) => drop((d.name(), d.text())),
            Statement::Error(e) => drop(e.text()),
        }
    }
    for reference in tree.var_refs() {
        let _ = reference.name();
    }
    for expr in tree.py_exprs() {
        let _ = (expr.code(), expr.code_range());
    }
}

fn mutations(bytes: &[u8], rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    out.push(("truncated", bytes[..rng.below(bytes.len() + 1)].to_vec()));

    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let mut deleted = lines.clone();
    for _ in 0..3 {
        if !deleted.is_empty() {
            let at = rng.below(deleted.len());
            deleted.remove(at);
        }
    }
    out.push(("lines deleted", deleted.concat()));

    let mut stray = bytes.to_vec();
    let strays: [&[u8]; 9] = [
        b"{", b"}", b"\"", b"'", b"\\", b"${", b"${@", b"\\\n", b"\n}\n",
    ];
    for _ in 0..8 {
        let at = rng.below(stray.len() + 1);
        let piece = strays[rng.below(strays.len())];
        stray.splice(at..at, piece.iter().copied());
    }
    out.push(("stray characters", stray));

    let mut random = bytes.to_vec();
    for _ in 0..8 {
        if !random.is_empty() {
            let at = rng.below(random.len());
            random[at] = rng.next_u64() as u8;
        }
    }
    out.push(("random bytes", random));

    let crlf: Vec<u8> = bytes
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    out.push(("CRLF", crlf));
    let lone_cr: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'\n' { b'\r' } else { b })
        .collect();
    out.push(("CR", lone_cr));

    let continued: Vec<u8> = lines
        .iter()
        .flat_map(|line| {
            let mut line = line.to_vec();
            if rng.below(4) == 0 && line.ends_with(b"\n") {
                line.insert(line.len() - 1, b'\\');
            }
            line
        })
        .collect();
    out.push(("continuations added", continued));
    out
}

#[test]
fn mangled_corpus_files_never_panic_and_stay_lossless() {
    let Some(shared) = require_shared("mangled_corpus_files_never_panic_and_stay_lossless") else {
        return;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let files = corpus_files(&shared);
    // Every third file keeps the test quick in debug builds; the seed fixes the choice.
    for path in files.iter().step_by(3) {
        let original = std::fs::read(path).expect("corpus file is readable");
        let kinds = [
            FileKind::from_path(path).expect("metadata file"),
            FileKind::Conf,
            FileKind::Recipe,
        ];
        for (name, bytes) in mutations(&original, &mut rng) {
            for kind in kinds {
                let parse = bb_syntax::parse_bytes(&bytes, kind);
                let text = parse.syntax().to_string();
                if let Ok(input) = std::str::from_utf8(&bytes) {
                    assert_eq!(
                        text,
                        input,
                        "{} ({name}, {kind:?}): not lossless",
                        path.display()
                    );
                }
                let len = text.len() as u32;
                for error in parse.errors() {
                    assert!(
                        u32::from(error.range().end()) <= len,
                        "{}: error range out of bounds",
                        path.display()
                    );
                }
                exercise_ast(&parse);
            }
        }
    }
}

#[derive(Debug)]
struct Case {
    name: String,
    recipe: String,
    files: Vec<(String, String)>,
    expect: serde_json::Value,
}

fn conformance_cases(shared: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(shared.join("conformance/cases.json")).expect("cases.json");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("cases.json is JSON");
    cases
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().expect("name").to_owned(),
            recipe: case["recipe"].as_str().expect("recipe").to_owned(),
            files: case["files"]
                .as_object()
                .expect("files")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("file text").to_owned()))
                .collect(),
            expect: case["expect"].clone(),
        })
        .collect()
}

/// The line of a syntactic error in BitBake's message, when the error is one the parser
/// must report itself (as opposed to errors found while evaluating).
fn syntactic_error_line(message: &str) -> Option<u32> {
    const SYNTACTIC: [&str; 4] = [
        "unparsed line",
        "Empty variable name",
        "There is a comment on line",
        "confusing multiline",
    ];
    if !SYNTACTIC.iter().any(|s| message.contains(s)) {
        return None;
    }
    if let Some(rest) = message.split("There is a comment on line ").nth(1) {
        return rest.split_whitespace().next()?.parse().ok();
    }
    // "ParseError at <file>:<line>: …"
    let after_at = message.split(".bb:").nth(1)?;
    after_at.split(':').next()?.parse().ok()
}

#[test]
fn conformance_cases_syntax_errors_agree_with_bitbake() {
    let Some(shared) = require_shared("conformance_cases_syntax_errors_agree_with_bitbake") else {
        return;
    };
    let cases = conformance_cases(&shared);
    assert_eq!(cases.len(), 107);
    let mut problems = Vec::new();
    let mut syntactic_cases = 0;
    for case in &cases {
        let message = case.expect["error_message"].as_str().unwrap_or_default();
        let expected_line = syntactic_error_line(message);
        syntactic_cases += usize::from(expected_line.is_some());
        for (relative, text) in &case.files {
            let Some(kind) = FileKind::from_path(Path::new(relative)) else {
                continue;
            };
            let parse = bb_syntax::parse(text, kind);
            let index = LineIndex::new(text);
            let error_lines: Vec<u32> = parse
                .errors()
                .iter()
                .filter(|e| e.severity() == Severity::Error)
                .map(|e| index.line_col(e.range().start()).line)
                .collect();
            match expected_line {
                Some(line) if *relative == case.recipe && !error_lines.contains(&line) => {
                    problems.push(format!(
                        "{}: BitBake rejects line {line} of {relative} ({message}); errors found at {error_lines:?}",
                        case.name
                    ));
                }
                Some(_) if *relative == case.recipe => {}
                _ if !error_lines.is_empty() => problems.push(format!(
                    "{}: BitBake accepts the syntax of {relative}, but: {:?}",
                    case.name,
                    describe_errors(Path::new(relative), text, &parse)
                )),
                _ => {}
            }
            for warning in case.expect["warnings"].as_array().into_iter().flatten() {
                let warning = warning.as_str().unwrap_or_default();
                if warning.starts_with("python should use 4 spaces") && *relative == case.recipe {
                    let line: u32 = warning
                        .rsplit("line ")
                        .next()
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    let found = parse.errors().iter().any(|e| {
                        e.severity() == Severity::Warning
                            && e.message().starts_with("python should use 4 spaces")
                            && index.line_col(e.range().start()).line == line
                    });
                    if !found {
                        problems.push(format!("{}: missing warning '{warning}'", case.name));
                    }
                }
            }
        }
    }
    eprintln!(
        "{} cases, {syntactic_cases} with a syntax error BitBake reports",
        cases.len()
    );
    assert!(
        syntactic_cases >= 8,
        "only {syntactic_cases} syntactic error cases recognised"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What BitBake's handlers produce for a statement, in the oracle script's JSON shape,
/// with BitBake's line numbers (`Statement::bitbake_line`).
fn bitbake_view(parse: &Parse, index: &LineIndex) -> Vec<serde_json::Value> {
    use serde_json::json;
    let split =
        |text: String| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let args = |a: Option<bb_syntax::ast::Args>| a.map(|a| a.text()).unwrap_or_default();
    let mut out = Vec::new();
    for statement in parse.tree().statements() {
        let lineno = statement.bitbake_line(index);
        out.push(match statement {
            Statement::Assignment(a) => {
                let op = match a.op().map(|op| op.as_str()) {
                    Some(":=") => "colon",
                    Some("??=") => "lazyques",
                    Some("?=") => "ques",
                    Some("+=") => "append",
                    Some("=+") => "prepend",
                    Some("=.") => "predot",
                    Some(".=") => "postdot",
                    _ => "set",
                };
                json!({"type": "DataNode", "lineno": lineno,
                       "var": a.name().map(|n| n.text()).unwrap_or_default(),
                       "flag": a.flag().map(|f| f.name()), "op": op,
                       "value": a.value().map(|v| v.text()).unwrap_or_default(),
                       "export": a.is_exported()})
            }
            Statement::Export(e) => json!({"type": "ExportNode", "lineno": lineno, "var": e.name().map(|n| n.text())}),
            Statement::Unset(u) => match u.flag() {
                Some(flag) => json!({"type": "UnsetFlagNode", "lineno": lineno,
                                     "var": u.name().map(|n| n.text()), "flag": flag.name()}),
                None => json!({"type": "UnsetNode", "lineno": lineno, "var": u.name().map(|n| n.text())}),
            },
            Statement::Include(i) => match i.kind() {
                bb_syntax::ast::IncludeKind::IncludeAll => {
                    json!({"type": "IncludeAllNode", "lineno": lineno, "what": args(i.args())})
                }
                kind => json!({"type": "IncludeNode", "lineno": lineno, "what": args(i.args()),
                               "force": kind == bb_syntax::ast::IncludeKind::Require}),
            },
            Statement::Inherit(i) => {
                let kind = if i.is_deferred() { "InheritDeferredNode" } else { "InheritNode" };
                json!({"type": kind, "lineno": lineno, "classes": args(i.args())})
            }
            Statement::AddTask(t) => json!({"type": "AddTaskNode", "lineno": lineno,
                                            "tasks": t.tasks(), "before": t.before(), "after": t.after()}),
            Statement::DelTask(t) => json!({"type": "DelTaskNode", "lineno": lineno, "tasks": t.tasks()}),
            Statement::AddHandler(h) => json!({"type": "BBHandlerNode", "lineno": lineno, "names": split(args(h.args()))}),
            Statement::ExportFunctions(e) => {
                json!({"type": "ExportFuncsNode", "lineno": lineno, "names": split(args(e.args()))})
            }
            Statement::AddPylib(p) => {
                let [libdir, namespace] = p.parts().unwrap_or_default();
                json!({"type": "PyLibNode", "lineno": lineno, "libdir": libdir, "namespace": namespace})
            }
            Statement::AddFragments(f) => {
                json!({"type": "AddFragmentsNode", "lineno": lineno, "parts": f.parts().unwrap_or_default()})
            }
            Statement::Function(f) => json!({"type": "MethodNode", "lineno": lineno,
                "name": f.name().unwrap_or_else(|| "__anonymous".into()), "body": f.body_text(),
                "python": f.is_python(), "fakeroot": f.is_fakeroot()}),
            Statement::PythonDef(d) => json!({"type": "PythonMethodNode", "lineno": lineno,
                                              "name": d.name(), "body": d.text()}),
            Statement::Error(_) => json!({"type": "ERROR", "lineno": lineno}),
        });
    }
    out
}

/// The line BitBake names in an error, if it names one. (Errors found at the end of the
/// file name the line after the last one, so a match may be one line past our range.)
fn bitbake_error_line(error: &serde_json::Value) -> Option<u32> {
    if let Some(line) = error["line"].as_u64().filter(|&l| l > 0) {
        return Some(line as u32);
    }
    let message = error["message"].as_str()?;
    let rest = message.split(" on line ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Runs the real BitBake parser on the corpus and on mangled copies of it and compares,
/// file by file, the statements (with their fields and line numbers), the errors and the
/// parse-time warnings. Needs `HZ_BB_PYTHON`: a python with bitbake-setup 2.19.0
/// installed (`cargo xtask test` makes one).
#[test]
fn statements_agree_with_real_bitbake() {
    let test = "statements_agree_with_real_bitbake";
    let Some(shared) = require_shared(test) else {
        return;
    };
    let Some(python) = bitbake_python(test) else {
        return;
    };
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bitbake-oracle");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temporary directory");
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (i, path) in corpus_files(&shared).iter().enumerate() {
        let original = std::fs::read(path).expect("corpus file");
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        if i % 3 == 0 {
            for (j, (_, bytes)) in mutations(&original, &mut rng).into_iter().enumerate() {
                inputs.push((work.join(format!("{i}-m{j}-{name}")), bytes));
            }
        }
        inputs.push((work.join(format!("{i}-{name}")), original));
    }
    for (path, bytes) in &inputs {
        std::fs::write(path, bytes).expect("write input");
    }
    let listing = work.join("files.txt");
    let list: String = inputs
        .iter()
        .map(|(p, _)| format!("{}\n", p.display()))
        .collect();
    std::fs::write(&listing, list).expect("write listing");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bitbake_statements.py");
    let results = test_support::oracle_json_lines(&python, &script, &listing);
    assert_eq!(results.len(), inputs.len(), "one oracle result per file");

    let mut problems = Vec::new();
    let (mut agreed_clean, mut agreed_errors) = (0, 0);
    for ((path, bytes), expected) in inputs.iter().zip(&results) {
        let kind = FileKind::from_path(path).expect("metadata file");
        let parse = bb_syntax::parse_bytes(bytes, kind);
        let text = parse.syntax().to_string();
        let index = LineIndex::new(&text);
        let our_errors: Vec<(u32, u32)> = parse
            .errors()
            .iter()
            .filter(|e| e.severity() == Severity::Error)
            .map(|e| {
                (
                    index.line_col(e.range().start()).line,
                    index.line_col(e.range().end()).line,
                )
            })
            .collect();
        let name = path.display();
        match (&expected["error"], our_errors.is_empty()) {
            (serde_json::Value::Null, true) => {
                let ours = bitbake_view(&parse, &index);
                let theirs = expected["statements"].as_array().expect("statements");
                if ours != *theirs {
                    let first = ours
                        .iter()
                        .zip(theirs)
                        .position(|(a, b)| a != b)
                        .unwrap_or(ours.len().min(theirs.len()));
                    problems.push(format!(
                        "{name}: statement {first} differs:\n  ours:    {}\n  BitBake: {}",
                        ours.get(first).map_or("(none)".into(), |v| v.to_string()),
                        theirs.get(first).map_or("(none)".into(), |v| v.to_string()),
                    ));
                    continue;
                }
                let warnings = |prefix: &str, ours: bool| -> usize {
                    if ours {
                        parse
                            .errors()
                            .iter()
                            .filter(|e| e.message().starts_with(prefix))
                            .count()
                    } else {
                        expected["warnings"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|w| w.as_str().unwrap_or_default().contains(prefix))
                            .count()
                    }
                };
                for prefix in ["python should use 4 spaces", "lack of whitespace"] {
                    if warnings(prefix, true) != warnings(prefix, false) {
                        problems.push(format!(
                            "{name}: {} '{prefix}' warnings, BitBake gives {}",
                            warnings(prefix, true),
                            warnings(prefix, false)
                        ));
                    }
                }
                agreed_clean += 1;
            }
            (serde_json::Value::Null, false) => problems.push(format!(
                "{name}: BitBake accepts it, but we report errors: {:?}",
                describe_errors(path, &text, &parse)
            )),
            (error, true) => problems.push(format!(
                "{name}: BitBake fails ({error}), we report no error"
            )),
            (error, false) => {
                let covered = bitbake_error_line(error).is_none_or(|line| {
                    our_errors
                        .iter()
                        .any(|&(from, to)| from <= line && line <= to + 1)
                });
                if covered {
                    agreed_errors += 1;
                } else {
                    problems.push(format!(
                        "{name}: BitBake fails at line {:?} ({}), our errors span lines {our_errors:?}",
                        bitbake_error_line(error),
                        error["message"]
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} files: {agreed_clean} parsed identically, {agreed_errors} rejected by both",
        inputs.len()
    );
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let _ = std::fs::remove_dir_all(&work);
}
