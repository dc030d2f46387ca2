//! `workforce-benchmark`: organisations' published workforce profiles
//! (`workforce_counts`, from the open diversity-data format) against each
//! other and against their area's Census 2021 population, so that a council
//! can show how its workforce compares "with other local authorities" and
//! with the people it serves, as its equality strategy promises.
//!
//! For every return (organisation, division, published date) and
//! characteristic:
//!
//! - **share**: each category's count as a percentage of the employees who
//!   gave a known answer (`prefer_not_to_say` and `not_stated` left out of
//!   the denominator); the `not_disclosed` row is the share who did not
//!   (the disclosure rate's complement), of all who were counted;
//! - **census_share**: the same category's share of the comparator area's
//!   residents (the `workforce-representation` crate's Census cuts, so both
//!   indicators agree), and the **representation_ratio** (share / census
//!   share: 1 is proportionate);
//! - **peers**: among the organisation-level returns published in the same
//!   year, how many give the category a share, their median, this
//!   organisation's difference from it in percentage points and its rank
//!   (1 = the highest share).
//!
//! A characteristic with a withheld cell (a suppression marker, stored as
//! null) has no denominator, so its shares are not computed: counted as a
//! coverage warning rather than computed from part of the workforce.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{Date32Array, Float64Array, Int64Array, StringArray};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{column, date_values, f64_values, text_values};
use eqpipe_workforce_representation::{Comparator, NOT_DISCLOSED, population, read_census};
use serde::Deserialize;

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The Census population each organisation is compared with, by the
    /// organisation's name as published; `"*"` for every other one. The
    /// areas' tables must be in `census_counts`.
    #[serde(default)]
    pub comparators: BTreeMap<String, Comparator>,
    /// Characteristics to report, as `workforce-representation` names them
    /// (default sex, ethnic_group_broad, ethnic_group, disability).
    #[serde(default)]
    pub characteristics: Vec<String>,
}

/// The plugin.
pub struct WorkforceBenchmark {
    options: Options,
    characteristics: Vec<&'static str>,
}

/// The format's (characteristic, category level) as the representation
/// indicator names it.
pub fn characteristic_of(format: &str, level: u8) -> Option<&'static str> {
    Some(match (format, level) {
        ("gender", 1) => "sex",
        ("ethnicity", 1) => "ethnic_group_broad",
        ("ethnicity", 2) => "ethnic_group",
        ("disability", 1) => "disability",
        ("religion", 1) => "religion",
        ("sexual_orientation", 1) => "sexual_orientation",
        ("gender_identity", 1) => "gender_identity",
        ("age", 1) => "age_band",
        _ => return None,
    })
}

const KNOWN: [&str; 8] = [
    "sex",
    "ethnic_group_broad",
    "ethnic_group",
    "disability",
    "religion",
    "sexual_orientation",
    "gender_identity",
    "age_band",
];

/// Answers that say nothing about the characteristic.
fn undisclosed(label: &str) -> bool {
    matches!(label, "prefer_not_to_say" | "not_stated")
}

/// One return of one organisation or division.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    published: i32,
    precision: Option<String>,
    organisation: String,
    division: Option<String>,
}

/// Shares of one characteristic in one return.
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// Employees with a known answer (`None` when a cell was withheld).
    pub stated: Option<i64>,
    /// Category -> (count, share %): known categories, then `not_disclosed`.
    pub categories: Vec<(String, Option<i64>, Option<f64>)>,
}

