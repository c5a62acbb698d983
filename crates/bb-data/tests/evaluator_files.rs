//! An `Evaluator` sees each file as it was when it first looked at it (BitBake's
//! `cached_mtime`): the classes on BBPATH, the candidates that were missing, and the
//! states the parse cache records for a recipe's inputs.

use std::path::{Path, PathBuf};

use bb_data::{DataStore, Evaluator, FileStamp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bb-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for layer in ["first", "second"] {
        std::fs::create_dir_all(dir.join(layer).join("classes")).expect("scratch layer");
    }
    dir
}

/// A store whose BBPATH is the two layers, having inherited `greeting`.
fn inherited(evaluator: &Evaluator, dir: &Path) -> DataStore {
    let d = DataStore::new();
    let bbpath = format!(
        "{}:{}",
        dir.join("first").display(),
        dir.join("second").display()
    );
    d.set_var("BBPATH", bbpath).expect("BBPATH is set");
    evaluator
        .inherit(&d, "greeting", "recipe.bb", 1, false)
        .expect("the class is found");
    d
}

fn greeting(d: &DataStore) -> Option<String> {
    d.get_var_str("GREETING").expect("GREETING is read")
}

fn stamp_of<'a>(stamps: &'a [FileStamp], path: &Path) -> &'a FileStamp {
    stamps
        .iter()
        .find(|s| s.path == path)
        .unwrap_or_else(|| panic!("{} is among {stamps:?}", path.display()))
}

#[test]
fn an_evaluator_sees_files_as_they_were_when_it_first_looked() {
    let dir = scratch("evaluator-files");
    let class = dir.join("second/classes/greeting.bbclass");
    let missing = dir.join("first/classes/greeting.bbclass");
    std::fs::write(&class, "GREETING = \"hello\"\n").expect("class written");

    let evaluator = Evaluator::new(None);
    let first = inherited(&evaluator, &dir);
    assert_eq!(greeting(&first).as_deref(), Some("hello"));
    let stamps = evaluator
        .read_files(&first, "__depends")
        .expect("inputs read");
    assert_eq!(stamp_of(&stamps, &class), &FileStamp::of(&class));
    assert_eq!(
        stamp_of(&stamps, &missing).state,
        None,
        "the miss is recorded"
    );

    // The class changes, and a class appears earlier on BBPATH: this evaluator's parse
    // goes on seeing what it saw; its stamps are of that, so a parse cache made from
    // them sees the change as a change next time.
    std::fs::write(&class, "GREETING = \"hello again\"\n").expect("class rewritten");
    std::fs::write(&missing, "GREETING = \"first\"\n").expect("class added");
    let second = inherited(&evaluator, &dir);
    assert_eq!(greeting(&second).as_deref(), Some("hello"));
    let stamps = evaluator
        .read_files(&second, "__depends")
        .expect("inputs read");
    assert!(!stamp_of(&stamps, &class).is_current());
    assert!(!stamp_of(&stamps, &missing).is_current());

    // A new evaluator is a new parse: it sees both.
    let fresh = Evaluator::new(None);
    let third = inherited(&fresh, &dir);
    assert_eq!(greeting(&third).as_deref(), Some("first"));
    let stamps = fresh.read_files(&third, "__depends").expect("inputs read");
    assert!(stamp_of(&stamps, &missing).is_current());
    let _ = std::fs::remove_dir_all(&dir);
}
