//! Incremental runs: a step whose inputs have not changed since its last
//! successful run is not run again; its outputs stay as they are and the
//! manifest says `unchanged`. `eqpipe run --force` runs everything.
//!
//! A source's fingerprint is its plugin and version, a digest of its
//! options, and every fetch it made with a digest of what came back
//! ([`content_digest`]: XXH3-128 of a file's bytes; for a folder, of the
//! names, sizes and modification times of its files, so a new monthly
//! extract counts as a change). Before running
//! the source again the host replays those fetches (HTTP revalidation with
//! ETag/Last-Modified, so an unchanged file is not downloaded) and compares.
//! Requests are stored as the plugin made them: secrets appear only as the
//! names of their environment variables. An indicator's fingerprint is its
//! plugin, version and options and the size and modification time of every
//! input file; it reruns when any input was rewritten.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use eqpipe_plugin_sdk::FetchRequest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::files as store;

/// One input of a step and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The fetch request as the plugin made it (sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<FetchRequest>,
    /// The input file (indicators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The content's [`content_digest`], or a SHA-256 of the file's size
    /// and mtime (indicator inputs).
    pub digest: String,
}

/// What a step's last successful run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// SHA-256 of the options JSON.
    pub options: String,
    /// The run that made it.
    pub run_id: String,
    /// Inputs.
    pub inputs: Vec<Input>,
    /// The files it committed: (dataset, path relative to the output root).
    pub outputs: Vec<(String, String)>,
}

/// SHA-256 of a string, hex.
pub fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// SHA-256 of a file's bytes, or of a folder's listing (name, size, mtime
/// of each file, sorted).
pub fn digest_path(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mut h = Sha256::new();
    if meta.is_dir() {
        let mut entries: Vec<String> = Vec::new();
        for e in std::fs::read_dir(path)?.flatten() {
            let m = e.metadata()?;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            entries.push(format!(
                "{}\t{}\t{mtime}",
                e.file_name().to_string_lossy(),
                m.len()
            ));
        }
        entries.sort();
        for e in entries {
            h.update(e.as_bytes());
            h.update(b"\n");
        }
    } else {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// The digest that tells a step whether a fetched input changed: XXH3-128
/// of a file's bytes (or of a folder's listing, as [`digest_path`] reads
/// it), `xxh3-128:` and 32 hex digits. Not SHA-256: this runs on every
/// fetched file of every run, beside the parse, and SHA-256 of a 400 MB
/// extract took a sixth of a workforce step's CPU where XXH3 reads at
/// memory speed. A change detector needs no resistance to a forger (one
/// who can rewrite the input can feed the run anything); the chance that
/// a changed file keeps its 128-bit digest is about 2^-128. Published
/// files keep SHA-256 ([`digest_path`]). A fingerprint stored with a
/// SHA-256 digest by an earlier version never matches, so the step runs
/// once more and stores the new kind.
pub fn content_digest(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mut h = twox_hash::XxHash3_128::new();
    if meta.is_dir() {
        h.write(digest_path(path)?.as_bytes());
    } else {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.write(&buf[..n]);
        }
    }
    Ok(format!("xxh3-128:{:032x}", h.finish_128()))
}

/// A file's size and modification time, as a digest (indicator inputs:
/// every commit rewrites the file).
pub fn stamp(path: &Path) -> String {
    let m = std::fs::metadata(path).ok();
    let mtime = m
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    sha(&format!(
        "{}:{}:{mtime}",
        path.display(),
        m.map(|m| m.len()).unwrap_or(0)
    ))
}

/// Where a step's fingerprint lives (under the restricted root for steps
/// that write personal data).
pub fn path(root: &Path, kind: &str, step: &str, personal: bool) -> PathBuf {
    eqpipe_core::layout::Layout::new(root).fingerprint(kind, step, personal)
}

/// The stored fingerprint, if any.
pub fn load(path: &Path) -> Option<Fingerprint> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Stores a fingerprint.
pub fn save(path: &Path, fp: &Fingerprint) {
    let json = serde_json::to_vec_pretty(fp).expect("serialisable");
    if let Err(e) = store::write_atomic(path, &json) {
        tracing::warn!("cannot save the step's fingerprint: {e}");
    }
}

/// True when `old` describes the same plugin, version and options as the
/// step about to run, and its outputs are still there.
pub fn same_step(
    old: &Fingerprint,
    plugin: &str,
    version: &str,
    options: &str,
    root: &Path,
) -> bool {
    old.plugin == plugin
        && old.version == version
        && old.options == sha(options)
        && !old.outputs.is_empty()
        && old.outputs.iter().all(|(_, o)| root.join(o).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_digest_changes_when_a_file_is_added() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.csv"), "x").unwrap();
        let one = digest_path(d.path()).unwrap();
        assert_eq!(one, digest_path(d.path()).unwrap());
        std::fs::write(d.path().join("b.csv"), "y").unwrap();
        assert_ne!(one, digest_path(d.path()).unwrap());
        let f = d.path().join("a.csv");
        assert_eq!(digest_path(&f).unwrap(), sha("x"));
        let one = content_digest(d.path()).unwrap();
        std::fs::write(d.path().join("c.csv"), "z").unwrap();
        assert_ne!(one, content_digest(d.path()).unwrap());
    }

    #[test]
    fn a_content_digest_is_xxh3_128_of_the_bytes_however_they_are_read() {
        let d = tempfile::tempdir().unwrap();
        let empty = d.path().join("empty.csv");
        std::fs::write(&empty, "").unwrap();
        // XXH3_128bits("") from the reference implementation's test vectors.
        assert_eq!(
            content_digest(&empty).unwrap(),
            "xxh3-128:99aa06d3014798d86001c324468d497f"
        );
        // Longer than the read buffer, so the hash is fed in pieces.
        let bytes: Vec<u8> = (0..(3 << 20) + 12_345u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let big = d.path().join("big.csv");
        std::fs::write(&big, &bytes).unwrap();
        let whole = twox_hash::XxHash3_128::oneshot(&bytes);
        assert_eq!(
            content_digest(&big).unwrap(),
            format!("xxh3-128:{whole:032x}")
        );
        let mut changed = bytes.clone();
        changed[2 << 20] ^= 1;
        std::fs::write(&big, &changed).unwrap();
        assert_ne!(
            content_digest(&big).unwrap(),
            format!("xxh3-128:{whole:032x}")
        );
    }
}
