//! A partnership's rows: each carries a leading `partner_id` column.

use std::sync::Arc;

use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, StringArray, types::Int32Type};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use eqpipe_core::provenance::PARTNER_COLUMN;

/// `schema` with a leading `partner_id` column (dictionary-encoded text).
pub fn tagged_schema(schema: &Schema) -> SchemaRef {
    let mut fields = vec![Arc::new(Field::new(
        PARTNER_COLUMN,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        false,
    ))];
    fields.extend(schema.fields().iter().cloned());
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with a leading `partner_id` column holding `id` on every row.
pub fn tag(batch: &RecordBatch, id: &str) -> Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let keys = arrow_array::Int32Array::from(vec![0; n]);
    let values: ArrayRef = Arc::new(StringArray::from(vec![id]));
    let col: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?);
    let mut columns = vec![col];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(tagged_schema(&batch.schema()), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_adds_a_leading_partner_column() {
        let b = RecordBatch::try_from_iter([(
            "n",
            Arc::new(arrow_array::Int64Array::from(vec![1, 2])) as ArrayRef,
        )])
        .unwrap();
        let t = tag(&b, "leicester").unwrap();
        assert_eq!(t.schema().field(0).name(), PARTNER_COLUMN);
        assert_eq!(t.num_columns(), 2);
        let f =
            arrow_cast::display::ArrayFormatter::try_new(t.column(0).as_ref(), &Default::default())
                .unwrap();
        assert_eq!(f.value(1).to_string(), "leicester");
    }
}
