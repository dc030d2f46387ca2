//! The sink: every batch a plugin emits goes through it. It validates the
//! batch against the dataset's contract, quarantines rejected rows with
//! their reason, tags a partnership's rows, writes the rest to a pending
//! file, and at the end removes late duplicates and applies disclosure
//! control before the files are committed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, RecordBatchReader, UInt64Array};
use arrow_schema::SchemaRef;
use eqpipe_core::config::Policy;
use eqpipe_core::manifest::{DatasetStats, NulledValues};
use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::contract::{SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN, is_reserved};

use crate::contracts::{Validator, row_as_text};
use crate::files::{FinishedFile, PendingFile, QuarantineWriter, StoreError};
use crate::protect;

/// Where one emitted dataset goes.
pub struct Target {
    /// Validates against the dataset's contract.
    pub validator: Validator,
    /// The committed file location.
    pub final_path: PathBuf,
    /// Disclosure control before publication: the policy, and where the
    /// unsuppressed rows are kept (under the restricted root). Set for
    /// datasets whose contract has a `disclosure` section.
    pub disclosure: Option<(Policy, PathBuf)>,
    /// In a partnership: the partner (or partnership) id every stored row
    /// is tagged with (a leading `partner_id` column).
    pub partner: Option<String>,
    /// Publish the disclosure-controlled copy (false: keep only the
    /// unsuppressed rows; a partnership's levels are published together
    /// afterwards).
    pub publish: bool,
}

impl Target {
    /// The schema stored: the contract's, tagged in a partnership.
    pub fn stored_schema(&self) -> SchemaRef {
        let schema = self.validator.schema();
        match &self.partner {
            Some(_) => crate::partition::tagged_schema(schema),
            None => schema.clone(),
        }
    }
}

/// Which copy of a dataset a closed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    /// The stored (or published) dataset.
    Main,
    /// The unsuppressed rows of a disclosure-controlled dataset, kept
    /// under the restricted root.
    Unsuppressed,
}

/// What [`Sink::finish`] returns: the closed files by dataset, and the counts.
pub type Finished = (
    Vec<(String, CopyKind, FinishedFile)>,
    BTreeMap<String, DatasetStats>,
);

/// Validates, quarantines and writes what one step emits.
pub struct Sink {
    run_id: String,
    targets: HashMap<String, Target>,
    writers: HashMap<String, PendingFile>,
    /// Validated batches of disclosure-controlled datasets, protected as a
    /// whole at the end (secondary suppression needs every row).
    held: HashMap<String, Vec<RecordBatch>>,
    stats: BTreeMap<String, DatasetStats>,
    quarantine: QuarantineWriter,
}

impl Sink {
    /// A sink for the given datasets; rejected rows go to `quarantine_path`.
    pub fn new(
        run_id: &str,
        mut targets: HashMap<String, Target>,
        quarantine_path: PathBuf,
    ) -> Self {
        for t in targets.values_mut() {
            // The duplicate check spills next to the data it checks (under
            // the restricted root for personal data).
            if let Some(dir) = t.final_path.parent() {
                t.validator.spill_keys_in(dir);
            }
        }
        Sink {
            run_id: run_id.to_string(),
            targets,
            writers: HashMap::new(),
            held: HashMap::new(),
            stats: BTreeMap::new(),
            quarantine: QuarantineWriter::new(
                quarantine_path,
                vec!["dataset".into(), "record".into()],
            ),
        }
    }

