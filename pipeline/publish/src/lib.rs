//! Everything made from the committed files: the data catalogue
//! ([`catalog`]), spreadsheet exports ([`export`]), the HTML report
//! ([`report`]), the gender pay gap figures in the GOV.UK service's fields
//! ([`submission`]), the equality objectives' history and progress
//! ([`objectives`]), `metrics.prom` ([`metrics`]) and the readers'
//! `eqpipe.sql` and `datapackage.json` ([`readers`]).
//!
//! **Architecture invariants.**
//! - Report, exports and objectives read published files only; the
//!   catalogue reads restricted files' metadata, never their rows.
//! - It writes only `report/`, `exports/`, `catalog.*`, `eqpipe.sql`, the
//!   `[lake]`'s published tables ([`lake`]),
//!   `datapackage.json`, `metrics.prom`, `.eqpipe-report.json` and
//!   `indicators/objective_*`.
//! - Its outputs are deterministic for given files and manifest.
//! - It knows nothing about plugins or how a run is scheduled.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

pub mod catalog;
pub mod export;
pub mod lake;
pub mod metrics;
pub mod objectives;
pub mod readers;
pub mod report;
pub mod submission;
