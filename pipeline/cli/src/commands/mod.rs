//! One file per command; each parses nothing and prints its own output.

pub(crate) mod demo;
pub(crate) mod init;
pub(crate) mod partners;
pub(crate) mod plugins;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schedule;
pub(crate) mod serve;
pub(crate) mod templates;
pub(crate) mod validate;
