//! Write `eqpipe` plugins in safe Rust.
//!
//! Implement [`SourcePlugin`] (fetch and parse data, emit datasets) or
//! [`IndicatorPlugin`] (read datasets, emit an indicator), then export it
//! with one macro:
//!
//! ```ignore
//! use eqpipe_plugin_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Options { url: String }
//!
//! pub struct Referrals { options: Options }
//!
//! impl SourcePlugin for Referrals {
//!     type Options = Options;
//!     fn manifest() -> Manifest {
//!         Manifest::source("referrals", env!("CARGO_PKG_VERSION")).produces("referrals")
//!     }
//!     fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Referrals { options })
//!     }
//!     fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
//!         let body = ctx.fetch_url(&self.options.url)?;
//!         // parse body.path, build RecordBatches, then:
//!         // ctx.emit_batches("referrals", schema, batches)
//!         Ok(())
//!     }
//! }
//!
//! eqpipe_plugin_sdk::export_plugin!(source: Referrals);
//! ```
//!
//! The macro always defines `pub fn descriptor()`, which a host that links
//! the crate statically calls. With the crate's `dynamic` cargo feature on,
//! it also exports the C entry symbol `eqpipe_plugin_entry`, so the crate
//! built as a `cdylib` is a loadable plugin. (Two plugins linked into one
//! binary must not both export that symbol, hence the feature.) Every plugin
//! crate therefore declares `[features] dynamic = []`.
//!
//! Panics never cross the boundary: the SDK catches them and returns an
//! error carrying the panic message.
//!
//! The partner's guide (lifecycle, contracts, disclosure control, fetching
//! and secrets, testing with `eqpipe plugins check`, publishing) is
//! `GUIDE.md` beside this crate's `Cargo.toml`.
#![deny(missing_docs)]

mod context;
pub mod contract;
mod error;
mod manifest;
pub mod published;
pub mod rake;
mod rows;
pub mod stats;

pub use arrow_array;
pub use arrow_schema;
pub use context::{Context, FetchRequest, FetchResponse, Level};
pub use contract::{Column, ColumnType, Contract, Disclosure};
pub use eqpipe_plugin_abi as abi;
pub use error::{ErrorKind, PluginError};
pub use manifest::{DatasetRef, Manifest, PluginKind};
pub use rows::{
    Interner, TextColumn, TextRows, UNDISCLOSED, bool_values, column, date_values, f64_values,
    is_disclosed, key_texts, key_values, text_values,
};
pub use schemars;
pub use serde_json;

/// The usual imports for a plugin author.
pub mod prelude {
    pub use crate::contract::{REJECT_COLUMN, SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN};
    pub use crate::{
        Column, ColumnType, Context, Contract, FetchRequest, FetchResponse, IndicatorPlugin,
        Manifest, PluginError, SourcePlugin, TextRows,
    };
    pub use arrow_array::{ArrayRef, RecordBatch, RecordBatchReader};
    pub use arrow_schema::{DataType, Field, Schema, SchemaRef};
}

/// A plugin that brings data in: fetches (through the host) and parses
/// files, and emits one or more datasets.
pub trait SourcePlugin: Sized + Send + 'static {
    /// The options from the config's `[sources.options]` table. Derive
    /// `serde::Deserialize` and `schemars::JsonSchema`; the schema is
    /// published in the manifest and checked by the host before `new`.
    type Options: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// Name, version, datasets produced. `config_schema` is filled in from
    /// `Options` by the SDK.
    fn manifest() -> Manifest;

    /// Builds an instance from its options.
    fn new(options: Self::Options, ctx: &Context) -> Result<Self, PluginError>;

    /// Fetches, parses and emits. May be called on any host thread.
    fn run(&mut self, ctx: &Context) -> Result<(), PluginError>;
}

