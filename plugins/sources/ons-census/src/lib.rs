//! `ons-census`: Census 2021 topic summary tables from the Nomis bulk
//! downloads, into the long `census_counts` dataset.
//!
//! For table `TSnnn` it fetches `<base_url>/census2021-tsnnn.zip` through the
//! host and streams the member for each configured geography level
//! (`census2021-tsnnn-ltla.csv`, …); `base_url` may also be a folder path, or
//! a direct `.zip` or `.csv` URL or path. No table has code of its own: the
//! header and the sums reveal each table's category hierarchy (see
//! [`table`]).
//!
//! Source: Office for National Statistics, Census 2021, licensed under the
//! Open Government Licence v3.0.

pub mod table;
mod wards;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::types::Int32Type;
use eqpipe_plugin_sdk::arrow_array::{
    DictionaryArray, Int16Array, Int32Array, Int64Array, StringArray, UInt8Array, UInt64Array,
};
use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

use table::{
    Header, build_crosstab, check_row, detect_by_sums, is_crosstab, parse_header, unit_of,
};

/// Nomis's Census 2021 bulk download folder.
pub const DEFAULT_BASE_URL: &str = "https://www.nomisweb.co.uk/output/census/2021/";

/// Areas per emitted batch (each area gives one row per category).
const AREAS_PER_BATCH: usize = 2048;
/// Rows sampled to detect the hierarchy by sums.
const SAMPLE_ROWS: usize = 256;

/// The geography levels of the bulk files.
pub const LEVELS: &[&str] = &["ctry", "rgn", "utla", "ltla", "wd", "msoa", "lsoa", "oa"];

/// One value or several (levels, lookups).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Levels {
    /// A single value, e.g. `"ltla"`.
    One(String),
    /// Several values, e.g. `["ltla", "wd"]`.
    Many(Vec<String>),
}

impl Levels {
    /// The values, in order.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Levels::One(v) => vec![v.clone()],
            Levels::Many(v) => v.clone(),
        }
    }
}

/// What to do when categories do not add up to their parent.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnMismatch {
    /// Log a warning with the first example and the count, and store.
    #[default]
    Warn,
    /// Fail the source.
    Fail,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_levels() -> Levels {
    Levels::One("ltla".into())
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Nomis bulk folder URL (default), a local folder, or a direct `.zip`
    /// or `.csv` URL or path (then `tables` and `geography` name one each).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Topic summary tables, e.g. `["TS021", "TS038"]`.
    #[schemars(length(min = 1))]
    pub tables: Vec<String>,
    /// Geography level(s): ctry, rgn, utla, ltla, wd (or ward), msoa, lsoa, oa.
    #[serde(default = "default_levels")]
    pub geography: Levels,
    /// Keep only these area codes (empty: all areas).
    #[serde(default)]
    pub areas: Vec<String>,
    /// Keep only areas inside these (e.g. all wards of `E08000003`), using
    /// `lookup`.
    #[serde(default)]
    pub parent_areas: Vec<String>,
    /// ONS Open Geography lookup CSVs (one URL or path, or a list) relating
    /// the areas to their parents (columns such as `WD22CD`, `LAD22CD`):
    /// e.g. the LSOA-to-ward-to-LAD lookup for wards and LSOAs, with the
    /// MSOA-to-LAD lookup for MSOAs. Each parent must be in every lookup.
    #[serde(default)]
    pub lookup: Option<Levels>,
    /// Categories that do not sum to their parent: `warn` or `fail`.
    #[serde(default)]
    pub on_inconsistent_sums: OnMismatch,
    /// Also write wards (`wd`), adding up the LSOAs in each through the
    /// `lookup` that relates LSOAs (2021) to wards (ONS's best-fit
    /// lookup): Nomis's bulk files have no wards. Needs `lsoa` in
    /// `geography`. ONS's own ward figures are built from output areas, so
    /// these can differ from them slightly.
    #[serde(default)]
    pub wards_from_lsoas: bool,
}

