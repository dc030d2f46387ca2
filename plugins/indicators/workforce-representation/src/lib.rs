//! `workforce-representation`: does the workforce look like the population
//! it serves? For each snapshot and characteristic (sex, ethnic group broad
//! and detailed, disability, religion, sexual orientation, gender identity,
//! age band), over the whole organisation, each grade band and the senior
//! grades: each category's count and share, against each comparator
//! population from the Census, with the representation ratio, the difference
//! in percentage points and the change since the previous snapshot.
//!
//! Method (see `../shared/docs/methodology.md`, "Representation"):
//! - share = category count / employees who stated the characteristic × 100;
//!   those who did not (not stated, prefer not to say, unmapped) are one
//!   `not_disclosed` row whose share is of the whole headcount (the
//!   disclosure rate).
//! - comparator share = the population's count in the category / the
//!   population with a stated answer (the Census "Not answered" is left out
//!   of the denominator like the workforce's not disclosed), from the
//!   comparator area's own table (ONS perturbs cells, so each table's own
//!   sum is used).
//! - representation ratio = share / comparator share (1 = represented in
//!   proportion; below 1 = under-represented).
//! - A comparator may be restricted to ages (`ages = [16, 64]`): only Census
//!   cells whose age part (from a table with an age dimension, such as an
//!   `ons-api` query `ethnic_group_tb_6a,resident_age_6a`) lies within the
//!   range count. Cells that straddle the range or a band are not used, and
//!   a band that cannot be built exactly has no comparator.
//!
//! Disclosure control is the host's: this plugin emits every count.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{
    BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{bool_values, column, date_values, f64_values, text_values};
use serde::Deserialize;

/// The characteristics, their workforce column and default Census table.
pub const CHARACTERISTICS: [(&str, &str, &str); 8] = [
    ("sex", "sex", "TS008"),
    ("ethnic_group_broad", "ethnic_group_broad", "TS021"),
    ("ethnic_group", "ethnic_group", "TS021"),
    ("disability", "disability", "TS038"),
    ("religion", "religion", "TS030"),
    ("sexual_orientation", "sexual_orientation", "TS077"),
    ("gender_identity", "gender_identity", "TS078"),
    ("age_band", "age_band", "TS007"),
];

/// Workforce age bands (inclusive years).
pub const AGE_BANDS: [(&str, u32, u32); 5] = [
    ("16-24", 16, 24),
    ("25-34", 25, 34),
    ("35-49", 35, 49),
    ("50-64", 50, 64),
    ("65+", 65, 200),
];

use eqpipe_plugin_sdk::UNDISCLOSED;
/// Category label of the disclosure-rate row.
pub const NOT_DISCLOSED: &str = "not_disclosed";

/// One comparator population.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparator {
    /// Area code (e.g. `E08000003`); the area's tables must be in
    /// `census_counts`.
    pub area: String,
    /// What the population is, as printed (`All residents`,
    /// `Residents aged 16-64`); default from `ages`.
    #[serde(default)]
    pub population: Option<String>,
    /// Only Census cells of these ages (inclusive), e.g. `[16, 64]`.
    #[serde(default)]
    pub ages: Option<[u32; 2]>,
    /// Characteristic -> `table_code` in `census_counts`, for any that
    /// differ from the defaults (TS008, TS021, TS038, TS030, TS077, TS078,
    /// TS007).
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
}

impl Comparator {
    /// What the population is, as printed (`All residents`, `Residents aged
    /// 16-64`).
    pub fn population(&self) -> String {
        match (&self.population, self.ages) {
            (Some(p), _) => p.clone(),
            (None, Some([lo, hi])) => format!("Residents aged {lo}-{hi}"),
            (None, None) => "All residents".into(),
        }
    }

    fn table(&self, characteristic: &str) -> String {
        self.tables.get(characteristic).cloned().unwrap_or_else(|| {
            CHARACTERISTICS
                .iter()
                .find(|c| c.0 == characteristic)
                .map(|c| c.2.to_string())
                .unwrap_or_default()
        })
    }
}

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Populations to compare with.
    #[serde(default)]
    pub comparators: Vec<Comparator>,
    /// Characteristics to report (default all eight).
    #[serde(default)]
    pub characteristics: Vec<String>,
    /// Also report each grade band (default true).
    #[serde(default = "yes")]
    pub by_grade: bool,
}

