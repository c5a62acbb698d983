//! Finding the metadata files of a layer.

use std::io;
use std::path::{Path, PathBuf};

use crate::FileKind;

/// Every metadata file under `dir`, sorted by path.
///
/// Like BitBake, it leaves out what is payload rather than metadata: hidden directories
/// such as `.git`, `files/` directories (fetched with `file://`), and `.conf` files outside
/// a `conf/` directory (configuration files that recipes install).
pub fn collect_metadata_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect_under(dir, false, &mut files)?;
    Ok(files)
}

fn collect_under(dir: &Path, in_conf: bool, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            if name != "files" {
                collect_under(&path, in_conf || name == "conf", files)?;
            }
        } else if let Some(kind) = FileKind::from_path(&path)
            && (in_conf || kind != FileKind::Conf)
        {
            files.push(path);
        }
    }
    Ok(())
}
