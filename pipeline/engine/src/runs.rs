//! The run history: the manifests under `runs/`, finding one by id, and
//! putting back the files an earlier run wrote (`eqpipe runs restore`).

use std::path::{Path, PathBuf};

use eqpipe_core::config::lake::LakeConfig;
use eqpipe_core::manifest::RunManifest;

/// Why the history could not be read or a run not restored.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// No `runs/` folder.
    #[error("no run history in {dir}: {source}")]
    NoHistory {
        /// The folder looked in.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A manifest could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No run matches.
    #[error("no run `{id}` in {dir}")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The runs folder.
        dir: PathBuf,
    },
    /// Several runs match a prefix.
    #[error("`{id}` matches {n} runs; give more of the id")]
    Ambiguous {
        /// The prefix asked for.
        id: String,
        /// How many match.
        n: usize,
    },
    /// Versions of the run are no longer kept.
    #[error(
        "no kept versions of run {run} (versions are kept for the newest runs only: [versions] keep; kept now: {kept})"
    )]
    NotKept {
        /// The run.
        run: String,
        /// The runs whose versions are kept, or `none`.
        kept: String,
    },
    /// The output lock.
    #[error(transparent)]
    Lock(#[from] eqpipe_store::lock::LockError),
    /// Putting files back, or rewriting the catalogue and report.
    #[error(transparent)]
    Store(#[from] eqpipe_store::files::StoreError),
}

/// The run history: every readable manifest, oldest first, and the files
/// that could not be parsed (with why).
#[derive(Debug, Default)]
pub struct History {
    /// The manifests, oldest first.
    pub runs: Vec<RunManifest>,
    /// Files under `runs/` that are not a manifest this eqpipe reads.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Every run manifest under `out/runs`.
pub fn list(out: &Path) -> Result<History, RunsError> {
    let dir = eqpipe_core::layout::Layout::new(out).runs();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| RunsError::NoHistory {
            dir: dir.clone(),
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|source| RunsError::Read {
            path: f.clone(),
            source,
        })?;
        match serde_json::from_slice::<RunManifest>(&bytes) {
            Ok(m) => runs.push(m),
            Err(e) => skipped.push((f, e.to_string())),
        }
    }
    Ok(History { runs, skipped })
}

/// One run by id, unique prefix or `latest`.
pub fn find<'a>(
    runs: &'a [RunManifest],
    id: &str,
    out: &Path,
) -> Result<&'a RunManifest, RunsError> {
    let found: Vec<&RunManifest> = if id == "latest" {
        runs.last().into_iter().collect()
    } else {
        runs.iter().filter(|m| m.run_id.starts_with(id)).collect()
    };
    match found.as_slice() {
        [m] => Ok(*m),
        [] => Err(RunsError::NotFound {
            id: id.to_string(),
            dir: eqpipe_core::layout::Layout::new(out).runs(),
        }),
        _ => Err(RunsError::Ambiguous {
            id: id.to_string(),
            n: found.len(),
        }),
    }
}

/// What a restore did: the files put back, and what could not be
/// rewritten from them (the catalogue, the report), each said in a line.
#[derive(Debug, Default)]
pub struct Restored {
    /// The files put back.
    pub files: Vec<PathBuf>,
    /// The lake's tables whose partitions were put back to the run's
    /// files, with each one's new version.
    pub lake_tables: Vec<(String, i64)>,
    /// The catalogue or report that could not be rewritten, and why: the
    /// data is back either way.
    pub not_rewritten: Vec<String>,
}

/// Puts back the files run `m` wrote, under the output lock, then forgets
/// every step's fingerprint (they described the files just replaced) and
/// rewrites the catalogue and report.
pub fn restore(out: &Path, m: &RunManifest) -> Result<Restored, RunsError> {
    let kept = eqpipe_store::files::version_runs(out);
    if !kept.contains(&m.run_id) {
        return Err(RunsError::NotKept {
            run: m.run_id.clone(),
            kept: if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(", ")
            },
        });
    }
    let _lock = eqpipe_store::lock::OutputLock::acquire(out)?;
    let files = eqpipe_store::files::restore_version(out, &m.run_id)?;
    // Every step runs in full next time: its fingerprint described the
    // files that were just replaced.
    for dir in eqpipe_core::layout::Layout::new(out).fingerprint_dirs() {
        let _ = std::fs::remove_dir_all(dir);
    }
    // The contracts the runs knew (contracts_dir, plugins' own), not only
    // the built-ins: no dataset drops out of the catalogue.
    let contracts = eqpipe_store::contracts::Contracts::recorded(out);
    let mut not_rewritten = Vec::new();
    let catalog = match eqpipe_publish::catalog::write(out, &contracts, &m.run_id) {
        Ok(c) => Some(c),
        Err(e) => {
            not_rewritten.push(format!("the catalogue: {e}"));
            None
        }
    };
    // The templates and evidence packs the last report was written with.
    let settings = eqpipe_publish::report::Settings::recorded(out);
    if let Err(e) = eqpipe_publish::report::write(out, m, &settings) {
        not_rewritten.push(format!("the report: {e}"));
    }
    // The lake's tables: the partitions this folder holds put back to the
    // run's files.
    let mut lake_tables = Vec::new();
    if let Some(uri) = &m.lake {
        match &catalog {
            Some(c) => match restore_lake(out, uri, m, c) {
                Ok(t) => lake_tables = t,
                Err(e) => not_rewritten.push(format!("the lake: {e}")),
            },
            None => not_rewritten.push("the lake: no catalogue to commit from".into()),
        }
    }
    Ok(Restored {
        files,
        lake_tables,
        not_rewritten,
    })
}

/// Puts the run's partitions of each lake table back (the restricted ones
/// in the restricted lake), opening the lakes as the run reached them: the
/// local files are the run's again, so committing them makes each table's
/// partitions this folder writes what the run left, under the same
/// content-named files (uploaded again if a vacuum took them). Other
/// partners' partitions, committed from other machines, are left alone, as
/// a whole-table Delta RESTORE would not. Returns each table moved, with
/// its new version.
fn restore_lake(
    out: &Path,
    uri: &str,
    m: &RunManifest,
    catalog: &eqpipe_publish::catalog::Catalog,
) -> Result<Vec<(String, i64)>, eqpipe_publish::lake::LakeError> {
    use eqpipe_publish::lake::{Lake, commit};
    // Older manifests recorded the folder alone.
    let cfg = m.lake_config.clone().unwrap_or_else(|| LakeConfig {
        uri: uri.to_string(),
        options: Default::default(),
        env: Default::default(),
        lock_hours: None,
        vacuum_grace_minutes: None,
        restricted: None,
    });
    let published = Lake::open(&cfg, Path::new("/"))?;
    // The parts of the lake the run wrote, locked as a run locks them: a
    // partner's run elsewhere does not commit between the restore's tables.
    let hours = cfg
        .lock_hours
        .unwrap_or(crate::runner::lake::DEFAULT_LEASE_HOURS);
    let _lock = published.lock(
        &m.lake_locks,
        &crate::runner::lake::holder(&format!("the restore of run {}", m.run_id)),
        std::time::Duration::from_secs(hours * 3600),
    )?;
    let mut lakes = vec![(published, false)];
    if let Some(r) = &cfg.restricted {
        lakes.push((Lake::open(r, Path::new("/"))?, true));
    }
    let mut moved = Vec::new();
    for (lake, restricted) in lakes {
        let c = commit(out, catalog, &lake, restricted)?;
        for t in c.committed {
            let v = c.versions[&t];
            moved.push((t, v));
        }
    }
    Ok(moved)
}