fn yes() -> bool {
    true
}

/// The plugin.
pub struct Representation {
    options: Options,
    characteristics: Vec<(&'static str, &'static str)>,
}

/// Parses a Census age label into an inclusive range of years.
pub fn age_range(label: &str) -> Option<(u32, u32)> {
    let l = label.trim().to_ascii_lowercase();
    let rest = l.strip_prefix("aged ")?;
    let num = |s: &str| s.trim().parse::<u32>().ok();
    if let Some(r) = rest.strip_prefix("under ") {
        let n = num(r.trim_end_matches(" years").trim_end_matches(" year"))?;
        return Some((0, n.checked_sub(1)?));
    }
    let r = rest
        .trim_end_matches(" and over")
        .trim_end_matches(" and under");
    let r = r.trim_end_matches(" years").trim_end_matches(" year");
    if let Some((a, b)) = r.split_once(" to ") {
        return Some((num(a)?, num(b)?));
    }
    let n = num(r)?;
    if rest.ends_with("and over") {
        Some((n, 200))
    } else if rest.ends_with("and under") {
        Some((0, n))
    } else {
        Some((n, n))
    }
}

/// The workforce category a Census label counts towards, if any.
pub fn census_category(characteristic: &str, label: &str) -> Option<String> {
    let l = label.trim();
    if l.starts_with("Total") || l == "Not answered" || l == "Does not apply" {
        return None;
    }
    let same = |s: &str| Some(s.to_string());
    match characteristic {
        "sex" => match l {
            "Female" => same("F"),
            "Male" => same("M"),
            _ => None,
        },
        "ethnic_group_broad" => (!l.contains(": ")).then(|| l.to_string()),
        "ethnic_group" => l.contains(": ").then(|| l.to_string()),
        "disability" => match l {
            "Disabled under the Equality Act" => same("disabled"),
            "Not disabled under the Equality Act" => same("not_disabled"),
            _ => None,
        },
        "gender_identity" => match l {
            "Gender identity the same as sex registered at birth" => same(l),
            "Gender identity different from sex registered at birth but no specific identity given"
            | "Trans woman"
            | "Trans man"
            | "All other gender identities" => {
                same("Gender identity different from sex registered at birth")
            }
            _ => None,
        },
        "age_band" => {
            let (lo, hi) = age_range(l)?;
            AGE_BANDS
                .iter()
                .find(|b| lo >= b.1 && hi <= b.2)
                .map(|b| b.0.to_string())
                // A cell straddling a band boundary (15-19 against 16-24).
                .or_else(|| (hi >= 16).then(|| STRADDLES.to_string()))
        }
        _ => (!l.contains(": ")).then(|| l.to_string()),
    }
}

const STRADDLES: &str = "\u{0}straddles";

/// The `census_counts` cells of some areas (by area code), and their names.
pub type AreaCells = (HashMap<String, Vec<CensusRow>>, HashMap<String, String>);

/// The `census_counts` cells of the given areas, by area, and the areas'
/// names.
pub fn read_census(ctx: &Context, areas: &BTreeSet<&str>) -> Result<AreaCells, PluginError> {
    let mut census: HashMap<String, Vec<CensusRow>> = HashMap::new();
    let mut area_names: HashMap<String, String> = HashMap::new();
    for batch in ctx.open_input("census_counts")? {
        ctx.check_cancelled()?;
        let b = batch?;
        let col = |n: &str| column(&b, "census_counts", n);
        let codes = text_values(col("area_code")?.as_ref())?;
        let keep: Vec<usize> = (0..b.num_rows())
            .filter(|&i| areas.contains(codes[i].as_str()))
            .collect();
        if keep.is_empty() {
            continue;
        }
        let names = text_values(col("area_name")?.as_ref())?;
        let tables = text_values(col("table_code")?.as_ref())?;
        let labels = text_values(col("category_label")?.as_ref())?;
        let parents = text_values(col("parent_label")?.as_ref())?;
        let counts = f64_values(col("count")?.as_ref())?;
        for i in keep {
            area_names
                .entry(codes[i].clone())
                .or_insert_with(|| names[i].clone());
            census.entry(codes[i].clone()).or_default().push((
                tables[i].clone(),
                labels[i].clone(),
                parents[i].clone(),
                counts[i].unwrap_or(0.0) as i64,
            ));
        }
    }
    Ok((census, area_names))
}

