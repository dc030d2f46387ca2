//! `workforce`: HR extracts (CSV or XLSX) from any HR system, through a
//! column mapping, into the personal `workforce` dataset: one row per
//! employee and snapshot, harmonised to the Census 2021 classifications.
//!
//! Privacy by construction:
//! * the employee identifier is replaced, as it is read, by an HMAC-SHA256
//!   keyed hash (key from the environment variable the config names; the
//!   run fails without it), so the raw identifier never crosses into the
//!   host: not into Parquet, logs, errors or quarantine files;
//! * only the canonical columns are read: names, free text and dates of
//!   birth are never emitted (a date of birth, if mapped, only yields the age
//!   at the snapshot);
//! * the dataset's contract is personal, so the host stores it under the
//!   restricted root (0700/0600).
//!
//! Bad rows (ragged lines, grades outside the map) are rejected by the
//! plugin with a reason; bad dates, negative pay and duplicate employees in a
//! snapshot are rejected by the host against the contract. All go to the
//! restricted quarantine file with file, row, column and reason.

mod blocks;
pub mod classify;
mod columnar;
mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eqpipe_plugin_sdk::prelude::*;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use classify::Classifier;
use columnar::Chunker;

/// The canonical columns an extract is mapped onto.
pub const CANONICAL: &[&str] = &[
    "employee_id",
    "snapshot_date",
    "org_unit",
    "grade",
    "sex",
    "ethnic_group",
    "disability",
    "age",
    "date_of_birth",
    "contract_hours",
    "hourly_pay",
    "bonus_pay",
    "start_date",
    "leaver_date",
    "religion",
    "sexual_orientation",
    "gender_identity",
    "full_pay_relevant",
];

/// Spreadsheet or text.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated text.
    Csv,
    /// Excel workbook.
    Xlsx,
}

/// What to do with answers no classification knows.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnUnmapped {
    /// Store them as `unmapped` and report them with counts.
    #[default]
    Warn,
    /// Fail the source, reporting them with counts.
    Fail,
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The extract: a path, a glob on the file name (`hr/workforce-*.csv`,
    /// one file per snapshot), or a URL.
    pub path: String,
    /// `csv` or `xlsx`; guessed from the extension.
    #[serde(default)]
    pub format: Option<Format>,
    /// Worksheet (XLSX; default the first).
    #[serde(default)]
    pub sheet: Option<String>,
    /// Canonical column -> the file's column, for every name that differs
    /// (`employee_id = "Person Number"`).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Environment variable holding the pseudonymisation key.
    pub pseudonymisation_key_env: String,
    /// Snapshot date for files that have no snapshot column (YYYY-MM-DD).
    #[serde(default)]
    pub snapshot_date: Option<String>,
    /// Grade -> grade band. Without it the band is the grade; with it, a
    /// grade outside the map is rejected.
    #[serde(default)]
    pub grade_bands: BTreeMap<String, String>,
    /// Grades (or grade bands) counted as senior.
    #[serde(default)]
    pub senior: Vec<String>,
    /// Answers no classification knows: `warn` or `fail`.
    #[serde(default)]
    pub on_unmapped: OnUnmapped,
    /// Folder of extra classification files (`ethnic_group.toml`, …) adding
    /// a council's own answers.
    #[serde(default)]
    pub classifications_dir: Option<String>,
    /// How a CSV extract's bytes are text: `auto` (UTF-8, a field that is
    /// not UTF-8 read as Windows-1252, as Excel and HR systems write it),
    /// `utf-8` (invalid bytes in a column that is read reject the row) or
    /// `windows-1252` (also `latin-1`). Only the mapped columns are decoded.
    #[serde(default)]
    pub encoding: TextEncoding,
}

/// How the bytes of a CSV file are text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum TextEncoding {
    /// UTF-8 (a byte-order mark is skipped); a field that is not valid
    /// UTF-8 is read as Windows-1252.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// UTF-8 only: invalid bytes in a column that is read reject the row.
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// Windows-1252 (Latin-1's printable characters and more).
    #[serde(
        rename = "windows-1252",
        alias = "cp1252",
        alias = "latin-1",
        alias = "iso-8859-1"
    )]
    Windows1252,
}

