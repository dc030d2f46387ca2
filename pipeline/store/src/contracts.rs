//! The dataset contracts the host knows, and batch validation against them.
//!
//! Validation turns whatever a plugin emits into the contract's exact Arrow
//! schema: text is parsed into the declared type, categoricals are
//! dictionary-encoded, unknown columns are dropped. A row that breaks the
//! contract (missing value, unreadable value, out of range, not an allowed
//! value) is split off with its reason for the quarantine file. A batch whose
//! schema is wrong as a whole (a required column missing, an incompatible
//! type) is an error for the whole emit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_cast::cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, SchemaRef};
use eqpipe_plugin_sdk::contract::OnError;
use eqpipe_plugin_sdk::contract::{
    REJECT_COLUMN, SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN, is_reserved,
};
use eqpipe_plugin_sdk::{ColumnType, Contract};

use crate::published::{self, Cell, Formats, Precision};
use crate::unique::{self, LateDuplicate, SourceRow, UniqueKeys};

/// Contracts shipped with eqpipe (`config/contracts/`), compiled in.
const BUILTIN: &[(&str, &str)] = &[
    (
        "census_counts.toml",
        include_str!("../../../config/contracts/census_counts.toml"),
    ),
    (
        "community_profile.toml",
        include_str!("../../../config/contracts/community_profile.toml"),
    ),
    (
        "census_rates.toml",
        include_str!("../../../config/contracts/census_rates.toml"),
    ),
    (
        "nomis_observations.toml",
        include_str!("../../../config/contracts/nomis_observations.toml"),
    ),
    (
        "workforce_counts.toml",
        include_str!("../../../config/contracts/workforce_counts.toml"),
    ),
    (
        "recruitment.toml",
        include_str!("../../../config/contracts/recruitment.toml"),
    ),
    (
        "workforce.toml",
        include_str!("../../../config/contracts/workforce.toml"),
    ),
    (
        "geography_lookup.toml",
        include_str!("../../../config/contracts/geography_lookup.toml"),
    ),
    (
        "deprivation.toml",
        include_str!("../../../config/contracts/deprivation.toml"),
    ),
    (
        "service_usage.toml",
        include_str!("../../../config/contracts/service_usage.toml"),
    ),
    (
        "pay_gap.toml",
        include_str!("../../../config/contracts/pay_gap.toml"),
    ),
    (
        "deprivation_profile.toml",
        include_str!("../../../config/contracts/deprivation_profile.toml"),
    ),
    (
        "service_equity.toml",
        include_str!("../../../config/contracts/service_equity.toml"),
    ),
    (
        "workforce_benchmark.toml",
        include_str!("../../../config/contracts/workforce_benchmark.toml"),
    ),
    (
        "workforce_flows.toml",
        include_str!("../../../config/contracts/workforce_flows.toml"),
    ),
    (
        "workforce_representation.toml",
        include_str!("../../../config/contracts/workforce_representation.toml"),
    ),
    (
        "objective_history.toml",
        include_str!("../../../config/contracts/objective_history.toml"),
    ),
    (
        "objective_progress.toml",
        include_str!("../../../config/contracts/objective_progress.toml"),
    ),
];

/// A contract problem found while loading.
#[derive(Debug, thiserror::Error)]
#[error("contract {file}: {message}")]
pub struct ContractLoadError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// All contracts by dataset name.
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    by_name: BTreeMap<String, Arc<Contract>>,
}

impl Contracts {
    /// The built-in contracts.
    pub fn builtin() -> Self {
        let mut c = Contracts::default();
        for (file, text) in BUILTIN {
            c.add_toml(file, text)
                .expect("built-in contracts are valid");
        }
        c
    }

    /// The built-ins plus every `*.toml` in `dir` (which may override them).
    pub fn with_dir(dir: &Path) -> Result<Self, ContractLoadError> {
        let mut c = Self::builtin();
        let entries = std::fs::read_dir(dir).map_err(|e| ContractLoadError {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ContractLoadError {
                file: f.display().to_string(),
                message: e.to_string(),
            })?;
            c.add_toml(&f.display().to_string(), &text)?;
        }
        Ok(c)
    }

