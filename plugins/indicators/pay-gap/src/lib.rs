//! `pay-gap`: the statutory gender pay gap, and the ethnicity and disability
//! pay gaps, from the pseudonymised `workforce` dataset.
//!
//! One row per snapshot, dimension, measure and group, in long form. The
//! measures and their method are documented in [`calc`]. Values are kept
//! raw here; the host publishes them rounded to one decimal place (the
//! contract's `decimals`) after disclosure control, and keeps the raw rows
//! under the restricted root.

pub mod calc;

use std::collections::BTreeMap;
use std::sync::Arc;

use calc::{Comparison, Dimension, Employee};
use eqpipe_plugin_sdk::arrow_array::{BooleanArray, Date32Array, Float64Array, StringArray};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{Interner, TextColumn, bool_values, column, date_values, f64_values};
use serde::Deserialize;

/// Which pay gap to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    /// Women against men (the statutory gap).
    Sex,
    /// Each ethnic minority group, and all combined, against White British.
    Ethnicity,
    /// Disabled against non-disabled employees.
    Disability,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Sex => "sex",
            Which::Ethnicity => "ethnicity",
            Which::Disability => "disability",
        }
    }
}

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Only this snapshot (`YYYY-MM-DD`, e.g. the statutory 31 March);
    /// default every snapshot in the workforce data.
    #[serde(default)]
    pub snapshot_date: Option<String>,
    /// Which gaps (default all three).
    #[serde(default = "all_dimensions")]
    pub dimensions: Vec<Which>,
}

fn all_dimensions() -> Vec<Which> {
    vec![Which::Sex, Which::Ethnicity, Which::Disability]
}

/// The plugin.
pub struct PayGap {
    snapshot: Option<i32>,
    dimensions: Vec<Which>,
}

/// Answers the workforce source uses for "not known".
use eqpipe_plugin_sdk::UNDISCLOSED;
/// Census 2021 wording of White British in the workforce dataset.
const WHITE_BRITISH_CENSUS: &str = "White: English, Welsh, Scottish, Northern Irish or British";
/// Group labels of the ethnicity gap.
pub const WHITE_BRITISH: &str = "White British";
/// Everyone of a stated ethnic group other than White British.
pub const ALL_MINORITIES: &str = "All ethnic minorities";
/// White groups other than White British (Irish, Gypsy or Irish Traveller,
/// Roma, Other White).
pub const WHITE_OTHER: &str = "White (other than White British)";
/// The broad minority groups reported, in Census 2021 wording.
pub const MINORITY_GROUPS: [&str; 5] = [
    "Asian, Asian British or Asian Welsh",
    "Black, Black British, Black Welsh, Caribbean or African",
    "Mixed or Multiple ethnic groups",
    "Other ethnic group",
    WHITE_OTHER,
];

fn dimension(which: Which) -> Dimension {
    let single = |l: &str| Comparison {
        label: l.into(),
        categories: vec![l.into()],
    };
    match which {
        Which::Sex => Dimension {
            reference: "M".into(),
            comparisons: vec![single("F")],
        },
        Which::Disability => Dimension {
            reference: "not_disabled".into(),
            comparisons: vec![single("disabled")],
        },
        Which::Ethnicity => {
            let mut comparisons = vec![Comparison {
                label: ALL_MINORITIES.into(),
                categories: MINORITY_GROUPS.iter().map(|s| s.to_string()).collect(),
            }];
            comparisons.extend(MINORITY_GROUPS.iter().map(|g| single(g)));
            Dimension {
                reference: WHITE_BRITISH.into(),
                comparisons,
            }
        }
    }
}

/// The category of one employee in a dimension.
fn category(
    which: Which,
    sex: &str,
    ethnic: &str,
    broad: &str,
    disability: &str,
) -> Option<String> {
    let known = |v: &str| (!UNDISCLOSED.contains(&v)).then(|| v.to_string());
    match which {
        Which::Sex => known(sex),
        Which::Disability => known(disability),
        Which::Ethnicity => {
            if ethnic == WHITE_BRITISH_CENSUS {
                Some(WHITE_BRITISH.into())
            } else if broad == "White" {
                Some(WHITE_OTHER.into())
            } else {
                known(broad)
            }
        }
    }
}

/// Every row's category in dimension `which`, from the columns
/// `[sex, ethnic_group, ethnic_group_broad, disability]`: worked out once
/// per distinct pair of dictionary values (a batch has a handful), not per
/// row.
fn resolve(
    which: Which,
    [sex, ethnic, broad, disability]: [&TextColumn<'_>; 4],
    n: usize,
    categories: &mut Interner,
) -> Vec<Option<u32>> {
    let one = |i: usize, categories: &mut Interner| {
        category(
            which,
            sex.get(i),
            ethnic.get(i),
            broad.get(i),
            disability.get(i),
        )
        .map(|c| categories.intern(&c))
    };
    let (a, b) = match which {
        Which::Sex => (sex, sex),
        Which::Disability => (disability, disability),
        Which::Ethnicity => (ethnic, broad),
    };
    let key = |c: &TextColumn<'_>, i: usize| {
        c.dictionary()
            .filter(|_| !c.is_null(i))
            .map(|(_, keys)| keys[i])
    };
    let width = b
        .dictionary()
        .map_or(0, |(v, _)| eqpipe_plugin_sdk::arrow_array::Array::len(v));
    let height = a
        .dictionary()
        .map_or(0, |(v, _)| eqpipe_plugin_sdk::arrow_array::Array::len(v));
    let mut memo: Vec<Option<Option<u32>>> = vec![None; width * height];
    (0..n)
        .map(|i| match (key(a, i), key(b, i)) {
            (Some(x), Some(y)) => match memo[x * width + y] {
                Some(c) => c,
                None => {
                    let c = one(i, categories);
                    memo[x * width + y] = Some(c);
                    c
                }
            },
            _ => one(i, categories),
        })
        .collect()
}

