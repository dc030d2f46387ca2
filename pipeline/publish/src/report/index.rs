//! The index page's data (`index.html`): the run, the headline figures,
//! data quality, the pages, the steps and the data sources.

use serde::Serialize;

use super::tpl::{Cell, Stamp, Table, stamp};
use super::*;

/// A page of the report, as the index lists it.
#[derive(Debug, Serialize)]
pub(super) struct Link {
    pub href: String,
    pub label: String,
}

/// The data sources, for the index and the evidence packs: each dataset
/// file, the plugin that read it, where from, when, and its licence.
/// Restricted datasets are named but their origin is not published.
pub(super) fn sources_table(root: &Path) -> Table {
    let mut t = Table::new(
        "Data sources",
        &["Dataset", "Read by", "From", "Fetched", "Licence"],
    );
    for base in [root.to_path_buf(), root.join(store::RESTRICTED_DIR)] {
        let Ok(sets) = std::fs::read_dir(base.join(eqpipe_core::layout::DATASETS_DIR)) else {
            continue;
        };
        let mut sets: Vec<PathBuf> = sets.flatten().map(|e| e.path()).collect();
        sets.sort();
        for set in sets {
            let mut parts: Vec<PathBuf> = std::fs::read_dir(&set)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join(PART_FILE))
                .filter(|p| p.exists())
                .collect();
            parts.sort();
            for p in parts {
                // The footer only: a dataset can have millions of rows.
                let Some(kv) = eqpipe_store::files::file_metadata(&p) else {
                    continue;
                };
                use eqpipe_core::provenance::keys;
                let g = |k: &str| kv.get(k).cloned().unwrap_or_default();
                let from = if store::is_restricted(&p) {
                    "organisation's own records (restricted; not published)".to_string()
                } else {
                    // A JSON list of addresses (older files: commas).
                    let urls = g(keys::SOURCE_URLS);
                    serde_json::from_str::<Vec<String>>(&urls)
                        .map(|u| u.join(", "))
                        .unwrap_or_else(|_| urls.replace(',', ", "))
                };
                t.row(
                    g(keys::DATASET),
                    vec![
                        Cell::t(format!("{} {}", g(keys::PLUGIN), g(keys::PLUGIN_VERSION))),
                        Cell::t(from),
                        Cell::t(g(keys::FETCHED_AT)),
                        Cell::t(g(keys::LICENCE)),
                    ],
                );
            }
        }
    }
    t
}

/// The run as the index opens with it.
#[derive(Debug, Serialize)]
struct Run {
    id: String,
    started: Stamp,
    finished: Stamp,
    outcome: String,
    version: String,
    /// What the run took when it was not the whole pipeline.
    scope: Option<String>,
}

/// The steps of the run: each source and indicator, its plugin, status,
/// rows and rows quarantined.
fn steps_table(manifest: &RunManifest) -> Table {
    let mut t = Table::new(
        "Steps of this run",
        &["Step", "Plugin", "Status", "Rows", "Quarantined"],
    );
    for s in manifest.sources.iter().chain(&manifest.indicators) {
        let rows: u64 = s.datasets.values().map(|d| d.stats.rows).sum();
        let q: u64 = s.datasets.values().map(|d| d.stats.quarantined).sum();
        t.row(
            s.name.clone(),
            vec![
                Cell::t(s.plugin.clone()),
                Cell::t(s.status.as_str().replace('_', " ")),
                Cell::n(rows.to_string()),
                Cell::n(q.to_string()),
            ],
        );
    }
    t
}

/// The index page.
pub(super) fn index_page(
    templates: &tpl::Templates,
    root: &Path,
    manifest: &RunManifest,
    title: &str,
    headlines: Vec<Headline>,
    pages: Vec<Link>,
) -> Result<String, tpl::TemplateError> {
    templates.render(
        "index.html",
        minijinja::context! {
            title,
            run => Run {
                id: manifest.run_id.clone(),
                started: stamp(&manifest.started_at),
                finished: stamp(&manifest.finished_at),
                outcome: manifest.outcome.as_str().replace('_', " "),
                version: manifest.pipeline_version.clone(),
                scope: manifest.scope.clone(),
            },
            headlines,
            lossy => manifest.outcome.as_str() != "success",
            quality => quality_section(manifest),
            pages,
            steps => steps_table(manifest),
            sources => sources_table(root),
        },
    )
}
