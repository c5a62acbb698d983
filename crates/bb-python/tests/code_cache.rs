//! The compiled-code cache (`Python::with_code_cache`): modules imported from source are
//! compiled once, their entries are checked before use, and a changed source is never
//! answered from the cache.

use bb_data::{DataStore, InlinePython, PythonHost};
use bb_python::Python;

/// A fresh interpreter (as a new process would start) imports `lib/hzmod` and evaluates
/// `hzmod.VALUE`.
fn value_with_cache(lib: &std::path::Path, cache: &std::path::Path) -> String {
    let python = Python::with_code_cache(cache).expect("python starts");
    let d = DataStore::new();
    python
        .add_pylib(&d, &lib.display().to_string(), "hzmod")
        .expect("addpylib");
    python
        .eval_inline(&d, "hzmod.VALUE", None)
        .expect("hzmod.VALUE")
}

fn entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(cache)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn compiled_modules_are_reused_checked_and_never_stale() {
    let dir = std::env::temp_dir().join(format!("bb-python-code-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (lib, cache) = (dir.join("lib"), dir.join("cache"));
    std::fs::create_dir_all(lib.join("hzmod")).unwrap();
    let module = lib.join("hzmod/__init__.py");
    std::fs::write(&module, "VALUE = 'one'\n").unwrap();

    assert_eq!(value_with_cache(&lib, &cache), "one");
    let before = entries(&cache);
    // The module, and the embedded `bb` modules the interpreter imported.
    assert!(before.len() > 1, "{before:?}");

    // From the cache: nothing is written again (a write makes a new file, renamed over).
    let files = |entries: &[std::path::PathBuf]| -> Vec<u64> {
        use std::os::unix::fs::MetadataExt;
        entries
            .iter()
            .map(|e| std::fs::metadata(e).unwrap().ino())
            .collect()
    };
    let first_files = files(&before);
    assert_eq!(value_with_cache(&lib, &cache), "one");
    assert_eq!(entries(&cache), before);
    assert_eq!(files(&before), first_files);

    // A changed source (same size, same second) is compiled again.
    std::fs::write(&module, "VALUE = 'two'\n").unwrap();
    assert_eq!(value_with_cache(&lib, &cache), "two");
    assert_eq!(entries(&cache).len(), before.len() + 1);

    // Damaged entries are not trusted: compiled again and replaced.
    for entry in entries(&cache) {
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&entry, &bytes).unwrap();
    }
    assert_eq!(value_with_cache(&lib, &cache), "two");
    std::fs::write(&module, "VALUE = 'one'\n").unwrap();
    std::fs::write(entries(&cache)[0].clone(), b"").unwrap();
    assert_eq!(value_with_cache(&lib, &cache), "one");

    // Past 4096 files, a write removes the least recently used down to 3072 (entries of
    // sources edited since go first), never the ones in use.
    for i in 0..4200 {
        std::fs::write(cache.join(format!("stale{i:04}")), b"").unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&module, "VALUE = 'three'\n").unwrap();
    assert_eq!(value_with_cache(&lib, &cache), "three");
    let left = entries(&cache);
    assert_eq!(left.len(), 3072, "{} entries", left.len());
    assert!(!left.contains(&cache.join("stale0000")));
    assert!(left.contains(&cache.join("stale4199")));
    // What the last run used is all still there: running again writes nothing.
    let kept = files(&left);
    assert_eq!(value_with_cache(&lib, &cache), "three");
    assert_eq!(entries(&cache), left);
    assert_eq!(files(&left), kept);

    std::fs::remove_dir_all(&dir).unwrap();
}
