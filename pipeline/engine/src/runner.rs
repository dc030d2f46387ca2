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
        // An indicator inherits the licences of the data it was made from.
        let mut licences: Vec<String> = m.licence.iter().cloned().collect();
        for f in input_files {
            if let Some(l) = eqpipe_store::files::file_metadata(f)
                .and_then(|kv| kv.get(eqpipe_core::provenance::keys::LICENCE).cloned())
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

/// Where a source's partition of a dataset lives: personal datasets under
/// the restricted root (a partner's under its own); a partner's public
/// datasets in a `partner=<id>` partition.
fn source_path(
    root: &Path,
    contract: &eqpipe_plugin_sdk::Contract,
    source: &str,
    partner: Option<&str>,
) -> PathBuf {
    Layout::new(root).source_file(&contract.name, contract.personal, source, partner)
}

/// Runs one step end to end: plugin, sink, commit. Fills `report`.
#[allow(clippy::too_many_arguments)]
fn run_step(
    shared: &Shared<'_>,
    report: &mut StepReport,
    plugin: Plugin,
    options: &serde_json::Value,
    targets: HashMap<String, Target>,
    inputs: HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>,
    policy: &StepPolicy,
    isolated: Option<(
        crate::config::PluginRef,
        eqpipe_plugin_host::isolate::Limits,
    )>,
    scope: Option<eqpipe_plugin_host::host::Scope>,
) -> Result<(), StepFailure> {
    let name = report.name.clone();
    let mut targets = targets;
    for t in targets.values_mut() {
        t.validator.set_formats(policy.formats.clone());
    }
    // Rejected rows of personal datasets are personal too, and so are the
    // rejected rows of an indicator before disclosure control.
    let personal = targets
        .values()
        .any(|t| t.validator.contract().personal || t.disclosure.is_some());
    let privacy = Privacy::of(personal, scope.as_ref().map(|s| s.partner.as_str()));
    let quarantine = Layout::new(&shared.root)
        .quarantine(privacy, &shared.run_id)
        .join(format!("{name}.csv"));
    let input_files: Vec<PathBuf> = inputs
        .values()
        .flat_map(|(_, f)| f.iter().cloned())
        .collect();
    // Incremental: skip the step when nothing it reads has changed.
    let is_source = plugin.manifest.kind == PluginKind::Source;
    let kind = if is_source { "sources" } else { "indicators" };
    let fp_path = incremental::path(&shared.root, kind, &name, personal);
    let partner_cache = scope.as_ref().and_then(|s| s.cache_dir.clone());
    // Everything that shapes the output: the plugin's options, the step's
    // rejection threshold, the contracts and the disclosure policy.
    let mut shaping: Vec<(&String, &Target)> = targets.iter().collect();
    shaping.sort_by_key(|(k, _)| *k);
    let options_text = serde_json::json!({
        "options": options,
        "max_rejected_pct": policy.max_rejected_pct,
        "parse": policy.formats,
        "targets": shaping
            .iter()
            .map(|(k, t)| serde_json::json!({
                "dataset": k,
                "contract": t.validator.contract().as_ref(),
                "disclosure": t.disclosure.as_ref().map(|d| d.0),
            }))
            .collect::<Vec<_>>(),
    })
    .to_string();
    let mut indicator_inputs: Vec<incremental::Input> = input_files
        .iter()
        .map(|f| incremental::Input {
            request: None,
            file: Some(rel(&shared.root, f)),
            digest: incremental::stamp(f),
        })
        .collect();
    indicator_inputs.sort_by(|a, b| a.file.cmp(&b.file));
    // The step's last successful run: its fingerprint decides whether to
    // run again, and whether its output is the baseline for the shrink rule.
    let previous = incremental::load(&fp_path);
    if !shared.opts.force
        && let Some(old) = &previous
        && incremental::same_step(
            old,
            &plugin.manifest.name,
            &plugin.manifest.version,
            &options_text,
            &shared.root,
        )
        && inputs_unchanged(
            shared,
            old,
            is_source,
            personal,
            &indicator_inputs,
            partner_cache.as_deref(),
        )
    {
        for (d, f) in &old.outputs {
            report.datasets.entry(d.clone()).or_default().file = Some(f.clone());
        }
        return Err(StepFailure {
            status: StepStatus::Unchanged,
            message: format!(
                "inputs unchanged since run {}: not run again, its outputs stand (--force to run it)",
                old.run_id
            ),
        });
    }
    let ctx = StepContext {
        step: name.clone(),
        plugin: plugin.clone(),
        fetcher: shared.fetcher.clone(),
        cancel: shared.opts.cancel.clone(),
        sink: Mutex::new(Sink::new(&shared.run_id, targets, quarantine)),
        forward: None,
        pipe: Default::default(),
        inputs,
        fetches: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        progress: shared.bar(&name),
        personal,
        snapshot_date: shared.snapshot.to_string(),
        scope: scope.clone(),
    };
    let span = tracing::info_span!("step", step = %name, plugin = %plugin.manifest.name);
    let _guard = span.enter();
    tracing::info!("started");
    // The plugin reads and converts on this thread while a second one
    // validates and writes what it emitted (two cores in use).
    // (An isolated plugin's batches already arrive on a thread of their
    // own: no queue, and the storing thread ends at once.)
    let (queue, stored) = std::sync::mpsc::sync_channel(2);
    *ctx.pipe.queue.lock().expect("not poisoned") = isolated.is_none().then_some(queue);
    let result = std::thread::scope(|scope| {
        let storing_span = tracing::Span::current();
        let (pipe, sink) = (&ctx.pipe, &ctx.sink);
        scope.spawn(move || {
            let _g = storing_span.enter();
            pipe.drain(sink, stored);
        });
        let result = run_plugin(&ctx, options, &isolated);
        ctx.pipe.queue.lock().expect("not poisoned").take();
        result
    });
    let result = match (result, ctx.pipe.error.lock().expect("not poisoned").take()) {
        (Ok(()), Some((code, msg))) => Err(StepFailure {
            status: if code == abi::STATUS_CANCELLED {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            },
            message: format!("{msg} ({})", abi::status_name(code)),
        }),
        (r, _) => r,
    };
    if let Some(pb) = &ctx.progress {
        pb.finish_and_clear();
    }
    let fetches = ctx.fetches.into_inner().expect("not poisoned");
    let mut ctx_warnings = ctx.warnings.into_inner().expect("not poisoned");
    report.fetches = fetches.clone();
    let sink = ctx.sink.into_inner().expect("not poisoned");
    report.quarantine_file = sink.quarantine_path().map(|p| rel(&shared.root, &p));
    for (d, stats) in sink.stats() {
        report.datasets.insert(
            d.clone(),
            DatasetReport {
                stats: stats.clone(),
                ..Default::default()
            },
        );
    }
    result?;
    let quarantine = sink.quarantine_target();
    let (files, stats) = sink
        .finish(&shared.provenance(&name, &plugin, &fetches, &input_files))
        .map_err(|e| StepFailure::failed(e.to_string()))?;
    let rows_in: u64 = stats.values().map(|s| s.rows_in).sum();
    let rejected: u64 = stats.values().map(|s| s.quarantined).sum();
    if rejected > 0 {
        // (Rows found duplicated only at the end reach the quarantine
        // file in `finish`.)
        report.quarantine_file = Some(rel(&shared.root, &quarantine));
    }
    let store_stats = |report: &mut StepReport| {
        for (d, s) in &stats {
            report.datasets.insert(
                d.clone(),
                DatasetReport {
                    stats: s.clone(),
                    ..Default::default()
                },
            );
        }
    };
    let limit = policy.max_rejected_pct;
    if rows_in > 0 && rejected as f64 * 100.0 / rows_in as f64 > limit {
        let pct = rejected as f64 * 100.0 / rows_in as f64;
        store_stats(report);
        return Err(StepFailure::failed(format!(
            "rejected {rejected} of {rows_in} rows ({pct:.1}%), above the limit of {limit}% (max_rejected_pct); top reasons: {}; the last good output is kept, see {}",
            top_reasons(&stats, 3),
            report.quarantine_file.clone().unwrap_or_default()
        )));
    }
    let mut warnings = quality_warnings(&stats);
    warnings.append(&mut ctx_warnings);
    // The last good output is the baseline only when it was made with the
    // same settings (a changed config may rightly make less).
    let same_settings = previous
        .as_ref()
        .is_some_and(|old| old.options == incremental::sha(&options_text));
    if let Some(max_shrink) = policy.max_shrink_pct {
        // A source with no rows at all, or a dataset that fell far below
        // its last good output, would replace good data with less.
        let mains: Vec<&(String, CopyKind, store::FinishedFile)> = files
            .iter()
            .filter(|(_, c, _)| *c == CopyKind::Main)
            .collect();
        let mut shrinks: Vec<(String, String, u64, Option<u64>)> = Vec::new();
        if !mains.is_empty() && mains.iter().all(|(_, _, f)| f.rows() == 0) {
            let before: u64 = mains
                .iter()
                .filter_map(|(_, _, f)| store::committed_rows(f.final_path()))
                .sum();
            let names: Vec<&str> = mains.iter().map(|(d, _, _)| d.as_str()).collect();
            shrinks.push((
                names.join(", "),
                if before > 0 {
                    format!("yielded no rows where its last good output has {before}")
                } else {
                    "yielded no rows".to_string()
                },
                0,
                (before > 0).then_some(before),
            ));
        } else {
            for (d, _, f) in mains.iter().filter(|_| same_settings) {
                let now = f.rows();
                let Some(b) = store::committed_rows(f.final_path()).filter(|b| *b > 0) else {
                    continue;
                };
                if (now as f64) < b as f64 * (1.0 - max_shrink / 100.0) {
                    shrinks.push((
                        d.clone(),
                        format!(
                            "yielded {now} rows where its last good output has {b} (a fall of {:.0}%, above the limit of {max_shrink}%: max_shrink_pct)",
                            100.0 - now as f64 * 100.0 / b as f64
                        ),
                        now,
                        Some(b),
                    ));
                }
            }
        }
        for (d, what, now, before) in shrinks {
            if !policy.accept_shrink {
                store_stats(report);
                return Err(StepFailure::failed(format!(
                    "`{d}` {what}; the last good output is kept (accept_shrink = true on the source, or --accept-shrink, allows it)"
                )));
            }
            warnings.push(Warning {
                kind: crate::config::WarningKind::AcceptedShrink,
                dataset: Some(d),
                what: format!("accepted shrink: {what}"),
                count: now,
                of: before,
            });
        }
    }
    if let Some(w) = warnings.iter().find(|w| policy.fail_on.contains(&w.kind)) {
        store_stats(report);
        let message = format!(
            "a data-quality warning the config fails on ([quality] fail_on): {w}; the last good output is kept"
        );
        report.warnings = warnings;
        return Err(StepFailure::failed(message));
    }
    report.warnings = warnings;
    // The unsuppressed copy first: a published file never exists without it.
    let mut files = files;
    files.sort_by_key(|(_, copy, _)| *copy != CopyKind::Unsuppressed);
    for (d, copy, f) in files {
        let path = f.commit().map_err(|e| StepFailure::failed(e.to_string()))?;
        shared.keep_version(&path);
        let entry = report.datasets.entry(d.clone()).or_default();
        entry.stats = stats.get(&d).cloned().unwrap_or_default();
        match copy {
            CopyKind::Main => entry.file = Some(rel(&shared.root, &path)),
            CopyKind::Unsuppressed => entry.unsuppressed_file = Some(rel(&shared.root, &path)),
        }
    }
    let inputs = if is_source {
        fetches
            .iter()
            .filter_map(|f| {
                Some(incremental::Input {
                    request: Some(f.request.clone()?),
                    file: None,
                    digest: f.digest.clone()?,
                })
            })
            .collect()
    } else {
        indicator_inputs
    };
    incremental::save(
        &fp_path,
        &incremental::Fingerprint {
            plugin: plugin.manifest.name.clone(),
            version: plugin.manifest.version.clone(),
            options: incremental::sha(&options_text),
            run_id: shared.run_id.clone(),
            inputs,
            outputs: report
                .datasets
                .iter()
                .filter_map(|(d, r)| Some((d.clone(), r.file.clone()?)))
                .collect(),
        },
    );
    if rejected > 0 {
        tracing::warn!(
            rejected,
            file = report.quarantine_file.as_deref().unwrap_or(""),
            "rows quarantined"
        );
    }
    tracing::info!(
        rows = stats.values().map(|s| s.rows).sum::<u64>(),
        "succeeded"
    );
    Ok(())
}

/// The commonest rejection reasons of a step, `reason (count)`.
fn top_reasons(stats: &BTreeMap<String, DatasetStats>, n: usize) -> String {
    let mut all: Vec<(&String, u64)> = stats
        .values()
        .flat_map(|s| s.rejected_reasons.iter().map(|(r, c)| (r, *c)))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = all
        .iter()
        .take(n)
        .map(|(r, c)| format!("{r} ({c})"))
        .collect();
    if shown.is_empty() {
        "none recorded".into()
    } else {
        shown.join(", ")
    }
}

/// The warnings a step's counts imply: rejected rows by reason, and
/// unreadable optional values stored as null.
fn quality_warnings(stats: &BTreeMap<String, DatasetStats>) -> Vec<Warning> {
    use crate::config::WarningKind;
    let mut out = Vec::new();
    for (d, s) in stats {
        let mut reasons: Vec<(&String, &u64)> = s.rejected_reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (r, c) in reasons {
            out.push(Warning {
                kind: WarningKind::RejectedRows,
                dataset: Some(d.clone()),
                what: format!("rows rejected: {r}"),
                count: *c,
                of: Some(s.rows_in),
            });
        }
        for (col, n) in &s.nulled {
            out.push(Warning {
                kind: WarningKind::NulledValues,
                dataset: Some(d.clone()),
                what: format!("{col}: values stored as null ({})", n.reason),
                count: n.count,
                of: Some(s.rows_in),
            });
        }
    }
    out
}

/// Replays a source's recorded fetches (or stamps an indicator's input
/// files) and compares them with its last successful run.
fn inputs_unchanged(
    shared: &Shared<'_>,
    old: &incremental::Fingerprint,
    is_source: bool,
    personal: bool,
    indicator_inputs: &[incremental::Input],
    partner_cache: Option<&Path>,
) -> bool {
    if !is_source {
        return old.inputs == indicator_inputs;
    }
    if old.inputs.is_empty() {
        return false;
    }
    for input in &old.inputs {
        let Some(req) = &input.request else {
            return false;
        };
        let got =
            shared
                .fetcher
                .fetch_for_step_in(req, &shared.opts.cancel, personal, partner_cache);
        let same = got
            .ok()
            .and_then(|r| incremental::digest_path(Path::new(&r.path)).ok())
            .is_some_and(|d| d == input.digest);
        if !same {
            return false;
        }
    }
    true
}

fn finish_report(report: &mut StepReport, started: Instant, result: Result<(), StepFailure>) {
    report.duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(()) if report.warnings.is_empty() => report.status = StepStatus::Succeeded,
        Ok(()) => {
            for w in &report.warnings {
                tracing::warn!(step = %report.name, kind = ?w.kind, "data quality: {w}");
            }
            report.status = StepStatus::SucceededWithWarnings;
        }
        Err(f) if f.status == StepStatus::Unchanged => {
            tracing::info!(step = %report.name, "{}", f.message);
            report.status = StepStatus::Unchanged;
        }
        Err(f) => {
            report.status = f.status;
            tracing::error!(step = %report.name, "{}", f.message);
            report.error = Some(f.message);
        }
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
    report.plugin_abi = Some(format!("{}.{}", plugin.abi_version.0, plugin.abi_version.1));
    // A partner's source pseudonymises with the partner's own key.
    crate::partners::set_key(options, &plugin.manifest.config_schema, key_env);
    registry::check_options(&plugin, options).map_err(StepFailure::failed)?;
    Ok(plugin)
}

/// Runs the pipeline described by `config`.
pub fn run(config: &Config, opts: &RunOptions) -> Result<RunManifest, RunError> {
    crate::builtins::install();
    let started_at = chrono::Utc::now();
    let t0 = Instant::now();
    let root = opts.output_dir.clone();
    std::fs::create_dir_all(&root).map_err(|e| {
        RunError::Setup(format!(
            "cannot create output folder {}: {e}",
            root.display()
        ))
    })?;
    // One writer per output folder (a manual run and a scheduled one, or
    // two daemons, never write the same files at once).
    let _lock = eqpipe_store::lock::OutputLock::acquire(&root)
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let stale = store::remove_stale_temporaries(&root);
    if stale > 0 {
        tracing::info!(
            stale,
            "removed temporary files an interrupted run left behind"
        );
    }
    let mut contracts = match &config.contracts_dir {
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
    let span = tracing::info_span!("run", run_id = %run_id, snapshot_date = %snapshot);
    let _guard = span.enter();
    tracing::info!(output = %root.display(), sources = config.sources.len(), indicators = config.indicators.len(), "run started");

    // Resolve every source plugin first, so contracts declared by plugins
    // are known and indicators know which sources feed which dataset.
    let mut prepared: Vec<(StepReport, Prepared)> = Vec::new();
    for s in &config.sources {
        let r = config.source_plugin(s);
        let mut report = empty_report(&s.name, r.to_string());
        let mut options = with_vars(options_json(&s.options), &vars);
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

    // Sources, in parallel.
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
    let indicator_policy = StepPolicy {
        max_rejected_pct: config.quality.max_rejected_pct,
        max_shrink_pct: None,
        accept_shrink: false,
        fail_on: config.quality.fail_on.clone(),
        formats: Default::default(),
    };
    let queue: Mutex<VecDeque<(usize, StepReport, Prepared)>> = Mutex::new(
        prepared
            .into_iter()
            .enumerate()
            .map(|(i, (r, p))| (i, r, p))
            .collect(),
    );
    let done: Mutex<Vec<(usize, StepReport)>> = Mutex::new(Vec::new());
    let (queue_ref, done_ref, shared_ref, max_rejected) = (&queue, &done, &shared, &max_rejected);
    let partnership = &partnership;
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
    let sources: Vec<StepReport> = sources.into_iter().map(|(_, r)| r).collect();

    // Indicators, in config order.
    let mut indicators = Vec::new();
    for ind in &config.indicators {
        let t = Instant::now();
        let r = config.indicator_plugin(ind);
        let mut options = with_vars(options_json(&ind.options), &vars);
        let mut report = empty_report(ind.name.as_deref().unwrap_or(""), r.to_string());
        let plugin = match prepare(
            &r,
            PluginKind::Indicator,
            ind.isolation,
            &mut options,
            None,
            &mut report,
        ) {
            Ok(p) => p,
            Err(f) => {
                if report.name.is_empty() {
                    report.name = r.to_string();
                }
                finish_report(&mut report, t, Err(f));
                indicators.push(report);
                continue;
            }
        };
        let out = plugin.manifest.produces[0].clone();
        let name = ind.name.clone().unwrap_or_else(|| out.name.clone());
        report.name = name.clone();
        let isolated = || {
            isolation_of(
                &ind.isolation,
                r.clone(),
                ind.timeout_secs,
                ind.memory_limit_mb,
            )
        };
        let contract = out
            .contract
            .clone()
            .map(Arc::new)
            .or_else(|| shared.contracts.get(&out.name))
            .ok_or_else(|| StepFailure::failed(no_contract(&out.name)))
            .and_then(|c| check_publishable(&shared, &plugin, &c).map(|_| c));
        let contract = match contract {
            Ok(c) => c,
            Err(f) => {
                finish_report(&mut report, t, Err(f));
                indicators.push(report);
                continue;
            }
        };
        let cancelled = || {
            opts.cancel.load(Ordering::Relaxed).then(|| StepFailure {
                status: StepStatus::Cancelled,
                message: "cancelled before it started".into(),
            })
        };
        let levels = partnership.levels_for(&plugin, &producers);
        if levels.is_empty() {
            let result = (|| {
                if let Some(c) = cancelled() {
                    return Err(c);
                }
                let mut targets = HashMap::new();
                targets.insert(
                    out.name.clone(),
                    Target {
                        disclosure: contract.disclosure.as_ref().map(|_| {
                            (
                                config.disclosure,
                                Layout::new(&root).indicator_file(Privacy::Restricted, &name),
                            )
                        }),
                        validator: Validator::new(contract.clone()),
                        final_path: Layout::new(&root).indicator_file(Privacy::Public, &name),
                        partner: None,
                        publish: true,
                    },
                );
                let inputs = indicator_inputs(
                    &shared,
                    &plugin,
                    &producers,
                    &sources,
                    &mut report,
                    partnership,
                    None,
                )?;
                run_step(
                    &shared,
                    &mut report,
                    plugin.clone(),
                    &options,
                    targets,
                    inputs,
                    &indicator_policy,
                    isolated(),
                    None,
                )
            })();
            finish_report(&mut report, t, result);
            indicators.push(report);
            continue;
        }
        // A partnership: one run per partner (its rows only) and one for the
        // partnership (everyone's), then disclosure control over all levels
        // at once before any of them is published.
        let mut level_reports = Vec::new();
        for level in &levels {
            let lt = Instant::now();
            let mut lr = report.clone();
            lr.name = format!("{name}@{}", level.id);
            let result = (|| {
                if let Some(c) = cancelled() {
                    return Err(c);
                }
                let lopts = with_vars(options.clone(), &partnership.level_vars(level));
                let mut targets = HashMap::new();
                targets.insert(
                    out.name.clone(),
                    Target {
                        disclosure: contract.disclosure.as_ref().map(|_| {
                            (
                                config.disclosure,
                                partnership.unsuppressed_path(level, &name),
                            )
                        }),
                        validator: Validator::new(contract.clone()),
                        final_path: partnership.published_path(level, &name),
                        partner: Some(level.id.clone()),
                        publish: contract.disclosure.is_none(),
                    },
                );
                let inputs = indicator_inputs(
                    &shared,
                    &plugin,
                    &producers,
                    &sources,
                    &mut lr,
                    partnership,
                    Some(level),
                )?;
                run_step(
                    &shared,
                    &mut lr,
                    plugin.clone(),
                    &lopts,
                    targets,
                    inputs,
                    &indicator_policy,
                    isolated(),
                    level
                        .partner
                        .map(|i| partnership.scope(&config.partners[i])),
                )
            })();
            finish_report(&mut lr, lt, result);
            level_reports.push(lr);
        }
        if contract.disclosure.is_some() {
            let span = tracing::info_span!("step", step = %name, plugin = "eqpipe-disclosure");
            let _g = span.enter();
            let result = publish_levels(
                &shared,
                &name,
                &out.name,
                &contract,
                config.disclosure,
                &levels,
                &level_reports,
                partnership,
                &mut report,
            );
            report.plugin = "eqpipe-disclosure (partnership levels)".into();
            finish_report(&mut report, t, result);
            indicators.extend(level_reports);
            indicators.push(report);
        } else {
            indicators.extend(level_reports);
        }
    }

    if !config.objectives.is_empty() && !opts.cancel.load(Ordering::Relaxed) {
        let report = objectives_step(&shared, config, &indicators);
        indicators.push(report);
    }

    let all: Vec<&StepReport> = sources.iter().chain(&indicators).collect();
    let ok = all.iter().filter(|s| s.status.ok()).count();
    let outcome = if opts.cancel.load(Ordering::Relaxed)
        || all.iter().any(|s| s.status == StepStatus::Cancelled)
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
    };
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
        sources,
        indicators,
    };
    if let Err(e) = shared.contracts.record(&root) {
        tracing::error!("cannot record the run's contracts: {e}");
    }
    if let Err(e) = eqpipe_publish::catalog::write(&root, &shared.contracts, &run_id) {
        tracing::error!("cannot write the data catalogue: {e}");
    }
    if let Err(e) = eqpipe_publish::report::write(&root, &manifest) {
        tracing::error!("cannot write the report: {e}");
    }
    if let Some(exports) = &config.exports {
        match eqpipe_publish::export::write(&root, exports, &shared.contracts) {
            Ok(files) => tracing::info!(files = files.len(), "exports written"),
            Err(e) => tracing::error!("cannot write the exports: {e}"),
        }
    }
    if config.versions.keep > 0 {
        let pruned = store::prune_versions(&root, config.versions.keep);
        if pruned > 0 {
            tracing::info!(
                pruned,
                keep = config.versions.keep,
                "removed the versions of older runs"
            );
        }
    }
    eqpipe_publish::metrics::write_metrics(&root, &manifest);
    let json = serde_json::to_vec_pretty(&manifest).expect("serialisable");
    store::write_atomic(&Layout::new(&root).run_manifest(&run_id), &json)
        .map_err(|e| RunError::Setup(format!("cannot write the run manifest: {e}")))?;
    crate::observe::notify(config.notify.as_ref(), &manifest, &runtime);
    drop(_guard);
    runtime.shutdown_background();
    Ok(manifest)
}

/// The equality objectives step (after the indicators): history and
/// progress from the published indicators.
fn objectives_step(shared: &Shared<'_>, config: &Config, indicators: &[StepReport]) -> StepReport {
    let t = Instant::now();
    let span = tracing::info_span!("step", step = "objectives");
    let _guard = span.enter();
    let mut report = empty_report("objectives", "eqpipe-objectives".into());
    report.plugin_version = Some(PIPELINE_VERSION.into());
    let root = &shared.root;
    let dataset_of = |folder: &str| {
        let file = eqpipe_store::files::published_file(root, folder);
        eqpipe_store::files::file_metadata(&file)
            .and_then(|kv| kv.get(eqpipe_core::provenance::keys::DATASET).cloned())
            .or_else(|| {
                indicators
                    .iter()
                    .find(|r| r.name == folder)
                    .and_then(|r| r.datasets.keys().next().cloned())
            })
            .and_then(|d| shared.contracts.get(&d))
    };
    let result = eqpipe_publish::objectives::run(
        root,
        &shared.run_id,
        &config.objectives,
        &shared.contracts,
        &dataset_of,
    );
    let result = match result {
        Ok(out) => {
            for w in &out.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(
                measures = out.measures,
                statuses = ?out.statuses,
                "objectives assessed"
            );
            let names = [
                eqpipe_publish::objectives::HISTORY,
                eqpipe_publish::objectives::PROGRESS,
            ];
            let rows = [out.history_rows, out.measures];
            for f in &out.files {
                shared.keep_version(f);
            }
            for ((name, rows), file) in names.iter().zip(rows).zip(&out.files) {
                let mut d = DatasetReport {
                    file: Some(rel(root, file)),
                    ..Default::default()
                };
                d.stats.rows_in = rows;
                d.stats.rows = rows;
                report.datasets.insert(name.to_string(), d);
            }
            Ok(())
        }
        Err(e) => Err(StepFailure::failed(e.to_string())),
    };
    finish_report(&mut report, t, result);
    report
}

/// Invariant: published indicators carry no personal data. An indicator
/// may not publish a personal dataset, and one that reads a personal dataset
/// must publish through a contract with a `disclosure` section.
fn check_publishable(
    shared: &Shared<'_>,
    plugin: &Plugin,
    output: &eqpipe_plugin_sdk::Contract,
) -> Result<(), StepFailure> {
    if output.personal {
        return Err(StepFailure::failed(format!(
            "indicator output `{}` is marked personal; indicators publish aggregates only",
            output.name
        )));
    }
    let personal_input = plugin
        .manifest
        .consumes
        .iter()
        .chain(&plugin.manifest.consumes_optional)
        .find(|d| shared.contracts.get(d).is_some_and(|c| c.personal));
    if let Some(input) = personal_input
        && output.disclosure.is_none()
    {
        return Err(StepFailure::failed(format!(
            "`{}` reads personal dataset `{input}` but its output contract `{}` has no [disclosure] section; add one so small counts are suppressed before publication",
            plugin.manifest.name, output.name
        )));
    }
    Ok(())
}

fn no_contract(dataset: &str) -> String {
    format!(
        "no contract for dataset `{dataset}`: add config/contracts/{dataset}.toml (and set contracts_dir) or declare it in the plugin's manifest"
    )
}

fn source_targets(
    shared: &Shared<'_>,
    step: &str,
    plugin: &Plugin,
    partner: Option<&crate::partners::Partner>,
) -> Result<HashMap<String, Target>, StepFailure> {
    let mut targets = HashMap::new();
    for d in &plugin.manifest.produces {
        let contract = shared
            .contracts
            .get(&d.name)
            .ok_or_else(|| StepFailure::failed(no_contract(&d.name)))?;
        targets.insert(
            d.name.clone(),
            Target {
                disclosure: None,
                final_path: source_path(
                    &shared.root,
                    &contract,
                    step,
                    partner.map(|p| p.id.as_str()),
                ),
                validator: Validator::new(contract),
                partner: partner.map(|p| p.id.clone()),
                publish: true,
            },
        );
    }
    Ok(targets)
}

/// Finds the committed files of each input dataset: those of the configured
/// sources that produce it (this run's, or their last good output), or, if
/// no configured source produces it, whatever is stored.
fn indicator_inputs(
    shared: &Shared<'_>,
    plugin: &Plugin,
    producers: &HashMap<String, Vec<String>>,
    sources: &[StepReport],
    report: &mut StepReport,
    partnering: &Partnering<'_>,
    level: Option<&crate::partners::Level>,
) -> Result<HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>, StepFailure> {
    let mut inputs = HashMap::new();
    let required = plugin.manifest.consumes.iter().map(|d| (d, true));
    let optional = plugin.manifest.consumes_optional.iter().map(|d| (d, false));
    for (d, needed) in required.chain(optional) {
        let contract = shared
            .contracts
            .get(d)
            .ok_or_else(|| StepFailure::failed(no_contract(d)))?;
        let mut files = Vec::new();
        match producers.get(d) {
            Some(names) => {
                for n in names {
                    let owner = partnering.owner(n).map(|p| p.id.as_str());
                    // A partner's run reads its own data (and shared data) only.
                    if let (Some(o), Some(l)) = (owner, level)
                        && l.partner.is_some()
                        && o != l.id
                    {
                        continue;
                    }
                    let p = source_path(&shared.root, &contract, n, owner);
                    if p.exists() {
                        let failed = sources.iter().any(|s| &s.name == n && !s.status.ok());
                        if failed {
                            tracing::warn!(dataset = %d, source = %n, "source failed in this run; using its last good output");
                        }
                        files.push(p);
                    }
                }
            }
            None => {
                let dir = source_path(&shared.root, &contract, "x", None)
                    .parent()
                    .and_then(Path::parent)
                    .expect("a dataset folder")
                    .to_path_buf();
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    let mut parts: Vec<PathBuf> = entries
                        .flatten()
                        .map(|e| e.path().join(PART_FILE))
                        .filter(|p| p.exists())
                        .collect();
                    parts.sort();
                    files.extend(parts);
                }
            }
        }
        if files.is_empty() && !needed {
            tracing::info!(dataset = %d, "optional input has no data; the indicator reads it as empty");
        } else if files.is_empty() {
            return Err(StepFailure {
                status: StepStatus::Skipped,
                message: format!(
                    "input dataset `{d}` has no data (its sources failed or are not configured, and no earlier output exists)"
                ),
            });
        }
        report
            .inputs
            .extend(files.iter().map(|f| rel(&shared.root, f)));
        inputs.insert(d.clone(), (contract.arrow_schema(), files));
    }
    Ok(inputs)
}

