//! One pipeline run: sources in parallel, then indicators, then the run
//! manifest, written last.
//!
//! A failing step never stops independent steps: a source that fails (bad
//! library, wrong ABI, panic, bad schema, too many rejected rows) keeps its
//! last good output and the run ends `partial`; an indicator whose inputs
//! have no data is skipped with the reason.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::PluginKind;

use crate::config::{Config, Isolation, options_json};
use eqpipe_core::layout::{Layout, Privacy};
pub use eqpipe_core::manifest::*;
pub use eqpipe_core::vars::{snapshot_vars, with_vars};
use eqpipe_plugin_host::fetch::Fetcher;
use eqpipe_plugin_host::host::StepContext;
use eqpipe_plugin_host::instance::{StepFailure, isolation_of, run_plugin};
use eqpipe_plugin_host::registry::{self, Plugin};
use eqpipe_store::contracts::{Contracts, Validator};
use eqpipe_store::files::{self as store, PART_FILE};
use eqpipe_store::fingerprint as incremental;
use eqpipe_store::sink::{CopyKind, Sink, Target};

mod indicators;
pub(crate) mod lake;
mod objectives;
mod partnership;
mod step;
mod targets;
use indicators::*;
use objectives::*;
use partnership::*;
use step::*;
use targets::*;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output root.
    pub output_dir: PathBuf,
    /// Set to stop the run (Ctrl-C, SIGTERM).
    pub cancel: Arc<AtomicBool>,
    /// Show progress bars (stderr is a terminal).
    pub progress: bool,
    /// Set by the scheduler: (schedule name, firing time).
    pub scheduled: Option<(String, String)>,
    /// The data period the run covers (`--snapshot-date`, or the scheduled
    /// firing's date); today when `None`. Plugin options may name it as
    /// `{snapshot_date}` (see [`snapshot_vars`]).
    pub snapshot_date: Option<chrono::NaiveDate>,
    /// Run every step even when its inputs are unchanged.
    pub force: bool,
    /// Let every source's output shrink past `[quality] max_shrink_pct`
    /// (or to none) this once (`--accept-shrink`).
    pub accept_shrink: bool,
    /// Which steps run (`--partner`, `--sources-only`, `--indicators-only`).
    pub scope: Scope,
}

/// Which steps a run takes, for a partnership fanned out over several
/// jobs: each partner's sources in a job of its own (`--partner ID
/// --sources-only`), then the indicators once over every partner's
/// committed data (`--indicators-only`). The default runs everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only this partner's sources (`[[partners]] id`); the partnership's
    /// id (`[partnership] id`) takes the shared sources, which belong to no
    /// partner.
    pub partner: Option<String>,
    /// The sources only: no indicators or objectives.
    pub sources_only: bool,
    /// The indicators only, over the datasets as last committed: no
    /// source runs.
    pub indicators_only: bool,
}

impl Scope {
    /// Whether the run is all of the pipeline.
    pub fn is_all(&self) -> bool {
        *self == Scope::default()
    }

    /// The scope as the manifest and the report say it (`None`: all).
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = &self.partner {
            parts.push(format!("{p}'s sources"));
        } else if self.sources_only {
            parts.push("the sources".to_string());
        }
        if self.sources_only {
            parts.push("no indicators (--sources-only)".to_string());
        }
        if self.indicators_only {
            parts.push(
                "the indicators only, over the datasets as last committed (--indicators-only)"
                    .to_string(),
            );
        } else if self.partner.is_some() && !self.sources_only {
            parts.push("then every indicator".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Whether a source owned by `partner` (`None`: shared) runs, in a
    /// partnership whose id is `partnership`.
    fn runs_source(&self, partner: Option<&str>, partnership: &str) -> bool {
        !self.indicators_only
            && self
                .partner
                .as_deref()
                .is_none_or(|want| partner.unwrap_or(partnership) == want)
    }
}

/// How much loss a step may take before it fails, and how its files write
/// numbers and dates.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepPolicy {
    /// Fail above this share of rejected rows (percent).
    pub(crate) max_rejected_pct: f64,
    /// Sources: fail when the rows fall by more than this percentage from
    /// the last good output, or to none (`None`: not checked).
    pub(crate) max_shrink_pct: Option<f64>,
    /// A shrink is allowed (`accept_shrink`, `--accept-shrink`).
    pub(crate) accept_shrink: bool,
    /// Warnings that fail the step.
    pub(crate) fail_on: Vec<crate::config::WarningKind>,
    /// How text is read (`[sources.parse]`).
    pub(crate) formats: crate::published::Formats,
}

/// A run that could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Output folder, runtime or contracts.
    #[error("{0}")]
    Setup(String),
}

