//! `eqpipe plugins check`: the conformance kit a partner runs on a plugin
//! library or process plugin (alone, or in their own CI) before it goes anywhere near the
//! nightly run. One pass/fail line per check.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::PluginKind;

use crate::config::{Config, FetchConfig, IndicatorConfig, Isolation, PluginRef, SourceConfig};
use crate::runner::{self, RunOptions, StepStatus};
use eqpipe_plugin_host::registry::{self, LoadError, Plugin};
use eqpipe_store::contracts::Contracts;

/// The result of one check.
#[derive(Debug, Clone)]
pub struct CheckLine {
    /// What was checked.
    pub name: &'static str,
    /// Passed (`None`: not applicable, skipped).
    pub ok: Option<bool>,
    /// What was found.
    pub detail: String,
}

fn line(name: &'static str, ok: bool, detail: impl Into<String>) -> CheckLine {
    CheckLine {
        name,
        ok: Some(ok),
        detail: detail.into(),
    }
}

/// How long a cancelled plugin may take to stop.
const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// Runs every check on the plugin `target` (a library or a process
/// plugin's command), with the plugin options `options` (a JSON object)
/// and paths resolved against `base_dir`.
pub fn check(target: &PluginRef, options: serde_json::Value, base_dir: &Path) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let process = target.is_command();
    let plugin = match registry::load(target) {
        Ok(p) => p,
        Err(e) => {
            let (name, detail) = match &e {
                _ if process => ("answers hello with a manifest", e.to_string()),
                LoadError::Open { .. } => ("library loads", e.to_string()),
                LoadError::NoEntry { .. } => ("entry symbol", e.to_string()),
                LoadError::AbiMismatch { .. } => ("ABI version", e.to_string()),
                _ => ("manifest", e.to_string()),
            };
            out.push(line(name, false, detail));
            return out;
        }
    };
    let m = &plugin.manifest;
    if process {
        out.push(line(
            "answers hello with a manifest",
            true,
            target.to_string(),
        ));
        out.push(line(
            "protocol version",
            true,
            format!(
                "plugin {}.{}, host {}.{}",
                plugin.abi_version.0,
                plugin.abi_version.1,
                eqpipe_plugin_host::process::PROTOCOL.0,
                eqpipe_plugin_host::process::PROTOCOL.1
            ),
        ));
    } else {
        out.push(line("library loads", true, target.to_string()));
        out.push(line("entry symbol", true, "eqpipe_plugin_entry"));
        out.push(line(
            "ABI version",
            true,
            format!(
                "plugin {}.{}, host {}.{}",
                plugin.abi_version.0,
                plugin.abi_version.1,
                abi::ABI_MAJOR,
                abi::ABI_MINOR
            ),
        ));
    }
    out.push(line(
        "manifest",
        true,
        format!("{} {} ({})", m.name, m.version, m.kind),
    ));
    out.push(line("config schema", true, "a valid JSON Schema"));

    let mut contracts = Contracts::builtin();
    let mut missing = Vec::new();
    for d in &m.produces {
        match (&d.contract, contracts.get(&d.name)) {
            (Some(c), _) => contracts.add_declared(c),
            (None, Some(_)) => {}
            (None, None) => missing.push(d.name.clone()),
        }
    }
    out.push(if missing.is_empty() {
        line(
            "dataset contracts",
            true,
            m.produces
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    } else {
        line(
            "dataset contracts",
            false,
            format!(
                "no contract for {}: declare it in the manifest",
                missing.join(", ")
            ),
        )
    });
    let options_ok = registry::check_options(&plugin, &options);
    out.push(match &options_ok {
        Ok(()) => line("options valid", true, options.to_string()),
        Err(e) => line(
            "options valid",
            false,
            format!("{e} (pass --config with this library's options)"),
        ),
    });
    if !process {
        // A process plugin is only ever sent options its schema accepts.
        out.push(errors_come_back(&plugin));
    }
    if options_ok.is_err() || !missing.is_empty() {
        return out;
    }
    if m.kind == PluginKind::Indicator {
        out.push(CheckLine {
            name: "run and validate",
            ok: None,
            detail: "skipped: an indicator needs its input datasets; check it in a pipeline run"
                .into(),
        });
        return out;
    }
    out.push(run_once(target, &options, base_dir, false));
    out.push(run_once(target, &options, base_dir, true));
    out
}

