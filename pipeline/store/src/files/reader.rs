//! Reading stored files back: several Parquet files as one stream.

use super::*;

/// Streams the rows of several Parquet files, one after another.
pub struct MultiFileReader {
    schema: SchemaRef,
    files: std::vec::IntoIter<PathBuf>,
    current: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
    /// Only these columns, in this order (None: all).
    columns: Option<Vec<String>>,
}

impl MultiFileReader {
    /// Opens the files lazily; every file must have `schema`.
    pub fn new(schema: SchemaRef, files: Vec<PathBuf>) -> Self {
        MultiFileReader {
            schema,
            files: files.into_iter(),
            current: None,
            columns: None,
        }
    }

    /// Reads only `columns`, in that order (the others are not decoded).
    /// An error names a column the schema does not have.
    pub fn with_columns(mut self, columns: &[String]) -> Result<Self, String> {
        let idx = columns
            .iter()
            .map(|c| {
                self.schema.index_of(c).map_err(|_| {
                    format!(
                        "no column `{c}` (it has: {})",
                        self.schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.schema = std::sync::Arc::new(self.schema.project(&idx).map_err(|e| e.to_string())?);
        self.columns = Some(columns.to_vec());
        Ok(self)
    }

    /// Opens one file, projected to the wanted columns.
    fn open(
        &self,
        path: &Path,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, ArrowError> {
        let f = File::open(path)
            .map_err(|e| ArrowError::IoError(format!("{}: {e}", path.display()), e))?;
        let failed = |e: &dyn std::fmt::Display| {
            ArrowError::ExternalError(format!("{}: {e}", path.display()).into())
        };
        let mut b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| failed(&e))?;
        if let Some(columns) = &self.columns {
            let file_schema = b.schema().clone();
            let mut roots = columns
                .iter()
                .map(|c| file_schema.index_of(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed(&e))?;
            roots.sort_unstable();
            let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), roots);
            b = b.with_projection(mask);
        }
        b.with_batch_size(64 * 1024).build().map_err(|e| failed(&e))
    }
}

impl Iterator for MultiFileReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = &mut self.current {
                match r.next() {
                    Some(Ok(b)) => {
                        // A partner's rows carry `partner_id`, host metadata
                        // that plugins do not see.
                        let b = if b.num_columns() == self.schema.fields().len() + 1
                            && b.schema().field(0).name() == eqpipe_core::provenance::PARTNER_COLUMN
                        {
                            match b.project(&(1..b.num_columns()).collect::<Vec<_>>()) {
                                Ok(b) => b,
                                Err(e) => return Some(Err(e)),
                            }
                        } else {
                            b
                        };
                        // A projection comes in the file's column order.
                        let b = match &self.columns {
                            Some(columns) => {
                                let idx: Result<Vec<usize>, _> =
                                    columns.iter().map(|c| b.schema().index_of(c)).collect();
                                match idx.and_then(|idx| b.project(&idx)) {
                                    Ok(b) => b,
                                    Err(e) => return Some(Err(e)),
                                }
                            }
                            None => b,
                        };
                        if b.schema().fields() != self.schema.fields() {
                            return Some(Err(ArrowError::SchemaError(
                                "a stored file does not match the dataset contract; rerun its source".into(),
                            )));
                        }
                        // Drop file-level metadata so every batch has the same schema.
                        return Some(b.with_schema(self.schema.clone()));
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => self.current = None,
                }
            }
            let path = self.files.next()?;
            let opened = self.open(&path);
            match opened {
                Ok(r) => self.current = Some(r),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl RecordBatchReader for MultiFileReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
