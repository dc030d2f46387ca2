//! The columnar conversion of an extract: a chunk of records becomes one
//! `workforce` batch of typed and dictionary-encoded columns.
//!
//! HR extracts repeat themselves: a column of 5 million rows holds a
//! handful of grades, ethnic groups and dates. So each column's distinct
//! raw values (the field's bytes as in the file) are decoded, trimmed,
//! classified or mapped **once**, into a [`Seen`] the column keeps; a row
//! then costs one hash lookup per column, and each output column is built
//! as a dictionary (the values a chunk uses, and a key per row) that the
//! host reads once per value too (dates and numbers parsed once per
//! distinct text, allowed values checked once per dictionary value). The
//! pseudonym, distinct per row, is the HMAC's 32 bytes, straight into a
//! `FixedSizeBinary(32)` column. Nothing is formatted as text for the host
//! to parse again.
//!
//! The results are those of the row-by-row rules (the tests compare them):
//! the same trimming, classification, grade map, age rules, rejection
//! reasons (in the same order) and unmapped counts.

use std::sync::Arc;

use eqpipe_plugin_sdk::Interner;
use eqpipe_plugin_sdk::arrow_array::builder::{
    BooleanBuilder, FixedSizeBinaryBuilder, StringBuilder,
};
use eqpipe_plugin_sdk::arrow_array::types::Int32Type;
use eqpipe_plugin_sdk::arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray, UInt64Array,
};
use eqpipe_plugin_sdk::arrow_schema::{DataType, Field, Schema};
use eqpipe_plugin_sdk::contract::{REJECT_COLUMN, SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::classify::Classifier;
use crate::{CANONICAL, OUT, Options, TextEncoding, age_band, col, iso_date_cow, yes_no};

/// A record's fields as bytes: a CSV reader's record, or a sheet's row.
pub trait RawRecord {
    /// The `i`th field's bytes.
    fn raw(&self, i: usize) -> Option<&[u8]>;
    /// The `i`th field's bytes, and the record's bytes from the field's
    /// start on (more than the field where others follow it: a cache key
    /// is then read as whole words, not copied byte by byte).
    fn raw_span(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.raw(i).map(|r| (r, r))
    }
    /// Fields in the record.
    fn width(&self) -> usize;
    /// Whether the fields no canonical column reads are blank, for the
    /// blank-row rule (a CSV record's unread fields are never decoded, so
    /// count as blank; a sheet's row is judged on all its cells).
    fn unread_blank(&self, read: &[bool]) -> bool;
}

impl RawRecord for csv::ByteRecord {
    fn raw(&self, i: usize) -> Option<&[u8]> {
        self.get(i)
    }
    fn raw_span(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let r = self.range(i)?;
        let all = self.as_slice();
        Some((&all[r.clone()], &all[r.start..]))
    }
    fn width(&self) -> usize {
        self.len()
    }
    fn unread_blank(&self, _read: &[bool]) -> bool {
        true
    }
}

impl RawRecord for Vec<String> {
    fn raw(&self, i: usize) -> Option<&[u8]> {
        self.get(i).map(|s| s.as_bytes())
    }
    fn width(&self) -> usize {
        self.len()
    }
    fn unread_blank(&self, read: &[bool]) -> bool {
        self.iter()
            .enumerate()
            .all(|(i, s)| read.get(i).copied().unwrap_or(false) || s.trim().is_empty())
    }
}

/// How a canonical column's value becomes output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The pseudonym: per row, never cached.
    Key,
    /// The snapshot date (the `snapshot_date` option when blank).
    Snapshot,
    /// A date, as ISO where it reads as one (start, leaver, birth).
    Date,
    /// Text as it is, trimmed (org unit, hours, pay, bonus).
    Text,
    /// The grade: its band and whether it is senior.
    Grade,
    /// An answer mapped onto a classification.
    Class(&'static str),
    /// An age in years (a fraction floored).
    Age,
    /// A yes/no answer.
    YesNo,
}

/// What a distinct raw value of a column is, worked out once.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Not text, in a file read as strict UTF-8 (then read as blank).
    bad: bool,
    /// Blank once trimmed.
    blank: bool,
    /// The decoded, trimmed text (dates: as ISO where they read).
    text: String,
    /// The output value's id in its output column (none: null).
    out: Option<u32>,
    /// A second output: the ethnic group's broad group, the grade's band.
    second: Option<u32>,
    /// Classifications: no category knows the answer. Grades: senior.
    flag: bool,
    /// Grades: not in `grade_bands`.
    no_band: bool,
    /// Ages: whole years.
    number: Option<i64>,
    /// Dates: the date as (year, month, day).
    ymd: Option<(i64, i64, i64)>,
    /// Yes/no answers.
    yes: Option<bool>,
    /// Classifications: the rows holding this unmapped answer since the
    /// counts were last handed to the classifier.
    unmapped_rows: u64,
}

