//! Everything made from the committed files: the data catalogue
//! ([`catalog`]), spreadsheet exports ([`export`]), the HTML report
//! ([`report`]), the gender pay gap figures in the GOV.UK service's fields
//! ([`submission`]), the equality objectives' history and progress
//! ([`objectives`]) and `metrics.prom` ([`metrics`]).
//!
//! **Architecture invariants.**
//! - Report, exports and objectives read published files only; the
//!   catalogue reads restricted files' metadata, never their rows.
//! - It writes only `report/`, `exports/`, `catalog.*`, `metrics.prom` and
//!   `indicators/objective_*`.
//! - Its outputs are deterministic for given files and manifest.
//! - It knows nothing about plugins or how a run is scheduled.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

pub mod catalog;
pub mod export;
pub mod metrics;
pub mod objectives;
pub mod report;
pub mod submission;
