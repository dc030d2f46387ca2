//! [`TextRows`]: the simplest way for a source to emit what it read.

use std::sync::Arc;

use arrow_array::builder::{StringBuilder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};

use crate::contract::{SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN};

/// Rows of text values with the file and line each came from.
///
/// A source that reads text (CSV, JSON) can emit the values as they are:
/// the host parses each column into the contract's type, and a value that
/// does not read goes to quarantine with this file and line. Empty values
/// become nulls.
///
/// ```
/// use eqpipe_plugin_sdk::TextRows;
/// let mut rows = TextRows::new(&["ward_code", "referrals"]);
/// rows.push(["E05011356", "12"], "page-1.csv", 2);
/// rows.push(["E05011357", ""], "page-1.csv", 3);
/// let batch = rows.take_batch().unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// assert_eq!(batch.num_columns(), 4); // plus _source_file and _source_row
/// assert!(rows.is_empty());
/// ```
///
/// Values are appended straight into Arrow string buffers (no allocation
/// per value), and the file name is stored once per run of rows from it.
pub struct TextRows {
    names: Vec<String>,
    columns: Vec<StringBuilder>,
    files: StringDictionaryBuilder<Int32Type>,
    lines: Vec<u64>,
}

impl std::fmt::Debug for TextRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextRows")
            .field("columns", &self.names)
            .field("rows", &self.lines.len())
            .finish()
    }
}

impl TextRows {
    /// Rows with these column names (the contract's names).
    pub fn new(names: &[&str]) -> Self {
        TextRows {
            names: names.iter().map(|n| n.to_string()).collect(),
            columns: (0..names.len()).map(|_| StringBuilder::new()).collect(),
            files: StringDictionaryBuilder::new(),
            lines: Vec::new(),
        }
    }

    /// Appends a row: one value per column in order (missing trailing values
    /// are nulls), and where it came from. Values are trimmed.
    pub fn push<I, S>(&mut self, values: I, file: &str, line: u64)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut it = values.into_iter();
        for col in &mut self.columns {
            match it.next().as_ref().map(|v| v.as_ref().trim()) {
                Some(v) if !v.is_empty() => col.append_value(v),
                _ => col.append_null(),
            }
        }
        self.files.append_value(file);
        self.lines.push(line);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The rows as a batch of text columns plus `_source_file` and
    /// `_source_row`; the builder is left empty for the next batch.
    pub fn take_batch(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut fields: Vec<Field> = self
            .names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect();
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let files = self.files.finish();
        fields.push(Field::new(
            SOURCE_FILE_COLUMN,
            files.data_type().clone(),
            false,
        ));
        arrays.push(Arc::new(files));
        fields.push(Field::new(SOURCE_ROW_COLUMN, DataType::UInt64, false));
        arrays.push(Arc::new(UInt64Array::from(std::mem::take(&mut self.lines))));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// A text column read row by row without copying: plain or
/// dictionary-encoded (as the host hands categorical columns to
/// indicators), the dictionary's keys resolved once. Prefer it to
/// [`text_values`] on large inputs: no allocation per row.
pub struct TextColumn<'a> {
    col: &'a dyn arrow_array::Array,
    keys: Option<Vec<usize>>,
    values: &'a arrow_array::StringArray,
}

impl<'a> TextColumn<'a> {
    /// Reads `col`; an error when it is not text.
    pub fn new(col: &'a dyn arrow_array::Array) -> Result<Self, crate::PluginError> {
        use arrow_array::cast::AsArray;
        if let Some(d) = col.as_any_dictionary_opt() {
            let values = d.values().as_string_opt::<i32>().ok_or_else(|| {
                crate::PluginError::data("a dictionary column whose values are not text")
            })?;
            return Ok(TextColumn {
                col,
                keys: Some(d.normalized_keys()),
                values,
            });
        }
        let values = col.as_string_opt::<i32>().ok_or_else(|| {
            crate::PluginError::data(format!("a column of type {} is not text", col.data_type()))
        })?;
        Ok(TextColumn {
            col,
            keys: None,
            values,
        })
    }

    /// The text at row `i`; `""` when null.
    pub fn get(&self, i: usize) -> &'a str {
        if self.col.is_null(i) {
            return "";
        }
        match &self.keys {
            Some(k) => self.values.value(k[i]),
            None => self.values.value(i),
        }
    }

    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        self.col.is_null(i)
    }

    /// The distinct values of a dictionary-encoded column and each row's
    /// index into them (`None` for plain text).
    pub fn dictionary(&self) -> Option<(&'a arrow_array::StringArray, &[usize])> {
        self.keys.as_deref().map(|k| (self.values, k))
    }
}