/// A comparator's population counts by characteristic and category.
pub type Population = HashMap<String, BTreeMap<String, f64>>;

/// A Census cell of a comparator area: table, label, parent label, count.
pub type CensusRow = (String, String, String, i64);

/// Builds one comparator's counts from its census rows.
/// A characteristic is left out when its table is missing or cannot be cut
/// exactly to the comparator's ages or to the workforce age bands.
pub fn population(cmp: &Comparator, rows: &[CensusRow], characteristics: &[&str]) -> Population {
    let mut out: Population = HashMap::new();
    for ch in characteristics {
        let table = cmp.table(ch);
        let mut cats: BTreeMap<String, f64> = BTreeMap::new();
        let mut exact = true;
        // Ages come in bands with single years beneath them (TS007): only
        // the finest cells are used, so nothing is counted twice.
        let parents: BTreeSet<&str> = rows
            .iter()
            .filter(|r| r.0 == table)
            .map(|r| r.2.as_str())
            .collect();
        for (_, label, _, count) in rows.iter().filter(|r| r.0 == table) {
            if *ch == "age_band" && parents.contains(label.as_str()) {
                continue;
            }
            let parts: Vec<&str> = label.split("; ").collect();
            let (cat_part, age) = match parts.as_slice() {
                [one] => (*one, (*ch == "age_band").then(|| age_range(one)).flatten()),
                [a, b] => match (age_range(a), age_range(b)) {
                    (Some(x), None) => (*b, Some(x)),
                    (None, Some(x)) => (*a, Some(x)),
                    _ => continue,
                },
                _ => continue,
            };
            let Some(category) = census_category(ch, cat_part) else {
                continue;
            };
            if let Some([lo, hi]) = cmp.ages {
                match age {
                    Some((a, b)) if a >= lo && b <= hi => {}
                    Some((a, b)) if b < lo || a > hi => continue,
                    // Straddles the range, or no age at all: not exact.
                    _ => {
                        exact = false;
                        continue;
                    }
                }
            }
            if category == STRADDLES {
                exact = false;
                continue;
            }
            *cats.entry(category).or_default() += *count as f64;
        }
        if exact && !cats.is_empty() {
            out.insert(ch.to_string(), cats);
        }
    }
    out
}

/// One employee as this indicator sees them.
struct Person {
    grade_band: String,
    senior: bool,
    values: Vec<String>,
}