/// The plugin.
pub struct OnsCensus {
    options: Options,
    tables: Vec<String>,
    levels: Vec<String>,
}

fn normalise_level(l: &str) -> Result<String, PluginError> {
    let l = l.trim().to_ascii_lowercase();
    let l = if l == "ward" { "wd".to_string() } else { l };
    if LEVELS.contains(&l.as_str()) {
        Ok(l)
    } else {
        Err(PluginError::config(format!(
            "unknown geography level `{l}` (known: {}, or ward)",
            LEVELS.join(", ")
        )))
    }
}

fn normalise_table(t: &str) -> Result<String, PluginError> {
    let t = t.trim().to_ascii_uppercase();
    let ok = t.len() >= 5
        && t.starts_with("TS")
        && t[2..5].chars().all(|c| c.is_ascii_digit())
        && t[5..].chars().all(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(t)
    } else {
        Err(PluginError::config(format!(
            "`{t}` is not a Census 2021 topic summary table code (like TS021 or TS007A)"
        )))
    }
}

impl SourcePlugin for OnsCensus {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("ons-census", env!("CARGO_PKG_VERSION"))
            .description("Census 2021 topic summary tables (Nomis bulk files) as long-form counts")
            .licence("Open Government Licence v3.0; Source: Office for National Statistics (Census 2021)")
            .produces("census_counts")
            .produces("census_rates")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let tables = options
            .tables
            .iter()
            .map(|t| normalise_table(t))
            .collect::<Result<Vec<_>, _>>()?;
        if tables.is_empty() {
            return Err(PluginError::config(
                "`tables` is empty: name at least one table, e.g. [\"TS021\"]",
            ));
        }
        let levels = options
            .geography
            .to_vec()
            .iter()
            .map(|l| normalise_level(l))
            .collect::<Result<Vec<_>, _>>()?;
        if levels.is_empty() {
            return Err(PluginError::config("`geography` is empty"));
        }
        let direct = options.base_url.ends_with(".csv") || options.base_url.ends_with(".zip");
        if direct && options.base_url.ends_with(".csv") && (tables.len() != 1 || levels.len() != 1)
        {
            return Err(PluginError::config(
                "a direct .csv base_url holds one table at one level: name exactly one table and one geography",
            ));
        }
        if direct && options.base_url.ends_with(".zip") && tables.len() != 1 {
            return Err(PluginError::config(
                "a direct .zip base_url holds one table: name exactly one table",
            ));
        }
        if options.wards_from_lsoas && !levels.iter().any(|l| l == "lsoa") {
            return Err(PluginError::config(
                "`wards_from_lsoas` adds up LSOAs: add \"lsoa\" to `geography`",
            ));
        }
        if options.wards_from_lsoas && options.lookup.is_none() {
            return Err(PluginError::config(
                "`wards_from_lsoas` needs `lookup`: ONS's LSOA (2021) to ward lookup",
            ));
        }
        if !options.parent_areas.is_empty() && options.lookup.is_none() {
            return Err(PluginError::config(
                "`parent_areas` needs `lookup`: an ONS lookup CSV relating the areas to their parents",
            ));
        }
        Ok(OnsCensus {
            options,
            tables,
            levels,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut areas: HashSet<String> = self
            .options
            .areas
            .iter()
            .map(|a| a.trim().to_string())
            .collect();
        if let Some(lookups) = &self.options.lookup
            && !self.options.parent_areas.is_empty()
        {
            for lookup in lookups.to_vec() {
                let got = ctx.fetch_url(&lookup)?;
                let inside = areas_within(&got.path, &lookup, &self.options.parent_areas)?;
                ctx.info(&format!(
                    "{} areas within {} (from {lookup})",
                    inside.len(),
                    self.options.parent_areas.join(", ")
                ));
                areas.extend(inside);
            }
        }
        let mut ward_of: Option<wards::WardOf> = None;
        if self.options.wards_from_lsoas {
            for lookup in self.options.lookup.iter().flat_map(Levels::to_vec) {
                let got = ctx.fetch_url(&lookup)?;
                if let Some(w) = wards::read_lookup(&got.path, &lookup)? {
                    ctx.info(&format!(
                        "{} LSOAs placed in wards (from {lookup})",
                        w.len()
                    ));
                    ward_of = Some(w);
                    break;
                }
            }
            if ward_of.is_none() {
                return Err(PluginError::config(
                    "`wards_from_lsoas`: no `lookup` relates LSOAs to wards (columns LSOA21CD and WD22CD, WD22NM or another year's)",
                ));
            }
        }
        for table in &self.tables {
            let base = self.options.base_url.trim();
            if base.ends_with(".csv") {
                ctx.check_cancelled()?;
                let got = ctx.fetch_url(base)?;
                let file = std::fs::File::open(&got.path)?;
                let name = base.rsplit('/').next().unwrap_or(base).to_string();
                convert(
                    ctx,
                    file,
                    &name,
                    table,
                    &self.levels[0],
                    &areas,
                    self.options.on_inconsistent_sums,
                    ward_of.as_ref().filter(|_| self.levels[0] == "lsoa"),
                )?;
                continue;
            }
            let url = if base.ends_with(".zip") {
                base.to_string()
            } else {
                format!(
                    "{}/census2021-{}.zip",
                    base.trim_end_matches('/'),
                    table.to_ascii_lowercase()
                )
            };
            ctx.check_cancelled()?;
            let got = ctx.fetch_url(&url)?;
            if got.not_modified {
                ctx.info(&format!(
                    "{url}: not modified since the last run (no download)"
                ));
            }
            let file = std::fs::File::open(&got.path)?;
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
                // Say what came instead: an HTML error page served with 200
                // is the usual cause (public data, so its first line may be
                // shown).
                let first: String = std::fs::read(&got.path)
                    .ok()
                    .map(|b| {
                        String::from_utf8_lossy(&b[..b.len().min(200)])
                            .lines()
                            .next()
                            .unwrap_or("")
                            .trim()
                            .chars()
                            .take(80)
                            .collect()
                    })
                    .unwrap_or_default();
                PluginError::data(format!(
                    "{url}: expected a zip archive but the server sent {} ({} bytes, starting `{first}`): {e}",
                    got.content_type.as_deref().unwrap_or("no content type"),
                    got.bytes
                ))
            })?;
            for level in &self.levels {
                ctx.check_cancelled()?;
                let lower = table.to_ascii_lowercase();
                let mut candidates = vec![format!("census2021-{lower}-{level}.csv")];
                if level == "wd" {
                    candidates.push(format!("census2021-{lower}-ward.csv"));
                }
                let member = candidates
                    .iter()
                    .find(|c| zip.index_for_name(c).is_some())
                    .cloned();
                let Some(member) = member else {
                    let names: Vec<String> = zip
                        .file_names()
                        .take(12)
                        .filter_map(|n| n.ok().map(|n| n.to_string()))
                        .collect();
                    return Err(PluginError::data(format!(
                        "{url}: the zip has no member {} (it has: {})",
                        candidates.join(" or "),
                        names.join(", ")
                    )));
                };
                let reader = zip
                    .by_name(&member)
                    .map_err(|e| PluginError::data(format!("{url}: cannot read {member}: {e}")))?;
                convert(
                    ctx,
                    reader,
                    &member,
                    table,
                    level,
                    &areas,
                    self.options.on_inconsistent_sums,
                    ward_of.as_ref().filter(|_| level == "lsoa"),
                )?;
            }
        }
        Ok(())
    }
}