    fn add_toml(&mut self, file: &str, text: &str) -> Result<(), ContractLoadError> {
        let contract: Contract = toml::from_str(text).map_err(|e| ContractLoadError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        contract.check().map_err(|e| ContractLoadError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        self.by_name
            .insert(contract.name.clone(), Arc::new(contract));
        Ok(())
    }

    /// A contract by dataset name.
    pub fn get(&self, name: &str) -> Option<Arc<Contract>> {
        self.by_name.get(name).cloned()
    }

    /// Adds a contract a plugin declared, unless the host already has one
    /// for that dataset (the host's wins).
    pub fn add_declared(&mut self, c: &Contract) {
        self.by_name
            .entry(c.name.clone())
            .or_insert_with(|| Arc::new(c.clone()));
    }

    /// All contracts.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Contract>> {
        self.by_name.values()
    }

    /// Where a run records every contract it knew (built-in, from
    /// `contracts_dir`, declared by plugins), so that later commands on the
    /// folder (`runs restore`) describe its datasets as the run did.
    pub fn recorded_path(root: &Path) -> std::path::PathBuf {
        root.join(".eqpipe-contracts.json")
    }

    /// Records the contracts under `root` (see [`Contracts::recorded_path`]).
    pub fn record(&self, root: &Path) -> Result<(), crate::files::StoreError> {
        let all: Vec<&Contract> = self.by_name.values().map(|c| c.as_ref()).collect();
        let json = serde_json::to_vec_pretty(&all).expect("serialisable");
        Ok(crate::files::write_atomic(
            &Self::recorded_path(root),
            &json,
        )?)
    }

    /// The built-ins plus the contracts the last run under `root` recorded.
    pub fn recorded(root: &Path) -> Self {
        let mut c = Self::builtin();
        let recorded: Vec<Contract> = std::fs::read(Self::recorded_path(root))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for r in recorded {
            if r.check().is_ok() {
                c.by_name
                    .entry(r.name.clone())
                    .or_insert_with(|| Arc::new(r));
            }
        }
        c
    }
}

/// The schema of an emitted stream cannot be made to fit the contract.
#[derive(Debug, Clone, thiserror::Error)]
#[error("dataset `{dataset}` (contract v{version}): {message}")]
pub struct SchemaMismatch {
    /// The dataset.
    pub dataset: String,
    /// Contract version.
    pub version: u32,
    /// What does not fit, and what the contract wants.
    pub message: String,
}

/// One rejected row.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Index of the row in the emitted batch.
    pub index: usize,
    /// The first column at fault.
    pub column: String,
    /// Every reason (never the value itself, so reasons are safe to log).
    pub reason: String,
}

/// A validated batch: the rows that passed, conformed to the contract, and
/// the rejected rows with their reasons.
pub struct Validated {
    /// Passed rows, exactly the contract's schema.
    pub batch: RecordBatch,
    /// Rejections, in row order.
    pub rejections: Vec<Rejection>,
    /// Per column, values that were statistical markers (`..`, `[c]`, …),
    /// stored as null.
    pub markers: BTreeMap<String, u64>,
    /// Per column (`on_error = "null"`), unreadable values stored as null:
    /// how many and the first reason.
    pub nulled: BTreeMap<String, (u64, String)>,
}

/// Text columns read into a contract type (numbers and dates as published).
struct ReadText {
    /// The plain (non-dictionary) typed column; null where not read.
    array: ArrayRef,
    /// Rows whose text could not be read, with the reason.
    bad: Vec<(usize, String)>,
    /// Rows holding a statistical marker.
    marked: Vec<usize>,
    /// For date columns, each row's precision.
    precision: Vec<Option<Precision>>,
    /// The first row whose date reads only as month/day.
    month_day: Option<usize>,
}

/// Each row's index into a dictionary's values (0 for every row of a
/// dictionary with no values, whose rows are all null: Arrow's
/// `normalized_keys` refuses that case).
fn dictionary_keys(d: &dyn arrow_array::AnyDictionaryArray) -> Vec<usize> {
    if d.values().is_empty() {
        vec![0; d.keys().len()]
    } else {
        d.normalized_keys()
    }
}

fn is_textual(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8))
}

