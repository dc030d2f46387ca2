//! `service-equity`: does each service reach every group in its catchment?
//!
//! For each service (and all services together) over the period:
//! - `share_pct`: the share of the service's users (distinct people, or
//!   contacts) in each group of sex, broad ethnic group, disability and age
//!   band, of users who stated it, with a 95% Wilson score interval; against
//!   the catchment population's share from Census 2021 (`comparator_pct`);
//! - `representation_ratio`: share / population share, its interval the
//!   Wilson bounds over the same population share (the Census share is
//!   taken as known);
//! - `rate_per_1000`: users per 1,000 residents living in each decile of the
//!   English Index of Multiple Deprivation (decile 1 = most deprived 10%),
//!   residents from the indices' population denominators for the
//!   catchment's LSOAs;
//! - `sii` and `rii`: the slope index of inequality and the relative index
//!   (OHID method as in Fingertips: deciles ordered from most to least
//!   deprived, each at the midpoint of its cumulative population share, the
//!   rate regressed on that by least squares weighted by population; SII =
//!   the fitted rate at the least deprived end minus the most deprived end,
//!   so a negative SII means higher use in more deprived areas; RII = the
//!   fitted rate at the least deprived end over the fitted rate at the most
//!   deprived end, as `phe_sii` gives it). No interval is given for them.
//!   The method is the SDK's [`slope_index`], shared with
//!   `health-inequalities`.
//!
//! Wilson interval for p = x/n at z = 1.96 (Wilson 1927; Newcombe 1998):
//! (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{BooleanArray, Date32Array, Float64Array, StringArray};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{column, date_values, f64_values, key_values, text_values};
use eqpipe_workforce_representation::{CensusRow, Comparator, population, read_census};
use serde::Deserialize;

pub use eqpipe_plugin_sdk::stats::{Z95, slope_index, wilson};

/// The overall index, as the files label it.
const IMD: &str = "Index of Multiple Deprivation (IMD)";
use eqpipe_plugin_sdk::UNDISCLOSED;
/// Label of the all-services row.
pub const ALL_SERVICES: &str = "All services";

/// The characteristics reported and their `service_usage` column.
const DIMENSIONS: [(&str, &str); 4] = [
    ("sex", "sex"),
    ("ethnic_group_broad", "ethnic_group_broad"),
    ("disability", "disability"),
    ("age_band", "age_band"),
];

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Distinct people (by pseudonymised key; rows without one count once each).
    People,
    /// Contacts (the `contacts` column summed).
    Contacts,
}

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The catchment: a local authority (or other area) code whose Census
    /// tables are in `census_counts` and whose LSOAs are in `deprivation`.
    pub catchment: String,
    /// First day counted (`YYYY-MM-DD`; default the earliest contact).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day counted (default the latest contact).
    #[serde(default)]
    pub to: Option<String>,
    /// People (default) or contacts.
    #[serde(default = "default_unit")]
    pub unit: Unit,
}

fn default_unit() -> Unit {
    Unit::People
}

/// The plugin.
pub struct ServiceEquity {
    options: Options,
    from: Option<i32>,
    to: Option<i32>,
}

/// One output row before disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Service.
    pub service: String,
    /// Characteristic, or `deprivation`.
    pub dimension: String,
    /// Measure.
    pub measure: &'static str,
    /// Group, decile (`1` … `10`) or `all`.
    pub group: String,
    /// Value.
    pub value: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
    /// Users behind it.
    pub numerator_n: f64,
    /// Base: users who stated, or residents.
    pub denominator_n: f64,
    /// Population share (percent).
    pub comparator_pct: Option<f64>,
}

fn days(s: &str, what: &str) -> Result<i32, PluginError> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| PluginError::config(format!("{what} `{s}` is not YYYY-MM-DD: {e}")))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    Ok((d - epoch).num_days() as i32)
}

/// Who a contact was: a person by their pseudonym, or an anonymous
/// contact, counted alone (by its row).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Person([u8; 32]),
    Row(u64),
}

/// Users of one service: person (or row) -> (groups, lsoa), and counts.
#[derive(Default)]
struct Users {
    /// who -> (group per dimension, lsoa, contacts)
    people: HashMap<Who, ([String; 4], String, f64)>,
}