/// A plugin that computes an indicator: reads datasets it declared in
/// `consumes` and emits the one dataset it declared in `produces`.
pub trait IndicatorPlugin: Sized + Send + 'static {
    /// The options from the config's `[indicators.options]` table.
    type Options: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// Name, version, datasets consumed and produced.
    fn manifest() -> Manifest;

    /// Builds an instance from its options.
    fn new(options: Self::Options, ctx: &Context) -> Result<Self, PluginError>;

    /// Reads inputs with [`Context::open_input`] and emits the output.
    fn run(&mut self, ctx: &Context) -> Result<(), PluginError>;
}

/// Implementation details the export macro expands to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use std::ffi::c_void;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    /// A descriptor and the manifest string it points into, kept together
    /// in a static.
    pub struct StaticDescriptor {
        _manifest: Box<str>,
        /// The descriptor handed to the host.
        pub descriptor: abi::PluginDescriptor,
    }

    fn build(
        mut manifest: Manifest,
        schema: serde_json::Value,
        create: abi::CreateFn,
        run: abi::RunFn,
        destroy: abi::DestroyFn,
    ) -> StaticDescriptor {
        manifest.config_schema = schema;
        let json: Box<str> = serde_json::to_string(&manifest)
            .expect("a manifest always serialises")
            .into_boxed_str();
        let descriptor = abi::PluginDescriptor {
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            struct_size: std::mem::size_of::<abi::PluginDescriptor>(),
            manifest: abi::StrRef::new(&json),
            create: Some(create),
            run: Some(run),
            destroy: Some(destroy),
        };
        StaticDescriptor {
            _manifest: json,
            descriptor,
        }
    }

    fn schema_of<O: schemars::JsonSchema>() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(O)).expect("a JSON Schema always serialises")
    }

    /// The descriptor of a source plugin.
    pub fn source_descriptor<P: SourcePlugin>() -> StaticDescriptor {
        build(
            P::manifest(),
            schema_of::<P::Options>(),
            create_source::<P>,
            run_source::<P>,
            destroy::<P>,
        )
    }

    /// The descriptor of an indicator plugin.
    pub fn indicator_descriptor<P: IndicatorPlugin>() -> StaticDescriptor {
        build(
            P::manifest(),
            schema_of::<P::Options>(),
            create_indicator::<P>,
            run_indicator::<P>,
            destroy::<P>,
        )
    }

    /// Runs `f`, turning an error or a panic into an ABI status.
    pub fn guard(
        out_error: *mut abi::PluginError,
        f: impl FnOnce() -> Result<(), PluginError>,
    ) -> i32 {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(())) => abi::STATUS_OK,
            Ok(Err(e)) => e.write_to(out_error),
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic with no message".to_string());
                PluginError::new(ErrorKind::Panic, format!("plugin panicked: {what}"))
                    .write_to(out_error)
            }
        }
    }

    fn parse_options<O: serde::de::DeserializeOwned>(json: abi::StrRef) -> Result<O, PluginError> {
        // SAFETY: the host passes a valid borrowed string.
        let text = unsafe { json.as_str() }
            .map_err(|_| PluginError::config("options are not valid UTF-8"))?;
        let text = if text.trim().is_empty() { "{}" } else { text };
        serde_json::from_str(text).map_err(|e| PluginError::config(format!("invalid options: {e}")))
    }

    fn host<'a>(api: *const abi::HostApi) -> Result<Context<'a>, PluginError> {
        if api.is_null() {
            return Err(PluginError::internal("host passed no services table"));
        }
        // SAFETY: non-null, and valid for the call by the ABI's rules.
        Context::new(unsafe { &*api })
    }

    unsafe extern "C" fn create_source<P: SourcePlugin>(
        options: abi::StrRef,
        api: *const abi::HostApi,
        out: *mut *mut c_void,
        err: *mut abi::PluginError,
    ) -> i32 {
        guard(err, || {
            let ctx = host(api)?;
            let plugin = P::new(parse_options(options)?, &ctx)?;
            // SAFETY: `out` is a valid out-parameter by the ABI's rules.
            unsafe { out.write(Box::into_raw(Box::new(plugin)).cast()) };
            Ok(())
        })
    }

    unsafe extern "C" fn create_indicator<P: IndicatorPlugin>(
        options: abi::StrRef,
        api: *const abi::HostApi,
        out: *mut *mut c_void,
        err: *mut abi::PluginError,
    ) -> i32 {
        guard(err, || {
            let ctx = host(api)?;
            let plugin = P::new(parse_options(options)?, &ctx)?;
            // SAFETY: as above.
            unsafe { out.write(Box::into_raw(Box::new(plugin)).cast()) };
            Ok(())
        })
    }

    unsafe extern "C" fn run_source<P: SourcePlugin>(
        instance: *mut c_void,
        api: *const abi::HostApi,
        err: *mut abi::PluginError,
    ) -> i32 {
        guard(err, || {
            let ctx = host(api)?;
            if instance.is_null() {
                return Err(PluginError::internal("run called without an instance"));
            }
            // SAFETY: `instance` came from `create_source::<P>`.
            let plugin = unsafe { &mut *instance.cast::<P>() };
            plugin.run(&ctx)
        })
    }

    unsafe extern "C" fn run_indicator<P: IndicatorPlugin>(
        instance: *mut c_void,
        api: *const abi::HostApi,
        err: *mut abi::PluginError,
    ) -> i32 {
        guard(err, || {
            let ctx = host(api)?;
            if instance.is_null() {
                return Err(PluginError::internal("run called without an instance"));
            }
            // SAFETY: `instance` came from `create_indicator::<P>`.
            let plugin = unsafe { &mut *instance.cast::<P>() };
            plugin.run(&ctx)
        })
    }

    unsafe extern "C" fn destroy<P>(instance: *mut c_void) {
        if instance.is_null() {
            return;
        }
        // A panicking Drop must not unwind into the host either.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `instance` came from Box::into_raw in `create_*::<P>`.
            drop(unsafe { Box::from_raw(instance.cast::<P>()) });
        }));
    }
}