/// Reads a text column into a numeric or date contract type, each distinct
/// dictionary value once.
fn read_text(
    src: &dyn Array,
    c: &eqpipe_plugin_sdk::Column,
    formats: &Formats,
) -> Result<ReadText, arrow_schema::ArrowError> {
    use arrow_array::builder::{Date32Builder, Float64Builder, PrimitiveBuilder};
    use arrow_array::types as t;
    let n = src.len();
    // The text values and, for a dictionary, each row's key.
    let (values, keys): (ArrayRef, Option<Vec<usize>>) = match src.as_any_dictionary_opt() {
        Some(d) => (
            arrow_cast::cast::cast(d.values(), &DataType::Utf8)?,
            Some(dictionary_keys(d)),
        ),
        None => (arrow_cast::cast::cast(src, &DataType::Utf8)?, None),
    };
    let text = values.as_string::<i32>();
    let percent = published::is_percent(c.unit.as_deref());
    enum V {
        I(i64),
        F(f64),
        D(i32, Precision),
    }
    let read_one = |s: &str| -> Cell<V> {
        match c.ty {
            ColumnType::Float64 => published::number(s, formats, percent).map(V::F),
            ColumnType::Date => {
                published::date(s, formats).map(|(d, p)| V::D(published::days(d), p))
            }
            _ => match published::integer(s, formats, percent) {
                Cell::Value(v) => {
                    let fits = match c.ty {
                        ColumnType::Int16 => i16::try_from(v).is_ok(),
                        ColumnType::Int32 => i32::try_from(v).is_ok(),
                        ColumnType::UInt8 => u8::try_from(v).is_ok(),
                        _ => true,
                    };
                    if fits {
                        Cell::Value(V::I(v))
                    } else {
                        Cell::Bad(format!("out of range for {}", type_name(c.ty)))
                    }
                }
                other => other.map(V::I),
            },
        }
    };
    let distinct: Option<Vec<Cell<V>>> = keys.as_ref().map(|_| {
        (0..text.len())
            .map(|k| {
                if text.is_valid(k) {
                    read_one(text.value(k))
                } else {
                    Cell::Empty
                }
            })
            .collect()
    });
    let mut out = ReadText {
        array: new_null_array(&DataType::Null, 0),
        bad: Vec::new(),
        marked: Vec::new(),
        precision: Vec::new(),
        month_day: None,
    };
    let mut ints: PrimitiveBuilder<t::Int64Type> = PrimitiveBuilder::with_capacity(0);
    let mut floats = Float64Builder::with_capacity(0);
    let mut dates = Date32Builder::with_capacity(0);
    match c.ty {
        ColumnType::Float64 => floats = Float64Builder::with_capacity(n),
        ColumnType::Date => {
            dates = Date32Builder::with_capacity(n);
            out.precision = Vec::with_capacity(n);
        }
        _ => ints = PrimitiveBuilder::with_capacity(n),
    }
    let mut owned;
    for i in 0..n {
        let cell: &Cell<V> = match (&distinct, &keys) {
            (Some(d), Some(k)) => {
                if src.is_null(i) {
                    owned = Cell::Empty;
                    &owned
                } else {
                    &d[k[i]]
                }
            }
            _ => {
                owned = if text.is_valid(i) {
                    read_one(text.value(i))
                } else {
                    Cell::Empty
                };
                &owned
            }
        };
        let mut precision = None;
        match cell {
            Cell::Value(V::I(v)) => ints.append_value(*v),
            Cell::Value(V::F(v)) => floats.append_value(*v),
            Cell::Value(V::D(d, p)) => {
                if *p < Precision::Day && c.precision_column.is_none() {
                    out.bad.push((
                        i,
                        format!("a {} alone where a full date is wanted", p.as_str()),
                    ));
                    dates.append_null();
                } else {
                    dates.append_value(*d);
                    precision = Some(*p);
                }
            }
            other => {
                match other {
                    Cell::Marker(_) => out.marked.push(i),
                    Cell::Bad(r) => {
                        if c.ty == ColumnType::Date
                            && r.contains("month/day")
                            && out.month_day.is_none()
                        {
                            out.month_day = Some(i);
                        }
                        out.bad.push((i, r.clone()));
                    }
                    _ => {}
                }
                match c.ty {
                    ColumnType::Float64 => floats.append_null(),
                    ColumnType::Date => dates.append_null(),
                    _ => ints.append_null(),
                }
            }
        }
        if c.ty == ColumnType::Date {
            out.precision.push(precision);
        }
    }
    out.array = match c.ty {
        ColumnType::Float64 => Arc::new(floats.finish()),
        ColumnType::Date => Arc::new(dates.finish()),
        _ => cast_with_options(
            &(Arc::new(ints.finish()) as ArrayRef),
            &c.ty.arrow_type(false),
            &CastOptions::default(),
        )?,
    };
    Ok(out)
}

/// Validates batches of one dataset.
pub struct Validator {
    contract: Arc<Contract>,
    schema: SchemaRef,
    /// The same columns, all nullable: rejected rows may hold nulls until
    /// they are filtered out.
    loose: SchemaRef,
    allowed: Vec<Option<HashSet<String>>>,
    /// Indexes of the `unique` columns, and the keys seen so far (as
    /// digests, spilled to disk past a budget).
    unique: Vec<usize>,
    keys: UniqueKeys,
    /// Rows validated so far, and rows passed (the next passed row's
    /// position in the stored file).
    rows_in: u64,
    stored: u64,
    /// How the source writes numbers and dates.
    formats: Formats,
}

/// Whether a column of type `from` may be converted to the contract type.
/// Text may be parsed into anything (failures are per-row); typed values
/// only widen.
fn convertible(from: &DataType, to: ColumnType) -> bool {
    use DataType as D;
    let textual = matches!(from, D::Utf8 | D::LargeUtf8 | D::Utf8View)
        || matches!(from, D::Dictionary(_, v) if matches!(**v, D::Utf8 | D::LargeUtf8));
    if textual || matches!(from, D::Null) {
        return true;
    }
    let to_type = to.arrow_type(false);
    if from == &to_type {
        return true;
    }
    match to {
        ColumnType::Utf8 => false,
        ColumnType::Boolean => false,
        ColumnType::Date => matches!(from, D::Date32 | D::Date64 | D::Timestamp(_, _)),
        ColumnType::Float64 => from.is_numeric(),
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 | ColumnType::UInt8 => {
            from.is_integer() && can_cast_types(from, &to_type)
        }
    }
}

fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Utf8 => "text",
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 | ColumnType::UInt8 => {
            "an integer"
        }
        ColumnType::Float64 => "a number",
        ColumnType::Boolean => "true/false",
        ColumnType::Date => "a date (YYYY-MM-DD)",
    }
}

