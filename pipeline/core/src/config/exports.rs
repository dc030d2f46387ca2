//! `[exports]`: spreadsheet copies of the published indicators.

use serde::{Deserialize, Serialize};

/// A spreadsheet format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated text (UTF-8 with a byte-order mark, which Excel
    /// needs to read it as UTF-8).
    Csv,
    /// Excel workbook.
    Xlsx,
}

/// `[exports]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportsConfig {
    /// Formats to write.
    pub formats: Vec<ExportFormat>,
    /// Indicators (output folder names) to export; all when empty.
    #[serde(default)]
    pub indicators: Vec<String>,
}