fn new_run_id() -> String {
    format!(
        "{}-{:04x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        fastrand::u16(..)
    )
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

struct Shared<'a> {
    run_id: String,
    keep_versions: usize,
    snapshot: chrono::NaiveDate,
    root: PathBuf,
    contracts: Contracts,
    fetcher: Arc<Fetcher>,
    opts: &'a RunOptions,
    bars: Option<indicatif::MultiProgress>,
}

impl Shared<'_> {
    fn bar(&self, name: &str) -> Option<indicatif::ProgressBar> {
        let mp = self.bars.as_ref()?;
        let pb = mp.add(indicatif::ProgressBar::new_spinner());
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
                .expect("valid template"),
        );
        pb.set_prefix(name.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(pb)
    }

    /// Keeps a committed file as this run's version (`[versions]`).
    fn keep_version(&self, path: &Path) {
        if self.keep_versions > 0
            && let Err(e) = store::keep_version(&self.root, &self.run_id, path)
        {
            tracing::warn!("cannot keep a version of {}: {e}", path.display());
        }
    }

    fn provenance(
        &self,
        step: &str,
        plugin: &Plugin,
        fetches: &[FetchRecord],
        input_files: &[PathBuf],
    ) -> Vec<(String, String)> {
        let m = &plugin.manifest;
        let mut md = vec![
            (
                eqpipe_core::provenance::keys::RUN_ID.to_string(),
                self.run_id.clone(),
            ),
            (
                eqpipe_core::provenance::keys::PIPELINE_VERSION.into(),
                PIPELINE_VERSION.into(),
            ),
            (eqpipe_core::provenance::keys::STEP.into(), step.to_string()),
            (eqpipe_core::provenance::keys::PLUGIN.into(), m.name.clone()),
            (
                eqpipe_core::provenance::keys::PLUGIN_VERSION.into(),
                m.version.clone(),
            ),
            (
                eqpipe_core::provenance::keys::PLUGIN_ABI.into(),
                format!("{}.{}", plugin.abi_version.0, plugin.abi_version.1),
            ),
            (
                eqpipe_core::provenance::keys::CREATED_AT.into(),
                chrono::Utc::now().to_rfc3339(),
            ),
            (
                eqpipe_core::provenance::keys::SNAPSHOT_DATE.into(),
                self.snapshot.to_string(),
            ),
        ];
        // An indicator inherits the licences of the data it was made from;
        // from personal records it inherits what may be done with what was
        // made of them (their own licence says they are never published).
        let mut licences: Vec<String> = m.licence.iter().cloned().collect();
        for f in input_files {
            let l = if eqpipe_core::layout::is_restricted(f.strip_prefix(&self.root).unwrap_or(f)) {
                Some(DERIVED_FROM_PERSONAL_DATA.to_string())
            } else {
                eqpipe_store::files::file_metadata(f)
                    .and_then(|kv| kv.get(eqpipe_core::provenance::keys::LICENCE).cloned())
            };
            if let Some(l) = l
                && !licences.contains(&l)
            {
                licences.push(l);
            }
        }
        if !licences.is_empty() {
            md.push((
                eqpipe_core::provenance::keys::LICENCE.into(),
                licences.join(" | "),
            ));
        }
        if !input_files.is_empty() {
            let rels: Vec<String> = input_files.iter().map(|f| rel(&self.root, f)).collect();
            md.push((
                eqpipe_core::provenance::keys::INPUTS.into(),
                serde_json::to_string(&rels).expect("json"),
            ));
        }
        if !fetches.is_empty() {
            let urls: Vec<&str> = fetches.iter().map(|f| f.url.as_str()).collect();
            md.push((
                eqpipe_core::provenance::keys::SOURCE_URLS.into(),
                serde_json::to_string(&urls).expect("json"),
            ));
            if let Some(t) = fetches.iter().filter_map(|f| f.fetched_at.clone()).max() {
                md.push((eqpipe_core::provenance::keys::FETCHED_AT.into(), t));
            }
        }
        md
    }
}

/// A resolved plugin with its options, or why it could not be prepared.
type Prepared = Result<(Plugin, serde_json::Value), StepFailure>;

