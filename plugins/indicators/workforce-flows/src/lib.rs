//! `workforce-flows`: who gets appointed, who joins, who leaves.
//!
//! Recruitment (from the optional `recruitment` dataset), per financial
//! year (1 April to 31 March) of application, by the NHS Workforce Race
//! Equality Standard (indicator 2) and Workforce Disability Equality
//! Standard (metric 2) method:
//! - likelihood of appointment from shortlisting for a group = appointed /
//!   shortlisted (`appointed_from_shortlisting_pct`, as a percentage);
//! - relative likelihood = the reference group's likelihood / the group's
//!   (`relative_likelihood_appointed`): 1 is equal; above 1 the reference
//!   group (White; non-disabled; men) is more likely to be appointed.
//!   WRES compares White applicants (all White groups) with Black and
//!   minority ethnic applicants (every other stated group); we also compare
//!   each broad group. Unknown characteristics are left out.
//! - `shortlisted_from_applications_pct`: shortlisted / applied.
//!
//! Starters and leavers (from `workforce`), between consecutive snapshots,
//! matched by the pseudonymised employee key:
//! - `leaving_rate_pct` = employees of the group at the earlier snapshot who
//!   are gone at the later one / the group's headcount at the earlier one;
//! - `retention_rate_pct` = those still employed / the same headcount;
//! - `share_of_starters_pct` = starters of the group / all starters.
//!
//! Groups: sex, broad ethnic group, disability and age band (e.g. staff
//! aged 16-24), each as recorded at the earlier snapshot for leavers and
//! the later one for starters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{BooleanArray, Date32Array, Float64Array, StringArray};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{bool_values, column, date_values, key_values, text_values};
use serde::Deserialize;

use eqpipe_plugin_sdk::UNDISCLOSED;
/// All ethnic groups other than White, as WRES groups them.
pub const MINORITIES: &str = "Black and minority ethnic";

/// Options of `[indicators.options]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {}

/// The plugin.
pub struct Flows;

/// The four characteristics, their column, reference group.
const DIMENSIONS: [(&str, &str, Option<&str>); 4] = [
    ("sex", "sex", Some("M")),
    ("ethnicity", "ethnic_group_broad", Some("White")),
    ("disability", "disability", Some("not_disabled")),
    ("age_band", "age_band", None),
];

/// One output row before disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// First day of the period.
    pub period_start: i32,
    /// Last day of the period.
    pub period_end: i32,
    /// Characteristic.
    pub dimension: &'static str,
    /// Measure name.
    pub measure: &'static str,
    /// Group.
    pub group: String,
    /// Reference group (relative likelihoods).
    pub reference_group: Option<String>,
    /// The value.
    pub value: Option<f64>,
    /// The group's count the value is built on (appointed, leavers, …).
    pub numerator_n: f64,
    /// The group's base (shortlisted, headcount, …).
    pub denominator_n: f64,
    /// The reference group's numerator (relative likelihoods).
    pub reference_numerator_n: Option<f64>,
    /// The reference group's base (relative likelihoods).
    pub reference_denominator_n: Option<f64>,
}

fn pct(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n * 100.0 / d)
}

/// One application as the measures see it: group per dimension, stages.
#[derive(Debug, Clone)]
pub struct Application {
    /// Group per dimension (`None`: not known).
    pub groups: [Option<String>; 4],
    /// Shortlisted (or further).
    pub shortlisted: bool,
    /// Appointed.
    pub appointed: bool,
}

