//! The safe view of the host's services ([`Context`]).

use std::collections::BTreeMap;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::SchemaRef;
use eqpipe_plugin_abi as abi;
use serde::{Deserialize, Serialize};

use crate::error::PluginError;

/// Log levels a plugin can write at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong but the run goes on.
    Warn,
    /// Normal progress.
    Info,
    /// Detail for debugging.
    Debug,
    /// Even more detail.
    Trace,
}

impl Level {
    fn code(self) -> u32 {
        match self {
            Level::Error => abi::LOG_ERROR,
            Level::Warn => abi::LOG_WARN,
            Level::Info => abi::LOG_INFO,
            Level::Debug => abi::LOG_DEBUG,
            Level::Trace => abi::LOG_TRACE,
        }
    }
}

/// A fetch request for the host's fetch layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// `https://`, `http://`, `file://` or a path (relative to the config).
    pub url: String,
    /// Extra request headers (not secret).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values the host reads from the named environment
    /// variables; the values never reach logs, errors or manifests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_headers: BTreeMap<String, String>,
    /// Query parameters whose values the host reads from the named
    /// environment variables, redacted everywhere they would be shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_query: BTreeMap<String, String>,
    /// Refuse bodies larger than this many bytes (host default otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl FetchRequest {
    /// A plain GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        FetchRequest {
            url: url.into(),
            ..Default::default()
        }
    }

    /// Adds a query parameter whose value comes from an environment variable.
    pub fn secret_query(mut self, param: &str, env_var: &str) -> Self {
        self.secret_query.insert(param.into(), env_var.into());
        self
    }

    /// Adds a header whose value comes from an environment variable.
    pub fn secret_header(mut self, header: &str, env_var: &str) -> Self {
        self.secret_headers.insert(header.into(), env_var.into());
        self
    }
}

/// What the host answers to a fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchResponse {
    /// A local file holding the body (in the host's cache, or the file
    /// itself for `file://` URLs and paths). Read it; do not modify it.
    pub path: String,
    /// The URL fetched, with secrets redacted.
    pub url: String,
    /// HTTP status of the final answer (200 for files).
    #[serde(default)]
    pub status: u16,
    /// True when the body came from the cache without a download.
    #[serde(default)]
    pub from_cache: bool,
    /// True when the server said the cached copy is still current (304).
    #[serde(default)]
    pub not_modified: bool,
    /// Body size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Entity tag, if the server sent one.
    #[serde(default)]
    pub etag: Option<String>,
    /// Last-Modified, if the server sent one.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Content-Type, if known.
    #[serde(default)]
    pub content_type: Option<String>,
    /// When the body was downloaded (RFC 3339).
    #[serde(default)]
    pub fetched_at: Option<String>,
}

/// The host's services, as seen by a running plugin. Cheap to pass around;
/// valid only during the call it was handed to.
pub struct Context<'a> {
    api: &'a abi::HostApi,
}

impl<'a> Context<'a> {
    /// Wraps the host vtable. Fails when the host speaks another ABI major.
    pub(crate) fn new(api: &'a abi::HostApi) -> Result<Self, PluginError> {
        if api.abi_major != abi::ABI_MAJOR {
            return Err(PluginError::internal(format!(
                "host speaks plugin ABI {}.{}, this plugin was built for {}.{}",
                api.abi_major,
                api.abi_minor,
                abi::ABI_MAJOR,
                abi::ABI_MINOR
            )));
        }
        Ok(Context { api })
    }

    /// Writes a message into the host's log.
    pub fn log(&self, level: Level, message: &str) {
        // SAFETY: the host guarantees the vtable for the call's duration.
        unsafe { (self.api.log)(self.api.ctx, level.code(), abi::StrRef::new(message)) }
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }

    /// Logs at warning level.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }

    /// Raises a coverage warning: `count` of `of` (when known) things the
    /// plugin was given could not be used (LSOAs missing from a lookup,
    /// unmatched postcodes, unmapped answers). `what` names the loss in a
    /// few words, never with a value from personal data. The step ends
    /// `succeeded_with_warnings` (or fails, where the operator says so) and
    /// the report's data-quality section lists it. On a host older than ABI
    /// 1.3 it is logged as a warning instead.
    pub fn coverage_warning(&self, dataset: Option<&str>, what: &str, count: u64, of: Option<u64>) {
        if self.api.struct_size < abi::HOST_API_V1_3_SIZE {
            let of = of.map(|o| format!(" of {o}")).unwrap_or_default();
            self.warn(&format!("{what}: {count}{of}"));
            return;
        }
        // SAFETY: struct_size says the function is there; the strings are
        // borrowed for the call.
        unsafe {
            (self.api.warn)(
                self.api.ctx,
                abi::StrRef::new(dataset.unwrap_or("")),
                abi::StrRef::new(what),
                count,
                of.unwrap_or(0),
            )
        }
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }

    /// The data period the run covers (`YYYY-MM-DD`): the run's snapshot
    /// date. `None` from a host older than ABI 1.1, which does not offer it.
    pub fn snapshot_date(&self) -> Option<String> {
        if self.api.struct_size < abi::HOST_API_V1_1_SIZE {
            return None;
        }
        // SAFETY: struct_size says the field is there; the string lives
        // for the call's duration.
        unsafe { self.api.snapshot_date.as_str() }
            .ok()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Reports progress (`total` 0 when unknown).
    pub fn progress(&self, done: u64, total: u64, message: &str) {
        // SAFETY: as for `log`.
        unsafe { (self.api.progress)(self.api.ctx, done, total, abi::StrRef::new(message)) }
    }

    /// True once the host wants the run to stop.
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: as for `log`.
        unsafe { (self.api.is_cancelled)(self.api.ctx) }
    }

