//! The validator: an emitted batch checked against its dataset's contract,
//! typed, dictionary-encoded, and split into valid and rejected rows.

use super::*;

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
pub(super) fn convertible(from: &DataType, to: ColumnType) -> bool {
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
        // Only the bytes themselves (text is read as hex, above).
        ColumnType::Binary32 => false,
        ColumnType::Geometry => matches!(from, D::Binary | D::LargeBinary | D::BinaryView),
        ColumnType::Float64 => from.is_numeric(),
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 | ColumnType::UInt8 => {
            from.is_integer() && can_cast_types(from, &to_type)
        }
    }
}

pub(super) fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Utf8 => "text",
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 | ColumnType::UInt8 => {
            "an integer"
        }
        ColumnType::Float64 => "a number",
        ColumnType::Boolean => "true/false",
        ColumnType::Date => "a date (YYYY-MM-DD)",
        ColumnType::Binary32 => "32 bytes (64 hex digits)",
        ColumnType::Geometry => "a geometry as WKB (bytes, or their hex digits)",
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

    pub(super) fn mismatch(&self, message: String) -> SchemaMismatch {
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

    /// Validates and conforms one batch: each column converted and checked
    /// in turn, then the source's own rejections and the duplicate check,
    /// then the passed rows split from the rejected ones.
    pub fn validate(&mut self, batch: &RecordBatch) -> Result<Validated, SchemaMismatch> {
        let n = batch.num_rows();
        let mut found = Findings::new(n);
        let (mut read, precision_of) = self.read_precision_dates(batch)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.contract.columns.len());
        for ci in 0..self.contract.columns.len() {
            let column = self.conform_column(ci, batch, &mut read, &precision_of, &mut found)?;
            columns.push(column);
        }
        drop(precision_of);
        self.source_rejections(batch, &mut found)?;
        self.check_unique(batch, &columns, &mut found)?;
        self.split(columns, found)
    }

    /// Dates read first where a precision column records how precise each
    /// one was (the host fills it in where the source did not): the read
    /// columns by index, and each precision column's values by name.
    #[allow(clippy::type_complexity)]
    fn read_precision_dates(
        &self,
        batch: &RecordBatch,
    ) -> Result<
        (
            HashMap<usize, ReadText>,
            HashMap<&str, Vec<Option<Precision>>>,
        ),
        SchemaMismatch,
    > {
        let mut read = HashMap::new();
        let mut precision_of = HashMap::new();
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
        Ok((read, precision_of))
    }

    /// One contract column, converted to its stored type and checked
    /// (required, range, allowed values); every fault noted per row.
    fn conform_column(
        &self,
        ci: usize,
        batch: &RecordBatch,
        read: &mut HashMap<usize, ReadText>,
        precision_of: &HashMap<&str, Vec<Option<Precision>>>,
        found: &mut Findings,
    ) -> Result<ArrayRef, SchemaMismatch> {
        let c = &self.contract.columns[ci];
        let n = batch.num_rows();
        let plain = c.ty.arrow_type(false);
        let filled = precision_of
            .get(c.name.as_str())
            .map(|p| filled_precision(batch.column_by_name(&c.name), p, n));
        let source = filled.as_ref().or_else(|| batch.column_by_name(&c.name));
        let (converted, conversion_failed) = match self.convert(ci, batch, source, read, found)? {
            Converted::Ready(column) => {
                if let Some(allowed) = &self.allowed[ci] {
                    check_allowed(&c.name, &column, allowed, found);
                }
                return Ok(column);
            }
            Converted::Plain { array, failed } => (array, failed),
        };
        if !c.nullable && converted.null_count() > 0 {
            for i in 0..n {
                if converted.is_null(i) && !conversion_failed.get(i).copied().unwrap_or(false) {
                    found.note(i, &c.name, "missing value".into());
                }
            }
        }
        let converted = self.check_range(c, converted, found)?;
        let stored = c.ty.arrow_type(c.categorical);
        let final_col = if stored != plain {
            cast_with_options(&converted, &stored, &CAST)
                .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?
        } else {
            converted
        };
        if let Some(allowed) = &self.allowed[ci] {
            check_allowed(&c.name, &final_col, allowed, found);
        }
        Ok(final_col)
    }

    /// The column in the contract's plain type, with the rows whose value
    /// was present but could not be read; or, for text already
    /// dictionary-encoded as the contract stores it, the column as it is.
    fn convert(
        &self,
        ci: usize,
        batch: &RecordBatch,
        source: Option<&ArrayRef>,
        read: &mut HashMap<usize, ReadText>,
        found: &mut Findings,
    ) -> Result<Converted, SchemaMismatch> {
        let c = &self.contract.columns[ci];
        let n = batch.num_rows();
        let plain = c.ty.arrow_type(false);
        match source {
            Some(src)
                if is_textual(src.data_type())
                    && (c.ty.is_numeric() || c.ty == ColumnType::Date) =>
            {
                let r = match read.remove(&ci) {
                    Some(r) => r,
                    None => read_text(src.as_ref(), c, &self.formats)
                        .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))?,
                };
                self.read_findings(c, batch, r, found)
            }
            Some(src) if is_textual(src.data_type()) && c.ty == ColumnType::Binary32 => {
                Ok(hex_to_binary32(src, &c.name, found))
            }
            Some(src) if is_textual(src.data_type()) && c.ty == ColumnType::Geometry => {
                Ok(hex_to_wkb(src, &c.name, found))
            }
            None if c.nullable => Ok(Converted::Plain {
                array: new_null_array(&plain, n),
                failed: Vec::new(),
            }),
            None => Err(self.mismatch(format!("required column `{}` is missing", c.name))),
            Some(src) if src.data_type() == &c.ty.arrow_type(c.categorical) && c.categorical => {
                // Already dictionary-encoded text: nothing to convert (the
                // allowed values are checked once per dictionary value).
                if !c.nullable && src.null_count() > 0 {
                    for i in 0..n {
                        if src.is_null(i) {
                            found.note(i, &c.name, "missing value".into());
                        }
                    }
                }
                Ok(Converted::Ready(src.clone()))
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
                    cast_with_options(src, &plain, &CAST).map_err(|e| {
                        self.mismatch(format!("column `{}` cannot be converted: {e}", c.name))
                    })?
                };
                // Values present in the input but lost in conversion.
                let mut failed = Vec::new();
                if out.null_count() > src.null_count() {
                    failed = (0..n).map(|i| out.is_null(i) && src.is_valid(i)).collect();
                    for (i, _) in failed.iter().enumerate().filter(|(_, f)| **f) {
                        found.note(i, &c.name, format!("not {}", type_name(c.ty)));
                    }
                }
                Ok(Converted::Plain { array: out, failed })
            }
        }
    }

    /// What reading a text column found: unreadable values (rejected, or
    /// nulled under `on_error = "null"`) and statistical markers (null in
    /// an optional column, a fault in a required one).
    fn read_findings(
        &self,
        c: &eqpipe_plugin_sdk::Column,
        batch: &RecordBatch,
        r: ReadText,
        found: &mut Findings,
    ) -> Result<Converted, SchemaMismatch> {
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
        let mut failed = vec![false; batch.num_rows()];
        for (i, reason) in r.bad {
            if c.on_error == OnError::Null {
                found.null(&c.name, 1, reason);
            } else {
                failed[i] = true;
                found.note(i, &c.name, reason);
            }
        }
        if !r.marked.is_empty() {
            if c.nullable {
                *found.markers.entry(c.name.clone()).or_default() += r.marked.len() as u64;
            } else {
                for i in r.marked {
                    failed[i] = true;
                    found.note(
                        i,
                        &c.name,
                        "a statistical marker (a withheld or missing value) where a value is required".into(),
                    );
                }
            }
        }
        Ok(Converted::Plain {
            array: r.array,
            failed,
        })
    }

    /// The contract's `min`/`max`: a value outside is a fault of its row,
    /// or (under `on_error = "null"`) dropped from an optional column.
    fn check_range(
        &self,
        c: &eqpipe_plugin_sdk::Column,
        converted: ArrayRef,
        found: &mut Findings,
    ) -> Result<ArrayRef, SchemaMismatch> {
        if c.min.is_none() && c.max.is_none() {
            return Ok(converted);
        }
        let n = converted.len();
        let as_f64 = cast_with_options(&converted, &DataType::Float64, &CAST)
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
            // An optional column's impossible value is dropped, not the row.
            let mut mask = vec![false; n];
            for (i, _) in &outside {
                mask[*i] = true;
            }
            found.null(&c.name, outside.len() as u64, outside[0].1.clone());
            arrow_select::nullif::nullif(&converted, &BooleanArray::from(mask))
                .map_err(|e| self.mismatch(format!("column `{}`: {e}", c.name)))
        } else {
            for (i, reason) in outside {
                found.note(i, &c.name, reason);
            }
            Ok(converted)
        }
    }

    /// Rows the source rejected itself (the reserved reject column).
    fn source_rejections(
        &self,
        batch: &RecordBatch,
        found: &mut Findings,
    ) -> Result<(), SchemaMismatch> {
        if let Some(r) = batch.column_by_name(REJECT_COLUMN) {
            let reasons = arrow_cast::cast::cast(r, &DataType::Utf8)
                .map_err(|e| self.mismatch(format!("column `{REJECT_COLUMN}`: {e}")))?;
            let reasons = reasons.as_string::<i32>();
            for i in 0..reasons.len() {
                if reasons.is_valid(i) {
                    found.note(i, "row", reasons.value(i).to_string());
                }
            }
        }
        Ok(())
    }

    /// Duplicates of an earlier row (only rows that passed everything else
    /// claim their key).
    fn check_unique(
        &mut self,
        batch: &RecordBatch,
        columns: &[ArrayRef],
        found: &mut Findings,
    ) -> Result<(), SchemaMismatch> {
        if self.unique.is_empty() {
            return Ok(());
        }
        let parts: Vec<KeyPart> = self
            .unique
            .iter()
            .map(|&ci| KeyPart::new(columns[ci].as_ref()))
            .collect::<Result<_, _>>()
            .map_err(|e| self.mismatch(format!("unique key: {e}")))?;
        let what = self.contract.unique.join(", ");
        // The key's bytes: each value's bytes then its length (which reads
        // back unambiguously from the end), in one reused buffer.
        let mut key: Vec<u8> = Vec::new();
        let mut sources: Option<SourceColumns> = None;
        let first_row = self.rows_in;
        let mut ordinal = self.stored;
        // A key of fixed-width parts only is digested word by word.
        let words = parts.iter().all(KeyPart::fixed_width);
        for i in 0..batch.num_rows() {
            if found.rows[i].is_some() {
                continue;
            }
            let digest = if words {
                let mut d = unique::WordDigest::default();
                for p in &parts {
                    p.digest_words(i, &mut d);
                }
                d.finish()
            } else {
                key.clear();
                for p in &parts {
                    p.append(i, &mut key);
                }
                unique::key_digest(&key)
            };
            let new = self
                .keys
                .claim(digest, ordinal, || {
                    sources
                        .get_or_insert_with(|| SourceColumns::of(batch))
                        .row(i, first_row)
                })
                .map_err(|e| self.mismatch(format!("spilling unique keys to disk: {e}")))?;
            if new {
                ordinal += 1;
            } else {
                found.note(
                    i,
                    &self.contract.unique[0],
                    format!("duplicate of an earlier row with the same {what}"),
                );
            }
        }
        Ok(())
    }

    /// The conformed columns split into the passed rows (exactly the
    /// contract's schema) and the rejections, in row order.
    fn split(
        &mut self,
        columns: Vec<ArrayRef>,
        found: Findings,
    ) -> Result<Validated, SchemaMismatch> {
        let n = found.rows.len();
        let conformed = RecordBatch::try_new(self.loose.clone(), columns)
            .map_err(|e| self.mismatch(format!("cannot assemble the batch: {e}")))?;
        let rejections: Vec<Rejection> = found
            .rows
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
            let mut keep = vec![true; n];
            for r in &rejections {
                keep[r.index] = false;
            }
            arrow_select::filter::filter_record_batch(&conformed, &BooleanArray::from(keep))
                .map_err(|e| self.mismatch(format!("cannot filter rejected rows: {e}")))?
        };
        let batch = RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())
            .map_err(|e| self.mismatch(format!("cannot assemble the batch: {e}")))?;
        self.rows_in += n as u64;
        self.stored += batch.num_rows() as u64;
        Ok(Validated {
            batch,
            rejections,
            markers: found.markers,
            nulled: found.nulled,
        })
    }
}

