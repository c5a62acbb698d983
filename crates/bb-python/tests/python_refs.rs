//! Differential test of the python code analysis (signature dependencies) against
//! BitBake's own `PythonParser`: every python function, `def` and `${@…}` of the
//! openembedded-core corpus plus hand-written snippets. Needs `HZ_BB_PYTHON` and the
//! shared corpus.

use std::collections::BTreeSet;
use std::path::Path;

use bb_data::InlinePython;
use bb_syntax::ast::Statement;
use serde_json::json;

const HAND_WRITTEN: &[&str] = &[
    "d.getVar('A')",
    " d.getVar('A') + d.getVarFlag('B', 'f') + d.getVarFlag('C', x)",
    "bb.utils.contains('F', 'a b', 'y', 'n', d) and bb.utils.contains('G', x, 1, 0, d)",
    "bb.utils.contains_any('F', 'a b', 1, 0, d) or bb.utils.filter('H', 'c', d)",
    "oe.utils.conditional('X', 'y', 'a', 'b', d)",
    "d.expand('${A} ${B}') + d.expand(x)",
    "bb.build.exec_func('do_it', d); bb.build.exec_func(name, d)",
    "def f():\n    return helper(lambda: g())\n",
    "\n    foo()\n    x.y.z()\n    a[0].b()\n    (lambda: 1)()\n",
    "[h(i) for i in d.getVar('L').split()]",
    "d.getVar(name)",
];

fn corpus_python() -> Vec<String> {
    let Some(shared) = test_support::shared_dir() else {
        return Vec::new();
    };
    let root = shared.join("corpus/openembedded-core");
    let mut out = Vec::new();
    for path in bb_syntax::collect_metadata_files(&root).expect("corpus is readable") {
        let Some(kind) = bb_syntax::FileKind::from_path(&path) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for statement in bb_syntax::parse(&text, kind).tree().statements() {
            match statement {
                Statement::Function(f) if f.is_python() => out.push(f.body_text()),
                _ => {}
            }
        }
        out.extend(inline_python_code(&text));
    }
    out
}

/// The code of every `${@…}` in a file, as BitBake delimits it.
fn inline_python_code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("${@") {
        let at = search + found;
        match bb_syntax::inline_python_end(text, at) {
            Some(end) => {
                out.push(text[at + 3..end - 1].to_owned());
                search = end;
            }
            None => search = at + 1,
        }
    }
    out
}

/// The names `${NAME}` in a string, which BitBake adds for `d.expand` literals.
fn var_refs(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || b"-_+./~:".contains(b))
            .count();
        if len > 0 && rest.as_bytes().get(len) == Some(&b'}') {
            out.insert(rest[..len].to_owned());
        }
    }
    out
}

#[test]
fn python_refs_agree_with_bitbake_python_parser() {
    let Some(python) = test_support::bitbake_python("python_refs_agree_with_bitbake_python_parser")
    else {
        return;
    };
    let host = bb_python::Python::new().expect("python host");
    let mut snippets: Vec<String> = HAND_WRITTEN.iter().map(|s| (*s).to_owned()).collect();
    snippets.extend(corpus_python());
    snippets.sort();
    snippets.dedup();
    let input = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-snippets.json");
    std::fs::write(&input, serde_json::to_string(&snippets).expect("JSON")).expect("write");
    let theirs = test_support::oracle_json_lines(
        &python,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_refs.py"),
        &input,
    );
    assert_eq!(theirs.len(), snippets.len());
    let ours = |code: &str| match host.analyze(code) {
        Ok(refs) => {
            let mut references = refs.references.clone();
            for literal in &refs.expands {
                references.extend(var_refs(literal));
            }
            json!({"references": references, "execs": refs.execs, "contains": refs.contains})
        }
        Err(_) => json!({"error": true}),
    };
    let differences: Vec<String> = snippets
        .iter()
        .zip(&theirs)
        .filter(|(code, theirs)| ours(code) != **theirs)
        .map(|(code, theirs)| {
            format!(
                "code: {code:?}\n  ours:    {}\n  BitBake: {theirs}",
                ours(code)
            )
        })
        .collect();
    eprintln!("{} python snippets compared", snippets.len());
    test_support::assert_agree(&differences, snippets.len());
}