    /// Reads a whole emitted stream into the store.
    pub fn emit(
        &mut self,
        dataset: &str,
        mut reader: impl RecordBatchReader,
    ) -> Result<(), (i32, String)> {
        let Some(target) = self.targets.get_mut(dataset) else {
            let mut known: Vec<_> = self.targets.keys().cloned().collect();
            known.sort();
            return Err((
                abi::STATUS_UNSUPPORTED,
                format!(
                    "the plugin emitted dataset `{dataset}`, which its manifest does not declare (declared: {})",
                    known.join(", ")
                ),
            ));
        };
        let dropped = target
            .validator
            .check_schema(&reader.schema())
            .map_err(|e| (abi::STATUS_DATA, e.to_string()))?;
        let stats = self.stats.entry(dataset.to_string()).or_default();
        for d in dropped {
            if !stats.dropped_columns.contains(&d) {
                tracing::warn!(dataset, column = %d, "column not in the contract; dropped");
                stats.dropped_columns.push(d);
            }
        }
        if target.disclosure.is_none() && !self.writers.contains_key(dataset) {
            let w = PendingFile::create(
                target.final_path.clone(),
                &self.run_id,
                target.stored_schema(),
            )
            .map_err(store_err)?;
            self.writers.insert(dataset.to_string(), w);
        }
        for batch in reader.by_ref() {
            let batch = batch.map_err(|e| {
                (
                    abi::STATUS_DATA,
                    format!("reading the emitted stream of `{dataset}`: {e}"),
                )
            })?;
            let first_row = stats.rows_in;
            stats.rows_in += batch.num_rows() as u64;
            let validated = target
                .validator
                .validate(&batch)
                .map_err(|e| (abi::STATUS_DATA, e.to_string()))?;
            if !validated.rejections.is_empty() {
                write_rejections(
                    &mut self.quarantine,
                    dataset,
                    &batch,
                    &validated.rejections,
                    first_row,
                )
                .map_err(store_err)?;
                stats.quarantined += validated.rejections.len() as u64;
                for r in &validated.rejections {
                    stats.count_reason(&r.reason);
                }
            }
            for (c, n) in validated.markers {
                *stats.markers.entry(c).or_default() += n;
            }
            for (c, (n, reason)) in validated.nulled {
                let e = stats
                    .nulled
                    .entry(c)
                    .or_insert_with(|| NulledValues { count: 0, reason });
                e.count += n;
            }
            if validated.batch.num_rows() > 0 {
                stats.rows += validated.batch.num_rows() as u64;
                let batch = match &target.partner {
                    Some(id) => crate::partition::tag(&validated.batch, id)
                        .map_err(|e| (abi::STATUS_INTERNAL, e.to_string()))?,
                    None => validated.batch,
                };
                match self.writers.get_mut(dataset) {
                    Some(writer) => writer.write(&batch).map_err(store_err)?,
                    None => self
                        .held
                        .entry(dataset.to_string())
                        .or_default()
                        .push(batch),
                }
            }
        }
        Ok(())
    }

    /// Counts so far.
    pub fn stats(&self) -> &BTreeMap<String, DatasetStats> {
        &self.stats
    }

    /// The quarantine file, if any row was rejected.
    pub fn quarantine_path(&self) -> Option<PathBuf> {
        self.quarantine.path().map(|p| p.to_path_buf())
    }

    /// Where the quarantine file is (or would be) written.
    pub fn quarantine_target(&self) -> PathBuf {
        self.quarantine.target().to_path_buf()
    }

    /// Closes every file (declared datasets never emitted get an empty
    /// file, so the stored data is this run's answer) under temporary
    /// names; the caller commits them if the step succeeded.
    pub fn finish(mut self, metadata: &[(String, String)]) -> Result<Finished, StoreError> {
        self.quarantine.flush()?;
        let mut out = Vec::new();
        let mut names: Vec<String> = self.targets.keys().cloned().collect();
        names.sort();
        for name in names {
            let target = self.targets.get_mut(&name).expect("a target");
            let late = target
                .validator
                .finish_unique()
                .map_err(|source| StoreError::Io {
                    path: target.final_path.clone(),
                    source,
                })?;
            let target = &self.targets[&name];
            let c = target.validator.contract();
            let schema = target.stored_schema();
            let mut md = metadata.to_vec();
            md.push((
                eqpipe_core::provenance::keys::DATASET.into(),
                c.name.clone(),
            ));
            md.push((
                eqpipe_core::provenance::keys::CONTRACT_VERSION.into(),
                c.version.to_string(),
            ));
            let stats = self.stats.entry(name.clone()).or_default();
            if let Some((policy, restricted)) = &target.disclosure {
                let batches = self.held.remove(&name).unwrap_or_default();
                let mut all = arrow_select::concat::concat_batches(&schema, &batches)
                    .map_err(StoreError::Arrow)?;
                if !late.is_empty() {
                    let mut keep = vec![true; all.num_rows()];
                    for d in &late {
                        keep[d.ordinal as usize] = false;
                    }
                    for d in &late {
                        write_late_duplicate(
                            &mut self.quarantine,
                            &name,
                            c,
                            &all,
                            d,
                            d.ordinal as usize,
                        )?;
                    }
                    all = arrow_select::filter::filter_record_batch(
                        &all,
                        &arrow_array::BooleanArray::from(keep),
                    )?;
                    stats.rows -= late.len() as u64;
                    stats.quarantined += late.len() as u64;
                    for _ in &late {
                        stats.count_reason(&late_reason(c));
                    }
                }
                let mut raw =
                    PendingFile::create(restricted.clone(), &self.run_id, schema.clone())?;
                raw.write(&all)?;
                out.push((name.clone(), CopyKind::Unsuppressed, raw.finish(&md)?));
                if !target.publish {
                    continue;
                }
                let protected = protect::protect(&all, c, policy).map_err(StoreError::Arrow)?;
                stats.suppressed = protected.primary;
                stats.secondary_suppressed = protected.secondary;
                md.push((
                    eqpipe_core::provenance::keys::DISCLOSURE.into(),
                    serde_json::json!({
                        "threshold": policy.threshold,
                        "suppress_zero": policy.suppress_zero,
                        "suppressed_rows": protected.primary,
                        "secondary_suppressed_rows": protected.secondary,
                    })
                    .to_string(),
                ));
                let mut w = PendingFile::create(target.final_path.clone(), &self.run_id, schema)?;
                if let Some(b) = protected.batch {
                    w.write(&b)?;
                }
                out.push((name, CopyKind::Main, w.finish(&md)?));
                continue;
            }
            let w = match self.writers.remove(&name) {
                Some(w) => w,
                None => PendingFile::create(target.final_path.clone(), &self.run_id, schema)?,
            };
            let mut file = w.finish(&md)?;
            if !late.is_empty() {
                // Keys repeated among those spilled past the memory budget:
                // the file is rewritten without the later rows.
                let ordinals: Vec<u64> = late.iter().map(|d| d.ordinal).collect();
                let mut next = late.iter();
                let quarantine = &mut self.quarantine;
                file = file.without_rows(&self.run_id, &ordinals, &md, |batch, i| {
                    let d = next.next().expect("one removed row a duplicate");
                    write_late_duplicate(quarantine, &name, c, batch, d, i)
                })?;
                stats.rows -= late.len() as u64;
                stats.quarantined += late.len() as u64;
                for _ in &late {
                    stats.count_reason(&late_reason(c));
                }
                tracing::info!(
                    dataset = %name,
                    rows = late.len(),
                    "rows repeating an earlier key found after the step; removed from the file"
                );
            }
            out.push((name, CopyKind::Main, file));
        }
        self.quarantine.flush()?;
        Ok((out, self.stats))
    }
}

