//! `eqpipe demo`: a fictional city's data, generated and served locally,
//! through the real pipeline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use eqpipe_core::manifest::Outcome;

/// Generates the inputs beside `out`, serves them and runs the demo config.
#[allow(unsafe_code)] // `set_var` of the demo's key, before any other thread starts
pub(crate) fn run(out: &Path, lake: Option<&str>, progress: bool) -> Result<ExitCode> {
    let t = std::time::Instant::now();
    // The inputs sit beside the outputs, not in them: the workforce extract
    // holds (fictional) raw identifiers, which never belong under an output.
    let input_dir = eqpipe_engine::demo::input_dir(out);
    if std::env::var_os(eqpipe_engine::demo::KEY_ENV).is_none() {
        // SAFETY: set before any other thread of this process starts.
        unsafe { std::env::set_var(eqpipe_engine::demo::KEY_ENV, eqpipe_engine::demo::DEMO_KEY) };
    }
    let inputs = eqpipe_engine::demo::generate(&input_dir).with_context(|| {
        format!(
            "cannot write the demo's inputs under {}",
            input_dir.display()
        )
    })?;
    let server = eqpipe_engine::serve::StaticServer::start(&inputs.public_dir)
        .context("cannot start the demo's local HTTP server")?;
    tracing::info!(url = %server.base_url(), "serving the generated public files");
    println!(
        "demo: generated a fictional city ({} wards, {} Census tables, IMD file, {} workforce snapshots) in {:.1}s; serving it on {}",
        inputs.wards.len(),
        inputs.tables.len(),
        inputs.workforce_files.len(),
        t.elapsed().as_secs_f64(),
        server.base_url()
    );
    let mut cfg = eqpipe_engine::demo::config(&server.base_url(), &inputs.tables, &input_dir);
    if let Some(uri) = lake {
        // A folder, or a store's URI with its credentials in the standard
        // environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT, ...).
        let uri = if uri.contains("://") {
            uri.to_string()
        } else {
            std::path::absolute(uri)
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| uri.to_string())
        };
        cfg.lake = Some(eqpipe_core::config::lake::LakeConfig {
            uri,
            options: Default::default(),
            env: Default::default(),
            lock_hours: None,
            vacuum_grace_minutes: None,
            restricted: None,
        });
    }
    // The demo regenerates its inputs each time: always run everything.
    // The demo's generated inputs are new each time (a fresh city, not a
    // shrunken extract), and it holds deliberately broken rows to show the
    // quarantine: a run with data-quality warnings is its expected outcome.
    let manifest = super::run::run_with(
        &cfg,
        out,
        progress,
        super::run::Flags {
            force: true,
            snapshot_date: None,
            accept_shrink: true,
            scope: Default::default(),
        },
    )?;
    let mut code = crate::summary::print(&manifest, out);
    if manifest.outcome == Outcome::SuccessWithWarnings {
        code = ExitCode::SUCCESS;
    }
    println!(
        "\nOpen the outputs:\n  python -c \"import pandas as pd; print(pd.read_parquet('{0}/indicators/community_profile').head())\"\n  duckdb -c \"SELECT * FROM read_parquet('{0}/datasets/census_counts/**/*.parquet', hive_partitioning=1) LIMIT 5\"",
        out.display()
    );
    Ok(code)
}
