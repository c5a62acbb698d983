//! Per-recipe sysroots assembled by hardlinking.
//!
//! A recipe's sysroot (Yocto's `recipe-sysroot` and `recipe-sysroot-native`) holds what
//! the recipes it depends on staged (their `do_populate_sysroot` outputs). [`assemble`]
//! makes the sysroot hold exactly the given contributors' trees: every file and symlink
//! is hardlinked from the contributor (as `cp -afl`, no data is copied), directories are
//! created, and a manifest per contributor records what it put there. On the next call a
//! contributor that is gone has its files removed, and a contributor whose tree changed
//! is brought up to date. The same path from two contributors with different contents is
//! an error naming both.
//!
//! ```
//! use sysroot::{Contributor, assemble};
//!
//! let dir = std::env::temp_dir().join(format!("sysroot-doc-{}", std::process::id()));
//! let staged = dir.join("libz-staged");
//! std::fs::create_dir_all(staged.join("usr/include"))?;
//! std::fs::write(staged.join("usr/include/zlib.h"), "/* zlib */")?;
//! let sysroot = dir.join("recipe-sysroot");
//!
//! let contributors = [Contributor { name: "zlib".into(), dir: staged.clone() }];
//! let report = assemble(&sysroot, &contributors)?;
//! assert_eq!(report.linked, 1);
//! assert_eq!(std::fs::read_to_string(sysroot.join("usr/include/zlib.h"))?, "/* zlib */");
//!
//! // Without zlib among the contributors, its files leave the sysroot.
//! let report = assemble(&sysroot, &[])?;
//! assert_eq!(report.removed, 1);
//! assert!(!sysroot.join("usr/include/zlib.h").exists());
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A recipe whose staged tree goes into the sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributor {
    /// Its name (a recipe's PN): names its manifest and appears in conflicts.
    pub name: String,
    /// The root of its staged tree.
    pub dir: PathBuf,
}

/// What [`assemble`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files and symlinks hardlinked into the sysroot.
    pub linked: usize,
    /// Files copied because the contributor is on another file system.
    pub copied: usize,
    /// Files already in place (the same inode).
    pub unchanged: usize,
    /// Files removed: their contributor is gone or no longer has them.
    pub removed: usize,
}

/// Why a sysroot could not be assembled.
#[derive(Debug)]
pub enum SysrootError {
    /// Two contributors give the same path with different contents.
    Conflict {
        /// The path, relative to the sysroot.
        path: PathBuf,
        /// The contributor that gave it first.
        first: String,
        /// The contributor that gave it again, differently.
        second: String,
    },
    /// A file operation failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

impl fmt::Display for SysrootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysrootError::Conflict {
                path,
                first,
                second,
            } => write!(
                f,
                "{} is staged by both {first} and {second} with different contents",
                path.display()
            ),
            SysrootError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for SysrootError {}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SysrootError + '_ {
    move |error| SysrootError::Io {
        path: path.to_owned(),
        error,
    }
}

/// Where the manifests of `sysroot` are kept: beside it, so that the sysroot holds only
/// staged files.
pub fn manifest_dir(sysroot: &Path) -> PathBuf {
    let name = sysroot
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sysroot.with_file_name(format!("{name}.manifests"))
}

/// A manifest: the paths a contributor put into the sysroot, directories ending in `/`.
fn read_manifest(path: &Path) -> Result<Vec<String>, SysrootError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    Ok(text.lines().map(str::to_owned).collect())
}

fn write_manifest(path: &Path, entries: &[String]) -> Result<(), SysrootError> {
    let temporary = path.with_extension("tmp");
    let mut text = entries.join("\n");
    text.push('\n');
    fs::write(&temporary, text).map_err(io_at(&temporary))?;
    fs::rename(&temporary, path).map_err(io_at(path))
}

/// The entries of a staged tree, relative to its root, parents before children.
fn walk(root: &Path) -> Result<Vec<(String, fs::Metadata)>, SysrootError> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let mut entries: Vec<fs::DirEntry> = fs::read_dir(&dir)
            .map_err(io_at(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io_at(&dir))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries.into_iter().rev() {
            let path = relative.join(entry.file_name());
            let metadata = fs::symlink_metadata(entry.path()).map_err(io_at(&entry.path()))?;
            if metadata.is_dir() {
                pending.push(path.clone());
            }
            out.push((path.to_string_lossy().into_owned(), metadata));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn same_contents(a: &Path, b: &Path) -> Result<bool, SysrootError> {
    let (ma, mb) = (
        fs::symlink_metadata(a).map_err(io_at(a))?,
        fs::symlink_metadata(b).map_err(io_at(b))?,
    );
    if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
        return Ok(true);
    }
    if ma.file_type().is_symlink() || mb.file_type().is_symlink() {
        return Ok(ma.file_type().is_symlink()
            && mb.file_type().is_symlink()
            && fs::read_link(a).ok() == fs::read_link(b).ok());
    }
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let read = |p: &Path| -> Result<Vec<u8>, SysrootError> {
        let mut data = Vec::new();
        fs::File::open(p)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_at(p))?;
        Ok(data)
    };
    Ok(read(a)? == read(b)?)
}

