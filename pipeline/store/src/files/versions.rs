//! Earlier outputs kept by run (`versions/<run>/…`, hard links where the
//! file system allows), listed, pruned and restored.

use super::*;

/// The roots versions are kept under: the output folder, the restricted
/// root, and in a partnership each partner's restricted root (a partner's
/// personal files never leave it).
fn version_bases(root: &Path) -> Vec<PathBuf> {
    let restricted = root.join(RESTRICTED_DIR);
    let mut bases = vec![root.to_path_buf(), restricted.clone()];
    let mut partners: Vec<PathBuf> = std::fs::read_dir(&restricted)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(eqpipe_core::layout::PARTITION_PREFIX)
                })
        })
        .collect();
    partners.sort();
    bases.extend(partners);
    bases
}

/// The root a file belongs to (the restricted root for restricted files, a
/// partner's own for its files) and its path relative to it.
fn split_root(root: &Path, file: &Path) -> Option<(PathBuf, PathBuf)> {
    let restricted = root.join(RESTRICTED_DIR);
    if let Ok(rel) = file.strip_prefix(&restricted) {
        if let Some(first) = rel.components().next()
            && first
                .as_os_str()
                .to_string_lossy()
                .starts_with(eqpipe_core::layout::PARTITION_PREFIX)
        {
            let base = restricted.join(first.as_os_str());
            let rest = rel.strip_prefix(first.as_os_str()).expect("its first part");
            return Some((base, rest.to_path_buf()));
        }
        return Some((restricted, rel.to_path_buf()));
    }
    file.strip_prefix(root)
        .ok()
        .map(|rel| (root.to_path_buf(), rel.to_path_buf()))
}

/// Links (or copies) `src` to `dst` under a temporary name, then renames it
/// into place: `dst` is never seen half-written.
fn place(src: &Path, dst: &Path) -> Result<(), StoreError> {
    let dir = dst.parent().expect("a file has a folder");
    create_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.version.tmp",
        dst.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(src, &tmp).is_err() {
        std::fs::copy(src, &tmp).map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, dst).map_err(io(dst))
}

/// Keeps a file just committed by run `run_id` as that run's version:
/// `versions/<run_id>/<its path>` (under the restricted root for restricted
/// files). A hard link, so it costs no space while the file is current.
pub fn keep_version(root: &Path, run_id: &str, file: &Path) -> Result<PathBuf, StoreError> {
    let (base, rel) = split_root(root, file).ok_or_else(|| StoreError::Io {
        path: file.to_path_buf(),
        source: std::io::Error::other("not under the output folder"),
    })?;
    let dst = base.join(VERSIONS_DIR).join(run_id).join(rel);
    place(file, &dst)?;
    Ok(dst)
}

/// Runs with kept versions, oldest first (run ids sort by time).
pub fn version_runs(root: &Path) -> Vec<String> {
    let mut runs: Vec<String> = version_bases(root)
        .iter()
        .flat_map(|b| {
            std::fs::read_dir(b.join(VERSIONS_DIR))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

/// Removes the versions of all but the newest `keep` runs; returns how many
/// runs' versions were removed.
pub fn prune_versions(root: &Path, keep: usize) -> usize {
    let runs = version_runs(root);
    let old = runs.len().saturating_sub(keep);
    for run in &runs[..old] {
        for base in version_bases(root) {
            let _ = std::fs::remove_dir_all(base.join(VERSIONS_DIR).join(run));
        }
    }
    old
}

/// Puts back every file run `run_id` wrote (its kept versions), each
/// renamed into place atomically. Returns the files restored.
pub fn restore_version(root: &Path, run_id: &str) -> Result<Vec<PathBuf>, StoreError> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(p);
            }
        }
    }
    let mut restored = Vec::new();
    for base in version_bases(root) {
        let from = base.join(VERSIONS_DIR).join(run_id);
        let mut found = Vec::new();
        files(&from, &mut found);
        found.sort();
        for f in found {
            let rel = f.strip_prefix(&from).expect("under it");
            let dst = base.join(rel);
            place(&f, &dst)?;
            restored.push(dst);
        }
    }
    Ok(restored)
}
