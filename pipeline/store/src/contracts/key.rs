//! Unique keys: the bytes of a row's key columns, hashed for the duplicate
//! check, and the source file and row each rejection names.

use super::*;

/// One column of a unique key, read as bytes without formatting: text as
/// its UTF-8, fixed-width values (dates, numbers) as their native bytes,
/// anything else through Arrow's display formatter.
pub(super) struct KeyPart<'a> {
    pub(super) col: &'a dyn Array,
    pub(super) read: KeyRead<'a>,
}

pub(super) enum KeyRead<'a> {
    /// The text values, and a dictionary column's keys.
    Text(&'a arrow_array::StringArray, Option<Vec<usize>>),
    /// The values buffer, the first value's byte offset, the width.
    Fixed(arrow_buffer::Buffer, usize, usize),
    /// Fixed-width bytes (a binary pseudonym).
    Binary(&'a arrow_array::FixedSizeBinaryArray),
    Shown(ArrayFormatter<'a>),
}

impl<'a> KeyPart<'a> {
    pub(super) fn new(col: &'a dyn Array) -> Result<Self, arrow_schema::ArrowError> {
        let read = if let Some(s) = col.as_string_opt::<i32>() {
            KeyRead::Text(s, None)
        } else if let Some(d) = col.as_any_dictionary_opt()
            && let Some(values) = d.values().as_string_opt::<i32>()
        {
            KeyRead::Text(values, Some(dictionary_keys(d)))
        } else if let Some(b) = col.as_fixed_size_binary_opt() {
            KeyRead::Binary(b)
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

    /// Whether the values are of one width (binary, dates, numbers), so
    /// a key of such parts is digested word by word.
    pub(super) fn fixed_width(&self) -> bool {
        matches!(self.read, KeyRead::Fixed(..) | KeyRead::Binary(_))
    }

    /// Feeds row `i`'s value of a [`fixed_width`](Self::fixed_width) part
    /// to the digest.
    pub(super) fn digest_words(&self, i: usize, d: &mut crate::unique::WordDigest) {
        if self.col.is_null(i) {
            d.null();
            return;
        }
        match &self.read {
            KeyRead::Fixed(buf, offset, width) => {
                let at = offset + i * width;
                d.bytes(&buf.as_slice()[at..at + width]);
            }
            KeyRead::Binary(b) => d.bytes(b.value(i)),
            KeyRead::Text(..) | KeyRead::Shown(_) => unreachable!("not fixed-width"),
        }
    }

    /// Appends row `i`'s bytes and length (`u32::MAX` for a null).
    pub(super) fn append(&self, i: usize, key: &mut Vec<u8>) {
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
            KeyRead::Binary(b) => key.extend_from_slice(b.value(i)),
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
pub(super) struct SourceColumns {
    pub(super) files: Option<ArrayRef>,
    pub(super) rows: Option<ArrayRef>,
}

impl SourceColumns {
    pub(super) fn of(batch: &RecordBatch) -> Self {
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
    pub(super) fn row(&self, i: usize, first_row: u64) -> SourceRow {
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
