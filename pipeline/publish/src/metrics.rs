//! `metrics.prom` in the output root after every run, in the Prometheus
//! text format (for node_exporter's textfile collector or any scraper
//! reading a file): run outcome and duration, rows, quarantined rows,
//! status and duration per step, suppressed cells.

use std::fmt::Write as _;
use std::path::Path;

use eqpipe_core::manifest::{Outcome, RunManifest};
use eqpipe_store::files as store;

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

/// The Prometheus text exposition of a run.
// Long: the exposition is a flat list of metric families, each a few
// lines, in the order Prometheus shows them.
pub fn metrics(m: &RunManifest) -> String {
    let mut s = String::new();
    let outcome = m.outcome.as_str().to_string();
    let _ = writeln!(
        s,
        "# HELP eqpipe_run_success 1 if the last run succeeded in full."
    );
    let _ = writeln!(s, "# TYPE eqpipe_run_success gauge");
    let _ = writeln!(
        s,
        "eqpipe_run_success {}",
        u8::from(m.outcome == Outcome::Success)
    );
    let _ = writeln!(
        s,
        "# HELP eqpipe_run_warnings 1 if the last run completed with data-quality warnings."
    );
    let _ = writeln!(s, "# TYPE eqpipe_run_warnings gauge");
    let _ = writeln!(
        s,
        "eqpipe_run_warnings {}",
        u8::from(m.outcome == Outcome::SuccessWithWarnings)
    );
    let _ = writeln!(s, "# HELP eqpipe_run_info The last run: id and outcome.");
    let _ = writeln!(s, "# TYPE eqpipe_run_info gauge");
    let _ = writeln!(
        s,
        "eqpipe_run_info{{run_id=\"{}\",outcome=\"{outcome}\",schedule=\"{}\"}} 1",
        label(&m.run_id),
        label(m.schedule.as_deref().unwrap_or(""))
    );
    let _ = writeln!(
        s,
        "# HELP eqpipe_run_duration_seconds Wall time of the last run."
    );
    let _ = writeln!(s, "# TYPE eqpipe_run_duration_seconds gauge");
    let _ = writeln!(
        s,
        "eqpipe_run_duration_seconds {:.3}",
        m.duration_ms as f64 / 1000.0
    );
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&m.finished_at) {
        let _ = writeln!(
            s,
            "# HELP eqpipe_run_finished_timestamp_seconds When the last run finished."
        );
        let _ = writeln!(s, "# TYPE eqpipe_run_finished_timestamp_seconds gauge");
        let _ = writeln!(s, "eqpipe_run_finished_timestamp_seconds {}", t.timestamp());
    }
    let steps: Vec<_> = m
        .sources
        .iter()
        .map(|x| ("source", x))
        .chain(m.indicators.iter().map(|x| ("indicator", x)))
        .collect();
    let _ = writeln!(
        s,
        "# HELP eqpipe_step_status 1 for the status each step ended with."
    );
    let _ = writeln!(s, "# TYPE eqpipe_step_status gauge");
    for (kind, st) in &steps {
        let _ = writeln!(
            s,
            "eqpipe_step_status{{step=\"{}\",kind=\"{kind}\",status=\"{}\"}} 1",
            label(&st.name),
            st.status.as_str()
        );
    }
    let _ = writeln!(
        s,
        "# HELP eqpipe_step_warnings Data-quality warnings of each step in the last run."
    );
    let _ = writeln!(s, "# TYPE eqpipe_step_warnings gauge");
    for (kind, st) in &steps {
        let _ = writeln!(
            s,
            "eqpipe_step_warnings{{step=\"{}\",kind=\"{kind}\"}} {}",
            label(&st.name),
            st.warnings.len()
        );
    }
    let _ = writeln!(
        s,
        "# HELP eqpipe_step_duration_seconds Wall time of each step."
    );
    let _ = writeln!(s, "# TYPE eqpipe_step_duration_seconds gauge");
    for (kind, st) in &steps {
        let _ = writeln!(
            s,
            "eqpipe_step_duration_seconds{{step=\"{}\",kind=\"{kind}\"}} {:.3}",
            label(&st.name),
            st.duration_ms as f64 / 1000.0
        );
    }
    for (metric, help) in [
        ("rows", "Rows stored per dataset in the last run."),
        (
            "quarantined_rows",
            "Rows quarantined per dataset in the last run.",
        ),
        (
            "suppressed_rows",
            "Rows withheld by disclosure control per indicator in the last run.",
        ),
    ] {
        let _ = writeln!(s, "# HELP eqpipe_dataset_{metric} {help}");
        let _ = writeln!(s, "# TYPE eqpipe_dataset_{metric} gauge");
        for (_, st) in &steps {
            for (d, r) in &st.datasets {
                let v = match metric {
                    "rows" => r.stats.rows,
                    "quarantined_rows" => r.stats.quarantined,
                    _ => r.stats.suppressed + r.stats.secondary_suppressed,
                };
                let _ = writeln!(
                    s,
                    "eqpipe_dataset_{metric}{{step=\"{}\",dataset=\"{}\"}} {v}",
                    label(&st.name),
                    label(d)
                );
            }
        }
    }
    s
}

/// Writes `metrics.prom` beside the outputs.
pub fn write_metrics(root: &Path, m: &RunManifest) {
    if let Err(e) = store::write_atomic(
        &eqpipe_core::layout::Layout::new(root).metrics(),
        metrics(m).as_bytes(),
    ) {
        tracing::warn!("cannot write metrics.prom: {e}");
    }
}
