//! The three file helpers every writer uses: folders and files created
//! owner-only under the restricted root, and a write that is atomic
//! (temporary name, fsync, rename).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::layout::{RESTRICTED_DIR, is_restricted};

/// A file-system error, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FsError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FsError + '_ {
    move |source| FsError {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and its parents; under the restricted root, every folder
/// from `restricted` down is made owner-only (0700).
pub fn create_dir(dir: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    #[cfg(unix)]
    if is_restricted(dir) {
        use std::os::unix::fs::PermissionsExt;
        let mut p = dir.to_path_buf();
        loop {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).map_err(io(&p))?;
            if p.file_name().is_some_and(|n| n == RESTRICTED_DIR) || !p.pop() {
                break;
            }
        }
    }
    Ok(())
}

/// Creates a file; under the restricted root it is owner-only (0600).
pub fn create_file(path: &Path) -> Result<File, FsError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if is_restricted(path) {
            o.mode(0o600);
        } else if is_manifest(path) {
            // Run manifests name steps, errors and files: for the operators
            // (owner and group), not the world.
            o.mode(0o640);
        }
    }
    o.open(path).map_err(io(path))
}

/// A run manifest (`runs/<run_id>.json`, or its temporary).
fn is_manifest(path: &Path) -> bool {
    path.parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "runs")
}

/// Writes `bytes` to `path` atomically (temporary name, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = path.parent().expect("a file has a folder");
    create_dir(dir)?;
    // Unique per write, not only per process: two threads writing the same
    // file at once (two steps caching one URL's metadata) must not share a
    // temporary, or the second rename finds it gone.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = TempPath(dir.join(format!(
        ".{}.{}-{n}.tmp",
        path.file_name().expect("a file name").to_string_lossy(),
        std::process::id()
    )));
    // Owner-only under the restricted root.
    let mut f = create_file(&tmp.0)?;
    f.write_all(bytes).map_err(io(&tmp.0))?;
    f.sync_all().map_err(io(&tmp.0))?;
    std::fs::rename(&tmp.0, path).map_err(io(path))?;
    tmp.keep();
    Ok(())
}

/// A temporary file removed when dropped, on every error path, unless
/// [`TempPath::keep`] says it was renamed into place.
#[derive(Debug)]
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// The file was committed (renamed): nothing to remove.
    pub fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps caching the same URL write its metadata at once: every
    /// write lands whole, none fails because another moved its temporary.
    #[test]
    fn concurrent_writes_of_one_file_all_succeed_and_leave_one_whole_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..200 {
                        write_atomic(path, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(
            bytes.iter().all(|b| *b == bytes[0]),
            "one writer's copy, whole"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temporary left behind");
    }
}