/// The constant and per-chunk columns of one output batch.
struct ChunkBuilder<'h> {
    header: &'h Header,
    file: &'h str,
    constants: [Arc<StringArray>; 4], // geography_level, table_code, topic, unit
    labels: Arc<StringArray>,
    codes: Vec<String>,
    names: Vec<String>,
    lines: Vec<u64>,
    counts: Vec<i64>,
}

impl<'h> ChunkBuilder<'h> {
    fn new(header: &'h Header, file: &'h str, level: &str, table: &str) -> Self {
        let one = |s: &str| Arc::new(StringArray::from(vec![s.to_string()]));
        ChunkBuilder {
            header,
            file,
            constants: [
                one(level),
                one(table),
                one(&header.topic),
                one(unit_of(table)),
            ],
            labels: Arc::new(StringArray::from_iter_values(
                header.categories.iter().map(|c| c.label.as_str()),
            )),
            codes: Vec::new(),
            names: Vec::new(),
            lines: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn push(&mut self, code: String, name: String, line: u64, counts: &[i64]) {
        self.codes.push(code);
        self.names.push(name);
        self.lines.push(line);
        self.counts.extend_from_slice(counts);
    }

    fn len(&self) -> usize {
        self.codes.len()
    }

    fn build(&mut self) -> Result<RecordBatch, PluginError> {
        let ncat = self.header.categories.len();
        let nareas = self.codes.len();
        let rows = ncat * nareas;
        let dict = |keys: Int32Array, values: Arc<StringArray>| -> Result<ArrayRef, PluginError> {
            Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys, values,
            )?))
        };
        let zeros = || Int32Array::from(vec![0; rows]);
        let area_keys = Int32Array::from_iter_values(
            (0..nareas as i32).flat_map(|a| std::iter::repeat_n(a, ncat)),
        );
        let cat_keys = Int32Array::from_iter_values((0..nareas).flat_map(|_| 0..ncat as i32));
        let parent_keys: Int32Array = (0..nareas)
            .flat_map(|_| {
                self.header
                    .categories
                    .iter()
                    .map(|c| c.parent.map(|p| p as i32))
            })
            .collect();
        let levels = UInt8Array::from_iter_values(
            (0..nareas).flat_map(|_| self.header.categories.iter().map(|c| c.level)),
        );
        let lines = UInt64Array::from_iter_values(
            self.lines
                .iter()
                .flat_map(|l| std::iter::repeat_n(*l, ncat)),
        );
        let codes = Arc::new(StringArray::from(std::mem::take(&mut self.codes)));
        let names = Arc::new(StringArray::from(std::mem::take(&mut self.names)));
        let [level, table, topic, unit] = self.constants.clone();
        let columns: Vec<ArrayRef> = vec![
            dict(area_keys.clone(), codes)?,
            dict(area_keys, names)?,
            dict(zeros(), level)?,
            Arc::new(Int16Array::from(vec![2021i16; rows])),
            dict(zeros(), table)?,
            dict(zeros(), topic)?,
            dict(cat_keys, self.labels.clone())?,
            Arc::new(levels),
            dict(parent_keys, self.labels.clone())?,
            dict(zeros(), unit)?,
            Arc::new(Int64Array::from(std::mem::take(&mut self.counts))),
            dict(
                zeros(),
                Arc::new(StringArray::from(vec![self.file.to_string()])),
            )?,
            Arc::new(lines),
        ];
        self.lines.clear();
        Ok(RecordBatch::try_new(output_schema(), columns)?)
    }
}

