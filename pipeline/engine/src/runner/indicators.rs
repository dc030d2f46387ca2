//! The indicators phase: each indicator once, or per partnership level
//! with the levels protected together.

use super::*;

/// What every indicator step of a run shares.
pub(super) struct IndicatorRun<'r, 'c> {
    pub(super) config: &'c Config,
    pub(super) shared: &'r Shared<'r>,
    pub(super) producers: &'r HashMap<String, Vec<String>>,
    pub(super) sources: &'r [StepReport],
    pub(super) partnership: &'r Partnering<'c>,
    pub(super) vars: &'r [(&'static str, String)],
}

/// Runs one indicator: once, or in a partnership once per level and then
/// the levels' disclosure control together. Its reports, levels first.
pub(super) fn run_indicator(
    ctx: &IndicatorRun<'_, '_>,
    ind: &crate::config::IndicatorConfig,
) -> Vec<StepReport> {
    let IndicatorRun {
        config,
        shared,
        producers,
        partnership,
        vars,
        ..
    } = *ctx;
    let t = Instant::now();
    let r = config.indicator_plugin(ind);
    let mut options = with_vars(options_json(&ind.options), vars);
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
            return vec![report];
        }
    };
    let out = plugin.manifest.produces[0].clone();
    let name = ind.name.clone().unwrap_or_else(|| out.name.clone());
    report.name = name.clone();
    let contract = out
        .contract
        .clone()
        .map(Arc::new)
        .or_else(|| shared.contracts.get(&out.name))
        .ok_or_else(|| StepFailure::failed(no_contract(&out.name)))
        .and_then(|c| check_publishable(shared, &plugin, &c).map(|_| c));
    let contract = match contract {
        Ok(c) => c,
        Err(f) => {
            finish_report(&mut report, t, Err(f));
            return vec![report];
        }
    };
    let step = Resolved {
        ind,
        r,
        plugin,
        options,
        dataset: out.name.clone(),
        name,
        contract,
        policy: StepPolicy {
            max_rejected_pct: config.quality.max_rejected_pct,
            max_shrink_pct: None,
            accept_shrink: false,
            fail_on: config.quality.fail_on.clone(),
            formats: Default::default(),
        },
    };
    let levels = partnership.levels_for(&step.plugin, producers);
    if levels.is_empty() {
        let result = run_once(ctx, &step, &mut report);
        finish_report(&mut report, t, result);
        vec![report]
    } else {
        run_levels(ctx, &step, &levels, report, t)
    }
}

/// An indicator step resolved: its plugin, options and contract.
pub(super) struct Resolved<'a> {
    pub(super) ind: &'a crate::config::IndicatorConfig,
    pub(super) r: crate::config::PluginRef,
    pub(super) plugin: Plugin,
    pub(super) options: serde_json::Value,
    /// The dataset it produces.
    pub(super) dataset: String,
    /// Its output folder (and step name).
    pub(super) name: String,
    pub(super) contract: Arc<eqpipe_plugin_sdk::Contract>,
    pub(super) policy: StepPolicy,
}

impl Resolved<'_> {
    pub(super) fn isolated(
        &self,
    ) -> Option<(
        crate::config::PluginRef,
        eqpipe_plugin_host::isolate::Limits,
    )> {
        isolation_of(
            &self.ind.isolation,
            self.r.clone(),
            self.ind.timeout_secs,
            self.ind.memory_limit_mb,
        )
    }
}

/// A step not started because the run was cancelled.
pub(super) fn not_cancelled(opts: &RunOptions) -> Result<(), StepFailure> {
    if opts.cancel.load(Ordering::Relaxed) {
        Err(StepFailure {
            status: StepStatus::Cancelled,
            message: "cancelled before it started".into(),
        })
    } else {
        Ok(())
    }
}

/// An indicator outside a partnership: one step, published directly (after
/// disclosure control when its contract has it).
pub(super) fn run_once(
    ctx: &IndicatorRun<'_, '_>,
    step: &Resolved<'_>,
    report: &mut StepReport,
) -> Result<(), StepFailure> {
    let shared = ctx.shared;
    not_cancelled(shared.opts)?;
    let layout = Layout::new(&shared.root);
    let mut targets = HashMap::new();
    targets.insert(
        step.dataset.clone(),
        Target {
            disclosure: step.contract.disclosure.as_ref().map(|_| {
                (
                    ctx.config.disclosure,
                    layout.indicator_file(Privacy::Restricted, &step.name),
                )
            }),
            validator: Validator::new(step.contract.clone()),
            final_path: layout.indicator_file(Privacy::Public, &step.name),
            partner: None,
            publish: true,
        },
    );
    let inputs = indicator_inputs(
        shared,
        &step.plugin,
        ctx.producers,
        ctx.sources,
        report,
        ctx.partnership,
        None,
    )?;
    run_step(
        shared,
        report,
        step.plugin.clone(),
        &step.options,
        targets,
        inputs,
        &step.policy,
        step.isolated(),
        None,
    )
}

/// A partnership: one run per partner (its rows only) and one for the
/// partnership (everyone's), then disclosure control over all levels at
/// once before any of them is published. The levels' reports, then the
/// publishing step's.
pub(super) fn run_levels(
    ctx: &IndicatorRun<'_, '_>,
    step: &Resolved<'_>,
    levels: &[crate::partners::Level],
    mut report: StepReport,
    t: Instant,
) -> Vec<StepReport> {
    let (shared, config, partnership) = (ctx.shared, ctx.config, ctx.partnership);
    let name = &step.name;
    let mut level_reports = Vec::new();
    for level in levels {
        let lt = Instant::now();
        let mut lr = report.clone();
        lr.name = format!("{name}@{}", level.id);
        let result = (|| {
            not_cancelled(shared.opts)?;
            let lopts = with_vars(step.options.clone(), &partnership.level_vars(level));
            let mut targets = HashMap::new();
            targets.insert(
                step.dataset.clone(),
                Target {
                    disclosure: step.contract.disclosure.as_ref().map(|_| {
                        (
                            config.disclosure,
                            partnership.unsuppressed_path(level, name),
                        )
                    }),
                    validator: Validator::new(step.contract.clone()),
                    final_path: partnership.published_path(level, name),
                    partner: Some(level.id.clone()),
                    publish: step.contract.disclosure.is_none(),
                },
            );
            let inputs = indicator_inputs(
                shared,
                &step.plugin,
                ctx.producers,
                ctx.sources,
                &mut lr,
                partnership,
                Some(level),
            )?;
            run_step(
                shared,
                &mut lr,
                step.plugin.clone(),
                &lopts,
                targets,
                inputs,
                &step.policy,
                step.isolated(),
                level
                    .partner
                    .map(|i| partnership.scope(&config.partners[i])),
            )
        })();
        finish_report(&mut lr, lt, result);
        level_reports.push(lr);
    }
    if step.contract.disclosure.is_some() {
        let span = tracing::info_span!("step", step = %name, plugin = "eqpipe-disclosure");
        let _g = span.enter();
        let result = publish_levels(
            shared,
            name,
            &step.dataset,
            &step.contract,
            config.disclosure,
            levels,
            &level_reports,
            partnership,
            &mut report,
        );
        report.plugin = "eqpipe-disclosure (partnership levels)".into();
        finish_report(&mut report, t, result);
        level_reports.push(report);
    }
    level_reports
}
