//! The provenance every output carries, as Parquet key-value metadata.
//! The keys are spelled here and nowhere else in the host (a tidy test
//! holds that); readers in pandas, polars and DuckDB see the same names.

/// The column every partner's row and output carries.
pub const PARTNER_COLUMN: &str = "partner_id";

/// The metadata keys, `eqpipe.*`.
pub mod keys {
    /// What every key starts with.
    pub const PREFIX: &str = "eqpipe.";
    /// The dataset's name.
    pub const DATASET: &str = "eqpipe.dataset";
    /// Its contract's version.
    pub const CONTRACT_VERSION: &str = "eqpipe.contract_version";
    /// When the file was written (RFC 3339).
    pub const CREATED_AT: &str = "eqpipe.created_at";
    /// The disclosure rule applied (JSON), when one was.
    pub const DISCLOSURE: &str = "eqpipe.disclosure";
    /// When the source's data was fetched (RFC 3339).
    pub const FETCHED_AT: &str = "eqpipe.fetched_at";
    /// The input datasets an indicator read (JSON list).
    pub const INPUTS: &str = "eqpipe.inputs";
    /// The data's licence.
    pub const LICENCE: &str = "eqpipe.licence";
    /// `partner` or `partnership`: the level of a partnership's output.
    pub const PARTNERSHIP_LEVEL: &str = "eqpipe.partnership_level";
    /// eqpipe's version.
    pub const PIPELINE_VERSION: &str = "eqpipe.pipeline_version";
    /// The plugin that made it.
    pub const PLUGIN: &str = "eqpipe.plugin";
    /// The plugin ABI it was made under.
    pub const PLUGIN_ABI: &str = "eqpipe.plugin_abi";
    /// The plugin's version.
    pub const PLUGIN_VERSION: &str = "eqpipe.plugin_version";
    /// The run that wrote it.
    pub const RUN_ID: &str = "eqpipe.run_id";
    /// The data period (YYYY-MM-DD).
    pub const SNAPSHOT_DATE: &str = "eqpipe.snapshot_date";
    /// The URLs fetched (JSON list, secrets redacted).
    pub const SOURCE_URLS: &str = "eqpipe.source_urls";
    /// The config step that wrote it.
    pub const STEP: &str = "eqpipe.step";
}

/// Parquet metadata key naming the level of a partnership's published
/// indicator file (`partnership` or `partner`).
pub const LEVEL_KEY: &str = keys::PARTNERSHIP_LEVEL;
