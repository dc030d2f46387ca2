//! Where things live under the output root: the names of the published,
//! restricted and per-partner folders and of the files in them.

use std::path::{Path, PathBuf};

use crate::config::Partner;

/// The file name of a dataset partition or indicator output.
pub const PART_FILE: &str = "part-0.parquet";

/// The folder, under the output root, for personal (special-category) data:
/// folders 0700, files 0600. Nothing under it is published.
pub const RESTRICTED_DIR: &str = "restricted";

/// True for paths under the restricted root.
pub fn is_restricted(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == RESTRICTED_DIR)
}

/// Folder of kept versions, under the output root (published files) and
/// under the restricted root (personal files, which never leave it).
pub const VERSIONS_DIR: &str = "versions";

/// A partner's restricted root: `restricted/partner=<id>/`.
pub fn restricted_root(root: &Path, id: &str) -> PathBuf {
    root.join(RESTRICTED_DIR).join(format!("partner={id}"))
}

/// A partner's inbox: its `inbox` setting (resolved by the caller), or
/// `restricted/partner=<id>/inbox/`.
pub fn inbox(root: &Path, p: &Partner, resolve: impl Fn(&Path) -> PathBuf) -> PathBuf {
    match &p.inbox {
        Some(dir) => resolve(dir),
        None => restricted_root(root, &p.id).join("inbox"),
    }
}