/// The partnership of a run: who owns which source, each partner's folders,
/// and the levels indicators run at.
struct Partnering<'c> {
    config: &'c Config,
    root: PathBuf,
}

impl<'c> Partnering<'c> {
    /// Creates every partner's inbox (owner-only when it is under the
    /// restricted root).
    fn new(config: &'c Config, root: &Path) -> Result<Self, String> {
        let p = Partnering {
            config,
            root: root.to_path_buf(),
        };
        for partner in &config.partners {
            let inbox = p.inbox(partner);
            store::create_dir(&inbox)
                .map_err(|e| format!("cannot create partner `{}`'s inbox: {e}", partner.id))?;
        }
        Ok(p)
    }

    fn inbox(&self, p: &crate::partners::Partner) -> PathBuf {
        crate::partners::inbox(&self.root, p, |x| self.config.resolve(x))
    }

    fn owner(&self, source: &str) -> Option<&'c crate::partners::Partner> {
        self.config.partner_of(source)
    }

    /// `{partner}`, `{partner_name}`, `{inbox}` and `{partner.<key>}` for
    /// a partner's source.
    fn source_vars(&self, p: &crate::partners::Partner) -> Vec<(String, String)> {
        crate::partners::vars(&p.id, &p.name, &p.vars, Some(&self.inbox(p)))
    }

    /// What a partner's step may reach.
    fn scope(&self, p: &crate::partners::Partner) -> eqpipe_plugin_host::host::Scope {
        let mut denied = Vec::new();
        for q in self.config.partners.iter().filter(|q| q.id != p.id) {
            denied.push(crate::partners::restricted_root(&self.root, &q.id));
            denied.push(self.inbox(q));
        }
        eqpipe_plugin_host::host::Scope {
            partner: p.id.clone(),
            cache_dir: Some(Layout::new(&self.root).http_cache(Privacy::Partner(&p.id))),
            denied,
        }
    }

    /// A source's scope: a partner's own ([`Partnering::scope`]); in a
    /// partnership, a shared source may read no partner's folders at all
    /// (it could otherwise carry a partner's personal files into shared
    /// data).
    fn source_scope(
        &self,
        partner: Option<&crate::partners::Partner>,
    ) -> Option<eqpipe_plugin_host::host::Scope> {
        match partner {
            Some(p) => Some(self.scope(p)),
            None if self.config.partners.is_empty() => None,
            None => Some(eqpipe_plugin_host::host::Scope {
                partner: String::new(),
                cache_dir: None,
                denied: self
                    .config
                    .partners
                    .iter()
                    .flat_map(|q| {
                        [
                            crate::partners::restricted_root(&self.root, &q.id),
                            self.inbox(q),
                        ]
                    })
                    .collect(),
            }),
        }
    }

    /// The levels an indicator runs at: every partner and the partnership
    /// when it reads a partner's data; none (one ordinary run) otherwise.
    fn levels_for(
        &self,
        plugin: &Plugin,
        producers: &HashMap<String, Vec<String>>,
    ) -> Vec<crate::partners::Level> {
        let reads_partner_data = plugin
            .manifest
            .consumes
            .iter()
            .chain(&plugin.manifest.consumes_optional)
            .filter_map(|d| producers.get(d))
            .flatten()
            .any(|n| self.owner(n).is_some());
        if !reads_partner_data {
            return Vec::new();
        }
        let mut levels: Vec<crate::partners::Level> = self
            .config
            .partners
            .iter()
            .enumerate()
            .map(|(i, p)| crate::partners::Level {
                id: p.id.clone(),
                partner: Some(i),
            })
            .collect();
        levels.push(crate::partners::Level {
            id: self.config.partnership.id.clone(),
            partner: None,
        });
        levels
    }

    fn level_vars(&self, level: &crate::partners::Level) -> Vec<(String, String)> {
        match level.partner {
            Some(i) => {
                let p = &self.config.partners[i];
                crate::partners::vars(&p.id, &p.name, &p.vars, None)
            }
            None => {
                let ps = &self.config.partnership;
                crate::partners::vars(&ps.id, ps.name.as_deref().unwrap_or(&ps.id), &ps.vars, None)
            }
        }
    }

    /// A level's unsuppressed rows: under the partner's own restricted
    /// root, or the restricted root's `indicators/<name>/partner=<id>/`.
    fn unsuppressed_path(&self, level: &crate::partners::Level, name: &str) -> PathBuf {
        let layout = Layout::new(&self.root);
        match level.partner {
            Some(_) => layout.indicator_file(Privacy::Partner(&level.id), name),
            None => layout.level_file(Privacy::Restricted, name, &level.id),
        }
    }

    /// A level's published file.
    fn published_path(&self, level: &crate::partners::Level, name: &str) -> PathBuf {
        Layout::new(&self.root).level_file(Privacy::Public, name, &level.id)
    }
}

