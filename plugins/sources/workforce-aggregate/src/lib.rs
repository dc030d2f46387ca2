//! `workforce-aggregate`: workforce counts that employers publish, in the
//! open diversity-data format the Leeds City Region anchor organisations use:
//! one row per organisation, division and date; one column per category,
//! named `<characteristic>_<category>` (`gender_female`, `age_25-34`,
//! `ethnicity_asian_bangladeshi`, `ethnicity_prefernottosay`,
//! `disability_undisclosed`, `gender_total`); a blank division is the whole
//! organisation; a blank cell is not reported (not zero).
//!
//! Each cell becomes a row of `workforce_counts`, with its category mapped
//! onto the Census 2021 classification (`category_label`) so representation
//! indicators can take counts as well as records.
//!
//! `published` may be a year, a year and month, or a date, as the format
//! allows (`^[0-9]{4}(-[0-9]{2})?(-[0-9]{2})?$`); the host reads it (and the
//! other published date forms, or the source's `date_format`) and keeps its
//! precision in `published_precision`. A partner whose file names the row
//! columns differently maps them with `columns`; a column that is neither a
//! row column nor `<characteristic>_<category>` is a coverage warning.

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The published CSV files (URLs or paths).
    #[schemars(length(min = 1))]
    pub files: Vec<String>,
    /// The file's header for each of the format's row columns, where it
    /// differs: `{ published = "Date", organisation = "Employer" }`. Keys:
    /// published, organisation, organisation_division, organisation_level,
    /// employees.
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, String>,
}

/// A field as text: UTF-8, or Windows-1252 where it is not.
fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(b).0,
    }
}

/// The row columns a mapping may rename.
const MAPPABLE: &[&str] = &[
    "published",
    "organisation",
    "organisation_division",
    "organisation_level",
    "employees",
];

/// The plugin.
pub struct WorkforceAggregate {
    options: Options,
}

/// The format's characteristics and the dataset's names for them.
const CHARACTERISTICS: &[(&str, &str)] = &[
    ("age", "age"),
    ("carer", "carer"),
    ("disability", "disability"),
    ("ethnicity", "ethnicity"),
    ("gender", "gender"),
    (
        "genderidentitymatchesthatassignedatbirth",
        "gender_identity",
    ),
    ("religion", "religion"),
    ("sexuality", "sexual_orientation"),
];

/// Columns that describe the row, not a category.
const ROW_COLUMNS: &[&str] = &[
    "published",
    "organisation",
    "organisation_division",
    "organisation_grouping",
    "organisation_level",
    "employees",
    "link_to_dei_info",
    "sic_codes",
];

const ASIAN: &str = "Asian, Asian British or Asian Welsh";
const BLACK: &str = "Black, Black British, Black Welsh, Caribbean or African";
const MIXED: &str = "Mixed or Multiple ethnic groups";