/// Text casts that fail per value (null), never for the whole column.
const CAST: CastOptions<'static> = CastOptions {
    safe: true,
    format_options: FormatOptions::new(),
};

/// A column after conversion: in the contract's plain type with the rows
/// whose present value could not be read, or already in its stored form.
enum Converted {
    Plain { array: ArrayRef, failed: Vec<bool> },
    Ready(ArrayRef),
}

/// What one batch's checks found: per row, the first column at fault and
/// every reason; per column, markers read as null and values nulled under
/// `on_error = "null"` (how many, and the first reason).
struct Findings {
    rows: Vec<Option<(String, Vec<String>)>>,
    markers: BTreeMap<String, u64>,
    nulled: BTreeMap<String, (u64, String)>,
}

impl Findings {
    fn new(rows: usize) -> Self {
        Findings {
            rows: vec![None; rows],
            markers: BTreeMap::new(),
            nulled: BTreeMap::new(),
        }
    }

    /// A fault of one row (its first column at fault is kept).
    fn note(&mut self, row: usize, column: &str, reason: String) {
        let f = self.rows[row].get_or_insert_with(|| (column.to_string(), Vec::new()));
        f.1.push(format!("{column}: {reason}"));
    }

    /// Values of an optional column stored as null instead of rejected.
    fn null(&mut self, column: &str, count: u64, reason: String) {
        let e = self.nulled.entry(column.to_string()).or_insert((0, reason));
        e.0 += count;
    }
}

