//! `[lake]`: where the published outputs are committed as Delta tables.

use serde::Deserialize;

/// The lake.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// The lake's root: `file:///srv/lake` or a folder (relative to the
    /// config). Each published dataset and indicator becomes a Delta table
    /// under it (`datasets/<name>`, `indicators/<name>`). Object storage
    /// (`s3://`, `az://`, `gs://`) is not written yet.
    pub uri: String,
}
