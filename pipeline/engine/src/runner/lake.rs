//! The run's side of the lake (`[lake]`): its locks, taken before any step
//! runs; the commit of the published files after every local check; the
//! vacuum that keeps what the kept runs need.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use eqpipe_core::config::lake::LakeConfig;
use eqpipe_publish::lake::{Lake, LakeLock};

use super::Scope;
use crate::config::Config;
use crate::manifest::{Outcome, RunManifest};

/// How long a lock of a run that never released it (killed, its machine
/// gone) holds, unless `[lake] lock_hours` says otherwise: longer than a
/// night's run, shorter than the time to the next.
pub(crate) const DEFAULT_LEASE_HOURS: u64 = 12;

/// Files younger than this are not vacuumed unless `[lake]
/// vacuum_grace_minutes` says otherwise: another writer's files between
/// upload and commit.
const DEFAULT_GRACE_MINUTES: u64 = 60;

/// The parts of the lake a run of `scope` writes, each a lock: one per
/// partner whose sources run (the partnership's id for the shared ones;
/// `sources` for a config without partners), and `indicators`.
pub(super) fn lock_names(config: &Config, scope: &Scope) -> Vec<String> {
    let mut names = BTreeSet::new();
    if !scope.indicators_only {
        match &scope.partner {
            Some(p) => {
                names.insert(format!("sources-{p}"));
            }
            None if config.partners.is_empty() => {
                names.insert("sources".to_string());
            }
            None => {
                names.insert(format!("sources-{}", config.partnership.id));
                for p in &config.partners {
                    names.insert(format!("sources-{}", p.id));
                }
            }
        }
    }
    if !scope.sources_only {
        names.insert("indicators".to_string());
    }
    names.into_iter().collect()
}

/// The lakes a run commits to, and its locks (on the published lake, the
/// one every run of a partnership shares).
pub(super) struct Lakes {
    published: Lake,
    restricted: Option<Lake>,
    /// The parts of the lake the run writes (its locks' names).
    parts: Vec<String>,
    /// The tables the run committed: the only ones its vacuum need look
    /// at (a table no run touched has no file newly unneeded).
    committed: std::sync::Mutex<Vec<String>>,
    _lock: LakeLock,
}

/// Who holds a lake lock: `what` (a run, a restore), the process and the
/// host (nothing personal).
pub(crate) fn holder(what: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unnamed host".into());
    format!("{what} (process {} on {host})", std::process::id())
}

/// Opens the lakes and takes the run's locks, if the config has a lake.
pub(super) fn take(config: &Config, scope: &Scope, run_id: &str) -> Result<Option<Lakes>, String> {
    let Some(cfg) = &config.lake else {
        return Ok(None);
    };
    let lake = Lake::open(cfg, &config.base_dir).map_err(|e| e.to_string())?;
    let restricted = match &cfg.restricted {
        Some(r) => {
            Some(Lake::open(r, &config.base_dir).map_err(|e| format!("[lake.restricted]: {e}"))?)
        }
        None => None,
    };
    let holder = holder(&format!("run {run_id}"));
    let hours = cfg.lock_hours.unwrap_or(DEFAULT_LEASE_HOURS);
    let parts = lock_names(config, scope);
    let lock = lake
        .lock(
            &parts,
            &holder,
            std::time::Duration::from_secs(hours * 3600),
        )
        .map_err(|e| e.to_string())?;
    Ok(Some(Lakes {
        published: lake,
        restricted,
        parts,
        committed: Default::default(),
        _lock: lock,
    }))
}

/// Brings the lakes' datasets down into the output folder, for an
/// indicator run (`--indicators-only`) on a machine that ran none of the
/// sources; a lake that cannot be read fails the run (its figures would
/// be of whatever the folder held).
pub(super) fn pull(lakes: &Lakes, root: &Path) -> Result<(), String> {
    let mut targets = vec![(&lakes.published, false)];
    targets.extend(lakes.restricted.as_ref().map(|r| (r, true)));
    for (lake, restricted) in targets {
        let p = eqpipe_publish::lake::pull(lake, restricted, root)
            .map_err(|e| format!("cannot read the datasets from the lake: {e}"))?;
        tracing::info!(
            lake = %lake.uri(),
            tables = p.tables,
            fetched = p.fetched,
            unchanged = p.unchanged,
            "the datasets as the lake has them"
        );
    }
    Ok(())
}