/// Options that cannot deserialise (a string, not an object) must come back
/// as an error from `create`, not a crash.
fn errors_come_back(plugin: &Plugin) -> CheckLine {
    let tmp = tempdir();
    let (ctx, _runtime) = eqpipe_plugin_host::instance::probe_context(plugin.clone(), &tmp);
    let (code, msg) = match eqpipe_plugin_host::instance::try_create(
        &ctx,
        "\"options that are not an object\"",
    ) {
        Ok(()) => {
            return line(
                "errors come back as errors",
                false,
                "create accepted options that are not an object",
            );
        }
        Err(e) => e,
    };
    let _ = std::fs::remove_dir_all(&tmp);
    line(
        "errors come back as errors",
        !msg.is_empty(),
        format!("{}: {msg}", abi::status_name(code)),
    )
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eqpipe-check-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// A config of one source, the plugin checked, with `options`.
fn scratch_config(target: &PluginRef, options: &serde_json::Value, base_dir: &Path) -> Config {
    let table: toml::Table = serde_json::from_value(options.clone()).unwrap_or_default();
    Config {
        output_dir: None,
        contracts_dir: None,
        max_parallel: Some(1),
        fetch: FetchConfig::default(),
        quality: Default::default(),
        schedules: Vec::new(),
        objectives: Vec::new(),
        objective_files: Vec::new(),
        partners: Vec::new(),
        partnership: Default::default(),
        serve: Default::default(),
        versions: Default::default(),
        notify: None,
        exports: None,
        lake: None,
        report: Default::default(),
        evidence_packs: Vec::new(),
        disclosure: Default::default(),
        sources: vec![SourceConfig {
            name: "checked".into(),
            plugin: None,
            library: match target {
                PluginRef::Library(p) => Some(p.clone()),
                _ => None,
            },
            command: match target {
                PluginRef::Command { argv, .. } => Some(argv.clone()),
                _ => None,
            },
            isolation: Isolation::InProcess,
            timeout_secs: None,
            memory_limit_mb: None,
            options: table,
            max_rejected_pct: None,
            parse: Default::default(),
            accept_shrink: false,
        }],
        indicators: Vec::<IndicatorConfig>::new(),
        base_dir: match target {
            PluginRef::Command { dir, .. } => dir.clone(),
            _ => base_dir.to_path_buf(),
        },
        path: None,
    }
}

/// Runs the source once through the real pipeline (fetch, validation,
/// store) in a scratch folder; with `cancel`, asks it to stop after 100 ms
/// and checks that it does within the grace period.
fn run_once(
    target: &PluginRef,
    options: &serde_json::Value,
    base_dir: &Path,
    cancel: bool,
) -> CheckLine {
    let name: &'static str = if cancel {
        "honours cancellation"
    } else {
        "run and validate"
    };
    let out_dir = tempdir();
    let config = scratch_config(target, options, base_dir);
    let flag = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        output_dir: out_dir.clone(),
        cancel: flag.clone(),
        progress: false,
        scheduled: None,
        force: true,
        snapshot_date: None,
        accept_shrink: false,
        scope: Default::default(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(runner::run(&config, &opts));
    });
    if cancel {
        std::thread::sleep(Duration::from_millis(100));
        flag.store(true, Ordering::SeqCst);
    }
    let wait = if cancel {
        CANCEL_GRACE
    } else {
        Duration::from_secs(600)
    };
    let result = match rx.recv_timeout(wait) {
        Ok(r) => r,
        Err(_) => {
            return line(
                name,
                false,
                format!(
                    "still running {} s after it was asked to stop: check ctx.is_cancelled() between units of work",
                    wait.as_secs()
                ),
            );
        }
    };
    let _ = std::fs::remove_dir_all(&out_dir);
    let manifest = match result {
        Ok(m) => m,
        Err(e) => return line(name, false, e.to_string()),
    };
    let step = &manifest.sources[0];
    if cancel {
        return match step.status {
            StepStatus::Cancelled => line(
                name,
                true,
                format!("stopped after {} ms", started.elapsed().as_millis()),
            ),
            StepStatus::Succeeded => line(name, true, "finished before the request to stop"),
            _ => line(name, false, step.error.clone().unwrap_or_default()),
        };
    }
    match step.status {
        StepStatus::Succeeded => {
            let summary: Vec<String> = step
                .datasets
                .iter()
                .map(|(d, r)| {
                    format!(
                        "{d}: {} rows stored, {} quarantined",
                        r.stats.rows, r.stats.quarantined
                    )
                })
                .collect();
            line(name, true, summary.join("; "))
        }
        _ => line(name, false, step.error.clone().unwrap_or_default()),
    }
}