fn store_err(e: StoreError) -> (i32, String) {
    (abi::STATUS_IO, e.to_string())
}

/// The reason a row repeating an earlier key is rejected (as the
/// validator words it for keys found in memory).
fn late_reason(contract: &eqpipe_plugin_sdk::Contract) -> String {
    let column = contract.unique.first().map(String::as_str).unwrap_or("row");
    format!(
        "{column}: duplicate of an earlier row with the same {}",
        contract.unique.join(", ")
    )
}

/// Quarantines a stored row found at the end to repeat an earlier key.
fn write_late_duplicate(
    q: &mut QuarantineWriter,
    dataset: &str,
    contract: &eqpipe_plugin_sdk::Contract,
    stored: &RecordBatch,
    d: &crate::unique::LateDuplicate,
    i: usize,
) -> Result<(), StoreError> {
    let (file, row) = match &d.source.file {
        Some(f) => (f.clone(), d.source.row.to_string()),
        None => (
            "(emitted stream)".to_string(),
            format!("emitted row {}", d.source.row),
        ),
    };
    let column = contract.unique.first().map(String::as_str).unwrap_or("row");
    let reason = late_reason(contract);
    q.write(
        &file,
        &row,
        column,
        &reason,
        &[dataset.to_string(), record_json(stored, i)],
    )
}

/// Row `i` as a JSON object of its columns (reserved columns and the
/// partner tag left out), for the quarantine file.
fn record_json(batch: &RecordBatch, i: usize) -> String {
    let values = row_as_text(batch, i);
    let record: serde_json::Map<String, serde_json::Value> = batch
        .schema()
        .fields()
        .iter()
        .zip(values)
        .filter(|(f, _)| {
            !is_reserved(f.name()) && f.name() != eqpipe_core::provenance::PARTNER_COLUMN
        })
        .map(|(f, v)| (f.name().clone(), serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(record).to_string()
}

fn write_rejections(
    q: &mut QuarantineWriter,
    dataset: &str,
    batch: &RecordBatch,
    rejections: &[crate::contracts::Rejection],
    first_row: u64,
) -> Result<(), StoreError> {
    let files = batch
        .column_by_name(SOURCE_FILE_COLUMN)
        .and_then(|c| arrow_cast::cast::cast(c, &arrow_schema::DataType::Utf8).ok());
    let rows = batch
        .column_by_name(SOURCE_ROW_COLUMN)
        .and_then(|c| arrow_cast::cast::cast(c, &arrow_schema::DataType::UInt64).ok());
    for r in rejections {
        let file = files
            .as_ref()
            .map(|f| f.as_string::<i32>())
            .filter(|f| f.is_valid(r.index))
            .map(|f| f.value(r.index).to_string())
            .unwrap_or_else(|| "(emitted stream)".to_string());
        let row = rows
            .as_ref()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<UInt64Array>()
                    .expect("cast to u64")
            })
            .filter(|a| a.is_valid(r.index))
            .map(|a| a.value(r.index).to_string())
            .unwrap_or_else(|| format!("emitted row {}", first_row + r.index as u64 + 1));
        let record = record_json(batch, r.index);
        q.write(
            &file,
            &row,
            &r.column,
            &r.reason,
            &[dataset.to_string(), record],
        )?;
    }
    Ok(())
}
