//! Data-driven tests: every metadata file under `testdata/syntax/` is parsed and its tree
//! and diagnostics compared with `<file>.tree` next to it. `UPDATE_EXPECT=1` rewrites them.
//! Files under `valid/` must parse without errors, files under `errors/` with some.

use std::path::{Path, PathBuf};

use bb_syntax::FileKind;

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/syntax")
}

#[test]
fn syntax_trees_match_expectations() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut files = Vec::new();
    metadata_files(&testdata_dir(), &mut files);
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the syntax test files, found {files:?}"
    );
    let mut mismatches = Vec::new();
    for path in &files {
        let kind = FileKind::from_path(path).expect("collected files are metadata");
        let bytes = std::fs::read(path).expect("test file is readable");
        let parse = bb_syntax::parse_bytes(&bytes, kind);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            assert_eq!(
                parse.syntax().to_string(),
                text,
                "round trip of {}",
                path.display()
            );
        }
        let in_errors = path.components().any(|c| c.as_os_str() == "errors");
        assert_eq!(
            parse.has_errors(),
            in_errors,
            "{}: errors {:?}",
            path.display(),
            parse.errors()
        );
        let actual = parse.debug_dump();
        let expect_path = PathBuf::from(format!("{}.tree", path.display()));
        let expected = std::fs::read_to_string(&expect_path).unwrap_or_default();
        if actual != expected {
            if update {
                std::fs::write(&expect_path, &actual).expect("expectation is writable");
            } else {
                mismatches.push(format!(
                    "{}: tree differs from {}\n--- actual ---\n{actual}",
                    path.display(),
                    expect_path.display()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(run with UPDATE_EXPECT=1 to accept)",
        mismatches.join("\n")
    );
}

/// Every file with a metadata extension, at any depth.
fn metadata_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("test directory is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            metadata_files(&path, files);
        } else if FileKind::from_path(&path).is_some() {
            files.push(path);
        }
    }
}
