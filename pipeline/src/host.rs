//! The host side of the plugin ABI: the services vtable handed to plugins,
//! and the sink that validates and stores what they emit.
//!
//! Every callback catches panics (nothing unwinds into plugin code) and
//! reports errors as (code, message) with messages this side allocated and
//! frees through `OwnedStr::release`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{Array, RecordBatch, RecordBatchReader, UInt64Array};
use arrow_schema::SchemaRef;
use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::contract::{SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN, is_reserved};
use eqpipe_plugin_sdk::{FetchRequest, FetchResponse};

use crate::contracts::{Validator, row_as_text};
use crate::disclosure::{self, Policy};
use crate::fetch::Fetcher;
use crate::registry::Plugin;
use crate::store::{FinishedFile, PendingFile, QuarantineWriter, StoreError};
pub use eqpipe_core::manifest::{DatasetStats, FetchRecord, NulledValues};

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
            Some(_) => crate::partners::tagged_schema(schema),
            None => schema.clone(),
        }
    }
}

/// What a step may reach in a partnership: a partner's step its own fetch
/// cache and never another partner's restricted root or inbox; a shared
/// step no partner's.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// The partner (empty for a shared step).
    pub partner: String,
    /// Where its personal fetches are cached (its restricted root).
    pub cache_dir: Option<PathBuf>,
    /// Folders it may not read (other partners' roots and inboxes).
    pub denied: Vec<PathBuf>,
}

