//! The run record: `runs/<run_id>.json`, what each step did, its datasets'
//! counts and warnings. Written by the engine, read by the report, metrics,
//! the webhook, the upload receipt and `runs restore`.
//!
//! The types only gain optional fields: a manifest written by an older
//! eqpipe must still parse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The pipeline's version, recorded in manifests and provenance.
pub const PIPELINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Ran and its outputs were committed.
    Succeeded,
    /// Ran and its outputs were committed, but it lost some data below the
    /// limits (rows rejected, values nulled, coverage a plugin reported
    /// missing, an accepted shrink): see the step's `warnings`.
    #[serde(rename = "succeeded_with_warnings")]
    SucceededWithWarnings,
    /// Failed; its last good outputs are untouched.
    Failed,
    /// Not run (for example, no input data).
    Skipped,
    /// Stopped by cancellation; outputs untouched.
    Cancelled,
    /// Not run: its inputs are unchanged since its last successful run,
    /// whose outputs stand.
    Unchanged,
}

impl StepStatus {
    /// Succeeded, or unchanged (its outputs are current).
    pub fn ok(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::SucceededWithWarnings | StepStatus::Unchanged
        )
    }

    /// The status as the manifest spells it (`succeeded_with_warnings`).
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::SucceededWithWarnings => "succeeded_with_warnings",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Unchanged => "unchanged",
        }
    }
}

/// A data-quality finding of a step: what was lost and how much, as
/// counts and column names, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// Which kind (operators may fail steps on a kind: `[quality] fail_on`).
    pub kind: crate::config::WarningKind,
    /// The dataset it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// What, in a few words (`rank: not an integer`, `LSOAs not in the
    /// 2019 indices`).
    pub what: String,
    /// How many (rows, values, areas, …).
    pub count: u64,
    /// Of how many, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<u64>,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.dataset {
            write!(f, "{d}: ")?;
        }
        write!(f, "{}: {}", self.what, self.count)?;
        if let Some(of) = self.of {
            write!(f, " of {of}")?;
        }
        Ok(())
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every step succeeded.
    Success,
    /// Every step succeeded, some with data-quality warnings.
    #[serde(rename = "success_with_warnings")]
    SuccessWithWarnings,
    /// Some steps failed or were skipped.
    Partial,
    /// Nothing succeeded.
    Failed,
    /// Stopped before the end.
    Cancelled,
}

impl Outcome {
    /// The outcome as the manifest spells it (`success_with_warnings`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::SuccessWithWarnings => "success_with_warnings",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// What one dataset of a step holds after the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatasetReport {
    /// Counts.
    #[serde(flatten)]
    pub stats: DatasetStats,
    /// The committed file, relative to the output root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For disclosure-controlled datasets, the unsuppressed rows under the
    /// restricted root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsuppressed_file: Option<String>,
}

/// The record of one step in the run manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// Source name or indicator output name.
    pub name: String,
    /// The plugin as named in the config.
    pub plugin: String,
    /// The plugin's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
    /// The plugin ABI it was built for (`1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_abi: Option<String>,
    /// How it ended.
    pub status: StepStatus,
    /// Why it failed or was skipped (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// Per dataset produced.
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetReport>,
    /// Rejected rows, relative to the output root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_file: Option<String>,
    /// URLs fetched (secrets redacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetches: Vec<FetchRecord>,
    /// Input datasets read (indicators).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Data-quality warnings (the step `succeeded_with_warnings`, or
    /// failed on one named in `[quality] fail_on`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// The run manifest, `runs/<run_id>.json`, written last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    /// Unique run id (UTC time plus a random suffix).
    pub run_id: String,
    /// eqpipe's version.
    pub pipeline_version: String,
    /// The host's plugin ABI.
    pub abi_version: String,
    /// The config file, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: String,
    /// Wall time.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The schedule that fired it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The firing time it stands for (RFC 3339): the period it covers,
    /// whenever it actually ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// The data period the run covers (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_date: Option<String>,
    /// When the run took part of the pipeline (`--partner`,
    /// `--sources-only`, `--indicators-only`), what it took; absent for a
    /// whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// What could not be written from the committed files (the catalogue,
    /// the report, the exports): the data is in place, but a page or copy
    /// is stale. A run with any is never a plain success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publication_errors: Vec<String>,
    /// The lake's root (a folder's path or the store's URI), when the run
    /// committed to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lake: Option<String>,
    /// How to reach the lake again (`[lake]` as the run had it: the URI,
    /// settings that are not secret and the names of the variables holding
    /// the rest; never a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lake_config: Option<crate::config::lake::LakeConfig>,
    /// The lake's locks the run took (the parts of the lake it writes), which
    /// `runs restore` takes again before it commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lake_locks: Vec<String>,
    /// Every published table in the lake (its folder under the root) and
    /// its Delta version after this run, committed by it or left as it was:
    /// what `eqpipe runs restore` puts each table back to.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub lake_versions: std::collections::BTreeMap<String, i64>,
    /// Sources.
    pub sources: Vec<StepReport>,
    /// Indicators.
    pub indicators: Vec<StepReport>,
}

