//! `social-value`: where the council's money goes, for the "promote social
//! value" aim: per period, the spend (and suppliers and payments) with
//! suppliers in the area, in England's and the area's most deprived 10%
//! and 20% of neighbourhoods, with VCSE organisations and with SMEs, as
//! shares of all the spend matched to the supplier register, with the
//! unmatched and withheld shares stated beside them.
//!
//! Method:
//! - Each `spend` line is matched to `suppliers` by the council's supplier
//!   number, else by the supplier's name as `name_key` normalises it (only
//!   where that name is one supplier's); payees the council withheld or
//!   left blank cannot be matched and are counted as `withheld`. The match
//!   rate is a coverage warning whenever a named payee is not matched.
//! - Amounts are net: credits (negative lines) reduce the period's spend.
//!   Shares are of the matched spend (`share_of_matched_pct`) and of all
//!   spend (`share_of_all_pct`); a share is null when its base is not
//!   positive.
//! - A supplier is "in the area" when its LSOA (from its postcode) is one
//!   of the area's in `deprivation` (`lad_code = area`). England's most
//!   deprived 10% / 20% are IMD deciles 1 / 1-2. The area's own most
//!   deprived 10% / 20% are local deciles 1 / 1-2: the area's LSOAs ranked
//!   by their national IMD rank, local decile = ceil(10 × position / n).
//! - Periods are financial years (April to March, `2025-26`), or quarters
//!   (`2025-26 Q1`) or months (`2025-04`) with `period = "quarter"` /
//!   `"month"`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{bool_values, column, date_values, f64_values, text_values};
use serde::Deserialize;

/// The overall index, as the deprivation files label it.
const IMD: &str = "Index of Multiple Deprivation (IMD)";

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The council's area (local authority code, e.g. `E08000009`): which
    /// suppliers are local, and whose neighbourhoods the local deciles rank.
    pub area: Option<String>,
    /// `financial_year` (default), `quarter` or `month`.
    #[serde(default)]
    pub period: Period,
}

/// How payments are grouped in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// April to March (`2025-26`).
    #[default]
    FinancialYear,
    /// Financial-year quarters (`2025-26 Q1` is April to June).
    Quarter,
    /// Calendar months (`2025-04`).
    Month,
}

/// The period a payment date falls in: its label, first and last day.
pub fn period_of(d: NaiveDate, p: Period) -> (String, NaiveDate, NaiveDate) {
    let fy = if d.month() >= 4 {
        d.year()
    } else {
        d.year() - 1
    };
    let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a real date");
    let month_end = |y: i32, m: u32| {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        ymd(ny, nm, 1).pred_opt().expect("a real date")
    };
    let fy_label = format!("{fy}-{:02}", (fy + 1) % 100);
    match p {
        Period::FinancialYear => (fy_label, ymd(fy, 4, 1), ymd(fy + 1, 3, 31)),
        Period::Quarter => {
            // Q1 April-June ... Q4 January-March.
            let q = ((d.month() + 8) % 12) / 3 + 1;
            let first_month = (3 * (q - 1) + 3) % 12 + 1;
            let y0 = if first_month >= 4 { fy } else { fy + 1 };
            let last_month = first_month + 2;
            (
                format!("{fy_label} Q{q}"),
                ymd(y0, first_month, 1),
                month_end(y0, last_month),
            )
        }
        Period::Month => (
            format!("{}-{:02}", d.year(), d.month()),
            ymd(d.year(), d.month(), 1),
            month_end(d.year(), d.month()),
        ),
    }
}

/// One supplier of the register, as the measures need it.
#[derive(Debug, Clone, Default)]
struct Supplier {
    lsoa: Option<String>,
    vcse: bool,
    sme: bool,
}

/// Where an LSOA stands: national IMD decile, local decile (within the
/// area), in the area.
#[derive(Debug, Clone, Copy, Default)]
struct Standing {
    decile: Option<u8>,
    local_decile: Option<u8>,
    in_area: bool,
}

