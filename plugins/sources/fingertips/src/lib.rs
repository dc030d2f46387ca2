//! `fingertips`: public health indicators from OHID's Fingertips, as its
//! "download data" CSV and its API's `all_data/csv` answers publish them,
//! into the `health_indicators` dataset.
//!
//! Two ways in:
//! - `path`: a saved download (`indicators-CountyUA.data.csv`), a URL, or a
//!   glob of them;
//! - `indicator_ids`: the API, `<base_url>/all_data/csv/by_indicator_id?
//!   indicator_ids=…&child_area_type_id=…&parent_area_type_id=…`. The CSV
//!   API answers a whole query at once (it has no row paging), and a
//!   request for many indicators is slow and can time out, so the plugin
//!   pages over the indicators: `indicators_per_request` at a time, once for
//!   each child area type. England's and the regions' rows come back in
//!   every answer; an exact repeat of a row already read is dropped (and
//!   counted), while a repeat with other figures reaches the host's
//!   duplicate-key check and is quarantined. An indicator asked for that no
//!   answer holds is a coverage warning.
//!
//! The download's quirks, all handled: the header has a trailing
//! `Compared to goal` the rows leave out (25 fields under 26 names);
//! `Indicator Name` ends in a line break inside its quotes (so records are
//! counted by the CSV reader, never by lines, and the name is kept with its
//! spaces collapsed); missing numbers are empty strings (with the reason in
//! `Value note`); the 99.8% limits may be empty throughout. Columns are
//! found by name (case, spaces and punctuation ignored), so newer answers
//! with `Time period range` or a parent other than the region read too.
//!
//! Inequality breakdowns keep Fingertips' `Category Type` and `Category`;
//! where the type is a deprivation decile breakdown (`County & UA
//! deprivation deciles in England (IMD2015)`), `deprivation_decile` is the
//! decile as a number (1 = most deprived, from `Most deprived decile`,
//! `Second most deprived decile` … `Least deprived decile`) and
//! `deprivation_index` the index named in the brackets. A decile label not
//! recognised is a coverage warning, never a guess.
//!
//! Source: Office for Health Improvement and Disparities, Fingertips (Open
//! Government Licence v3.0).

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_spend::{decode_field as text, normalise};
use serde::Deserialize;

/// The Fingertips API root.
pub const DEFAULT_BASE_URL: &str = "https://fingertips.phe.org.uk/api";

/// England's area code, kept as a comparator by `areas`.
pub const ENGLAND: &str = "E92000001";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_area_types() -> Vec<u32> {
    // Upper tier local authorities (from April 2023).
    vec![502]
}

fn default_parent_area_type() -> u32 {
    // England.
    15
}

fn default_per_request() -> usize {
    10
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// A Fingertips CSV download: a path, a URL, or a glob on the file name
    /// in a folder. Either this or `indicator_ids`.
    #[serde(default)]
    pub path: Option<String>,
    /// Indicator ids to fetch from the API (`93356` is campylobacter
    /// incidence). Either this or `path`.
    #[serde(default)]
    pub indicator_ids: Vec<u64>,
    /// Fingertips area type ids of the areas wanted (default `[502]`,
    /// upper tier local authorities from April 2023; `501` lower tier, `6`
    /// regions, `7` GP practices).
    #[serde(default = "default_area_types")]
    pub area_type_ids: Vec<u32>,
    /// Area type of the comparator parents (default `15`, England).
    #[serde(default = "default_parent_area_type")]
    pub parent_area_type_id: u32,
    /// A profile id, where an indicator's polarity (and so the
    /// `Compared to …` judgements) depends on the profile.
    #[serde(default)]
    pub profile_id: Option<u32>,
    /// Indicators asked for in one request (default 10).
    #[serde(default = "default_per_request")]
    #[schemars(range(min = 1, max = 100))]
    pub indicators_per_request: usize,
    /// API root (default Fingertips').
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Keep only these areas (codes), plus England and the regions as
    /// comparators; default every area the download holds.
    #[serde(default)]
    pub areas: Option<Vec<String>>,
}

