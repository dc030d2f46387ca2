//! `gender-pay-gap-service`: employers' statutory gender pay gap returns as
//! the GOV.UK gender pay gap service publishes them ("UK Gender Pay Gap
//! Data - 2017 to 2018.csv" and each year after), into the
//! `gender_pay_gap_returns` dataset: one row per employer and reporting
//! year, for benchmarking an employer against its own history and peers.
//!
//! One reader takes every year's layout, columns found by name (case,
//! spaces, punctuation and `_` ignored, so TidyTuesday's snake_case copy
//! reads too):
//! - 2017 to 2018 has 23 columns (no `EmployerId`, `PostCode`, `DueDate`,
//!   `DateSubmitted`) and CRLF line breaks inside `Address`;
//! - 2019 to 2022 quote every field and write dates `2020/03/31 00:00:00`;
//! - 2024 to 2025 quotes only where needed and writes `31-03-2025 00:00`;
//! - `SicCodes` holds `1,\n84110` (the service's code 1, public sector, and
//!   the SIC code, a line break inside the quotes), stored as `1,84110`;
//! - booleans `True`, `False`, `FALSE`; `NA` (TidyTuesday) as no value.
//!
//! The reporting year is the due date's year less one (the 2020 to 2021
//! deadline was moved to October 2021 and stays in 2020 to 2021); a file
//! without `DueDate` takes it from its name (`2017 to 2018`, `2017-18`) or
//! from the `reporting_year` option, and a file that tells neither is
//! refused by name. The snapshot date follows the regulations: 31 March
//! for public sector employers (SIC code 1) and 5 April for the rest.
//!
//! `ResponsiblePerson` (a named director for private employers) is never
//! read. Source: GOV.UK gender pay gap service, Open Government Licence.

use std::collections::BTreeMap;
use std::path::Path;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::published::{self, Cell, Formats};
use eqpipe_spend::{decode_field as text, normalise};
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The service's yearly files: a path or URL, or a glob on the file
    /// name in a folder (`UK Gender Pay Gap Data - *.csv`).
    pub path: String,
    /// Keep only these employers: names (as `EmployerName` or
    /// `CurrentName`, case ignored) or the service's employer ids. Default
    /// every employer. One named and found in no file is a warning.
    #[serde(default)]
    pub employers: Option<Vec<String>>,
    /// The reporting year's first year (2017 for "2017 to 2018"), for a
    /// file with no `DueDate` column whose name gives no years.
    #[serde(default)]
    pub reporting_year: Option<i32>,
}

/// The dataset's columns, in order.
pub const COLUMNS: &[&str] = &[
    "employer_name",
    "employer_id",
    "current_name",
    "company_number",
    "address",
    "post_code",
    "sic_codes",
    "public_sector",
    "employer_size",
    "reporting_year",
    "snapshot_date",
    "diff_mean_hourly_pct",
    "diff_median_hourly_pct",
    "diff_mean_bonus_pct",
    "diff_median_bonus_pct",
    "male_bonus_pct",
    "female_bonus_pct",
    "male_lower_quartile_pct",
    "female_lower_quartile_pct",
    "male_lower_middle_quartile_pct",
    "female_lower_middle_quartile_pct",
    "male_upper_middle_quartile_pct",
    "female_upper_middle_quartile_pct",
    "male_top_quartile_pct",
    "female_top_quartile_pct",
    "link",
    "submitted_after_deadline",
    "due_date",
    "date_submitted",
];

/// Each column read from the file and the service's title for it.
const HEADERS: &[(&str, &str)] = &[
    ("employer_name", "EmployerName"),
    ("employer_id", "EmployerId"),
    ("current_name", "CurrentName"),
    ("company_number", "CompanyNumber"),
    ("address", "Address"),
    ("post_code", "PostCode"),
    ("sic_codes", "SicCodes"),
    ("employer_size", "EmployerSize"),
    ("diff_mean_hourly_pct", "DiffMeanHourlyPercent"),
    ("diff_median_hourly_pct", "DiffMedianHourlyPercent"),
    ("diff_mean_bonus_pct", "DiffMeanBonusPercent"),
    ("diff_median_bonus_pct", "DiffMedianBonusPercent"),
    ("male_bonus_pct", "MaleBonusPercent"),
    ("female_bonus_pct", "FemaleBonusPercent"),
    ("male_lower_quartile_pct", "MaleLowerQuartile"),
    ("female_lower_quartile_pct", "FemaleLowerQuartile"),
    ("male_lower_middle_quartile_pct", "MaleLowerMiddleQuartile"),
    (
        "female_lower_middle_quartile_pct",
        "FemaleLowerMiddleQuartile",
    ),
    ("male_upper_middle_quartile_pct", "MaleUpperMiddleQuartile"),
    (
        "female_upper_middle_quartile_pct",
        "FemaleUpperMiddleQuartile",
    ),
    ("male_top_quartile_pct", "MaleTopQuartile"),
    ("female_top_quartile_pct", "FemaleTopQuartile"),
    ("link", "CompanyLinkToGPGInfo"),
    ("submitted_after_deadline", "SubmittedAfterTheDeadline"),
    ("due_date", "DueDate"),
    ("date_submitted", "DateSubmitted"),
];