/// One IMD row: edition, LSOA, local authority, decile, national rank.
type ImdRow = (i16, String, String, Option<u8>, Option<f64>);

/// Running totals of one measure in one period.
#[derive(Debug, Default, Clone)]
struct Tally {
    amount: f64,
    payments: u64,
    suppliers: HashSet<String>,
}

impl Tally {
    fn add(&mut self, amount: f64, supplier: Option<&str>) {
        self.amount += amount;
        self.payments += 1;
        if let Some(s) = supplier {
            self.suppliers.insert(s.to_string());
        }
    }
}

/// The measures, in the order rows are written.
pub const MEASURES: &[&str] = &[
    "all_spend",
    "withheld_payee",
    "unmatched",
    "matched",
    "matched_by_id",
    "matched_by_name",
    "in_area",
    "england_most_deprived_10pct",
    "england_most_deprived_20pct",
    "area_most_deprived_10pct",
    "area_most_deprived_20pct",
    "vcse",
    "sme",
    "no_location",
];

/// The plugin.
pub struct SocialValue {
    options: Options,
}

impl SocialValue {
    /// The register: by supplier number, and by name key where a name is
    /// one supplier's.
    #[allow(clippy::type_complexity)]
    fn register(
        &self,
        ctx: &Context,
    ) -> Result<
        (
            HashMap<String, (String, Supplier)>,
            HashMap<String, (String, Supplier)>,
        ),
        PluginError,
    > {
        let mut by_id = HashMap::new();
        let mut by_name: HashMap<String, Option<(String, Supplier)>> = HashMap::new();
        let mut row = 0u64;
        for batch in ctx.open_input("suppliers")? {
            let b = batch?;
            let c = |n: &str| column(&b, "suppliers", n);
            let id = text_values(c("supplier_id")?.as_ref())?;
            let key = text_values(c("name_key")?.as_ref())?;
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let vcse = bool_values(c("vcse")?.as_ref())?;
            let sme = bool_values(c("sme")?.as_ref())?;
            for i in 0..b.num_rows() {
                let s = Supplier {
                    lsoa: (!lsoa[i].is_empty()).then(|| lsoa[i].clone()),
                    vcse: vcse[i].unwrap_or(false),
                    sme: sme[i].unwrap_or(false),
                };
                // A supplier is its number, or (without one) its row.
                row += 1;
                let who = if id[i].is_empty() {
                    format!("row:{row}")
                } else {
                    format!("id:{}", id[i])
                };
                if !id[i].is_empty() {
                    by_id.insert(id[i].clone(), (who.clone(), s.clone()));
                }
                by_name
                    .entry(key[i].clone())
                    .and_modify(|e| {
                        // A name two suppliers share matches neither.
                        if e.as_ref().is_some_and(|(w, _)| *w != who) {
                            *e = None;
                        }
                    })
                    .or_insert(Some((who, s)));
            }
        }
        let by_name = by_name
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        Ok((by_id, by_name))
    }

