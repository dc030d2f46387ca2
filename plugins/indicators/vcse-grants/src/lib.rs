//! `vcse-grants`: the council's support for voluntary, community and
//! social enterprise (VCSE) organisations, from its 360Giving grants data:
//! per financial year, grants and amounts in all, by programme, by the kind
//! of recipient (registered charity, company, unregistered group: the
//! org-id scheme), by the recipient's ward and by the IMD decile of its
//! neighbourhood, and by the communities served where the data classifies
//! grants.
//!
//! Where a grant is depends on what the data holds, and every row says
//! which (`location_basis`): the recipient organisation's postcode (placed
//! by the `grants` source's postcode lookup) when there is one; otherwise
//! the beneficiary location's code when it is a ward (`E05…`) or an LSOA
//! (`E01…`); otherwise it is not placed (a code for a whole borough, as
//! Trafford publishes, places no grant in a ward), and the `location_basis`
//! dimension counts the grants each way. A grant with several
//! classifications counts once under each.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{column, date_values, f64_values, text_values};
use eqpipe_social_value::{Period, period_of};
use serde::Deserialize;

/// The overall index, as the deprivation files label it.
const IMD: &str = "Index of Multiple Deprivation (IMD)";

/// Options of `[indicators.options]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// `financial_year` (default), `quarter` or `month`.
    #[serde(default)]
    pub period: Period,
}

/// What the recipient's org-id scheme says it is.
pub fn recipient_kind(scheme: &str) -> &'static str {
    match scheme {
        "GB-CHC" | "GB-SC" | "GB-NIC" => "registered charity",
        "GB-COH" => "registered company",
        "GB-MPR" => "mutual or co-operative",
        "360G" => "unregistered group (publisher's own identifier)",
        "" => "not given",
        _ => "other registration",
    }
}

/// Running totals of one group.
#[derive(Debug, Default)]
struct Tally {
    grants: u64,
    amount: f64,
    recipients: HashSet<String>,
}

/// The plugin.
pub struct VcseGrants {
    options: Options,
}