impl Scope {
    /// Refuses a path under a denied folder (compared after resolving
    /// `..` and links where the path exists).
    pub fn check(&self, path: &std::path::Path) -> Result<(), String> {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        for d in &self.denied {
            let d_real = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            if real.starts_with(&d_real) || path.starts_with(d) {
                return Err(if self.partner.is_empty() {
                    format!(
                        "a source that belongs to no partner may not read {}: it is in a partner's folders",
                        path.display()
                    )
                } else {
                    format!(
                        "partner `{}` may not read {}: it belongs to another partner",
                        self.partner,
                        path.display()
                    )
                });
            }
        }
        Ok(())
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
                    Some(id) => crate::partners::tag(&validated.batch, id)
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
            md.push(("eqpipe.dataset".into(), c.name.clone()));
            md.push(("eqpipe.contract_version".into(), c.version.to_string()));
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
                let protected = disclosure::protect(&all, c, policy).map_err(StoreError::Arrow)?;
                stats.suppressed = protected.primary;
                stats.secondary_suppressed = protected.secondary;
                md.push((
                    "eqpipe.disclosure".into(),
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
        .filter(|(f, _)| !is_reserved(f.name()) && f.name() != crate::partners::PARTNER_COLUMN)
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

/// The hand-over from a plugin's thread to the thread storing its rows.
#[derive(Default)]
pub struct Pipe {
    /// Batches to store, by dataset; `None` when not pipelined.
    pub queue: Mutex<Option<std::sync::mpsc::SyncSender<(String, RecordBatch)>>>,
    /// The first storing error (status, message), reported to the plugin
    /// at its next emit and to the step at the end.
    pub error: Mutex<Option<(i32, String)>>,
}

impl Pipe {
    /// Stores the batches of `queue` into `sink` until the queue closes
    /// (run on the storing thread).
    pub fn drain(
        &self,
        sink: &Mutex<Sink>,
        queue: std::sync::mpsc::Receiver<(String, RecordBatch)>,
    ) {
        for (name, batch) in queue {
            let schema = batch.schema();
            let reader = arrow_array::RecordBatchIterator::new(vec![Ok(batch)], schema);
            // A fault in validation fails this step, never the run.
            let result = match sink.lock() {
                Ok(mut s) => catch_unwind(AssertUnwindSafe(|| s.emit(&name, reader)))
                    .unwrap_or_else(|_| {
                        Err((
                            abi::STATUS_INTERNAL,
                            format!(
                                "validating `{name}` failed inside eqpipe (a bug: please report it)"
                            ),
                        ))
                    }),
                Err(_) => Err((abi::STATUS_INTERNAL, "sink poisoned".to_string())),
            };
            if let Err(e) = result {
                self.error.lock().expect("not poisoned").get_or_insert(e);
            }
        }
    }
}

/// Everything one plugin invocation may reach through the vtable.
pub struct StepContext {
    /// The step's name (source name or indicator output name).
    pub step: String,
    /// The plugin.
    pub plugin: Plugin,
    /// The fetch service.
    pub fetcher: Arc<Fetcher>,
    /// Set when the run should stop.
    pub cancel: Arc<AtomicBool>,
    /// Where emitted rows go.
    pub sink: Mutex<Sink>,
    /// In an isolated plugin's process: emitted rows go to the parent
    /// instead of `sink`.
    pub forward: Option<crate::isolate::Forward>,
    /// When set, emitted batches are handed to a storing thread (which
    /// validates and writes them while the plugin reads on), instead of
    /// being stored on the plugin's thread.
    pub pipe: Pipe,
    /// Readable inputs: dataset -> (schema, files).
    pub inputs: HashMap<String, (SchemaRef, Vec<PathBuf>)>,
    /// URLs fetched.
    pub fetches: Mutex<Vec<FetchRecord>>,
    /// Coverage warnings the plugin raised (ABI 1.3 `warn`).
    pub warnings: Mutex<Vec<crate::runner::Warning>>,
    /// A progress bar, when stderr is a terminal.
    pub progress: Option<indicatif::ProgressBar>,
    /// The step writes personal data: what it fetches is cached under the
    /// restricted root.
    pub personal: bool,
    /// The data period the run covers (`YYYY-MM-DD`), offered to plugins.
    pub snapshot_date: String,
    /// A partner's step: what it may reach.
    pub scope: Option<Scope>,
}

impl StepContext {
    /// The vtable for this context. `self` must outlive every call made
    /// through it.
    pub fn host_api(&self) -> abi::HostApi {
        abi::HostApi {
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            struct_size: std::mem::size_of::<abi::HostApi>(),
            ctx: self as *const StepContext as *mut c_void,
            log: host_log,
            progress: host_progress,
            is_cancelled: host_is_cancelled,
            fetch: host_fetch,
            emit: host_emit,
            open_input: host_open_input,
            snapshot_date: abi::StrRef::new(&self.snapshot_date),
            open_input_columns: host_open_input_columns,
            warn: host_warn,
        }
    }

    fn fetch(&self, request_json: &str) -> Result<FetchResponse, (i32, String)> {
        let req: FetchRequest = serde_json::from_str(request_json).map_err(|e| {
            (
                abi::STATUS_INVALID_CONFIG,
                format!("unreadable fetch request: {e}"),
            )
        })?;
        let cache = self.scope.as_ref().and_then(|s| s.cache_dir.as_deref());
        let resp = self
            .fetcher
            .fetch_for_step_in(&req, &self.cancel, self.personal, cache)
            .map_err(|e| {
                let code = match e {
                    crate::fetch::FetchError::Cancelled => abi::STATUS_CANCELLED,
                    crate::fetch::FetchError::File { .. } => abi::STATUS_IO,
                    _ => abi::STATUS_FETCH,
                };
                (code, e.to_string())
            })?;
        if let Some(scope) = &self.scope
            && resp.url.starts_with("file://")
        {
            scope
                .check(std::path::Path::new(&resp.path))
                .map_err(|m| (abi::STATUS_IO, m))?;
        }
        self.fetches
            .lock()
            .expect("not poisoned")
            .push(FetchRecord {
                url: resp.url.clone(),
                from_cache: resp.from_cache,
                bytes: resp.bytes,
                fetched_at: resp.fetched_at.clone(),
                request: Some(req.clone()),
                digest: crate::incremental::digest_path(std::path::Path::new(&resp.path)).ok(),
            });
        Ok(resp)
    }
}

/// Runs a callback body, turning panics and errors into ABI statuses.
fn guarded(out_error: *mut abi::PluginError, f: impl FnOnce() -> Result<(), (i32, String)>) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err((abi::STATUS_INTERNAL, format!("host error: {msg}")))
    });
    match result {
        Ok(()) => abi::STATUS_OK,
        Err((code, message)) => {
            if !out_error.is_null() {
                // SAFETY: the plugin passes a valid out-parameter.
                unsafe {
                    out_error.write(abi::PluginError {
                        code,
                        message: abi::OwnedStr::from_string(message),
                    })
                };
            }
            code
        }
    }
}

/// # Safety
/// `ctx` is the `StepContext` the vtable was built from.
unsafe fn step<'a>(ctx: *mut c_void) -> &'a StepContext {
    // SAFETY: by the function's contract.
    unsafe { &*(ctx as *const StepContext) }
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, message: abi::StrRef) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // The step's span (entered by the runner) carries step and plugin,
        // so `ctx` is not needed here.
        let _ = ctx;
        // SAFETY: message borrowed for the call.
        let msg = unsafe { message.as_str() }.unwrap_or("(message was not UTF-8)");
        match level {
            abi::LOG_ERROR => tracing::error!(target: "plugin", "{msg}"),
            abi::LOG_WARN => tracing::warn!(target: "plugin", "{msg}"),
            abi::LOG_INFO => tracing::info!(target: "plugin", "{msg}"),
            abi::LOG_DEBUG => tracing::debug!(target: "plugin", "{msg}"),
            _ => tracing::trace!(target: "plugin", "{msg}"),
        }
    }));
}