/// Removes `path` if it is a file or symlink, then its parent directories that became
/// empty, up to `root`.
fn remove_file_and_empty_parents(root: &Path, path: &Path) -> Result<bool, SysrootError> {
    let removed = match fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(error) => {
            return Err(SysrootError::Io {
                path: path.to_owned(),
                error,
            });
        }
    };
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(removed)
}

/// Makes `sysroot` hold exactly the trees of `contributors` (see the crate
/// documentation). Contributors are linked in the order given.
pub fn assemble(sysroot: &Path, contributors: &[Contributor]) -> Result<Report, SysrootError> {
    let manifests = manifest_dir(sysroot);
    fs::create_dir_all(sysroot).map_err(io_at(sysroot))?;
    fs::create_dir_all(&manifests).map_err(io_at(&manifests))?;
    let mut report = Report::default();

    // Who gives each path this time; checked before anything changes on disk.
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    let mut trees = Vec::new();
    for (index, contributor) in contributors.iter().enumerate() {
        let entries = walk(&contributor.dir)?;
        for (path, metadata) in &entries {
            if metadata.is_dir() {
                continue;
            }
            if let Some(&first) = owner.get(path) {
                let a = contributors[first].dir.join(path);
                let b = contributor.dir.join(path);
                if !same_contents(&a, &b)? {
                    return Err(SysrootError::Conflict {
                        path: PathBuf::from(path),
                        first: contributors[first].name.clone(),
                        second: contributor.name.clone(),
                    });
                }
            } else {
                owner.insert(path.clone(), index);
            }
        }
        trees.push(entries);
    }

    // Files of earlier manifests that nobody gives any more.
    let current: BTreeSet<&str> = contributors.iter().map(|c| c.name.as_str()).collect();
    for entry in fs::read_dir(&manifests).map_err(io_at(&manifests))? {
        let entry = entry.map_err(io_at(&manifests))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(contributor) = name.strip_suffix(".manifest") else {
            continue;
        };
        for path in read_manifest(&entry.path())? {
            if path.ends_with('/') || owner.contains_key(&path) {
                continue;
            }
            if remove_file_and_empty_parents(sysroot, &sysroot.join(&path))? {
                report.removed += 1;
            }
        }
        if !current.contains(contributor) {
            fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
        }
    }

    for (index, (contributor, entries)) in contributors.iter().zip(&trees).enumerate() {
        let mut manifest = Vec::with_capacity(entries.len());
        for (path, metadata) in entries {
            let dest = sysroot.join(path);
            if metadata.is_dir() {
                fs::create_dir_all(&dest).map_err(io_at(&dest))?;
                manifest.push(format!("{path}/"));
                continue;
            }
            manifest.push(path.clone());
            if owner.get(path) != Some(&index) {
                continue;
            }
            let source = contributor.dir.join(path);
            match fs::symlink_metadata(&dest) {
                Ok(existing)
                    if existing.dev() == metadata.dev() && existing.ino() == metadata.ino() =>
                {
                    report.unchanged += 1;
                    continue;
                }
                Ok(existing) if existing.is_dir() => {
                    fs::remove_dir_all(&dest).map_err(io_at(&dest))?;
                }
                Ok(_) => fs::remove_file(&dest).map_err(io_at(&dest))?,
                Err(_) => {}
            }
            match fs::hard_link(&source, &dest) {
                Ok(()) => report.linked += 1,
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    copy_entry(&source, &dest, metadata)?;
                    report.copied += 1;
                }
                Err(error) => {
                    return Err(SysrootError::Io { path: dest, error });
                }
            }
        }
        write_manifest(
            &manifests.join(format!("{}.manifest", contributor.name)),
            &manifest,
        )?;
    }
    Ok(report)
}

/// Copies a file or symlink (for contributors on another file system).
fn copy_entry(source: &Path, dest: &Path, metadata: &fs::Metadata) -> Result<(), SysrootError> {
    if metadata.file_type().is_symlink() {
        let target = fs::read_link(source).map_err(io_at(source))?;
        std::os::unix::fs::symlink(target, dest).map_err(io_at(dest))
    } else {
        fs::copy(source, dest).map(|_| ()).map_err(io_at(dest))
    }
}
