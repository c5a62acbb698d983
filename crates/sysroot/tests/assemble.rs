//! Sysroot assembly on real directory trees.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sysroot::{Contributor, SysrootError, assemble, manifest_dir};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sysroot-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn stage(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

fn contributor(name: &str, dir: &Path) -> Contributor {
    Contributor {
        name: name.into(),
        dir: dir.to_owned(),
    }
}

#[test]
fn files_and_symlinks_are_hardlinked_not_copied() {
    let dir = scratch("link");
    let lib = dir.join("lib");
    stage(
        &lib,
        &[("usr/lib/libz.so.1", "ELF"), ("usr/include/zlib.h", "h")],
    );
    std::os::unix::fs::symlink("libz.so.1", lib.join("usr/lib/libz.so")).unwrap();
    let root = dir.join("recipe-sysroot");
    let report = assemble(&root, &[contributor("zlib", &lib)]).unwrap();
    assert_eq!((report.linked, report.copied), (3, 0));
    for path in ["usr/lib/libz.so.1", "usr/include/zlib.h", "usr/lib/libz.so"] {
        let (a, b) = (
            fs::symlink_metadata(lib.join(path)).unwrap(),
            fs::symlink_metadata(root.join(path)).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "{path} is not a hardlink");
    }
    assert_eq!(
        fs::read_link(root.join("usr/lib/libz.so")).unwrap(),
        Path::new("libz.so.1")
    );
    let manifest = fs::read_to_string(manifest_dir(&root).join("zlib.manifest")).unwrap();
    assert!(manifest.contains("usr/lib/libz.so.1\n") && manifest.contains("usr/include/\n"));

    // A second assembly changes nothing.
    let again = assemble(&root, &[contributor("zlib", &lib)]).unwrap();
    assert_eq!((again.linked, again.unchanged, again.removed), (0, 3, 0));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_path_with_different_contents_is_an_error_naming_both() {
    let dir = scratch("conflict");
    stage(&dir.join("a"), &[("usr/include/config.h", "#define A 1")]);
    stage(&dir.join("b"), &[("usr/include/config.h", "#define A 2")]);
    let root = dir.join("recipe-sysroot");
    let err = assemble(
        &root,
        &[
            contributor("liba", &dir.join("a")),
            contributor("libb", &dir.join("b")),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, SysrootError::Conflict { .. }));
    assert_eq!(
        err.to_string(),
        "usr/include/config.h is staged by both liba and libb with different contents"
    );
    // Nothing was linked: the check comes first.
    assert!(!root.join("usr/include/config.h").exists());

    // The same contents from two recipes are fine.
    stage(&dir.join("b"), &[("usr/include/config.h", "#define A 1")]);
    assemble(
        &root,
        &[
            contributor("liba", &dir.join("a")),
            contributor("libb", &dir.join("b")),
        ],
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(root.join("usr/include/config.h")).unwrap(),
        "#define A 1"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dependency_that_disappears_is_removed_and_a_changed_one_updated() {
    let dir = scratch("update");
    stage(
        &dir.join("a"),
        &[("usr/lib/liba.a", "a1"), ("usr/include/a.h", "a")],
    );
    stage(&dir.join("b"), &[("usr/bin/tool", "tool")]);
    let root = dir.join("recipe-sysroot");
    let both = [
        contributor("liba", &dir.join("a")),
        contributor("tool", &dir.join("b")),
    ];
    assemble(&root, &both).unwrap();
    assert!(root.join("usr/bin/tool").exists());

    // liba is rebuilt: a new liba.a (a new inode), a.h gone.
    fs::remove_file(dir.join("a/usr/lib/liba.a")).unwrap();
    fs::remove_file(dir.join("a/usr/include/a.h")).unwrap();
    stage(&dir.join("a"), &[("usr/lib/liba.a", "a2")]);
    let report = assemble(&root, &[contributor("liba", &dir.join("a"))]).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("usr/lib/liba.a")).unwrap(),
        "a2"
    );
    assert!(!root.join("usr/include/a.h").exists());
    assert!(
        !root.join("usr/bin/tool").exists(),
        "tool is no longer a dependency"
    );
    assert!(
        !root.join("usr/bin").exists(),
        "its empty directory goes too"
    );
    assert_eq!((report.linked, report.removed), (1, 2));
    assert!(!manifest_dir(&root).join("tool.manifest").exists());
    fs::remove_dir_all(&dir).unwrap();
}
