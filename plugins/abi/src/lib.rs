//! The stable C ABI between the `eqpipe` host and its plugins.
//!
//! This crate is what plugin authors pin for years, so it has **no
//! dependencies**: the Arrow C Data Interface and C Stream Interface structs
//! are declared here as the Arrow specification fixes them, and a test checks
//! that their size and layout match `arrow-rs`'s own.
//!
//! # The boundary
//!
//! A plugin is a shared library exporting one symbol, [`ENTRY_SYMBOL`]
//! (`eqpipe_plugin_entry`), of type [`EntryFn`]. It returns a pointer to a
//! static [`PluginDescriptor`] that carries:
//!
//! * the ABI version the plugin was built against ([`ABI_MAJOR`],
//!   [`ABI_MINOR`]): the host refuses a different major version;
//! * a JSON manifest (name, version, kind, datasets produced and consumed,
//!   the JSON Schema of its options), see [`PluginDescriptor::manifest`];
//! * three function pointers: `create`, `run`, `destroy`.
//!
//! The host passes a [`HostApi`] vtable to `create` and `run`. Through it a
//! plugin logs into the host's `tracing`, reports progress, checks for
//! cancellation, asks the host to fetch a URL, reads input datasets
//! (indicators) and emits output datasets. Tables cross the boundary only as
//! [`ArrowArrayStream`]s (the Arrow C Stream Interface), so a plugin may be
//! written in any language that speaks Arrow.
//!
//! # Rules both sides follow
//!
//! * Every function returns a status: [`STATUS_OK`] (0) or an error code; on
//!   error it fills the [`PluginError`] out-parameter.
//! * Memory is freed by whoever allocated it: every owned value
//!   ([`OwnedStr`], [`ArrowArrayStream`], ...) carries its own `release`
//!   callback, as in the Arrow C Data Interface.
//! * Nothing unwinds across the boundary: a panic is caught on its own side
//!   and returned as [`STATUS_PANIC`].
//! * The first three fields of [`PluginDescriptor`] and [`HostApi`]
//!   (`abi_major`, `abi_minor`, `struct_size`) never move. A minor version
//!   only appends fields; a reader checks `struct_size` before touching a
//!   field newer than the version it was built against.
#![deny(missing_docs)]

use std::ffi::{c_char, c_void};

/// The ABI major version. A host refuses a plugin whose major differs.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version. Minor versions only append fields and functions.
pub const ABI_MINOR: u32 = 3;

/// The name of the symbol every plugin library exports, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"eqpipe_plugin_entry\0";

/// The type of the exported entry symbol: returns the plugin's static
/// descriptor (never null for a well-formed plugin). Must not fail or panic.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Status returned by every ABI function: success.
pub const STATUS_OK: i32 = 0;
/// The plugin's options are invalid (unknown key, wrong type, bad value).
pub const STATUS_INVALID_CONFIG: i32 = 1;
/// A fetch failed (network, HTTP status, size limit).
pub const STATUS_FETCH: i32 = 2;
/// Input data is malformed or breaks a dataset contract as a whole.
pub const STATUS_DATA: i32 = 3;
/// The run was cancelled by the host.
pub const STATUS_CANCELLED: i32 = 4;
/// The callee panicked; the message is the panic payload.
pub const STATUS_PANIC: i32 = 5;
/// An input/output error on the local file system.
pub const STATUS_IO: i32 = 6;
/// The callee does not support the requested operation (for example an
/// indicator asked to open an input it did not declare).
pub const STATUS_UNSUPPORTED: i32 = 7;
/// Any other error.
pub const STATUS_INTERNAL: i32 = 8;

/// Log level passed to [`HostApi::log`]: error.
pub const LOG_ERROR: u32 = 1;
/// Log level passed to [`HostApi::log`]: warning.
pub const LOG_WARN: u32 = 2;
/// Log level passed to [`HostApi::log`]: information.
pub const LOG_INFO: u32 = 3;
/// Log level passed to [`HostApi::log`]: debug.
pub const LOG_DEBUG: u32 = 4;
/// Log level passed to [`HostApi::log`]: trace.
pub const LOG_TRACE: u32 = 5;

/// A borrowed UTF-8 string: valid only for the duration of the call it is
/// passed to. Not NUL-terminated. The callee copies what it keeps.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    /// Pointer to the first byte; may be null only when `len` is 0.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// Borrows a Rust string. The result must not outlive `s`.
    pub fn new(s: &str) -> Self {
        StrRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The empty string.
    pub const fn empty() -> Self {
        StrRef {
            ptr: std::ptr::null(),
            len: 0,
        }
    }

    /// Reads the string back.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that live at least as long as
    /// the returned reference. Invalid UTF-8 yields an error, never UB.
    pub unsafe fn as_str<'a>(&self) -> Result<&'a str, std::str::Utf8Error> {
        if self.ptr.is_null() || self.len == 0 {
            return Ok("");
        }
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes)
    }
}

