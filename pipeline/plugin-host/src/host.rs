//! The host side of the plugin ABI: the services vtable handed to plugins,
//! and the sink that validates and stores what they emit.
//!
//! Every callback catches panics (nothing unwinds into plugin code) and
//! reports errors as (code, message) with messages this side allocated and
//! frees through `OwnedStr::release`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::{FetchRequest, FetchResponse};

use crate::fetch::Fetcher;
use crate::registry::Plugin;
pub use eqpipe_core::manifest::{DatasetStats, FetchRecord, NulledValues};
use eqpipe_store::sink::Sink;

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
    /// URLs fetched (their files digested off the plugin's thread).
    pub fetches: FetchLog,
    /// Coverage warnings the plugin raised (ABI 1.3 `warn`).
    pub warnings: Mutex<Vec<eqpipe_core::manifest::Warning>>,
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

    /// Records a coverage warning the plugin raised.
    pub(crate) fn coverage(&self, dataset: &str, what: &str, count: u64, of: u64) {
        let w = eqpipe_core::manifest::Warning {
            kind: eqpipe_core::config::WarningKind::Coverage,
            dataset: (!dataset.is_empty()).then(|| dataset.to_string()),
            what: what.chars().take(200).collect(),
            count,
            of: (of > 0).then_some(of),
        };
        tracing::debug!(target: "plugin", "coverage: {w}");
        self.warnings.lock().expect("not poisoned").push(w);
    }

    /// Shows the plugin's progress (a bar on a terminal, else a debug line).
    pub(crate) fn show_progress(&self, done: u64, total: u64, msg: &str) {
        if let Some(pb) = &self.progress {
            if total > 0 {
                pb.set_length(total);
            }
            pb.set_position(done);
            pb.set_message(msg.to_string());
        } else {
            tracing::debug!(step = %self.step, done, total, "{msg}");
        }
    }

    pub(crate) fn fetch(&self, request_json: &str) -> Result<FetchResponse, (i32, String)> {
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
        self.fetches.push_digesting(
            FetchRecord {
                url: resp.url.clone(),
                from_cache: resp.from_cache,
                bytes: resp.bytes,
                fetched_at: resp.fetched_at.clone(),
                request: Some(req.clone()),
                digest: None,
            },
            PathBuf::from(&resp.path),
        );
        Ok(resp)
    }
}

/// The fetches of one step, in the order they were made. A fetched file's
/// digest (the incremental-run stamp) is computed on a thread of its own
/// while the plugin parses it, not before the plugin may start: reading a
/// 400 MB file twice in series was a sixth of a workforce step's wall time.
#[derive(Default)]
pub struct FetchLog {
    /// Each record, with the digesting thread that fills its digest.
    entries: Mutex<Vec<(FetchRecord, Option<Digesting>)>>,
}

/// A digest being computed.
type Digesting = std::thread::JoinHandle<Option<String>>;

impl FetchLog {
    /// At most this many digests run at once; a further fetch waits for
    /// the oldest (a plugin fetching thousands of files reads no faster).
    const IN_FLIGHT: usize = 2;

    /// Records a fetch whose file at `path` is digested in the background.
    pub fn push_digesting(&self, record: FetchRecord, path: PathBuf) {
        let mut entries = self.entries.lock().expect("not poisoned");
        let running = entries.iter().filter(|(_, h)| h.is_some()).count();
        if running >= Self::IN_FLIGHT
            && let Some((r, h)) = entries.iter_mut().find(|(_, h)| h.is_some())
        {
            r.digest = h.take().and_then(|h| h.join().ok().flatten());
        }
        let digest = |p: &std::path::Path| eqpipe_store::fingerprint::content_digest(p).ok();
        let on_thread = path.clone();
        let handle = std::thread::Builder::new()
            .name("eqpipe-digest".into())
            .spawn(move || digest(&on_thread));
        match handle {
            Ok(h) => entries.push((record, Some(h))),
            // No thread to be had: digest here, as before.
            Err(_) => entries.push((
                FetchRecord {
                    digest: digest(&path),
                    ..record
                },
                None,
            )),
        }
    }

    /// Records fetches whose digests are known (an isolated plugin's, from
    /// its process).
    pub fn extend(&self, records: impl IntoIterator<Item = FetchRecord>) {
        let mut entries = self.entries.lock().expect("not poisoned");
        entries.extend(records.into_iter().map(|r| (r, None)));
    }

    /// The records, each digest waited for.
    pub fn into_records(self) -> Vec<FetchRecord> {
        let entries = self.entries.into_inner().unwrap_or_else(|e| e.into_inner());
        entries
            .into_iter()
            .map(|(mut r, h)| {
                if let Some(h) = h {
                    r.digest = h.join().ok().flatten();
                }
                r
            })
            .collect()
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
        s.coverage(dataset, what, count, of);
    }));
}

unsafe extern "C" fn host_progress(ctx: *mut c_void, done: u64, total: u64, message: abi::StrRef) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as for host_log.
        let s = unsafe { step(ctx) };
        let msg = unsafe { message.as_str() }.unwrap_or("");
        s.show_progress(done, total, msg);
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
        let mut reader = eqpipe_store::files::MultiFileReader::new(schema.clone(), files.clone());
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

    #[test]
    fn a_fetch_log_keeps_order_and_waits_for_every_digest() {
        let dir = tempfile::tempdir().unwrap();
        let log = FetchLog::default();
        let record = |url: &str| FetchRecord {
            url: url.into(),
            from_cache: false,
            bytes: 0,
            fetched_at: None,
            request: None,
            digest: None,
        };
        let mut expected = Vec::new();
        for i in 0..(FetchLog::IN_FLIGHT * 3) {
            let path = dir.path().join(format!("f{i}.csv"));
            std::fs::write(&path, format!("a,b\n{i},{}\n", i * 7).repeat(1000 + i)).unwrap();
            expected.push(eqpipe_store::fingerprint::content_digest(&path).ok());
            log.push_digesting(record(&format!("file://f{i}")), path);
        }
        log.extend([FetchRecord {
            digest: Some("known".into()),
            ..record("isolated")
        }]);
        expected.push(Some("known".into()));
        log.push_digesting(record("gone"), dir.path().join("missing.csv"));
        expected.push(None);
        let records = log.into_records();
        let urls: Vec<&str> = records.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls[0], "file://f0");
        assert_eq!(urls[urls.len() - 2..], ["isolated", "gone"]);
        let digests: Vec<Option<String>> = records.into_iter().map(|r| r.digest).collect();
        assert_eq!(digests, expected);
        assert!(
            digests[0]
                .as_ref()
                .is_some_and(|d| d.starts_with("xxh3-128:")),
            "{digests:?}"
        );
    }
}
