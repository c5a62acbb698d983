//! Differential test of `shell_execs` against BitBake's own `ShellParser`: every shell
//! function of the openembedded-core corpus plus hand-written scripts for pysh's corners.
//! Needs `HZ_BB_PYTHON` (made by `cargo xtask test`) and the shared corpus.

use std::path::Path;

use bb_syntax::ast::Statement;
use serde_json::{Value as Json, json};

/// Scripts for the corners of pysh's grammar that the corpus may not reach.
const HAND_WRITTEN: &[&str] = &[
    "a=1 b c\n",
    "a=1\n",
    "A=$(x) y z\n",
    "$(x) $(y) z\n",
    "echo \"$(a \"$(b)\")\" `c`\n",
    "${X:-$(hidden)} arg\n",
    "for i in $(seq 1 3) a; do echo $i; done\n",
    "for i; do j; done\n",
    "case \"$(sub)\" in\n  $(pat)|b) cmd ;;\n  *) other\nesac\n",
    "f() { g; }\nf\nh() (i)\n",
    "cat <<-EOF >file\n\tnot_cmd\n\tEOF\nafter\n",
    "cat <<'E1' <<E2\nx\nE1\ny\nE2\nz\n",
    "eval \"$a\" b\n",
    "eval foo bar\n",
    "! a | b || c && d &\n",
    "if a\nthen\n b\nelif c; then d\nelse e\nfi > out 2>&1\n",
    "while read x; do :; done < file\nuntil u; do v; done\n",
    "{ a; b; } | c\n",
    "x=1 y=2\n",
    "echo for do done\n",
    "a \\\n b\n",
    "# comment $(not)\na # b\n",
    "echo 'single $(not)' \"double $(yes)\"\n",
    "2>/dev/null cmd arg\n",
    "echo $((1 + 2))\n",
    "echo \"unterminated\n",
    "if a; then b\n",
    "[ -e x ] && rm x\n",
    "local v=$(w)\n",
    // pysh accepts commands side by side without a separator.
    "a b (c) (d)\n",
    "(a) b\n",
    "{ a b }\n",
    "a >f (c)\n",
    "a (c)\n",
    "x=1 (c)\n",
    "if a; then b; fi c\n",
    "a x=1 (c)\n",
];

fn corpus_shell_functions(shared: &Path) -> Vec<String> {
    let root = shared.join("corpus/openembedded-core");
    let mut scripts = Vec::new();
    for path in bb_syntax::collect_metadata_files(&root).expect("corpus is readable") {
        let Some(kind) = bb_syntax::FileKind::from_path(&path) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for statement in bb_syntax::parse(&text, kind).tree().statements() {
            if let Statement::Function(f) = statement
                && !f.is_python()
            {
                scripts.push(f.body_text());
            }
        }
    }
    scripts
}

fn ours(script: &str) -> Json {
    match bb_data::shell_execs(script) {
        Ok(execs) => json!(execs),
        Err(_) => json!({"error": true}),
    }
}

#[test]
fn shell_execs_agree_with_bitbake_shell_parser() {
    let Some(python) = test_support::bitbake_python("shell_execs_agree_with_bitbake_shell_parser")
    else {
        return;
    };
    let Some(shared) = test_support::require_shared("shell_execs_agree_with_bitbake_shell_parser")
    else {
        return;
    };
    let mut scripts: Vec<String> = HAND_WRITTEN.iter().map(|s| (*s).to_owned()).collect();
    scripts.extend(corpus_shell_functions(&shared));
    let input = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shell-scripts.json");
    std::fs::write(&input, serde_json::to_string(&scripts).expect("JSON")).expect("write");
    let theirs = test_support::oracle_json_lines(
        &python,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shell_execs.py"),
        &input,
    );
    assert_eq!(theirs.len(), scripts.len());
    let differences: Vec<String> = scripts
        .iter()
        .zip(&theirs)
        .filter(|(script, theirs)| ours(script) != **theirs)
        .map(|(script, theirs)| {
            format!(
                "script: {script:?}\n  ours:    {}\n  BitBake: {theirs}",
                ours(script)
            )
        })
        .collect();
    eprintln!(
        "{} scripts compared ({} from the corpus)",
        scripts.len(),
        scripts.len() - HAND_WRITTEN.len()
    );
    test_support::assert_agree(&differences, scripts.len());
}
