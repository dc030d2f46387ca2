//! `[[objectives]]` and `objective_files`: equality objectives, their
//! measures, targets and the direction of improvement (the progress rule
//! that judges them is `eqpipe_publish::objectives::progress`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One equality objective.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Stable identifier (lowercase, digits, `-` or `_`).
    pub id: String,
    /// As published.
    pub title: String,
    /// Who answers for it (a post, not a person's name, in published reports).
    #[serde(default)]
    pub owner: Option<String>,
    /// What the objective is for, in a sentence or two.
    #[serde(default)]
    pub description: Option<String>,
    /// How progress is measured.
    pub measures: Vec<Measure>,
}

/// A filter value: one value, or several whose figures are added up (for
/// proportions: e.g. every ethnic minority group).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// Exactly this value.
    One(String),
    /// Any of these; the matching rows are added together.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, one or several.
    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(v) => vec![v.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// One measure of an objective.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// Identifier, unique within the objective.
    pub id: String,
    /// As published.
    pub title: String,
    /// The indicator output it reads: `indicators/<indicator>/`.
    pub indicator: String,
    /// The column with the figure.
    pub value: String,
    /// The column with the period (a date, or text such as `2024/25`).
    #[serde(default = "default_period")]
    pub period: String,
    /// Which row: column = value (or a list of values to add up).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, OneOrMany>,
    /// For a percentage: the column with the count in the group.
    #[serde(default)]
    pub numerator: Option<String>,
    /// For a percentage: the column with its base.
    #[serde(default)]
    pub denominator: Option<String>,
    /// For any other figure: changes within ± this are not a clear change.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Columns with the numbers of people the figure rests on (the smallest
    /// is checked against `min_count`). Proportions use the denominator.
    #[serde(default)]
    pub counts: Vec<String>,
    /// Figures resting on fewer people are "not enough data" (default 30).
    #[serde(default)]
    pub min_count: Option<f64>,
    /// Unit for display (default: the column's unit in its contract).
    #[serde(default)]
    pub unit: Option<String>,
    /// The baseline period (default: the first recorded).
    #[serde(default, deserialize_with = "opt_date")]
    pub baseline: Option<NaiveDate>,
    /// The target value.
    pub target: f64,
    /// When it should be met.
    #[serde(deserialize_with = "date")]
    pub target_date: NaiveDate,
    /// `increase` or `decrease`: which way is better.
    pub direction: Direction,
}

/// Default figures-per-person floor: below 30 people a share moves too
/// much from one or two people to judge.
pub const DEFAULT_MIN_COUNT: f64 = 30.0;

fn default_period() -> String {
    "snapshot_date".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DateIn {
    Toml(toml::value::Datetime),
    Text(String),
}

fn parse_date_in(d: DateIn) -> Result<NaiveDate, String> {
    let s = match d {
        DateIn::Toml(t) => t.to_string(),
        DateIn::Text(s) => s,
    };
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    parse_date_in(DateIn::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    date(d).map(Some)
}

/// A file of objectives (`config/objectives/*.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectivesFile {
    #[serde(default)]
    objectives: Vec<Objective>,
}

/// Parses the text of an objectives file.
pub fn parse_file(text: &str) -> Result<Vec<Objective>, toml::de::Error> {
    Ok(toml::from_str::<ObjectivesFile>(text)?.objectives)
}

/// Reads an objectives file.
pub fn load_file(path: &Path) -> Result<Vec<Objective>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read objectives file {}: {e}", path.display()))?;
    let f: ObjectivesFile = toml::from_str(&text).map_err(|e| {
        format!(
            "objectives file {}: {}",
            path.display(),
            e.to_string().trim_end()
        )
    })?;
    Ok(f.objectives)
}

fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Measure {
    /// How the uncertainty of a change is judged.
    pub fn uncertainty(&self) -> Uncertainty {
        match self.tolerance {
            Some(t) if self.numerator.is_none() => Uncertainty::Tolerance(t),
            _ => Uncertainty::Proportion,
        }
    }

    /// A fingerprint of what the series is: when it changes, the figures
    /// recorded under the old definition no longer belong to it.
    pub fn definition(&self) -> String {
        let key = serde_json::json!({
            "indicator": self.indicator,
            "value": self.value,
            "period": self.period,
            "where": self.filter,
            "numerator": self.numerator,
            "denominator": self.denominator,
        });
        let h = Sha256::digest(key.to_string().as_bytes());
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Every column of its indicator the measure reads.
    pub fn columns(&self) -> Vec<&str> {
        let mut c = vec![self.value.as_str(), self.period.as_str()];
        c.extend(self.filter.keys().map(String::as_str));
        c.extend(self.numerator.as_deref());
        c.extend(self.denominator.as_deref());
        c.extend(self.counts.iter().map(String::as_str));
        c
    }
}

/// Checks objectives on their own (ids, rules); the message names the
/// objective and measure.
pub fn check(objectives: &[Objective]) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for o in objectives {
        let at = format!("objective `{}`", o.id);
        if !id_ok(&o.id) {
            return Err(format!(
                "{at}: id must be lowercase letters, digits, - or _"
            ));
        }
        if !ids.insert(&o.id) {
            return Err(format!("{at}: the id is used twice"));
        }
        if o.measures.is_empty() {
            return Err(format!("{at}: has no measures"));
        }
        let mut mids = BTreeSet::new();
        for m in &o.measures {
            let at = format!("{at}, measure `{}`", m.id);
            if !id_ok(&m.id) {
                return Err(format!(
                    "{at}: id must be lowercase letters, digits, - or _"
                ));
            }
            if !mids.insert(&m.id) {
                return Err(format!("{at}: the id is used twice in this objective"));
            }
            match (&m.numerator, &m.denominator, m.tolerance) {
                (Some(_), Some(_), None) => {}
                (None, None, Some(t)) if t.is_finite() && t >= 0.0 => {}
                (None, None, Some(_)) => {
                    return Err(format!("{at}: tolerance must be a number of at least 0"));
                }
                (Some(_), Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: set either numerator and denominator (a percentage, judged by its 95% interval) or tolerance (any other figure), not both"
                    ));
                }
                _ => {
                    return Err(format!(
                        "{at}: set numerator and denominator (for a percentage, so a change can be judged against its 95% interval) or tolerance (for any other figure: changes within ± tolerance are no clear change)"
                    ));
                }
            }
            if m.min_count.is_some_and(|c| !(c.is_finite() && c >= 0.0)) {
                return Err(format!("{at}: min_count must be at least 0"));
            }
            if !m.target.is_finite() {
                return Err(format!("{at}: target must be a number"));
            }
            if let Some(b) = m.baseline
                && b >= m.target_date
            {
                return Err(format!(
                    "{at}: the baseline ({b}) must come before the target date ({})",
                    m.target_date
                ));
            }
            for (col, v) in &m.filter {
                let n = v.values().len();
                if n == 0 {
                    return Err(format!("{at}: where.{col} lists no values"));
                }
                if n > 1 && m.numerator.is_none() {
                    return Err(format!(
                        "{at}: where.{col} lists several values to add up, which only works for percentages (numerator and denominator)"
                    ));
                }
            }
            if m.filter.values().filter(|v| v.values().len() > 1).count() > 1 {
                return Err(format!(
                    "{at}: only one `where` column may list several values"
                ));
            }
        }
    }
    Ok(())
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (e.g. the share of senior staff who are disabled).
    Increase,
    /// Lower is better (e.g. a pay gap, a non-disclosure rate).
    Decrease,
}

impl Direction {
    /// +1 when higher is better, -1 when lower is.
    pub fn sign(self) -> f64 {
        match self {
            Direction::Increase => 1.0,
            Direction::Decrease => -1.0,
        }
    }

    /// Whether `value` meets `target` in this direction.
    pub fn meets(self, value: f64, target: f64) -> bool {
        (value - target) * self.sign() >= -1e-9
    }

    /// The word for it.
    pub fn label(self) -> &'static str {
        match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
        }
    }
}

/// How the uncertainty of a change is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Uncertainty {
    /// The value is a percentage `numerator / denominator × 100`: 95%
    /// intervals from the counts.
    Proportion,
    /// Changes within ± this (in the value's units) are not a clear change.
    Tolerance(f64),
}
