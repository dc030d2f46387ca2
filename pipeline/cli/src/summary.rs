//! The run summary printed after a run, and the exit code its outcome
//! maps to: 0 success, 4 success with data-quality warnings, 3 partial,
//! 1 failed, 130 cancelled.

use std::path::Path;
use std::process::ExitCode;

use eqpipe_core::manifest::{Outcome, RunManifest, StepStatus};

/// Prints what each step did and returns the run's exit code.
pub(crate) fn print(m: &RunManifest, out: &Path) -> ExitCode {
    println!(
        "run {} {} in {:.1}s",
        m.run_id,
        m.outcome.as_str(),
        m.duration_ms as f64 / 1000.0
    );
    if let Some(scope) = &m.scope {
        println!("  scope: {scope}");
    }
    for s in m.sources.iter().chain(&m.indicators) {
        let rows: u64 = s.datasets.values().map(|d| d.stats.rows).sum();
        let q: u64 = s.datasets.values().map(|d| d.stats.quarantined).sum();
        match s.status {
            StepStatus::Succeeded | StepStatus::SucceededWithWarnings => {
                println!(
                    "  {:<8} {:<24} {rows:>10} rows{}",
                    if s.status == StepStatus::Succeeded {
                        "ok"
                    } else {
                        "warnings"
                    },
                    s.name,
                    if q > 0 {
                        format!(
                            ", {q} quarantined ({})",
                            s.quarantine_file.as_deref().unwrap_or("")
                        )
                    } else {
                        String::new()
                    }
                );
                for w in &s.warnings {
                    println!("           {:<24} {w}", "");
                }
            }
            other => println!(
                "  {:<8} {:<24} {}",
                other.as_str(),
                s.name,
                s.error.as_deref().unwrap_or("")
            ),
        }
    }
    for e in &m.publication_errors {
        println!("  not published: {e}");
    }
    println!(
        "  manifest {}",
        eqpipe_core::layout::Layout::new(out)
            .run_manifest(&m.run_id)
            .display()
    );
    match m.outcome {
        Outcome::Success => ExitCode::SUCCESS,
        Outcome::SuccessWithWarnings if !m.publication_errors.is_empty() => {
            println!(
                "eqpipe: the data is committed, but not all that is made from it was written (`not published` above; the manifest's `publication_errors`)"
            );
            ExitCode::from(4)
        }
        Outcome::SuccessWithWarnings => {
            println!(
                "eqpipe: succeeded with data-quality warnings (see the report's data quality section, or the manifest's `warnings`)"
            );
            ExitCode::from(4)
        }
        Outcome::Partial => {
            eprintln!(
                "eqpipe: partial run: {}",
                m.first_error().unwrap_or_default()
            );
            ExitCode::from(3)
        }
        Outcome::Failed => {
            eprintln!(
                "eqpipe: run failed: {}",
                m.first_error().unwrap_or_default()
            );
            ExitCode::from(1)
        }
        Outcome::Cancelled => {
            eprintln!("eqpipe: run cancelled; outputs of unfinished steps are as they were");
            ExitCode::from(130)
        }
    }
}