/// Shares of one characteristic from its category counts (`None` for a
/// withheld cell).
pub fn shares(counts: &BTreeMap<String, Option<i64>>) -> Shares {
    let withheld = counts.values().any(Option::is_none);
    let stated: i64 = counts
        .iter()
        .filter(|(l, _)| !undisclosed(l))
        .filter_map(|(_, c)| *c)
        .sum();
    let hidden: i64 = counts
        .iter()
        .filter(|(l, _)| undisclosed(l))
        .filter_map(|(_, c)| *c)
        .sum();
    let pct = |n: i64, of: i64| (of > 0 && !withheld).then(|| n as f64 * 100.0 / of as f64);
    let mut categories: Vec<(String, Option<i64>, Option<f64>)> = counts
        .iter()
        .filter(|(l, _)| !undisclosed(l))
        .map(|(l, c)| (l.clone(), *c, c.and_then(|c| pct(c, stated))))
        .collect();
    if counts.keys().any(|l| undisclosed(l)) {
        categories.push((
            NOT_DISCLOSED.to_string(),
            Some(hidden),
            pct(hidden, stated + hidden),
        ));
    }
    Shares {
        stated: (!withheld).then_some(stated),
        categories,
    }
}

/// The calendar year of a day counted from 1970-01-01.
pub fn year_of(days: i32) -> i32 {
    use chrono::Datelike as _;
    chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163).map_or(1970, |d| d.year())
}

/// The median of some shares.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

struct Row {
    unit: Unit,
    characteristic: &'static str,
    category: String,
    count: Option<i64>,
    stated: Option<i64>,
    share: Option<f64>,
    area: Option<(String, String, String, Option<f64>)>,
    peers: i64,
    peer_median: Option<f64>,
    rank: Option<i64>,
}