/// Publishes a partnership's levels of one indicator together: reads every
/// level's unsuppressed rows, applies disclosure control across the levels
/// ([`eqpipe_store::protect::protect_levels`]) and commits each level's file
/// only when all were written.
#[allow(clippy::too_many_arguments)]
fn publish_levels(
    shared: &Shared<'_>,
    name: &str,
    dataset: &str,
    contract: &eqpipe_plugin_sdk::Contract,
    policy: eqpipe_store::protect::Policy,
    levels: &[crate::partners::Level],
    level_reports: &[StepReport],
    partnering: &Partnering<'_>,
    report: &mut StepReport,
) -> Result<(), StepFailure> {
    let failed = |e: &dyn std::fmt::Display| StepFailure::failed(e.to_string());
    let partnership_file = levels
        .iter()
        .find(|l| l.partner.is_none())
        .map(|l| partnering.published_path(l, name));
    if level_reports
        .iter()
        .all(|r| r.status == StepStatus::Unchanged)
        && levels
            .iter()
            .all(|l| partnering.published_path(l, name).exists())
    {
        report.datasets.entry(dataset.to_string()).or_default().file =
            partnership_file.map(|f| rel(&shared.root, &f));
        return Err(StepFailure {
            status: StepStatus::Unchanged,
            message: "no level changed: the published files stand".into(),
        });
    }
    let mut present = Vec::new();
    let mut batches = Vec::new();
    for level in levels {
        if let Some((b, kv)) = eqpipe_store::files::read(&partnering.unsuppressed_path(level, name))
        {
            batches.extend(b);
            present.push((level, kv));
        }
    }
    if batches.is_empty() {
        return Err(StepFailure {
            status: StepStatus::Skipped,
            message: "no level has data to publish".into(),
        });
    }
    let schema = batches[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| failed(&e))?;
    let protected =
        eqpipe_store::protect::protect_levels(&all, contract, &policy).map_err(|e| failed(&e))?;
    let published = protected.batch.expect("a protected batch");
    let ids = arrow_cast::cast(
        published
            .column_by_name(crate::partners::PARTNER_COLUMN)
            .ok_or_else(|| failed(&"the levels' rows have no partner_id"))?,
        &arrow_schema::DataType::Utf8,
    )
    .map_err(|e| failed(&e))?;
    let ids = arrow_array::cast::AsArray::as_string::<i32>(&ids);
    use arrow_array::Array;
    let mut pending = Vec::new();
    for (level, kv) in present {
        let mask: arrow_array::BooleanArray = (0..ids.len())
            .map(|i| Some(ids.is_valid(i) && ids.value(i) == level.id))
            .collect();
        let rows =
            arrow_select::filter::filter_record_batch(&published, &mask).map_err(|e| failed(&e))?;
        let mut md: Vec<(String, String)> = kv
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with(eqpipe_core::provenance::keys::PREFIX)
                    && k != eqpipe_core::provenance::keys::DISCLOSURE
            })
            .collect();
        md.push((
            crate::partners::LEVEL_KEY.into(),
            if level.partner.is_some() {
                "partner"
            } else {
                "partnership"
            }
            .into(),
        ));
        md.push((
            eqpipe_core::provenance::keys::DISCLOSURE.into(),
            serde_json::json!({
                "threshold": policy.threshold,
                "suppress_zero": policy.suppress_zero,
                "across_partners": true,
                "suppressed_rows": protected.primary,
                "secondary_suppressed_rows": protected.secondary,
            })
            .to_string(),
        ));
        let mut w = store::PendingFile::create(
            partnering.published_path(level, name),
            &shared.run_id,
            schema.clone(),
        )
        .map_err(|e| failed(&e))?;
        w.write(&rows).map_err(|e| failed(&e))?;
        pending.push(w.finish(&md).map_err(|e| failed(&e))?);
    }
    for f in pending {
        let path = f.commit().map_err(|e| failed(&e))?;
        shared.keep_version(&path);
    }
    let entry = report.datasets.entry(dataset.to_string()).or_default();
    entry.file = partnership_file.map(|f| rel(&shared.root, &f));
    entry.stats.rows_in = all.num_rows() as u64;
    entry.stats.rows = published.num_rows() as u64;
    entry.stats.suppressed = protected.primary;
    entry.stats.secondary_suppressed = protected.secondary;
    tracing::info!(
        rows = published.num_rows(),
        suppressed = protected.primary,
        secondary = protected.secondary,
        "partnership levels published"
    );
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