/// An owned UTF-8 string handed across the boundary. The receiver reads it
/// and then calls `release` (if not null), which frees it on the side that
/// allocated it and sets `release` to null.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedStr {
    /// Pointer to the first byte (not NUL-terminated); null when empty.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
    /// Frees the string; null once released or for a static string.
    pub release: Option<unsafe extern "C" fn(string: *mut OwnedStr)>,
    /// Opaque data for `release`, owned by the allocating side.
    pub private_data: *mut c_void,
}

impl OwnedStr {
    /// An empty string with nothing to release.
    pub const fn empty() -> Self {
        OwnedStr {
            ptr: std::ptr::null(),
            len: 0,
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }

    /// Wraps a Rust `String`; `release` frees it with this side's allocator.
    pub fn from_string(s: String) -> Self {
        let boxed: Box<str> = s.into_boxed_str();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *const u8;
        OwnedStr {
            ptr,
            len,
            release: Some(release_rust_string),
            private_data: std::ptr::null_mut(),
        }
    }

    /// Copies the string out (lossily for invalid UTF-8) and releases it.
    ///
    /// # Safety
    /// `self` must be a valid `OwnedStr` as produced by either side.
    pub unsafe fn take(&mut self) -> String {
        let s = if self.ptr.is_null() || self.len == 0 {
            String::new()
        } else {
            // SAFETY: a valid OwnedStr points at `len` readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
            String::from_utf8_lossy(bytes).into_owned()
        };
        if let Some(release) = self.release {
            // SAFETY: release is the allocating side's own callback.
            unsafe { release(self) };
        }
        self.ptr = std::ptr::null();
        self.len = 0;
        self.release = None;
        s
    }
}

unsafe extern "C" fn release_rust_string(this: *mut OwnedStr) {
    if this.is_null() {
        return;
    }
    // SAFETY: `this` was produced by `OwnedStr::from_string` on this side.
    unsafe {
        let s = &mut *this;
        if !s.ptr.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(s.ptr as *mut u8, s.len);
            drop(Box::from_raw(slice as *mut str));
        }
        s.ptr = std::ptr::null();
        s.len = 0;
        s.release = None;
    }
}

/// An error crossing the boundary: a status code and a human-readable
/// message owned by the side that raised it.
#[repr(C)]
#[derive(Debug)]
pub struct PluginError {
    /// One of the `STATUS_*` codes (never [`STATUS_OK`] for a real error).
    pub code: i32,
    /// The message; the receiver releases it.
    pub message: OwnedStr,
}

impl PluginError {
    /// No error yet: what a caller passes as the out-parameter.
    pub const fn none() -> Self {
        PluginError {
            code: STATUS_OK,
            message: OwnedStr::empty(),
        }
    }
}

/// The Arrow C Data Interface schema struct, exactly as the Arrow
/// specification declares `struct ArrowSchema`.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowSchema {
    /// Format string describing the data type.
    pub format: *const c_char,
    /// Field name, or null.
    pub name: *const c_char,
    /// Binary metadata, or null.
    pub metadata: *const c_char,
    /// Flags (nullable, dictionary ordered, map keys sorted).
    pub flags: i64,
    /// Number of children.
    pub n_children: i64,
    /// Children schemas.
    pub children: *mut *mut ArrowSchema,
    /// Dictionary schema, or null.
    pub dictionary: *mut ArrowSchema,
    /// Release callback; null once released.
    pub release: Option<unsafe extern "C" fn(arg1: *mut ArrowSchema)>,
    /// Producer-private data.
    pub private_data: *mut c_void,
}

/// The Arrow C Data Interface array struct, exactly as the Arrow
/// specification declares `struct ArrowArray`.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArray {
    /// Logical length.
    pub length: i64,
    /// Number of nulls, or -1 if unknown.
    pub null_count: i64,
    /// Logical offset.
    pub offset: i64,
    /// Number of buffers.
    pub n_buffers: i64,
    /// Number of children.
    pub n_children: i64,
    /// Buffers.
    pub buffers: *mut *const c_void,
    /// Children arrays.
    pub children: *mut *mut ArrowArray,
    /// Dictionary array, or null.
    pub dictionary: *mut ArrowArray,
    /// Release callback; null once released.
    pub release: Option<unsafe extern "C" fn(arg1: *mut ArrowArray)>,
    /// Producer-private data.
    pub private_data: *mut c_void,
}