/// A column's position in [`COLUMNS`].
fn col(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .expect("a column of the dataset")
}

/// The first year of a reporting year a file name gives: `2017 to 2018`,
/// `2017-18`, `2017_2018`, `2017-2018`.
pub fn year_in_name(name: &str) -> Option<i32> {
    let b = name.as_bytes();
    for i in 0..b.len().saturating_sub(3) {
        let Some(y) = std::str::from_utf8(&b[i..i + 4])
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
            .filter(|y| (2000..2100).contains(y))
        else {
            continue;
        };
        if i > 0 && b[i - 1].is_ascii_digit() {
            continue;
        }
        let rest = name[i + 4..].trim_start_matches([' ', '-', '_']);
        let rest = rest
            .strip_prefix("to")
            .map_or(rest, |r| r.trim_start_matches([' ', '-', '_']));
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let next = y + 1;
        if digits == format!("{next}") || digits == format!("{:02}", next % 100) {
            return Some(y);
        }
    }
    None
}

/// The SIC codes of a `SicCodes` cell (`1,\n84110`, `1:84110`), in order.
pub fn sic_codes(cell: &str) -> Vec<String> {
    cell.split(|c: char| c == ',' || c == ':' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// An address with its line breaks as `, ` (`Council House,\r\nVictoria
/// Square` gives `Council House, Victoria Square`).
fn one_line(address: &str) -> String {
    address
        .lines()
        .map(|l| l.trim().trim_end_matches(',').trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A date cell as ISO `YYYY-MM-DD`, or the cell as written (for the host
/// to reject by name) when it is not a date.
fn iso_date(cell: &str) -> String {
    match published::date(cell, &Formats::default()) {
        Cell::Value((d, _)) => d.format("%Y-%m-%d").to_string(),
        Cell::Empty | Cell::Marker(_) => String::new(),
        Cell::Bad(_) => cell.to_string(),
    }
}

/// `True`/`FALSE`/`1`/`no` as `true` or `false`; anything else as written.
fn boolean(cell: &str) -> String {
    match cell.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => "true".into(),
        "false" | "no" | "0" => "false".into(),
        _ => cell.trim().to_string(),
    }
}

/// The plugin.
pub struct GenderPayGapService {
    options: Options,
    /// Wanted employers, lower-cased, and whether any file held each.
    wanted: Option<BTreeMap<String, bool>>,
}

impl GenderPayGapService {
    /// True when `employers` keeps this employer (and marks it found).
    fn keep(&mut self, name: &str, current: &str, id: &str) -> bool {
        let Some(w) = self.wanted.as_mut() else {
            return true;
        };
        let mut hit = false;
        for k in [name, current, id] {
            if let Some(found) = w.get_mut(&k.trim().to_lowercase()) {
                *found = true;
                hit = true;
            }
        }
        hit
    }

    // Long: one record's mapping, the derived years and dates beside it.
    fn read(&mut self, ctx: &Context, path: &Path, name: &str) -> Result<u64, PluginError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
            .iter()
            .map(|h| normalise(&text(h)))
            .collect();
        let at: Vec<(usize, usize)> = HEADERS
            .iter()
            .filter_map(|(c, title)| {
                let t = normalise(title);
                header.iter().position(|h| *h == t).map(|i| (col(c), i))
            })
            .collect();
        for want in [
            "employer_name",
            "diff_mean_hourly_pct",
            "diff_median_hourly_pct",
        ] {
            if !at.iter().any(|(c, _)| *c == col(want)) {
                let title = HEADERS.iter().find(|h| h.0 == want).map_or(want, |h| h.1);
                return Err(PluginError::data(format!(
                    "{name}: no `{title}` column: not a file of the gender pay gap service (its header starts `EmployerName,EmployerId,Address,…`)"
                )));
            }
        }
        let has_due = at.iter().any(|(c, _)| *c == col("due_date"));
        let file_year = self.options.reporting_year.or_else(|| year_in_name(name));
        if !has_due && file_year.is_none() {
            return Err(PluginError::data(format!(
                "{name}: no `DueDate` column and no years in the file name (`2017 to 2018`): set `reporting_year` to the reporting year's first year"
            )));
        }
        let mut rows = TextRows::new(COLUMNS);
        let mut n = 0;
        for (r, rec) in rdr.byte_records().enumerate() {
            let line = r as u64 + 2;
            let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let mut v = vec![String::new(); COLUMNS.len()];
            for (c, i) in &at {
                let cell = rec
                    .get(*i)
                    .map(|b| text(b).into_owned())
                    .unwrap_or_default();
                v[*c] = if cell.trim() == "NA" {
                    String::new()
                } else {
                    cell
                };
            }
            if !self.keep(
                &v[col("employer_name")],
                &v[col("current_name")],
                &v[col("employer_id")],
            ) {
                continue;
            }
            let codes = sic_codes(&v[col("sic_codes")]);
            let public = codes.iter().any(|c| c == "1");
            v[col("sic_codes")] = codes.join(",");
            v[col("public_sector")] = public.to_string();
            v[col("address")] = one_line(&v[col("address")]);
            for c in ["due_date", "date_submitted"] {
                v[col(c)] = iso_date(&v[col(c)]);
            }
            v[col("submitted_after_deadline")] = boolean(&v[col("submitted_after_deadline")]);
            let due_year = v[col("due_date")]
                .get(..4)
                .and_then(|y| y.parse::<i32>().ok());
            // A row without a readable due date takes the file's year.
            if let Some(y) = due_year.map(|y| y - 1).or(file_year) {
                v[col("reporting_year")] = format!("{y} to {}", y + 1);
                v[col("snapshot_date")] = if public {
                    format!("{y}-03-31")
                } else {
                    format!("{y}-04-05")
                };
            }
            rows.push(v, name, line);
            n += 1;
        }
        ctx.emit_rows("gender_pay_gap_returns", &mut rows)?;
        Ok(n)
    }
}

impl SourcePlugin for GenderPayGapService {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("gender-pay-gap-service", env!("CARGO_PKG_VERSION"))
            .description("Employers' gender pay gap returns from the GOV.UK gender pay gap service's yearly files")
            .licence("Open Government Licence v3.0 (GOV.UK gender pay gap service)")
            .produces("gender_pay_gap_returns")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.path.trim().is_empty() {
            return Err(PluginError::config("`path` is empty"));
        }
        let wanted = options.employers.as_ref().map(|e| {
            e.iter()
                .map(|s| (s.trim().to_lowercase(), false))
                .collect::<BTreeMap<_, _>>()
        });
        Ok(GenderPayGapService { options, wanted })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let files = eqpipe_workforce::resolve_some_inputs(ctx, &self.options.path)?;
        for (path, name) in &files {
            ctx.check_cancelled()?;
            let n = self.read(ctx, path, name)?;
            ctx.info(&format!("{name}: {n} returns"));
        }
        if let Some(w) = &self.wanted {
            let missing = w.values().filter(|f| !**f).count() as u64;
            if missing > 0 {
                ctx.coverage_warning(
                    Some("gender_pay_gap_returns"),
                    "employers named in `employers` that no file holds",
                    missing,
                    Some(w.len() as u64),
                );
            }
        }
        ctx.info(&format!("{} file(s) read", files.len()));
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: GenderPayGapService);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporting_years_in_file_names() {
        assert_eq!(
            year_in_name("UK Gender Pay Gap Data - 2017 to 2018.csv"),
            Some(2017)
        );
        assert_eq!(year_in_name("gpg-2019-20-four-councils.csv"), Some(2019));
        assert_eq!(year_in_name("gpg_2021_2022.csv"), Some(2021));
        assert_eq!(year_in_name("export-2023.csv"), None);
        assert_eq!(year_in_name("12017-18.csv"), None);
    }

    #[test]
    fn cells_as_the_service_writes_them() {
        assert_eq!(sic_codes("1,\n84110"), vec!["1", "84110"]);
        assert_eq!(sic_codes("1,\r\n84110"), vec!["1", "84110"]);
        assert_eq!(sic_codes("1:84110"), vec!["1", "84110"]);
        assert!(sic_codes("").is_empty());
        assert_eq!(
            one_line("Council House,\r\nVictoria Square,\r\nBirmingham,\r\nB1 1BB"),
            "Council House, Victoria Square, Birmingham, B1 1BB"
        );
        assert_eq!(iso_date("2020/03/31 00:00:00"), "2020-03-31");
        assert_eq!(iso_date("31-03-2025 00:00"), "2025-03-31");
        assert_eq!(iso_date("2019-03-31T00:00:00Z"), "2019-03-31");
        assert_eq!(iso_date(""), "");
        assert_eq!(boolean("FALSE"), "false");
        assert_eq!(boolean("True"), "true");
    }
}
