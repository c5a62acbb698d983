//! `hitzeleiter syntax` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hitzeleiter(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run hitzeleiter");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write(dir: &Path, relative: &str, text: &[u8]) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("directories");
    std::fs::write(path, text).expect("write file");
}

#[test]
fn clean_layer_exits_zero_with_summary() {
    let dir = scratch("clean-layer");
    write(&dir, "conf/layer.conf", b"BBPATH .= \":${LAYERDIR}\"\n");
    write(
        &dir,
        "recipes-x/hello/hello_1.0.bb",
        b"SUMMARY = \"hi\"\ndo_install() {\n\ttrue\n}\n",
    );
    write(
        &dir,
        "recipes-x/hello/files/app.conf",
        b"this is payload, not metadata\n",
    );
    write(&dir, "classes/demo.bbclass", b"inherit base\n");
    let (code, stdout, _) = hitzeleiter(&["syntax", "--roundtrip", "."], &dir);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout, "3 files, 0 errors\n");
}

#[test]
fn errors_are_compiler_style_with_exit_one() {
    let dir = scratch("errors");
    write(
        &dir,
        "bad.bb",
        b"A = \"ok\"\nB = \"x\" # comment\n  C = \"y\"\n",
    );
    write(&dir, "good.conf", b"D = \"z\"\n");
    let (code, stdout, _) = hitzeleiter(&["syntax", "bad.bb", "good.conf"], &dir);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("bad.bb:2:1: error: unparsed line: 'B = \"x\" # comment'"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("bad.bb:3:1: error: unparsed line: '  C = \"y\"'"),
        "{stdout}"
    );
    assert_eq!(lines[2], "2 files, 2 errors");
}

#[test]
fn warnings_do_not_fail() {
    let dir = scratch("warnings");
    write(&dir, "w.bb", b"A=\"x\"\n");
    let (code, stdout, _) = hitzeleiter(&["syntax", "w.bb"], &dir);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "w.bb:1:2: warning: lack of whitespace around the assignment: 'A=\"x\"'\n1 file, 0 errors, 1 warning\n"
    );
}

#[test]
fn invalid_utf8_and_unreadable_paths_are_errors() {
    let dir = scratch("unreadable");
    write(&dir, "latin1.bb", b"A = \"caf\xe9\"\n");
    write(&dir, "notes.txt", b"hello\n");
    let (code, stdout, _) = hitzeleiter(
        &[
            "syntax",
            "--roundtrip",
            "latin1.bb",
            "notes.txt",
            "missing.bb",
        ],
        &dir,
    );
    assert_eq!(code, 1);
    assert!(
        stdout.contains("latin1.bb:1:9: error: invalid UTF-8"),
        "{stdout}"
    );
    assert!(
        stdout.contains("notes.txt:1:1: error: not a BitBake metadata file"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing.bb:1:1: error: cannot read:"),
        "{stdout}"
    );
    assert!(stdout.ends_with("3 files, 4 errors\n"), "{stdout}");
}

#[test]
fn json_output_has_positions_and_counts() {
    let dir = scratch("json");
    write(&dir, "bad.bbclass", b"do_x() {\n  true\n }\n");
    let (code, stdout, _) = hitzeleiter(&["syntax", "--format", "json", "bad.bbclass"], &dir);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(report["file_count"], 1);
    assert_eq!(report["errors"], 1);
    let diagnostic = &report["files"][0]["diagnostics"][0];
    assert_eq!(diagnostic["line"], 1);
    assert_eq!(diagnostic["severity"], "error");
    assert!(
        diagnostic["message"]
            .as_str()
            .unwrap()
            .contains("line 3 has an indented '}'")
    );
    assert_eq!(report["files"][0]["kind"], "class");
}

#[test]
fn tree_prints_every_token() {
    let dir = scratch("tree");
    write(&dir, "t.conf", b"A ?= \"${B}\"\n");
    let (code, stdout, _) = hitzeleiter(&["syntax", "--tree", "t.conf"], &dir);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("SOURCE_FILE@0..12\n  ASSIGNMENT@0..11\n"),
        "{stdout}"
    );
    assert!(stdout.contains("        NAME@8..9 \"B\"\n"), "{stdout}");
}