struct Row {
    snapshot: i32,
    dimension: &'static str,
    m: calc::Measure,
}

impl IndicatorPlugin for PayGap {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("pay-gap", env!("CARGO_PKG_VERSION"))
            .description("Gender pay gap (statutory method), ethnicity and disability pay gaps")
            .consumes("workforce")
            .produces("pay_gap")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let snapshot = match &options.snapshot_date {
            Some(s) => {
                let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
                    PluginError::config(format!("snapshot_date `{s}` is not YYYY-MM-DD: {e}"))
                })?;
                Some(d.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
            }
            None => None,
        };
        if options.dimensions.is_empty() {
            return Err(PluginError::config(
                "dimensions is empty; name at least one of sex, ethnicity, disability",
            ));
        }
        Ok(PayGap {
            snapshot,
            dimensions: options.dimensions,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // snapshot -> relevant employees, one list per configured dimension
        // (in `self.dimensions` order).
        let mut by_snapshot: BTreeMap<i32, Vec<Vec<Employee>>> = BTreeMap::new();
        let mut missing_pay = 0usize;
        let mut categories = Interner::new();
        // Only the columns used are read (not the pseudonymised keys,
        // grades, units, ...).
        let columns = [
            "snapshot_date",
            "leaver_date",
            "sex",
            "ethnic_group",
            "ethnic_group_broad",
            "disability",
            "hourly_pay",
            "bonus_pay",
            "full_pay_relevant",
        ];
        for batch in ctx.open_input_columns("workforce", &columns)? {
            ctx.check_cancelled()?;
            let b = batch?;
            let col = |n: &str| column(&b, "workforce", n);
            let snap = date_values(col("snapshot_date")?.as_ref())?;
            let leaver = date_values(col("leaver_date")?.as_ref())?;
            let (sex, ethnic, broad, disability) = (
                col("sex")?,
                col("ethnic_group")?,
                col("ethnic_group_broad")?,
                col("disability")?,
            );
            let (sex, ethnic, broad, disability) = (
                TextColumn::new(sex.as_ref())?,
                TextColumn::new(ethnic.as_ref())?,
                TextColumn::new(broad.as_ref())?,
                TextColumn::new(disability.as_ref())?,
            );
            let hourly = f64_values(col("hourly_pay")?.as_ref())?;
            let bonus = f64_values(col("bonus_pay")?.as_ref())?;
            let full_pay = bool_values(col("full_pay_relevant")?.as_ref())?;
            let resolved: Vec<Vec<Option<u32>>> = self
                .dimensions
                .iter()
                .map(|&w| {
                    resolve(
                        w,
                        [&sex, &ethnic, &broad, &disability],
                        b.num_rows(),
                        &mut categories,
                    )
                })
                .collect();
            for i in 0..b.num_rows() {
                let Some(s) = snap[i] else { continue };
                if self.snapshot.is_some_and(|want| want != s) {
                    continue;
                }
                // Relevant employees: employed on the snapshot date.
                if leaver[i].is_some_and(|l| l < s) {
                    continue;
                }
                let full = full_pay[i] != Some(false);
                if full && hourly[i].is_none() {
                    missing_pay += 1;
                }
                let lists = by_snapshot
                    .entry(s)
                    .or_insert_with(|| vec![Vec::new(); self.dimensions.len()]);
                for (list, cats) in lists.iter_mut().zip(&resolved) {
                    list.push(Employee {
                        category: cats[i],
                        hourly: if full { hourly[i] } else { None },
                        bonus: bonus[i].unwrap_or(0.0),
                    });
                }
            }
        }
        if by_snapshot.is_empty() {
            return Err(PluginError::data(match self.snapshot {
                Some(_) => "the workforce data has no employees at the configured snapshot_date"
                    .to_string(),
                None => "the workforce data has no employees".to_string(),
            }));
        }
        if missing_pay > 0 {
            ctx.coverage_warning(
                Some("pay_gap"),
                "full-pay relevant employee records with no hourly pay, left out of the hourly measures",
                missing_pay as u64,
                None,
            );
        }
        let mut rows = Vec::new();
        for (snapshot, staff) in &by_snapshot {
            let relevant = staff.first().map_or(0, Vec::len);
            if relevant < 250 {
                ctx.info(&format!(
                    "snapshot {}: {relevant} relevant employees (publication is required from 250)",
                    day_text(*snapshot),
                ));
            }
            for (&which, people) in self.dimensions.iter().zip(staff) {
                for m in calc::measures(&dimension(which), categories.values(), people) {
                    rows.push(Row {
                        snapshot: *snapshot,
                        dimension: which.name(),
                        m,
                    });
                }
            }
        }
        let batch = to_batch(&rows)?;
        ctx.emit_batches("pay_gap", batch.schema(), vec![batch])
    }
}

/// Days from 0001-01-01 (CE) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

use chrono::Datelike;

fn day_text(days: i32) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_FROM_CE)
        .map(|d| d.to_string())
        .unwrap_or_else(|| days.to_string())
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch, PluginError> {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("snapshot_date", DataType::Date32, false),
        s("dimension", false),
        s("measure", false),
        s("group", false),
        s("reference_group", true),
        f("value"),
        f("numerator_n"),
        f("denominator_n"),
        Field::new("suppressed", DataType::Boolean, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.snapshot),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.dimension),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.m.measure),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.m.group.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.m.reference_group.as_deref()),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.m.value))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.m.numerator_n),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.m.denominator_n),
        )),
        Arc::new(BooleanArray::from(vec![false; rows.len()])),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: PayGap);