impl IndicatorPlugin for WorkforceBenchmark {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("workforce-benchmark", env!("CARGO_PKG_VERSION"))
            .description("Organisations' published workforce profiles against each other and their area's Census population")
            .consumes("workforce_counts")
            .consumes_optional("census_counts")
            .produces("workforce_benchmark")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let characteristics = if options.characteristics.is_empty() {
            vec!["sex", "ethnic_group_broad", "ethnic_group", "disability"]
        } else {
            options
                .characteristics
                .iter()
                .map(|c| {
                    KNOWN.iter().copied().find(|k| k == c).ok_or_else(|| {
                        PluginError::config(format!(
                            "unknown characteristic `{c}` (known: {})",
                            KNOWN.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        Ok(WorkforceBenchmark {
            options,
            characteristics,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // Return -> characteristic -> category -> count.
        type Counts = BTreeMap<Unit, BTreeMap<&'static str, BTreeMap<String, Option<i64>>>>;
        let mut counts: Counts = BTreeMap::new();
        for batch in ctx.open_input("workforce_counts")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "workforce_counts", n);
            let published = date_values(c("published")?.as_ref())?;
            let precision = text_values(c("published_precision")?.as_ref())?;
            let org = text_values(c("organisation")?.as_ref())?;
            let division = text_values(c("division")?.as_ref())?;
            let characteristic = text_values(c("characteristic")?.as_ref())?;
            let label = text_values(c("category_label")?.as_ref())?;
            let level = f64_values(c("category_level")?.as_ref())?;
            let count = f64_values(c("count")?.as_ref())?;
            for i in 0..b.num_rows() {
                let Some(ch) = characteristic_of(&characteristic[i], level[i].unwrap_or(0.0) as u8)
                else {
                    continue;
                };
                if !self.characteristics.contains(&ch) {
                    continue;
                }
                let Some(day) = published[i] else { continue };
                let unit = Unit {
                    published: day,
                    precision: (!precision[i].is_empty()).then(|| precision[i].clone()),
                    organisation: org[i].clone(),
                    division: (!division[i].is_empty()).then(|| division[i].clone()),
                };
                counts
                    .entry(unit)
                    .or_default()
                    .entry(ch)
                    .or_default()
                    .insert(label[i].clone(), count[i].map(|c| c as i64));
            }
        }
        if counts.is_empty() {
            return Err(PluginError::data(format!(
                "workforce_counts has no counts for {}",
                self.characteristics.join(", ")
            )));
        }

        // Each organisation's comparator population.
        let orgs: BTreeSet<&str> = counts.keys().map(|u| u.organisation.as_str()).collect();
        let comparator_of = |org: &str| {
            self.options
                .comparators
                .get(org)
                .or_else(|| self.options.comparators.get("*"))
        };
        let areas: BTreeSet<&str> = orgs
            .iter()
            .filter_map(|o| comparator_of(o).map(|c| c.area.as_str()))
            .collect();
        // (An optional input with no data reads as no rows.)
        let (census, area_names) = if areas.is_empty() {
            Default::default()
        } else {
            read_census(ctx, &areas)?
        };
        let mut no_comparator = 0u64;
        let mut census_pct: BTreeMap<&str, BTreeMap<&str, BTreeMap<String, f64>>> = BTreeMap::new();
        for org in &orgs {
            let Some(cmp) = comparator_of(org) else {
                no_comparator += 1;
                continue;
            };
            let rows = census.get(&cmp.area).map(Vec::as_slice).unwrap_or(&[]);
            let pop = population(cmp, rows, &self.characteristics);
            let by_ch = census_pct.entry(org).or_default();
            for (ch, cats) in pop {
                let total: f64 = cats.values().sum();
                if total <= 0.0 {
                    continue;
                }
                let Some(ch) = self.characteristics.iter().copied().find(|c| *c == ch) else {
                    continue;
                };
                by_ch.insert(
                    ch,
                    cats.into_iter()
                        .map(|(k, v)| (k, v * 100.0 / total))
                        .collect(),
                );
            }
        }
        if no_comparator > 0 {
            ctx.coverage_warning(
                Some("workforce_benchmark"),
                "organisations with no comparator area (set comparators.<organisation> or comparators.\"*\")",
                no_comparator,
                Some(orgs.len() as u64),
            );
        }

        let mut rows = Vec::new();
        let (mut withheld, mut profiles) = (0u64, 0u64);
        for (unit, by_ch) in &counts {
            for (ch, cats) in by_ch {
                profiles += 1;
                let s = shares(cats);
                if s.stated.is_none() {
                    withheld += 1;
                }
                let cmp = comparator_of(&unit.organisation);
                for (category, count, share) in s.categories {
                    let area = cmp.map(|c| {
                        let pct = census_pct
                            .get(unit.organisation.as_str())
                            .and_then(|m| m.get(ch))
                            .and_then(|m| m.get(&category))
                            .copied();
                        (
                            c.area.clone(),
                            area_names.get(&c.area).cloned().unwrap_or_default(),
                            c.population(),
                            pct,
                        )
                    });
                    rows.push(Row {
                        unit: unit.clone(),
                        characteristic: ch,
                        category,
                        count,
                        stated: s.stated,
                        share,
                        area,
                        peers: 0,
                        peer_median: None,
                        rank: None,
                    });
                }
            }
        }
        if withheld > 0 {
            ctx.coverage_warning(
                Some("workforce_benchmark"),
                "characteristics of a return with a withheld cell: shares not computed",
                withheld,
                Some(profiles),
            );
        }
        // Peers: organisation-level returns of the same year.
        let year = |d: i32| year_of(d) as i64;
        let mut groups: BTreeMap<(i64, &'static str, String), Vec<usize>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            if r.unit.division.is_none() && r.share.is_some() {
                groups
                    .entry((year(r.unit.published), r.characteristic, r.category.clone()))
                    .or_default()
                    .push(i);
            }
        }
        for members in groups.values() {
            let mut values: Vec<f64> = members.iter().filter_map(|&i| rows[i].share).collect();
            let m = median(&mut values);
            for &i in members {
                let me = rows[i].share.expect("grouped with a share");
                let above = members
                    .iter()
                    .filter(|&&j| rows[j].share.is_some_and(|s| s > me))
                    .count();
                rows[i].peers = members.len() as i64;
                rows[i].peer_median = m;
                rows[i].rank = Some(above as i64 + 1);
            }
        }
        ctx.info(&format!(
            "{} figures for {} returns of {} organisations",
            rows.len(),
            counts.len(),
            orgs.len()
        ));
        let batch = to_batch(&rows)?;
        ctx.emit_batches("workforce_benchmark", batch.schema(), vec![batch])
    }
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch, PluginError> {
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    let schema = Arc::new(Schema::new(vec![
        f("published", DataType::Date32),
        f("published_precision", DataType::Utf8),
        f("organisation", DataType::Utf8),
        f("division", DataType::Utf8),
        f("characteristic", DataType::Utf8),
        f("category", DataType::Utf8),
        f("count", DataType::Int64),
        f("stated_total", DataType::Int64),
        f("share", DataType::Float64),
        f("area_code", DataType::Utf8),
        f("area_name", DataType::Utf8),
        f("area_population", DataType::Utf8),
        f("census_share", DataType::Float64),
        f("representation_ratio", DataType::Float64),
        f("peers", DataType::Int64),
        f("peer_median_share", DataType::Float64),
        f("difference_from_peer_median", DataType::Float64),
        f("share_rank", DataType::Int64),
    ]));
    let text = |g: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(g)))
    };
    let ratio = |r: &Row| match (r.share, r.area.as_ref().and_then(|a| a.3)) {
        (Some(s), Some(c)) if c > 0.0 => Some(s / c),
        _ => None,
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.unit.published),
        )),
        text(&|r| r.unit.precision.clone()),
        text(&|r| Some(r.unit.organisation.clone())),
        text(&|r| r.unit.division.clone()),
        text(&|r| Some(r.characteristic.to_string())),
        text(&|r| Some(r.category.clone())),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.count))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.stated))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.share))),
        text(&|r| r.area.as_ref().map(|a| a.0.clone())),
        text(&|r| {
            r.area
                .as_ref()
                .map(|a| a.1.clone())
                .filter(|n| !n.is_empty())
        }),
        text(&|r| r.area.as_ref().map(|a| a.2.clone())),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.area.as_ref().and_then(|a| a.3)),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(ratio))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.peers))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.peer_median))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            match (r.share, r.peer_median) {
                (Some(s), Some(m)) => Some(s - m),
                _ => None,
            }
        }))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.rank))),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: WorkforceBenchmark);

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(v: &[(&str, Option<i64>)]) -> BTreeMap<String, Option<i64>> {
        v.iter().map(|(l, c)| (l.to_string(), *c)).collect()
    }

    #[test]
    fn shares_leave_unknown_answers_out_of_the_denominator() {
        let s = shares(&cats(&[
            ("F", Some(600)),
            ("M", Some(300)),
            ("prefer_not_to_say", Some(60)),
            ("not_stated", Some(40)),
        ]));
        assert_eq!(s.stated, Some(900));
        assert_eq!(
            s.categories,
            vec![
                ("F".into(), Some(600), Some(600.0 * 100.0 / 900.0)),
                ("M".into(), Some(300), Some(300.0 * 100.0 / 900.0)),
                (NOT_DISCLOSED.into(), Some(100), Some(10.0)),
            ]
        );
    }

    #[test]
    fn a_withheld_cell_leaves_the_characteristic_without_shares() {
        let s = shares(&cats(&[
            ("White", Some(900)),
            ("Asian, Asian British or Asian Welsh", None),
        ]));
        assert_eq!(s.stated, None);
        assert!(s.categories.iter().all(|c| c.2.is_none()));
    }

    #[test]
    fn medians_and_characteristics() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        // 2024-01-01 and 2024-12-31 are in 2024, 2023-12-31 is not.
        assert_eq!(
            (year_of(19723), year_of(20088), year_of(19722)),
            (2024, 2024, 2023)
        );
        assert_eq!(characteristic_of("ethnicity", 2), Some("ethnic_group"));
        assert_eq!(characteristic_of("gender", 0), None);
    }
}
