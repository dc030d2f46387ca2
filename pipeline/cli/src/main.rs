//! `eqpipe`: the command line of equality-pipeline.
//!
//! Exit codes: 0 success; 1 failure (one-line cause on stderr); 2 usage
//! error; 3 partial run (some steps failed, the others' outputs are in
//! place); 130 cancelled.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use eqpipe_engine::config::{Config, options_json};
use eqpipe_engine::registry;
use eqpipe_engine::runner::{self, Outcome, RunManifest, RunOptions, StepStatus};
use eqpipe_plugin_sdk::PluginKind;

#[derive(Parser)]
#[command(
    name = "eqpipe",
    version,
    about = "Equality reporting pipeline: Census, workforce and service data to Parquet indicators"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// More detail in the logs (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline a config describes.
    Run {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Output folder (overrides `output_dir` in the config).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Run every step, even those whose inputs are unchanged.
        #[arg(long)]
        force: bool,
        /// The data period this run covers, for a backfill (YYYY-MM-DD;
        /// default today). Plugin options may use it as {snapshot_date},
        /// {snapshot_year}, {snapshot_month} or {financial_year}.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        snapshot_date: Option<chrono::NaiveDate>,
        /// Let sources' outputs shrink past `[quality] max_shrink_pct` (or
        /// to no rows) this once: a smaller extract replaces the last good
        /// output instead of failing.
        #[arg(long)]
        accept_shrink: bool,
    },
    /// Check a config and its plugins without running anything.
    Validate {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Plugin commands.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run as a daemon, firing the config's `[[schedules]]` on their cron
    /// expressions until SIGTERM or Ctrl-C (exit 0); SIGHUP reloads the config.
    Schedule {
        /// The config file (TOML) with `[[schedules]]`.
        #[arg(short, long)]
        config: PathBuf,
        /// Output folder (overrides `output_dir` in the config).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Serve the partners' upload endpoint (`[serve]` and `[[partners]]` in
    /// the config): PUT /inbox/<partner>/<source>/<file> with a bearer
    /// token; each file is checked against its contract before it is
    /// accepted into the partner's inbox, and answered with a receipt.
    Serve {
        /// The config file (TOML) with `[[partners]]`.
        #[arg(short, long)]
        config: PathBuf,
        /// Output folder (overrides `output_dir` in the config).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Listen on this address (overrides `serve.listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Partnership commands.
    Partners {
        #[command(subcommand)]
        command: PartnersCommand,
    },
    /// Internal: runs one plugin for a parent eqpipe (process isolation).
    #[command(hide = true)]
    PluginHost,
    /// Run history, from the run manifests.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Run the built-in demo: a fictional city's data, generated and served
    /// locally, through the real pipeline. No network, no config.
    Demo {
        /// Output folder.
        #[arg(short, long, default_value = "eqpipe-demo")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum PartnersCommand {
    /// Make a new upload token for a partner: prints the token (give it to
    /// the partner, once) and the `token_sha256` line for the config (the
    /// only thing stored).
    Token {
        /// The partner's id.
        id: String,
    },
    /// List a config's partners: sources, key variable, inbox, tokens.
    List {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Output folder (overrides `output_dir` in the config).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// One line per run, newest first.
    List {
        /// The output folder.
        #[arg(short, long)]
        out: PathBuf,
        /// At most this many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
    },
    /// One run in full: every step, rows, quarantined rows, errors.
    Show {
        /// The output folder.
        #[arg(short, long)]
        out: PathBuf,
        /// Run id (or a unique prefix); `latest` for the newest.
        id: String,
    },
    /// Put back the files an earlier run wrote (from `versions/`, kept for
    /// the newest `[versions] keep` runs), e.g. after a bad extract.
    Restore {
        /// The output folder.
        #[arg(short, long)]
        out: PathBuf,
        /// Run id (or a unique prefix).
        id: String,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// List the built-in plugins and those a config loads.
    List {
        /// Also list the plugins this config names.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Conformance kit: load a plugin library and check it (entry symbol,
    /// ABI, manifest, schema, contracts, errors, a real run validated
    /// against its contracts, cancellation). Exits non-zero on any failure.
    Check {
        /// The plugin library (.so, .dylib, .dll).
        library: PathBuf,
        /// A config whose entry for this library gives the options.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Write a ready-to-build plugin crate.
    New {
        /// Plugin name, kebab-case.
        name: String,
        /// Source or indicator.
        #[arg(long, value_enum, default_value_t = NewKind::Source)]
        kind: NewKind,
        /// Where to create the crate folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Path to the plugin SDK crate (default: beside this eqpipe, else crates.io).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NewKind {
    Source,
    Indicator,
}

fn init_logging(cli: &Cli, progress: bool) {
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

/// Sets `cancel` on Ctrl-C or SIGTERM; a second signal exits at once.
fn install_signal_handlers(cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            #[cfg(unix)]
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let got = async {
                    match term.as_mut() {
                        Some(t) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {},
                                _ = t.recv() => {},
                            }
                        }
                        None => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                };
                #[cfg(not(unix))]
                let got = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                got.await;
                if cancel.swap(true, Ordering::SeqCst) {
                    eprintln!("eqpipe: stopping now");
                    std::process::exit(130);
                }
                eprintln!("eqpipe: stopping after the current step (signal again to stop at once); outputs stay as they were");
            }
        });
    });
}

fn main() -> ExitCode {
    eqpipe_engine::builtins::install();
    let cli = Cli::parse();
    if matches!(cli.command, Command::PluginHost) {
        // A child of an isolated step: JSON logs on stderr for the parent to
        // relay; the outcome goes back as a frame.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .init();
        return ExitCode::from(eqpipe_engine::isolate::child_main() as u8);
    }
    let progress = std::io::stderr().is_terminal() && matches!(cli.log_format, LogFormat::Human);
    let runs_pipeline = matches!(cli.command, Command::Run { .. } | Command::Demo { .. });
    // The conformance kit prints its own report; its runs log only problems.
    let quiet = progress && runs_pipeline || matches!(cli.command, Command::Plugins { .. });
    init_logging(&cli, quiet);
    match dispatch(cli, progress) {
        Ok(code) => code,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("eqpipe: error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli, progress: bool) -> Result<ExitCode> {
    match cli.command {
        Command::PluginHost => unreachable!("`plugin-host` is run from main, with JSON logs"),
        Command::Run {
            config,
            out,
            force,
            snapshot_date,
            accept_shrink,
        } => {
            let cfg = Config::load(&config)?;
            let out = out
                .or_else(|| cfg.output_dir.as_ref().map(|d| cfg.resolve(d)))
                .context("no output folder: set `output_dir` in the config or pass --out")?;
            let manifest = run_with(&cfg, &out, progress, force, snapshot_date, accept_shrink)?;
            Ok(report(&manifest, &out))
        }
        Command::Validate { config } => validate(&config),
        Command::Serve {
            config,
            out,
            listen,
        } => {
            let mut cfg = Config::load(&config)?;
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
            install_signal_handlers(cancel.clone());
            while !cancel.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            drop(server);
            Ok(ExitCode::SUCCESS)
        }
        Command::Partners {
            command: PartnersCommand::Token { id },
        } => {
            let token = eqpipe_engine::partners::new_token().map_err(anyhow::Error::msg)?;
            println!(
                "token for partner `{id}` (give it to them once; it is not stored):\n  {token}"
            );
            println!(
                "add to its [[partners]] entry:\n  token_sha256 = [\"{}\"]",
                eqpipe_engine::partners::hash_token(&token)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Partners {
            command: PartnersCommand::List { config, out },
        } => {
            let cfg = Config::load(&config)?;
            let out = out.or_else(|| cfg.output_dir.as_ref().map(|d| cfg.resolve(d)));
            if cfg.partners.is_empty() {
                println!("no [[partners]] in {}", config.display());
            }
            for p in &cfg.partners {
                println!("{} ({})", p.id, p.name);
                println!("  sources: {}", p.sources.join(", "));
                println!(
                    "  key:     {}",
                    eqpipe_engine::partners::key_env(&cfg.partnership, p).unwrap_or("(none)")
                );
                if let Some(o) = &out {
                    println!(
                        "  inbox:   {}",
                        eqpipe_engine::partners::inbox(o, p, |x| cfg.resolve(x)).display()
                    );
                }
                println!("  upload tokens: {}", p.token_sha256.len());
            }
            println!("partnership: {}", cfg.partnership.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins {
            command: PluginsCommand::List { config },
        } => list_plugins(config.as_deref()),
        Command::Plugins {
            command: PluginsCommand::Check { library, config },
        } => check_plugin(&library, config.as_deref()),
        Command::Plugins {
            command:
                PluginsCommand::New {
                    name,
                    kind,
                    dir,
                    sdk,
                },
        } => {
            let kind = match kind {
                NewKind::Source => PluginKind::Source,
                NewKind::Indicator => PluginKind::Indicator,
            };
            let sdk = sdk.or_else(eqpipe_engine::template::default_sdk);
            let root = eqpipe_engine::template::generate(&name, kind, &dir, sdk.as_deref())
                .map_err(anyhow::Error::msg)?;
            println!(
                "created {}
  cd {} && cargo build --release && eqpipe plugins check target/release/lib{}.so",
                root.display(),
                root.display(),
                name.replace('-', "_")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { out } => demo(&out, progress),
        Command::Schedule {
            config,
            out,
            metrics_addr,
        } => {
            let cancel = Arc::new(AtomicBool::new(false));
            let reload = Arc::new(AtomicBool::new(false));
            install_signal_handlers(cancel.clone());
            install_reload_handler(reload.clone());
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
        Command::Runs {
            command: RunsCommand::List { out, limit },
        } => {
            let runs = manifests(&out)?;
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
        Command::Runs {
            command: RunsCommand::Restore { out, id },
        } => {
            let runs = manifests(&out)?;
            let m = find_run(&runs, &id, &out)?;
            let kept = eqpipe_engine::store::version_runs(&out);
            if !kept.contains(&m.run_id) {
                anyhow::bail!(
                    "no kept versions of run {} (versions are kept for the newest runs only: [versions] keep; kept now: {})",
                    m.run_id,
                    if kept.is_empty() {
                        "none".to_string()
                    } else {
                        kept.join(", ")
                    }
                );
            }
            let _lock = eqpipe_engine::lock::OutputLock::acquire(&out)?;
            let files = eqpipe_engine::store::restore_version(&out, &m.run_id)?;
            // Every step runs in full next time: its fingerprint described
            // the files that were just replaced.
            for base in [out.clone(), out.join(eqpipe_engine::store::RESTRICTED_DIR)] {
                let _ = std::fs::remove_dir_all(base.join(".state"));
            }
            // The contracts the runs knew (contracts_dir, plugins' own), not
            // only the built-ins: no dataset drops out of the catalogue.
            let contracts = eqpipe_engine::contracts::Contracts::recorded(&out);
            eqpipe_engine::catalog::write(&out, &contracts, &m.run_id)?;
            eqpipe_engine::report::write(&out, m)?;
            for f in &files {
                println!("restored {}", f.strip_prefix(&out).unwrap_or(f).display());
            }
            println!(
                "{} file(s) of run {} put back; the next run runs every step",
                files.len(),
                m.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs {
            command: RunsCommand::Show { out, id },
        } => {
            let runs = manifests(&out)?;
            let m = find_run(&runs, &id, &out)?;
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
            Ok(report(m, &out))
        }
    }
}

/// One run by id, unique prefix or `latest`.
fn find_run<'a>(runs: &'a [RunManifest], id: &str, out: &Path) -> Result<&'a RunManifest> {
    let found: Vec<&RunManifest> = if id == "latest" {
        runs.last().into_iter().collect()
    } else {
        runs.iter().filter(|m| m.run_id.starts_with(id)).collect()
    };
    match found.as_slice() {
        [m] => Ok(*m),
        [] => anyhow::bail!("no run `{id}` in {}", out.join("runs").display()),
        _ => anyhow::bail!("`{id}` matches {} runs; give more of the id", found.len()),
    }
}

/// Every run manifest under `out/runs`, oldest first.
fn manifests(out: &Path) -> Result<Vec<RunManifest>> {
    let dir = out.join("runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("no run history in {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f)?;
        match serde_json::from_slice::<RunManifest>(&bytes) {
            Ok(m) => out.push(m),
            Err(e) => eprintln!("eqpipe: skipping {}: {e}", f.display()),
        }
    }
    Ok(out)
}

/// Sets `reload` on SIGHUP.
fn install_reload_handler(reload: Arc<AtomicBool>) {
    #[cfg(unix)]
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                eprintln!("eqpipe: reloading the config");
                reload.store(true, Ordering::SeqCst);
            }
        });
    });
    #[cfg(not(unix))]
    let _ = reload;
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date: use YYYY-MM-DD, e.g. 2024-03-31"))
}

fn run_with(
    cfg: &Config,
    out: &Path,
    progress: bool,
    force: bool,
    snapshot_date: Option<chrono::NaiveDate>,
    accept_shrink: bool,
) -> Result<RunManifest> {
    let cancel = Arc::new(AtomicBool::new(false));
    install_signal_handlers(cancel.clone());
    let opts = RunOptions {
        output_dir: out.to_path_buf(),
        cancel,
        progress,
        scheduled: None,
        snapshot_date,
        force,
        accept_shrink,
    };
    Ok(runner::run(cfg, &opts)?)
}

fn report(m: &RunManifest, out: &Path) -> ExitCode {
    println!(
        "run {} {} in {:.1}s",
        m.run_id,
        m.outcome.as_str(),
        m.duration_ms as f64 / 1000.0
    );
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
    println!(
        "  manifest {}",
        out.join("runs")
            .join(format!("{}.json", m.run_id))
            .display()
    );
    match m.outcome {
        Outcome::Success => ExitCode::SUCCESS,
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

fn validate(path: &Path) -> Result<ExitCode> {
    let cfg = Config::load(path)?;
    let mut problems = Vec::new();
    // Every secret the config names must be there when it runs (its value
    // is never read here, let alone printed).
    for (at, key, var) in cfg.variable_names() {
        if std::env::var_os(&var).is_none() {
            problems.push(format!(
                "{at}: `{key}` names the environment variable {var}, which is not set"
            ));
        }
    }
    match eqpipe_engine::schedule::check(&cfg) {
        Ok(s) => {
            for s in s {
                println!("schedule  {:<20} {}", s.config.name, s.config.cron);
            }
        }
        Err(e) => problems.push(e),
    }
    let mut produced = std::collections::HashSet::new();
    for s in &cfg.sources {
        let r = cfg.source_plugin(s);
        match registry::resolve(&r, PluginKind::Source) {
            Ok(p) => {
                let mut options = options_json(&s.options);
                eqpipe_engine::partners::set_key(
                    &mut options,
                    &p.manifest.config_schema,
                    cfg.partner_of(&s.name)
                        .and_then(|o| eqpipe_engine::partners::key_env(&cfg.partnership, o)),
                );
                if let Err(e) = registry::check_options(&p, &options) {
                    problems.push(format!("source `{}`: {e}", s.name));
                }
                produced.extend(p.manifest.produces.iter().map(|d| d.name.clone()));
                println!(
                    "source    {:<20} {} {} ({})",
                    s.name, p.manifest.name, p.manifest.version, p.origin
                );
            }
            Err(e) => problems.push(format!("source `{}`: {e}", s.name)),
        }
    }
    let contracts = match &cfg.contracts_dir {
        Some(d) => eqpipe_engine::contracts::Contracts::with_dir(&cfg.resolve(d))?,
        None => eqpipe_engine::contracts::Contracts::builtin(),
    };
    // Indicator output folder -> the contract of what it publishes.
    let mut outputs = std::collections::HashMap::new();
    for (i, ind) in cfg.indicators.iter().enumerate() {
        let r = cfg.indicator_plugin(ind);
        let label = ind
            .name
            .clone()
            .unwrap_or_else(|| format!("indicators[{i}]"));
        match registry::resolve(&r, PluginKind::Indicator) {
            Ok(p) => {
                if let Err(e) = registry::check_options(&p, &options_json(&ind.options)) {
                    problems.push(format!("indicator `{label}`: {e}"));
                }
                for d in &p.manifest.consumes {
                    if !produced.contains(d) {
                        println!(
                            "note: indicator `{label}` reads `{d}`, which no source in this config produces; earlier outputs will be used if present"
                        );
                    }
                }
                if let Some(out) = p.manifest.produces.first() {
                    let folder = ind.name.clone().unwrap_or_else(|| out.name.clone());
                    let contract = out
                        .contract
                        .clone()
                        .map(std::sync::Arc::new)
                        .or_else(|| contracts.get(&out.name));
                    outputs.insert(folder, contract);
                }
                println!(
                    "indicator {:<20} {} {} ({})",
                    label, p.manifest.name, p.manifest.version, p.origin
                );
            }
            Err(e) => problems.push(format!("indicator `{label}`: {e}")),
        }
    }
    if !cfg.objectives.is_empty() {
        let before = problems.len();
        problems.extend(eqpipe_engine::objectives::check_columns(
            &cfg.objectives,
            &|folder| outputs.get(folder).cloned().flatten(),
        ));
        if problems.len() == before {
            for o in &cfg.objectives {
                println!("objective {:<20} {} measure(s)", o.id, o.measures.len());
            }
        }
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} sources, {} indicators, {} objectives)",
            path.display(),
            cfg.sources.len(),
            cfg.indicators.len(),
            cfg.objectives.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("eqpipe: {p}");
        }
        bail!("{}: {} problem(s)", path.display(), problems.len())
    }
}

fn list_plugins(config: Option<&Path>) -> Result<ExitCode> {
    println!(
        "{:<22} {:<9} {:<9} {:<5} {:<22} datasets",
        "name", "version", "kind", "abi", "origin"
    );
    let show = |p: &registry::Plugin| {
        let produces: Vec<&str> = p
            .manifest
            .produces
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        let mut reads = p.manifest.consumes.clone();
        reads.extend(
            p.manifest
                .consumes_optional
                .iter()
                .map(|d| format!("[{d}]")),
        );
        let datasets = if reads.is_empty() {
            format!("-> {}", produces.join(", "))
        } else {
            format!("{} -> {}", reads.join(", "), produces.join(", "))
        };
        println!(
            "{:<22} {:<9} {:<9} {:<5} {:<22} {datasets}",
            p.manifest.name,
            p.manifest.version,
            p.manifest.kind.to_string(),
            format!("{}.{}", p.abi_version.0, p.abi_version.1),
            p.origin.to_string()
        );
    };
    for b in registry::builtins() {
        show(&registry::builtin(b.name)?);
    }
    if let Some(path) = config {
        let cfg = Config::load(path)?;
        let refs = cfg
            .sources
            .iter()
            .map(|s| cfg.source_plugin(s))
            .chain(cfg.indicators.iter().map(|i| cfg.indicator_plugin(i)));
        let mut failed = false;
        for r in refs {
            if let eqpipe_engine::config::PluginRef::Library(path) = &r {
                match registry::load_library(path) {
                    Ok(p) => show(&p),
                    Err(e) => {
                        failed = true;
                        eprintln!("eqpipe: {e}");
                    }
                }
            }
        }
        if failed {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_plugin(library: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let mut options = serde_json::json!({});
    let mut base = std::env::current_dir()?;
    if let Some(path) = config {
        let cfg = Config::load(path)?;
        base = cfg.base_dir.clone();
        let wanted = library
            .canonicalize()
            .unwrap_or_else(|_| library.to_path_buf());
        let same = |r: &eqpipe_engine::config::PluginRef| match r {
            eqpipe_engine::config::PluginRef::Library(p) => {
                p.canonicalize().unwrap_or_else(|_| p.clone()) == wanted
            }
            _ => false,
        };
        if let Some(s) = cfg.sources.iter().find(|s| same(&cfg.source_plugin(s))) {
            options = options_json(&s.options);
        } else if let Some(i) = cfg
            .indicators
            .iter()
            .find(|i| same(&cfg.indicator_plugin(i)))
        {
            options = options_json(&i.options);
        } else {
            bail!(
                "{} names no source or indicator with library {}",
                path.display(),
                library.display()
            );
        }
    }
    let lines = eqpipe_engine::check::check(library, options, &base);
    let mut failed = 0;
    for l in &lines {
        let tag = match l.ok {
            Some(true) => "PASS",
            Some(false) => {
                failed += 1;
                "FAIL"
            }
            None => "SKIP",
        };
        println!("{tag} {:<28} {}", l.name, l.detail);
    }
    let passed = lines.iter().filter(|l| l.ok == Some(true)).count();
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn demo(out: &Path, progress: bool) -> Result<ExitCode> {
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
    let cfg = eqpipe_engine::demo::config(&server.base_url(), &inputs.tables, &input_dir);
    // The demo regenerates its inputs each time: always run everything.
    // The demo's generated inputs are new each time (a fresh city, not a
    // shrunken extract), and it holds deliberately broken rows to show the
    // quarantine: a run with data-quality warnings is its expected outcome.
    let manifest = run_with(&cfg, out, progress, true, None, true)?;
    let mut code = report(&manifest, out);
    if manifest.outcome == Outcome::SuccessWithWarnings {
        code = ExitCode::SUCCESS;
    }
    println!(
        "\nOpen the outputs:\n  python -c \"import pandas as pd; print(pd.read_parquet('{0}/indicators/community_profile').head())\"\n  duckdb -c \"SELECT * FROM read_parquet('{0}/datasets/census_counts/**/*.parquet', hive_partitioning=1) LIMIT 5\"",
        out.display()
    );
    Ok(code)
}
