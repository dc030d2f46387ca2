//! Equality objectives: targets, history and progress.
//!
//! An objective (from `[[objectives]]` in the config, or the files named by
//! `objective_files`) has measures; each measure points at one figure of a
//! **published** indicator (e.g. `workforce_representation`, `share_pct`
//! where `characteristic = "disability"`, `scope = "senior"` and
//! `category = "disabled"`), with a baseline, a target, a target date and
//! the direction of improvement.
//!
//! After the indicators, every run:
//! 1. reads each measure's figures for every period its indicator holds;
//! 2. merges them into `indicators/objective_history/` (one row per
//!    objective, measure and period; a period already recorded is replaced
//!    by this run's figure, periods the indicator no longer holds are kept,
//!    so the history grows even when a source only ever holds the latest
//!    snapshot);
//! 3. applies the progress rule ([`progress`]) to each measure's history and
//!    writes `indicators/objective_progress/`;
//! 4. (the report then renders `report/objectives.html` from both.)
//!
//! Only published figures are read, so suppressed figures stay suppressed:
//! a withheld figure gives "not enough data", never a status.

mod history;
pub mod progress;
pub(crate) mod report;
mod step;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use chrono::NaiveDate;
use eqpipe_plugin_sdk::{ColumnType, Contract, date_values, f64_values, text_values};

pub use progress::{Direction, Point, Progress, Rule, Status, Uncertainty};

pub use eqpipe_core::config::objectives::*;
use eqpipe_store::contracts::{Contracts, Validator};
use eqpipe_store::files::{PART_FILE, PendingFile, StoreError};

pub use history::*;
pub use step::{ObjectivesError, Outcome, run};

/// The rule a measure is held to (`unit` for the wording).
pub fn rule(m: &Measure, unit: &str) -> Rule {
    Rule {
        direction: m.direction,
        target: m.target,
        target_date: m.target_date,
        baseline: m.baseline,
        uncertainty: m.uncertainty(),
        min_count: m.min_count.unwrap_or(DEFAULT_MIN_COUNT),
        unit: m.unit.clone().unwrap_or_else(|| unit.to_string()),
    }
}

/// Dataset (and folder) of the recorded figures.
pub const HISTORY: &str = "objective_history";
/// Dataset (and folder) of the progress of each measure.
pub const PROGRESS: &str = "objective_progress";

/// The example objective sets in `config/objectives/`, compiled in: the
/// demo runs them, and the tests check them against the demo's outputs.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "inclusive-employment.toml",
        include_str!("../../../../config/objectives/inclusive-employment.toml"),
    ),
    (
        "knowing-our-communities.toml",
        include_str!("../../../../config/objectives/knowing-our-communities.toml"),
    ),
    (
        "knowing-manchester-better.toml",
        include_str!("../../../../config/objectives/knowing-manchester-better.toml"),
    ),
    (
        "pay-gaps-and-diversity.toml",
        include_str!("../../../../config/objectives/pay-gaps-and-diversity.toml"),
    ),
];

/// Every objective of the example sets.
pub fn examples() -> Vec<Objective> {
    EXAMPLES
        .iter()
        .flat_map(|(name, text)| {
            parse_file(text).unwrap_or_else(|e| panic!("example objectives {name}: {e}"))
        })
        .collect()
}