    /// LSOA standings from `deprivation` (the newest edition's IMD).
    fn standings(&self, ctx: &Context) -> Result<(HashMap<String, Standing>, String), PluginError> {
        // (edition, LSOA, local authority, decile, rank) of the IMD rows.
        let mut rows: Vec<ImdRow> = Vec::new();
        // (An optional input: an empty stream when no source loads it.)
        for batch in ctx.open_input("deprivation")? {
            let b = batch?;
            let c = |n: &str| column(&b, "deprivation", n);
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let lad = text_values(c("lad_code")?.as_ref())?;
            let edition = f64_values(c("edition")?.as_ref())?;
            let domain = text_values(c("domain")?.as_ref())?;
            let decile = f64_values(c("decile")?.as_ref())?;
            let rank = f64_values(c("rank")?.as_ref())?;
            for i in 0..b.num_rows() {
                if domain[i] == IMD {
                    rows.push((
                        edition[i].unwrap_or(0.0) as i16,
                        lsoa[i].clone(),
                        lad[i].clone(),
                        decile[i].map(|d| d as u8),
                        rank[i],
                    ));
                }
            }
        }
        let Some(newest) = rows.iter().map(|r| r.0).max() else {
            return Ok((HashMap::new(), "no deprivation data loaded".into()));
        };
        rows.retain(|r| r.0 == newest);
        let mut out: HashMap<String, Standing> = rows
            .iter()
            .map(|(_, lsoa, lad, decile, _)| {
                let in_area = self.options.area.as_deref() == Some(lad.as_str());
                (
                    lsoa.clone(),
                    Standing {
                        decile: *decile,
                        local_decile: None,
                        in_area,
                    },
                )
            })
            .collect();
        let mut local: Vec<(f64, &String)> = rows
            .iter()
            .filter(|r| self.options.area.as_deref() == Some(r.2.as_str()))
            .filter_map(|r| r.4.map(|rank| (rank, &r.1)))
            .collect();
        local.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = local.len();
        for (pos, (_, lsoa)) in local.iter().enumerate() {
            let d = ((10 * (pos + 1)).div_ceil(n)) as u8;
            if let Some(s) = out.get_mut(*lsoa) {
                s.local_decile = Some(d);
            }
        }
        let basis = match &self.options.area {
            Some(a) => format!("IoD{newest} IMD deciles; local deciles among the {n} LSOAs of {a}"),
            None => format!("IoD{newest} IMD deciles; no area set, so no local measures"),
        };
        Ok((out, basis))
    }
}