/// Recruitment measures for one period.
pub fn recruitment(start: i32, end: i32, apps: &[Application]) -> Vec<Flow> {
    let mut out = Vec::new();
    for (d, (dimension, _, reference)) in DIMENSIONS.iter().enumerate() {
        // group -> (applied, shortlisted, appointed)
        let mut by: BTreeMap<String, [f64; 3]> = BTreeMap::new();
        for a in apps {
            let Some(g) = &a.groups[d] else { continue };
            let mut add = |k: &str| {
                let e = by.entry(k.to_string()).or_default();
                e[0] += 1.0;
                e[1] += f64::from(u8::from(a.shortlisted));
                e[2] += f64::from(u8::from(a.appointed));
            };
            add(g);
            if *dimension == "ethnicity" && g != "White" {
                add(MINORITIES);
            }
        }
        let row = |measure, group: &str, reference: Option<&str>, value, n, dn, rn, rd| Flow {
            period_start: start,
            period_end: end,
            dimension,
            measure,
            group: group.to_string(),
            reference_group: reference.map(str::to_string),
            value,
            numerator_n: n,
            denominator_n: dn,
            reference_numerator_n: rn,
            reference_denominator_n: rd,
        };
        for (g, [applied, shortlisted, appointed]) in &by {
            out.push(row(
                "shortlisted_from_applications_pct",
                g,
                None,
                pct(*shortlisted, *applied),
                *shortlisted,
                *applied,
                None,
                None,
            ));
            out.push(row(
                "appointed_from_shortlisting_pct",
                g,
                None,
                pct(*appointed, *shortlisted),
                *appointed,
                *shortlisted,
                None,
                None,
            ));
        }
        if let Some(r) = reference
            && let Some([_, rs, ra]) = by.get(*r).copied()
        {
            for (g, [_, s, a]) in by.iter().filter(|(g, _)| g.as_str() != *r) {
                let value = match (pct(ra, rs), pct(*a, *s)) {
                    (Some(lr), Some(lg)) if lg > 0.0 => Some(lr / lg),
                    _ => None,
                };
                out.push(row(
                    "relative_likelihood_appointed",
                    g,
                    Some(r),
                    value,
                    *a,
                    *s,
                    Some(ra),
                    Some(rs),
                ));
            }
        }
    }
    out
}

/// One employee at a snapshot: key and group per dimension.
#[derive(Debug, Clone)]
pub struct Member {
    /// Pseudonymised key.
    pub key: [u8; 32],
    /// Group per dimension.
    pub groups: [Option<String>; 4],
}

/// Starters, leavers and retention between two snapshots.
pub fn turnover(start: i32, end: i32, before: &[Member], after: &[Member]) -> Vec<Flow> {
    let later: HashMap<&[u8; 32], &Member> = after.iter().map(|m| (&m.key, m)).collect();
    let earlier: HashMap<&[u8; 32], &Member> = before.iter().map(|m| (&m.key, m)).collect();
    let starters: Vec<&Member> = after
        .iter()
        .filter(|m| !earlier.contains_key(&m.key))
        .collect();
    let mut out = Vec::new();
    for (d, (dimension, _, _)) in DIMENSIONS.iter().enumerate() {
        // group -> (headcount before, stayed, starters)
        let mut by: BTreeMap<String, [f64; 3]> = BTreeMap::new();
        for m in before {
            let g = m.groups[d]
                .clone()
                .unwrap_or_else(|| "not_disclosed".into());
            let e = by.entry(g).or_default();
            e[0] += 1.0;
            e[1] += f64::from(u8::from(later.contains_key(&m.key)));
        }
        for m in &starters {
            let g = m.groups[d]
                .clone()
                .unwrap_or_else(|| "not_disclosed".into());
            by.entry(g).or_default()[2] += 1.0;
        }
        let all_starters = starters.len() as f64;
        for (g, [head, stayed, started]) in &by {
            let row = |measure, value, n, dn| Flow {
                period_start: start,
                period_end: end,
                dimension,
                measure,
                group: g.clone(),
                reference_group: None,
                value,
                numerator_n: n,
                denominator_n: dn,
                reference_numerator_n: None,
                reference_denominator_n: None,
            };
            out.push(row(
                "leaving_rate_pct",
                pct(head - stayed, *head),
                head - stayed,
                *head,
            ));
            out.push(row(
                "retention_rate_pct",
                pct(*stayed, *head),
                *stayed,
                *head,
            ));
            out.push(row(
                "share_of_starters_pct",
                pct(*started, all_starters),
                *started,
                all_starters,
            ));
        }
    }
    out
}

fn known(v: &str) -> Option<String> {
    (!UNDISCLOSED.contains(&v)).then(|| v.to_string())
}

/// Days since 1970 of the 1 April and 31 March of the financial year a day
/// falls in.
fn financial_year(day: i32) -> (i32, i32) {
    use chrono::Datelike;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let d = epoch + chrono::Duration::days(i64::from(day));
    let end_year = if d.month() >= 4 {
        d.year() + 1
    } else {
        d.year()
    };
    let days = |y, m, dd| {
        (chrono::NaiveDate::from_ymd_opt(y, m, dd).expect("valid") - epoch).num_days() as i32
    };
    (days(end_year - 1, 4, 1), days(end_year, 3, 31))
}