fn output_schema() -> SchemaRef {
    let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("area_code", dict(), false),
        Field::new("area_name", dict(), false),
        Field::new("geography_level", dict(), false),
        Field::new("census_year", DataType::Int16, false),
        Field::new("table_code", dict(), false),
        Field::new("topic", dict(), false),
        Field::new("category_label", dict(), false),
        Field::new("category_level", DataType::UInt8, false),
        Field::new("parent_label", dict(), true),
        Field::new("unit", dict(), false),
        Field::new("count", DataType::Int64, false),
        Field::new(SOURCE_FILE_COLUMN, dict(), false),
        Field::new(SOURCE_ROW_COLUMN, DataType::UInt64, false),
    ]))
}

/// Every area code that shares a lookup row with one of `parents`: the
/// parents themselves and everything the lookup places inside them.
pub fn areas_within(
    path: &str,
    name: &str,
    parents: &[String],
) -> Result<HashSet<String>, PluginError> {
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| PluginError::io(format!("{name}: {e}")))?;
    let header = rdr
        .headers()
        .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
        .clone();
    let code_cols: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .to_ascii_uppercase()
                .ends_with("CD")
        })
        .map(|(i, _)| i)
        .collect();
    if code_cols.is_empty() {
        return Err(PluginError::data(format!(
            "{name}: not an ONS lookup (no code columns such as LAD22CD)"
        )));
    }
    let parents: HashSet<&str> = parents.iter().map(|p| p.trim()).collect();
    let mut found = HashSet::new();
    let mut matched = HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {}: {e}", i + 2)))?;
        let codes: Vec<&str> = code_cols
            .iter()
            .filter_map(|&c| rec.get(c))
            .map(str::trim)
            .collect();
        if let Some(p) = codes.iter().find(|c| parents.contains(**c)) {
            matched.insert(p.to_string());
            found.extend(
                codes
                    .iter()
                    .filter(|c| !c.is_empty())
                    .map(|c| c.to_string()),
            );
        }
    }
    if let Some(missing) = parents.iter().find(|p| !matched.contains(**p)) {
        return Err(PluginError::config(format!(
            "parent area {missing} is not in the lookup {name}"
        )));
    }
    Ok(found)
}