impl IndicatorPlugin for SocialValue {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("social-value", env!("CARGO_PKG_VERSION"))
            .description("Spend with local, VCSE and SME suppliers and in deprived neighbourhoods, as shares of matched spend")
            .consumes("spend")
            .consumes("suppliers")
            .consumes_optional("deprivation")
            .produces("social_value")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(SocialValue { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let (by_id, by_name) = self.register(ctx)?;
        let (standings, basis) = self.standings(ctx)?;
        // (period label, start, end) -> measure -> tally.
        let mut tallies: BTreeMap<(NaiveDate, String, NaiveDate), BTreeMap<&'static str, Tally>> =
            BTreeMap::new();
        let (mut named, mut unmatched, mut unplaced) = (0u64, 0u64, 0u64);
        for batch in ctx.open_input_columns(
            "spend",
            &[
                "payment_date",
                "supplier_id",
                "supplier_name",
                "amount",
                "payee_status",
            ],
        )? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "spend", n);
            let date = date_values(c("payment_date")?.as_ref())?;
            let id = text_values(c("supplier_id")?.as_ref())?;
            let name = text_values(c("supplier_name")?.as_ref())?;
            let amount = f64_values(c("amount")?.as_ref())?;
            let status = text_values(c("payee_status")?.as_ref())?;
            for i in 0..b.num_rows() {
                let (Some(d), Some(a)) = (date[i], amount[i]) else {
                    continue;
                };
                let day = eqpipe_plugin_sdk::published::date_of_days(d);
                let (label, start, end) = period_of(day, self.options.period);
                let t = tallies.entry((start, label, end)).or_default();
                let mut add =
                    |m: &'static str, who: Option<&str>| t.entry(m).or_default().add(a, who);
                add("all_spend", None);
                if status[i] != "named" {
                    add("withheld_payee", None);
                    continue;
                }
                named += 1;
                let found = by_id
                    .get(&id[i])
                    .filter(|_| !id[i].is_empty())
                    .map(|s| ("matched_by_id", s))
                    .or_else(|| {
                        by_name
                            .get(&eqpipe_spend::name_key(&name[i]))
                            .map(|s| ("matched_by_name", s))
                    });
                let Some((how, (who, s))) = found else {
                    unmatched += 1;
                    add("unmatched", Some(&format!("{}|{}", id[i], name[i])));
                    continue;
                };
                let who = Some(who.as_str());
                add("matched", who);
                add(how, who);
                if s.vcse {
                    add("vcse", who);
                }
                if s.sme {
                    add("sme", who);
                }
                let standing = s.lsoa.as_ref().and_then(|l| standings.get(l));
                match standing {
                    None => {
                        unplaced += 1;
                        add("no_location", who);
                    }
                    Some(st) => {
                        if st.in_area {
                            add("in_area", who);
                        }
                        if st.decile == Some(1) {
                            add("england_most_deprived_10pct", who);
                        }
                        if st.decile.is_some_and(|d| d <= 2) {
                            add("england_most_deprived_20pct", who);
                        }
                        if st.local_decile == Some(1) {
                            add("area_most_deprived_10pct", who);
                        }
                        if st.local_decile.is_some_and(|d| d <= 2) {
                            add("area_most_deprived_20pct", who);
                        }
                    }
                }
            }
        }
        if unmatched > 0 {
            ctx.coverage_warning(
                Some("social_value"),
                "payments to named suppliers not found in the supplier register (by number or name): counted as unmatched",
                unmatched,
                Some(named),
            );
        }
        if unplaced > 0 {
            ctx.coverage_warning(
                Some("social_value"),
                "matched payments whose supplier has no known LSOA (no postcode, or one the lookups do not place): no area or deprivation measure",
                unplaced,
                Some(named - unmatched),
            );
        }
        let mut rows = TextRows::new(&[
            "period",
            "period_start",
            "period_end",
            "measure",
            "amount",
            "payments",
            "suppliers",
            "share_of_matched_pct",
            "share_of_all_pct",
            "basis",
        ]);
        for ((start, label, end), t) in &tallies {
            let base = |m: &str| t.get(m).map_or(0.0, |x| x.amount);
            let (matched, all) = (base("matched"), base("all_spend"));
            for m in MEASURES {
                let x = t.get(m).cloned().unwrap_or_default();
                let share = |of: f64| {
                    if of > 0.0 {
                        format!("{}", x.amount / of * 100.0)
                    } else {
                        String::new()
                    }
                };
                let of_matched = !matches!(*m, "all_spend" | "withheld_payee" | "unmatched");
                let suppliers = if matches!(*m, "all_spend" | "withheld_payee") {
                    String::new()
                } else {
                    x.suppliers.len().to_string()
                };
                rows.push(
                    [
                        label.clone(),
                        start.to_string(),
                        end.to_string(),
                        m.to_string(),
                        format!("{:.2}", x.amount),
                        x.payments.to_string(),
                        suppliers,
                        if of_matched {
                            share(matched)
                        } else {
                            String::new()
                        },
                        share(all),
                        basis.clone(),
                    ],
                    "social-value",
                    0,
                );
            }
        }
        ctx.emit_rows("social_value", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: SocialValue);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_follow_the_financial_year() {
        assert_eq!(
            period_of(d(2026, 5, 29), Period::FinancialYear),
            ("2026-27".into(), d(2026, 4, 1), d(2027, 3, 31))
        );
        assert_eq!(
            period_of(d(2018, 1, 9), Period::FinancialYear),
            ("2017-18".into(), d(2017, 4, 1), d(2018, 3, 31))
        );
        assert_eq!(
            period_of(d(2018, 1, 9), Period::Quarter),
            ("2017-18 Q4".into(), d(2018, 1, 1), d(2018, 3, 31))
        );
        assert_eq!(
            period_of(d(2017, 10, 3), Period::Quarter),
            ("2017-18 Q3".into(), d(2017, 10, 1), d(2017, 12, 31))
        );
        assert_eq!(
            period_of(d(2024, 4, 30), Period::Quarter),
            ("2024-25 Q1".into(), d(2024, 4, 1), d(2024, 6, 30))
        );
        assert_eq!(
            period_of(d(2024, 2, 10), Period::Month),
            ("2024-02".into(), d(2024, 2, 1), d(2024, 2, 29))
        );
    }
}