/// The dataset's columns, in order.
pub const COLUMNS: &[&str] = &[
    "indicator_id",
    "indicator_name",
    "area_code",
    "area_name",
    "area_type",
    "parent_code",
    "parent_name",
    "sex",
    "age",
    "category_type",
    "category",
    "deprivation_index",
    "deprivation_decile",
    "time_period",
    "time_period_sortable",
    "time_period_range",
    "value",
    "lower_ci_95",
    "upper_ci_95",
    "lower_ci_99_8",
    "upper_ci_99_8",
    "count",
    "denominator",
    "value_note",
    "recent_trend",
    "compared_to_england",
    "compared_to_parent",
    "compared_to_goal",
];

/// The columns of the unique key (as the contract's `unique`).
const KEY: &[&str] = &[
    "indicator_id",
    "area_code",
    "sex",
    "age",
    "category_type",
    "category",
    "time_period",
];

/// Each column read straight from a header, by its title (matched with
/// case, spaces and punctuation ignored). The
/// `Compared to <parent> value or percentiles` column other than England's
/// is found by pattern; `New data` (a flag of the site's) is not kept.
const HEADERS: &[(&str, &str)] = &[
    ("indicator_id", "Indicator ID"),
    ("indicator_name", "Indicator Name"),
    ("area_code", "Area Code"),
    ("area_name", "Area Name"),
    ("area_type", "Area Type"),
    ("parent_code", "Parent Code"),
    ("parent_name", "Parent Name"),
    ("sex", "Sex"),
    ("age", "Age"),
    ("category_type", "Category Type"),
    ("category", "Category"),
    ("time_period", "Time period"),
    ("time_period_sortable", "Time period Sortable"),
    ("time_period_range", "Time period range"),
    ("value", "Value"),
    ("lower_ci_95", "Lower CI 95.0 limit"),
    ("upper_ci_95", "Upper CI 95.0 limit"),
    ("lower_ci_99_8", "Lower CI 99.8 limit"),
    ("upper_ci_99_8", "Upper CI 99.8 limit"),
    ("count", "Count"),
    ("denominator", "Denominator"),
    ("value_note", "Value note"),
    ("recent_trend", "Recent Trend"),
    (
        "compared_to_england",
        "Compared to England value or percentiles",
    ),
    ("compared_to_goal", "Compared to goal"),
];

/// Where each dataset column is in a file's records.
fn layout(header: &[String], name: &str) -> Result<Vec<Option<usize>>, PluginError> {
    let mut at: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|c| {
            HEADERS
                .iter()
                .find(|h| h.0 == *c)
                .and_then(|h| header.iter().position(|x| *x == normalise(h.1)))
        })
        .collect();
    let parent = header.iter().position(|h| {
        h.starts_with("comparedto")
            && h.ends_with("valueorpercentiles")
            && h != "comparedtoenglandvalueorpercentiles"
    });
    at[col("compared_to_parent")] = parent;
    for want in ["indicator_id", "area_code", "time_period", "value"] {
        if at[col(want)].is_none() {
            let title = HEADERS.iter().find(|h| h.0 == want).map_or(want, |h| h.1);
            return Err(PluginError::data(format!(
                "{name}: no `{title}` column: not a Fingertips data download (its header starts `Indicator ID,Indicator Name,Parent Code,…`)"
            )));
        }
    }
    Ok(at)
}

/// A column's position in [`COLUMNS`].
fn col(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .expect("a column of the dataset")
}

/// The decile (1 = most deprived … 10 = least) a Fingertips deprivation
/// decile label names: `Most deprived decile (IMD2015)`, `Second most
/// deprived decile`, `Third more deprived decile` … `Fifth more deprived
/// decile`, `Fifth less deprived decile` … `Second least deprived decile`,
/// `Least deprived decile`. `None` for any other label.
pub fn decile(label: &str) -> Option<u8> {
    let l = label.to_ascii_lowercase();
    let l = l.split('(').next().unwrap_or("").trim();
    let head = l.strip_suffix("deprived decile")?.trim();
    let words: Vec<&str> = head.split_whitespace().collect();
    let rank = |w: &str| match w {
        "second" => Some(2),
        "third" => Some(3),
        "fourth" => Some(4),
        "fifth" => Some(5),
        _ => None,
    };
    match words.as_slice() {
        ["most"] => Some(1),
        ["least"] => Some(10),
        [n, "most" | "more"] => rank(n),
        [n, "least" | "less"] => rank(n).map(|r| 11 - r),
        _ => None,
    }
}