/// One data row of the wide file.
struct AreaRow {
    line: u64,
    code: String,
    name: String,
    counts: Vec<i64>,
}

/// Streams one wide CSV into `census_counts` batches; with `ward_of`, an
/// LSOA file's areas are also added up into wards.
// Long: read the header, sample the rows for the hierarchy, then stream;
// one reader closure shared by the sample and the rest.
#[allow(clippy::too_many_arguments)]
fn convert(
    ctx: &Context,
    input: impl Read,
    file: &str,
    table: &str,
    level: &str,
    areas: &HashSet<String>,
    on_mismatch: OnMismatch,
    ward_of: Option<&wards::WardOf>,
) -> Result<(), PluginError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let has = rdr
        .read_record(&mut record)
        .map_err(|e| PluginError::data(format!("{file}: cannot read the header: {e}")))?;
    if !has {
        return Err(PluginError::data(format!("{file}: the file is empty")));
    }
    let cols: Vec<String> = record.iter().map(str::to_string).collect();
    // Tables of rates (density, age-standardised proportions) go to
    // `census_rates`: told by their code or by decimals in the first row.
    let mut first = csv::StringRecord::new();
    let has_first = rdr
        .read_record(&mut first)
        .map_err(|e| PluginError::data(format!("{file}, row 2: {e}")))?;
    let decimals = has_first && first.iter().skip(3).any(|v| v.contains('.'));
    if table.ends_with("ASP") || decimals {
        if ward_of.is_some() {
            ctx.warn(&format!(
                "{file}: {table} holds rates, which cannot be added up: no ward rows from its LSOAs"
            ));
        }
        return convert_rates(ctx, rdr, first, &cols, file, table, level, areas);
    }
    let mut buffered = has_first.then_some(first);
    // A single-variable header is checked before any row is read; a
    // cross-tabulation needs the sample to check its groups.
    let single = if is_crosstab(&cols) {
        None
    } else {
        Some(parse_header(&cols).map_err(|e| PluginError::data(format!("{file}: {e}")))?)
    };
    let width = cols.len();
    let nval = width - 3;

    // Read a sample to find the hierarchy by sums, then stream the rest.
    let mut pending: Vec<AreaRow> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut line: u64 = 1;
    let mut read_row = |rdr: &mut csv::Reader<_>,
                        record: &mut csv::StringRecord|
     -> Result<Option<AreaRow>, PluginError> {
        let more = match buffered.take() {
            Some(b) => {
                *record = b;
                true
            }
            None => rdr
                .read_record(record)
                .map_err(|e| PluginError::data(format!("{file}, row {}: {e}", line + 1)))?,
        };
        if !more {
            return Ok(None);
        }
        line += 1;
        if record.len() != width {
            return Err(PluginError::data(format!(
                "{file}, row {line}: {} fields, but the header has {width}",
                record.len()
            )));
        }
        let code = record[2].trim().to_string();
        if let Some(first) = seen.insert(code.clone(), line) {
            return Err(PluginError::data(format!(
                "{file}, row {line}: area {code} appears twice (first at row {first})"
            )));
        }
        let mut counts = Vec::with_capacity(nval);
        for i in 3..width {
            let v = record[i].trim();
            let n: i64 = v.parse().map_err(|_| {
                PluginError::data(format!(
                    "{file}, row {line}, column `{}`: `{v}` is not a whole number",
                    cols[i]
                ))
            })?;
            counts.push(n);
        }
        Ok(Some(AreaRow {
            line,
            code,
            name: record[1].trim().to_string(),
            counts,
        }))
    };
    while pending.len() < SAMPLE_ROWS {
        match read_row(&mut rdr, &mut record)? {
            Some(r) => pending.push(r),
            None => break,
        }
    }
    if pending.is_empty() {
        return Err(PluginError::data(format!(
            "{file}: the file has a header but no areas"
        )));
    }
    let sample: Vec<Vec<i64>> = pending.iter().map(|r| r.counts.clone()).collect();
    let (header, keep) = match single {
        Some(mut h) => {
            detect_by_sums(&mut h, &sample);
            (h, None)
        }
        None => {
            let (h, keep) = build_crosstab(&cols, &sample)
                .map_err(|e| PluginError::data(format!("{file}: {e}")))?;
            (h, Some(keep))
        }
    };
    // Cross-tabulations keep only the columns of their tree.
    let select = |counts: Vec<i64>| -> Vec<i64> {
        match &keep {
            Some(k) => k.iter().map(|&i| counts[i]).collect(),
            None => counts,
        }
    };
    let depth = header.categories.iter().map(|c| c.level).max().unwrap_or(0);
    ctx.debug(&format!(
        "{file}: {} categories, {depth} level(s) below the total",
        header.categories.len()
    ));

    let mut chunk = ChunkBuilder::new(&header, file, level, table);
    let mut ward_sums = ward_of.map(wards::WardSums::new);
    let mut mismatches: u64 = 0;
    let mut first_mismatch: Option<String> = None;
    let mut areas_out: u64 = 0;
    let mut handle = |row: AreaRow, chunk: &mut ChunkBuilder| -> Result<(), PluginError> {
        let AreaRow {
            line: l,
            code,
            name,
            counts,
        } = row;
        let counts = select(counts);
        if !areas.is_empty() && !areas.contains(&code) {
            return Ok(());
        }
        if let Some((parent, expected, actual)) = check_row(&header, &counts) {
            mismatches += 1;
            if first_mismatch.is_none() {
                first_mismatch = Some(format!(
                    "{file}, row {l} ({code}): categories under `{parent}` sum to {actual}, not {expected}"
                ));
            }
        }
        if let Some(w) = ward_sums.as_mut() {
            w.add(&code, l, &counts);
        }
        chunk.push(code, name, l, &counts);
        areas_out += 1;
        if chunk.len() >= AREAS_PER_BATCH {
            ctx.check_cancelled()?;
            let b = chunk.build()?;
            ctx.emit_batches("census_counts", b.schema(), vec![b])?;
            ctx.progress(areas_out, 0, &format!("{table} {level}: {areas_out} areas"));
        }
        Ok(())
    };
    for row in pending.drain(..) {
        handle(row, &mut chunk)?;
    }
    while let Some(row) = read_row(&mut rdr, &mut record)? {
        handle(row, &mut chunk)?;
    }
    if chunk.len() > 0 {
        let b = chunk.build()?;
        ctx.emit_batches("census_counts", b.schema(), vec![b])?;
    }
    if let Some(w) = ward_sums {
        let from = format!("{file} (LSOAs added up by ward)");
        let (wards, warnings) = w.finish(file);
        for msg in warnings {
            ctx.warn(&msg);
        }
        let mut chunk = ChunkBuilder::new(&header, &from, "wd", table);
        let n = wards.len();
        for (code, name, line, counts) in wards {
            chunk.push(code, name, line, &counts);
        }
        if chunk.len() > 0 {
            let b = chunk.build()?;
            ctx.emit_batches("census_counts", b.schema(), vec![b])?;
        }
        ctx.info(&format!("{table}: {n} wards from {areas_out} LSOAs"));
    }
    if mismatches > 0 {
        let msg = format!(
            "{mismatches} area(s) where categories do not add up; first: {}",
            first_mismatch.unwrap_or_default()
        );
        match on_mismatch {
            OnMismatch::Warn => ctx.warn(&msg),
            OnMismatch::Fail => return Err(PluginError::data(msg)),
        }
    }
    ctx.debug(&format!(
        "{table} {level}: {areas_out} areas, {} categories",
        header.categories.len()
    ));
    Ok(())
}

