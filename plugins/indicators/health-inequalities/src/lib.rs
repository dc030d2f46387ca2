//! `health-inequalities`: the slope index of inequality (SII) and relative
//! index (RII) of each public health indicator over its deprivation decile
//! breakdown in `health_indicators` (OHID Fingertips), so a health
//! inequalities partnership sees the gradient behind an area's figure.
//!
//! One row per indicator, area, sex, age, breakdown and period. The method
//! is OHID's (as `phe_sii` in PHEindicatormethods and Fingertips, without
//! the optional transformation), the SDK's
//! [`slope_index`](eqpipe_plugin_sdk::stats::slope_index) that
//! `service-equity` uses too: deciles from most to least deprived, each at
//! the midpoint of its share of the breakdown's population (the rows'
//! `denominator`), the value fitted by population-weighted least squares.
//! SII = fitted value at the least deprived end minus the most deprived
//! end (negative: higher in more deprived areas, as for most rates of
//! illness); RII = the least deprived end's fitted value over the most
//! deprived end's.
//!
//! As `phe_sii` does, a breakdown needs all ten deciles with a value and a
//! denominator: one with fewer is kept with no SII or RII (`deciles` says
//! how many it had) and counted in a coverage warning. No confidence
//! interval is given (OHID's is simulated from each decile's standard
//! error, which the decile rows do not publish).

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::stats::slope_index;
use eqpipe_plugin_sdk::{column, f64_values, text_values};
use serde::Deserialize;

/// Options of `[indicators.options]` (none yet).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {}

/// The output's columns, in order.
pub const COLUMNS: &[&str] = &[
    "indicator_id",
    "indicator_name",
    "area_code",
    "area_name",
    "sex",
    "age",
    "deprivation_type",
    "deprivation_index",
    "time_period",
    "time_period_sortable",
    "deciles",
    "population",
    "area_value",
    "value_most_deprived",
    "value_least_deprived",
    "fitted_most_deprived",
    "fitted_least_deprived",
    "sii",
    "rii",
];

/// What a breakdown is of: indicator, area, sex, age, period.
type Subject = (String, String, String, String, String);

/// One breakdown being gathered.
#[derive(Debug, Default)]
struct Breakdown {
    name: String,
    area_name: String,
    index: String,
    sortable: Option<f64>,
    /// (value, population) by decile 1..=10.
    deciles: [Option<(f64, f64)>; 10],
    /// A decile given twice (never expected: the breakdown is unusable).
    repeated: bool,
}

/// The plugin.
pub struct HealthInequalities;

impl IndicatorPlugin for HealthInequalities {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("health-inequalities", env!("CARGO_PKG_VERSION"))
            .description(
                "Slope and relative index of inequality over deprivation deciles of public health indicators (OHID method)",
            )
            .consumes("health_indicators")
            .produces("health_inequalities")
    }

    fn new(_options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(HealthInequalities)
    }

    // Long: one pass gathering the breakdowns and the areas' own figures,
    // then one row per breakdown.
    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut breakdowns: BTreeMap<(Subject, String), Breakdown> = BTreeMap::new();
        // The area's own figure (no breakdown) for the same subject.
        let mut own: BTreeMap<Subject, f64> = BTreeMap::new();
        const D: &str = "health_indicators";
        for batch in ctx.open_input(D)? {
            let b = batch?;
            let t = |n: &str| text_values(column(&b, D, n)?.as_ref());
            let f = |n: &str| f64_values(column(&b, D, n)?.as_ref());
            let (id, name, area, area_name) = (
                f("indicator_id")?,
                t("indicator_name")?,
                t("area_code")?,
                t("area_name")?,
            );
            let (sex, age, period, sortable) = (
                t("sex")?,
                t("age")?,
                t("time_period")?,
                f("time_period_sortable")?,
            );
            let (ctype, index, decile) = (
                t("category_type")?,
                t("deprivation_index")?,
                f("deprivation_decile")?,
            );
            let (value, denominator) = (f("value")?, f("denominator")?);
            for i in 0..b.num_rows() {
                let subject: Subject = (
                    id[i].map(|v| (v as i64).to_string()).unwrap_or_default(),
                    area[i].clone(),
                    sex[i].clone(),
                    age[i].clone(),
                    period[i].clone(),
                );
                if ctype[i].is_empty() {
                    if let Some(v) = value[i] {
                        own.insert(subject, v);
                    }
                    continue;
                }
                let Some(d) = decile[i]
                    .map(|d| d as usize)
                    .filter(|d| (1..=10).contains(d))
                else {
                    continue;
                };
                let e = breakdowns.entry((subject, ctype[i].clone())).or_default();
                e.name.clone_from(&name[i]);
                e.area_name.clone_from(&area_name[i]);
                e.index.clone_from(&index[i]);
                e.sortable = sortable[i];
                let slot = &mut e.deciles[d - 1];
                e.repeated |= slot.is_some();
                if let (Some(v), Some(p)) = (value[i], denominator[i]) {
                    *slot = Some((v, p));
                }
            }
        }
        let mut rows = TextRows::new(COLUMNS);
        let mut incomplete = 0u64;
        let show = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        for ((subject, ctype), b) in &breakdowns {
            let complete: Vec<(f64, f64)> = b.deciles.iter().flatten().copied().collect();
            let fit = (complete.len() == 10 && !b.repeated)
                .then(|| slope_index(&complete))
                .flatten();
            if fit.is_none() {
                incomplete += 1;
            }
            let (id, area, sex, age, period) = subject;
            rows.push(
                [
                    id.clone(),
                    b.name.clone(),
                    area.clone(),
                    b.area_name.clone(),
                    sex.clone(),
                    age.clone(),
                    ctype.clone(),
                    b.index.clone(),
                    period.clone(),
                    show(b.sortable),
                    complete.len().to_string(),
                    show(Some(complete.iter().map(|d| d.1).sum())),
                    show(own.get(subject).copied()),
                    show(b.deciles[0].map(|d| d.0)),
                    show(b.deciles[9].map(|d| d.0)),
                    show(fit.map(|f| f.most_deprived_fitted)),
                    show(fit.map(|f| f.least_deprived_fitted)),
                    show(fit.map(|f| f.sii)),
                    show(fit.and_then(|f| f.rii)),
                ],
                "health-inequalities",
                0,
            );
        }
        if incomplete > 0 {
            ctx.coverage_warning(
                Some("health_inequalities"),
                "deprivation breakdowns without all ten deciles (a value and a denominator each): no SII or RII",
                incomplete,
                Some(breakdowns.len() as u64),
            );
        }
        ctx.info(&format!(
            "{} deprivation breakdowns, {} with an SII",
            breakdowns.len(),
            breakdowns.len() as u64 - incomplete
        ));
        ctx.emit_rows("health_inequalities", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: HealthInequalities);