/// The Arrow C Stream Interface struct, exactly as the Arrow specification
/// declares `struct ArrowArrayStream`. This is the only way tables cross the
/// plugin boundary.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArrayStream {
    /// Writes the stream's schema into `out`; returns 0 or an errno code.
    pub get_schema:
        Option<unsafe extern "C" fn(arg1: *mut ArrowArrayStream, out: *mut ArrowSchema) -> i32>,
    /// Writes the next batch into `out` (released `out` at end of stream).
    pub get_next:
        Option<unsafe extern "C" fn(arg1: *mut ArrowArrayStream, out: *mut ArrowArray) -> i32>,
    /// The last error message, valid until the next call, or null.
    pub get_last_error: Option<unsafe extern "C" fn(arg1: *mut ArrowArrayStream) -> *const c_char>,
    /// Release callback; null once released.
    pub release: Option<unsafe extern "C" fn(arg1: *mut ArrowArrayStream)>,
    /// Producer-private data.
    pub private_data: *mut c_void,
}

impl ArrowArrayStream {
    /// A released (empty) stream, to be filled in by a producer.
    pub const fn empty() -> Self {
        ArrowArrayStream {
            get_schema: None,
            get_next: None,
            get_last_error: None,
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// Creates a plugin instance from its options.
///
/// `options_json` is a JSON object, already validated by the host against
/// the manifest's `config_schema`. On success the plugin writes an opaque
/// instance pointer to `out_instance` and returns [`STATUS_OK`].
pub type CreateFn = unsafe extern "C" fn(
    options_json: StrRef,
    host: *const HostApi,
    out_instance: *mut *mut c_void,
    out_error: *mut PluginError,
) -> i32;

/// Runs a plugin instance once: a source fetches and emits its datasets; an
/// indicator opens its inputs and emits its output. Called on a thread the
/// host owns; may block.
pub type RunFn = unsafe extern "C" fn(
    instance: *mut c_void,
    host: *const HostApi,
    out_error: *mut PluginError,
) -> i32;

/// Destroys an instance created by `create`. Called exactly once.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// What a plugin library's entry symbol returns. Static: the host never
/// frees it, and the library stays loaded while it is in use.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    /// [`ABI_MAJOR`] of the ABI crate the plugin was built against.
    pub abi_major: u32,
    /// [`ABI_MINOR`] of the ABI crate the plugin was built against.
    pub abi_minor: u32,
    /// `size_of::<PluginDescriptor>()` as the plugin saw it; fields beyond
    /// it are absent (an older minor version).
    pub struct_size: usize,
    /// The manifest, UTF-8 JSON, static. Keys: `name` (kebab-case),
    /// `version` (semver), `kind` (`"source"` or `"indicator"`),
    /// `description`, `licence`, `produces` and `consumes` (lists of
    /// datasets, each `{"name": ..., "contract": {...}?}`), `config_schema`
    /// (a JSON Schema of the options object).
    pub manifest: StrRef,
    // The function types are spelled out (they are exactly [`CreateFn`],
    // [`RunFn`] and [`DestroyFn`]) so that cbindgen can write them as
    // nullable C function pointers.
    /// See [`CreateFn`].
    pub create: Option<
        unsafe extern "C" fn(
            options_json: StrRef,
            host: *const HostApi,
            out_instance: *mut *mut c_void,
            out_error: *mut PluginError,
        ) -> i32,
    >,
    /// See [`RunFn`].
    pub run: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            host: *const HostApi,
            out_error: *mut PluginError,
        ) -> i32,
    >,
    /// See [`DestroyFn`].
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
}

// SAFETY: a descriptor is immutable static data plus function pointers.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above.
unsafe impl Send for PluginDescriptor {}

/// Writes a message into the host's log (`tracing`), tagged with the plugin
/// and the pipeline step. `level` is one of the `LOG_*` constants.
pub type LogFn = unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: StrRef);

/// Reports progress: `done` of `total` units (`total` 0 when unknown) with a
/// short message.
pub type ProgressFn =
    unsafe extern "C" fn(ctx: *mut c_void, done: u64, total: u64, message: StrRef);

/// Returns true once the host wants the run to stop. A plugin checks it
/// between units of work and returns [`STATUS_CANCELLED`].
pub type IsCancelledFn = unsafe extern "C" fn(ctx: *mut c_void) -> bool;