impl Validator {
    /// A validator for one contract.
    pub fn new(contract: Arc<Contract>) -> Self {
        let schema = contract.arrow_schema();
        let allowed = contract
            .columns
            .iter()
            .map(|c| c.allowed.as_ref().map(|a| a.iter().cloned().collect()))
            .collect();
        let loose = Arc::new(arrow_schema::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let unique = contract
            .unique
            .iter()
            .filter_map(|u| contract.columns.iter().position(|c| &c.name == u))
            .collect();
        Validator {
            contract,
            schema,
            loose,
            allowed,
            unique,
            keys: UniqueKeys::default(),
            rows_in: 0,
            stored: 0,
            formats: Formats::default(),
        }
    }

    /// Reads text as the source declared (`[sources.parse]`: decimal
    /// commas, a date format).
    pub fn set_formats(&mut self, formats: Formats) {
        self.formats = formats;
    }

    /// Writes the duplicate check's spill files (past its memory budget)
    /// under `dir`.
    pub fn spill_keys_in(&mut self, dir: &Path) {
        self.keys.spill_in(dir);
    }

    /// Ends the duplicate check: the stored rows found, among the keys
    /// spilled to disk, to repeat an earlier row's key (to be removed
    /// before the file is committed). Empty unless the step stored more
    /// keys than the memory budget.
    pub fn finish_unique(&mut self) -> std::io::Result<Vec<LateDuplicate>> {
        self.keys.finish()
    }

    /// The stored schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The contract.
    pub fn contract(&self) -> &Arc<Contract> {
        &self.contract
    }

    fn mismatch(&self, message: String) -> SchemaMismatch {
        SchemaMismatch {
            dataset: self.contract.name.clone(),
            version: self.contract.version,
            message,
        }
    }

    /// Checks a stream's schema as a whole, before any row is read.
    pub fn check_schema(
        &self,
        schema: &arrow_schema::Schema,
    ) -> Result<Vec<String>, SchemaMismatch> {
        for c in &self.contract.columns {
            match schema.field_with_name(&c.name) {
                Err(_) if !c.nullable => {
                    return Err(self.mismatch(format!(
                        "required column `{}` is missing (the stream has: {})",
                        c.name,
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                Err(_) => {}
                Ok(f) => {
                    if !convertible(f.data_type(), c.ty) {
                        return Err(self.mismatch(format!(
                            "column `{}` is {} but the contract wants {} ({:?})",
                            c.name,
                            f.data_type(),
                            type_name(c.ty),
                            c.ty
                        )));
                    }
                }
            }
        }
        let known: HashSet<&str> = self
            .contract
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        Ok(schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| !known.contains(n.as_str()) && !is_reserved(n))
            .collect())
    }

    /// Validates and conforms one batch.
    pub fn validate(&mut self, batch: &RecordBatch) -> Result<Validated, SchemaMismatch> {
        let n = batch.num_rows();
        // Per row: (first column at fault, reasons).
        let mut faults: Vec<Option<(String, Vec<String>)>> = vec![None; n];
        fn note(
            faults: &mut [Option<(String, Vec<String>)>],
            row: usize,
            column: &str,
            reason: String,
        ) {
            let f = faults[row].get_or_insert_with(|| (column.to_string(), Vec::new()));
            f.1.push(format!("{column}: {reason}"));
        }
        let opts = CastOptions {
            safe: true,
            format_options: FormatOptions::default(),
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.contract.columns.len());
        let mut markers: BTreeMap<String, u64> = BTreeMap::new();
        let mut nulled: BTreeMap<String, (u64, String)> = BTreeMap::new();
        // Dates read first where a precision column records how precise
        // each one was (the host fills it in where the source did not).
        let mut read: HashMap<usize, ReadText> = HashMap::new();
        let mut precision_of: HashMap<&str, Vec<Option<Precision>>> = HashMap::new();
        for (ci, c) in self.contract.columns.iter().enumerate() {
            if let (Some(p), Some(src)) = (&c.precision_column, batch.column_by_name(&c.name))
                && is_textual(src.data_type())
            {
                let r = read_text(src.as_ref(), c, &self.formats)
                    .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?;
                precision_of.insert(p.as_str(), r.precision.clone());
                read.insert(ci, r);
            }
        }
        for (ci, c) in self.contract.columns.iter().enumerate() {
            let mut conversion_failed = vec![false; 0];
            let plain = c.ty.arrow_type(false);
            let filled: Option<ArrayRef> = precision_of.get(c.name.as_str()).map(|p| {
                let given = batch
                    .column_by_name(&c.name)
                    .and_then(|g| arrow_cast::cast::cast(g, &DataType::Utf8).ok());
                let given = given.as_ref().map(|g| g.as_string::<i32>());
                Arc::new(arrow_array::StringArray::from_iter((0..n).map(|i| {
                    given
                        .filter(|g| g.is_valid(i))
                        .map(|g| g.value(i))
                        .or(p[i].map(Precision::as_str))
                }))) as ArrayRef
            });
            let source = filled.as_ref().or_else(|| batch.column_by_name(&c.name));
            let converted: ArrayRef = match source {
                Some(src)
                    if is_textual(src.data_type())
                        && (c.ty.is_numeric() || c.ty == ColumnType::Date) =>
                {
                    let r = match read.remove(&ci) {
                        Some(r) => r,
                        None => read_text(src.as_ref(), c, &self.formats)
                            .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?,
                    };
                    if let Some(i) = r.month_day
                        && self.formats.date_format.is_none()
                    {
                        let at = SourceColumns::of(batch).row(i, self.rows_in);
                        return Err(self.mismatch(format!(
                            "column `{}` holds dates that read only as month/day (like 03/31/2020; first at {}), so its other dates cannot be told apart from day/month ones: set date_format = \"%m/%d/%Y\" (or \"%d/%m/%Y\") under the source's [sources.parse]",
                            c.name,
                            at.describe()
                        )));
                    }
                    conversion_failed = vec![false; n];
                    for (i, reason) in r.bad {
                        if c.on_error == OnError::Null {
                            let e = nulled.entry(c.name.clone()).or_insert((0, reason.clone()));
                            e.0 += 1;
                        } else {
                            conversion_failed[i] = true;
                            note(&mut faults, i, &c.name, reason);
                        }
                    }
                    if !r.marked.is_empty() {
                        if c.nullable {
                            *markers.entry(c.name.clone()).or_default() += r.marked.len() as u64;
                        } else {
                            for i in r.marked {
                                conversion_failed[i] = true;
                                note(
                                    &mut faults,
                                    i,
                                    &c.name,
                                    "a statistical marker (a withheld or missing value) where a value is required".into(),
                                );
                            }
                        }
                    }
                    r.array
                }
                None if c.nullable => new_null_array(&plain, n),
                None => {
                    return Err(self.mismatch(format!("required column `{}` is missing", c.name)));
                }
                Some(src)
                    if src.data_type() == &c.ty.arrow_type(c.categorical)
                        && c.categorical
                        && self.allowed[ci].is_none() =>
                {
                    // Already dictionary-encoded text: nothing to convert.
                    if !c.nullable && src.null_count() > 0 {
                        for i in 0..n {
                            if src.is_null(i) {
                                note(&mut faults, i, &c.name, "missing value".into());
                            }
                        }
                    }
                    columns.push(src.clone());
                    continue;
                }
                Some(src) => {
                    if !convertible(src.data_type(), c.ty) {
                        return Err(self.mismatch(format!(
                            "column `{}` is {} but the contract wants {}",
                            c.name,
                            src.data_type(),
                            type_name(c.ty)
                        )));
                    }
                    let out = if src.data_type() == &plain {
                        src.clone()
                    } else {
                        cast_with_options(src, &plain, &opts).map_err(|e| {
                            self.mismatch(format!("column `{}` cannot be converted: {e}", c.name))
                        })?
                    };
                    // Values present in the input but lost in conversion.
                    if out.null_count() > src.null_count() {
                        conversion_failed =
                            (0..n).map(|i| out.is_null(i) && src.is_valid(i)).collect();
                        for (i, _) in conversion_failed.iter().enumerate().filter(|(_, f)| **f) {
                            note(&mut faults, i, &c.name, format!("not {}", type_name(c.ty)));
                        }
                    }
                    out
                }
            };
            if !c.nullable && converted.null_count() > 0 {
                for i in 0..n {
                    if converted.is_null(i) && !conversion_failed.get(i).copied().unwrap_or(false) {
                        note(&mut faults, i, &c.name, "missing value".into());
                    }
                }
            }
            let mut converted = converted;
            if c.min.is_some() || c.max.is_some() {
                let as_f64 = cast_with_options(&converted, &DataType::Float64, &opts)
                    .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?;
                let vals = as_f64.as_primitive::<arrow_array::types::Float64Type>();
                let mut outside: Vec<(usize, String)> = Vec::new();
                for i in 0..n {
                    if vals.is_valid(i) {
                        let v = vals.value(i);
                        if let Some(min) = c.min
                            && v < min
                        {
                            outside.push((i, format!("below the minimum {min}")));
                        }
                        if let Some(max) = c.max
                            && v > max
                        {
                            outside.push((i, format!("above the maximum {max}")));
                        }
                    }
                }
                if c.on_error == OnError::Null && !outside.is_empty() {
                    // An optional column's impossible value is dropped, not
                    // the row.
                    let mut mask = vec![false; n];
                    for (i, _) in &outside {
                        mask[*i] = true;
                    }
                    let e = nulled
                        .entry(c.name.clone())
                        .or_insert((0, outside[0].1.clone()));
                    e.0 += outside.len() as u64;
                    converted = arrow_select::nullif::nullif(&converted, &BooleanArray::from(mask))
                        .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?;
                } else {
                    for (i, reason) in outside {
                        note(&mut faults, i, &c.name, reason);
                    }
                }
            }
            let stored = c.ty.arrow_type(c.categorical);
            let final_col = if stored != plain {
                cast_with_options(&converted, &stored, &opts)
                    .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?
            } else {
                converted
            };
            if let Some(allowed) = &self.allowed[ci] {
                let mut outside = |i: usize| {
                    note(
                        &mut faults,
                        i,
                        &c.name,
                        "not one of the allowed values".into(),
                    )
                };
                if let Some(dict) = final_col.as_any_dictionary_opt() {
                    // Check each distinct value once, then the rows using
                    // the ones outside the list.
                    let values = dict.values().as_string::<i32>();
                    let bad: Vec<bool> = (0..values.len())
                        .map(|k| values.is_valid(k) && !allowed.contains(values.value(k)))
                        .collect();
                    if bad.iter().any(|b| *b) {
                        let keys = dict.normalized_keys();
                        for (i, k) in keys.iter().enumerate() {
                            if final_col.is_valid(i) && bad[*k] {
                                outside(i);
                            }
                        }
                    }
                } else {
                    let s = final_col.as_string::<i32>();
                    for i in 0..n {
                        if s.is_valid(i) && !allowed.contains(s.value(i)) {
                            outside(i);
                        }
                    }
                }
            }
            columns.push(final_col);
        }
        // Rows the source rejected itself.
        if let Some(r) = batch.column_by_name(REJECT_COLUMN) {
            let reasons = arrow_cast::cast::cast(r, &DataType::Utf8)
                .map_err(|e| self.mismatch(format!("column `{REJECT_COLUMN}`: {e}")))?;
            let reasons = reasons.as_string::<i32>();
            for i in 0..n {
                if reasons.is_valid(i) {
                    note(&mut faults, i, "row", reasons.value(i).to_string());
                }
            }
        }
        // Duplicates of an earlier row (only rows that passed everything
        // else claim their key).
        if !self.unique.is_empty() {
            let parts: Vec<KeyPart> = self
                .unique
                .iter()
                .map(|&ci| KeyPart::new(columns[ci].as_ref()))
                .collect::<Result<_, _>>()
                .map_err(|e| self.mismatch(format!("unique key: {e}")))?;
            let what = self.contract.unique.join(", ");
            // The key's bytes: each value's bytes then its length (which
            // reads back unambiguously from the end), in one reused buffer.
            let mut key: Vec<u8> = Vec::new();
            let mut sources: Option<SourceColumns> = None;
            let first_row = self.rows_in;
            let mut ordinal = self.stored;
            for i in 0..n {
                if faults[i].is_some() {
                    continue;
                }
                key.clear();
                for p in &parts {
                    p.append(i, &mut key);
                }
                let new = self
                    .keys
                    .claim(unique::key_digest(&key), ordinal, || {
                        sources
                            .get_or_insert_with(|| SourceColumns::of(batch))
                            .row(i, first_row)
                    })
                    .map_err(|e| self.mismatch(format!("spilling unique keys to disk: {e}")))?;
                if new {
                    ordinal += 1;
                } else {
                    note(
                        &mut faults,
                        i,
                        &self.contract.unique[0],
                        format!("duplicate of an earlier row with the same {what}"),
                    );
                }
            }
        }
        let conformed = RecordBatch::try_new(self.loose.clone(), columns)
            .map_err(|e| self.mismatch(format!("cannot assemble the batch: {e}")))?;
        let rejections: Vec<Rejection> = faults
            .into_iter()
            .enumerate()
            .filter_map(|(index, f)| {
                f.map(|(column, reasons)| Rejection {
                    index,
                    column,
                    reason: reasons.join("; "),
                })
            })
            .collect();
        let kept = if rejections.is_empty() {
            conformed
        } else {
            let keep: BooleanArray = {
                let mut k = vec![true; n];
                for r in &rejections {
                    k[r.index] = false;
                }
                BooleanArray::from(k)
            };
            arrow_select::filter::filter_record_batch(&conformed, &keep)
                .map_err(|e| self.mismatch(format!("cannot filter rejected rows: {e}")))?
        };
        let batch = RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())
            .map_err(|e| self.mismatch(format!("cannot assemble the batch: {e}")))?;
        self.rows_in += n as u64;
        self.stored += batch.num_rows() as u64;
        Ok(Validated {
            batch,
            rejections,
            markers,
            nulled,
        })
    }
}

/// One column of a unique key, read as bytes without formatting: text as
/// its UTF-8, fixed-width values (dates, numbers) as their native bytes,
/// anything else through Arrow's display formatter.
struct KeyPart<'a> {
    col: &'a dyn Array,
    read: KeyRead<'a>,
}

enum KeyRead<'a> {
    /// The text values, and a dictionary column's keys.
    Text(&'a arrow_array::StringArray, Option<Vec<usize>>),
    /// The values buffer, the first value's byte offset, the width.
    Fixed(arrow_buffer::Buffer, usize, usize),
    Shown(ArrayFormatter<'a>),
}

impl<'a> KeyPart<'a> {
    fn new(col: &'a dyn Array) -> Result<Self, arrow_schema::ArrowError> {
        let read = if let Some(s) = col.as_string_opt::<i32>() {
            KeyRead::Text(s, None)
        } else if let Some(d) = col.as_any_dictionary_opt()
            && let Some(values) = d.values().as_string_opt::<i32>()
        {
            KeyRead::Text(values, Some(dictionary_keys(d)))
        } else if let Some(width) = col.data_type().primitive_width()
            && let Some(buf) = col.to_data().buffers().first()
        {
            KeyRead::Fixed(buf.clone(), col.offset() * width, width)
        } else {
            let opts = FormatOptions::default().with_null("");
            KeyRead::Shown(ArrayFormatter::try_new(col, &opts)?)
        };
        Ok(KeyPart { col, read })
    }

    /// Appends row `i`'s bytes and length (`u32::MAX` for a null).
    fn append(&self, i: usize, key: &mut Vec<u8>) {
        if self.col.is_null(i) {
            key.extend_from_slice(&u32::MAX.to_le_bytes());
            return;
        }
        let start = key.len();
        match &self.read {
            KeyRead::Text(values, keys) => {
                let k = keys.as_ref().map_or(i, |k| k[i]);
                key.extend_from_slice(values.value(k).as_bytes());
            }
            KeyRead::Fixed(buf, offset, width) => {
                let at = offset + i * width;
                key.extend_from_slice(&buf.as_slice()[at..at + width]);
            }
            KeyRead::Shown(f) => {
                use std::io::Write as _;
                let _ = write!(key, "{}", f.value(i));
            }
        }
        let len = (key.len() - start) as u32;
        key.extend_from_slice(&len.to_le_bytes());
    }
}

/// A batch's source file and row columns, read when a key is spilled.
struct SourceColumns {
    files: Option<ArrayRef>,
    rows: Option<ArrayRef>,
}

impl SourceColumns {
    fn of(batch: &RecordBatch) -> Self {
        let cast = |name: &str, to: &DataType| {
            batch
                .column_by_name(name)
                .and_then(|c| arrow_cast::cast::cast(c, to).ok())
        };
        SourceColumns {
            files: cast(SOURCE_FILE_COLUMN, &DataType::Utf8),
            rows: cast(SOURCE_ROW_COLUMN, &DataType::UInt64),
        }
    }

    /// Row `i`'s source (its position in the stream when the plugin gave
    /// none).
    fn row(&self, i: usize, first_row: u64) -> SourceRow {
        let file = self
            .files
            .as_ref()
            .map(|f| f.as_string::<i32>())
            .filter(|f| f.is_valid(i))
            .map(|f| f.value(i).to_string());
        let row = self
            .rows
            .as_ref()
            .map(|r| r.as_primitive::<arrow_array::types::UInt64Type>())
            .filter(|r| r.is_valid(i))
            .map(|r| r.value(i));
        match row {
            Some(row) => SourceRow {
                file: Some(file.unwrap_or_else(|| "(emitted stream)".into())),
                row,
            },
            None => SourceRow {
                file: None,
                row: first_row + i as u64 + 1,
            },
        }
    }
}

/// Renders row `i` of every column of `batch` as text, for quarantine files.
pub fn row_as_text(batch: &RecordBatch, i: usize) -> Vec<String> {
    let opts = FormatOptions::default().with_null("");
    batch
        .columns()
        .iter()
        .map(|col| {
            ArrayFormatter::try_new(col.as_ref(), &opts)
                .map(|f| f.value(i).to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// Schema compatibility: `config/contracts/schema-lock.json` records what
/// readers see of every built-in contract (version and, per column, name,
/// type, nullability, dictionary encoding). A change that could break a
/// reader (a column removed, renamed, retyped, re-encoded, made nullable,
/// or moved) must bump the contract's `version`; any change must update the
/// lock, with `EQPIPE_UPDATE_SCHEMA_LOCK=1 cargo test -p eqpipe schema_lock`.
#[cfg(test)]
mod schema_lock {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Locked {
        version: u32,
        columns: Vec<String>,
    }

    fn describe(c: &Contract) -> Locked {
        Locked {
            version: c.version,
            columns: c
                .columns
                .iter()
                .map(|col| {
                    format!(
                        "{} {:?}{}{}",
                        col.name,
                        col.ty,
                        if col.nullable { " nullable" } else { "" },
                        if col.categorical { " categorical" } else { "" }
                    )
                })
                .collect(),
        }
    }

    /// Breaking unless the new columns are the old ones with others added
    /// at the end (added columns are nullable for old writers' sake).
    fn breaking(old: &Locked, new: &Locked) -> bool {
        new.columns.len() < old.columns.len() || new.columns[..old.columns.len()] != old.columns[..]
    }

    #[test]
    fn schema_lock() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/contracts/schema-lock.json");
        let locked: BTreeMap<String, Locked> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let current: BTreeMap<String, Locked> = Contracts::builtin()
            .iter()
            .map(|c| (c.name.clone(), describe(c)))
            .collect();
        let mut problems = Vec::new();
        for (name, now) in &current {
            match locked.get(name) {
                None => problems.push(format!("{name}: new contract, not in the lock")),
                Some(old) if old == now => {}
                Some(old) if breaking(old, now) && old.version == now.version => problems.push(format!(
                    "{name}: a change readers would notice ({:?} -> {:?}) without a version bump: raise `version` in config/contracts/{name}.toml",
                    old.columns, now.columns
                )),
                Some(_) => problems.push(format!("{name}: changed; update the lock")),
            }
        }
        for name in locked.keys() {
            if !current.contains_key(name) {
                problems.push(format!("{name}: removed; readers of it will break"));
            }
        }
        let must_bump = problems.iter().any(|p| p.contains("version bump"));
        if !problems.is_empty()
            && std::env::var_os("EQPIPE_UPDATE_SCHEMA_LOCK").is_some()
            && !must_bump
        {
            let json = serde_json::to_string_pretty(&current).unwrap() + "\n";
            std::fs::write(&path, json).unwrap();
            return;
        }
        assert!(
            problems.is_empty(),
            "schema lock: {}\n(after bumping versions where asked: EQPIPE_UPDATE_SCHEMA_LOCK=1 cargo test -p eqpipe schema_lock)",
            problems.join("\n")
        );
    }

    #[test]
    fn appending_is_compatible_and_anything_else_is_not() {
        let l = |v: &[&str]| Locked {
            version: 1,
            columns: v.iter().map(|s| s.to_string()).collect(),
        };
        assert!(!breaking(
            &l(&["a Int64"]),
            &l(&["a Int64", "b Utf8 nullable"])
        ));
        assert!(breaking(&l(&["a Int64", "b Utf8"]), &l(&["a Int64"])));
        assert!(breaking(&l(&["a Int64"]), &l(&["a Float64"])));
        assert!(breaking(
            &l(&["a Int64", "b Utf8"]),
            &l(&["b Utf8", "a Int64"])
        ));
        assert!(breaking(&l(&["a Int64"]), &l(&["a Int64 nullable"])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow_array::{Int64Array, StringArray, UInt64Array};
    use arrow_schema::{Field, Schema};
    use eqpipe_plugin_sdk::contract::SOURCE_ROW_COLUMN;

    #[test]
    fn unique_key_bytes_keep_values_apart() {
        use arrow_array::{Date32Array, DictionaryArray, types::Int32Type};
        let key = |cols: &[&dyn Array], i: usize| {
            let mut k = Vec::new();
            for c in cols {
                KeyPart::new(*c).unwrap().append(i, &mut k);
            }
            k
        };
        // ("ab", "c") and ("a", "bc") differ; a dictionary column keys as
        // its text; dates by value; a null differs from an empty text.
        let a = StringArray::from(vec![Some("ab"), Some("a"), Some(""), None]);
        let b: DictionaryArray<Int32Type> = vec!["c", "bc", "x", "x"].into_iter().collect();
        let d = Date32Array::from(vec![20178, 20178, 20179, 20179]).slice(0, 4);
        let cols: [&dyn Array; 3] = [&a, &b, &d];
        let keys: Vec<Vec<u8>> = (0..4).map(|i| key(&cols, i)).collect();
        for x in 0..4 {
            for y in 0..4 {
                assert_eq!(keys[x] == keys[y], x == y, "rows {x} and {y}");
            }
        }
        let plain = StringArray::from(vec!["c", "bc"]);
        assert_eq!(
            key(&[&plain], 1),
            key(&[&b], 1),
            "text keys alike however stored"
        );
        // A dictionary column whose rows are all null has no values: every
        // row keys as null (Arrow refuses to normalise its keys).
        let empty: DictionaryArray<Int32Type> = vec![None::<&str>, None].into_iter().collect();
        assert_eq!(empty.values().len(), 0);
        assert_eq!(key(&[&empty], 1), u32::MAX.to_le_bytes().to_vec());
        // A sliced date column reads from its offset.
        let sliced = Date32Array::from(vec![1, 2, 3]).slice(1, 2);
        assert_eq!(key(&[&sliced], 0), key(&[&Date32Array::from(vec![2])], 0));
    }

    fn contract() -> Arc<Contract> {
        Arc::new(
            toml::from_str(
                r#"
name = "t"
version = 2
[[columns]]
name = "code"
type = "utf8"
categorical = true
allowed = ["a", "b"]
[[columns]]
name = "n"
type = "int64"
min = 0
[[columns]]
name = "note"
type = "utf8"
nullable = true
"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn text_is_parsed_and_bad_rows_are_split_off_with_reasons() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, true),
            Field::new("n", DataType::Utf8, true),
            Field::new("extra", DataType::Utf8, true),
            Field::new(SOURCE_ROW_COLUMN, DataType::UInt64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("c"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    Some("x1"),
                    Some("4"),
                    Some("-5"),
                ])),
                Arc::new(StringArray::from(vec!["p"; 5])),
                Arc::new(UInt64Array::from(vec![2, 3, 4, 5, 6])),
            ],
        )
        .unwrap();
        let mut v = Validator::new(contract());
        assert_eq!(v.check_schema(&schema).unwrap(), vec!["extra".to_string()]);
        let out = v.validate(&b).unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert_eq!(out.batch.schema(), *v.schema());
        let reasons: Vec<(usize, &str, &str)> = out
            .rejections
            .iter()
            .map(|r| (r.index, r.column.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "code", "code: not one of the allowed values"),
                (2, "n", "n: not an integer"),
                (3, "code", "code: missing value"),
                (4, "n", "n: below the minimum 0"),
            ]
        );
        assert!(matches!(
            out.batch.column(0).data_type(),
            DataType::Dictionary(_, _)
        ));
    }

    #[test]
    fn a_missing_required_column_or_an_incompatible_type_fails_the_whole_stream() {
        let mut v = Validator::new(contract());
        let s = Schema::new(vec![Field::new("code", DataType::Utf8, true)]);
        let e = v.check_schema(&s).unwrap_err().to_string();
        assert!(
            e.contains("required column `n` is missing") && e.contains("v2"),
            "{e}"
        );
        let s = Schema::new(vec![
            Field::new("code", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let e = v.check_schema(&s).unwrap_err().to_string();
        assert!(e.contains("column `code` is Int64"), "{e}");
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        assert!(v.validate(&b).is_err());
    }

    #[test]
    fn builtin_contracts_load() {
        let c = Contracts::builtin();
        let cc = c.get("census_counts").unwrap();
        assert_eq!(cc.arrow_schema().fields().len(), 11);
        assert!(c.get("community_profile").is_some());
    }
}
