//! `[disclosure]`: the small-count threshold every published dataset is
//! held to (applied by `eqpipe_store::protect`).

/// The threshold and its options (`[disclosure]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Counts below this are suppressed (default 10).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Also suppress zero counts (default false: a zero is shown).
    #[serde(default)]
    pub suppress_zero: bool,
}

fn default_threshold() -> f64 {
    10.0
}

impl Policy {
    /// A count the policy withholds.
    pub fn is_small(&self, v: f64) -> bool {
        v < self.threshold && (v > 0.0 || self.suppress_zero)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            threshold: default_threshold(),
            suppress_zero: false,
        }
    }
}
