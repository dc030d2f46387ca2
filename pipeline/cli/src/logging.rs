//! The tracing subscriber: human or JSON logs on stderr (the CLI is the
//! only crate that sets one up).

use crate::{Cli, LogFormat};

/// Targets whose warnings are noise to eqpipe's users.
const QUIET: &str = "deltalake_core::operations::vacuum=error";

/// Logs for a command: `progress` quietens info lines under a progress bar.
pub(crate) fn init(cli: &Cli, progress: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if cli.quiet || (progress && cli.verbose == 0) {
        "warn"
    } else {
        match cli.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    // deltalake warns on every vacuum that keeping named versions is an
    // experimental API: a line per table per run that says nothing to a
    // council's team (the versions kept are tested here), so it is quietened.
    let default = format!("{default},{QUIET}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Human => builder.with_target(false).compact().init(),
    }
}

/// Logs for a child of an isolated step: JSON on stderr for the parent to
/// relay.
pub(crate) fn init_child() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{QUIET}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .flatten_event(true)
        .init();
}