/// A category of the format on the Census 2021 classification, with its
/// level (0 total, 1 broad, 2 detailed).
pub fn harmonise(characteristic: &str, category: &str) -> (String, u8) {
    let special = match category {
        "total" => Some(("total", 0)),
        "prefernottosay" => Some(("prefer_not_to_say", 1)),
        "undisclosed" => Some(("not_stated", 1)),
        _ => None,
    };
    if let Some((l, n)) = special {
        return (l.to_string(), n);
    }
    let detailed = |broad: &str, detail: &str| (format!("{broad}: {detail}"), 2);
    let out: (String, u8) = match (characteristic, category) {
        ("ethnicity", "asian") => (ASIAN.into(), 1),
        ("ethnicity", "black") => (BLACK.into(), 1),
        ("ethnicity", "mixed") => (MIXED.into(), 1),
        ("ethnicity", "white") => ("White".into(), 1),
        ("ethnicity", "other") => ("Other ethnic group".into(), 1),
        ("ethnicity", "asian_bangladeshi") => detailed(ASIAN, "Bangladeshi"),
        ("ethnicity", "asian_chinese") => detailed(ASIAN, "Chinese"),
        ("ethnicity", "asian_indian") => detailed(ASIAN, "Indian"),
        ("ethnicity", "asian_pakistani") => detailed(ASIAN, "Pakistani"),
        ("ethnicity", "asian_other") => detailed(ASIAN, "Other Asian"),
        ("ethnicity", "black_african") => detailed(BLACK, "African"),
        ("ethnicity", "black_caribbean") => detailed(BLACK, "Caribbean"),
        ("ethnicity", "black_other") => detailed(BLACK, "Other Black"),
        ("ethnicity", "mixed_african") => detailed(MIXED, "White and Black African"),
        ("ethnicity", "mixed_asian") => detailed(MIXED, "White and Asian"),
        ("ethnicity", "mixed_caribbean") => detailed(MIXED, "White and Black Caribbean"),
        ("ethnicity", "mixed_other") => detailed(MIXED, "Other Mixed or Multiple ethnic groups"),
        ("ethnicity", "white_british") => detailed(
            "White",
            "English, Welsh, Scottish, Northern Irish or British",
        ),
        ("ethnicity", "white_irish") => detailed("White", "Irish"),
        ("ethnicity", "white_gypsy") | ("ethnicity", "white_gypsyortraveller") => {
            detailed("White", "Gypsy or Irish Traveller")
        }
        ("ethnicity", "white_roma") => detailed("White", "Roma"),
        ("ethnicity", "white_other") => detailed("White", "Other White"),
        ("ethnicity", "other_arab") => detailed("Other ethnic group", "Arab"),
        ("ethnicity", "other_anyother") => detailed("Other ethnic group", "Any other ethnic group"),
        ("gender", "female") => ("F".into(), 1),
        ("gender", "male") => ("M".into(), 1),
        ("disability", "yes") => ("disabled".into(), 1),
        ("disability", "no") => ("not_disabled".into(), 1),
        ("religion", "no") => ("No religion".into(), 1),
        ("religion", "other") => ("Other religion".into(), 1),
        ("religion", r) => (capitalise(r), 1),
        ("sexual_orientation", "straight") => ("Straight or Heterosexual".into(), 1),
        ("sexual_orientation", "gaylesbian") => ("Gay or Lesbian".into(), 1),
        ("sexual_orientation", "bisexual") => ("Bisexual".into(), 1),
        ("sexual_orientation", "usedifferentterm") => ("All other sexual orientations".into(), 1),
        ("gender_identity", "yes") => (
            "Gender identity the same as sex registered at birth".into(),
            1,
        ),
        ("gender_identity", "no") => (
            "Gender identity different from sex registered at birth".into(),
            1,
        ),
        (_, other) => (other.to_string(), 1),
    };
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl SourcePlugin for WorkforceAggregate {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("workforce-aggregate", env!("CARGO_PKG_VERSION"))
            .description(
                "Published workforce diversity counts (open diversity-data format) by category",
            )
            .licence("As published by each employer")
            .produces("workforce_counts")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.files.is_empty() {
            return Err(PluginError::config("`files` is empty"));
        }
        for k in options.columns.keys() {
            if !MAPPABLE.contains(&k.as_str()) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a row column of the format (one of: {})",
                    MAPPABLE.join(", ")
                )));
            }
        }
        Ok(WorkforceAggregate { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        for url in &self.options.files {
            ctx.check_cancelled()?;
            let got = ctx.fetch_url(url)?;
            let name = url.rsplit('/').next().unwrap_or(url).to_string();
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(&got.path)
                .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
            let header: Vec<String> = rdr
                .byte_headers()
                .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
                .iter()
                .map(|h| {
                    text(h)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_ascii_lowercase()
                })
                .collect();
            for (i, h) in header.iter().enumerate() {
                if let Some(j) = header[..i].iter().position(|x| x == h) {
                    return Err(PluginError::data(format!(
                        "{name}: the header names `{h}` twice (columns {} and {}): which one holds the figures cannot be told",
                        j + 1,
                        i + 1
                    )));
                }
            }
            let mapped: Vec<String> = self
                .options
                .columns
                .values()
                .map(|v| v.trim().to_ascii_lowercase())
                .collect();
            let col = |n: &str| {
                let want = self
                    .options
                    .columns
                    .get(n)
                    .map(|v| v.trim().to_ascii_lowercase())
                    .unwrap_or_else(|| n.to_string());
                header.iter().position(|h| *h == want)
            };
            let (Some(published), Some(organisation)) = (col("published"), col("organisation"))
            else {
                return Err(PluginError::data(format!(
                    "{name}: expected `{}` and `{}` columns (found: {}); map other names with `columns`",
                    self.options
                        .columns
                        .get("published")
                        .map_or("published", String::as_str),
                    self.options
                        .columns
                        .get("organisation")
                        .map_or("organisation", String::as_str),
                    header.join(", ")
                )));
            };
            let division = col("organisation_division").or_else(|| col("organisation_grouping"));
            let level = col("organisation_level");
            let employees = col("employees");
            // Category columns: (index, characteristic, category, label, level).
            let mut cats = Vec::new();
            let mut ignored = 0u64;
            for (i, h) in header.iter().enumerate() {
                if ROW_COLUMNS.contains(&h.as_str()) || mapped.contains(h) {
                    continue;
                }
                let Some((ch, cat)) = h.split_once('_') else {
                    ctx.warn(&format!(
                        "{name}: column `{h}` is not `<characteristic>_<category>`; ignored"
                    ));
                    ignored += 1;
                    continue;
                };
                let Some((_, dataset_name)) = CHARACTERISTICS.iter().find(|(c, _)| *c == ch) else {
                    ctx.warn(&format!(
                        "{name}: unknown characteristic in column `{h}`; ignored"
                    ));
                    ignored += 1;
                    continue;
                };
                let (label, level) = harmonise(dataset_name, cat);
                cats.push((i, *dataset_name, cat.to_string(), label, level));
            }
            if ignored > 0 {
                ctx.coverage_warning(
                    Some("workforce_counts"),
                    &format!(
                        "{name}: columns that are not a known <characteristic>_<category> (ignored)"
                    ),
                    ignored,
                    Some(header.len() as u64),
                );
            }
            let mut rows = TextRows::new(&[
                "published",
                "organisation",
                "organisation_level",
                "division",
                "employees",
                "characteristic",
                "category",
                "category_label",
                "category_level",
                "count",
            ]);
            for (r, rec) in rdr.byte_records().enumerate() {
                let line = r as u64 + 2;
                let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
                // Employers' returns saved by Excel on Windows are
                // Windows-1252: each field is read as UTF-8, else as that.
                let rec: Vec<String> = rec.iter().map(|f| text(f).into_owned()).collect();
                let get = |i: Option<usize>| {
                    i.and_then(|i| rec.get(i))
                        .map(String::as_str)
                        .unwrap_or("")
                        .trim()
                };
                let date = get(Some(published));
                for (i, ch, cat, label, cat_level) in &cats {
                    let v = get(Some(*i));
                    if v.is_empty() {
                        continue;
                    }
                    rows.push(
                        [
                            date,
                            get(Some(organisation)),
                            get(level),
                            get(division),
                            get(employees),
                            ch,
                            cat,
                            label,
                            &cat_level.to_string(),
                            v,
                        ],
                        &name,
                        line,
                    );
                }
            }
            let n = rows.len();
            ctx.emit_rows("workforce_counts", &mut rows)?;
            ctx.info(&format!("{name}: {n} published counts"));
        }
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: WorkforceAggregate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_categories_land_on_census_2021() {
        assert_eq!(
            harmonise("ethnicity", "asian_bangladeshi"),
            ("Asian, Asian British or Asian Welsh: Bangladeshi".into(), 2)
        );
        assert_eq!(harmonise("ethnicity", "white"), ("White".into(), 1));
        assert_eq!(
            harmonise("ethnicity", "prefernottosay"),
            ("prefer_not_to_say".into(), 1)
        );
        assert_eq!(
            harmonise("disability", "undisclosed"),
            ("not_stated".into(), 1)
        );
        assert_eq!(harmonise("gender", "total"), ("total".into(), 0));
        assert_eq!(harmonise("religion", "muslim"), ("Muslim".into(), 1));
        assert_eq!(harmonise("age", "25-34"), ("25-34".into(), 1));
    }
}
