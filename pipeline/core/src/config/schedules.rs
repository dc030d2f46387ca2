//! `[[schedules]]`: when the daemon runs which steps.

use serde::{Deserialize, Serialize};

/// What to do with a firing that comes while a run is going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Drop it.
    #[default]
    Skip,
    /// Run once more as soon as the current run ends.
    Queue,
}

/// What to do with firings missed while the daemon was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Drop them.
    Skip,
    /// Run once, for the latest of them.
    #[default]
    Latest,
    /// Run each of them, oldest first.
    All,
}

/// One `[[schedules]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique name.
    pub name: String,
    /// Cron expression: 5 fields (crontab) or 6 (with seconds first).
    pub cron: String,
    /// IANA time zone (default Europe/London).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Sources to run (names; all when left out).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Indicators to run (names; all when left out).
    #[serde(default)]
    pub indicators: Option<Vec<String>>,
    /// Firings during a run: skip (default) or queue.
    #[serde(default)]
    pub overlap: Overlap,
    /// Firings missed while down: skip, latest (default) or all.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// Start up to this many seconds after the firing time, at random.
    #[serde(default)]
    pub jitter_secs: u64,
}