/// Commits the catalogue's published files, and its restricted ones to the
/// restricted lake; a failure is a publication error of the run.
pub(super) fn commit(
    config: &Config,
    lakes: &Lakes,
    root: &Path,
    catalog: &eqpipe_publish::catalog::Catalog,
    manifest: &mut RunManifest,
    failed: &mut Vec<String>,
) {
    let mut targets = vec![(&lakes.published, false)];
    targets.extend(lakes.restricted.as_ref().map(|r| (r, true)));
    for (lake, restricted) in targets {
        let which = if restricted {
            "restricted lake"
        } else {
            "lake"
        };
        match eqpipe_publish::lake::commit(root, catalog, lake, restricted) {
            Ok(c) => {
                tracing::info!(
                    lake = %lake.uri(),
                    tables = c.versions.len(),
                    commits = c.commits,
                    "committed to the {which}"
                );
                manifest.lake_versions.extend(c.versions);
                lakes
                    .committed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(c.committed);
            }
            Err(e) => failed.push(format!("cannot commit to the {which}: {e}")),
        }
    }
    manifest.lake = Some(lakes.published.uri());
    manifest.lake_locks = lakes.parts.clone();
    // The roots made absolute, so `runs restore` finds them from anywhere.
    manifest.lake_config = config.lake.clone().map(|c| LakeConfig {
        uri: lakes.published.uri(),
        restricted: c
            .restricted
            .clone()
            .zip(lakes.restricted.as_ref())
            .map(|(r, l)| Box::new(LakeConfig { uri: l.uri(), ..*r })),
        ..c
    });
}

/// Records the run in the lake, then deletes the files of the tables it
/// committed that no kept run's table versions need: the kept runs are the lake's record of every
/// machine's runs (the last `[versions] keep` of each part of the lake),
/// not this machine's alone.
pub(super) fn vacuum(config: &Config, lakes: &Lakes, run_id: &str, manifest: &mut RunManifest) {
    if manifest.lake.is_none() {
        return;
    }
    let mut problems = Vec::new();
    if let Err(e) = lakes
        .published
        .record_run(run_id, &lakes.parts, &manifest.lake_versions)
    {
        problems.push(e.to_string());
    }
    let committed: BTreeSet<String> = lakes
        .committed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    if committed.is_empty() {
        // Nothing committed, nothing newly unneeded: the records are not read.
        report(problems, manifest);
        return;
    }
    let mut keep = match lakes.published.kept_versions(config.versions.keep) {
        Ok(k) => k,
        Err(e) => {
            // Without the records nothing is known to be unneeded.
            problems.push(format!("cannot vacuum the lake: {e}"));
            BTreeMap::new()
        }
    };
    let grace = std::time::Duration::from_secs(
        60 * config
            .lake
            .as_ref()
            .and_then(|l| l.vacuum_grace_minutes)
            .unwrap_or(DEFAULT_GRACE_MINUTES),
    );
    if problems.is_empty() {
        for (table, v) in &manifest.lake_versions {
            keep.entry(table.clone()).or_default().insert(*v);
        }
        keep.retain(|table, _| committed.contains(table));
        let mut published = BTreeMap::new();
        let mut restricted = BTreeMap::new();
        for (table, versions) in keep {
            if eqpipe_publish::lake::is_restricted(&table) {
                restricted.insert(table, versions);
            } else {
                published.insert(table, versions);
            }
        }
        let mut targets = vec![(&lakes.published, published)];
        targets.extend(lakes.restricted.as_ref().map(|r| (r, restricted)));
        for (lake, keep) in targets {
            match eqpipe_publish::lake::vacuum(lake, &keep, grace) {
                Ok(n) if n > 0 => {
                    tracing::info!(lake = %lake.uri(), files = n, "removed lake files no kept run needs")
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("cannot vacuum the lake: {e}")),
            }
        }
    }
    report(problems, manifest);
}

/// The vacuum's problems, as publication errors of the run.
fn report(problems: Vec<String>, manifest: &mut RunManifest) {
    for p in problems {
        tracing::error!("{p}");
        if manifest.outcome == Outcome::Success {
            manifest.outcome = Outcome::SuccessWithWarnings;
        }
        manifest.publication_errors.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_locks_the_parts_of_the_lake_it_writes() {
        let mut config = crate::config::Config::parse(
            r#"
[partnership]
id = "gm"
[[partners]]
id = "manchester"
name = "Manchester"
[[partners]]
id = "trafford"
name = "Trafford"
"#,
            "lake.toml",
            std::path::Path::new("."),
        )
        .unwrap();
        let all = Scope::default();
        assert_eq!(
            lock_names(&config, &all),
            [
                "indicators",
                "sources-gm",
                "sources-manchester",
                "sources-trafford"
            ]
        );
        let one = Scope {
            partner: Some("trafford".into()),
            sources_only: true,
            indicators_only: false,
        };
        assert_eq!(lock_names(&config, &one), ["sources-trafford"]);
        let ind = Scope {
            partner: None,
            sources_only: false,
            indicators_only: true,
        };
        assert_eq!(lock_names(&config, &ind), ["indicators"]);
        config.partners.clear();
        assert_eq!(lock_names(&config, &all), ["indicators", "sources"]);
    }
}
