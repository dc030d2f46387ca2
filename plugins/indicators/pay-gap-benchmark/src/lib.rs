//! `pay-gap-benchmark`: an employer's gender pay gap returns, as the GOV.UK
//! service publishes them (`gender_pay_gap_returns`), against its own
//! history and its peers': for each reporting year and measure, the
//! employer's published figure, the change from its previous return held
//! (`previous_reporting_year` says which: the files may skip years), and
//! the peers' median, quartiles, range and the employer's rank among them
//! (1 = the smallest value). The report puts eqpipe's own statutory
//! figures (`pay_gap`) beside these.
//!
//! Peers are chosen by any of: a SIC code (`peer_sic_code = "84110"`,
//! public administration), the employer's own size band
//! (`same_size = true`), or a named list (`peers`, by name or the service's
//! employer id); all given must hold. The employer is never its own peer.
//! Quartiles interpolate between ordered values (the method of R's default
//! `quantile` type 7 and numpy's default): with n values at positions
//! 0..n−1, the p-quantile is at position p·(n−1).

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{column, date_values, f64_values, text_values};
use serde::Deserialize;

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The employer benchmarked: its name (`EmployerName` or `CurrentName`,
    /// case ignored) or the service's employer id.
    pub employer: String,
    /// Peers: employers with this SIC code (`84110`).
    #[serde(default)]
    pub peer_sic_code: Option<String>,
    /// Peers: employers in the employer's own size band that year.
    #[serde(default)]
    pub same_size: bool,
    /// Peers: these employers (names or ids).
    #[serde(default)]
    pub peers: Option<Vec<String>>,
}

/// The measures compared: output name and `gender_pay_gap_returns` column.
pub const MEASURES: &[(&str, &str)] = &[
    ("mean_hourly_gap_pct", "diff_mean_hourly_pct"),
    ("median_hourly_gap_pct", "diff_median_hourly_pct"),
    ("mean_bonus_gap_pct", "diff_mean_bonus_pct"),
    ("median_bonus_gap_pct", "diff_median_bonus_pct"),
    ("male_bonus_pct", "male_bonus_pct"),
    ("female_bonus_pct", "female_bonus_pct"),
    ("female_lower_quartile_pct", "female_lower_quartile_pct"),
    (
        "female_lower_middle_quartile_pct",
        "female_lower_middle_quartile_pct",
    ),
    (
        "female_upper_middle_quartile_pct",
        "female_upper_middle_quartile_pct",
    ),
    ("female_top_quartile_pct", "female_top_quartile_pct"),
];

/// The output's columns, in order.
pub const COLUMNS: &[&str] = &[
    "employer",
    "reporting_year",
    "snapshot_date",
    "measure",
    "value",
    "previous_reporting_year",
    "previous_value",
    "change",
    "peers",
    "peer_median",
    "peer_lower_quartile",
    "peer_upper_quartile",
    "peer_min",
    "peer_max",
    "rank",
    "ranked",
    "peer_group",
];

/// The p-quantile of sorted values by linear interpolation (type 7).
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = p * last as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// One return, as the benchmark needs it.
#[derive(Debug, Clone)]
struct Return {
    keys: [String; 3],
    size: String,
    sic: Vec<String>,
    snapshot: String,
    values: Vec<Option<f64>>,
}

/// The plugin.
pub struct PayGapBenchmark {
    options: Options,
}

impl PayGapBenchmark {
    fn describe(&self) -> String {
        let o = &self.options;
        let mut parts = Vec::new();
        if let Some(s) = &o.peer_sic_code {
            parts.push(format!("SIC code {s}"));
        }
        if o.same_size {
            parts.push("the same size band".to_string());
        }
        if let Some(p) = &o.peers {
            parts.push(format!("named ({})", p.join(", ")));
        }
        format!("employers with {}", parts.join(" and "))
    }

    fn is_peer(&self, r: &Return, own: &Return, named: &[String]) -> bool {
        let o = &self.options;
        o.peer_sic_code
            .as_ref()
            .is_none_or(|c| r.sic.iter().any(|s| s == c.trim()))
            && (!o.same_size || r.size == own.size)
            && (o.peers.is_none() || r.keys.iter().any(|k| named.contains(k)))
    }
}

fn lower(s: &str) -> String {
    s.trim().to_lowercase()
}

