//! The plugin manifest: what a plugin is, what it reads and writes, and the
//! JSON Schema of its options.

use serde::{Deserialize, Serialize};

use crate::contract::Contract;

/// Whether a plugin brings data in or computes indicators from datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Fetches and parses data, emits datasets.
    Source,
    /// Reads datasets, emits one indicator output.
    Indicator,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Source => "source",
            PluginKind::Indicator => "indicator",
        })
    }
}

/// A dataset a plugin produces or consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    /// The dataset name, snake_case.
    pub name: String,
    /// The contract, for a dataset the host does not already know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
}

/// What the descriptor's `manifest` JSON holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name, kebab-case (`ons-census`).
    pub name: String,
    /// Plugin version, semver.
    pub version: String,
    /// Source or indicator.
    pub kind: PluginKind,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    /// The licence of the data it brings in (sources), recorded as provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Datasets it emits. An indicator emits exactly one.
    #[serde(default)]
    pub produces: Vec<DatasetRef>,
    /// Datasets it reads (indicators). The step is skipped when one of
    /// them has no data.
    #[serde(default)]
    pub consumes: Vec<String>,
    /// Datasets it reads when they are there: with no data, `open_input`
    /// gives an empty stream instead of the step being skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumes_optional: Vec<String>,
    /// JSON Schema of the options object.
    #[serde(default = "any_object")]
    pub config_schema: serde_json::Value,
}

fn any_object() -> serde_json::Value {
    serde_json::json!({"type": "object"})
}

impl Manifest {
    /// Starts a source plugin's manifest.
    pub fn source(name: &str, version: &str) -> Self {
        Self::new(name, version, PluginKind::Source)
    }

    /// Starts an indicator plugin's manifest.
    pub fn indicator(name: &str, version: &str) -> Self {
        Self::new(name, version, PluginKind::Indicator)
    }

    fn new(name: &str, version: &str, kind: PluginKind) -> Self {
        Manifest {
            name: name.to_string(),
            version: version.to_string(),
            kind,
            description: String::new(),
            licence: None,
            produces: Vec::new(),
            consumes: Vec::new(),
            consumes_optional: Vec::new(),
            config_schema: any_object(),
        }
    }

    /// Sets the description.
    pub fn description(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }

    /// Sets the licence of the data.
    pub fn licence(mut self, l: &str) -> Self {
        self.licence = Some(l.to_string());
        self
    }

    /// Declares a produced dataset whose contract the host knows.
    pub fn produces(mut self, dataset: &str) -> Self {
        self.produces.push(DatasetRef {
            name: dataset.to_string(),
            contract: None,
        });
        self
    }

    /// Declares a produced dataset with its own contract.
    pub fn produces_with_contract(mut self, contract: Contract) -> Self {
        self.produces.push(DatasetRef {
            name: contract.name.clone(),
            contract: Some(contract),
        });
        self
    }

    /// Declares a consumed dataset.
    pub fn consumes(mut self, dataset: &str) -> Self {
        self.consumes.push(dataset.to_string());
        self
    }

    /// Declares a dataset read only when it is there (see
    /// [`Manifest::consumes_optional`]).
    pub fn consumes_optional(mut self, dataset: &str) -> Self {
        self.consumes_optional.push(dataset.to_string());
        self
    }

    /// Checks the naming rules and the shape a host relies on.
    pub fn check(&self) -> Result<(), String> {
        if !crate::contract::is_kebab_case(&self.name) {
            return Err(format!(
                "plugin name `{}` must be kebab-case (e.g. `ons-census`)",
                self.name
            ));
        }
        if self.version.split('.').count() != 3 {
            return Err(format!(
                "plugin `{}`: version `{}` is not semver (MAJOR.MINOR.PATCH)",
                self.name, self.version
            ));
        }
        for d in &self.produces {
            if !crate::contract::is_snake_case(&d.name) {
                return Err(format!(
                    "plugin `{}`: dataset name `{}` must be snake_case",
                    self.name, d.name
                ));
            }
            if let Some(c) = &d.contract {
                if c.name != d.name {
                    return Err(format!(
                        "plugin `{}`: contract `{}` declared for dataset `{}`",
                        self.name, c.name, d.name
                    ));
                }
                c.check()
                    .map_err(|e| format!("plugin `{}`: {e}", self.name))?;
            }
        }
        if self.kind == PluginKind::Indicator && self.produces.len() != 1 {
            return Err(format!(
                "indicator plugin `{}` must produce exactly one dataset (it declares {})",
                self.name,
                self.produces.len()
            ));
        }
        if !self.config_schema.is_object() {
            return Err(format!(
                "plugin `{}`: config_schema must be a JSON Schema object",
                self.name
            ));
        }
        Ok(())
    }
}