unsafe extern "C" fn host_warn(
    ctx: *mut c_void,
    dataset: abi::StrRef,
    what: abi::StrRef,
    count: u64,
    of: u64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let dataset = unsafe { dataset.as_str() }.unwrap_or("");
        let what = unsafe { what.as_str() }.unwrap_or("(not UTF-8)");
        let w = crate::runner::Warning {
            kind: crate::config::WarningKind::Coverage,
            dataset: (!dataset.is_empty()).then(|| dataset.to_string()),
            what: what.chars().take(200).collect(),
            count,
            of: (of > 0).then_some(of),
        };
        tracing::debug!(target: "plugin", "coverage: {w}");
        s.warnings.lock().expect("not poisoned").push(w);
    }));
}

unsafe extern "C" fn host_progress(ctx: *mut c_void, done: u64, total: u64, message: abi::StrRef) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let msg = unsafe { message.as_str() }.unwrap_or("");
        if let Some(pb) = &s.progress {
            if total > 0 {
                pb.set_length(total);
            }
            pb.set_position(done);
            pb.set_message(msg.to_string());
        } else {
            tracing::debug!(step = %s.step, done, total, "{msg}");
        }
    }));
}

unsafe extern "C" fn host_is_cancelled(ctx: *mut c_void) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as for host_log.
        unsafe { step(ctx) }.cancel.load(Ordering::Relaxed)
    }))
    .unwrap_or(true)
}

unsafe extern "C" fn host_fetch(
    ctx: *mut c_void,
    request_json: abi::StrRef,
    out_response_json: *mut abi::OwnedStr,
    out_error: *mut abi::PluginError,
) -> i32 {
    guarded(out_error, || {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let req = unsafe { request_json.as_str() }.map_err(|_| {
            (
                abi::STATUS_INVALID_CONFIG,
                "fetch request is not UTF-8".to_string(),
            )
        })?;
        let resp = s.fetch(req)?;
        let json = serde_json::to_string(&resp).expect("serialisable");
        if out_response_json.is_null() {
            return Err((abi::STATUS_INTERNAL, "no place for the fetch answer".into()));
        }
        // SAFETY: valid out-parameter by the ABI's rules.
        unsafe { out_response_json.write(abi::OwnedStr::from_string(json)) };
        Ok(())
    })
}

unsafe extern "C" fn host_emit(
    ctx: *mut c_void,
    dataset: abi::StrRef,
    stream: *mut abi::ArrowArrayStream,
    out_error: *mut abi::PluginError,
) -> i32 {
    guarded(out_error, || {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let name = unsafe { dataset.as_str() }
            .map_err(|_| (abi::STATUS_DATA, "dataset name is not UTF-8".to_string()))?
            .to_string();
        if stream.is_null() {
            return Err((abi::STATUS_DATA, "emit called without a stream".into()));
        }
        // SAFETY: the ABI says the host takes ownership of the stream;
        // from_raw moves it out and leaves the plugin's struct released.
        let reader = unsafe { RecordBatchStreamReader::from_raw(stream.cast()) }.map_err(|e| {
            (
                abi::STATUS_DATA,
                format!("unreadable stream for `{name}`: {e}"),
            )
        })?;
        if let Some(f) = &s.forward {
            return f.emit(&name, reader).map_err(|m| (abi::STATUS_IO, m));
        }
        let queue = s.pipe.queue.lock().ok().and_then(|q| q.clone());
        if let Some(queue) = queue {
            if let Some(e) = s.pipe.error.lock().ok().and_then(|e| e.clone()) {
                return Err(e);
            }
            let schema = reader.schema();
            let mut sent = 0usize;
            for b in reader {
                let b = b.map_err(|e| {
                    (
                        abi::STATUS_DATA,
                        format!("unreadable batch for `{name}`: {e}"),
                    )
                })?;
                queue.send((name.clone(), b)).map_err(|_| {
                    (
                        abi::STATUS_INTERNAL,
                        "the host stopped storing rows".to_string(),
                    )
                })?;
                sent += 1;
            }
            if sent == 0 {
                // An empty stream still has its schema checked.
                let _ = queue.send((name.clone(), RecordBatch::new_empty(schema)));
            }
            return Ok(());
        }
        let mut sink = s
            .sink
            .lock()
            .map_err(|_| (abi::STATUS_INTERNAL, "sink poisoned".to_string()))?;
        if let Some(pb) = &s.progress {
            pb.set_message(format!("storing {name}"));
        }
        sink.emit(&name, reader)
    })
}

