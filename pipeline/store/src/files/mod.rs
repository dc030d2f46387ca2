//! The Parquet store: atomic writes, provenance metadata, quarantine files,
//! and reading datasets back for indicators.
//!
//! Layout under the output root:
//!
//! ```text
//! datasets/<dataset>/source=<source>/part-0.parquet
//! indicators/<indicator>/part-0.parquet
//! quarantine/<run_id>/<step>.csv
//! runs/<run_id>.json
//! ```
//!
//! Every file is written under a dot-prefixed temporary name in its final
//! folder (readers such as pyarrow skip dot files) and renamed into place
//! only when the step that wrote it succeeded, so a reader never sees a
//! half-written file and a failed step leaves the last good file untouched.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
pub use eqpipe_core::fsio::{TempPath, create_dir, create_file, write_atomic};
pub use eqpipe_core::layout::{PART_FILE, RESTRICTED_DIR, VERSIONS_DIR, is_restricted};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

pub mod geo;
mod reader;
mod versions;
pub use reader::MultiFileReader;
pub use versions::{keep_version, prune_versions, restore_version, version_runs};

/// Rows per Parquet row group: large enough for good compression and fast
/// scans, small enough to keep the writer's memory bounded.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Parquet encoding or decoding.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Disclosure control could not be applied.
    #[error("disclosure control: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl From<eqpipe_core::fsio::FsError> for StoreError {
    fn from(e: eqpipe_core::fsio::FsError) -> Self {
        StoreError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writer properties used for every file: zstd set explicitly (the crate's
/// default is uncompressed), dictionary encoding, page statistics. Columns
/// of fixed-width bytes (keyed hashes: random bytes, every one distinct)
/// are stored plain: neither a dictionary nor zstd can shrink them, they
/// only cost time.
pub fn writer_properties(schema: &arrow_schema::Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("eqpipe {}", env!("CARGO_PKG_VERSION")));
    for f in schema.fields() {
        if matches!(f.data_type(), arrow_schema::DataType::FixedSizeBinary(_)) {
            let path = parquet::schema::types::ColumnPath::from(f.name().as_str());
            b = b
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_compression(path.clone(), Compression::UNCOMPRESSED)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    b.build()
}

/// A Parquet file being written under a temporary name.
///
/// Encoding and compression run on a writer thread of their own, fed
/// through a short queue: the step (parsing, validating) works on the next
/// batch while the last one is compressed, which uses a second core. A
/// write error surfaces at the next `write` or at `finish`.
pub struct PendingFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    queue: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    worker: Option<std::thread::JoinHandle<Result<ArrowWriter<File>, StoreError>>>,
    rows: u64,
    /// The geometry columns, for GeoParquet's `geo` metadata.
    geo: Option<geo::GeoColumns>,
}

impl PendingFile {
    /// Starts `final_path` (its folder is created).
    pub fn create(
        final_path: PathBuf,
        run_id: &str,
        schema: SchemaRef,
    ) -> Result<Self, StoreError> {
        let dir = final_path
            .parent()
            .expect("a file has a folder")
            .to_path_buf();
        create_dir(&dir)?;
        let name = final_path
            .file_name()
            .expect("a file name")
            .to_string_lossy();
        let tmp_path = dir.join(format!(".{name}.{run_id}.tmp"));
        let file = create_file(&tmp_path)?;
        // A file with a geometry column leaves out the embedded Arrow
        // schema, so pyarrow (and GeoPandas through it) takes the file's
        // metadata, `geo` among it, as the schema's (see `geo`).
        let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
            .with_properties(writer_properties(&schema))
            .with_skip_arrow_metadata(geo::GeoColumns::of(&schema).is_some());
        let mut writer =
            ArrowWriter::try_new_with_options(file, schema.clone(), options).map_err(|e| {
                StoreError::Parquet {
                    path: tmp_path.clone(),
                    message: e.to_string(),
                }
            })?;
        let geo = geo::GeoColumns::of(&schema);
        let (queue, batches) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let path = tmp_path.clone();
        let worker = std::thread::Builder::new()
            .name("eqpipe-parquet".into())
            .spawn(move || {
                for b in batches {
                    writer.write(&b).map_err(|e| StoreError::Parquet {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                }
                Ok(writer)
            })
            .map_err(|e| StoreError::Io {
                path: tmp_path.clone(),
                source: e,
            })?;
        Ok(PendingFile {
            final_path,
            tmp_path,
            queue: Some(queue),
            worker: Some(worker),
            rows: 0,
            geo,
        })
    }

    /// The writer thread's outcome, once it has stopped.
    fn join(&mut self) -> Result<ArrowWriter<File>, StoreError> {
        self.queue.take();
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(StoreError::Parquet {
                path: self.tmp_path.clone(),
                message: "the Parquet writer thread panicked".into(),
            }),
            None => Err(StoreError::Parquet {
                path: self.tmp_path.clone(),
                message: "the file was already finished".into(),
            }),
        }
    }

    /// Appends a batch (already conformed to the schema).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.rows += batch.num_rows() as u64;
        if let Some(g) = &mut self.geo {
            g.observe(batch);
        }
        let sent = self
            .queue
            .as_ref()
            .is_some_and(|q| q.send(batch.clone()).is_ok());
        if sent {
            Ok(())
        } else {
            // The writer stopped: report why.
            self.join().map(|_| ())
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Where the file will be once committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Adds provenance key-value metadata and closes the file (still under
    /// its temporary name). Returns a handle to commit or discard.
    pub fn finish(mut self, metadata: &[(String, String)]) -> Result<FinishedFile, StoreError> {
        let mut writer = self.join()?;
        for (k, v) in metadata {
            writer.append_key_value_metadata(KeyValue::new(k.clone(), v.clone()));
        }
        if let Some(g) = &self.geo {
            let (k, v) = g.metadata();
            writer.append_key_value_metadata(KeyValue::new(k, v));
        }
        let file = writer.into_inner().map_err(|e| StoreError::Parquet {
            path: self.tmp_path.clone(),
            message: e.to_string(),
        })?;
        file.sync_all().map_err(io(&self.tmp_path))?;
        Ok(FinishedFile {
            final_path: self.final_path.clone(),
            tmp_path: std::mem::take(&mut self.tmp_path),
            rows: self.rows,
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Abandoned before finish, or its writer failed (a full disk): stop
        // the writer and remove the partial file. (`finish` hands the file
        // on and leaves no path here.)
        if self.worker.is_some() {
            let _ = self.join();
        }
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// A complete file under its temporary name, waiting for its step's outcome.
#[derive(Debug)]
pub struct FinishedFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    rows: u64,
}

/// Rows of a committed Parquet file, read from its footer (`None` when
/// there is no readable file).
pub fn committed_rows(path: &Path) -> Option<u64> {
    use parquet::file::reader::FileReader as _;
    let f = std::fs::File::open(path).ok()?;
    let r = parquet::file::reader::SerializedFileReader::new(f).ok()?;
    u64::try_from(r.metadata().file_metadata().num_rows()).ok()
}

impl FinishedFile {
    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The committed location.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Renames the file into place (atomic on one file system).
    pub fn commit(mut self) -> Result<PathBuf, StoreError> {
        std::fs::rename(&self.tmp_path, &self.final_path).map_err(io(&self.final_path))?;
        if let Some(dir) = self.final_path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        self.tmp_path = PathBuf::new();
        Ok(self.final_path.clone())
    }

    /// Rewrites the file without the rows at `drop` (positions in the
    /// file, ascending), passing each removed row to `removed` (its batch
    /// and index there) first. The rows kept keep their order; the new
    /// file carries `metadata` and is still uncommitted.
    pub fn without_rows(
        mut self,
        run_id: &str,
        drop: &[u64],
        metadata: &[(String, String)],
        mut removed: impl FnMut(&RecordBatch, usize) -> Result<(), StoreError>,
    ) -> Result<FinishedFile, StoreError> {
        let old = self.tmp_path.with_extension("drop.tmp");
        std::fs::rename(&self.tmp_path, &old).map_err(io(&old))?;
        self.tmp_path = old.clone();
        let parquet = |e: &dyn std::fmt::Display| StoreError::Parquet {
            path: old.clone(),
            message: e.to_string(),
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&old).map_err(io(&old))?)
            .and_then(|b| b.with_batch_size(64 * 1024).build())
            .map_err(|e| parquet(&e))?;
        let mut out = PendingFile::create(self.final_path.clone(), run_id, reader.schema())?;
        let mut offset = 0u64;
        let mut next = drop.iter().peekable();
        for batch in reader {
            let batch = batch.map_err(|e| parquet(&e))?;
            let end = offset + batch.num_rows() as u64;
            if next.peek().is_none_or(|&&d| d >= end) {
                out.write(&batch)?;
            } else {
                let mut keep = vec![true; batch.num_rows()];
                while let Some(&&d) = next.peek().filter(|&&&d| d < end) {
                    let i = (d - offset) as usize;
                    keep[i] = false;
                    removed(&batch, i)?;
                    next.next();
                }
                let kept = arrow_select::filter::filter_record_batch(
                    &batch,
                    &arrow_array::BooleanArray::from(keep),
                )?;
                out.write(&kept)?;
            }
            offset = end;
        }
        out.finish(metadata)
    }
}

impl Drop for FinishedFile {
    fn drop(&mut self) {
        // Not committed: the step failed; the last good file stays.
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// Removes temporary files a killed run left behind under `root`: partial
/// files (`.<name>.<run>.tmp`) and the duplicate check's spill folders
/// (`.eqpipe-keys-*`). Called under the output folder's lock, so no other
/// run is writing them.
pub fn remove_stale_temporaries(root: &Path) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if name.starts_with(crate::unique::SPILL_PREFIX) {
                    if std::fs::remove_dir_all(&p).is_ok() {
                        *n += 1;
                    }
                } else if name != eqpipe_core::layout::CACHE_DIR
                    && name != eqpipe_core::layout::UPLOAD_STAGING
                {
                    // (Not the fetch cache, nor the upload server's staging,
                    // which it cleans itself and may be using.)
                    walk(&p, n);
                }
            } else if name.starts_with('.')
                && name.ends_with(".tmp")
                && std::fs::remove_file(&p).is_ok()
            {
                *n += 1;
            }
        }
    }
    // The whole output root: the catalogue's, metrics' and report's
    // temporaries as well as the datasets'.
    let mut n = 0;
    walk(root, &mut n);
    n
}

/// Appends rejected rows to a quarantine CSV: `file,row,column,reason`, then
/// every column of the row as text, so nothing is lost.
pub struct QuarantineWriter {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
    header: Vec<String>,
    rows: u64,
}

impl QuarantineWriter {
    /// A writer for `path`, created on the first rejected row.
    pub fn new(path: PathBuf, columns: Vec<String>) -> Self {
        QuarantineWriter {
            path,
            writer: None,
            header: columns,
            rows: 0,
        }
    }

    /// Appends one rejected row.
    pub fn write(
        &mut self,
        file: &str,
        row: &str,
        column: &str,
        reason: &str,
        values: &[String],
    ) -> Result<(), StoreError> {
        if self.writer.is_none() {
            create_dir(self.path.parent().expect("a folder"))?;
            let mut w = csv::Writer::from_writer(create_file(&self.path)?);
            let mut header = vec![
                "file".to_string(),
                "row".into(),
                "column".into(),
                "reason".into(),
            ];
            header.extend(self.header.iter().cloned());
            w.write_record(&header).map_err(|e| StoreError::Io {
                path: self.path.clone(),
                source: e.into(),
            })?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("opened");
        let mut rec = vec![
            file.to_string(),
            row.to_string(),
            column.to_string(),
            reason.to_string(),
        ];
        rec.extend(values.iter().cloned());
        w.write_record(&rec).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The file, whether or not a row was written yet.
    pub fn target(&self) -> &Path {
        &self.path
    }

    /// The file, if any row was written.
    pub fn path(&self) -> Option<&Path> {
        self.writer.as_ref().map(|_| self.path.as_path())
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(w) = &mut self.writer {
            w.flush().map_err(io(&self.path))?;
        }
        Ok(())
    }
}

/// An indicator's published file: `indicators/<name>/part-0.parquet`, or in
/// a partnership the partnership level's `indicators/<name>/partner=<id>/`.
pub fn published_file(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(eqpipe_core::layout::INDICATORS_DIR).join(name);
    let plain = dir.join(crate::files::PART_FILE);
    if plain.exists() {
        return plain;
    }
    level_files(&dir)
        .into_iter()
        .find(|f| {
            file_metadata(f).is_some_and(|kv| {
                kv.get(eqpipe_core::provenance::LEVEL_KEY)
                    .is_some_and(|l| l == "partnership")
            })
        })
        .unwrap_or(plain)
}

/// The level files of a partnership's indicator folder:
/// `<dir>/partner=<id>/part-0.parquet` that exist, sorted.
pub fn level_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(eqpipe_core::layout::PARTITION_PREFIX)
        })
        .map(|e| e.path().join(crate::files::PART_FILE))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    files
}

/// A whole Parquet file and its key-value metadata.
pub fn read(path: &Path) -> Option<(Vec<RecordBatch>, BTreeMap<String, String>)> {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).ok()?).ok()?;
    let kv = key_values(b.metadata().file_metadata());
    let batches = b.build().ok()?.collect::<Result<Vec<_>, _>>().ok()?;
    Some((batches, kv))
}

/// The key-value metadata (provenance) of a Parquet file.
pub fn file_metadata(path: &Path) -> Option<BTreeMap<String, String>> {
    file_facts(path).map(|(_, kv)| kv)
}

/// Rows and provenance of one Parquet file.
pub fn file_facts(path: &Path) -> Option<(u64, BTreeMap<String, String>)> {
    let reader = parquet::file::reader::SerializedFileReader::new(File::open(path).ok()?).ok()?;
    let md = parquet::file::reader::FileReader::metadata(&reader).file_metadata();
    Some((md.num_rows() as u64, key_values(md)))
}

/// A file's key-value metadata as a map (a key without a value maps to "").
fn key_values(md: &parquet::file::metadata::FileMetaData) -> BTreeMap<String, String> {
    md.key_value_metadata()
        .map(|v| {
            v.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        let s = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(s, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
    }

    #[test]
    fn files_appear_only_on_commit_and_carry_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("d/part-0.parquet");
        let b = batch(10);
        let mut p = PendingFile::create(target.clone(), "r1", b.schema()).unwrap();
        p.write(&b).unwrap();
        let f = p
            .finish(&[(eqpipe_core::provenance::keys::RUN_ID.into(), "r1".into())])
            .unwrap();
        assert!(!target.exists(), "not visible before commit");
        f.commit().unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&target).unwrap()).unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        assert!(
            kv.iter()
                .any(|k| k.key == eqpipe_core::provenance::keys::RUN_ID
                    && k.value.as_deref() == Some("r1"))
        );
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 10);
    }

    #[test]
    fn stale_partial_files_and_spill_folders_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("restricted/datasets/workforce/source=hr");
        std::fs::create_dir_all(d.join(".eqpipe-keys-AbC123")).unwrap();
        std::fs::write(d.join(".eqpipe-keys-AbC123/000.keys"), [0u8; 32]).unwrap();
        std::fs::write(d.join(".part-0.parquet.r1.tmp"), "x").unwrap();
        std::fs::write(d.join("part-0.parquet"), "kept").unwrap();
        // The catalogue's, the metrics' and the report's temporaries too;
        // not the upload server's staging or the fetch cache.
        std::fs::write(dir.path().join(".catalog.json.123.tmp"), "x").unwrap();
        std::fs::write(dir.path().join(".metrics.prom.123.tmp"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("report")).unwrap();
        std::fs::write(dir.path().join("report/.index.html.123.tmp"), "x").unwrap();
        let staging = dir.path().join("restricted/partner=a/.uploads/x");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join(".body.tmp"), "in use").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 5);
        let left: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(left, ["part-0.parquet"]);
        assert!(!dir.path().join("report/.index.html.123.tmp").exists());
        assert!(staging.join(".body.tmp").exists());
    }

    #[test]
    fn temporaries_are_removed_when_a_write_fails() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be: the rename fails.
        let target = dir.path().join("out.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomic(&target, b"{}").is_err());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(left, ["out.json"], "no temporary left");
    }

    #[test]
    fn a_projected_read_gives_the_named_columns_in_the_order_asked() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
            Field::new("c", DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            (0..3)
                .map(|k| Arc::new(Int64Array::from_iter_values((0..5).map(|i| i * 10 + k))) as _)
                .collect(),
        )
        .unwrap();
        // One plain file and one tagged with a partner (leading partner_id).
        let plain = dir.path().join("x/part-0.parquet");
        let mut p = PendingFile::create(plain.clone(), "r", schema.clone()).unwrap();
        p.write(&b).unwrap();
        p.finish(&[]).unwrap().commit().unwrap();
        let tagged = dir.path().join("y/part-0.parquet");
        let t = crate::partition::tag(&b, "p1").unwrap();
        let mut p = PendingFile::create(tagged.clone(), "r", t.schema()).unwrap();
        p.write(&t).unwrap();
        p.finish(&[]).unwrap().commit().unwrap();
        let r = MultiFileReader::new(schema.clone(), vec![plain, tagged])
            .with_columns(&["c".into(), "a".into()])
            .unwrap();
        let names: Vec<String> = r
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["c", "a"]);
        let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 2);
        for b in &batches {
            assert_eq!(b.num_columns(), 2);
            let c = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            assert_eq!(c.values().to_vec(), vec![2, 12, 22, 32, 42]);
        }
        let e = MultiFileReader::new(schema, vec![])
            .with_columns(&["nope".into()])
            .err()
            .unwrap();
        assert!(e.contains("no column `nope` (it has: a, b, c)"), "{e}");
    }

    #[test]
    fn an_uncommitted_file_leaves_the_last_good_one_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("part-0.parquet");
        let b = batch(3);
        let mut p = PendingFile::create(target.clone(), "r1", b.schema()).unwrap();
        p.write(&b).unwrap();
        p.finish(&[]).unwrap().commit().unwrap();
        let before = std::fs::read(&target).unwrap();
        // A second run writes, then fails before commit.
        let mut p = PendingFile::create(target.clone(), "r2", b.schema()).unwrap();
        p.write(&batch(7)).unwrap();
        drop(p.finish(&[]).unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file removed");
    }

    #[test]
    fn multi_file_reader_chains_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (i, n) in [4, 6].iter().enumerate() {
            let t = dir.path().join(format!("p{i}/part-0.parquet"));
            let b = batch(*n);
            let mut p = PendingFile::create(t.clone(), "r", b.schema()).unwrap();
            p.write(&b).unwrap();
            p.finish(&[]).unwrap().commit().unwrap();
            files.push(t);
        }
        let r = MultiFileReader::new(batch(0).schema(), files);
        let rows: usize = r.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 10);
    }
}