impl IndicatorPlugin for ServiceEquity {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("service-equity", env!("CARGO_PKG_VERSION"))
            .description("Service users by group against the catchment population (Wilson intervals), rates by deprivation decile, slope index of inequality")
            .consumes("service_usage")
            .consumes("census_counts")
            .consumes_optional("deprivation")
            .produces("service_equity")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let from = options
            .from
            .as_deref()
            .map(|s| days(s, "from"))
            .transpose()?;
        let to = options.to.as_deref().map(|s| days(s, "to")).transpose()?;
        Ok(ServiceEquity { options, from, to })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // Users by service.
        let mut services: BTreeMap<String, Users> = BTreeMap::new();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        let mut row_no = 0u64;
        for batch in ctx.open_input("service_usage")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "service_usage", n);
            let key = c("person_key")?;
            // 32 bytes (contract v2) or 64 hex digits (v1): the same key.
            let keys = key_values(key.as_ref())?;
            let service = text_values(c("service")?.as_ref())?;
            let date = date_values(c("contact_date")?.as_ref())?;
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let contacts = f64_values(c("contacts")?.as_ref())?;
            let groups: Vec<Vec<String>> = DIMENSIONS
                .iter()
                .map(|d| text_values(c(d.1)?.as_ref()))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                row_no += 1;
                let Some(d) = date[i] else { continue };
                if self.from.is_some_and(|f| d < f) || self.to.is_some_and(|t| d > t) {
                    continue;
                }
                first = first.min(d);
                last = last.max(d);
                let id = match keys[i] {
                    Some(k) => Who::Person(k),
                    None => Who::Row(row_no),
                };
                let g: [String; 4] = std::array::from_fn(|k| groups[k][i].clone());
                for s in [service[i].as_str(), ALL_SERVICES] {
                    let e = services
                        .entry(s.to_string())
                        .or_default()
                        .people
                        .entry(id)
                        .or_insert_with(|| (g.clone(), lsoa[i].clone(), 0.0));
                    e.2 += contacts[i].unwrap_or(1.0);
                    // A later contact may know the area an earlier one did not.
                    if e.1.is_empty() {
                        e.1 = lsoa[i].clone();
                    }
                }
            }
        }
        if services.is_empty() {
            return Err(PluginError::data("service_usage has no rows in the period"));
        }

        // The catchment's population by group.
        let areas = std::collections::BTreeSet::from([self.options.catchment.as_str()]);
        let census: Vec<CensusRow> = read_census(ctx, &areas)?
            .0
            .remove(&self.options.catchment)
            .unwrap_or_default();
        if census.is_empty() {
            ctx.coverage_warning(
                Some("service_equity"),
                &format!(
                    "catchment {} has no rows in census_counts: shares are reported without a population to compare with",
                    self.options.catchment
                ),
                1,
                Some(1),
            );
        }
        let cmp = Comparator {
            area: self.options.catchment.clone(),
            population: None,
            ages: None,
            tables: BTreeMap::new(),
        };
        let names: Vec<&str> = DIMENSIONS.iter().map(|d| d.0).collect();
        let pop = population(&cmp, &census, &names);

        // Deprivation deciles of the catchment's LSOAs, and their residents.
        let mut decile_of: HashMap<String, u8> = HashMap::new();
        let mut residents = [0.0f64; 10];
        for batch in ctx.open_input("deprivation")? {
            let b = batch?;
            let c = |n: &str| column(&b, "deprivation", n);
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let lad = text_values(c("lad_code")?.as_ref())?;
            let domain = text_values(c("domain")?.as_ref())?;
            let decile = f64_values(c("decile")?.as_ref())?;
            let population = f64_values(c("population")?.as_ref())?;
            for i in 0..b.num_rows() {
                if domain[i] != IMD || lad[i] != self.options.catchment {
                    continue;
                }
                if let Some(d) = decile[i].filter(|d| (1.0..=10.0).contains(d)) {
                    decile_of.insert(lsoa[i].clone(), d as u8);
                    residents[d as usize - 1] += population[i].unwrap_or(0.0);
                }
            }
        }
        if decile_of.is_empty() {
            ctx.coverage_warning(
                Some("service_equity"),
                &format!(
                    "no IMD deciles for LSOAs of {} in deprivation: no rates by decile or SII",
                    self.options.catchment
                ),
                1,
                Some(1),
            );
        }

        let mut rows = Vec::new();
        let mut unmatched = 0usize;
        for (service, users) in &services {
            let weight = |e: &([String; 4], String, f64)| match self.options.unit {
                Unit::People => 1.0,
                Unit::Contacts => e.2,
            };
            for (k, (dim, _)) in DIMENSIONS.iter().enumerate() {
                let mut by: BTreeMap<String, f64> = BTreeMap::new();
                let mut undisclosed = 0.0;
                for e in users.people.values() {
                    let g = &e.0[k];
                    if UNDISCLOSED.contains(&g.as_str()) {
                        undisclosed += weight(e);
                    } else {
                        *by.entry(g.clone()).or_default() += weight(e);
                    }
                }
                let population_shares = pop.get(*dim).map(|p| {
                    let total: f64 = p.values().sum();
                    p.iter()
                        .map(|(c, n)| (c.clone(), n * 100.0 / total))
                        .collect::<BTreeMap<_, _>>()
                });
                if let Some(p) = &population_shares {
                    for c in p.keys() {
                        by.entry(c.clone()).or_default();
                    }
                }
                let stated: f64 = by.values().sum();
                for (g, x) in &by {
                    let ci = wilson(*x, stated);
                    let cp = population_shares.as_ref().and_then(|p| p.get(g).copied());
                    let row = |measure, value, lower, upper| Row {
                        service: service.clone(),
                        dimension: dim.to_string(),
                        measure,
                        group: g.clone(),
                        value,
                        lower,
                        upper,
                        numerator_n: *x,
                        denominator_n: stated,
                        comparator_pct: cp,
                    };
                    rows.push(row(
                        "share_pct",
                        (stated > 0.0).then(|| x * 100.0 / stated),
                        ci.map(|c| c.0 * 100.0),
                        ci.map(|c| c.1 * 100.0),
                    ));
                    let ratio = |v: f64| cp.filter(|c| *c > 0.0).map(|c| v * 100.0 / c);
                    rows.push(row(
                        "representation_ratio",
                        (stated > 0.0).then(|| x / stated).and_then(ratio),
                        ci.and_then(|c| ratio(c.0)),
                        ci.and_then(|c| ratio(c.1)),
                    ));
                }
                rows.push(Row {
                    service: service.clone(),
                    dimension: dim.to_string(),
                    measure: "not_disclosed_pct",
                    group: "not_disclosed".into(),
                    value: (stated + undisclosed > 0.0)
                        .then(|| undisclosed * 100.0 / (stated + undisclosed)),
                    lower: None,
                    upper: None,
                    numerator_n: undisclosed,
                    denominator_n: stated + undisclosed,
                    comparator_pct: None,
                });
            }
            if decile_of.is_empty() {
                continue;
            }
            let mut by_decile = [0.0f64; 10];
            for e in users.people.values() {
                match decile_of.get(&e.1) {
                    Some(d) => by_decile[*d as usize - 1] += weight(e),
                    None if service == ALL_SERVICES => unmatched += 1,
                    None => {}
                }
            }
            let mut points = Vec::new();
            for d in 0..10 {
                let rate = (residents[d] > 0.0).then(|| by_decile[d] * 1000.0 / residents[d]);
                rows.push(Row {
                    service: service.clone(),
                    dimension: "deprivation".into(),
                    measure: "rate_per_1000",
                    group: (d + 1).to_string(),
                    value: rate,
                    lower: None,
                    upper: None,
                    numerator_n: by_decile[d],
                    denominator_n: residents[d],
                    comparator_pct: None,
                });
                points.push((rate.unwrap_or(0.0), residents[d]));
            }
            let total_users: f64 = by_decile.iter().sum();
            let total_residents: f64 = residents.iter().sum();
            let s = slope_index(&points);
            for (measure, value) in [("sii", s.map(|s| s.sii)), ("rii", s.and_then(|s| s.rii))] {
                rows.push(Row {
                    service: service.clone(),
                    dimension: "deprivation".into(),
                    measure,
                    group: "all".into(),
                    value,
                    lower: None,
                    upper: None,
                    numerator_n: total_users,
                    denominator_n: total_residents,
                    comparator_pct: None,
                });
            }
        }
        if unmatched > 0 {
            ctx.coverage_warning(
                Some("service_equity"),
                &format!(
                    "users in an LSOA outside {} or with no known LSOA: left out of the rates by decile",
                    self.options.catchment
                ),
                unmatched as u64,
                None,
            );
        }
        let (start, end) = (self.from.unwrap_or(first), self.to.unwrap_or(last));
        let batch = to_batch(&rows, start, end)?;
        ctx.emit_batches("service_equity", batch.schema(), vec![batch])
    }
}

fn to_batch(rows: &[Row], start: i32, end: i32) -> Result<RecordBatch, PluginError> {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let schema = Arc::new(Schema::new(vec![
        s("service"),
        Field::new("period_start", DataType::Date32, false),
        Field::new("period_end", DataType::Date32, false),
        s("dimension"),
        s("measure"),
        s("group"),
        f("value"),
        f("lower_ci"),
        f("upper_ci"),
        f("numerator_n"),
        f("denominator_n"),
        f("comparator_pct"),
        Field::new("suppressed", DataType::Boolean, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.service.as_str()),
        )),
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|_| start))),
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|_| end))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.dimension.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.measure),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.group.as_str()),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.value))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.lower))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.upper))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.numerator_n),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.denominator_n),
        )),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.comparator_pct),
        )),
        Arc::new(BooleanArray::from(vec![false; rows.len()])),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: ServiceEquity);