/// Gives each distinct text a small integer id, so large inputs can be
/// grouped and looked up by id instead of by string. With
/// [`Interner::ids`], a dictionary-encoded column costs one lookup per
/// distinct value per batch, not one per row.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: std::collections::HashMap<String, u32>,
    values: Vec<String>,
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `s`, added if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.values.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    /// The text of `id`.
    pub fn get(&self, id: u32) -> &str {
        &self.values[id as usize]
    }

    /// How many distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every value, by id.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The id of every row of `col` (null rows as `""`).
    pub fn ids(&mut self, col: &TextColumn<'_>) -> Vec<u32> {
        use arrow_array::Array;
        let n = col.col.len();
        match col.dictionary() {
            Some((values, keys)) => {
                let map: Vec<u32> = (0..values.len())
                    .map(|k| {
                        self.intern(if values.is_valid(k) {
                            values.value(k)
                        } else {
                            ""
                        })
                    })
                    .collect();
                let empty = self.intern("");
                (0..n)
                    .map(|i| {
                        if col.col.is_null(i) {
                            empty
                        } else {
                            map[keys[i]]
                        }
                    })
                    .collect()
            }
            None => (0..n).map(|i| self.intern(col.get(i))).collect(),
        }
    }
}

/// The values of a text column, plain or dictionary-encoded (as the host
/// hands categorical columns to indicators); nulls become empty strings.
pub fn text_values(col: &dyn arrow_array::Array) -> Result<Vec<String>, crate::PluginError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let n = col.len();
    if let Some(d) = col.as_any_dictionary_opt() {
        let values = d.values().as_string_opt::<i32>().ok_or_else(|| {
            crate::PluginError::data("a dictionary column whose values are not text")
        })?;
        let keys = d.normalized_keys();
        return Ok((0..n)
            .map(|i| {
                if col.is_null(i) {
                    String::new()
                } else {
                    values.value(keys[i]).to_string()
                }
            })
            .collect());
    }
    let s = col.as_string_opt::<i32>().ok_or_else(|| {
        crate::PluginError::data(format!("a column of type {} is not text", col.data_type()))
    })?;
    Ok((0..n)
        .map(|i| {
            if s.is_null(i) {
                String::new()
            } else {
                s.value(i).to_string()
            }
        })
        .collect())
}

/// The values of a pseudonym column as 32 bytes each: `FixedSizeBinary(32)`
/// as datasets store keyed hashes, or 64 hex digits as contract versions
/// before binary keys did (the same hash, so keys link across versions).
/// Nulls, and text that is not 64 hex digits, are `None`.
pub fn key_values(
    col: &dyn arrow_array::Array,
) -> Result<Vec<Option<[u8; 32]>>, crate::PluginError> {
    use arrow_array::cast::AsArray;
    if let Some(b) = col.as_fixed_size_binary_opt() {
        return Ok((0..b.len())
            .map(|i| b.is_valid(i).then(|| b.value(i).try_into().ok()).flatten())
            .collect());
    }
    let from_hex = |s: &str| -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok().map(|()| out)
    };
    if col.as_string_opt::<i32>().is_none() && col.as_any_dictionary_opt().is_none() {
        return Err(crate::PluginError::data(format!(
            "a column of type {} is not a pseudonym (32 bytes or 64 hex digits)",
            col.data_type()
        )));
    }
    Ok(text_values(col)?.iter().map(|s| from_hex(s)).collect())
}

/// The values of a pseudonym column as 64 lower-case hex digits each
/// (`""` for a null or a value that is not a key), whichever form it is
/// stored in (see [`key_values`]): for indicators that key maps by text.
///
/// ```
/// use eqpipe_plugin_sdk::arrow_array::{FixedSizeBinaryArray, StringArray};
/// let bytes = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
///     [Some([0xab_u8; 32]), None].into_iter(),
///     32,
/// )
/// .unwrap();
/// let hex = StringArray::from(vec![Some("ab".repeat(32)), None]);
/// let want = vec!["ab".repeat(32), String::new()];
/// assert_eq!(eqpipe_plugin_sdk::key_texts(&bytes).unwrap(), want);
/// assert_eq!(eqpipe_plugin_sdk::key_texts(&hex).unwrap(), want);
/// ```
pub fn key_texts(col: &dyn arrow_array::Array) -> Result<Vec<String>, crate::PluginError> {
    Ok(key_values(col)?
        .into_iter()
        .map(|k| k.map(hex::encode).unwrap_or_default())
        .collect())
}

