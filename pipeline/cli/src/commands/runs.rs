//! `eqpipe runs list | show | restore`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use eqpipe_core::manifest::RunManifest;
use eqpipe_engine::runs;

fn manifests(out: &Path) -> Result<Vec<RunManifest>> {
    let history = runs::list(out)?;
    for (f, e) in history.skipped {
        eprintln!("eqpipe: skipping {}: {e}", f.display());
    }
    Ok(history.runs)
}

/// One line per run, newest first.
pub(crate) fn list(out: &Path, limit: usize) -> Result<ExitCode> {
    let runs = manifests(out)?;
    println!(
        "{:<28} {:<22} {:>8} {:>10} {:>11} {:>8}  schedule",
        "run", "outcome", "secs", "rows", "quarantined", "warnings"
    );
    for m in runs.iter().rev().take(limit) {
        let rows: u64 = m
            .sources
            .iter()
            .chain(&m.indicators)
            .flat_map(|s| s.datasets.values())
            .map(|d| d.stats.rows)
            .sum();
        let warnings: usize = m
            .sources
            .iter()
            .chain(&m.indicators)
            .map(|s| s.warnings.len())
            .sum();
        println!(
            "{:<28} {:<22} {:>8.1} {:>10} {:>11} {:>8}  {}",
            m.run_id,
            m.outcome.as_str(),
            m.duration_ms as f64 / 1000.0,
            rows,
            m.quarantined(),
            warnings,
            m.schedule.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One run in full.
pub(crate) fn show(out: &Path, id: &str) -> Result<ExitCode> {
    let runs = manifests(out)?;
    let m = runs::find(&runs, id, out)?;
    println!(
        "run {}  {}  {} to {}",
        m.run_id,
        m.outcome.as_str(),
        m.started_at,
        m.finished_at
    );
    if let (Some(s), Some(t)) = (&m.schedule, &m.scheduled_for) {
        println!("schedule {s}, for {t}");
    }
    if let Some(d) = &m.snapshot_date {
        println!("covers the period of {d}");
    }
    Ok(crate::summary::print(m, out))
}

/// Puts back the files an earlier run wrote.
pub(crate) fn restore(out: &Path, id: &str) -> Result<ExitCode> {
    let runs = manifests(out)?;
    let m = runs::find(&runs, id, out)?;
    let restored = runs::restore(out, m)?;
    for f in &restored.files {
        println!("restored {}", f.strip_prefix(out).unwrap_or(f).display());
    }
    println!(
        "{} file(s) of run {} put back; the next run runs every step",
        restored.files.len(),
        m.run_id
    );
    for (table, now) in &restored.lake_tables {
        println!(
            "restored lake table {table} to run {}'s files (version {now})",
            m.run_id
        );
    }
    if restored.not_rewritten.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for n in &restored.not_rewritten {
        eprintln!("eqpipe: not rewritten: {n}");
    }
    eprintln!(
        "eqpipe: the data is back, but what is made from it still shows the last run's until the next run"
    );
    Ok(ExitCode::from(4))
}