/// Asks the host to fetch a URL. `request_json` is
/// `{"url": "...", "headers": {..}, "secret_headers": {"Header": "ENV_VAR"},
/// "secret_query": {"param": "ENV_VAR"}, "max_bytes": n}`. `url` may be
/// `https://`, `http://`, `file://` or a path relative to the config file.
/// On success the host writes to `out_response_json` a JSON object
/// `{"path": local file with the body, "url": the URL without secrets,
/// "status", "from_cache", "not_modified", "bytes", "etag",
/// "last_modified", "content_type", "fetched_at"}`, released by the plugin.
pub type FetchFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    request_json: StrRef,
    out_response_json: *mut OwnedStr,
    out_error: *mut PluginError,
) -> i32;

/// Emits rows of a dataset the plugin declared in `produces`. The host
/// takes ownership of `stream` (it moves it out and leaves it released),
/// reads it to the end, validates every batch against the dataset contract
/// and stores it before returning. A plugin may emit the same dataset
/// several times; the rows are appended.
pub type EmitFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    dataset: StrRef,
    stream: *mut ArrowArrayStream,
    out_error: *mut PluginError,
) -> i32;

/// Opens an input dataset the plugin declared in `consumes` and writes a
/// stream of all its rows to `out_stream`; the plugin owns and releases it.
pub type OpenInputFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    dataset: StrRef,
    out_stream: *mut ArrowArrayStream,
    out_error: *mut PluginError,
) -> i32;

/// **Added in 1.2.** As [`OpenInputFn`], reading only the named columns
/// (`columns` points to `n_columns` names, in the order the stream's
/// columns take): large inputs are read without decoding the columns the
/// plugin does not use. A name the dataset's contract does not have is an
/// error ([`STATUS_DATA`]).
pub type OpenInputColumnsFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    dataset: StrRef,
    columns: *const StrRef,
    n_columns: usize,
    out_stream: *mut ArrowArrayStream,
    out_error: *mut PluginError,
) -> i32;

/// **Added in 1.3.** Raises a coverage warning: part of what the plugin was
/// given could not be used, below any limit that would fail the step (LSOAs
/// missing from a lookup, unmatched postcodes, unmapped answers). `dataset`
/// is the dataset it concerns (empty for none), `what` a few words naming
/// the loss (never a value from personal data), `count` how many were lost,
/// `of` of how many (0 when unknown). The step then ends
/// `succeeded_with_warnings`, and operators may make such warnings fail it.
pub type WarnFn =
    unsafe extern "C" fn(ctx: *mut c_void, dataset: StrRef, what: StrRef, count: u64, of: u64);

/// The services the host offers a plugin, valid for the duration of the
/// `create` or `run` call it is passed to.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// The host's [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The host's [`ABI_MINOR`].
    pub abi_minor: u32,
    /// `size_of::<HostApi>()` as the host saw it.
    pub struct_size: usize,
    /// Opaque host context, passed back as `ctx` to every function here.
    pub ctx: *mut c_void,
    /// See [`LogFn`].
    pub log: LogFn,
    /// See [`ProgressFn`].
    pub progress: ProgressFn,
    /// See [`IsCancelledFn`].
    pub is_cancelled: IsCancelledFn,
    /// See [`FetchFn`].
    pub fetch: FetchFn,
    /// See [`EmitFn`].
    pub emit: EmitFn,
    /// See [`OpenInputFn`].
    pub open_input: OpenInputFn,
    /// **Added in 1.1.** The data period the run covers, `YYYY-MM-DD` (the
    /// run's snapshot date: `--snapshot-date`, the scheduled firing's day,
    /// or today). Read it only when `struct_size` reaches past it (a 1.0
    /// host has no such field): see [`HOST_API_V1_1_SIZE`].
    pub snapshot_date: StrRef,
    /// **Added in 1.2.** See [`OpenInputColumnsFn`]. Call it only when
    /// `struct_size` reaches [`HOST_API_V1_2_SIZE`]; an older host offers
    /// [`open_input`](Self::open_input) only.
    pub open_input_columns: OpenInputColumnsFn,
    /// **Added in 1.3.** See [`WarnFn`]. Call it only when `struct_size`
    /// reaches [`HOST_API_V1_3_SIZE`]; on an older host, log the warning.
    pub warn: WarnFn,
}

/// The `struct_size` of a 1.0 host's [`HostApi`] (up to `open_input`).
pub const HOST_API_V1_0_SIZE: usize = std::mem::offset_of!(HostApi, snapshot_date);

/// The `struct_size` from which a [`HostApi`] has `snapshot_date` (1.1).
pub const HOST_API_V1_1_SIZE: usize = HOST_API_V1_0_SIZE + std::mem::size_of::<StrRef>();

