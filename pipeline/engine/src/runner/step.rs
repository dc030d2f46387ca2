//! One step end to end: plugin, sink, quality rules, commit, with
//! incremental replay when its inputs are unchanged.

use super::*;

/// How a step is isolated, if at all: the plugin's reference and limits.
type Isolated = Option<(
    crate::config::PluginRef,
    eqpipe_plugin_host::isolate::Limits,
)>;

/// Runs one step end to end, in phases: replay if nothing it reads has
/// changed, run the plugin beside the storing thread, the quality gate
/// (rejections, shrink, `fail_on`), then commit and record its
/// fingerprint. Fills `report`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_step(
    shared: &Shared<'_>,
    report: &mut StepReport,
    plugin: Plugin,
    options: &serde_json::Value,
    mut targets: HashMap<String, Target>,
    inputs: HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>,
    policy: &StepPolicy,
    isolated: Isolated,
    scope: Option<eqpipe_plugin_host::host::Scope>,
) -> Result<(), StepFailure> {
    for t in targets.values_mut() {
        t.validator.set_formats(policy.formats.clone());
    }
    let facts = StepFacts::new(
        shared,
        &report.name,
        &plugin,
        options,
        policy,
        &targets,
        &inputs,
        scope.as_ref(),
    );
    if !shared.opts.force {
        facts.replay_if_unchanged(shared, report, &plugin)?;
    }
    let (sink, fetches, plugin_warnings) = invoke(
        shared, report, &facts, &plugin, options, targets, inputs, &isolated, scope,
    )?;
    let quarantine = sink.quarantine_target();
    let (files, stats) = sink
        .finish(&shared.provenance(&report.name, &plugin, &fetches, &facts.input_files))
        .map_err(|e| StepFailure::failed(e.to_string()))?;
    let rejected: u64 = stats.values().map(|s| s.quarantined).sum();
    if rejected > 0 {
        // (Rows found duplicated only at the end reach the quarantine
        // file in `finish`.)
        report.quarantine_file = Some(rel(&shared.root, &quarantine));
    }
    if let Err(failure) = quality_gate(report, policy, &facts, &files, &stats, plugin_warnings) {
        for (d, s) in &stats {
            report.datasets.insert(
                d.clone(),
                DatasetReport {
                    stats: s.clone(),
                    ..Default::default()
                },
            );
        }
        return Err(failure);
    }
    commit(shared, report, files, &stats)?;
    save_fingerprint(
        shared,
        report,
        &plugin,
        &facts.fingerprint,
        &facts.options_text,
        (!facts.is_source).then_some(facts.indicator_inputs),
        &fetches,
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

/// What a step is, worked out before it runs: whether it handles personal
/// data, where its quarantine file and fingerprint go, what shapes its
/// output, what it reads, and its last successful run.
struct StepFacts {
    personal: bool,
    is_source: bool,
    quarantine: PathBuf,
    fingerprint: PathBuf,
    options_text: String,
    input_files: Vec<PathBuf>,
    indicator_inputs: Vec<incremental::Input>,
    partner_cache: Option<PathBuf>,
    previous: Option<incremental::Fingerprint>,
}

impl StepFacts {
    #[allow(clippy::too_many_arguments)]
    fn new(
        shared: &Shared<'_>,
        name: &str,
        plugin: &Plugin,
        options: &serde_json::Value,
        policy: &StepPolicy,
        targets: &HashMap<String, Target>,
        inputs: &HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>,
        scope: Option<&eqpipe_plugin_host::host::Scope>,
    ) -> Self {
        // Rejected rows of personal datasets are personal too, and so are
        // the rejected rows of an indicator before disclosure control.
        let personal = targets
            .values()
            .any(|t| t.validator.contract().personal || t.disclosure.is_some());
        let privacy = Privacy::of(personal, scope.map(|s| s.partner.as_str()));
        let quarantine = Layout::new(&shared.root)
            .quarantine(privacy, &shared.run_id)
            .join(format!("{name}.csv"));
        let input_files: Vec<PathBuf> = inputs
            .values()
            .flat_map(|(_, f)| f.iter().cloned())
            .collect();
        let is_source = plugin.manifest.kind == PluginKind::Source;
        let kind = if is_source { "sources" } else { "indicators" };
        let mut indicator_inputs: Vec<incremental::Input> = input_files
            .iter()
            .map(|f| incremental::Input {
                request: None,
                file: Some(rel(&shared.root, f)),
                digest: incremental::stamp(f),
            })
            .collect();
        indicator_inputs.sort_by(|a, b| a.file.cmp(&b.file));
        let fingerprint = incremental::path(&shared.root, kind, name, personal);
        // The step's last successful run: its fingerprint decides whether
        // to run again, and whether its output is the baseline for the
        // shrink rule.
        let previous = incremental::load(&fingerprint);
        StepFacts {
            personal,
            is_source,
            quarantine,
            fingerprint,
            options_text: shaping_text(options, policy, targets),
            input_files,
            indicator_inputs,
            partner_cache: scope.and_then(|s| s.cache_dir.clone()),
            previous,
        }
    }

    /// Incremental: the step is not run again when its plugin, settings
    /// and everything it reads are as at its last successful run (an
    /// `Unchanged` failure, its outputs standing).
    fn replay_if_unchanged(
        &self,
        shared: &Shared<'_>,
        report: &mut StepReport,
        plugin: &Plugin,
    ) -> Result<(), StepFailure> {
        let Some(old) = &self.previous else {
            return Ok(());
        };
        let unchanged = incremental::same_step(
            old,
            &plugin.manifest.name,
            &plugin.build_id(),
            &self.options_text,
            &shared.root,
        ) && inputs_unchanged(
            shared,
            old,
            self.is_source,
            self.personal,
            &self.indicator_inputs,
            self.partner_cache.as_deref(),
        );
        if !unchanged {
            return Ok(());
        }
        for (d, f) in &old.outputs {
            report.datasets.entry(d.clone()).or_default().file = Some(f.clone());
        }
        Err(StepFailure {
            status: StepStatus::Unchanged,
            message: format!(
                "inputs unchanged since run {}: not run again, its outputs stand (--force to run it)",
                old.run_id
            ),
        })
    }
}

/// Runs the plugin with its sink on the storing thread and fills the
/// report with what it fetched, quarantined and stored; the sink, the
/// fetches and the plugin's own warnings when it succeeded.
#[allow(clippy::too_many_arguments)]
fn invoke(
    shared: &Shared<'_>,
    report: &mut StepReport,
    facts: &StepFacts,
    plugin: &Plugin,
    options: &serde_json::Value,
    targets: HashMap<String, Target>,
    inputs: HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>,
    isolated: &Isolated,
    scope: Option<eqpipe_plugin_host::host::Scope>,
) -> Result<(Sink, Vec<FetchRecord>, Vec<Warning>), StepFailure> {
    let name = report.name.clone();
    let ctx = StepContext {
        step: name.clone(),
        plugin: plugin.clone(),
        fetcher: shared.fetcher.clone(),
        cancel: shared.opts.cancel.clone(),
        sink: Mutex::new(Sink::new(&shared.run_id, targets, facts.quarantine.clone())),
        forward: None,
        pipe: Default::default(),
        inputs,
        fetches: Default::default(),
        warnings: Mutex::new(Vec::new()),
        progress: shared.bar(&name),
        personal: facts.personal,
        snapshot_date: shared.snapshot.to_string(),
        scope,
    };
    let span = tracing::info_span!("step", step = %name, plugin = %plugin.manifest.name);
    let _guard = span.enter();
    tracing::info!("started");
    let result = run_with_storing_thread(&ctx, options, isolated);
    if let Some(pb) = &ctx.progress {
        pb.finish_and_clear();
    }
    let fetches = ctx.fetches.into_records();
    let warnings = ctx.warnings.into_inner().expect("not poisoned");
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
    Ok((sink, fetches, warnings))
}

/// The quality gate between a step's finished files and their commit:
/// too many rejected rows, a shrink past `max_shrink_pct` (unless
/// accepted, then a warning), or a warning the config fails on, each
/// fails the step and keeps the last good output. Sets the step's
/// warnings.
fn quality_gate(
    report: &mut StepReport,
    policy: &StepPolicy,
    facts: &StepFacts,
    files: &[(String, CopyKind, store::FinishedFile)],
    stats: &BTreeMap<String, DatasetStats>,
    mut plugin_warnings: Vec<Warning>,
) -> Result<(), StepFailure> {
    let rows_in: u64 = stats.values().map(|s| s.rows_in).sum();
    let rejected: u64 = stats.values().map(|s| s.quarantined).sum();
    let limit = policy.max_rejected_pct;
    if rows_in > 0 && rejected as f64 * 100.0 / rows_in as f64 > limit {
        let pct = rejected as f64 * 100.0 / rows_in as f64;
        return Err(StepFailure::failed(format!(
            "rejected {rejected} of {rows_in} rows ({pct:.1}%), above the limit of {limit}% (max_rejected_pct); top reasons: {}; the last good output is kept, see {}",
            top_reasons(stats, 3),
            report.quarantine_file.clone().unwrap_or_default()
        )));
    }
    let mut warnings = quality_warnings(stats);
    warnings.append(&mut plugin_warnings);
    // The last good output is the baseline only when it was made with the
    // same settings (a changed config may rightly make less).
    let same_settings = facts
        .previous
        .as_ref()
        .is_some_and(|old| old.options == incremental::sha(&facts.options_text));
    if let Some(max_shrink) = policy.max_shrink_pct {
        // A source with no rows at all, or a dataset that fell far below
        // its last good output, would replace good data with less.
        for (d, what, now, before) in shrinks(files, max_shrink, same_settings) {
            if !policy.accept_shrink {
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
    let failing = warnings.iter().find(|w| policy.fail_on.contains(&w.kind));
    let failure = failing.map(|w| {
        StepFailure::failed(format!(
            "a data-quality warning the config fails on ([quality] fail_on): {w}; the last good output is kept"
        ))
    });
    report.warnings = warnings;
    failure.map_or(Ok(()), Err)
}

/// Everything that shapes a step's output, as the text its fingerprint
/// hashes: the plugin's options, the step's rejection threshold and
/// parsing rules, the contracts and the disclosure policy.
fn shaping_text(
    options: &serde_json::Value,
    policy: &StepPolicy,
    targets: &HashMap<String, Target>,
) -> String {
    let mut shaping: Vec<(&String, &Target)> = targets.iter().collect();
    shaping.sort_by_key(|(k, _)| *k);
    serde_json::json!({
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
    .to_string()
}

/// Runs the plugin on this thread while a second one validates and writes
/// what it emitted (two cores in use). An isolated plugin's batches already
/// arrive on a thread of their own: no queue, and the storing thread ends
/// at once. The storing side's first error fails the step.
fn run_with_storing_thread(
    ctx: &StepContext,
    options: &serde_json::Value,
    isolated: &Isolated,
) -> Result<(), StepFailure> {
    let (queue, stored) = std::sync::mpsc::sync_channel(2);
    *ctx.pipe.queue.lock().expect("not poisoned") = isolated.is_none().then_some(queue);
    let result = std::thread::scope(|scope| {
        let storing_span = tracing::Span::current();
        let (pipe, sink) = (&ctx.pipe, &ctx.sink);
        scope.spawn(move || {
            let _g = storing_span.enter();
            pipe.drain(sink, stored);
        });
        let result = run_plugin(ctx, options, isolated);
        ctx.pipe.queue.lock().expect("not poisoned").take();
        result
    });
    match (result, ctx.pipe.error.lock().expect("not poisoned").take()) {
        (Ok(()), Some((code, msg))) => Err(StepFailure {
            status: if code == abi::STATUS_CANCELLED {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            },
            message: format!("{msg} ({})", abi::status_name(code)),
        }),
        (r, _) => r,
    }
}

/// A source's datasets that would replace good data with less: every
/// dataset empty, or one fallen past `max_shrink` percent from its last
/// good output made with the same settings. Each: dataset(s), what
/// happened, rows now, rows before.
fn shrinks(
    files: &[(String, CopyKind, store::FinishedFile)],
    max_shrink: f64,
    same_settings: bool,
) -> Vec<(String, String, u64, Option<u64>)> {
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
    shrinks
}

/// Commits a step's files, the unsuppressed copy first (a published file
/// never exists without it), keeps their versions and records them.
fn commit(
    shared: &Shared<'_>,
    report: &mut StepReport,
    mut files: Vec<(String, CopyKind, store::FinishedFile)>,
    stats: &BTreeMap<String, DatasetStats>,
) -> Result<(), StepFailure> {
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
    Ok(())
}

/// Records what the step read and wrote, so the next run can skip it when
/// nothing changed: a source's fetches (requests and digests), or an
/// indicator's input files.
fn save_fingerprint(
    shared: &Shared<'_>,
    report: &StepReport,
    plugin: &Plugin,
    fp_path: &Path,
    options_text: &str,
    indicator_inputs: Option<Vec<incremental::Input>>,
    fetches: &[FetchRecord],
) {
    let inputs = match indicator_inputs {
        Some(i) => i,
        None => fetches
            .iter()
            .filter_map(|f| {
                Some(incremental::Input {
                    request: Some(f.request.clone()?),
                    file: None,
                    digest: f.digest.clone()?,
                })
            })
            .collect(),
    };
    incremental::save(
        fp_path,
        &incremental::Fingerprint {
            plugin: plugin.manifest.name.clone(),
            version: plugin.build_id(),
            options: incremental::sha(options_text),
            run_id: shared.run_id.clone(),
            inputs,
            outputs: report
                .datasets
                .iter()
                .filter_map(|(d, r)| Some((d.clone(), r.file.clone()?)))
                .collect(),
        },
    );
}

/// The commonest rejection reasons of a step, `reason (count)`.
pub(super) fn top_reasons(stats: &BTreeMap<String, DatasetStats>, n: usize) -> String {
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
pub(super) fn quality_warnings(stats: &BTreeMap<String, DatasetStats>) -> Vec<Warning> {
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
pub(super) fn inputs_unchanged(
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
            .and_then(|r| incremental::content_digest(Path::new(&r.path)).ok())
            .is_some_and(|d| d == input.digest);
        if !same {
            return false;
        }
    }
    true
}

pub(super) fn finish_report(
    report: &mut StepReport,
    started: Instant,
    result: Result<(), StepFailure>,
) {
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
        // Stopped on request: said, but not an error.
        Err(f) if f.status == StepStatus::Cancelled => {
            report.status = f.status;
            tracing::warn!(step = %report.name, "stopped: {}", f.message);
            report.error = Some(f.message);
        }
        Err(f) => {
            report.status = f.status;
            tracing::error!(step = %report.name, "{}", f.message);
            report.error = Some(f.message);
        }
    }
}