/// The index a deprivation breakdown is by: the bracketed end of its
/// category type (`… deciles in England (IMD2015)` gives `IMD2015`).
fn index_named(category_type: &str) -> Option<String> {
    let open = category_type.rfind('(')?;
    let inner = category_type[open + 1..].trim_end().strip_suffix(')')?;
    Some(inner.trim().to_string()).filter(|s| !s.is_empty())
}

/// True for a deprivation decile breakdown's category type.
fn is_decile_type(category_type: &str) -> bool {
    let t = category_type.to_ascii_lowercase();
    t.contains("deprivation decile")
}

/// What reading the files found, for the log and the coverage warnings.
#[derive(Debug, Default)]
struct Tally {
    rows: u64,
    repeats: u64,
    outside: u64,
    unknown_deciles: u64,
    decile_rows: u64,
    indicators: BTreeSet<u64>,
}

/// The plugin.
pub struct Fingertips {
    options: Options,
    /// Each unique key read so far and a hash of its row's figures.
    seen: HashMap<String, u64>,
    areas: Option<BTreeSet<String>>,
    tally: Tally,
}

impl Fingertips {
    /// True when `areas` keeps the row: a listed area, England or a region.
    fn wanted(&self, area: &str) -> bool {
        self.areas
            .as_ref()
            .is_none_or(|a| a.contains(area) || area == ENGLAND || area.starts_with("E12"))
    }

    /// Reads one Fingertips CSV and emits its rows.
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
        let at = layout(&header, name)?;
        let key_at: Vec<usize> = KEY.iter().map(|k| col(k)).collect();
        let mut rows = TextRows::new(COLUMNS);
        let mut n = 0;
        for (r, rec) in rdr.byte_records().enumerate() {
            let line = r as u64 + 2;
            let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let mut v: Vec<String> = at
                .iter()
                .map(|i| {
                    i.and_then(|i| rec.get(i))
                        .map(|b| text(b).split_whitespace().collect::<Vec<_>>().join(" "))
                        .unwrap_or_default()
                })
                .collect();
            if !self.wanted(&v[col("area_code")]) {
                self.tally.outside += 1;
                continue;
            }
            let ct = v[col("category_type")].clone();
            if is_decile_type(&ct) {
                self.tally.decile_rows += 1;
                v[col("deprivation_index")] = index_named(&ct).unwrap_or_default();
                match decile(&v[col("category")]) {
                    Some(d) => v[col("deprivation_decile")] = d.to_string(),
                    None => self.tally.unknown_deciles += 1,
                }
            }
            let key = key_at
                .iter()
                .map(|i| v[*i].as_str())
                .collect::<Vec<_>>()
                .join("\u{1f}");
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            let figures = h.finish();
            match self.seen.entry(key) {
                Entry::Occupied(e) if *e.get() == figures => {
                    self.tally.repeats += 1;
                    continue;
                }
                // Same key, other figures: the host's duplicate check
                // quarantines the later row.
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert(figures);
                }
            }
            if let Ok(id) = v[col("indicator_id")].parse::<u64>() {
                self.tally.indicators.insert(id);
            }
            rows.push(v, name, line);
            n += 1;
        }
        self.tally.rows += n;
        ctx.emit_rows("health_indicators", &mut rows)?;
        Ok(n)
    }

    /// The API requests: indicators in pages, for each child area type.
    pub fn requests(&self) -> Vec<String> {
        let o = &self.options;
        let base = o.base_url.trim_end_matches('/');
        let mut out = Vec::new();
        for page in o.indicator_ids.chunks(o.indicators_per_request.max(1)) {
            let ids: Vec<String> = page.iter().map(u64::to_string).collect();
            for area_type in &o.area_type_ids {
                let mut url = format!(
                    "{base}/all_data/csv/by_indicator_id?indicator_ids={}&child_area_type_id={area_type}&parent_area_type_id={}&include_sortable_time_periods=yes",
                    ids.join(","),
                    o.parent_area_type_id
                );
                if let Some(p) = o.profile_id {
                    url.push_str(&format!("&profile_id={p}"));
                }
                out.push(url);
            }
        }
        out
    }
}

