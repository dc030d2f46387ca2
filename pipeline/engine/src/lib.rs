//! The `eqpipe` host: configuration, plugin loading, the fetch layer,
//! contract validation, the Parquet store and the run orchestration.
//!
//! The binary (`src/main.rs`) is a thin command line over this library.
//! See `ARCHITECTURE.md` at the top of the repository for the data flow.

pub mod builtins;
pub mod check;
pub use eqpipe_core::config;
pub use eqpipe_core::{fsio, layout, manifest, provenance, vars};
pub use eqpipe_plugin_host::{fetch, isolate, registry};
pub use eqpipe_publish::{catalog, export, objectives, report};
pub use eqpipe_store::{contracts, files as store, lock, protect as disclosure, unique};
pub mod demo;
pub mod observe;
pub mod partners;
/// Numbers and dates as published (the SDK's rules, shared with plugins).
pub use eqpipe_plugin_sdk::published;
pub mod runner;
pub mod schedule;
pub mod serve;
pub mod template;
pub mod upload;