impl IndicatorPlugin for PayGapBenchmark {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("pay-gap-benchmark", env!("CARGO_PKG_VERSION"))
            .description("An employer's published gender pay gap returns against its own history and its peers'")
            .consumes("gender_pay_gap_returns")
            .produces("pay_gap_benchmark")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.employer.trim().is_empty() {
            return Err(PluginError::config("`employer` is empty"));
        }
        if options.peer_sic_code.is_none() && !options.same_size && options.peers.is_none() {
            return Err(PluginError::config(
                "no peer group: set `peer_sic_code`, `same_size = true` or `peers` (names or ids)",
            ));
        }
        Ok(PayGapBenchmark { options })
    }

    // Long: the returns gathered by year, then each year's measures.
    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        const D: &str = "gender_pay_gap_returns";
        let mut by_year: BTreeMap<String, Vec<Return>> = BTreeMap::new();
        for batch in ctx.open_input(D)? {
            let b = batch?;
            let t = |n: &str| text_values(column(&b, D, n)?.as_ref());
            let (name, current, size, sic, year) = (
                t("employer_name")?,
                t("current_name")?,
                t("employer_size")?,
                t("sic_codes")?,
                t("reporting_year")?,
            );
            let ids = f64_values(column(&b, D, "employer_id")?.as_ref())?;
            let snapshot = date_values(column(&b, D, "snapshot_date")?.as_ref())?;
            let values: Vec<Vec<Option<f64>>> = MEASURES
                .iter()
                .map(|(_, c)| f64_values(column(&b, D, c)?.as_ref()))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let day = snapshot[i]
                    .map(|d| {
                        eqpipe_plugin_sdk::published::date_of_days(d)
                            .format("%Y-%m-%d")
                            .to_string()
                    })
                    .unwrap_or_default();
                by_year.entry(year[i].clone()).or_default().push(Return {
                    keys: [
                        lower(&name[i]),
                        lower(&current[i]),
                        ids[i].map(|v| (v as i64).to_string()).unwrap_or_default(),
                    ],
                    size: size[i].clone(),
                    sic: sic[i].split(',').map(|s| s.trim().to_string()).collect(),
                    snapshot: day,
                    values: values.iter().map(|v| v[i]).collect(),
                });
            }
        }
        let me = lower(&self.options.employer);
        let named: Vec<String> = self
            .options
            .peers
            .iter()
            .flatten()
            .map(|s| lower(s))
            .collect();
        let group = self.describe();
        let mut rows = TextRows::new(COLUMNS);
        let mut previous: Option<(String, Vec<Option<f64>>)> = None;
        let mut years_without = 0u64;
        let show = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        for (year, returns) in &by_year {
            let Some(own) = returns.iter().find(|r| r.keys.contains(&me)) else {
                years_without += 1;
                continue;
            };
            let peers: Vec<&Return> = returns
                .iter()
                .filter(|r| !r.keys.contains(&me) && self.is_peer(r, own, &named))
                .collect();
            for (m, (measure, _)) in MEASURES.iter().enumerate() {
                let value = own.values[m];
                let before = previous.as_ref().and_then(|p| p.1[m]);
                let mut vals: Vec<f64> = peers.iter().filter_map(|p| p.values[m]).collect();
                vals.sort_by(f64::total_cmp);
                // No rank without a peer to rank against.
                let rank = value
                    .filter(|_| !vals.is_empty())
                    .map(|v| 1 + vals.iter().filter(|p| **p < v).count());
                rows.push(
                    [
                        self.options.employer.trim().to_string(),
                        year.clone(),
                        own.snapshot.clone(),
                        measure.to_string(),
                        show(value),
                        previous.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
                        show(before),
                        show(value.zip(before).map(|(a, b)| a - b)),
                        vals.len().to_string(),
                        show(quantile(&vals, 0.5)),
                        show(quantile(&vals, 0.25)),
                        show(quantile(&vals, 0.75)),
                        show(vals.first().copied()),
                        show(vals.last().copied()),
                        rank.map(|r| r.to_string()).unwrap_or_default(),
                        (vals.len() + 1).to_string(),
                        group.clone(),
                    ],
                    "pay-gap-benchmark",
                    0,
                );
            }
            previous = Some((year.clone(), own.values.clone()));
        }
        if rows.is_empty() {
            return Err(PluginError::data(format!(
                "`{}` has no return in gender_pay_gap_returns: check `employer` (a name as the service writes it, or its employer id)",
                self.options.employer
            )));
        }
        if years_without > 0 {
            ctx.coverage_warning(
                Some("pay_gap_benchmark"),
                "reporting years in the returns without one from the employer",
                years_without,
                Some(by_year.len() as u64),
            );
        }
        ctx.emit_rows("pay_gap_benchmark", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: PayGapBenchmark);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_r_type_7() {
        // R: quantile(c(1, 2, 4, 10), c(.25, .5, .75)) gives 1.75 3.00 5.50.
        let v = [1.0, 2.0, 4.0, 10.0];
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.75), Some(5.5));
        assert_eq!(quantile(&[7.0], 0.5), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