/// A date column with its precision column filled in where the source
/// gave none (from how precisely each date was written).
fn filled_precision(
    given: Option<&ArrayRef>,
    precision: &[Option<Precision>],
    n: usize,
) -> ArrayRef {
    let given = given.and_then(|g| arrow_cast::cast::cast(g, &DataType::Utf8).ok());
    let given = given.as_ref().map(|g| g.as_string::<i32>());
    Arc::new(arrow_array::StringArray::from_iter((0..n).map(|i| {
        given
            .filter(|g| g.is_valid(i))
            .map(|g| g.value(i))
            .or(precision[i].map(Precision::as_str))
    })))
}

/// Hex text (a pseudonym written as 64 hex digits, as contract versions
/// before binary keys stored it) read as its 32 bytes, so an old dataset's
/// keys convert without re-keying; anything else is a fault of its row.
fn hex_to_binary32(src: &ArrayRef, name: &str, found: &mut Findings) -> Converted {
    let text = arrow_cast::cast::cast(src, &DataType::Utf8).expect("text casts to text");
    let text = text.as_string::<i32>();
    let mut out = arrow_array::builder::FixedSizeBinaryBuilder::with_capacity(text.len(), 32);
    let mut failed = vec![false; text.len()];
    let mut bytes = [0u8; 32];
    for (i, failed) in failed.iter_mut().enumerate() {
        if text.is_null(i) {
            out.append_null();
        } else if hex::decode_to_slice(text.value(i).trim(), &mut bytes).is_ok() {
            out.append_value(bytes).expect("32 bytes");
        } else {
            out.append_null();
            *failed = true;
            found.note(i, name, format!("not {}", type_name(ColumnType::Binary32)));
        }
    }
    Converted::Plain {
        array: Arc::new(out.finish()),
        failed,
    }
}

