//! The host's vocabulary, shared by every other host crate: the config
//! schema, where each output lives ([`layout`]), the run record
//! ([`manifest`]), the provenance keys ([`provenance`]), option
//! placeholders ([`vars`]) and the owner-only, atomic file helpers
//! ([`fsio`]).
//!
//! **Architecture invariant.** It does no I/O beyond reading config files
//! and the [`fsio`] helpers, and reads no environment variable except to
//! check that the ones a config names are set. It knows nothing about
//! plugins, Arrow, Parquet or HTTP.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

pub mod config;
pub mod fsio;
pub mod layout;
pub mod manifest;
pub mod provenance;
pub mod vars;
