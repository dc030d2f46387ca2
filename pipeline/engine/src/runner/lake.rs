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
use eqpipe_core::layout::Layout;
use eqpipe_store::files as store;

/// How long a lock of a run that never released it (killed, its machine
/// gone) holds, unless `[lake] lock_hours` says otherwise: longer than a
/// night's run, shorter than the time to the next.
const DEFAULT_LEASE_HOURS: u64 = 12;

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

/// Opens the lake and takes the run's locks, if the config has a lake.
pub(super) fn take(
    config: &Config,
    scope: &Scope,
    run_id: &str,
) -> Result<Option<(Lake, LakeLock)>, String> {
    let Some(cfg) = &config.lake else {
        return Ok(None);
    };
    let lake = Lake::open(cfg, &config.base_dir).map_err(|e| e.to_string())?;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unnamed host".into());
    let holder = format!("run {run_id} (process {} on {host})", std::process::id());
    let hours = cfg.lock_hours.unwrap_or(DEFAULT_LEASE_HOURS);
    let lock = lake
        .lock(
            &lock_names(config, scope),
            &holder,
            std::time::Duration::from_secs(hours * 3600),
        )
        .map_err(|e| e.to_string())?;
    Ok(Some((lake, lock)))
}

/// Commits the catalogue's published files; a failure is a publication
/// error of the run.
pub(super) fn commit(
    config: &Config,
    lake: &Lake,
    root: &Path,
    catalog: &eqpipe_publish::catalog::Catalog,
    manifest: &mut RunManifest,
    failed: &mut Vec<String>,
) {
    match eqpipe_publish::lake::commit(root, catalog, lake) {
        Ok(c) => {
            tracing::info!(
                lake = %lake.uri(),
                tables = c.versions.len(),
                commits = c.commits,
                "committed to the lake"
            );
            manifest.lake = Some(lake.uri());
            // The root made absolute, so `runs restore` finds it from anywhere.
            manifest.lake_config = config.lake.clone().map(|c| LakeConfig {
                uri: lake.uri(),
                ..c
            });
            manifest.lake_versions = c.versions;
        }
        Err(e) => failed.push(format!("cannot commit to the lake: {e}")),
    }
}

/// Deletes the lake's files no kept run's table versions need.
pub(super) fn vacuum(lake: &Lake, root: &Path, run_id: &str, manifest: &mut RunManifest) {
    if manifest.lake.is_none() {
        return;
    }
    let mut keep: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let layout = Layout::new(root);
    let mut kept: Vec<BTreeMap<String, i64>> = store::version_runs(root)
        .iter()
        .filter(|id| *id != run_id)
        .filter_map(|id| std::fs::read(layout.run_manifest(id)).ok())
        .filter_map(|b| serde_json::from_slice::<RunManifest>(&b).ok())
        .map(|m| m.lake_versions)
        .collect();
    kept.push(manifest.lake_versions.clone());
    for versions in kept {
        for (table, v) in versions {
            keep.entry(table).or_default().insert(v);
        }
    }
    match eqpipe_publish::lake::vacuum(lake, &keep) {
        Ok(n) if n > 0 => tracing::info!(files = n, "removed lake files no kept run needs"),
        Ok(_) => {}
        Err(e) => {
            tracing::error!("cannot vacuum the lake: {e}");
            if manifest.outcome == Outcome::Success {
                manifest.outcome = Outcome::SuccessWithWarnings;
            }
            manifest
                .publication_errors
                .push(format!("cannot vacuum the lake: {e}"));
        }
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
