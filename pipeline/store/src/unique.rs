//! The duplicate-key check of a dataset's `unique` columns, in bounded
//! memory.
//!
//! Every stored row's key is kept as a 128-bit digest. The first
//! [`UniqueKeys::budget`] keys live in an in-memory set and a duplicate of
//! one of them is rejected at once, with its row. Past the budget the set
//! stops growing: each further key is still checked against it, then
//! appended to one of [`BUCKETS`] spill files (chosen by the digest's top
//! bits) with the row's position in the stored file and its source file and
//! row. When the step ends, [`UniqueKeys::finish`] reads the buckets one at
//! a time, sorts each and returns the later occurrences of any key seen
//! twice; the host then removes those rows from the file before committing
//! it and quarantines them. Memory is the set (about 20 bytes a key up to
//! the budget) plus one bucket at the end; the spill files (32 bytes a
//! key) are written in an owner-only folder next to the dataset and deleted
//! when the check ends.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Keys held in memory before spilling (about 70 MB with the set's
/// overhead). `EQPIPE_UNIQUE_KEYS_IN_MEMORY` overrides it.
pub const DEFAULT_BUDGET: usize = 3_500_000;

/// Spill files, by the digest's top bits: each holds about 1/128 of the
/// spilled keys, so the final check holds 1/128 of them at a time.
pub const BUCKETS: usize = 128;

/// The name prefix of a spill folder (removed at the next run if a killed
/// run left one behind).
pub const SPILL_PREFIX: &str = ".eqpipe-keys-";

/// The file id that means "no source file column" (the row is then the
/// row's position in the emitted stream).
const NO_FILE: u64 = 0xFFFF;
const ROW_BITS: u32 = 48;

/// A 128-bit digest of a unique key: two independently seeded 64-bit
/// foldhash (quality) hashes. (Collision chance about 10^-20 at 100
/// million keys.)
pub fn key_digest(bytes: &[u8]) -> u128 {
    use std::hash::BuildHasher;
    (u128::from(DIGEST_A.hash_one(bytes)) << 64) | u128::from(DIGEST_B.hash_one(bytes))
}

const DIGEST_A: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x243f_6a88_85a3_08d3);
const DIGEST_B: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x1319_8a2e_0370_7344);

/// The digest of a key of fixed-width parts (a binary pseudonym, a date, a
/// number), fed word by word: the same two seeded hashes as
/// [`key_digest`], over integers (one multiplication a word), not a loop
/// over bytes. Each part is marked present or null, so the parts' values
/// read back unambiguously.
pub struct WordDigest {
    a: foldhash::quality::FoldHasher<'static>,
    b: foldhash::quality::FoldHasher<'static>,
}

impl Default for WordDigest {
    fn default() -> Self {
        use std::hash::BuildHasher;
        WordDigest {
            a: DIGEST_A.build_hasher(),
            b: DIGEST_B.build_hasher(),
        }
    }
}

impl WordDigest {
    /// A null part.
    #[inline]
    pub fn null(&mut self) {
        use std::hash::Hasher;
        self.a.write_u8(0);
        self.b.write_u8(0);
    }

    /// A present part's bytes (a fixed width: the width is the column's).
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) {
        use std::hash::Hasher;
        self.a.write_u8(1);
        self.b.write_u8(1);
        let words = bytes.chunks_exact(8);
        let rest = words.remainder();
        for c in words {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.a.write_u64(w);
            self.b.write_u64(w);
        }
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            let w = u64::from_le_bytes(w);
            self.a.write_u64(w);
            self.b.write_u64(w);
        }
    }

    /// The 128-bit digest.
    pub fn finish(self) -> u128 {
        use std::hash::Hasher;
        (u128::from(self.a.finish()) << 64) | u128::from(self.b.finish())
    }
}

/// Where a row came from, for the quarantine file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// The source file; `None` when the plugin gave no source row, and
    /// `row` is then the row's position in the emitted stream.
    pub file: Option<String>,
    /// The row in that file (as the plugin numbered it), or the row's
    /// position in the emitted stream (1-based).
    pub row: u64,
}

impl SourceRow {
    /// `file.csv, row 12`, or `emitted row 12`.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(f) => format!("{f}, row {}", self.row),
            None => format!("emitted row {}", self.row),
        }
    }
}

