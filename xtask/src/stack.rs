//! A large generated layer stack for `cargo xtask bench stack`: openembedded-core's `meta`
//! plus COPIES layers of renamed copies of its recipes, as real stacks hold 3,000–6,000
//! recipe files (openembedded-core plus meta-openembedded, BSPs, a company's layers).
//!
//! Copy N is `meta-copyN`: every `.bb`, `.bbappend` and `.inc` of `meta/recipes-*` renamed
//! with the prefix `cN` (`foo_1.0.bb` → `cNfoo_1.0.bb`, so that each copy's recipes have
//! names of their own), literal `require`/`include` lines naming a renamed file rewritten;
//! every other file and directory is a symlink to the original, and directories also get a
//! prefixed alias, so that FILESPATH's `${BPN}` lookups still find them. Its layer has
//! collection `copyN` at priority 5 + N.

use std::path::{Path, PathBuf};

/// Whether a file name matches `pattern`, where `${…}` stands for any text.
fn matches_expanded(pattern: &str, name: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        literals.push(&rest[..start]);
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    literals.push(rest);
    let Some((first, others)) = literals.split_first() else {
        return name == pattern;
    };
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    if others.is_empty() {
        return remaining.is_empty();
    }
    let (last, middle) = others.split_last().expect("not empty");
    for literal in middle {
        match remaining.find(literal) {
            Some(at) => remaining = &remaining[at + literal.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// `text` with its `require`/`include`/`include_all` lines that name one of `names`
/// (literally, or with `${…}` in the name) pointing at the renamed file.
fn rewrite_requires(text: &str, prefix: &str, names: &[String]) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        let keyword = ["require", "include_all", "include"]
            .into_iter()
            .find(|k| trimmed.starts_with(k) && trimmed[k.len()..].starts_with([' ', '\t']));
        let Some(keyword) = keyword else {
            out.push(line.to_owned());
            continue;
        };
        let indent = &line[..line.len() - trimmed.len()];
        let after = &trimmed[keyword.len()..];
        let spaces = &after[..after.len() - after.trim_start().len()];
        let path = after.split_whitespace().next().unwrap_or("");
        let tail = &after.trim_start()[path.len()..];
        let (head, base) = path.rsplit_once('/').map_or(("", path), |(h, b)| (h, b));
        let renamed = !base.is_empty()
            && !base.starts_with("${")
            && [".inc", ".bb", ".bbappend"]
                .iter()
                .any(|e| base.ends_with(e))
            && names.iter().any(|n| matches_expanded(base, n));
        if renamed {
            let dir = if head.is_empty() {
                String::new()
            } else {
                format!("{head}/")
            };
            out.push(format!(
                "{indent}{keyword}{spaces}{dir}{prefix}{base}{tail}"
            ));
        } else {
            out.push(line.to_owned());
        }
    }
    out.join("\n")
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn is_metadata(name: &str) -> bool {
    [".bb", ".bbappend", ".inc"]
        .iter()
        .any(|e| name.ends_with(e))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The series openembedded-core's layer is compatible with (`LAYERSERIES_COMPAT_core`):
/// BitBake checks a layer's compatibility unexpanded, so the copies name them literally.
fn core_series(meta: &Path) -> Result<String, String> {
    let layer_conf = meta.join("conf/layer.conf");
    let text = std::fs::read_to_string(&layer_conf)
        .map_err(|e| format!("{}: {e}", layer_conf.display()))?;
    text.lines()
        .filter_map(|line| line.strip_prefix("LAYERSERIES_COMPAT_core"))
        .filter_map(|rest| rest.split_once('"').map(|(_, value)| value))
        .find_map(|value| value.split_once('"').map(|(series, _)| series.to_owned()))
        .ok_or_else(|| format!("{}: no LAYERSERIES_COMPAT_core", layer_conf.display()))
}

/// Makes `dest` a renamed copy number `n` of the layer `meta`.
fn make_copy(meta: &Path, dest: &Path, n: usize) -> Result<(), String> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| format!("{path}: {e}")
    };
    let prefix = format!("c{n}");
    let collection = format!("copy{n}");
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest.join("conf")).map_err(io(dest))?;
    std::fs::write(
        dest.join("conf/layer.conf"),
        format!(
            "# Generated by cargo xtask bench stack: renamed copy {n} of openembedded-core/meta\n\
             BBPATH .= \":${{LAYERDIR}}\"\n\
             BBFILES += \"${{LAYERDIR}}/recipes-*/*/*.bb ${{LAYERDIR}}/recipes-*/*/*.bbappend\"\n\
             BBFILE_COLLECTIONS += \"{collection}\"\n\
             BBFILE_PATTERN_{collection} = \"^${{LAYERDIR}}/\"\n\
             BBFILE_PRIORITY_{collection} = \"{priority}\"\n\
             LAYERVERSION_{collection} = \"1\"\n\
             LAYERDEPENDS_{collection} = \"core\"\n\
             LAYERSERIES_COMPAT_{collection} = \"{series}\"\n",
            priority = 5 + n,
            series = core_series(meta)?,
        ),
    )
    .map_err(io(dest))?;
    let tops: Vec<PathBuf> = sorted_entries(meta)?
        .into_iter()
        .filter(|p| file_name(p).starts_with("recipes-") && p.is_dir())
        .collect();
    let mut names = Vec::new();
    for top in &tops {
        for group in sorted_entries(top)?.into_iter().filter(|p| p.is_dir()) {
            names.extend(
                sorted_entries(&group)?
                    .iter()
                    .map(|p| file_name(p))
                    .filter(|n| is_metadata(n)),
            );
        }
    }
    for top in &tops {
        let top_dest = dest.join(file_name(top));
        std::fs::create_dir_all(&top_dest).map_err(io(&top_dest))?;
        for group in sorted_entries(top)? {
            let group_dest = top_dest.join(file_name(&group));
            if !group.is_dir() {
                std::os::unix::fs::symlink(&group, &group_dest).map_err(io(&group_dest))?;
                continue;
            }
            std::fs::create_dir_all(&group_dest).map_err(io(&group_dest))?;
            for entry in sorted_entries(&group)? {
                let name = file_name(&entry);
                if entry.is_file() && is_metadata(&name) {
                    let bytes = std::fs::read(&entry).map_err(io(&entry))?;
                    let text = String::from_utf8_lossy(&bytes);
                    let target = group_dest.join(format!("{prefix}{name}"));
                    std::fs::write(&target, rewrite_requires(&text, &prefix, &names))
                        .map_err(io(&target))?;
                } else {
                    std::os::unix::fs::symlink(&entry, group_dest.join(&name))
                        .map_err(io(&entry))?;
                    if entry.is_dir() && name != "files" {
                        std::os::unix::fs::symlink(
                            &entry,
                            group_dest.join(format!("{prefix}{name}")),
                        )
                        .map_err(io(&entry))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Generates the stack in `work` beside the build directory `build` (made by
/// `scratch_build_dir`, its `openembedded-core` link and `conf` in place): `copies`
/// layers, added to BBLAYERS. Returns how many recipe files BBFILES will match.
pub(crate) fn generate(work: &Path, build: &Path, copies: usize) -> Result<usize, String> {
    let meta = work.join("openembedded-core/meta");
    let mut layers = String::new();
    for n in 1..=copies {
        make_copy(&meta, &work.join(format!("meta-copy{n}")), n)?;
        layers.push_str(&format!("BBLAYERS += \"${{TOPDIR}}/../meta-copy{n}\"\n"));
    }
    let bblayers = build.join("conf/bblayers.conf");
    let mut text =
        std::fs::read_to_string(&bblayers).map_err(|e| format!("{}: {e}", bblayers.display()))?;
    text.push_str(&layers);
    std::fs::write(&bblayers, text).map_err(|e| format!("{}: {e}", bblayers.display()))?;
    let mut count = 0;
    for layer in
        std::iter::once(meta).chain((1..=copies).map(|n| work.join(format!("meta-copy{n}"))))
    {
        for top in sorted_entries(&layer)?
            .into_iter()
            .filter(|p| file_name(p).starts_with("recipes-"))
        {
            for group in sorted_entries(&top)?.into_iter().filter(|p| p.is_dir()) {
                count += sorted_entries(&group)?
                    .iter()
                    .filter(|p| file_name(p).ends_with(".bb"))
                    .count();
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_expansions_match_what_they_may_expand_to() {
        assert!(matches_expanded("gcc-${PV}.inc", "gcc-13.2.inc"));
        assert!(matches_expanded("gcc-common.inc", "gcc-common.inc"));
        assert!(!matches_expanded("gcc-${PV}.inc", "glibc-2.39.inc"));
        assert!(matches_expanded("${BPN}.inc", "zlib.inc"));
    }

    #[test]
    fn requires_of_renamed_files_are_rewritten() {
        let names = vec!["gcc-common.inc".to_owned(), "gcc-13.2.inc".to_owned()];
        let text = "require gcc-common.inc\ninclude recipes-devtools/gcc/gcc-${PV}.inc\nrequire conf/other.inc\nA = \"1\"";
        assert_eq!(
            rewrite_requires(text, "c1", &names),
            "require c1gcc-common.inc\ninclude recipes-devtools/gcc/c1gcc-${PV}.inc\nrequire conf/other.inc\nA = \"1\""
        );
    }
}