/// The `struct_size` from which a [`HostApi`] has `open_input_columns` (1.2).
pub const HOST_API_V1_2_SIZE: usize =
    std::mem::offset_of!(HostApi, open_input_columns) + std::mem::size_of::<OpenInputColumnsFn>();

/// The `struct_size` from which a [`HostApi`] has `warn` (1.3).
pub const HOST_API_V1_3_SIZE: usize =
    std::mem::offset_of!(HostApi, warn) + std::mem::size_of::<WarnFn>();

/// The minimum `struct_size` of a descriptor the host can read (ABI 1.0).
pub const DESCRIPTOR_V1_0_SIZE: usize = std::mem::size_of::<PluginDescriptor>();

/// Human-readable name of a status code, for error messages.
pub fn status_name(code: i32) -> &'static str {
    match code {
        STATUS_OK => "ok",
        STATUS_INVALID_CONFIG => "invalid configuration",
        STATUS_FETCH => "fetch failed",
        STATUS_DATA => "bad data",
        STATUS_CANCELLED => "cancelled",
        STATUS_PANIC => "plugin panicked",
        STATUS_IO => "i/o error",
        STATUS_UNSUPPORTED => "unsupported",
        STATUS_INTERNAL => "internal error",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn arrow_structs_match_arrow_rs_layout() {
        use arrow_array::ffi_stream::FFI_ArrowArrayStream;
        use arrow_data::ffi::FFI_ArrowArray;
        use arrow_schema::ffi::FFI_ArrowSchema;

        assert_eq!(size_of::<ArrowSchema>(), size_of::<FFI_ArrowSchema>());
        assert_eq!(align_of::<ArrowSchema>(), align_of::<FFI_ArrowSchema>());
        assert_eq!(size_of::<ArrowArray>(), size_of::<FFI_ArrowArray>());
        assert_eq!(align_of::<ArrowArray>(), align_of::<FFI_ArrowArray>());
        assert_eq!(
            size_of::<ArrowArrayStream>(),
            size_of::<FFI_ArrowArrayStream>()
        );
        assert_eq!(
            align_of::<ArrowArrayStream>(),
            align_of::<FFI_ArrowArrayStream>()
        );
        // The specification's field order, checked by offset (pointer-sized
        // fields on every supported platform).
        let p = size_of::<usize>();
        assert_eq!(offset_of!(ArrowSchema, flags), 3 * p);
        assert_eq!(offset_of!(ArrowSchema, release), 3 * p + 8 + 8 + 2 * p);
        assert_eq!(offset_of!(ArrowArray, buffers), 5 * 8);
        assert_eq!(offset_of!(ArrowArray, release), 5 * 8 + 3 * p);
        assert_eq!(offset_of!(ArrowArrayStream, release), 3 * p);
    }

    #[test]
    fn a_stream_produced_by_arrow_rs_is_readable_through_the_declared_struct() {
        use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
        use arrow_array::{Int64Array, RecordBatch, RecordBatchIterator};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;

        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
        let mut theirs = FFI_ArrowArrayStream::new(Box::new(reader));
        // Move it through our declaration and back, as the boundary does.
        let ours: *mut ArrowArrayStream = (&mut theirs as *mut FFI_ArrowArrayStream).cast();
        // SAFETY: identical layout (checked above); the reader takes ownership.
        let reader = unsafe { RecordBatchStreamReader::from_raw(ours.cast()) }.unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 3);
        // SAFETY: ours points at `theirs`, now released by the reader.
        assert!(unsafe { (*ours).release.is_none() });
    }

    #[test]
    fn owned_strings_round_trip_and_release_once() {
        let mut s = OwnedStr::from_string("héllo".to_string());
        assert!(s.release.is_some());
        // SAFETY: produced just above.
        let text = unsafe { s.take() };
        assert_eq!(text, "héllo");
        assert!(s.release.is_none());
        // A second take is harmless and empty.
        // SAFETY: released strings are valid and empty.
        assert_eq!(unsafe { s.take() }, "");
    }

    #[test]
    fn str_ref_rejects_invalid_utf8_without_ub() {
        let bytes = [0xff_u8, 0xfe];
        let r = StrRef {
            ptr: bytes.as_ptr(),
            len: 2,
        };
        // SAFETY: points at two readable bytes.
        assert!(unsafe { r.as_str() }.is_err());
        // SAFETY: the empty string is always valid.
        assert_eq!(unsafe { StrRef::empty().as_str() }.unwrap(), "");
    }
}