/// A row found, at the end, to repeat an earlier row's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateDuplicate {
    /// The row's position among the stored rows (0-based).
    pub ordinal: u64,
    /// Where it came from.
    pub source: SourceRow,
}

struct Spill {
    dir: tempfile::TempDir,
    buckets: Vec<BufWriter<File>>,
    files: Vec<String>,
    file_ids: foldhash::HashMap<String, u64>,
}

/// The keys of one dataset seen so far in a step.
pub struct UniqueKeys {
    budget: usize,
    seen: foldhash::HashSet<u128>,
    spill_parent: Option<PathBuf>,
    spill: Option<Spill>,
    spilled: u64,
}

impl Default for UniqueKeys {
    fn default() -> Self {
        let budget = std::env::var("EQPIPE_UNIQUE_KEYS_IN_MEMORY")
            .ok()
            .and_then(|v| v.trim().replace('_', "").parse().ok())
            .unwrap_or(DEFAULT_BUDGET);
        UniqueKeys::with_budget(budget)
    }
}

impl UniqueKeys {
    /// A check holding at most `budget` keys in memory.
    pub fn with_budget(budget: usize) -> Self {
        UniqueKeys {
            budget: budget.max(1),
            seen: foldhash::HashSet::default(),
            spill_parent: None,
            spill: None,
            spilled: 0,
        }
    }

    /// Spill files go in a temporary folder under `dir` (created owner-only
    /// under the restricted root); without it, in the system's temporary
    /// folder.
    pub fn spill_in(&mut self, dir: &Path) {
        self.spill_parent = Some(dir.to_path_buf());
    }

    /// Keys written to the spill files so far.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    /// Records a stored row's key. Returns false when the key repeats one
    /// already known (the row must be rejected now); a repeat among the
    /// spilled keys is found by [`finish`](Self::finish). `source` is
    /// asked only when the key is spilled.
    pub fn claim(
        &mut self,
        digest: u128,
        ordinal: u64,
        source: impl FnOnce() -> SourceRow,
    ) -> std::io::Result<bool> {
        if self.seen.len() < self.budget {
            return Ok(self.seen.insert(digest));
        }
        if self.seen.contains(&digest) {
            return Ok(false);
        }
        let spill = match &mut self.spill {
            Some(s) => s,
            None => self.spill.insert(self.open_spill()?),
        };
        let src = source();
        let file_id = match src.file {
            None => NO_FILE,
            Some(f) => match spill.file_ids.get(&f) {
                Some(id) => *id,
                None if (spill.files.len() as u64) < NO_FILE => {
                    let id = spill.files.len() as u64;
                    spill.files.push(f.clone());
                    spill.file_ids.insert(f, id);
                    id
                }
                // Past 65,535 source files the file is not recorded.
                None => NO_FILE,
            },
        };
        let mut entry = [0u8; 32];
        entry[..16].copy_from_slice(&digest.to_le_bytes());
        entry[16..24].copy_from_slice(&ordinal.to_le_bytes());
        let packed = (file_id << ROW_BITS) | (src.row & ((1 << ROW_BITS) - 1));
        entry[24..].copy_from_slice(&packed.to_le_bytes());
        let bucket = (digest >> (128 - BUCKETS.trailing_zeros())) as usize;
        spill.buckets[bucket].write_all(&entry)?;
        self.spilled += 1;
        Ok(true)
    }