impl RunManifest {
    /// Total rows quarantined in the run.
    pub fn quarantined(&self) -> u64 {
        self.sources
            .iter()
            .chain(&self.indicators)
            .flat_map(|s| s.datasets.values())
            .map(|d| d.stats.quarantined)
            .sum()
    }

    /// The first failure, as one line.
    pub fn first_error(&self) -> Option<String> {
        self.sources
            .iter()
            .chain(&self.indicators)
            .find(|s| !s.status.ok())
            .map(|s| {
                format!(
                    "{}: {}",
                    s.name,
                    s.error
                        .clone()
                        .unwrap_or_else(|| s.status.as_str().to_string())
                )
            })
    }
}

/// Counts for one dataset of one step.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DatasetStats {
    /// Rows the plugin emitted.
    pub rows_in: u64,
    /// Rows stored.
    pub rows: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Columns the plugin sent that the contract does not have (dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_columns: Vec<String>,
    /// Rows suppressed before publication for their own small counts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u64,
    /// Rows suppressed so that suppressed ones cannot be recovered.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub secondary_suppressed: u64,
    /// Rejected rows by their first reason (reasons never hold values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected_reasons: BTreeMap<String, u64>,
    /// Per column, statistical markers (`..`, `[c]`, …) stored as null.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub markers: BTreeMap<String, u64>,
    /// Per column (`on_error = "null"`), unreadable values stored as null.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nulled: BTreeMap<String, NulledValues>,
}

/// Unreadable values of one optional column, stored as null.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NulledValues {
    /// How many.
    pub count: u64,
    /// The first reason.
    pub reason: String,
}

/// The most distinct rejection reasons counted per dataset (the rest are
/// counted under "other reasons").
const MAX_REASONS: usize = 20;

impl DatasetStats {
    /// Counts one rejected row under its reason (at most `MAX_REASONS`
    /// distinct reasons; the rest under "other reasons").
    pub fn count_reason(&mut self, reason: &str) {
        let first = reason.split("; ").next().unwrap_or(reason);
        if let Some(n) = self.rejected_reasons.get_mut(first) {
            *n += 1;
        } else if self.rejected_reasons.len() < MAX_REASONS {
            self.rejected_reasons.insert(first.to_string(), 1);
        } else {
            *self
                .rejected_reasons
                .entry("other reasons".into())
                .or_default() += 1;
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A URL fetched during a step, for the manifest and provenance.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FetchRecord {
    /// The URL, secrets redacted.
    pub url: String,
    /// Served from the cache without a download.
    pub from_cache: bool,
    /// Bytes in the body.
    pub bytes: u64,
    /// When the body was downloaded.
    pub fetched_at: Option<String>,
    /// The request as the plugin made it (secrets only as variable names),
    /// kept for incremental runs, not in the manifest.
    #[serde(skip)]
    pub request: Option<eqpipe_plugin_sdk::FetchRequest>,
    /// The store's `fingerprint::content_digest` of what came back (XXH3-128
    /// of the file's bytes, or of a folder's listing), computed beside the
    /// plugin's parse.
    #[serde(skip)]
    pub digest: Option<String>,
}
