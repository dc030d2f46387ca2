//! The data-quality section at the top of the index: failed steps and
//! every loss, with counts and the quarantine file.

use super::*;

/// The data-quality section at the top of the index (`index.html`'s
/// `quality`): every step that failed and why, and every loss a step that
/// succeeded took (rows rejected by reason, values nulled, coverage a
/// plugin could not use, accepted shrinks), with the quarantine file's
/// name. Counts and column names only, never a value.
#[derive(Debug, serde::Serialize)]
pub(super) struct Quality {
    /// Nothing failed and nothing was lost.
    clean: bool,
    failed: usize,
    warned: usize,
    /// What was lost, by step.
    table: Table,
    /// Values the publishers withheld or marked missing: "step
    /// (dataset.column): count", joined.
    withheld: String,
}

pub(super) fn quality_section(manifest: &RunManifest) -> Quality {
    use eqpipe_core::manifest::StepStatus;
    let steps: Vec<&eqpipe_core::manifest::StepReport> = manifest
        .sources
        .iter()
        .chain(&manifest.indicators)
        .collect();
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::Cancelled))
        .collect();
    let warned: Vec<_> = steps.iter().filter(|s| !s.warnings.is_empty()).collect();
    let mut table = Table::new(
        "Data lost in this run, by step",
        &[
            "Step",
            "Status",
            "What",
            "How many",
            "Of",
            "Quarantine file",
        ],
    );
    let quarantine = |st: &eqpipe_core::manifest::StepReport| {
        Cell::code(st.quarantine_file.clone().unwrap_or_default())
    };
    for st in &failed {
        table.row(
            st.name.clone(),
            vec![
                Cell::t(st.status.as_str()),
                Cell::t(st.error.clone().unwrap_or_default()),
                Cell::t(""),
                Cell::t(""),
                quarantine(st),
            ],
        );
    }
    for st in &warned {
        for w in &st.warnings {
            let what = match &w.dataset {
                Some(d) => format!("{d}: {}", w.what),
                None => w.what.clone(),
            };
            table.row(
                st.name.clone(),
                vec![
                    Cell::t(st.status.as_str().replace('_', " ")),
                    Cell::t(what),
                    Cell::n(w.count.to_string()),
                    Cell::n(w.of.map(|o| o.to_string()).unwrap_or_default()),
                    if w.kind == eqpipe_core::config::WarningKind::RejectedRows {
                        quarantine(st)
                    } else {
                        Cell::t("")
                    },
                ],
            );
        }
    }
    let withheld: Vec<String> = steps
        .iter()
        .flat_map(|st| {
            st.datasets.iter().flat_map(move |(d, r)| {
                r.stats
                    .markers
                    .iter()
                    .map(move |(c, n)| format!("{} ({d}.{c}): {n}", st.name))
            })
        })
        .collect();
    Quality {
        clean: failed.is_empty() && warned.is_empty(),
        failed: failed.len(),
        warned: warned.len(),
        table,
        withheld: withheld.join("; "),
    }
}
