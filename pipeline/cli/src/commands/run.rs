//! `eqpipe run`: one run of the pipeline a config describes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context as _, Result};
use eqpipe_core::config::Config;
use eqpipe_core::manifest::RunManifest;
use eqpipe_engine::runner::{self, RunOptions};

/// What `eqpipe run`'s flags ask for.
pub(crate) struct Flags {
    pub force: bool,
    pub snapshot_date: Option<chrono::NaiveDate>,
    pub accept_shrink: bool,
    pub scope: runner::Scope,
}

/// Runs the config at `config` into `out` (or its `output_dir`).
pub(crate) fn run(
    config: &Path,
    out: Option<PathBuf>,
    progress: bool,
    flags: Flags,
) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let out = out
        .or_else(|| cfg.output_dir.as_ref().map(|d| cfg.resolve(d)))
        .context("no output folder: set `output_dir` in the config or pass --out")?;
    let manifest = run_with(&cfg, &out, progress, flags)?;
    Ok(crate::summary::print(&manifest, &out))
}

/// Runs `cfg` with Ctrl-C and SIGTERM wired to cancellation.
pub(crate) fn run_with(
    cfg: &Config,
    out: &Path,
    progress: bool,
    flags: Flags,
) -> Result<RunManifest> {
    let cancel = Arc::new(AtomicBool::new(false));
    crate::signals::cancel_on_signal(cancel.clone());
    let opts = RunOptions {
        output_dir: out.to_path_buf(),
        cancel,
        progress,
        scheduled: None,
        snapshot_date: flags.snapshot_date,
        force: flags.force,
        accept_shrink: flags.accept_shrink,
        scope: flags.scope,
    };
    Ok(runner::run(cfg, &opts)?)
}