impl TextEncoding {
    /// Decodes one field; `None` for bytes that are not text in a strict
    /// UTF-8 file.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        let latin = |b: &'a [u8]| encoding_rs::WINDOWS_1252.decode_without_bom_handling(b).0;
        match self {
            TextEncoding::Windows1252 => Some(latin(bytes)),
            TextEncoding::Utf8 => std::str::from_utf8(bytes)
                .ok()
                .map(std::borrow::Cow::Borrowed),
            TextEncoding::Auto => Some(match std::str::from_utf8(bytes) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => latin(bytes),
            }),
        }
    }
}

/// The plugin.
pub struct Workforce {
    options: Options,
    key: Vec<u8>,
    classifier: Classifier,
}

/// The dataset's columns, in the order emitted.
const OUT: &[&str] = &[
    "employee_key",
    "snapshot_date",
    "org_unit",
    "grade",
    "grade_band",
    "senior",
    "sex",
    "ethnic_group",
    "ethnic_group_broad",
    "disability",
    "religion",
    "sexual_orientation",
    "gender_identity",
    "age",
    "age_band",
    "contract_hours",
    "hourly_pay",
    "bonus_pay",
    "full_pay_relevant",
    "start_date",
    "leaver_date",
    REJECT_COLUMN,
];

impl SourcePlugin for Workforce {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("workforce", env!("CARGO_PKG_VERSION"))
            .description("HR extracts (CSV, XLSX) mapped, harmonised and pseudonymised into per-employee snapshots")
            .licence("Personal data of the partner; restricted, never published")
            .produces("workforce")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        for k in options.columns.keys() {
            if !CANONICAL.contains(&k.as_str()) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a canonical column (known: {})",
                    CANONICAL.join(", ")
                )));
            }
        }
        let key = key_from_env(&options.pseudonymisation_key_env)?;
        let classifier = load_classifier(options.classifications_dir.as_deref())?;
        Ok(Workforce {
            options,
            key,
            classifier,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let files = self.inputs(ctx)?;
        if files.is_empty() {
            return Err(PluginError::data(format!(
                "no file matches `{}`",
                self.options.path
            )));
        }
        for (path, name) in files {
            ctx.check_cancelled()?;
            let xlsx = match self.options.format {
                Some(f) => f == Format::Xlsx,
                None => name.to_ascii_lowercase().ends_with(".xlsx"),
            };
            let rows = if xlsx {
                let table = read_xlsx(&path, &name, self.options.sheet.as_deref())?;
                self.convert_rows(ctx, &table.header, &name, table.rows)?
            } else {
                self.convert_csv(ctx, &path, &name)?
            };
            ctx.info(&format!("{name}: {rows} employee rows"));
        }
        report_unmapped(ctx, &self.classifier, self.options.on_unmapped)?;
        Ok(())
    }
}

