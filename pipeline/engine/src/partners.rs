//! Partnerships: several organisations in one pipeline, each kept apart.
//!
//! A config with `[[partners]]` names the organisations and the sources
//! that belong to each. The host then:
//!
//! - tags every row a partner's source stores with `partner_id` and stores
//!   it in that partner's partition: `datasets/<d>/partner=<id>/…`, or, for
//!   personal datasets, under the partner's own restricted root
//!   `restricted/partner=<id>/` (with its quarantine, fetch cache and inbox);
//! - hands each partner's sources the partner's own pseudonymisation key
//!   (`key_env`, passed as the plugin option `pseudonymisation_key_env`), so
//!   one person in two partners' data cannot be linked unless the
//!   partnership sets `shared_key_env` on purpose;
//! - refuses a partner's step any file under another partner's restricted
//!   root or inbox;
//! - runs every indicator that reads a partner's data once per partner (on
//!   that partner's rows only) and once for the partnership (on all of
//!   them), and applies disclosure control to all levels together, so a
//!   partnership figure minus the other partners' published figures cannot
//!   reveal a suppressed cell ([`eqpipe_store::protect::protect_levels`]);
//! - accepts uploads into each partner's inbox (`eqpipe serve`, see
//!   [`crate::upload`]) with per-partner tokens stored as SHA-256 hashes.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use eqpipe_core::config::partners::{
    DEFAULT_PARTNERSHIP_ID, KEY_OPTION, Level, Partner, Partnership, check, key_env, owner_of,
};
pub use eqpipe_core::provenance::{LEVEL_KEY, PARTNER_COLUMN};
pub use eqpipe_core::vars::partner_vars as vars;

/// Sets a partner's key in a source's options, when its plugin takes one
/// (its config schema has [`KEY_OPTION`]).
pub fn set_key(
    options: &mut serde_json::Value,
    config_schema: &serde_json::Value,
    key: Option<&str>,
) {
    if let Some(k) = key
        && config_schema["properties"].get(KEY_OPTION).is_some()
        && let Some(o) = options.as_object_mut()
    {
        o.insert(KEY_OPTION.into(), k.into());
    }
}

/// Fails when two partners' keys hold the same secret (two variable names
/// that would still link their people), naming the variables only.
pub fn check_distinct_keys(partners: &[Partner], partnership: &Partnership) -> Result<(), String> {
    if partnership.shared_key_env.is_some() {
        return Ok(());
    }
    let mut seen: BTreeMap<[u8; 32], &str> = BTreeMap::new();
    for p in partners {
        let Some(var) = p.key_env.as_deref() else {
            continue;
        };
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        if let Some(other) = seen.insert(digest, var) {
            return Err(format!(
                "the keys in `{other}` and `{var}` are the same secret: partners' people could be linked; give each partner its own key"
            ));
        }
    }
    Ok(())
}

/// The SHA-256 (hex) of a token, as `token_sha256` stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new random upload token (256 bits from the operating system, hex).
pub fn new_token() -> Result<String, String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(format!("eqp_{}", hex::encode(buf)))
}

/// The partner a token belongs to (every hash is compared, in constant
/// time, so the answer's timing does not depend on which matched).
pub fn token_owner<'a>(partners: &'a [Partner], token: &str) -> Option<&'a Partner> {
    let got = Sha256::digest(token.trim().as_bytes());
    let mut found = None;
    for p in partners {
        for h in &p.token_sha256 {
            let Ok(want) = hex::decode(h) else { continue };
            if want.len() == got.len() {
                let diff = want
                    .iter()
                    .zip(got.iter())
                    .fold(0u8, |d, (a, b)| d | (a ^ b));
                if diff == 0 {
                    found = Some(p);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(id: &str, sources: &[&str], key: Option<&str>) -> Partner {
        Partner {
            id: id.into(),
            name: id.to_uppercase(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            key_env: key.map(String::from),
            token_sha256: Vec::new(),
            inbox: None,
            vars: BTreeMap::new(),
        }
    }

    #[test]
    fn partners_need_their_own_keys_and_sources() {
        let sources = vec!["a_hr".to_string(), "b_hr".to_string()];
        let ok = [
            partner("a", &["a_hr"], Some("KEY_A")),
            partner("b", &["b_hr"], Some("KEY_B")),
        ];
        assert!(check(&ok, &Partnership::default(), &sources).is_ok());
        let same_key = [
            partner("a", &["a_hr"], Some("KEY")),
            partner("b", &["b_hr"], Some("KEY")),
        ];
        let e = check(&same_key, &Partnership::default(), &sources).unwrap_err();
        assert!(e.contains("its own key"), "{e}");
        let shared = Partnership {
            shared_key_env: Some("KEY".into()),
            ..Default::default()
        };
        assert!(check(&same_key, &shared, &sources).is_ok());
        let twice = [partner("a", &["a_hr"], None), partner("b", &["a_hr"], None)];
        let e = check(&twice, &Partnership::default(), &sources).unwrap_err();
        assert!(e.contains("already belongs to partner `a`"), "{e}");
        let unknown = [partner("a", &["nope"], None)];
        assert!(check(&unknown, &Partnership::default(), &sources).is_err());
        let clash = [partner("partnership", &[], None)];
        assert!(check(&clash, &Partnership::default(), &sources).is_err());
    }

    #[test]
    fn tokens_are_matched_by_their_hash_only() {
        let t = new_token().unwrap();
        assert!(t.starts_with("eqp_") && t.len() == 68);
        let mut a = partner("a", &[], None);
        a.token_sha256 = vec![hash_token(&t)];
        let b = partner("b", &[], None);
        let ps = [a, b];
        assert_eq!(token_owner(&ps, &t).map(|p| p.id.as_str()), Some("a"));
        assert!(token_owner(&ps, "eqp_wrong").is_none());
        assert!(token_owner(&ps, &hash_token(&t)).is_none());
    }
}