/// What every row needs of a distinct value, kept apart from the rest of
/// its [`Seen`] so that a row's lookups touch a few bytes per column: a
/// column of thousands of distinct amounts then stays in the cache.
#[derive(Debug, Clone, Copy)]
struct Hot {
    /// The output value's id ([`DictOut::NULL`]: null).
    out: u32,
    /// The second output's id ([`DictOut::NULL`]: null).
    second: u32,
    /// [`Hot::BLANK`], [`Hot::BAD`], [`Hot::UNMAPPED`].
    bits: u8,
}

impl Hot {
    const BLANK: u8 = 1;
    const BAD: u8 = 2;
    /// A classification's answer no category knows.
    const UNMAPPED: u8 = 4;

    fn of(s: &Seen, kind: Kind) -> Hot {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        Hot {
            out: s.out.unwrap_or(DictOut::NULL),
            second: s.second.unwrap_or(DictOut::NULL),
            bits: bit(s.blank, Hot::BLANK)
                | bit(s.bad, Hot::BAD)
                | bit(s.flag && matches!(kind, Kind::Class(_)), Hot::UNMAPPED),
        }
    }
}

/// One canonical column: where it is in the file and its distinct values.
#[derive(Clone)]
struct Column {
    kind: Kind,
    /// Its position in the file (none: not in the file, read as blank).
    at: Option<usize>,
    /// The output columns its values fill.
    out: Option<usize>,
    second: Option<usize>,
    cache: Cache,
    seen: Vec<Seen>,
    /// Each of `seen`'s values' [`Hot`] part, at the same place.
    hot: Vec<Hot>,
}

/// A column's distinct raw values -> their place in its `seen`. Values of
/// up to 15 bytes (most of an extract's dates, grades, codes and amounts)
/// are packed into a `u128` with their length, up to 31 bytes (`Prefer not
/// to say`) into two, so a lookup hashes and compares integers, not byte
/// strings.
#[derive(Clone, Default)]
struct Cache {
    short: foldhash::HashMap<u128, u32>,
    medium: foldhash::HashMap<(u128, u128), u32>,
    long: foldhash::HashMap<Box<[u8]>, u32>,
}

/// A raw value as a cache key.
enum Packed {
    Short(u128),
    Medium(u128, u128),
    Long,
}

/// The `n` (up to 16) bytes of `span` from `at`, as a little-endian
/// integer: one unaligned load where 16 bytes are there to read.
#[inline]
fn load16(span: &[u8], at: usize, n: usize) -> u128 {
    match span.get(at..at + 16) {
        Some(w) => {
            let v = u128::from_le_bytes(w.try_into().expect("16 bytes"));
            if n >= 16 {
                v
            } else {
                v & ((1u128 << (8 * n)) - 1)
            }
        }
        None => {
            let mut b = [0u8; 16];
            b[..n].copy_from_slice(&span[at..at + n]);
            u128::from_le_bytes(b)
        }
    }
}

impl Cache {
    /// `raw` (whose bytes and what follows them are `span`) as a key: its
    /// bytes, and its length in the top byte (values differing only in
    /// trailing zero bytes stay apart).
    #[inline]
    fn pack(raw: &[u8], span: &[u8]) -> Packed {
        let n = raw.len();
        let len = (n as u128) << 120;
        if n <= 15 {
            Packed::Short(load16(span, 0, n) | len)
        } else if n <= 31 {
            Packed::Medium(load16(span, 0, 16), load16(span, 16, n - 16) | len)
        } else {
            Packed::Long
        }
    }