impl SourcePlugin for Fingertips {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("fingertips", env!("CARGO_PKG_VERSION"))
            .description(
                "Public health indicators from OHID Fingertips (download CSV or the API), with deprivation decile breakdowns",
            )
            .licence("Open Government Licence v3.0 (Office for Health Improvement and Disparities)")
            .produces("health_indicators")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let has_path = options.path.as_ref().is_some_and(|p| !p.trim().is_empty());
        match (has_path, options.indicator_ids.is_empty()) {
            (true, false) => {
                return Err(PluginError::config(
                    "set `path` (a download) or `indicator_ids` (the API), not both",
                ));
            }
            (false, true) => {
                return Err(PluginError::config(
                    "set `path` (a Fingertips download) or `indicator_ids` (to fetch from the API)",
                ));
            }
            _ => {}
        }
        if !options.indicator_ids.is_empty() && options.area_type_ids.is_empty() {
            return Err(PluginError::config(
                "`area_type_ids` is empty: name the Fingertips area types wanted (502 for upper tier local authorities)",
            ));
        }
        let areas = options
            .areas
            .as_ref()
            .map(|a| a.iter().map(|s| s.trim().to_string()).collect());
        Ok(Fingertips {
            options,
            seen: HashMap::new(),
            areas,
            tally: Tally::default(),
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if let Some(path) = self.options.path.clone() {
            for (file, name) in eqpipe_workforce::resolve_some_inputs(ctx, &path)? {
                ctx.check_cancelled()?;
                let n = self.read(ctx, &file, &name)?;
                ctx.info(&format!("{name}: {n} rows"));
            }
        } else {
            let urls = self.requests();
            for (i, url) in urls.iter().enumerate() {
                ctx.check_cancelled()?;
                let got = ctx.fetch_url(url)?;
                let n = self.read(ctx, Path::new(&got.path), &got.url)?;
                ctx.progress(i as u64 + 1, urls.len() as u64, &format!("{n} rows"));
            }
            let missing = self
                .options
                .indicator_ids
                .iter()
                .filter(|id| !self.tally.indicators.contains(id))
                .count() as u64;
            if missing > 0 {
                ctx.coverage_warning(
                    Some("health_indicators"),
                    "indicators asked for that no Fingertips answer held",
                    missing,
                    Some(self.options.indicator_ids.len() as u64),
                );
            }
        }
        let t = &self.tally;
        if t.unknown_deciles > 0 {
            ctx.coverage_warning(
                Some("health_indicators"),
                "deprivation decile rows whose decile label was not recognised (kept without a decile)",
                t.unknown_deciles,
                Some(t.decile_rows),
            );
        }
        ctx.info(&format!(
            "{} rows of {} indicator(s); {} deprivation decile rows; {} exact repeats dropped; {} rows of areas not asked for left out",
            t.rows,
            t.indicators.len(),
            t.decile_rows,
            t.repeats,
            t.outside
        ));
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Fingertips);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decile_labels_as_fingertips_writes_them() {
        let labels = [
            "Most deprived decile (IMD2015)",
            "Second most deprived decile (IMD2015)",
            "Third more deprived decile (IMD2015)",
            "Fourth more deprived decile (IMD2015)",
            "Fifth more deprived decile (IMD2015)",
            "Fifth less deprived decile (IMD2015)",
            "Fourth less deprived decile (IMD2015)",
            "Third less deprived decile (IMD2015)",
            "Second least deprived decile (IMD2015)",
            "Least deprived decile (IMD2015)",
        ];
        let got: Vec<Option<u8>> = labels.iter().map(|l| decile(l)).collect();
        let want: Vec<Option<u8>> = (1..=10).map(Some).collect();
        assert_eq!(got, want);
        assert_eq!(decile("Most deprived quintile (IMD2019)"), None);
        assert_eq!(decile("Sixth more deprived decile"), None);
        assert_eq!(decile(""), None);
        assert_eq!(
            index_named("County & UA deprivation deciles in England (IMD2015)").as_deref(),
            Some("IMD2015")
        );
        assert!(is_decile_type(
            "District & UA deprivation deciles in England (IMD2015)"
        ));
        assert!(!is_decile_type("Ethnic groups"));
    }

    #[test]
    fn a_file_without_the_key_columns_is_refused_by_name() {
        let header: Vec<String> = ["Area Code", "Value"]
            .iter()
            .map(|h| normalise(h))
            .collect();
        let e = layout(&header, "x.csv").unwrap_err();
        assert!(e.to_string().contains("x.csv") && e.to_string().contains("`Indicator ID`"));
    }
}
