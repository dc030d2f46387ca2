//! `hate-crime-trends`: police recorded hate crime per area and financial
//! year, for each monitored strand and for all hate crime (offences
//! counted once however many strands motivated them), with the change from
//! the year before and, where the area's population is given, the rate per
//! 1,000 residents. Strands add up to more than the total: an offence can
//! be motivated by more than one.

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{bool_values, column, f64_values, text_values};
use serde::Deserialize;

/// Options of `[indicators.options]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Residents of each area, as the data names it, for rates per 1,000
    /// (e.g. `{ "Greater Manchester" = 2867800 }`, Census 2021 usual
    /// residents of the police force area).
    #[serde(default)]
    pub populations: BTreeMap<String, f64>,
    /// Or the Census area code of each area (`{ "Greater Manchester" =
    /// "E23000005" }`): its residents from `census_counts` (table TS008's
    /// total, all usual residents).
    #[serde(default)]
    pub census_areas: BTreeMap<String, String>,
}

const STRANDS: [&str; 5] = [
    "race",
    "religion",
    "sexual_orientation",
    "disability",
    "transgender",
];

/// The plugin.
pub struct HateCrimeTrends {
    options: Options,
}

impl IndicatorPlugin for HateCrimeTrends {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("hate-crime-trends", env!("CARGO_PKG_VERSION"))
            .description("Police recorded hate crime by strand per year: counts, change and rate per 1,000 residents")
            .consumes("hate_crime")
            .consumes_optional("census_counts")
            .produces("hate_crime_trends")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(HateCrimeTrends { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut populations = self.options.populations.clone();
        if !self.options.census_areas.is_empty() {
            for batch in ctx.open_input("census_counts")? {
                let b = batch?;
                let c = |n: &str| column(&b, "census_counts", n);
                let code = text_values(c("area_code")?.as_ref())?;
                let table = text_values(c("table_code")?.as_ref())?;
                let label = text_values(c("category_label")?.as_ref())?;
                let count = f64_values(c("count")?.as_ref())?;
                for i in 0..b.num_rows() {
                    let total = label[i] == "All persons" || label[i].starts_with("Total");
                    if table[i] != "TS008" || !total {
                        continue;
                    }
                    for (name, area) in &self.options.census_areas {
                        if *area == code[i] && !self.options.populations.contains_key(name) {
                            populations.insert(name.clone(), count[i].unwrap_or(0.0));
                        }
                    }
                }
            }
        }
        // (area type, area, year) -> strand -> offences.
        let mut t: BTreeMap<(String, String, String), BTreeMap<&'static str, f64>> =
            BTreeMap::new();
        for batch in ctx.open_input("hate_crime")? {
            let b = batch?;
            let c = |n: &str| column(&b, "hate_crime", n);
            let year = text_values(c("financial_year")?.as_ref())?;
            let area = text_values(c("area_name")?.as_ref())?;
            let kind = text_values(c("area_type")?.as_ref())?;
            let offences = f64_values(c("offences")?.as_ref())?;
            let flags: Vec<Vec<Option<bool>>> = STRANDS
                .iter()
                .map(|s| bool_values(c(s)?.as_ref()))
                .collect::<Result<_, PluginError>>()?;
            for i in 0..b.num_rows() {
                let n = offences[i].unwrap_or(0.0);
                let e = t
                    .entry((kind[i].clone(), area[i].clone(), year[i].clone()))
                    .or_default();
                *e.entry("all").or_default() += n;
                for (k, s) in STRANDS.iter().enumerate() {
                    if flags[k][i] == Some(true) {
                        *e.entry(s).or_default() += n;
                    }
                }
            }
        }
        let mut rows = TextRows::new(&[
            "financial_year",
            "area_type",
            "area_name",
            "strand",
            "offences",
            "previous_offences",
            "change_pct",
            "population",
            "rate_per_1000",
        ]);
        let mut missing_population = 0u64;
        let keys: Vec<(String, String, String)> = t.keys().cloned().collect();
        for (i, key) in keys.iter().enumerate() {
            let (kind, area, year) = key;
            let prev = i
                .checked_sub(1)
                .map(|j| &keys[j])
                .filter(|p| p.0 == *kind && p.1 == *area)
                .and_then(|p| t.get(p));
            let pop = populations.get(area).copied();
            if pop.is_none() {
                missing_population += 1;
            }
            for s in std::iter::once("all").chain(STRANDS) {
                let n = t[key].get(s).copied().unwrap_or(0.0);
                let before = prev.map(|p| p.get(s).copied().unwrap_or(0.0));
                let change = before.filter(|b| *b > 0.0).map(|b| (n - b) / b * 100.0);
                let f = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
                rows.push(
                    [
                        year.clone(),
                        kind.clone(),
                        area.clone(),
                        s.to_string(),
                        format!("{n}"),
                        f(before),
                        f(change),
                        f(pop),
                        f(pop.filter(|p| *p > 0.0).map(|p| n / p * 1000.0)),
                    ],
                    "hate-crime-trends",
                    0,
                );
            }
        }
        if missing_population > 0 {
            ctx.coverage_warning(
                Some("hate_crime_trends"),
                "area-years with no population given (`populations`): no rate per 1,000",
                missing_population,
                Some(keys.len() as u64),
            );
        }
        ctx.emit_rows("hate_crime_trends", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: HateCrimeTrends);
