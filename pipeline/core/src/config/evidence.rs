//! `[[evidence_packs]]`: the evidence behind one decision's equality
//! impact assessment, for each protected characteristic of the Equality
//! Act 2010 and deprivation (written by the report as
//! `report/evidence-<name>.html` and `exports/evidence-<name>.xlsx`).

use serde::{Deserialize, Serialize};

/// One evidence pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidencePack {
    /// The files' name: lower-case letters, digits and `-`
    /// (`library-hours`).
    pub name: String,
    /// The decision, as its report names it.
    pub title: String,
    /// The areas it affects: codes in the community profile (a local
    /// authority, wards).
    pub areas: Vec<String>,
    /// The service it changes, as `service_equity` names it.
    #[serde(default)]
    pub service: Option<String>,
    /// Whether the organisation's workforce is in scope.
    #[serde(default)]
    pub workforce: bool,
}

/// Checks the packs: names usable as file names and unique, areas given.
pub fn check(packs: &[EvidencePack]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for p in packs {
        let ok = !p.name.is_empty()
            && p.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(format!(
                "evidence pack `{}`: `name` must be lower-case letters, digits and `-` (it names the pack's files)",
                p.name
            ));
        }
        if !seen.insert(p.name.as_str()) {
            return Err(format!("evidence pack `{}` is named twice", p.name));
        }
        if p.areas.is_empty() {
            return Err(format!(
                "evidence pack `{}`: `areas` is empty: name the areas the decision affects (codes in the community profile)",
                p.name
            ));
        }
    }
    Ok(())
}
