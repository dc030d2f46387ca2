//! `[report]`: how the HTML report is written.

use std::path::PathBuf;

use serde::Deserialize;

/// The report's settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// A folder of templates (relative to the config) whose files replace
    /// the built-in templates of the same name (`base.html`, `index.html`,
    /// `area.html`, `topic.html`, `pack.html`, `macros.html`,
    /// `report.css`); `eqpipe report-templates DIR` writes the built-in
    /// set out to start from.
    pub templates: Option<PathBuf>,
}
