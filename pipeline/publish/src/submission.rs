//! The statutory gender pay gap figures in the fields the GOV.UK gender pay
//! gap service asks for, so the submission is a copy, not a retyping:
//! `exports/gender-pay-gap-service.csv`, one row per snapshot, written with
//! the `pay_gap` export. In a partnership each row starts with its
//! `partner_id` (every level's figures are kept apart; the partnership's
//! combined level is not a statutory return). The columns are the service's own names (as its
//! yearly download files use them), figures rounded to one decimal place
//! (half away from zero). A figure withheld by disclosure control is left
//! blank and logged: fill it in from the restricted output before
//! submitting.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use eqpipe_plugin_sdk::{bool_values, date_values, f64_values, text_values};

/// The export's name under `exports/`.
pub const NAME: &str = "gender-pay-gap-service";

/// The service's fields after the snapshot date, and the `pay_gap`
/// measure and group each is.
pub const FIELDS: [(&str, &str, &str); 14] = [
    ("DiffMeanHourlyPercent", "mean_hourly_gap_pct", "F"),
    ("DiffMedianHourlyPercent", "median_hourly_gap_pct", "F"),
    ("DiffMeanBonusPercent", "mean_bonus_gap_pct", "F"),
    ("DiffMedianBonusPercent", "median_bonus_gap_pct", "F"),
    ("MaleBonusPercent", "pct_receiving_bonus", "M"),
    ("FemaleBonusPercent", "pct_receiving_bonus", "F"),
    ("MaleLowerQuartile", "lower_quartile_pct", "M"),
    ("FemaleLowerQuartile", "lower_quartile_pct", "F"),
    ("MaleLowerMiddleQuartile", "lower_middle_quartile_pct", "M"),
    (
        "FemaleLowerMiddleQuartile",
        "lower_middle_quartile_pct",
        "F",
    ),
    ("MaleUpperMiddleQuartile", "upper_middle_quartile_pct", "M"),
    (
        "FemaleUpperMiddleQuartile",
        "upper_middle_quartile_pct",
        "F",
    ),
    ("MaleTopQuartile", "upper_quartile_pct", "M"),
    ("FemaleTopQuartile", "upper_quartile_pct", "F"),
];

/// One snapshot's figures: (measure, group) -> (value, withheld).
type Figures = BTreeMap<(String, String), (Option<f64>, bool)>;

/// A `pay_gap` indicator's sex rows as the service's CSV (UTF-8 with a
/// byte-order mark, as the other exports), and how many figures were
/// withheld. `None` when it has no gender pay gap rows.
pub fn csv_bytes(batches: &[RecordBatch]) -> Result<Option<(Vec<u8>, usize)>, String> {
    // (partner, snapshot) -> figures.
    let mut by_snapshot: BTreeMap<(String, i32), Figures> = BTreeMap::new();
    let partnered = batches
        .iter()
        .any(|b| b.column_by_name("partner_id").is_some());
    for b in batches {
        let col = |n: &str| {
            b.column_by_name(n)
                .ok_or_else(|| format!("pay_gap has no column `{n}`"))
        };
        let snapshot = date_values(col("snapshot_date")?.as_ref()).map_err(|e| e.to_string())?;
        let dim = text_values(col("dimension")?.as_ref()).map_err(|e| e.to_string())?;
        let measure = text_values(col("measure")?.as_ref()).map_err(|e| e.to_string())?;
        let group = text_values(col("group")?.as_ref()).map_err(|e| e.to_string())?;
        let value = f64_values(col("value")?.as_ref()).map_err(|e| e.to_string())?;
        let withheld = bool_values(col("suppressed")?.as_ref()).map_err(|e| e.to_string())?;
        let partner = match b.column_by_name("partner_id") {
            Some(c) => text_values(c.as_ref()).map_err(|e| e.to_string())?,
            None => vec![String::new(); b.num_rows()],
        };
        for i in 0..b.num_rows() {
            let Some(day) = snapshot[i].filter(|_| dim[i] == "sex") else {
                continue;
            };
            by_snapshot
                .entry((partner[i].clone(), day))
                .or_default()
                .insert(
                    (measure[i].clone(), group[i].clone()),
                    (value[i], withheld[i] == Some(true)),
                );
        }
    }
    if by_snapshot.is_empty() {
        return Ok(None);
    }
    let mut w = csv::WriterBuilder::new().from_writer(vec![0xEF, 0xBB, 0xBF]);
    let header = partnered
        .then_some("partner_id")
        .into_iter()
        .chain(std::iter::once("SnapshotDate"))
        .chain(FIELDS.iter().map(|f| f.0));
    w.write_record(header).map_err(|e| e.to_string())?;
    let mut blanks = 0;
    for ((partner, day), figures) in &by_snapshot {
        let mut row: Vec<String> = partnered.then(|| partner.clone()).into_iter().collect();
        row.push(
            eqpipe_plugin_sdk::published::date_of_days(*day)
                .format("%Y-%m-%d")
                .to_string(),
        );
        for (_, measure, group) in FIELDS {
            let cell = match figures.get(&(measure.to_string(), group.to_string())) {
                Some((Some(v), false)) => format!("{:.1}", (v * 10.0).round() / 10.0),
                Some((_, true)) => {
                    blanks += 1;
                    String::new()
                }
                // No bonus paid: the service leaves the bonus gaps empty.
                _ => String::new(),
            };
            row.push(cell);
        }
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    Ok(Some((w.into_inner().map_err(|e| e.to_string())?, blanks)))
}