    #[inline]
    fn get(&self, raw: &[u8], span: &[u8]) -> Option<u32> {
        match Self::pack(raw, span) {
            Packed::Short(k) => self.short.get(&k).copied(),
            Packed::Medium(a, b) => self.medium.get(&(a, b)).copied(),
            Packed::Long => self.long.get(raw).copied(),
        }
    }

    fn insert(&mut self, raw: &[u8], span: &[u8], at: u32) {
        match Self::pack(raw, span) {
            Packed::Short(k) => {
                self.short.insert(k, at);
            }
            Packed::Medium(a, b) => {
                self.medium.insert((a, b), at);
            }
            Packed::Long => {
                self.long.insert(raw.into(), at);
            }
        }
    }

    fn clear(&mut self) {
        *self = Cache::default();
    }
}

/// An output column built as a dictionary: the values interned over the
/// conversion, each row a value's id; a chunk's batch holds only the values
/// its rows use.
#[derive(Clone, Default)]
struct DictOut {
    names: Interner,
    rows: Vec<u32>,
    remap: Vec<i32>,
}

impl DictOut {
    const NULL: u32 = u32::MAX;

    /// The id of a value (`None` for an empty one, stored as null).
    fn intern(&mut self, value: &str) -> Option<u32> {
        (!value.is_empty()).then(|| self.names.intern(value))
    }

    fn push(&mut self, id: Option<u32>) {
        self.rows.push(id.unwrap_or(Self::NULL));
    }

    fn finish(&mut self) -> ArrayRef {
        self.remap.clear();
        self.remap.resize(self.names.len(), -1);
        let mut values = StringBuilder::new();
        let mut next = 0i32;
        let keys: Int32Array = self
            .rows
            .drain(..)
            .map(|g| {
                if g == Self::NULL {
                    return None;
                }
                let r = &mut self.remap[g as usize];
                if *r < 0 {
                    *r = next;
                    next += 1;
                    values.append_value(self.names.get(g));
                }
                Some(*r)
            })
            .collect();
        let values: StringArray = values.finish();
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
                .expect("keys index the values"),
        )
    }
}

/// Distinct values a column keeps before its memory is started afresh (a
/// free-text column with a value per row must not grow without bound).
const MAX_DISTINCT: usize = 100_000;

/// An output column's position in [`OUT`].
fn out(name: &str) -> usize {
    OUT.iter()
        .position(|o| *o == name)
        .expect("an output column")
}

/// A field's text, trimmed: borrowed where the bytes are UTF-8, else
/// decoded into `buf`; `None` for bytes that are not text in a strict
/// UTF-8 file.
fn decode_trimmed<'b>(
    encoding: TextEncoding,
    raw: &'b [u8],
    buf: &'b mut String,
) -> Option<&'b str> {
    match encoding.decode(raw)? {
        std::borrow::Cow::Borrowed(t) => Some(t.trim()),
        std::borrow::Cow::Owned(t) => {
            *buf = t;
            Some(buf.trim())
        }
    }
}

/// `YYYY-MM-DD` (or any three numbers joined by `-`) as numbers.
pub(crate) fn ymd(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split('-').map(|x| x.parse::<i64>().ok());
    let v = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(v)
}

/// Whole years from `birth` to `at`.
pub(crate) fn whole_years(
    birth: Option<(i64, i64, i64)>,
    at: Option<(i64, i64, i64)>,
) -> Option<i64> {
    let ((by, bm, bd), (ay, am, ad)) = (birth?, at?);
    Some(ay - by - i64::from((am, ad) < (bm, bd)))
}