fn empty_report(name: &str, plugin: String) -> StepReport {
    StepReport {
        name: name.to_string(),
        plugin,
        plugin_version: None,
        plugin_abi: None,
        status: StepStatus::Failed,
        error: None,
        duration_ms: 0,
        datasets: BTreeMap::new(),
        quarantine_file: None,
        fetches: Vec::new(),
        inputs: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Resolves a plugin for a step and checks isolation and options.
fn prepare(
    r: &crate::config::PluginRef,
    kind: PluginKind,
    isolation: Isolation,
    options: &mut serde_json::Value,
    key_env: Option<&str>,
    report: &mut StepReport,
) -> Result<Plugin, StepFailure> {
    if isolation == Isolation::Process && !cfg!(unix) {
        return Err(StepFailure::failed(
            "isolation = \"process\" needs a Unix system; use \"in-process\"",
        ));
    }
    let plugin = registry::resolve(r, kind).map_err(|e| StepFailure::failed(e.to_string()))?;
    report.plugin_version = Some(plugin.manifest.version.clone());
    report.plugin_abi = Some(plugin.interface());
    // A partner's source pseudonymises with the partner's own key.
    crate::partners::set_key(options, &plugin.manifest.config_schema, key_env);
    registry::check_options(&plugin, options).map_err(StepFailure::failed)?;
    Ok(plugin)
}

/// Runs the pipeline described by `config`, in phases: open the output
/// folder, resolve the sources, run them, run the indicators (and the
/// objectives), then publish and record.
pub fn run(config: &Config, opts: &RunOptions) -> Result<RunManifest, RunError> {
    crate::builtins::install();
    let started_at = chrono::Utc::now();
    let t0 = Instant::now();
    let root = opts.output_dir.clone();
    // One writer per output folder (a manual run and a scheduled one, or
    // two daemons, never write the same files at once): held to the end.
    let Output {
        _lock,
        mut contracts,
        runtime,
        fetcher,
    } = open_output(config, &root)?;
    let run_id = new_run_id();
    let snapshot = opts.snapshot_date.unwrap_or_else(|| {
        chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive()
    });
    let vars = snapshot_vars(snapshot);
    crate::partners::check_distinct_keys(&config.partners, &config.partnership)
        .map_err(RunError::Setup)?;
    let partnership = Partnering::new(config, &root).map_err(RunError::Setup)?;
    check_scope(config, &opts.scope).map_err(RunError::Setup)?;
    // The lake's locks on the parts this run writes, before any step: a
    // second run of the same partner elsewhere is refused now, not after
    // its fetches. Held to the end, like the output lock.
    let lake = lake::take(config, &opts.scope, &run_id).map_err(RunError::Setup)?;
    // An indicator run reads every partner's datasets as the lake has them
    // (the partners' source runs committed them from other machines).
    if let Some(l) = &lake
        && opts.scope.indicators_only
    {
        lake::pull(l, &root).map_err(RunError::Setup)?;
    }
    // A report template that does not compile is refused before any step
    // runs, not found after the run has committed.
    eqpipe_publish::report::Templates::load(
        eqpipe_publish::report::Settings::of(config)
            .templates
            .as_deref(),
    )
    .map_err(|e| RunError::Setup(e.to_string()))?;
    let span = tracing::info_span!("run", run_id = %run_id, snapshot_date = %snapshot);
    let _guard = span.enter();
    tracing::info!(output = %root.display(), sources = config.sources.len(), indicators = config.indicators.len(), "run started");

    let (prepared, producers) = prepare_sources(config, &vars, &partnership, &mut contracts);
    let bars = if opts.progress {
        Some(indicatif::MultiProgress::new())
    } else {
        None
    };
    let shared = Shared {
        run_id: run_id.clone(),
        keep_versions: config.versions.keep,
        root: root.clone(),
        contracts,
        fetcher,
        opts,
        bars,
        snapshot,
    };
    let sources = run_sources(config, &shared, prepared, &partnership, &span);
    let ctx = IndicatorRun {
        config,
        shared: &shared,
        producers: &producers,
        sources: &sources,
        partnership: &partnership,
        vars: &vars,
    };
    let mut indicators: Vec<StepReport> = if opts.scope.sources_only {
        Vec::new()
    } else {
        config
            .indicators
            .iter()
            .flat_map(|ind| run_indicator(&ctx, ind))
            .collect()
    };
    if !config.objectives.is_empty()
        && !opts.scope.sources_only
        && !opts.cancel.load(Ordering::Relaxed)
    {
        let report = objectives_step(&shared, config, &indicators);
        indicators.push(report);
    }

    let outcome = outcome_of(opts, &sources, &indicators);
    let manifest = RunManifest {
        run_id: run_id.clone(),
        pipeline_version: PIPELINE_VERSION.into(),
        abi_version: format!("{}.{}", abi::ABI_MAJOR, abi::ABI_MINOR),
        config: config.path.as_ref().map(|p| p.display().to_string()),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        duration_ms: t0.elapsed().as_millis() as u64,
        outcome,
        schedule: opts.scheduled.as_ref().map(|s| s.0.clone()),
        scheduled_for: opts.scheduled.as_ref().map(|s| s.1.clone()),
        snapshot_date: Some(shared.snapshot.to_string()),
        scope: opts.scope.describe(),
        publication_errors: Vec::new(),
        lake: None,
        lake_config: None,
        lake_locks: Vec::new(),
        lake_versions: Default::default(),
        sources,
        indicators,
    };
    let mut manifest = manifest;
    publish(config, &shared, lake.as_ref(), &mut manifest)?;
    drop(lake);
    crate::observe::notify(config.notify.as_ref(), &manifest, &runtime);
    drop(_guard);
    runtime.shutdown_background();
    Ok(manifest)
}

/// The licence an output inherits from a partner's personal records.
const DERIVED_FROM_PERSONAL_DATA: &str = "Derived from the partner's own personal records: published only as counts and measures under disclosure control";

/// What a run holds for its whole length: the output lock, the contracts,
/// the i/o runtime and the fetcher.
struct Output {
    _lock: eqpipe_store::lock::OutputLock,
    contracts: Contracts,
    runtime: tokio::runtime::Runtime,
    fetcher: Arc<Fetcher>,
}

/// Creates and locks the output folder, removes an interrupted run's
/// temporaries, loads the contracts and starts the fetch layer.
fn open_output(config: &Config, root: &Path) -> Result<Output, RunError> {
    let root = root.to_path_buf();
    std::fs::create_dir_all(&root).map_err(|e| {
        RunError::Setup(format!(
            "cannot create output folder {}: {e}",
            root.display()
        ))
    })?;
    // One writer per output folder (a manual run and a scheduled one, or
    // two daemons, never write the same files at once).
    let lock = eqpipe_store::lock::OutputLock::acquire(&root)
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let stale = store::remove_stale_temporaries(&root);
    if stale > 0 {
        tracing::info!(
            stale,
            "removed temporary files an interrupted run left behind"
        );
    }
    let contracts = match &config.contracts_dir {
        Some(d) => {
            Contracts::with_dir(&config.resolve(d)).map_err(|e| RunError::Setup(e.to_string()))?
        }
        None => Contracts::builtin(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("eqpipe-io")
        .build()
        .map_err(|e| RunError::Setup(format!("cannot start the i/o runtime: {e}")))?;
    let cache_dir = config
        .fetch
        .cache_dir
        .as_ref()
        .map(|d| config.resolve(d))
        .unwrap_or_else(|| Layout::new(&root).http_cache(Privacy::Public));
    let fetcher = Arc::new(
        Fetcher::new(
            config.fetch.clone(),
            cache_dir,
            config.base_dir.clone(),
            runtime.handle().clone(),
        )
        .map_err(|e| RunError::Setup(e.to_string()))?
        .with_restricted_cache(Layout::new(&root).http_cache(Privacy::Restricted)),
    );
    Ok(Output {
        _lock: lock,
        contracts,
        runtime,
        fetcher,
    })
}

/// Sources resolved before anything runs, and which sources feed which
/// dataset.
type PreparedSources = (Vec<(StepReport, Prepared)>, HashMap<String, Vec<String>>);

/// Resolves every source plugin first, so contracts declared by plugins
/// are known and indicators know which sources feed which dataset.
fn prepare_sources(
    config: &Config,
    vars: &[(&'static str, String)],
    partnership: &Partnering<'_>,
    contracts: &mut Contracts,
) -> PreparedSources {
    let mut prepared: Vec<(StepReport, Prepared)> = Vec::new();
    for s in &config.sources {
        let r = config.source_plugin(s);
        let mut report = empty_report(&s.name, r.to_string());
        let mut options = with_vars(options_json(&s.options), vars);
        let partner = config.partner_of(&s.name);
        if let Some(p) = partner {
            options = with_vars(options, &partnership.source_vars(p));
        }
        let key = partner.and_then(|p| crate::partners::key_env(&config.partnership, p));
        let p = prepare(
            &r,
            PluginKind::Source,
            s.isolation,
            &mut options,
            key,
            &mut report,
        )
        .map(|p| (p, options));
        if let Ok((p, _)) = &p {
            for d in &p.manifest.produces {
                if let Some(c) = &d.contract {
                    contracts.add_declared(c);
                }
            }
        }
        prepared.push((report, p));
    }
    let mut producers: HashMap<String, Vec<String>> = HashMap::new();
    for (report, p) in &prepared {
        if let Ok((p, _)) = p {
            for d in &p.manifest.produces {
                producers
                    .entry(d.name.clone())
                    .or_default()
                    .push(report.name.clone());
            }
        }
    }

    (prepared, producers)
}

/// A scope the config can take: the partner named, sources and indicators
/// not both excluded.
fn check_scope(config: &Config, scope: &Scope) -> Result<(), String> {
    if scope.sources_only && scope.indicators_only {
        return Err("--sources-only and --indicators-only leave nothing to run".into());
    }
    if let Some(p) = &scope.partner {
        if scope.indicators_only {
            return Err(format!(
                "--partner {p} picks a partner's sources, and --indicators-only runs none"
            ));
        }
        let known: Vec<&str> = config.partners.iter().map(|x| x.id.as_str()).collect();
        if known.is_empty() {
            return Err(format!("--partner {p}: this config has no [[partners]]"));
        }
        if !known.contains(&p.as_str()) && *p != config.partnership.id {
            return Err(format!(
                "--partner {p}: no such partner (the config's partners: {}; `{}`, the partnership's id, takes the shared sources)",
                known.join(", "),
                config.partnership.id
            ));
        }
    }
    Ok(())
}

/// Runs the sources in parallel (up to `max_parallel`), each with its own
/// quality policy; their reports in config order.
fn run_sources(
    config: &Config,
    shared: &Shared<'_>,
    prepared: Vec<(StepReport, Prepared)>,
    partnership: &Partnering<'_>,
    span: &tracing::Span,
) -> Vec<StepReport> {
    let opts = shared.opts;
    let parallel = config
        .max_parallel
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
        .max(1);
    let max_rejected: Vec<StepPolicy> = config
        .sources
        .iter()
        .map(|s| StepPolicy {
            max_rejected_pct: s
                .max_rejected_pct
                .unwrap_or(config.quality.max_rejected_pct),
            max_shrink_pct: Some(config.quality.max_shrink_pct),
            accept_shrink: s.accept_shrink || opts.accept_shrink,
            fail_on: config.quality.fail_on.clone(),
            formats: s.parse.clone(),
        })
        .collect();
    // Only the sources the run's scope takes (`--partner`,
    // `--indicators-only`); the others keep their committed outputs.
    let queue: Mutex<VecDeque<(usize, StepReport, Prepared)>> = Mutex::new(
        prepared
            .into_iter()
            .enumerate()
            .filter(|(i, _)| {
                let owner = partnership.owner(&config.sources[*i].name);
                opts.scope
                    .runs_source(owner.map(|p| p.id.as_str()), &config.partnership.id)
            })
            .map(|(i, (r, p))| (i, r, p))
            .collect(),
    );
    let done: Mutex<Vec<(usize, StepReport)>> = Mutex::new(Vec::new());
    let (queue_ref, done_ref, shared_ref, max_rejected) = (&queue, &done, shared, &max_rejected);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(config.sources.len().max(1)) {
            let span = span.clone();
            scope.spawn(move || {
                let _guard = span.enter();
                loop {
                    let Some((i, mut report, prepared)) =
                        queue_ref.lock().expect("queue").pop_front()
                    else {
                        break;
                    };
                    let t = Instant::now();
                    let result = if opts.cancel.load(Ordering::Relaxed) {
                        Err(StepFailure {
                            status: StepStatus::Cancelled,
                            message: "cancelled before it started".into(),
                        })
                    } else {
                        prepared.and_then(|(plugin, options)| {
                            let partner = partnership.owner(&report.name);
                            let targets =
                                source_targets(shared_ref, &report.name, &plugin, partner)?;
                            run_step(
                                shared_ref,
                                &mut report,
                                plugin,
                                &options,
                                targets,
                                HashMap::new(),
                                &max_rejected[i],
                                isolation_of(
                                    &config.sources[i].isolation,
                                    config.source_plugin(&config.sources[i]),
                                    config.sources[i].timeout_secs,
                                    config.sources[i].memory_limit_mb,
                                ),
                                partnership.source_scope(partner),
                            )
                        })
                    };
                    finish_report(&mut report, t, result);
                    done_ref.lock().expect("done").push((i, report));
                }
            });
        }
    });
    let mut sources = done.into_inner().expect("done");
    sources.sort_by_key(|(i, _)| *i);
    sources.into_iter().map(|(_, r)| r).collect()
}

/// How the run ended, from its steps.
fn outcome_of(opts: &RunOptions, sources: &[StepReport], indicators: &[StepReport]) -> Outcome {
    let all: Vec<&StepReport> = sources.iter().chain(indicators).collect();
    let ok = all.iter().filter(|s| s.status.ok()).count();
    if opts.cancel.load(Ordering::Relaxed) || all.iter().any(|s| s.status == StepStatus::Cancelled)
    {
        Outcome::Cancelled
    } else if ok == all.len()
        && all
            .iter()
            .any(|s| s.status == StepStatus::SucceededWithWarnings)
    {
        Outcome::SuccessWithWarnings
    } else if ok == all.len() {
        Outcome::Success
    } else if ok == 0 {
        Outcome::Failed
    } else {
        Outcome::Partial
    }
}

/// Everything made from the committed files, then the manifest, last.
/// A failure to write what is made from the committed files is recorded in
/// the manifest (`publication_errors`) and turns a success into a success
/// with warnings (exit 4): the data is in place, but the report, catalogue
/// or exports may show the last run's.
fn publish(
    config: &Config,
    shared: &Shared<'_>,
    lakes: Option<&lake::Lakes>,
    manifest: &mut RunManifest,
) -> Result<(), RunError> {
    let root = &shared.root;
    let run_id = &shared.run_id;
    let mut failed = Vec::new();
    if let Err(e) = shared.contracts.record(root) {
        failed.push(format!("cannot record the run's contracts: {e}"));
    }
    let catalog = match eqpipe_publish::catalog::write(root, &shared.contracts, run_id) {
        Ok(c) => Some(c),
        Err(e) => {
            failed.push(format!("cannot write the data catalogue: {e}"));
            None
        }
    };
    // The lake, after every local check: the published files as they are
    // now committed, one Delta commit per table.
    if let (Some(lakes), Some(catalog)) = (lakes, &catalog) {
        lake::commit(config, lakes, root, catalog, manifest, &mut failed);
    }
    let settings = eqpipe_publish::report::Settings::of(config);
    if let Err(e) = eqpipe_publish::report::write(root, manifest, &settings) {
        failed.push(format!("cannot write the report: {e}"));
    }
    if let Some(exports) = &config.exports {
        match eqpipe_publish::export::write(root, exports, &shared.contracts) {
            Ok(files) => tracing::info!(files = files.len(), "exports written"),
            Err(e) => failed.push(format!("cannot write the exports: {e}")),
        }
    }
    for f in &failed {
        tracing::error!("{f}");
    }
    if !failed.is_empty() && manifest.outcome == Outcome::Success {
        manifest.outcome = Outcome::SuccessWithWarnings;
    }
    manifest.publication_errors = failed;
    if config.versions.keep > 0 {
        let pruned = store::prune_versions(root, config.versions.keep);
        if pruned > 0 {
            tracing::info!(
                pruned,
                keep = config.versions.keep,
                "removed the versions of older runs"
            );
        }
    }
    if let Some(l) = lakes {
        // The lake keeps what the kept runs' table versions need, no more.
        lake::vacuum(config, l, run_id, manifest);
    }
    eqpipe_publish::metrics::write_metrics(root, manifest);
    let json = serde_json::to_vec_pretty(manifest).expect("serialisable");
    store::write_atomic(&Layout::new(root).run_manifest(run_id), &json)
        .map_err(|e| RunError::Setup(format!("cannot write the run manifest: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_period_a_run_covers() {
        let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let opts = serde_json::json!({
            "path": "hr/workforce-{snapshot_date}.csv",
            "sheets": ["FY {financial_year}", "{snapshot_year}-{snapshot_month}"],
            "nested": {"n": 3, "keep": "{unknown}"}
        });
        let out = with_vars(opts.clone(), &snapshot_vars(d("2025-03-31")));
        assert_eq!(
            out,
            serde_json::json!({
                "path": "hr/workforce-2025-03-31.csv",
                "sheets": ["FY 2024-25", "2025-03"],
                "nested": {"n": 3, "keep": "{unknown}"}
            })
        );
        let out = with_vars(opts, &snapshot_vars(d("1999-04-01")));
        assert_eq!(out["sheets"][0], "FY 1999-00");
    }
}