impl IndicatorPlugin for VcseGrants {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("vcse-grants", env!("CARGO_PKG_VERSION"))
            .description("Grants to VCSE organisations by programme, recipient, ward, deprivation and community served")
            .consumes("grants")
            .consumes_optional("deprivation")
            .produces("vcse_grants")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(VcseGrants { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // LSOA -> IMD decile (the newest edition loaded).
        let mut deciles: BTreeMap<i16, HashMap<String, u8>> = BTreeMap::new();
        for batch in ctx.open_input("deprivation")? {
            let b = batch?;
            let c = |n: &str| column(&b, "deprivation", n);
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let edition = f64_values(c("edition")?.as_ref())?;
            let domain = text_values(c("domain")?.as_ref())?;
            let decile = f64_values(c("decile")?.as_ref())?;
            for i in 0..b.num_rows() {
                if let (true, Some(d)) = (domain[i] == IMD, decile[i]) {
                    deciles
                        .entry(edition[i].unwrap_or(0.0) as i16)
                        .or_default()
                        .insert(lsoa[i].clone(), d as u8);
                }
            }
        }
        let deciles = deciles.into_values().next_back().unwrap_or_default();
        // (period start, label, end) -> (dimension, group) -> tally.
        type Key = (NaiveDate, String, NaiveDate);
        let mut tallies: BTreeMap<Key, BTreeMap<(&'static str, String), Tally>> = BTreeMap::new();
        let (mut grants, mut unplaced) = (0u64, 0u64);
        for batch in ctx.open_input("grants")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "grants", n);
            let date = date_values(c("award_date")?.as_ref())?;
            let amount = f64_values(c("amount_awarded")?.as_ref())?;
            let programme = text_values(c("programme_title")?.as_ref())?;
            let scheme = text_values(c("recipient_id_scheme")?.as_ref())?;
            let recipient = text_values(c("recipient_id")?.as_ref())?;
            let rtype = text_values(c("recipient_type")?.as_ref())?;
            let ward = text_values(c("recipient_ward")?.as_ref())?;
            let lsoa = text_values(c("recipient_lsoa")?.as_ref())?;
            let geo = text_values(c("beneficiary_geo_code")?.as_ref())?;
            let classes = text_values(c("classifications")?.as_ref())?;
            for i in 0..b.num_rows() {
                let (Some(d), Some(a)) = (date[i], amount[i]) else {
                    continue;
                };
                grants += 1;
                let day = eqpipe_plugin_sdk::published::date_of_days(d);
                let (label, start, end) = period_of(day, self.options.period);
                let t = tallies.entry((start, label, end)).or_default();
                let who = if rtype[i] == "individual" {
                    String::new()
                } else {
                    recipient[i].clone()
                };
                let mut add = |dim: &'static str, group: &str| {
                    let x = t.entry((dim, group.to_string())).or_default();
                    x.grants += 1;
                    x.amount += a;
                    if !who.is_empty() {
                        x.recipients.insert(who.clone());
                    }
                };
                add("all", "All grants");
                add(
                    "programme",
                    if programme[i].is_empty() {
                        "not given"
                    } else {
                        &programme[i]
                    },
                );
                add(
                    "recipient_kind",
                    if rtype[i] == "individual" {
                        "individual"
                    } else {
                        recipient_kind(&scheme[i])
                    },
                );
                // Where: the recipient's postcode, else a ward or LSOA
                // beneficiary code.
                let code = geo[i].as_str();
                let (basis, ward, lsoa) = if !lsoa[i].is_empty() || !ward[i].is_empty() {
                    ("recipient postcode", ward[i].as_str(), lsoa[i].as_str())
                } else if code.starts_with("E05") || code.starts_with("W05") {
                    ("beneficiary location: ward code", code, "")
                } else if code.starts_with("E01") || code.starts_with("W01") {
                    ("beneficiary location: LSOA code", "", code)
                } else if !code.is_empty() {
                    ("beneficiary location: a wider area's code", "", "")
                } else {
                    ("not placed", "", "")
                };
                add("location_basis", basis);
                if ward.is_empty() && lsoa.is_empty() {
                    unplaced += 1;
                }
                if !ward.is_empty() {
                    add("ward", ward);
                }
                if !lsoa.is_empty() {
                    match deciles.get(lsoa) {
                        Some(d) => add("imd_decile", &d.to_string()),
                        None => add("imd_decile", "not ranked"),
                    }
                }
                let mut any = false;
                for cl in classes[i]
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    add("classification", cl);
                    any = true;
                }
                if !any {
                    add("classification", "not classified");
                }
            }
        }
        if unplaced > 0 {
            ctx.coverage_warning(
                Some("vcse_grants"),
                "grants with no recipient postcode the lookup places and no ward or LSOA beneficiary code: in no ward or decile",
                unplaced,
                Some(grants),
            );
        }
        let mut rows = TextRows::new(&[
            "period",
            "period_start",
            "period_end",
            "dimension",
            "group",
            "grants",
            "amount",
            "recipients",
            "share_of_amount_pct",
        ]);
        for ((start, label, end), groups) in &tallies {
            let total = groups
                .get(&("all", "All grants".to_string()))
                .map_or(0.0, |t| t.amount);
            for ((dim, group), t) in groups {
                rows.push(
                    [
                        label.clone(),
                        start.to_string(),
                        end.to_string(),
                        dim.to_string(),
                        group.clone(),
                        t.grants.to_string(),
                        format!("{:.2}", t.amount),
                        t.recipients.len().to_string(),
                        if total > 0.0 {
                            format!("{}", t.amount / total * 100.0)
                        } else {
                            String::new()
                        },
                    ],
                    "vcse-grants",
                    0,
                );
            }
        }
        ctx.emit_rows("vcse_grants", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: VcseGrants);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_id_schemes_say_what_a_recipient_is() {
        assert_eq!(recipient_kind("GB-CHC"), "registered charity");
        assert_eq!(recipient_kind("GB-COH"), "registered company");
        assert!(recipient_kind("360G").starts_with("unregistered"));
    }
}
