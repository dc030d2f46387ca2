//! `eqpipe schedule`: the daemon firing `[[schedules]]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

/// Runs the daemon until Ctrl-C or SIGTERM; SIGHUP reloads the config.
pub(crate) fn run(
    config: PathBuf,
    out: Option<PathBuf>,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let cancel = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    crate::signals::cancel_on_signal(cancel.clone());
    crate::signals::reload_on_hangup(reload.clone());
    let r = eqpipe_engine::schedule::run_daemon(&eqpipe_engine::schedule::DaemonOptions {
        config_path: config,
        out,
        cancel,
        reload,
        progress: false,
        metrics_addr,
    })
    .map_err(anyhow::Error::msg)?;
    println!(
        "scheduler stopped after {} runs ({} not successful)",
        r.runs, r.failed
    );
    Ok(ExitCode::SUCCESS)
}