    /// Returns `Err(PluginError::cancelled())` once the host wants the run
    /// to stop; call it between units of work with `?`.
    pub fn check_cancelled(&self) -> Result<(), PluginError> {
        if self.is_cancelled() {
            Err(PluginError::cancelled())
        } else {
            Ok(())
        }
    }

    /// Asks the host to fetch a URL (with its cache, retries, rate limit and
    /// secrets handling) and returns where the body is on disk.
    pub fn fetch(&self, request: &FetchRequest) -> Result<FetchResponse, PluginError> {
        let json = serde_json::to_string(request)
            .map_err(|e| PluginError::internal(format!("cannot encode fetch request: {e}")))?;
        let mut out = abi::OwnedStr::empty();
        let mut err = abi::PluginError::none();
        // SAFETY: as for `log`; `out` and `err` are valid out-parameters.
        let status =
            unsafe { (self.api.fetch)(self.api.ctx, abi::StrRef::new(&json), &mut out, &mut err) };
        // SAFETY: the host filled (or left empty) `out`.
        let body = unsafe { out.take() };
        if status != abi::STATUS_OK {
            return Err(PluginError::from_abi(status, &mut err));
        }
        serde_json::from_str(&body).map_err(|e| {
            PluginError::internal(format!("host sent an unreadable fetch answer: {e}"))
        })
    }

    /// Shorthand for `fetch(&FetchRequest::get(url))`.
    pub fn fetch_url(&self, url: &str) -> Result<FetchResponse, PluginError> {
        self.fetch(&FetchRequest::get(url))
    }

    /// Emits rows of a dataset declared in the manifest's `produces`. The
    /// host reads the whole stream, validates and stores it before this
    /// returns; rows that break the contract are quarantined by the host.
    pub fn emit(
        &self,
        dataset: &str,
        reader: Box<dyn RecordBatchReader + Send>,
    ) -> Result<(), PluginError> {
        let mut stream = FFI_ArrowArrayStream::new(reader);
        let mut err = abi::PluginError::none();
        let raw: *mut abi::ArrowArrayStream = (&mut stream as *mut FFI_ArrowArrayStream).cast();
        // SAFETY: identical layout (tested in the ABI crate); the host moves
        // the stream out and leaves `stream` released.
        let status =
            unsafe { (self.api.emit)(self.api.ctx, abi::StrRef::new(dataset), raw, &mut err) };
        if status != abi::STATUS_OK {
            return Err(PluginError::from_abi(status, &mut err));
        }
        Ok(())
    }

    /// Emits a set of batches already in memory.
    pub fn emit_batches(
        &self,
        dataset: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(), PluginError> {
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        self.emit(dataset, Box::new(reader))
    }

    /// Emits the rows held by `rows` (if any) and empties it.
    pub fn emit_rows(&self, dataset: &str, rows: &mut crate::TextRows) -> Result<(), PluginError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = rows.take_batch()?;
        self.emit_batches(dataset, batch.schema(), vec![batch])
    }

    /// Opens an input dataset declared in the manifest's `consumes` and
    /// streams all its rows.
    pub fn open_input(&self, dataset: &str) -> Result<RecordBatchStreamReader, PluginError> {
        // SAFETY: as for `emit`; the host fills `stream`, which we own.
        self.receive(dataset, |stream, err| unsafe {
            (self.api.open_input)(self.api.ctx, abi::StrRef::new(dataset), stream, err)
        })
    }

    /// Calls the host to fill a stream of `dataset` and reads it.
    fn receive(
        &self,
        dataset: &str,
        call: impl FnOnce(*mut abi::ArrowArrayStream, *mut abi::PluginError) -> i32,
    ) -> Result<RecordBatchStreamReader, PluginError> {
        let mut stream = FFI_ArrowArrayStream::empty();
        let mut err = abi::PluginError::none();
        let raw: *mut abi::ArrowArrayStream = (&mut stream as *mut FFI_ArrowArrayStream).cast();
        let status = call(raw, &mut err);
        if status != abi::STATUS_OK {
            return Err(PluginError::from_abi(status, &mut err));
        }
        RecordBatchStreamReader::try_new(stream).map_err(|e| {
            PluginError::internal(format!(
                "host sent an unreadable stream for `{dataset}`: {e}"
            ))
        })
    }

    /// Opens an input dataset reading only `columns` (in that order):
    /// faster and leaner on large inputs than [`open_input`](Self::open_input)
    /// when a plugin uses a few of a dataset's columns. A host older than
    /// ABI 1.2 sends every column (then the plugin should still look
    /// columns up by name, as it should anyway).
    pub fn open_input_columns(
        &self,
        dataset: &str,
        columns: &[&str],
    ) -> Result<RecordBatchStreamReader, PluginError> {
        if self.api.struct_size < abi::HOST_API_V1_2_SIZE {
            return self.open_input(dataset);
        }
        let names: Vec<abi::StrRef> = columns.iter().map(|c| abi::StrRef::new(c)).collect();
        // SAFETY: struct_size says the function is there; `names` outlives
        // the call; the stream as for `open_input`.
        self.receive(dataset, |stream, err| unsafe {
            (self.api.open_input_columns)(
                self.api.ctx,
                abi::StrRef::new(dataset),
                names.as_ptr(),
                names.len(),
                stream,
                err,
            )
        })
    }

    /// Reads a whole input dataset into memory.
    pub fn read_input(&self, dataset: &str) -> Result<Vec<RecordBatch>, PluginError> {
        self.open_input(dataset)?
            .map(|b| b.map_err(|e| PluginError::data(format!("reading `{dataset}`: {e}"))))
            .collect()
    }
}
