//! The equality objectives step, after the indicators.

use super::*;

/// The equality objectives step (after the indicators): history and
/// progress from the published indicators.
pub(super) fn objectives_step(
    shared: &Shared<'_>,
    config: &Config,
    indicators: &[StepReport],
) -> StepReport {
    let t = Instant::now();
    let span = tracing::info_span!("step", step = "objectives");
    let _guard = span.enter();
    let mut report = empty_report("objectives", "eqpipe-objectives".into());
    report.plugin_version = Some(PIPELINE_VERSION.into());
    let root = &shared.root;
    let dataset_of = |folder: &str| {
        let file = eqpipe_store::files::published_file(root, folder);
        eqpipe_store::files::file_metadata(&file)
            .and_then(|kv| kv.get(eqpipe_core::provenance::keys::DATASET).cloned())
            .or_else(|| {
                indicators
                    .iter()
                    .find(|r| r.name == folder)
                    .and_then(|r| r.datasets.keys().next().cloned())
            })
            .and_then(|d| shared.contracts.get(&d))
    };
    let result = eqpipe_publish::objectives::run(
        root,
        &shared.run_id,
        &config.objectives,
        &shared.contracts,
        &dataset_of,
    );
    let result = match result {
        Ok(out) => {
            for w in &out.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(
                measures = out.measures,
                statuses = ?out.statuses,
                "objectives assessed"
            );
            let names = [
                eqpipe_publish::objectives::HISTORY,
                eqpipe_publish::objectives::PROGRESS,
            ];
            let rows = [out.history_rows, out.measures];
            for f in &out.files {
                shared.keep_version(f);
            }
            for ((name, rows), file) in names.iter().zip(rows).zip(&out.files) {
                let mut d = DatasetReport {
                    file: Some(rel(root, file)),
                    ..Default::default()
                };
                d.stats.rows_in = rows;
                d.stats.rows = rows;
                report.datasets.insert(name.to_string(), d);
            }
            Ok(())
        }
        Err(e) => Err(StepFailure::failed(e.to_string())),
    };
    finish_report(&mut report, t, result);
    report
}