/// Exports a plugin: `export_plugin!(source: MyType)` or
/// `export_plugin!(indicator: MyType)`.
///
/// Defines `pub fn descriptor() -> &'static PluginDescriptor` and, when the
/// calling crate's `dynamic` feature is on, the C entry symbol
/// `eqpipe_plugin_entry`.
#[macro_export]
macro_rules! export_plugin {
    (source: $ty:ty) => {
        $crate::__export_descriptor!($crate::__private::source_descriptor::<$ty>);
    };
    (indicator: $ty:ty) => {
        $crate::__export_descriptor!($crate::__private::indicator_descriptor::<$ty>);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_descriptor {
    ($make:expr) => {
        /// The plugin's descriptor, for hosts that link this crate statically.
        pub fn descriptor() -> &'static $crate::abi::PluginDescriptor {
            static CELL: ::std::sync::OnceLock<$crate::__private::StaticDescriptor> =
                ::std::sync::OnceLock::new();
            &CELL.get_or_init(|| $make()).descriptor
        }

        /// The C entry symbol of the dynamic library.
        #[cfg(feature = "dynamic")]
        #[unsafe(no_mangle)]
        pub extern "C" fn eqpipe_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            match ::std::panic::catch_unwind(|| descriptor() as *const _) {
                Ok(p) => p,
                Err(_) => ::std::ptr::null(),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use std::sync::Arc;
    use std::sync::Mutex;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Opts {
        #[serde(default)]
        panic: bool,
        rows: i64,
    }

    struct Counter {
        opts: Opts,
    }

    impl SourcePlugin for Counter {
        type Options = Opts;
        fn manifest() -> Manifest {
            Manifest::source("counter", "1.2.3").produces("numbers")
        }
        fn new(opts: Opts, _ctx: &Context) -> Result<Self, PluginError> {
            if opts.rows < 0 {
                return Err(PluginError::config("rows must be >= 0"));
            }
            Ok(Counter { opts })
        }
        fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
            if self.opts.panic {
                panic!("boom at row {}", 7);
            }
            ctx.info("counting");
            let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
            let col: ArrayRef =
                Arc::new(arrow_array::Int64Array::from_iter_values(0..self.opts.rows));
            let batch = RecordBatch::try_new(schema.clone(), vec![col])?;
            ctx.emit_batches("numbers", schema, vec![batch])
        }
    }

    export_plugin!(source: Counter);

    /// A minimal host: records logs and counts emitted rows.
    #[derive(Default)]
    struct TestHost {
        logs: Mutex<Vec<String>>,
        rows: Mutex<usize>,
    }

    unsafe extern "C" fn log(ctx: *mut std::ffi::c_void, _l: u32, m: abi::StrRef) {
        let h = unsafe { &*(ctx as *const TestHost) };
        h.logs
            .lock()
            .unwrap()
            .push(unsafe { m.as_str() }.unwrap().to_string());
    }
    unsafe extern "C" fn progress(_: *mut std::ffi::c_void, _: u64, _: u64, _: abi::StrRef) {}
    unsafe extern "C" fn cancelled(_: *mut std::ffi::c_void) -> bool {
        false
    }
    unsafe extern "C" fn fetch(
        _: *mut std::ffi::c_void,
        _: abi::StrRef,
        _: *mut abi::OwnedStr,
        e: *mut abi::PluginError,
    ) -> i32 {
        unsafe {
            e.write(abi::PluginError {
                code: abi::STATUS_UNSUPPORTED,
                message: abi::OwnedStr::from_string("no fetch here".into()),
            })
        };
        abi::STATUS_UNSUPPORTED
    }
    unsafe extern "C" fn emit(
        ctx: *mut std::ffi::c_void,
        _d: abi::StrRef,
        s: *mut abi::ArrowArrayStream,
        _e: *mut abi::PluginError,
    ) -> i32 {
        let h = unsafe { &*(ctx as *const TestHost) };
        let reader =
            unsafe { arrow_array::ffi_stream::RecordBatchStreamReader::from_raw(s.cast()) }
                .unwrap();
        *h.rows.lock().unwrap() += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
        abi::STATUS_OK
    }
    unsafe extern "C" fn open_input(
        _: *mut std::ffi::c_void,
        _: abi::StrRef,
        _: *mut abi::ArrowArrayStream,
        _: *mut abi::PluginError,
    ) -> i32 {
        abi::STATUS_UNSUPPORTED
    }

    unsafe extern "C" fn open_input_columns(
        _: *mut std::ffi::c_void,
        _: abi::StrRef,
        _: *const abi::StrRef,
        _: usize,
        _: *mut abi::ArrowArrayStream,
        _: *mut abi::PluginError,
    ) -> i32 {
        abi::STATUS_UNSUPPORTED
    }

    unsafe extern "C" fn warn(
        ctx: *mut std::ffi::c_void,
        _d: abi::StrRef,
        what: abi::StrRef,
        count: u64,
        _of: u64,
    ) {
        let h = unsafe { &*(ctx as *const TestHost) };
        h.logs.lock().unwrap().push(format!(
            "coverage {}: {count}",
            unsafe { what.as_str() }.unwrap()
        ));
    }

    fn api(h: &TestHost) -> abi::HostApi {
        abi::HostApi {
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            struct_size: std::mem::size_of::<abi::HostApi>(),
            ctx: h as *const TestHost as *mut _,
            log,
            progress,
            is_cancelled: cancelled,
            fetch,
            emit,
            open_input,
            snapshot_date: abi::StrRef::new("2025-03-31"),
            open_input_columns,
            warn,
        }
    }

    fn create_and_run(options: &str, host: &TestHost) -> (i32, String) {
        let d = descriptor();
        let api = api(host);
        let mut inst = std::ptr::null_mut();
        let mut err = abi::PluginError::none();
        let code =
            unsafe { (d.create.unwrap())(abi::StrRef::new(options), &api, &mut inst, &mut err) };
        if code != abi::STATUS_OK {
            return (code, unsafe { err.message.take() });
        }
        let code = unsafe { (d.run.unwrap())(inst, &api, &mut err) };
        let msg = unsafe { err.message.take() };
        unsafe { (d.destroy.unwrap())(inst) };
        (code, msg)
    }

    #[test]
    fn descriptor_carries_version_manifest_and_schema() {
        let d = descriptor();
        assert_eq!(d.abi_major, abi::ABI_MAJOR);
        let m: Manifest = serde_json::from_str(unsafe { d.manifest.as_str() }.unwrap()).unwrap();
        m.check().unwrap();
        assert_eq!(m.name, "counter");
        assert_eq!(m.kind, PluginKind::Source);
        let props = &m.config_schema["properties"];
        assert!(props["rows"].is_object(), "schema: {}", m.config_schema);
    }

    #[test]
    fn a_run_emits_through_the_host() {
        let host = TestHost::default();
        let (code, msg) = create_and_run(r#"{"rows": 5}"#, &host);
        assert_eq!(code, abi::STATUS_OK, "{msg}");
        assert_eq!(*host.rows.lock().unwrap(), 5);
        assert_eq!(host.logs.lock().unwrap().as_slice(), ["counting"]);
    }

    #[test]
    fn panics_come_back_as_errors_with_the_message() {
        let host = TestHost::default();
        let (code, msg) = create_and_run(r#"{"rows": 1, "panic": true}"#, &host);
        assert_eq!(code, abi::STATUS_PANIC);
        assert!(msg.contains("boom at row 7"), "{msg}");
    }

    #[test]
    fn newer_host_fields_are_read_only_when_the_host_has_them() {
        let host = TestHost::default();
        let mut a = api(&host);
        let ctx = Context::new(&a).unwrap();
        assert_eq!(ctx.snapshot_date().as_deref(), Some("2025-03-31"));
        // A 1.0 host: its vtable ends before `snapshot_date` (whatever
        // follows in memory is not read).
        a.abi_minor = 0;
        a.struct_size = abi::HOST_API_V1_0_SIZE;
        let ctx = Context::new(&a).unwrap();
        assert_eq!(ctx.snapshot_date(), None);
    }

    #[test]
    fn coverage_warnings_reach_a_1_3_host_and_are_logged_on_an_older_one() {
        let host = TestHost::default();
        let mut a = api(&host);
        Context::new(&a)
            .unwrap()
            .coverage_warning(None, "LSOAs not in the indices", 3, Some(40));
        a.abi_minor = 2;
        a.struct_size = abi::HOST_API_V1_2_SIZE;
        Context::new(&a)
            .unwrap()
            .coverage_warning(None, "LSOAs not in the indices", 3, Some(40));
        assert_eq!(
            host.logs.lock().unwrap().as_slice(),
            [
                "coverage LSOAs not in the indices: 3",
                "LSOAs not in the indices: 3 of 40"
            ]
        );
    }

    #[test]
    fn bad_options_are_config_errors() {
        let host = TestHost::default();
        let (code, msg) = create_and_run(r#"{"rows": -1}"#, &host);
        assert_eq!(code, abi::STATUS_INVALID_CONFIG);
        assert!(msg.contains("rows must be"), "{msg}");
        let (code, msg) = create_and_run(r#"{"rows": 1, "colour": "red"}"#, &host);
        assert_eq!(code, abi::STATUS_INVALID_CONFIG);
        assert!(msg.contains("colour"), "{msg}");
    }
}
