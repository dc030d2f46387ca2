//! `eqpipe`: the command line of equality-pipeline.
//!
//! Exit codes: 0 success; 1 failure (one-line cause on stderr); 2 usage
//! error; 3 partial run (some steps failed, the others' outputs are in
//! place); 130 cancelled.

#![deny(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use eqpipe_plugin_sdk::PluginKind;

mod commands;
mod logging;
mod signals;
mod summary;

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
        /// Run only this partner's sources (`[[partners]] id`), e.g. one
        /// Kubernetes Job per partner; the partnership's id (`[partnership]
        /// id`) runs the shared sources, which belong to no partner.
        #[arg(long, value_name = "ID")]
        partner: Option<String>,
        /// Run the sources only: no indicators or objectives (the catalogue
        /// and report are rewritten from the outputs as they stand).
        #[arg(long, conflicts_with = "indicators_only")]
        sources_only: bool,
        /// Run the indicators only, over every dataset as last committed
        /// (after the partners' source jobs).
        #[arg(long, conflicts_with = "partner")]
        indicators_only: bool,
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
    /// Write a ready config for one local authority: its Census 2021
    /// profile from Nomis's bulk files (its own areas kept, with its region
    /// and England and Wales to compare), the ONS lookups, deprivation,
    /// ward boundaries, the report and an evidence pack, and commented
    /// slots for the workforce and service extracts. Reads every input it
    /// is given first; says what it left out.
    Init {
        /// The local authority: a code (`E08000003`) or a name (`Manchester`).
        #[arg(long)]
        area: String,
        /// Where to write the config.
        #[arg(short, long, default_value = "./eqpipe.toml")]
        config: PathBuf,
        /// Overwrite the config if it exists.
        #[arg(long)]
        force: bool,
        /// The Census 2021 bulk folder (URL or path).
        #[arg(long, value_name = "URL", default_value = eqpipe_engine::init::NOMIS)]
        nomis: String,
        /// Census tables (default the community profile's eight).
        #[arg(long, value_delimiter = ',', value_name = "TABLES")]
        tables: Vec<String>,
        /// An ONS lookup CSV (URL or path): LSOA (2021) to ward to LAD, MSOA
        /// (2021) to LAD, LSOA 2011 to 2021. Repeat for each.
        #[arg(long, value_name = "URL")]
        lookup: Vec<String>,
        /// An English Indices of Deprivation CSV (File 2 or 7). Repeat to
        /// join several files of one edition.
        #[arg(long, value_name = "URL")]
        iod: Vec<String>,
        /// Ward boundaries (GeoJSON).
        #[arg(long, value_name = "URL")]
        boundaries: Option<String>,
        /// The boundaries' year, where their properties do not say it.
        #[arg(long, value_name = "YEAR")]
        boundaries_vintage: Option<String>,
        /// The authority's region, a comparator (E12000001 to E12000009).
        #[arg(long, value_name = "CODE")]
        region: Option<String>,
    },
    /// Write the report's built-in templates into a folder, to change the
    /// report's design: name the folder in the config (`[report] templates
    /// = "DIR"`) and edit the files; any left out stay built in.
    ReportTemplates {
        /// The folder to write them in.
        dir: PathBuf,
        /// Overwrite files already there.
        #[arg(long)]
        force: bool,
    },
    /// Run the built-in demo: a fictional city's data, generated and served
    /// locally, through the real pipeline. No network, no config.
    Demo {
        /// Output folder.
        #[arg(short, long, default_value = "eqpipe-demo")]
        out: PathBuf,
        /// Also commit the published outputs to a lake of Delta tables: a
        /// folder, or a store's URI (`s3://bucket/prefix`, credentials from
        /// the store's standard environment variables), as `[lake] uri`
        /// would.
        #[arg(long, value_name = "DIR|URI")]
        lake: Option<String>,
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
    /// Conformance kit: load a plugin library, or start a process plugin,
    /// and check it (entry symbol or handshake, ABI or protocol version,
    /// manifest, schema, contracts, errors, a real run validated against
    /// its contracts, cancellation). Exits non-zero on any failure.
    Check {
        /// The plugin library (.so, .dylib, .dll), a Python plugin (.py),
        /// or a process plugin's command line (`python3 my_source.py`; after
        /// `--` when its arguments start with `-`).
        #[arg(required = true, num_args = 1..)]
        plugin: Vec<String>,
        /// A config whose entry for this library gives the options.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Write a ready-to-build plugin: a Rust crate, or with `--lang python`
    /// a Python script on the SDK (`plugins/sdk-python`).
    New {
        /// Plugin name, kebab-case.
        name: String,
        /// Source or indicator.
        #[arg(long, value_enum, default_value_t = NewKind::Source)]
        kind: NewKind,
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = NewLang::Rust)]
        lang: NewLang,
        /// Where to create the crate folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Path to the plugin SDK crate (default: beside this eqpipe, else crates.io).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NewLang {
    Rust,
    Python,
}

