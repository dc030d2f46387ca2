//! From an emitted batch to a committed file: contracts and validation
//! ([`contracts`]), the duplicate-key check ([`unique`]), the [`sink`]
//! every batch goes through, disclosure control ([`protect`]), a
//! partnership's tagging ([`partition`]), Parquet files, quarantine and
//! versions ([`files`]), the output lock ([`lock`]) and incremental
//! fingerprints ([`fingerprint`]).
//!
//! **Architecture invariants.**
//! - A file appears at its final path only through
//!   [`files::FinishedFile::commit`]; dropping a pending or finished file
//!   removes its temporary.
//! - Every row a [`sink::Sink`] writes has passed its
//!   [`contracts::Validator`]; every rejected row is quarantined with a
//!   reason that holds no value.
//! - [`protect`] is a pure function of batches, contract and policy; the
//!   duplicate check's memory stays within its budget.
//! - It knows nothing about plugins, FFI, config files or partnerships
//!   beyond the partner column it tags. It has no `unsafe` code.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

pub mod contracts;
pub mod files;
pub mod fingerprint;
pub mod lock;
pub mod partition;
pub mod protect;
pub mod sink;
pub mod unique;

/// Numbers and dates as published (the SDK's rules, shared with plugins).
pub use eqpipe_plugin_sdk::published;
