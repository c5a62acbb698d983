//! `hitzeleiter cache gc` and `cache stats` on a store written through the cas library.

use std::path::Path;
use std::process::Command;

#[test]
fn cache_gc_bounds_the_store() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache_gc");
    let _ = std::fs::remove_dir_all(&dir);
    let store = cas::Store::open(&dir, cas::Codec::None).unwrap();
    let mut digests = Vec::new();
    for i in 0..8u8 {
        let digest = store.put(&vec![i; 4096]).unwrap();
        // Use times a minute apart, oldest first (the store's LRU clock is the mtime).
        let hex = digest.hex();
        let file = dir
            .join("blobs")
            .join(&hex[..2])
            .join(format!("{hex}-{}", digest.size));
        let used =
            std::time::SystemTime::now() - std::time::Duration::from_secs(600 - 60 * u64::from(i));
        std::fs::File::options()
            .append(true)
            .open(file)
            .unwrap()
            .set_modified(used)
            .unwrap();
        digests.push(digest);
    }
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
            .arg("cache")
            .args(args)
            .arg("--dir")
            .arg(&dir)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["stats"]);
    assert_eq!(code, Some(0));
    let before: u64 = stdout
        .trim()
        .rsplit(": ")
        .next()
        .and_then(|s| s.trim_end_matches(" bytes").parse().ok())
        .expect("size");
    assert!(before >= 8 * 4096);
    // Blobs take 4096 bytes and a 5-byte header each: four must go.
    let (code, stdout, stderr) = run(&["gc", "--max-size", "20K"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("removed 4 blobs"), "{stdout}");
    // The newest survive.
    assert!(store.contains(&digests[7]) && !store.contains(&digests[0]));
    let (code, _, stderr) = run(&["gc", "--max-size", "lots"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("'lots' is not a size"), "{stderr}");
}