#[derive(Clone, Copy, ValueEnum)]
enum NewKind {
    Source,
    Indicator,
}

fn main() -> ExitCode {
    eqpipe_engine::builtins::install();
    let cli = Cli::parse();
    if matches!(cli.command, Command::PluginHost) {
        // A child of an isolated step: the outcome goes back as a frame.
        logging::init_child();
        return ExitCode::from(eqpipe_engine::isolate::child_main() as u8);
    }
    let progress = std::io::stderr().is_terminal() && matches!(cli.log_format, LogFormat::Human);
    let runs_pipeline = matches!(cli.command, Command::Run { .. } | Command::Demo { .. });
    // The conformance kit prints its own report; its runs log only problems.
    let quiet = progress && runs_pipeline || matches!(cli.command, Command::Plugins { .. });
    logging::init(&cli, quiet);
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
            partner,
            sources_only,
            indicators_only,
        } => commands::run::run(
            &config,
            out,
            progress,
            commands::run::Flags {
                force,
                snapshot_date,
                accept_shrink,
                scope: eqpipe_engine::runner::Scope {
                    partner,
                    sources_only,
                    indicators_only,
                },
            },
        ),
        Command::Validate { config } => commands::validate::run(&config),
        Command::Serve {
            config,
            out,
            listen,
        } => commands::serve::run(&config, out, listen),
        Command::Partners {
            command: PartnersCommand::Token { id },
        } => commands::partners::token(&id),
        Command::Partners {
            command: PartnersCommand::List { config, out },
        } => commands::partners::list(&config, out),
        Command::Plugins {
            command: PluginsCommand::List { config },
        } => commands::plugins::list(config.as_deref()),
        Command::Plugins {
            command: PluginsCommand::Check { plugin, config },
        } => commands::plugins::check(&plugin, config.as_deref()),
        Command::Plugins {
            command:
                PluginsCommand::New {
                    name,
                    kind,
                    lang,
                    dir,
                    sdk,
                },
        } => {
            let kind = match kind {
                NewKind::Source => PluginKind::Source,
                NewKind::Indicator => PluginKind::Indicator,
            };
            match lang {
                NewLang::Rust => commands::plugins::new(&name, kind, &dir, sdk),
                NewLang::Python => commands::plugins::new_python(&name, kind, &dir),
            }
        }
        Command::Demo { out, lake } => commands::demo::run(&out, lake.as_deref(), progress),
        Command::Init {
            area,
            config,
            force,
            nomis,
            tables,
            lookup,
            iod,
            boundaries,
            boundaries_vintage,
            region,
        } => commands::init::run(&eqpipe_engine::init::InitOptions {
            area,
            config,
            force,
            nomis,
            tables,
            lookups: lookup,
            iod,
            boundaries,
            boundaries_vintage,
            region,
        }),
        Command::ReportTemplates { dir, force } => commands::templates::run(&dir, force),
        Command::Schedule {
            config,
            out,
            metrics_addr,
        } => commands::schedule::run(config, out, metrics_addr),
        Command::Runs {
            command: RunsCommand::List { out, limit },
        } => commands::runs::list(&out, limit),
        Command::Runs {
            command: RunsCommand::Restore { out, id },
        } => commands::runs::restore(&out, &id),
        Command::Runs {
            command: RunsCommand::Show { out, id },
        } => commands::runs::show(&out, &id),
    }
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date: use YYYY-MM-DD, e.g. 2024-03-31"))
}
