//! `[lake]`: where the published outputs are committed as Delta tables.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The lake. Holds no secret: credentials come from the environment, the
/// standard variables of the store (`AWS_ACCESS_KEY_ID`, `AZURE_STORAGE_…`,
/// `GOOGLE_APPLICATION_CREDENTIALS`) or those `env` names, so the whole of
/// it is recorded in the run manifest for `eqpipe runs restore`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// The lake's root: `s3://bucket/prefix`, `az://container/prefix`
    /// (or `abfss://`), `gs://bucket/prefix`, `file:///srv/lake` or a
    /// folder (relative to the config). Each published dataset and
    /// indicator becomes a Delta table under it (`datasets/<name>`,
    /// `indicators/<name>`).
    pub uri: String,
    /// Settings of the store that are not secret, by `object_store`'s
    /// names: `aws_endpoint`, `aws_region`, `aws_allow_http`,
    /// `azure_storage_account_name`, … A credential here is refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Settings read from named environment variables (setting → variable),
    /// for credentials that are not in the standard ones, e.g. a separate
    /// key for this lake: `aws_access_key_id = "NW_LAKE_KEY_ID"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How long a lake lock of a run that never released it (killed, its
    /// machine gone) holds before the next run takes it over; 12 hours
    /// unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_hours: Option<u64>,
    /// Files younger than this are never vacuumed (another machine's
    /// commit may be uploading them); 60 minutes unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacuum_grace_minutes: Option<u64>,
    /// Where restricted (personal, pseudonymised) datasets go, with their
    /// own URI and credentials (`[lake.restricted]`: `uri`, `options`,
    /// `env`), so that a partnership's indicator run on another machine can
    /// read the partners' workforce records and analysts with access to the
    /// published lake still cannot. Without it restricted data stays in the
    /// local folder only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted: Option<Box<LakeConfig>>,
}
