//! The engine: a config to a run manifest. It composes the other host
//! crates: [`runner::run`] runs the sources, then the indicators, then the
//! objectives, and publishes through `eqpipe-publish`; [`plan::Plan`]
//! checks a config without running it.
//!
//! Entry points (the CLI calls nothing else):
//! - [`runner::run`]: one run;
//! - [`schedule::run_daemon`]: the daemon firing `[[schedules]]`;
//! - [`upload::start`]: the partners' upload endpoint;
//! - [`plan::Plan::new`]: `eqpipe validate`;
//! - [`runs`]: the run history and `runs restore`;
//! - [`demo`], [`check`] (the conformance kit) and [`template`] for
//!   developers; [`builtins::install`] before any plugin is resolved.
//!
//! **Architecture invariants.**
//! - A failing step never stops independent steps.
//! - The output lock is held for the whole run, and the manifest is
//!   written last.
//! - The unsuppressed copy is committed before the published copy; a
//!   partnership's levels are committed together or not at all.
//! - It prints nothing to stdout and chooses no exit code (the CLI does).
//!
//! The `pub use` lines below keep the names the integration tests and the
//! bench reach the lower crates by.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

pub mod builtins;
pub mod check;
pub mod demo;
pub mod init;
pub mod observe;
pub mod partners;
pub mod plan;
pub mod runner;
pub mod runs;
pub mod schedule;
pub mod serve;
pub mod template;
pub mod upload;

pub use eqpipe_core::config;
pub use eqpipe_core::{fsio, layout, manifest, provenance, vars};
pub use eqpipe_plugin_host::{fetch, isolate, registry};
/// Numbers and dates as published (the SDK's rules, shared with plugins).
pub use eqpipe_plugin_sdk::published;
pub use eqpipe_publish::{catalog, export, objectives, report};
pub use eqpipe_store::{contracts, files as store, lock, protect as disclosure, unique};
