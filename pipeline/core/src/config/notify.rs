//! `[notify]`: the webhook a run posts to.

use serde::{Deserialize, Serialize};

/// `[notify]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Environment variable holding the webhook URL (it is a secret).
    pub webhook_url_env: String,
    /// Post after every run, not only when one is not a success.
    #[serde(default)]
    pub always: bool,
}