unsafe extern "C" fn host_open_input(
    ctx: *mut c_void,
    dataset: abi::StrRef,
    out_stream: *mut abi::ArrowArrayStream,
    out_error: *mut abi::PluginError,
) -> i32 {
    // SAFETY: as for host_log.
    unsafe { open_input(ctx, dataset, None, out_stream, out_error) }
}

unsafe extern "C" fn host_open_input_columns(
    ctx: *mut c_void,
    dataset: abi::StrRef,
    columns: *const abi::StrRef,
    n_columns: usize,
    out_stream: *mut abi::ArrowArrayStream,
    out_error: *mut abi::PluginError,
) -> i32 {
    let names = if columns.is_null() || n_columns == 0 {
        Ok(Vec::new())
    } else {
        // SAFETY: the plugin passes `n_columns` valid names for the call.
        unsafe { std::slice::from_raw_parts(columns, n_columns) }
            .iter()
            .map(|c| unsafe { c.as_str() }.map(str::to_string))
            .collect::<Result<Vec<_>, _>>()
    };
    match names {
        // SAFETY: as for host_log.
        Ok(names) => unsafe { open_input(ctx, dataset, Some(names), out_stream, out_error) },
        Err(_) => guarded(out_error, || {
            Err((abi::STATUS_DATA, "a column name is not UTF-8".to_string()))
        }),
    }
}

/// Streams an input dataset, all its columns or the named ones.
unsafe fn open_input(
    ctx: *mut c_void,
    dataset: abi::StrRef,
    columns: Option<Vec<String>>,
    out_stream: *mut abi::ArrowArrayStream,
    out_error: *mut abi::PluginError,
) -> i32 {
    guarded(out_error, || {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let name = unsafe { dataset.as_str() }
            .map_err(|_| (abi::STATUS_DATA, "dataset name is not UTF-8".to_string()))?;
        let Some((schema, files)) = s.inputs.get(name) else {
            return Err((
                abi::STATUS_UNSUPPORTED,
                format!(
                    "dataset `{name}` is not an input of this step (declare it in the manifest's `consumes`)"
                ),
            ));
        };
        if out_stream.is_null() {
            return Err((abi::STATUS_INTERNAL, "no place for the stream".into()));
        }
        let mut reader = crate::store::MultiFileReader::new(schema.clone(), files.clone());
        if let Some(columns) = columns {
            reader = reader
                .with_columns(&columns)
                .map_err(|e| (abi::STATUS_DATA, format!("input `{name}`: {e}")))?;
        }
        let ffi = FFI_ArrowArrayStream::new(Box::new(reader));
        // SAFETY: the plugin owns the out struct; identical layout.
        unsafe { out_stream.cast::<FFI_ArrowArrayStream>().write(ffi) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_refuses_denied_folders_however_the_path_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("restricted/partner=b");
        std::fs::create_dir_all(theirs.join("inbox")).unwrap();
        std::fs::write(theirs.join("inbox/hr.csv"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("mine")).unwrap();
        std::fs::write(dir.path().join("mine/hr.csv"), "x").unwrap();
        let scope = |partner: &str| Scope {
            partner: partner.into(),
            cache_dir: None,
            denied: vec![theirs.clone()],
        };
        assert!(scope("a").check(&dir.path().join("mine/hr.csv")).is_ok());
        let sneaky = dir.path().join("mine/../restricted/partner=b/inbox/hr.csv");
        let e = scope("a").check(&sneaky).unwrap_err();
        assert!(e.contains("partner `a` may not read"), "{e}");
        let e = scope("").check(&theirs.join("inbox")).unwrap_err();
        assert!(e.contains("belongs to no partner"), "{e}");
    }
}