/// Streams a table of rates into `census_rates`: one row per area and
/// category, values as published.
#[allow(clippy::too_many_arguments)]
fn convert_rates<R: Read>(
    ctx: &Context,
    mut rdr: csv::Reader<R>,
    first: csv::StringRecord,
    cols: &[String],
    file: &str,
    table: &str,
    level: &str,
    areas: &HashSet<String>,
) -> Result<(), PluginError> {
    if cols.len() < 4 {
        return Err(PluginError::data(format!("{file}: no value columns")));
    }
    let mut topic = String::new();
    let mut labels = Vec::new();
    for c in &cols[3..] {
        let c = c.split("; measures:").next().unwrap_or(c).trim();
        let (t, l) = c.split_once(": ").ok_or_else(|| {
            PluginError::data(format!(
                "{file}: column `{c}` is not of the form `<Topic>: <category>`"
            ))
        })?;
        topic = t.to_string();
        labels.push(l.to_string());
    }
    let measure = if table.ends_with("ASP") {
        "age-standardised percent"
    } else {
        "value as published"
    };
    let mut rows = TextRows::new(&[
        "area_code",
        "area_name",
        "geography_level",
        "table_code",
        "topic",
        "category_label",
        "measure",
        "census_year",
        "value",
    ]);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = first;
    let mut line = 2u64;
    let mut more = !record.is_empty();
    while more {
        if record.len() != cols.len() {
            return Err(PluginError::data(format!(
                "{file}, row {line}: {} fields, but the header has {}",
                record.len(),
                cols.len()
            )));
        }
        let code = record[2].trim().to_string();
        if let Some(prev) = seen.insert(code.clone(), line) {
            return Err(PluginError::data(format!(
                "{file}, row {line}: area {code} appears twice (first at row {prev})"
            )));
        }
        if areas.is_empty() || areas.contains(&code) {
            for (i, label) in labels.iter().enumerate() {
                // The host parses the value against the contract (a float,
                // not negative) and quarantines what does not read.
                let value = record[3 + i].replace(',', "");
                rows.push(
                    [
                        &code, &record[1], level, table, &topic, label, measure, "2021", &value,
                    ],
                    file,
                    line,
                );
            }
        }
        if rows.len() >= 64 * 1024 {
            ctx.check_cancelled()?;
            ctx.emit_rows("census_rates", &mut rows)?;
        }
        line += 1;
        more = rdr
            .read_record(&mut record)
            .map_err(|e| PluginError::data(format!("{file}, row {line}: {e}")))?;
    }
    ctx.emit_rows("census_rates", &mut rows)?;
    ctx.debug(&format!("{table} {level}: {} areas of rates", seen.len()));
    Ok(())
}

eqpipe_plugin_sdk::export_plugin!(source: OnsCensus);