fn groups(cols: &[Vec<String>], i: usize) -> [Option<String>; 4] {
    std::array::from_fn(|d| known(&cols[d][i]))
}

impl IndicatorPlugin for Flows {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("workforce-flows", env!("CARGO_PKG_VERSION"))
            .description("Recruitment relative likelihood (WRES/WDES), starters, leavers and retention by group")
            .consumes("workforce")
            .consumes_optional("recruitment")
            .produces("workforce_flows")
    }

    fn new(_options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Flows)
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut snapshots: BTreeMap<i32, Vec<Member>> = BTreeMap::new();
        for batch in ctx.open_input("workforce")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "workforce", n);
            let key = key_values(c("employee_key")?.as_ref())?;
            let snap = date_values(c("snapshot_date")?.as_ref())?;
            let leaver = date_values(c("leaver_date")?.as_ref())?;
            let cols: Vec<Vec<String>> = DIMENSIONS
                .iter()
                .map(|d| text_values(c(d.1)?.as_ref()))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let (Some(s), Some(key)) = (snap[i], key[i]) else {
                    continue;
                };
                if leaver[i].is_some_and(|l| l < s) {
                    continue;
                }
                snapshots.entry(s).or_default().push(Member {
                    key,
                    groups: groups(&cols, i),
                });
            }
        }
        let mut rows = Vec::new();
        let snaps: Vec<(&i32, &Vec<Member>)> = snapshots.iter().collect();
        for w in snaps.windows(2) {
            rows.extend(turnover(*w[0].0, *w[1].0, w[0].1, w[1].1));
        }
        if snaps.len() < 2 {
            ctx.warn("one workforce snapshot only: starters and leavers need two");
        }
        let mut years: BTreeMap<(i32, i32), Vec<Application>> = BTreeMap::new();
        for batch in ctx.open_input("recruitment")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "recruitment", n);
            let date = date_values(c("application_date")?.as_ref())?;
            let shortlisted = bool_values(c("shortlisted")?.as_ref())?;
            let appointed = bool_values(c("appointed")?.as_ref())?;
            let cols: Vec<Vec<String>> = DIMENSIONS
                .iter()
                .map(|d| text_values(c(d.1)?.as_ref()))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let Some(d) = date[i] else { continue };
                years
                    .entry(financial_year(d))
                    .or_default()
                    .push(Application {
                        groups: groups(&cols, i),
                        shortlisted: shortlisted[i] == Some(true),
                        appointed: appointed[i] == Some(true),
                    });
            }
        }
        for ((start, end), apps) in &years {
            rows.extend(recruitment(*start, *end, apps));
        }
        ctx.info(&format!(
            "{} rows: {} snapshot pairs, {} recruitment years",
            rows.len(),
            snaps.len().saturating_sub(1),
            years.len()
        ));
        let batch = to_batch(&rows)?;
        ctx.emit_batches("workforce_flows", batch.schema(), vec![batch])
    }
}

fn to_batch(rows: &[Flow]) -> Result<RecordBatch, PluginError> {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("period_start", DataType::Date32, false),
        Field::new("period_end", DataType::Date32, false),
        s("dimension", false),
        s("measure", false),
        s("group", false),
        s("reference_group", true),
        f("value"),
        f("numerator_n"),
        f("denominator_n"),
        f("reference_numerator_n"),
        f("reference_denominator_n"),
        Field::new("suppressed", DataType::Boolean, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.period_start),
        )),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.period_end),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.dimension),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.measure),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.group.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.reference_group.as_deref()),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.value))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.numerator_n),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.denominator_n),
        )),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.reference_numerator_n),
        )),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.reference_denominator_n),
        )),
        Arc::new(BooleanArray::from(vec![false; rows.len()])),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: Flows);

#[cfg(test)]
mod tests {
    use super::*;

    fn app(eth: &str, shortlisted: bool, appointed: bool) -> Application {
        Application {
            groups: [None, known(eth), None, None],
            shortlisted,
            appointed,
        }
    }