/// Checks each measure's columns against the contract of the indicator it
/// reads. `dataset_of` maps an indicator output folder to its contract.
pub fn check_columns(
    objectives: &[Objective],
    dataset_of: &dyn Fn(&str) -> Option<Arc<Contract>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for o in objectives {
        for m in &o.measures {
            let at = format!("objective `{}`, measure `{}`", o.id, m.id);
            let Some(c) = dataset_of(&m.indicator) else {
                problems.push(format!(
                    "{at}: reads indicator `{}`, which this config does not run",
                    m.indicator
                ));
                continue;
            };
            for col in m.columns() {
                match c.columns.iter().find(|x| x.name == col) {
                    None => problems.push(format!(
                        "{at}: `{}` ({}) has no column `{col}`",
                        m.indicator, c.name
                    )),
                    Some(x) => {
                        let numeric = matches!(
                            x.ty,
                            ColumnType::Float64
                                | ColumnType::Int16
                                | ColumnType::Int32
                                | ColumnType::Int64
                                | ColumnType::UInt8
                        );
                        let wants_number = col == m.value
                            || Some(col) == m.numerator.as_deref()
                            || Some(col) == m.denominator.as_deref()
                            || m.counts.iter().any(|k| k == col);
                        if wants_number && !numeric {
                            problems.push(format!("{at}: column `{col}` is not numeric"));
                        }
                        if col == m.period && !matches!(x.ty, ColumnType::Date | ColumnType::Utf8) {
                            problems.push(format!(
                                "{at}: period column `{col}` must hold dates or text periods"
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// A text period as the date it ends: `2025-03-31`, `2024/25` or `2024-25`
/// (financial years, ending 31 March), `2025-Q1` (calendar quarters, for
/// quarterly monitoring), `2024` (31 December).
pub fn period_end(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    // Calendar quarters: 2025-Q1, 2025 Q1, 2025Q1.
    if let Some((y, q)) = s.split_once('Q') {
        let y: i32 = y.trim_end_matches(['-', ' ']).parse().ok()?;
        let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
        let next = if q == 4 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, q * 3 + 1, 1)
        };
        return next?.pred_opt();
    }
    if let Some((a, b)) = s.split_once(['/', '-'])
        && a.len() == 4
        && (b.len() == 2 || b.len() == 4)
    {
        let start: i32 = a.parse().ok()?;
        let end: i32 = b.parse().ok()?;
        let follows = if b.len() == 2 {
            (start + 1) % 100 == end
        } else {
            end == start + 1
        };
        return follows.then(|| NaiveDate::from_ymd_opt(start + 1, 3, 31))?;
    }
    if s.len() == 4 {
        return NaiveDate::from_ymd_opt(s.parse().ok()?, 12, 31);
    }
    None
}

fn from_days(d: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(d))
}

fn to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Reads one measure's figures, one per period, from an indicator's
/// published rows.
// Long: the measure's filter, sum and base rules are applied in one pass
// over the rows, sharing the column lookups; split, each piece would take
// all of them.
pub fn extract(m: &Measure, batches: &[RecordBatch]) -> Result<Vec<Point>, String> {
    let many: Option<(&String, Vec<&str>)> = m
        .filter
        .iter()
        .find(|(_, v)| v.values().len() > 1)
        .map(|(k, v)| (k, v.values()));
    let expected = many.as_ref().map(|(_, v)| v.len()).unwrap_or(1);
    // period -> (the multi-valued column's value -> point)
    let mut found: BTreeMap<NaiveDate, BTreeMap<String, Point>> = BTreeMap::new();
    for b in batches {
        let col = |n: &str| {
            b.column_by_name(n)
                .ok_or_else(|| format!("the indicator has no column `{n}`"))
        };
        let mut keep = vec![true; b.num_rows()];
        for (name, want) in &m.filter {
            let vals = text_values(col(name)?.as_ref()).map_err(|e| e.to_string())?;
            let c = col(name)?;
            let want = want.values();
            for (i, k) in keep.iter_mut().enumerate() {
                *k = *k && !c.is_null(i) && want.contains(&vals[i].as_str());
            }
        }
        if !keep.iter().any(|k| *k) {
            continue;
        }
        let pc = col(&m.period)?;
        let periods: Vec<Option<NaiveDate>> = match pc.data_type() {
            arrow_schema::DataType::Date32 => date_values(pc.as_ref())
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|d| d.map(from_days))
                .collect(),
            _ => {
                let t = text_values(pc.as_ref()).map_err(|e| e.to_string())?;
                t.iter().map(|s| period_end(s)).collect()
            }
        };
        let num = |n: &Option<String>| -> Result<Option<Vec<Option<f64>>>, String> {
            n.as_deref()
                .map(|n| f64_values(col(n)?.as_ref()).map_err(|e| e.to_string()))
                .transpose()
        };
        let value = f64_values(col(&m.value)?.as_ref()).map_err(|e| e.to_string())?;
        let numerator = num(&m.numerator)?;
        let denominator = num(&m.denominator)?;
        let counts: Vec<Vec<Option<f64>>> = m
            .counts
            .iter()
            .map(|c| f64_values(col(c)?.as_ref()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let suppressed = b
            .column_by_name("suppressed")
            .and_then(|c| eqpipe_plugin_sdk::bool_values(c.as_ref()).ok());
        let key_vals = match &many {
            Some((k, _)) => Some(text_values(col(k)?.as_ref()).map_err(|e| e.to_string())?),
            None => None,
        };
        for i in (0..b.num_rows()).filter(|i| keep[*i]) {
            let Some(period) = periods[i] else {
                return Err(format!(
                    "a row's period (`{}`) is not a date or a period such as 2024/25",
                    m.period
                ));
            };
            let den = denominator.as_ref().and_then(|d| d[i]);
            let base = if m.numerator.is_some() {
                den
            } else {
                counts
                    .iter()
                    .map(|c| c[i])
                    .try_fold(f64::INFINITY, |acc, v| v.map(|v| acc.min(v)))
                    .filter(|v| v.is_finite())
            };
            let point = Point {
                period,
                value: value[i],
                numerator: numerator.as_ref().and_then(|n| n[i]),
                denominator: den,
                base,
                suppressed: suppressed.as_ref().and_then(|s| s[i]).unwrap_or(false),
            };
            let key = key_vals.as_ref().map(|k| k[i].clone()).unwrap_or_default();
            if found
                .entry(period)
                .or_default()
                .insert(key, point)
                .is_some()
            {
                let cols: Vec<&String> = m.filter.keys().collect();
                return Err(format!(
                    "several rows match for {period}; add conditions to `where` so one row is left per period (filtered on: {})",
                    if cols.is_empty() {
                        "nothing".to_string()
                    } else {
                        cols.iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (period, rows) in found {
        if rows.len() == 1 && expected == 1 {
            out.extend(rows.into_values());
            continue;
        }
        // Several categories added up: a percentage of one base.
        let mut p = Point {
            period,
            value: None,
            numerator: None,
            denominator: None,
            base: None,
            suppressed: rows.values().any(|r| r.suppressed),
        };
        let dens: Vec<Option<f64>> = rows.values().map(|r| r.denominator).collect();
        let den = dens[0];
        if dens.iter().any(|d| *d != den) {
            return Err(format!(
                "the rows added up for {period} have different denominators; they must be categories of one base"
            ));
        }
        if rows.len() == expected && !p.suppressed {
            let sum: Option<f64> = rows.values().map(|r| r.numerator).sum();
            if let (Some(x), Some(n)) = (sum, den)
                && n > 0.0
            {
                p.numerator = Some(x);
                p.denominator = Some(n);
                p.base = Some(n);
                p.value = Some((x / n * 1000.0).round() / 10.0);
            }
        } else if rows.len() < expected {
            // A category missing from a period: the sum cannot be formed.
            p.base = den;
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_where_their_names_say() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(period_end("2025-03-31"), d(2025, 3, 31));
        assert_eq!(period_end("2024/25"), d(2025, 3, 31));
        assert_eq!(period_end("2024-25"), d(2025, 3, 31));
        assert_eq!(period_end("1999/00"), d(2000, 3, 31));
        assert_eq!(period_end("2024/2025"), d(2025, 3, 31));
        assert_eq!(period_end("2024"), d(2024, 12, 31));
        assert_eq!(period_end("2025-Q1"), d(2025, 3, 31));
        assert_eq!(period_end("2025 Q2"), d(2025, 6, 30));
        assert_eq!(period_end("2025Q4"), d(2025, 12, 31));
        assert_eq!(period_end("2025-Q5"), None);
        assert_eq!(period_end("2024/26"), None);
        assert_eq!(period_end("soon"), None);
    }

    fn measure(toml_text: &str) -> Measure {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_measure_must_say_how_its_uncertainty_is_judged() {
        let base = "id = \"m\"\ntitle = \"M\"\nindicator = \"pay_gap\"\nvalue = \"value\"\ntarget = 5\ntarget_date = 2028-03-31\ndirection = \"decrease\"\n";
        let o = |m: Measure| {
            vec![Objective {
                id: "o".into(),
                title: "O".into(),
                owner: None,
                description: None,
                measures: vec![m],
            }]
        };
        let e = check(&o(measure(base))).unwrap_err();
        assert!(e.contains("numerator and denominator"), "{e}");
        assert!(check(&o(measure(&format!("{base}tolerance = 1.0\n")))).is_ok());
        let m = measure(&format!(
            "{base}numerator = \"a\"\ndenominator = \"b\"\nbaseline = \"2029-03-31\"\n"
        ));
        assert!(check(&o(m)).unwrap_err().contains("must come before"));
        let m = measure(&format!(
            "{base}tolerance = 1.0\nwhere = {{ group = [\"a\", \"b\"] }}\n"
        ));
        assert!(
            check(&o(m))
                .unwrap_err()
                .contains("only works for percentages")
        );
        let bad = toml::from_str::<Measure>(&format!("{base}target_date2 = 1\n"));
        assert!(bad.is_err());
        let bad = toml::from_str::<Measure>(&base.replace("2028-03-31", "\"31/03/2028\""));
        assert!(bad.unwrap_err().to_string().contains("is not a date"));
    }

    #[test]
    fn history_replaces_a_period_and_drops_a_changed_definition() {
        let rec = |m: &str, def: &str, period: &str, v: f64| Record {
            objective_id: "o".into(),
            measure_id: m.into(),
            definition: def.into(),
            run_id: "r".into(),
            point: Point {
                period: NaiveDate::parse_from_str(period, "%Y-%m-%d").unwrap(),
                value: Some(v),
                numerator: None,
                denominator: None,
                base: None,
                suppressed: false,
            },
        };
        let old = vec![
            rec("a", "d1", "2023-03-31", 1.0),
            rec("a", "d1", "2024-03-31", 2.0),
            rec("b", "x", "2024-03-31", 9.0),
            rec("gone", "g", "2020-03-31", 7.0),
        ];
        let new = vec![
            rec("a", "d1", "2024-03-31", 2.5),
            rec("a", "d1", "2025-03-31", 3.0),
            rec("b", "y", "2025-03-31", 4.0),
        ];
        let (h, w) = merge(old, new);
        let got: Vec<(&str, String, f64)> = h
            .iter()
            .map(|r| {
                (
                    r.measure_id.as_str(),
                    r.point.period.to_string(),
                    r.point.value.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "2023-03-31".to_string(), 1.0),
                ("a", "2024-03-31".to_string(), 2.5),
                ("a", "2025-03-31".to_string(), 3.0),
                ("b", "2025-03-31".to_string(), 4.0),
                ("gone", "2020-03-31".to_string(), 7.0),
            ]
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("`b`") && w[0].contains("1 figure"), "{w:?}");
    }
}