/// A column of an input batch by name, or an error naming the dataset.
pub fn column<'a>(
    batch: &'a arrow_array::RecordBatch,
    dataset: &str,
    name: &str,
) -> Result<&'a arrow_array::ArrayRef, crate::PluginError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| crate::PluginError::data(format!("{dataset} has no column `{name}`")))
}

/// The values of a numeric column (any integer or float type) as `f64`.
pub fn f64_values(col: &dyn arrow_array::Array) -> Result<Vec<Option<f64>>, crate::PluginError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType as T;
    fn collect<P: ArrowPrimitiveType>(
        a: &arrow_array::PrimitiveArray<P>,
        f: impl Fn(P::Native) -> f64,
    ) -> Vec<Option<f64>> {
        a.iter().map(|v| v.map(&f)).collect()
    }
    Ok(match col.data_type() {
        T::Float64 => collect(col.as_primitive::<Float64Type>(), |v| v),
        T::Float32 => collect(col.as_primitive::<Float32Type>(), f64::from),
        T::Int64 => collect(col.as_primitive::<Int64Type>(), |v| v as f64),
        T::Int32 => collect(col.as_primitive::<Int32Type>(), f64::from),
        T::Int16 => collect(col.as_primitive::<Int16Type>(), f64::from),
        T::UInt8 => collect(col.as_primitive::<UInt8Type>(), f64::from),
        other => {
            return Err(crate::PluginError::data(format!(
                "a column of type {other} is not numeric"
            )));
        }
    })
}

/// The values of a boolean column.
pub fn bool_values(col: &dyn arrow_array::Array) -> Result<Vec<Option<bool>>, crate::PluginError> {
    use arrow_array::cast::AsArray;
    let b = col.as_boolean_opt().ok_or_else(|| {
        crate::PluginError::data(format!(
            "a column of type {} is not boolean",
            col.data_type()
        ))
    })?;
    Ok(b.iter().collect())
}

/// The values of a date column as days since 1970-01-01.
pub fn date_values(col: &dyn arrow_array::Array) -> Result<Vec<Option<i32>>, crate::PluginError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Date32Type;
    let d = col.as_primitive_opt::<Date32Type>().ok_or_else(|| {
        crate::PluginError::data(format!(
            "a column of type {} is not a date",
            col.data_type()
        ))
    })?;
    Ok(d.iter().collect())
}

/// The values harmonised datasets use for a characteristic that is not
/// known: blank, `not_stated`, `prefer_not_to_say` and `unmapped`.
/// Indicators leave them out of shares and report them as a disclosure rate.
pub const UNDISCLOSED: [&str; 4] = ["", "not_stated", "prefer_not_to_say", "unmapped"];

/// True when a harmonised value says what the person's characteristic is.
pub fn is_disclosed(value: &str) -> bool {
    !UNDISCLOSED.contains(&value)
}

#[cfg(test)]
mod text_column_tests {
    use super::*;
    use arrow_array::DictionaryArray;
    use arrow_array::types::Int32Type;

    #[test]
    fn plain_and_dictionary_columns_read_alike() {
        let plain = arrow_array::StringArray::from(vec![Some("F"), None, Some("M")]);
        let dict: DictionaryArray<Int32Type> =
            vec![Some("F"), None, Some("M")].into_iter().collect();
        for col in [&plain as &dyn arrow_array::Array, &dict] {
            let t = TextColumn::new(col).unwrap();
            assert_eq!((t.get(0), t.get(1), t.get(2)), ("F", "", "M"));
            assert_eq!(text_values(col).unwrap(), vec!["F", "", "M"]);
        }
        assert!(TextColumn::new(&arrow_array::Int32Array::from(vec![1])).is_err());
    }

    #[test]
    fn an_interner_gives_plain_and_dictionary_columns_the_same_ids() {
        let plain = arrow_array::StringArray::from(vec![Some("F"), None, Some("M"), Some("F")]);
        let dict: DictionaryArray<Int32Type> =
            vec![Some("M"), Some("F"), None].into_iter().collect();
        let mut ids = Interner::new();
        let a = ids.ids(&TextColumn::new(&plain).unwrap());
        let b = ids.ids(&TextColumn::new(&dict).unwrap());
        assert_eq!(a, vec![0, 1, 2, 0]);
        assert_eq!(b, vec![2, 0, 1]);
        assert_eq!(
            (ids.len(), ids.get(1), ids.values()[2].as_str()),
            (3, "", "M")
        );
    }
}
