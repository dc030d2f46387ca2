//! Text as publishers write it, read into the contract's types (the
//! SDK's `published` rules), with markers and unreadable values counted.

use super::*;

/// Text columns read into a contract type (numbers and dates as published).
pub(super) struct ReadText {
    /// The plain (non-dictionary) typed column; null where not read.
    pub(super) array: ArrayRef,
    /// Rows whose text could not be read, with the reason.
    pub(super) bad: Vec<(usize, String)>,
    /// Rows holding a statistical marker.
    pub(super) marked: Vec<usize>,
    /// For date columns, each row's precision.
    pub(super) precision: Vec<Option<Precision>>,
    /// The first row whose date reads only as month/day.
    pub(super) month_day: Option<usize>,
}

/// Each row's index into a dictionary's values (0 for every row of a
/// dictionary with no values, whose rows are all null: Arrow's
/// `normalized_keys` refuses that case).
pub(super) fn dictionary_keys(d: &dyn arrow_array::AnyDictionaryArray) -> Vec<usize> {
    if d.values().is_empty() {
        vec![0; d.keys().len()]
    } else {
        d.normalized_keys()
    }
}

pub(super) fn is_textual(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8))
}

/// Reads a text column into a numeric or date contract type, each distinct
/// dictionary value once.
pub(super) fn read_text(
    src: &dyn Array,
    c: &eqpipe_plugin_sdk::Column,
    formats: &Formats,
) -> Result<ReadText, arrow_schema::ArrowError> {
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
    let read_one = |s: &str| read_value(s, c, formats, percent);
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
    let mut builders = Builders::new(c.ty, n);
    if c.ty == ColumnType::Date {
        out.precision = Vec::with_capacity(n);
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
        builders.push(i, cell, c, &mut out);
    }
    out.array = builders.finish(c)?;
    Ok(out)
}

/// A value read from text, in the contract's type.
enum V {
    I(i64),
    F(f64),
    D(i32, Precision),
}

/// One text value read as the column's type (integers checked to fit).
fn read_value(s: &str, c: &eqpipe_plugin_sdk::Column, formats: &Formats, percent: bool) -> Cell<V> {
    match c.ty {
        ColumnType::Float64 => published::number(s, formats, percent).map(V::F),
        ColumnType::Date => published::date(s, formats).map(|(d, p)| V::D(published::days(d), p)),
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
}

/// The typed column being built, one builder for the column's type.
struct Builders {
    ints: arrow_array::builder::PrimitiveBuilder<arrow_array::types::Int64Type>,
    floats: arrow_array::builder::Float64Builder,
    dates: arrow_array::builder::Date32Builder,
}

impl Builders {
    fn new(ty: ColumnType, n: usize) -> Self {
        let cap = |t: ColumnType| if t == ty { n } else { 0 };
        let int = !matches!(ty, ColumnType::Float64 | ColumnType::Date);
        Builders {
            ints: arrow_array::builder::PrimitiveBuilder::with_capacity(if int { n } else { 0 }),
            floats: arrow_array::builder::Float64Builder::with_capacity(cap(ColumnType::Float64)),
            dates: arrow_array::builder::Date32Builder::with_capacity(cap(ColumnType::Date)),
        }
    }

    /// Row `i`'s cell appended; what it was noted in `out` (an unreadable
    /// value, a marker, a date too imprecise, a month/day date).
    fn push(
        &mut self,
        i: usize,
        cell: &Cell<V>,
        c: &eqpipe_plugin_sdk::Column,
        out: &mut ReadText,
    ) {
        let mut precision = None;
        match cell {
            Cell::Value(V::I(v)) => self.ints.append_value(*v),
            Cell::Value(V::F(v)) => self.floats.append_value(*v),
            Cell::Value(V::D(d, p)) => {
                if *p < Precision::Day && c.precision_column.is_none() {
                    out.bad.push((
                        i,
                        format!("a {} alone where a full date is wanted", p.as_str()),
                    ));
                    self.dates.append_null();
                } else {
                    self.dates.append_value(*d);
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
                    ColumnType::Float64 => self.floats.append_null(),
                    ColumnType::Date => self.dates.append_null(),
                    _ => self.ints.append_null(),
                }
            }
        }
        if c.ty == ColumnType::Date {
            out.precision.push(precision);
        }
    }

    /// The finished column in the contract's plain type.
    fn finish(
        mut self,
        c: &eqpipe_plugin_sdk::Column,
    ) -> Result<ArrayRef, arrow_schema::ArrowError> {
        Ok(match c.ty {
            ColumnType::Float64 => Arc::new(self.floats.finish()),
            ColumnType::Date => Arc::new(self.dates.finish()),
            _ => cast_with_options(
                &(Arc::new(self.ints.finish()) as ArrayRef),
                &c.ty.arrow_type(false),
                &CastOptions::default(),
            )?,
        })
    }
}