/// A read table: header and rows of text, with 1-based line numbers.
pub struct Table {
    /// Column names as in the file.
    pub header: Vec<String>,
    /// (line, values).
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Opens a CSV extract (ragged lines allowed, to be rejected by the
/// caller) and reads its header (trimmed, without a byte-order mark,
/// decoded as `encoding` says).
pub fn open_csv(
    path: &Path,
    name: &str,
    encoding: TextEncoding,
) -> Result<(csv::Reader<std::fs::File>, Vec<String>), PluginError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
    let header: Vec<String> = rdr
        .byte_headers()
        .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = h.strip_prefix(b"\xef\xbb\xbf").unwrap_or(h);
            encoding
                .decode(h)
                .map(|t| t.trim().to_string())
                .ok_or_else(|| {
                    PluginError::data(format!(
                        "{name}: header column {} is not UTF-8 text (set encoding = \"windows-1252\" for files saved by Excel on Windows)",
                        i + 1
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    Ok((rdr, header))
}

/// Reads a whole CSV extract (ragged lines kept, to be rejected by the
/// caller); fields that are not UTF-8 are read as Windows-1252.
pub fn read_csv(path: &Path, name: &str) -> Result<Table, PluginError> {
    let (mut rdr, header) = open_csv(path, name, TextEncoding::Auto)?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {}: {e}", i + 2)))?;
        rows.push((
            i as u64 + 2,
            rec.iter()
                .map(|f| {
                    TextEncoding::Auto
                        .decode(f)
                        .unwrap_or_default()
                        .into_owned()
                })
                .collect(),
        ));
    }
    Ok(Table { header, rows })
}

/// Excel's serial day number to YYYY-MM-DD (serial 1 is 1900-01-01, with
/// Excel's phantom 29 February 1900).
fn excel_date(serial: f64) -> String {
    let days = serial.floor() as i64 - 25_569; // days since 1970-01-01
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Reads a worksheet (the first, or `sheet`) of an XLSX extract.
pub fn read_xlsx(path: &Path, name: &str, sheet: Option<&str>) -> Result<Table, PluginError> {
    use calamine::{Data, Reader, open_workbook_auto};
    let mut wb = open_workbook_auto(path)
        .map_err(|e| PluginError::data(format!("{name}: not a readable workbook: {e}")))?;
    let sheet_name = match sheet {
        Some(s) => s.to_string(),
        None => wb
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| PluginError::data(format!("{name}: the workbook has no sheets")))?,
    };
    let range = wb
        .worksheet_range(&sheet_name)
        .map_err(|e| PluginError::data(format!("{name}: no sheet `{sheet_name}`: {e}")))?;
    let text = |d: &Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) => excel_date(dt.as_f64()),
            Data::DateTimeIso(s) | Data::DurationIso(s) => s.chars().take(10).collect(),
            Data::Error(e) => format!("#ERROR {e:?}"),
        }
    };
    let mut rows_iter = range.rows();
    let header: Vec<String> = rows_iter
        .next()
        .map(|r| r.iter().map(|d| text(d).trim().to_string()).collect())
        .ok_or_else(|| PluginError::data(format!("{name}: sheet `{sheet_name}` is empty")))?;
    let rows = rows_iter
        .enumerate()
        .map(|(i, r)| (i as u64 + 2, r.iter().map(text).collect()))
        .collect();
    Ok(Table { header, rows })
}

/// HMAC-SHA256 of a person identifier with the partner's key, as hex.
pub fn pseudonymise(key: &[u8], id: &str) -> String {
    let mut buf = [0u8; 64];
    pseudonymise_with(&hmac_for(key), id, &mut buf).to_string()
}

/// The keyed HMAC state, set up once (the key's inner and outer pads) and
/// cloned for each identifier.
pub fn hmac_for(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

/// [`pseudonymise`] into `out`, without allocating.
pub fn pseudonymise_with<'a>(mac: &Hmac<Sha256>, id: &str, out: &'a mut [u8; 64]) -> &'a str {
    let mut mac = mac.clone();
    mac.update(id.trim().as_bytes());
    hex::encode_to_slice(mac.finalize().into_bytes(), out).expect("64 bytes for 32");
    std::str::from_utf8(out).expect("hex is ASCII")
}

/// Reads the pseudonymisation key from the named environment variable; a
/// missing or short key is a configuration error.
pub fn key_from_env(var: &str) -> Result<Vec<u8>, PluginError> {
    let key = std::env::var(var).unwrap_or_default();
    if key.trim().len() < 16 {
        return Err(PluginError::config(format!(
            "the pseudonymisation key is missing or too short: set the environment variable `{var}` to a secret of at least 16 characters (never reuse it across partners unless linking is intended)"
        )));
    }
    Ok(key.trim().as_bytes().to_vec())
}

/// Loads the built-in classifications plus the `*.toml` files in `dir`.
pub fn load_classifier(dir: Option<&str>) -> Result<Classifier, PluginError> {
    let mut extra = Vec::new();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| PluginError::config(format!("classifications_dir {dir}: {e}")))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p)?;
                extra.push((p.display().to_string(), text));
            }
        }
    }
    Classifier::load(&extra).map_err(PluginError::config)
}