    fn find<'a>(rows: &'a [Flow], dim: &str, measure: &str, group: &str) -> &'a Flow {
        rows.iter()
            .find(|r| r.dimension == dim && r.measure == measure && r.group == group)
            .unwrap_or_else(|| panic!("{dim} {measure} {group}"))
    }

    #[test]
    fn wres_relative_likelihood_hand_worked() {
        // White: 200 shortlisted, 50 appointed (0.25). Asian: 100
        // shortlisted, 15 appointed (0.15). Black: 40 shortlisted, 4
        // appointed (0.10). BME: 140 shortlisted, 19 appointed (0.1357…).
        // Relative likelihood White vs BME = 0.25 / (19/140) = 1.842…
        let mut apps = Vec::new();
        for (eth, n, s, a) in [
            ("White", 500, 200, 50),
            ("Asian, Asian British or Asian Welsh", 300, 100, 15),
            (
                "Black, Black British, Black Welsh, Caribbean or African",
                90,
                40,
                4,
            ),
            ("prefer_not_to_say", 30, 10, 5),
        ] {
            for i in 0..n {
                apps.push(app(eth, i < s, i < a));
            }
        }
        let rows = recruitment(0, 364, &apps);
        let rl = find(
            &rows,
            "ethnicity",
            "relative_likelihood_appointed",
            MINORITIES,
        );
        assert!((rl.value.unwrap() - 0.25 / (19.0 / 140.0)).abs() < 1e-12);
        assert_eq!((rl.numerator_n, rl.denominator_n), (19.0, 140.0));
        assert_eq!(
            (rl.reference_numerator_n, rl.reference_denominator_n),
            (Some(50.0), Some(200.0))
        );
        let black = find(
            &rows,
            "ethnicity",
            "relative_likelihood_appointed",
            "Black, Black British, Black Welsh, Caribbean or African",
        );
        assert!((black.value.unwrap() - 2.5).abs() < 1e-12);
        let likelihood = find(
            &rows,
            "ethnicity",
            "appointed_from_shortlisting_pct",
            "White",
        );
        assert_eq!(likelihood.value, Some(25.0));
        let shortlisting = find(
            &rows,
            "ethnicity",
            "shortlisted_from_applications_pct",
            "White",
        );
        assert_eq!(shortlisting.value, Some(40.0));
        // Unknown ethnicity is left out entirely.
        assert!(rows.iter().all(|r| r.group != "prefer_not_to_say"));
        // A group with nobody appointed has no relative likelihood.
        let none: Vec<Application> = (0..20)
            .map(|i| app("White", true, i < 5))
            .chain((0..20).map(|_| app("Mixed or Multiple ethnic groups", true, false)))
            .collect();
        let rows = recruitment(0, 364, &none);
        assert_eq!(
            find(
                &rows,
                "ethnicity",
                "relative_likelihood_appointed",
                "Mixed or Multiple ethnic groups"
            )
            .value,
            None
        );
    }

    #[test]
    fn leavers_starters_and_retention_between_snapshots() {
        let m = |k: &str, age: &str| Member {
            key: [k.as_bytes()[0]; 32],
            groups: [None, None, None, known(age)],
        };
        let before = vec![
            m("a", "16-24"),
            m("b", "16-24"),
            m("c", "16-24"),
            m("d", "16-24"),
            m("e", "35-49"),
        ];
        // b and c leave, e stays, f and g start (f under 25).
        let after = vec![
            m("a", "16-24"),
            m("d", "25-34"),
            m("e", "35-49"),
            m("f", "16-24"),
            m("g", "50-64"),
        ];
        let rows = turnover(0, 365, &before, &after);
        let leave = find(&rows, "age_band", "leaving_rate_pct", "16-24");
        assert_eq!(
            (leave.value, leave.numerator_n, leave.denominator_n),
            (Some(50.0), 2.0, 4.0)
        );
        assert_eq!(
            find(&rows, "age_band", "retention_rate_pct", "16-24").value,
            Some(50.0)
        );
        assert_eq!(
            find(&rows, "age_band", "retention_rate_pct", "35-49").value,
            Some(100.0)
        );
        assert_eq!(
            find(&rows, "age_band", "share_of_starters_pct", "16-24").value,
            Some(50.0)
        );
        assert_eq!(
            find(&rows, "age_band", "share_of_starters_pct", "50-64").value,
            Some(50.0)
        );
        // A group with no one at the start has no rate.
        assert_eq!(
            find(&rows, "age_band", "leaving_rate_pct", "50-64").value,
            None
        );
    }

    #[test]
    fn financial_years_run_april_to_march() {
        // 2024-03-31 is day 19813; 2024-04-01 is day 19814.
        assert_eq!(financial_year(19813), (19448, 19813));
        assert_eq!(financial_year(19814), (19814, 20178));
    }
}