/// A comparator as printed in a row: area, its name, population, percent.
type Compared = (String, String, String, Option<f64>);
/// (characteristic index, scope, scope value, category).
type CellKey = (usize, &'static str, String, String);

struct Row {
    snapshot: i32,
    characteristic: &'static str,
    scope: &'static str,
    scope_value: String,
    category: String,
    count: i64,
    stated_total: i64,
    headcount: i64,
    share: Option<f64>,
    comparator: Option<Compared>,
    previous: Option<(i64, Option<f64>)>,
}

impl IndicatorPlugin for Representation {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("workforce-representation", env!("CARGO_PKG_VERSION"))
            .description("Workforce share of each group, overall, by grade band and at senior level, against Census populations")
            .consumes("workforce")
            .consumes("census_counts")
            .produces("workforce_representation")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let characteristics = if options.characteristics.is_empty() {
            CHARACTERISTICS.iter().map(|c| (c.0, c.1)).collect()
        } else {
            options
                .characteristics
                .iter()
                .map(|want| {
                    CHARACTERISTICS
                        .iter()
                        .find(|c| c.0 == want)
                        .map(|c| (c.0, c.1))
                        .ok_or_else(|| {
                            PluginError::config(format!(
                                "unknown characteristic `{want}` (known: {})",
                                CHARACTERISTICS.map(|c| c.0).join(", ")
                            ))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        for c in &options.comparators {
            if let Some([lo, hi]) = c.ages
                && lo > hi
            {
                return Err(PluginError::config(format!(
                    "comparator {}: ages [{lo}, {hi}] is empty",
                    c.area
                )));
            }
        }
        Ok(Representation {
            options,
            characteristics,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let names: Vec<&str> = self.characteristics.iter().map(|c| c.0).collect();
        // Census rows of the comparator areas.
        let areas: BTreeSet<&str> = self
            .options
            .comparators
            .iter()
            .map(|c| c.area.as_str())
            .collect();
        let (census, area_names) = read_census(ctx, &areas)?;
        let mut populations = Vec::new();
        for c in &self.options.comparators {
            let rows = census.get(&c.area).map(Vec::as_slice).unwrap_or(&[]);
            let pop = population(c, rows, &names);
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !pop.contains_key(*n))
                .collect();
            if rows.is_empty() {
                ctx.coverage_warning(
                    Some("workforce_representation"),
                    &format!(
                        "comparator area {} has no rows in census_counts (load its geography level): characteristics not compared",
                        c.area
                    ),
                    names.len() as u64,
                    Some(names.len() as u64),
                );
            } else if !missing.is_empty() {
                ctx.coverage_warning(
                    Some("workforce_representation"),
                    &format!(
                        "comparator {} ({}): characteristics with no usable Census table, not compared ({})",
                        c.area,
                        c.population(),
                        missing.join(", ")
                    ),
                    missing.len() as u64,
                    Some(names.len() as u64),
                );
            }
            let name = area_names
                .get(&c.area)
                .cloned()
                .unwrap_or_else(|| c.area.clone());
            populations.push((c, name, pop));
        }
        if self.options.comparators.is_empty() {
            ctx.warn("no comparators configured: shares are reported without a population to compare with");
        }

        // Workforce by snapshot.
        let mut staff: BTreeMap<i32, Vec<Person>> = BTreeMap::new();
        for batch in ctx.open_input("workforce")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let col = |n: &str| column(&b, "workforce", n);
            let snap = date_values(col("snapshot_date")?.as_ref())?;
            let leaver = date_values(col("leaver_date")?.as_ref())?;
            let grade = text_values(col("grade_band")?.as_ref())?;
            let senior = bool_values(col("senior")?.as_ref())?;
            let values: Vec<Vec<String>> = self
                .characteristics
                .iter()
                .map(|(_, c)| text_values(col(c)?.as_ref()))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let Some(s) = snap[i] else { continue };
                if leaver[i].is_some_and(|l| l < s) {
                    continue;
                }
                staff.entry(s).or_default().push(Person {
                    grade_band: grade[i].clone(),
                    senior: senior[i] == Some(true),
                    values: values.iter().map(|v| v[i].clone()).collect(),
                });
            }
        }
        if staff.is_empty() {
            return Err(PluginError::data("the workforce data has no employees"));
        }

        let mut rows: Vec<Row> = Vec::new();
        // (characteristic, scope, scope_value, category) -> (count, share) at the previous snapshot.
        let mut previous: HashMap<CellKey, (i64, Option<f64>)> = HashMap::new();
        for (snapshot, people) in &staff {
            let mut scopes: Vec<(&'static str, String, Vec<&Person>)> =
                vec![("organisation", "all".into(), people.iter().collect())];
            if self.options.by_grade {
                let mut grades: BTreeMap<&str, Vec<&Person>> = BTreeMap::new();
                for p in people {
                    grades.entry(p.grade_band.as_str()).or_default().push(p);
                }
                scopes.extend(
                    grades
                        .into_iter()
                        .map(|(g, v)| ("grade_band", g.to_string(), v)),
                );
            }
            scopes.push((
                "senior",
                "senior".into(),
                people.iter().filter(|p| p.senior).collect(),
            ));
            let mut current = HashMap::new();
            for (ci, (ch, _)) in self.characteristics.iter().enumerate() {
                // Categories: every stated answer seen, and every comparator category.
                let mut categories: BTreeSet<String> = staff
                    .values()
                    .flatten()
                    .map(|p| p.values[ci].clone())
                    .filter(|v| !UNDISCLOSED.contains(&v.as_str()))
                    .collect();
                for (_, _, pop) in &populations {
                    if let Some(p) = pop.get(*ch) {
                        categories.extend(p.keys().cloned());
                    }
                }
                for (scope, scope_value, members) in &scopes {
                    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
                    let mut undisclosed = 0i64;
                    for p in members {
                        let v = p.values[ci].as_str();
                        if UNDISCLOSED.contains(&v) {
                            undisclosed += 1;
                        } else {
                            *counts.entry(v).or_default() += 1;
                        }
                    }
                    let headcount = members.len() as i64;
                    let stated = headcount - undisclosed;
                    let mut cells: Vec<(String, i64, Option<f64>, bool)> = categories
                        .iter()
                        .map(|c| {
                            let n = counts.get(c.as_str()).copied().unwrap_or(0);
                            (
                                c.clone(),
                                n,
                                (stated > 0).then(|| n as f64 * 100.0 / stated as f64),
                                true,
                            )
                        })
                        .collect();
                    cells.push((
                        NOT_DISCLOSED.into(),
                        undisclosed,
                        (headcount > 0).then(|| undisclosed as f64 * 100.0 / headcount as f64),
                        false,
                    ));
                    for (category, count, share, compare) in cells {
                        let key = (ci, *scope, scope_value.clone(), category.clone());
                        let prev = previous.get(&key).copied();
                        current.insert(key, (count, share));
                        let comparators: Vec<Option<Compared>> = if populations.is_empty() {
                            vec![None]
                        } else {
                            populations
                                .iter()
                                .map(|(c, name, pop)| {
                                    let pct =
                                        compare.then(|| pop.get(*ch)).flatten().and_then(|p| {
                                            let total: f64 = p.values().sum();
                                            (total > 0.0).then(|| {
                                                p.get(&category).copied().unwrap_or(0.0) * 100.0
                                                    / total
                                            })
                                        });
                                    Some((c.area.clone(), name.clone(), c.population(), pct))
                                })
                                .collect()
                        };
                        for comparator in comparators {
                            rows.push(Row {
                                snapshot: *snapshot,
                                characteristic: ch,
                                scope,
                                scope_value: scope_value.clone(),
                                category: category.clone(),
                                count,
                                stated_total: stated,
                                headcount,
                                share,
                                comparator,
                                previous: prev,
                            });
                        }
                    }
                }
            }
            previous = current;
        }
        ctx.info(&format!(
            "{} representation rows over {} snapshots",
            rows.len(),
            staff.len()
        ));
        let batch = to_batch(&rows)?;
        ctx.emit_batches("workforce_representation", batch.schema(), vec![batch])
    }
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch, PluginError> {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let i = |n: &str| Field::new(n, DataType::Int64, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("snapshot_date", DataType::Date32, false),
        s("characteristic", false),
        s("scope", false),
        s("scope_value", false),
        s("category", false),
        i("count"),
        i("stated_total"),
        i("headcount"),
        f("share_pct"),
        s("comparator_area", true),
        s("comparator_name", true),
        s("comparator_population", true),
        f("comparator_pct"),
        f("representation_ratio"),
        f("difference_pp"),
        i("previous_count"),
        f("change_pp"),
        Field::new("suppressed", DataType::Boolean, false),
    ]));
    fn cmp(r: &Row) -> Option<&Compared> {
        r.comparator.as_ref()
    }
    let cmp_pct = |r: &Row| cmp(r).and_then(|c| c.3);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.snapshot),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.characteristic),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.scope))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.scope_value.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.category.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.count))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.stated_total),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.headcount),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.share))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| cmp(r).map(|c| c.0.as_str())),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| cmp(r).map(|c| c.1.as_str())),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| cmp(r).map(|c| c.2.as_str())),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(cmp_pct))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            match (r.share, cmp_pct(r)) {
                (Some(s), Some(c)) if c > 0.0 => Some(s / c),
                _ => None,
            }
        }))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            match (r.share, cmp_pct(r)) {
                (Some(s), Some(c)) => Some(s - c),
                _ => None,
            }
        }))),
        Arc::new(Int64Array::from_iter(
            rows.iter().map(|r| r.previous.map(|p| p.0)),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            match (r.share, r.previous) {
                (Some(s), Some((_, Some(p)))) => Some(s - p),
                _ => None,
            }
        }))),
        Arc::new(BooleanArray::from(vec![false; rows.len()])),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: Representation);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn census_age_labels() {
        assert_eq!(age_range("Aged 16 years"), Some((16, 16)));
        assert_eq!(age_range("Aged under 1 year"), Some((0, 0)));
        assert_eq!(age_range("Aged 1 year"), Some((1, 1)));
        assert_eq!(age_range("Aged 16 to 24 years"), Some((16, 24)));
        assert_eq!(age_range("Aged 4 years and under"), Some((0, 4)));
        assert_eq!(age_range("Aged 15 years and under"), Some((0, 15)));
        assert_eq!(age_range("Aged 85 years and over"), Some((85, 200)));
        assert_eq!(age_range("Aged 100 years and over"), Some((100, 200)));
        assert_eq!(age_range("Total"), None);
        assert_eq!(age_range("Asian"), None);
    }

    fn rows(v: &[(&str, &str, i64)]) -> Vec<CensusRow> {
        v.iter()
            .map(|(t, l, c)| {
                let parent = if l.starts_with("Total") { "" } else { "Total" };
                (t.to_string(), l.to_string(), parent.to_string(), *c)
            })
            .collect()
    }

    fn cmp(ages: Option<[u32; 2]>, tables: &[(&str, &str)]) -> Comparator {
        Comparator {
            area: "E08000003".into(),
            population: None,
            ages,
            tables: tables
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn all_residents_from_single_variable_tables() {
        let census = rows(&[
            ("TS008", "All persons", 100),
            ("TS008", "Female", 52),
            ("TS008", "Male", 48),
            ("TS030", "Total: All usual residents", 100),
            ("TS030", "Christian", 40),
            ("TS030", "No religion", 50),
            ("TS030", "Not answered", 10),
            (
                "TS078",
                "Gender identity the same as sex registered at birth",
                90,
            ),
            ("TS078", "Trans woman", 1),
            ("TS078", "Trans man", 2),
            ("TS078", "Not answered", 7),
        ]);
        let p = population(
            &cmp(None, &[]),
            &census,
            &["sex", "religion", "gender_identity", "age_band"],
        );
        assert_eq!(p["sex"]["F"], 52.0);
        // Not answered is not a category; the denominator is the stated 90.
        assert_eq!(p["religion"].values().sum::<f64>(), 90.0);
        assert_eq!(
            p["gender_identity"]["Gender identity different from sex registered at birth"],
            3.0
        );
        assert!(!p.contains_key("age_band"), "no TS007 loaded");
    }

    #[test]
    fn an_age_restricted_comparator_uses_only_cells_inside_the_range() {
        let census = rows(&[
            (
                "UR/eth,age",
                "Asian, Asian British or Asian Welsh; Aged 15 years and under",
                30,
            ),
            (
                "UR/eth,age",
                "Asian, Asian British or Asian Welsh; Aged 16 to 24 years",
                20,
            ),
            (
                "UR/eth,age",
                "Asian, Asian British or Asian Welsh; Aged 50 to 64 years",
                10,
            ),
            ("UR/eth,age", "White; Aged 16 to 24 years", 40),
            ("UR/eth,age", "White; Aged 65 years and over", 90),
            ("TS007", "Aged 15 years", 5),
            ("TS007", "Aged 16 years", 6),
            ("TS007", "Aged 24 years", 4),
            ("TS007", "Aged 30 years", 10),
            ("TS007", "Aged 70 years", 50),
        ]);
        let c = cmp(Some([16, 64]), &[("ethnic_group_broad", "UR/eth,age")]);
        let p = population(&c, &census, &["ethnic_group_broad", "age_band"]);
        assert_eq!(
            p["ethnic_group_broad"]["Asian, Asian British or Asian Welsh"],
            30.0
        );
        assert_eq!(p["ethnic_group_broad"]["White"], 40.0);
        assert_eq!(p["age_band"]["16-24"], 10.0);
        assert_eq!(p["age_band"]["25-34"], 10.0);
        assert!(!p["age_band"].contains_key("65+"));
        // Bands above single years (TS007): only the single years count.
        let mut nested = census.clone();
        nested.push((
            "TS007".into(),
            "Aged 15 to 19 years".into(),
            "Total".into(),
            11,
        ));
        for r in nested.iter_mut().filter(|r| r.1 == "Aged 16 years") {
            r.2 = "Aged 15 to 19 years".into();
        }
        let p = population(&c, &nested, &["age_band"]);
        assert_eq!(p["age_band"]["16-24"], 10.0);
        // Five-year bands: 15-19 straddles 16-24, so no age comparator.
        let p = population(
            &cmp(None, &[("age_band", "TS007A")]),
            &rows(&[
                ("TS007A", "Aged 15 to 19 years", 5),
                ("TS007A", "Aged 20 to 24 years", 5),
            ]),
            &["age_band"],
        );
        assert!(!p.contains_key("age_band"));
    }
}