/// A canonical column's distinct raw value, worked out: decoded, trimmed,
/// and read as the column's kind, its outputs interned.
fn see(
    column: &Column,
    raw: &[u8],
    options: &Options,
    encoding: TextEncoding,
    classifier: &Classifier,
    outs: &mut [DictOut],
) -> Seen {
    let mut buf = String::new();
    let (text, bad) = match decode_trimmed(encoding, raw, &mut buf) {
        Some(t) => (t.to_string(), false),
        None => (String::new(), true),
    };
    let mut s = Seen {
        bad,
        blank: text.is_empty(),
        ..Seen::default()
    };
    let mut intern = |at: Option<usize>, value: &str| at.and_then(|o| outs[o].intern(value));
    match column.kind {
        Kind::Key => {}
        Kind::Snapshot | Kind::Date => {
            let iso = if text.is_empty() && column.kind == Kind::Snapshot {
                options.snapshot_date.clone().unwrap_or_default()
            } else {
                iso_date_cow(&text).into_owned()
            };
            s.ymd = ymd(&iso);
            s.out = intern(column.out, &iso);
            s.text = iso;
            return s;
        }
        Kind::Text => s.out = intern(column.out, &text),
        Kind::Grade => {
            let band = if options.grade_bands.is_empty() {
                text.as_str()
            } else {
                match options.grade_bands.get(&text) {
                    Some(b) => b.as_str(),
                    None => {
                        s.no_band = true;
                        text.as_str()
                    }
                }
            };
            s.flag = options.senior.iter().any(|g| *g == text || g == band);
            s.second = intern(column.second, band);
            s.out = intern(column.out, &text);
        }
        Kind::Class(classification) => {
            let (h, unmapped) = classifier.classify(classification, &text);
            s.flag = unmapped;
            s.out = intern(column.out, &h.value);
            s.second = intern(column.second, h.broad.as_deref().unwrap_or(""));
        }
        Kind::Age => s.number = text.parse::<f64>().ok().map(|f| f.floor() as i64),
        Kind::YesNo => {
            s.yes = match yes_no(&text) {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        }
    }
    s.text = text;
    s
}

/// Converts chunks of one file's records into `workforce` batches. One per
/// worker thread (cloned); each learns its own distinct values.
#[derive(Clone)]
pub(crate) struct Chunker<'a> {
    options: &'a Options,
    encoding: TextEncoding,
    /// The classifications, and the unmapped answers counted so far.
    pub(crate) classifier: Classifier,
    mac: Hmac<Sha256>,
    columns: Vec<Column>,
    /// File columns some canonical column reads.
    read: Vec<bool>,
    header: &'a [String],
    outs: Vec<DictOut>,
    /// Age in years (`i64::MIN`: none) -> its age and age band outputs.
    ages: foldhash::HashMap<i64, (Option<u32>, Option<u32>)>,
}

impl<'a> Chunker<'a> {
    /// A chunker for a file with this header, whose canonical columns are
    /// at `idx`.
    pub(crate) fn new(
        options: &'a Options,
        encoding: TextEncoding,
        key: &[u8],
        idx: &[Option<usize>; CANONICAL.len()],
        header: &'a [String],
        classifier: Classifier,
    ) -> Self {
        let kind = |c: &str| match c {
            "employee_id" => Kind::Key,
            "snapshot_date" => Kind::Snapshot,
            "date_of_birth" | "start_date" | "leaver_date" => Kind::Date,
            "grade" => Kind::Grade,
            "age" => Kind::Age,
            "full_pay_relevant" => Kind::YesNo,
            "sex" => Kind::Class("sex"),
            "ethnic_group" => Kind::Class("ethnic_group"),
            "disability" => Kind::Class("disability"),
            "religion" => Kind::Class("religion"),
            "sexual_orientation" => Kind::Class("sexual_orientation"),
            "gender_identity" => Kind::Class("gender_identity"),
            _ => Kind::Text,
        };
        // The output columns each canonical column fills (the age and
        // the yes/no answer are filled per row, the key apart).
        let outputs = |c: &str| match c {
            "employee_id" | "date_of_birth" | "age" | "full_pay_relevant" => (None, None),
            "grade" => (Some(out("grade")), Some(out("grade_band"))),
            "ethnic_group" => (Some(out("ethnic_group")), Some(out("ethnic_group_broad"))),
            other => (Some(out(other)), None),
        };
        let mut read = vec![false; header.len()];
        for i in idx.iter().flatten() {
            read[*i] = true;
        }
        Chunker {
            options,
            encoding,
            classifier,
            mac: crate::hmac_for(key),
            columns: CANONICAL
                .iter()
                .zip(idx)
                .map(|(c, at)| Column {
                    kind: kind(c),
                    at: *at,
                    out: outputs(c).0,
                    second: outputs(c).1,
                    cache: Default::default(),
                    seen: Vec::new(),
                    hot: Vec::new(),
                })
                .collect(),
            read,
            header,
            outs: vec![DictOut::default(); OUT.len()],
            ages: Default::default(),
        }
    }