    fn open_spill(&self) -> std::io::Result<Spill> {
        let dir = match &self.spill_parent {
            Some(p) => {
                crate::files::create_dir(p).map_err(std::io::Error::other)?;
                tempfile::Builder::new()
                    .prefix(SPILL_PREFIX)
                    .tempdir_in(p)?
            }
            None => tempfile::Builder::new().prefix(SPILL_PREFIX).tempdir()?,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        let buckets = (0..BUCKETS)
            .map(|b| {
                File::create(dir.path().join(format!("{b:03}.keys")))
                    .map(|f| BufWriter::with_capacity(32 * 1024, f))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Spill {
            dir,
            buckets,
            files: Vec::new(),
            file_ids: foldhash::HashMap::default(),
        })
    }

    /// Ends the check: frees the in-memory set and returns every spilled
    /// row whose key an earlier row already had, in stored order. Empty
    /// when nothing was spilled.
    pub fn finish(&mut self) -> std::io::Result<Vec<LateDuplicate>> {
        self.seen = foldhash::HashSet::default();
        let Some(spill) = self.spill.take() else {
            return Ok(Vec::new());
        };
        let mut late = Vec::new();
        let mut entries: Vec<(u128, u64, u64)> = Vec::new();
        for (b, w) in spill.buckets.into_iter().enumerate() {
            w.into_inner().map_err(|e| e.into_error())?;
            let path = spill.dir.path().join(format!("{b:03}.keys"));
            let mut r = BufReader::with_capacity(256 * 1024, File::open(&path)?);
            entries.clear();
            let mut e = [0u8; 32];
            loop {
                match r.read_exact(&mut e) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(err) => return Err(err),
                }
                let word = |r: std::ops::Range<usize>| {
                    u64::from_le_bytes(e[r].try_into().expect("8 bytes"))
                };
                let digest = u128::from_le_bytes(e[..16].try_into().expect("16 bytes"));
                entries.push((digest, word(16..24), word(24..32)));
            }
            std::fs::remove_file(&path)?;
            entries.sort_unstable();
            for pair in entries.windows(2) {
                if pair[0].0 == pair[1].0 {
                    let (_, ordinal, packed) = pair[1];
                    let file_id = packed >> ROW_BITS;
                    late.push(LateDuplicate {
                        ordinal,
                        source: SourceRow {
                            file: spill.files.get(file_id as usize).cloned(),
                            row: packed & ((1 << ROW_BITS) - 1),
                        },
                    });
                }
            }
        }
        late.sort_unstable_by_key(|d| d.ordinal);
        Ok(late)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(row: u64) -> impl FnOnce() -> SourceRow {
        move || SourceRow {
            file: Some(format!("f{}.csv", row % 3)),
            row,
        }
    }

    #[test]
    fn word_digests_tell_values_and_nulls_apart() {
        let digest = |parts: &[Option<&[u8]>]| {
            let mut d = WordDigest::default();
            for p in parts {
                match p {
                    Some(b) => d.bytes(b),
                    None => d.null(),
                }
            }
            d.finish()
        };
        let key = [7u8; 32];
        let mut other = key;
        other[31] = 8;
        let date = 20_000i32.to_le_bytes();
        let zero = 0i32.to_le_bytes();
        let all = [
            digest(&[Some(&key), Some(&date)]),
            digest(&[Some(&other), Some(&date)]),
            digest(&[Some(&key), Some(&zero)]),
            digest(&[Some(&key), None]),
            digest(&[None, Some(&date)]),
            digest(&[None, None]),
            digest(&[Some(&zero), None]),
        ];
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(all[0], digest(&[Some(&key), Some(&date)]));
    }

    #[test]
    fn within_the_budget_repeats_are_found_at_once() {
        let mut k = UniqueKeys::with_budget(10);
        assert!(k.claim(key_digest(b"a"), 0, src(1)).unwrap());
        assert!(!k.claim(key_digest(b"a"), 1, src(2)).unwrap());
        assert_eq!(k.spilled(), 0);
        assert!(k.finish().unwrap().is_empty());
    }

    #[test]
    fn past_the_budget_repeats_are_found_at_the_end_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = UniqueKeys::with_budget(100);
        k.spill_in(dir.path());
        let mut ordinal = 0;
        let mut rejected_now = Vec::new();
        // 5,000 distinct keys, then key 7 (in memory: rejected now), key
        // 4,000 twice more (spilled: found at the end), and key 4,001 once
        // more.
        let keys: Vec<u64> = (0..5000).chain([7, 4000, 4000, 4001]).collect();
        for (row, key) in keys.iter().enumerate() {
            let row = row as u64 + 2;
            if k.claim(key_digest(&key.to_le_bytes()), ordinal, src(row))
                .unwrap()
            {
                ordinal += 1;
            } else {
                rejected_now.push(row);
            }
        }
        assert_eq!(rejected_now, vec![5002], "the repeat of key 7");
        assert_eq!(k.spilled(), 4900 + 3);
        let spill_dir = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(spill_dir, 1, "one spill folder");
        let late = k.finish().unwrap();
        let rows: Vec<u64> = late.iter().map(|d| d.source.row).collect();
        assert_eq!(rows, vec![5003, 5004, 5005]);
        assert_eq!(
            late.iter().map(|d| d.ordinal).collect::<Vec<_>>(),
            vec![5000, 5001, 5002]
        );
        assert_eq!(late[0].source.file.as_deref(), Some("f2.csv"));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spill folder is removed"
        );
    }
}
