//! What a config will do, checked before anything runs: every schedule,
//! source, indicator and objective with its plugin resolved and options
//! checked, and **every** problem found (not only the first), each naming
//! its step. `eqpipe validate` prints it.
//!
//! The run itself does not execute a `Plan` yet: `runner::run` resolves
//! the same things again as it goes (see ARCHITECTURE.md, "what is left").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use eqpipe_core::config::{Config, options_json};
use eqpipe_plugin_host::registry;
use eqpipe_plugin_sdk::{Contract, PluginKind};
use eqpipe_store::contracts::Contracts;

/// One step of the plan: its name and the plugin that will run it.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// The step's name (for an unnamed indicator, `indicators[i]`).
    pub name: String,
    /// The plugin's name, version and origin (`built-in` or its library).
    pub plugin: String,
    /// Things worth knowing that are not problems (an input no source in
    /// this config produces, say).
    pub notes: Vec<String>,
}

/// A checked config.
#[derive(Debug, Default)]
pub struct Plan {
    /// Schedules: name and cron expression.
    pub schedules: Vec<(String, String)>,
    /// Sources whose plugin resolved.
    pub sources: Vec<PlannedStep>,
    /// Indicators whose plugin resolved.
    pub indicators: Vec<PlannedStep>,
    /// Objectives and their number of measures, when their columns check.
    pub objectives: Vec<(String, usize)>,
    /// Every problem, each naming its step.
    pub problems: Vec<String>,
}

impl Plan {
    /// Resolves and checks everything `cfg` names, gathering every problem.
    /// Fails only when the contracts folder cannot be read.
    pub fn new(cfg: &Config) -> Result<Plan, eqpipe_store::contracts::ContractLoadError> {
        crate::builtins::install();
        let mut plan = Plan::default();
        // Every secret the config names must be there when it runs (its
        // value is never read here, let alone printed).
        for (at, key, var) in cfg.variable_names() {
            if std::env::var_os(&var).is_none() {
                plan.problems.push(format!(
                    "{at}: `{key}` names the environment variable {var}, which is not set"
                ));
            }
        }
        if let Some(lake) = &cfg.lake
            && let Err(e) = eqpipe_publish::lake::Lake::open(lake, &cfg.base_dir)
        {
            plan.problems.push(e.to_string());
        }
        let templates = eqpipe_publish::report::Settings::of(cfg).templates;
        if let Err(e) = eqpipe_publish::report::Templates::load(templates.as_deref()) {
            plan.problems.push(format!("[report] templates: {e}"));
        }
        match crate::schedule::check(cfg) {
            Ok(s) => {
                plan.schedules = s
                    .into_iter()
                    .map(|s| (s.config.name.clone(), s.config.cron.clone()))
                    .collect()
            }
            Err(e) => plan.problems.push(e),
        }
        let mut produced = HashSet::new();
        for s in &cfg.sources {
            let r = cfg.source_plugin(s);
            match registry::resolve(&r, PluginKind::Source) {
                Ok(p) => {
                    let mut options = options_json(&s.options);
                    crate::partners::set_key(
                        &mut options,
                        &p.manifest.config_schema,
                        cfg.partner_of(&s.name)
                            .and_then(|o| crate::partners::key_env(&cfg.partnership, o)),
                    );
                    if let Err(e) = registry::check_options(&p, &options) {
                        plan.problems.push(format!("source `{}`: {e}", s.name));
                    }
                    produced.extend(p.manifest.produces.iter().map(|d| d.name.clone()));
                    plan.sources.push(PlannedStep {
                        name: s.name.clone(),
                        plugin: describe(&p),
                        notes: Vec::new(),
                    });
                }
                Err(e) => plan.problems.push(format!("source `{}`: {e}", s.name)),
            }
        }
        let contracts = match &cfg.contracts_dir {
            Some(d) => Contracts::with_dir(&cfg.resolve(d))?,
            None => Contracts::builtin(),
        };
        // Indicator output folder -> the contract of what it publishes.
        let mut outputs: HashMap<String, Option<Arc<Contract>>> = HashMap::new();
        for (i, ind) in cfg.indicators.iter().enumerate() {
            let r = cfg.indicator_plugin(ind);
            let label = ind
                .name
                .clone()
                .unwrap_or_else(|| format!("indicators[{i}]"));
            match registry::resolve(&r, PluginKind::Indicator) {
                Ok(p) => {
                    if let Err(e) = registry::check_options(&p, &options_json(&ind.options)) {
                        plan.problems.push(format!("indicator `{label}`: {e}"));
                    }
                    let notes = p
                        .manifest
                        .consumes
                        .iter()
                        .filter(|d| !produced.contains(*d))
                        .map(|d| format!(
                            "indicator `{label}` reads `{d}`, which no source in this config produces; earlier outputs will be used if present"
                        ))
                        .collect();
                    if let Some(out) = p.manifest.produces.first() {
                        let folder = ind.name.clone().unwrap_or_else(|| out.name.clone());
                        let contract = out
                            .contract
                            .clone()
                            .map(Arc::new)
                            .or_else(|| contracts.get(&out.name));
                        outputs.insert(folder, contract);
                    }
                    plan.indicators.push(PlannedStep {
                        name: label,
                        plugin: describe(&p),
                        notes,
                    });
                }
                Err(e) => plan.problems.push(format!("indicator `{label}`: {e}")),
            }
        }
        if !cfg.objectives.is_empty() {
            let before = plan.problems.len();
            plan.problems
                .extend(eqpipe_publish::objectives::check_columns(
                    &cfg.objectives,
                    &|folder| outputs.get(folder).cloned().flatten(),
                ));
            if plan.problems.len() == before {
                plan.objectives = cfg
                    .objectives
                    .iter()
                    .map(|o| (o.id.clone(), o.measures.len()))
                    .collect();
            }
        }
        Ok(plan)
    }
}

fn describe(p: &registry::Plugin) -> String {
    format!("{} {} ({})", p.manifest.name, p.manifest.version, p.origin)
}