/// Reports answers no classification knew; fails when asked to.
pub fn report_unmapped(
    ctx: &Context,
    classifier: &Classifier,
    on: OnUnmapped,
) -> Result<(), PluginError> {
    if classifier.unmapped.is_empty() {
        return Ok(());
    }
    // Answers are free text from people: only the field and the counts
    // are said, never an answer.
    let report: Vec<(String, u64, usize)> = classifier
        .unmapped
        .iter()
        .map(|(field, answers)| (field.to_string(), answers.values().sum(), answers.len()))
        .collect();
    match on {
        OnUnmapped::Warn => {
            for (field, rows, distinct) in &report {
                ctx.coverage_warning(
                    None,
                    &format!(
                        "{field}: answers no classification knows ({distinct} distinct; add aliases in classifications_dir)"
                    ),
                    *rows,
                    None,
                );
            }
            Ok(())
        }
        OnUnmapped::Fail => Err(PluginError::data(format!(
            "answers no classification knows (add them to a file in classifications_dir): {}",
            report
                .iter()
                .map(|(f, rows, distinct)| format!("{f}: {rows} rows, {distinct} distinct answers"))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// Reads an extract in its format (guessed from the name when not given).
pub fn read_table(
    path: &Path,
    name: &str,
    format: Option<Format>,
    sheet: Option<&str>,
) -> Result<Table, PluginError> {
    match format {
        Some(Format::Xlsx) => read_xlsx(path, name, sheet),
        Some(Format::Csv) => read_csv(path, name),
        None if name.to_ascii_lowercase().ends_with(".xlsx") => read_xlsx(path, name, sheet),
        None => read_csv(path, name),
    }
}

/// `31/03/2025`, `31-03-2025`, `2025/03/31` and `2025-03-31` as
/// `2025-03-31`; anything else is left for the host to reject.
pub fn iso_date(s: &str) -> String {
    use eqpipe_plugin_sdk::published::{self, Cell, Precision};
    // The host's rules for published dates (UK day/month order, `31 Mar
    // 2020`, Excel serials); anything less than a day, or unreadable, is
    // passed on as written for the host to judge.
    match published::date(s, &Default::default()) {
        Cell::Value((d, Precision::Day)) => d.format("%Y-%m-%d").to_string(),
        _ => s.trim().to_string(),
    }
}

/// The standard workforce age band.
pub fn age_band(age: Option<i64>) -> &'static str {
    match age {
        None => "not_stated",
        Some(a) if a < 16 => "under 16",
        Some(a) if a <= 24 => "16-24",
        Some(a) if a <= 34 => "25-34",
        Some(a) if a <= 49 => "35-49",
        Some(a) if a <= 64 => "50-64",
        Some(_) => "65+",
    }
}

/// Whole years from `birth` to `at` (both YYYY-MM-DD).
pub fn years_between(birth: &str, at: &str) -> Option<i64> {
    columnar::whole_years(columnar::ymd(birth), columnar::ymd(at))
}

fn yes_no(s: &str) -> &'static str {
    match classify::normalise(s).as_str() {
        "y" | "yes" | "true" | "1" => "true",
        "n" | "no" | "false" | "0" => "false",
        _ => "",
    }
}

impl Workforce {
    fn inputs(&self, ctx: &Context) -> Result<Vec<(PathBuf, String)>, PluginError> {
        resolve_inputs(ctx, &self.options.path)
    }
}

/// As [`resolve_inputs`], and a glob that names no file is an error (a
/// source that reads nothing must say so, not succeed empty).
pub fn resolve_some_inputs(
    ctx: &Context,
    path: &str,
) -> Result<Vec<(PathBuf, String)>, PluginError> {
    let files = resolve_inputs(ctx, path)?;
    if files.is_empty() {
        return Err(PluginError::data(format!("`{path}` names no file")));
    }
    Ok(files)
}

/// The files a `path` option names: one file or URL, or a glob on the file
/// name in a folder the host resolves (relative to the config).
pub fn resolve_inputs(ctx: &Context, path: &str) -> Result<Vec<(PathBuf, String)>, PluginError> {
    {
        let p = path.trim();
        let file_name = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        if p.contains("://") || !p.contains('*') {
            let got = ctx.fetch_url(p)?;
            return Ok(vec![(PathBuf::from(got.path), file_name(p))]);
        }
        // A glob on the file name, in a folder the host resolves (relative
        // to the config).
        let (dir, pattern) = p.rsplit_once('/').unwrap_or((".", p));
        let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
        let base = PathBuf::from(ctx.fetch_url(dir)?.path);
        let mut names: Vec<String> = std::fs::read_dir(&base)
            .map_err(|e| PluginError::io(format!("{dir}: {e}")))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| {
                n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && n.len() >= prefix.len() + suffix.len()
            })
            .collect();
        names.sort();
        let mut out = Vec::new();
        for n in names {
            let got = ctx.fetch_url(&format!("{dir}/{n}"))?;
            out.push((PathBuf::from(got.path), n));
        }
        Ok(out)
    }
}

impl Workforce {
    /// Converts a sheet's rows (line, cells) into `workforce` batches of
    /// 64K rows on this thread.
    fn convert_rows(
        &mut self,
        ctx: &Context,
        header: &[String],
        name: &str,
        rows: Vec<(u64, Vec<String>)>,
    ) -> Result<u64, PluginError> {
        let idx = column_positions(&self.options, header, name)?;
        let classifier = std::mem::take(&mut self.classifier);
        // A sheet's cells are text already.
        let mut chunker = Chunker::new(
            &self.options,
            TextEncoding::Auto,
            &self.key,
            &idx,
            header,
            classifier,
        );
        let (lines, records): (Vec<u64>, Vec<Vec<String>>) = rows.into_iter().unzip();
        let mut n = 0u64;
        let mut result = Ok(());
        for (c, chunk) in records.chunks(64 * 1024).enumerate() {
            let at = c * 64 * 1024;
            let converted = ctx.check_cancelled().and_then(|()| {
                chunker
                    .chunk(chunk, |k| lines[at + k], name)
                    .map_err(PluginError::from)
            });
            match converted {
                Ok(Some((batch, rows))) => {
                    n += rows;
                    if let Err(e) = ctx.emit_batches("workforce", batch.schema(), vec![batch]) {
                        result = Err(e);
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        chunker.count_unmapped();
        self.classifier = chunker.classifier;
        result.map(|()| n)
    }
}

/// Where each canonical column is in a file with this header (the
/// `columns` mapping applied, names compared without case), or an error
/// naming what is missing or ambiguous.
fn column_positions(
    options: &Options,
    header: &[String],
    name: &str,
) -> Result<[Option<usize>; CANONICAL.len()], PluginError> {
    // Canonical column -> index in the file.
    let lower: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut idx: [Option<usize>; CANONICAL.len()] = [None; CANONICAL.len()];
    for (k, c) in CANONICAL.iter().enumerate() {
        let wanted = options
            .columns
            .get(*c)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_else(|| c.to_string());
        let mut at = lower.iter().enumerate().filter(|(_, h)| **h == wanted);
        if let Some((i, _)) = at.next() {
            if let Some((j, _)) = at.next() {
                return Err(PluginError::data(format!(
                    "{name}: the header names `{}` twice (columns {} and {}), so which one holds {c} cannot be told; rename one or map {c} to another column",
                    header[i],
                    i + 1,
                    j + 1
                )));
            }
            idx[k] = Some(i);
        } else if options.columns.contains_key(*c) {
            return Err(PluginError::data(format!(
                "{name}: column `{}` (mapped to {c}) is not in the file (found: {})",
                options.columns[*c],
                header.join(", ")
            )));
        }
    }
    for required in ["employee_id", "grade"] {
        if idx[col(required)].is_none() {
            return Err(PluginError::data(format!(
                "{name}: no `{required}` column; map it with columns.{required} = \"<the file's column>\" (found: {})",
                header.join(", ")
            )));
        }
    }
    if idx[col("snapshot_date")].is_none() && options.snapshot_date.is_none() {
        return Err(PluginError::data(format!(
            "{name}: no snapshot_date column; map one or set the snapshot_date option"
        )));
    }
    Ok(idx)
}

/// A canonical column's position in [`CANONICAL`].
fn col(c: &str) -> usize {
    CANONICAL
        .iter()
        .position(|x| *x == c)
        .expect("a canonical column")
}

/// [`iso_date`], borrowing when the date is already `YYYY-MM-DD`.
pub fn iso_date_cow(s: &str) -> std::borrow::Cow<'_, str> {
    let t = s.trim();
    let b = t.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        std::borrow::Cow::Borrowed(t)
    } else {
        std::borrow::Cow::Owned(iso_date(t))
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Workforce);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_common_hr_formats_become_iso() {
        assert_eq!(iso_date("31/03/2025"), "2025-03-31");
        assert_eq!(iso_date("1/4/2024"), "2024-04-01");
        assert_eq!(iso_date("2025-03-31T00:00:00"), "2025-03-31");
        assert_eq!(iso_date("March 2025"), "March 2025");
        assert_eq!(excel_date(45747.0), "2025-03-31");
    }

    #[test]
    fn ages_and_bands() {
        assert_eq!(years_between("1990-04-01", "2025-03-31"), Some(34));
        assert_eq!(years_between("1990-03-31", "2025-03-31"), Some(35));
        assert_eq!(age_band(Some(24)), "16-24");
        assert_eq!(age_band(Some(65)), "65+");
        assert_eq!(age_band(None), "not_stated");
    }
}
