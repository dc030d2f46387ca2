//! `[[partners]]` and `[partnership]`: several organisations in one
//! pipeline, each kept apart (the engine's `partnership` module does the
//! keeping apart; this is the vocabulary and its checks).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

pub use crate::provenance::PARTNER_COLUMN;

/// The plugin option through which a partner's sources get its key.
pub const KEY_OPTION: &str = "pseudonymisation_key_env";

/// The partnership's id when `[partnership]` does not name one.
pub const DEFAULT_PARTNERSHIP_ID: &str = "partnership";

/// One `[[partners]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// Short id (lowercase, digits, `-`, `_`): names folders and rows.
    pub id: String,
    /// Display name (reports).
    pub name: String,
    /// The names of the `[[sources]]` that belong to this partner.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Environment variable holding this partner's pseudonymisation key
    /// (handed to its sources as `pseudonymisation_key_env`).
    pub key_env: Option<String>,
    /// SHA-256 (hex) of each upload token this partner may use with
    /// `eqpipe serve` (`eqpipe partners token` makes one). Several allow a
    /// rotation.
    #[serde(default)]
    pub token_sha256: Vec<String>,
    /// The drop folder (default `restricted/partner=<id>/inbox` under the
    /// output folder). Its sources name it `{inbox}` in their options.
    pub inbox: Option<PathBuf>,
    /// Placeholders for this partner's runs of each indicator:
    /// `{partner.<key>}` in an indicator's options (its area code, say).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// `[partnership]`: the partnership as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partnership {
    /// Its id in `partner_id` and folder names (default `partnership`).
    #[serde(default = "default_id")]
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// One pseudonymisation key for every partner, set deliberately so the
    /// same person can be linked across partners. Without it every partner
    /// has its own key and no two may share one.
    pub shared_key_env: Option<String>,
    /// Placeholders for the partnership's run of each indicator.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

fn default_id() -> String {
    DEFAULT_PARTNERSHIP_ID.into()
}

impl Default for Partnership {
    fn default() -> Self {
        Partnership {
            id: default_id(),
            name: None,
            shared_key_env: None,
            vars: BTreeMap::new(),
        }
    }
}

/// One level an indicator runs at: a partner, or the partnership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The `partner_id` its rows carry.
    pub id: String,
    /// The partner's index in the config; `None` for the partnership.
    pub partner: Option<usize>,
}

/// Checks the partners against the sources (called when the config loads).
pub fn check(
    partners: &[Partner],
    partnership: &Partnership,
    sources: &[String],
) -> Result<(), String> {
    let ok_id = |id: &str| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if !ok_id(&partnership.id) {
        return Err(format!(
            "partnership.id `{}` must be lowercase letters, digits, - or _",
            partnership.id
        ));
    }
    let mut ids = HashSet::new();
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    let mut keys: BTreeMap<&str, &str> = BTreeMap::new();
    let mut tokens = HashSet::new();
    for (i, p) in partners.iter().enumerate() {
        let at = format!("partners[{i}] (`{}`)", p.id);
        if !ok_id(&p.id) {
            return Err(format!(
                "{at}: id must be lowercase letters, digits, - or _ (it names folders)"
            ));
        }
        if p.id == partnership.id {
            return Err(format!(
                "{at}: the id `{}` is the partnership's; choose another",
                p.id
            ));
        }
        if !ids.insert(p.id.as_str()) {
            return Err(format!("{at}: the id `{}` is used twice", p.id));
        }
        for s in &p.sources {
            if !sources.contains(s) {
                return Err(format!("{at}: no [[sources]] entry is named `{s}`"));
            }
            if let Some(other) = owner.insert(s, &p.id) {
                return Err(format!(
                    "{at}: source `{s}` already belongs to partner `{other}`; a source belongs to one partner"
                ));
            }
        }
        match (&partnership.shared_key_env, &p.key_env) {
            (Some(shared), Some(own)) if shared != own => {
                return Err(format!(
                    "{at}: key_env `{own}` differs from partnership.shared_key_env `{shared}`; with a shared key leave key_env out"
                ));
            }
            (None, Some(k)) => {
                if let Some(other) = keys.insert(k, &p.id) {
                    return Err(format!(
                        "{at}: key_env `{k}` is also partner `{other}`'s; each partner needs its own key so their people cannot be linked (set partnership.shared_key_env to link them on purpose)"
                    ));
                }
            }
            _ => {}
        }
        for t in &p.token_sha256 {
            if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{at}: token_sha256 entries are 64 hex digits (the SHA-256 of a token; `eqpipe partners token {}` makes one)",
                    p.id
                ));
            }
            if !tokens.insert(t.to_ascii_lowercase()) {
                return Err(format!("{at}: a token hash is used twice"));
            }
        }
    }
    Ok(())
}

/// The environment variable holding a partner's key (its own, or the
/// partnership's shared one).
pub fn key_env<'a>(partnership: &'a Partnership, p: &'a Partner) -> Option<&'a str> {
    partnership
        .shared_key_env
        .as_deref()
        .or(p.key_env.as_deref())
}

/// The partner (if any) a source belongs to.
pub fn owner_of<'a>(partners: &'a [Partner], source: &str) -> Option<&'a Partner> {
    partners
        .iter()
        .find(|p| p.sources.iter().any(|s| s == source))
}