    /// Hands the unmapped answers counted so far to the classifier.
    pub(crate) fn count_unmapped(&mut self) {
        for c in &mut self.columns {
            let Kind::Class(classification) = c.kind else {
                continue;
            };
            for s in c.seen.iter_mut().filter(|s| s.unmapped_rows > 0) {
                self.classifier
                    .count_unmapped_rows(classification, &s.text, s.unmapped_rows);
                s.unmapped_rows = 0;
            }
        }
    }

    /// Starts every column's memory afresh once one holds too many values.
    fn bound_memory(&mut self) {
        if self.columns.iter().all(|c| c.seen.len() < MAX_DISTINCT) {
            return;
        }
        self.count_unmapped();
        for c in &mut self.columns {
            c.cache.clear();
            c.seen.clear();
            c.hot.clear();
        }
        for o in &mut self.outs {
            *o = DictOut::default();
        }
        self.ages.clear();
    }

    /// The records (the `k`th from line `line(k)` of the file `file`) as
    /// one batch, none if every record was blank, and the rows it holds.
    // Long: one pass over the rows, every column's rules side by side.
    pub(crate) fn chunk<R: RawRecord>(
        &mut self,
        records: &[R],
        line: impl Fn(usize) -> u64,
        file: &str,
    ) -> Result<Option<(RecordBatch, u64)>, eqpipe_plugin_sdk::arrow_schema::ArrowError> {
        self.bound_memory();
        let n = records.len();
        let mut keys = FixedSizeBinaryBuilder::with_capacity(n, 32);
        let mut senior = BooleanBuilder::with_capacity(n);
        let mut full_pay = BooleanBuilder::with_capacity(n);
        let mut reject = StringBuilder::new();
        let mut lines = Vec::with_capacity(n);
        let mut id_text = String::new();
        let mut reason = String::new();
        let mut ids = [0u32; CANONICAL.len()];
        let [c_id, c_snapshot, c_grade, c_age, c_dob, c_full_pay] = [
            "employee_id",
            "snapshot_date",
            "grade",
            "age",
            "date_of_birth",
            "full_pay_relevant",
        ]
        .map(col);
        let Chunker {
            options,
            encoding,
            classifier,
            mac,
            columns,
            read,
            header,
            outs,
            ages,
        } = self;
        let width = header.len();
        let id_at = columns[c_id].at.expect("employee_id is mapped");
        let (o_age, o_band) = (out("age"), out("age_band"));
        for (k, rec) in records.iter().enumerate() {
            // The pseudonym's text, and each other column's distinct
            // value, worked out on first sight.
            let (id, mut bad_at) =
                match decode_trimmed(*encoding, rec.raw(id_at).unwrap_or(b""), &mut id_text) {
                    Some(t) => (t, None),
                    None => ("", Some(id_at)),
                };
            let mut blank = id.is_empty();
            for (ci, c) in columns.iter_mut().enumerate() {
                if c.kind == Kind::Key {
                    continue;
                }
                let (raw, span) = c.at.and_then(|at| rec.raw_span(at)).unwrap_or((b"", b""));
                let at = match c.cache.get(raw, span) {
                    Some(at) => at,
                    None => {
                        let s = see(c, raw, options, *encoding, classifier, outs);
                        c.hot.push(Hot::of(&s, c.kind));
                        c.seen.push(s);
                        let at = (c.seen.len() - 1) as u32;
                        c.cache.insert(raw, span, at);
                        at
                    }
                };
                ids[ci] = at;
                let h = c.hot[at as usize];
                blank &= h.bits & Hot::BLANK != 0;
                if h.bits & Hot::BAD != 0 {
                    let i = c.at.expect("a read column");
                    bad_at = Some(bad_at.map_or(i, |b| b.min(i)));
                }
            }
            if blank && rec.unread_blank(read) {
                continue;
            }
            let seen = |ci: usize| &columns[ci].seen[ids[ci] as usize];
            // The reasons a row is rejected, in the row rules' order.
            reason.clear();
            let mut why = |r: std::fmt::Arguments<'_>| {
                use std::fmt::Write as _;
                if !reason.is_empty() {
                    reason.push_str("; ");
                }
                let _ = reason.write_fmt(r);
            };
            if rec.width() != width {
                why(format_args!(
                    "{} fields, but the header has {width}",
                    rec.width()
                ));
            }
            if let Some(i) = bad_at {
                why(format_args!(
                    "column `{}`: not UTF-8 text (set encoding = \"windows-1252\" for files saved by Excel on Windows)",
                    header[i]
                ));
            }
            if id.is_empty() {
                why(format_args!("employee_id is empty"));
                keys.append_null();
            } else {
                let mut m = mac.clone();
                m.update(id.as_bytes());
                keys.append_value(m.finalize().into_bytes())?;
            }
            let grade = seen(c_grade);
            if grade.no_band {
                why(format_args!("grade `{}` is not in grade_bands", grade.text));
            }
            senior.append_value(grade.flag);
            full_pay.append_option(seen(c_full_pay).yes);
            // Age: the age column, else from the date of birth at the
            // snapshot.
            let age = match seen(c_age) {
                a if !a.blank => a.number,
                _ => whole_years(seen(c_dob).ymd, seen(c_snapshot).ymd),
            };
            let (age_out, band_out) = *ages.entry(age.unwrap_or(i64::MIN)).or_insert_with(|| {
                let text = age.map(|a| a.to_string()).unwrap_or_default();
                (
                    outs[o_age].intern(&text),
                    outs[o_band].intern(age_band(age)),
                )
            });
            outs[o_age].push(age_out);
            outs[o_band].push(band_out);
            for (ci, c) in columns.iter_mut().enumerate() {
                if c.kind == Kind::Key {
                    continue;
                }
                let h = c.hot[ids[ci] as usize];
                if h.bits & Hot::UNMAPPED != 0 {
                    c.seen[ids[ci] as usize].unmapped_rows += 1;
                }
                if let Some(o) = c.out {
                    outs[o].rows.push(h.out);
                }
                if let Some(o) = c.second {
                    outs[o].rows.push(h.second);
                }
            }
            lines.push(line(k));
            if reason.is_empty() {
                reject.append_null();
            } else {
                reject.append_value(&reason);
            }
        }
        let rows = lines.len();
        if rows == 0 {
            return Ok(None);
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(OUT.len() + 2);
        for (o, name) in OUT.iter().enumerate() {
            arrays.push(match *name {
                "employee_key" => Arc::new(keys.finish()),
                "senior" => Arc::new(senior.finish()),
                "full_pay_relevant" => Arc::new(full_pay.finish()),
                REJECT_COLUMN => Arc::new(reject.finish()),
                _ => outs[o].finish(),
            });
        }
        let files = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![0; rows]),
            Arc::new(StringArray::from(vec![file])),
        )?;
        arrays.push(Arc::new(files));
        arrays.push(Arc::new(UInt64Array::from(lines)));
        let mut fields: Vec<Field> = OUT
            .iter()
            .zip(&arrays)
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        fields.push(Field::new(
            SOURCE_FILE_COLUMN,
            arrays[OUT.len()].data_type().clone(),
            false,
        ));
        fields.push(Field::new(SOURCE_ROW_COLUMN, DataType::UInt64, false));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        Ok(Some((batch, rows as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_tell_every_value_apart_whatever_follows_it() {
        let values: Vec<&[u8]> = vec![
            b"",
            b"\0",
            b"\0\0",
            b"a",
            b"a\0",
            b"G1",
            b"2025-03-31",
            b"123456789012345",
            b"1234567890123456",
            b"Prefer not to say",
            b"Prefer not to say\0",
            b"1234567890123456789012345678901",
            b"12345678901234567890123456789012",
            b"a value longer than thirty-two bytes, kept whole",
        ];
        let mut cache = Cache::default();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(cache.get(v, v), None, "{v:?}");
            cache.insert(v, v, i as u32);
        }
        // Found again alone, and inside a record whose later fields
        // follow them (the bytes past a value are masked off).
        for (i, v) in values.iter().enumerate() {
            assert_eq!(cache.get(v, v), Some(i as u32));
            let mut record = v.to_vec();
            record.extend_from_slice(b",following,fields,of,the,same,record");
            assert_eq!(cache.get(v, &record), Some(i as u32), "{v:?}");
        }
    }
}
