//! `eqpipe serve`: the partners' upload endpoint, until a signal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};
use eqpipe_core::config::Config;

/// Serves uploads into the partners' inboxes until Ctrl-C or SIGTERM.
pub(crate) fn run(config: &Path, out: Option<PathBuf>, listen: Option<String>) -> Result<ExitCode> {
    let mut cfg = Config::load(config)?;
    let out = out
        .or_else(|| cfg.output_dir.as_ref().map(|d| cfg.resolve(d)))
        .context("no output folder: set `output_dir` in the config or pass --out")?;
    if let Some(l) = listen {
        cfg.serve.listen = l;
    }
    let server = eqpipe_engine::upload::start(cfg, out.clone()).map_err(anyhow::Error::msg)?;
    println!(
        "accepting uploads at {}/inbox/<partner>/<source>/<file>; audit log {}",
        server.base_url(),
        eqpipe_engine::upload::audit_path(&out).display()
    );
    let cancel = Arc::new(AtomicBool::new(false));
    crate::signals::cancel_on_signal(cancel.clone());
    while !cancel.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(server);
    Ok(ExitCode::SUCCESS)
}
