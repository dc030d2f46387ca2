//! The placeholders of plugin options: the snapshot's dates and a
//! partnership level's `{partner…}` and `{inbox}`.

use std::collections::BTreeMap;
use std::path::Path;

/// The placeholders of one level: `{partner}`, `{partner_name}`,
/// `{partner.<key>}`, and for a partner `{inbox}`.
pub fn partner_vars(
    id: &str,
    name: &str,
    vars: &BTreeMap<String, String>,
    inbox: Option<&Path>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("{partner}".to_string(), id.to_string()),
        ("{partner_name}".to_string(), name.to_string()),
    ];
    if let Some(i) = inbox {
        out.push(("{inbox}".into(), i.display().to_string()));
    }
    for (k, v) in vars {
        out.push((format!("{{partner.{k}}}"), v.clone()));
    }
    out
}

/// The placeholders plugin options may use, for a run covering `date`:
/// `{snapshot_date}` (2025-03-31), `{snapshot_year}` (2025),
/// `{snapshot_month}` (03) and `{financial_year}` (2024-25, the UK
/// financial year April to March that contains the date).
pub fn snapshot_vars(date: chrono::NaiveDate) -> Vec<(&'static str, String)> {
    use chrono::Datelike;
    let fy = if date.month() >= 4 {
        date.year()
    } else {
        date.year() - 1
    };
    vec![
        ("{snapshot_date}", date.to_string()),
        ("{snapshot_year}", date.year().to_string()),
        ("{snapshot_month}", format!("{:02}", date.month())),
        (
            "{financial_year}",
            format!("{fy}-{:02}", (fy + 1).rem_euclid(100)),
        ),
    ]
}

/// Replaces the placeholders in every string of a plugin's options.
pub fn with_vars<K: AsRef<str>>(v: serde_json::Value, vars: &[(K, String)]) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('{') => Value::String(
            vars.iter()
                .fold(s, |acc, (k, val)| acc.replace(k.as_ref(), val)),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| with_vars(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, with_vars(x, vars)))
                .collect(),
        ),
        other => other,
    }
}