/// Hex text of a WKB geometry read as its bytes; text that is not an even
/// number of hex digits is a fault of its row. (The bytes themselves are
/// not parsed here: the file's GeoParquet metadata says when a value is
/// not readable WKB.)
fn hex_to_wkb(src: &ArrayRef, name: &str, found: &mut Findings) -> Converted {
    let text = arrow_cast::cast::cast(src, &DataType::Utf8).expect("text casts to text");
    let text = text.as_string::<i32>();
    let mut out = arrow_array::builder::BinaryBuilder::with_capacity(text.len(), 0);
    let mut failed = vec![false; text.len()];
    for (i, failed) in failed.iter_mut().enumerate() {
        if text.is_null(i) {
            out.append_null();
        } else if let Ok(bytes) = hex::decode(text.value(i).trim()) {
            out.append_value(bytes);
        } else {
            out.append_null();
            *failed = true;
            found.note(i, name, format!("not {}", type_name(ColumnType::Geometry)));
        }
    }
    Converted::Plain {
        array: Arc::new(out.finish()),
        failed,
    }
}

/// The allowed-values check: each distinct value of a dictionary once,
/// then the rows using the ones outside the list.
fn check_allowed(name: &str, column: &ArrayRef, allowed: &HashSet<String>, found: &mut Findings) {
    let mut outside = |i: usize| found.note(i, name, "not one of the allowed values".into());
    if let Some(dict) = column.as_any_dictionary_opt() {
        let values = dict.values().as_string::<i32>();
        let bad: Vec<bool> = (0..values.len())
            .map(|k| values.is_valid(k) && !allowed.contains(values.value(k)))
            .collect();
        if bad.iter().any(|b| *b) {
            let keys = dict.normalized_keys();
            for (i, k) in keys.iter().enumerate() {
                if column.is_valid(i) && bad[*k] {
                    outside(i);
                }
            }
        }
    } else {
        let s = column.as_string::<i32>();
        for i in 0..s.len() {
            if s.is_valid(i) && !allowed.contains(s.value(i)) {
                outside(i);
            }
        }
    }
}
