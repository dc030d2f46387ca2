//! `engagement`: consultation and survey responses with equality
//! monitoring questions (CSV or XLSX exports of survey tools), into two
//! personal datasets under the restricted root: `engagement_respondents`
//! (one row per respondent: the exercise, the respondent's pseudonymised
//! key, ward and LSOA from the postcode, age band and the monitoring
//! answers harmonised to the Census 2021 classifications, as the workforce
//! source does) and `engagement_answers` (one row per respondent and
//! question named in `questions`: the answer as given and its agreement
//! scale point).
//!
//! Columns are mapped with `columns` (dataset field -> the export's
//! header); the respondent id is replaced on read by an HMAC-SHA256 keyed
//! hash (`pseudonymisation_key_env`); the postcode and exact age are never
//! stored. Agreement answers are read on the usual five-point scales
//! (`Strongly agree`, `Tend to agree`, `Agree`, `Neither agree nor
//! disagree`, `Tend to disagree`, `Disagree`, `Strongly disagree`,
//! `Don't know`, and `Definitely agree`/`Definitely disagree` as the
//! Community Life Survey asks its cohesion question); other answers are
//! kept as given with no scale point.

use std::collections::{BTreeMap, HashMap};

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_service_usage::{PostcodeLookup, load_postcode_lookup, postcode_key};
use eqpipe_workforce::classify::Classifier;
use eqpipe_workforce::{
    Format, OnUnmapped, age_band, iso_date, key_from_env, load_classifier, pseudonymise,
    read_table, report_unmapped, resolve_some_inputs,
};
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The export: a path, a glob on the file name, or a URL (CSV, XLSX).
    pub path: String,
    /// `csv` or `xlsx` (default: from the file name).
    #[serde(default)]
    pub format: Option<Format>,
    /// Worksheet (XLSX).
    #[serde(default)]
    pub sheet: Option<String>,
    /// The consultation or survey, as reports name it (default: the file
    /// name without its extension).
    #[serde(default)]
    pub exercise: Option<String>,
    /// Field -> the export's header: respondent_id, response_date,
    /// postcode, age, sex, ethnic_group, disability, religion,
    /// sexual_orientation, gender_identity. Unmapped fields are looked for
    /// under their own names.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// The headers of the questions to keep (their answers go to
    /// `engagement_answers`).
    #[serde(default)]
    pub questions: Vec<String>,
    /// Environment variable holding the pseudonymisation key.
    pub pseudonymisation_key_env: String,
    /// Postcodes to LSOA and ward (the postcode itself is not stored).
    #[serde(default)]
    pub postcode_lookup: Option<PostcodeLookup>,
    /// Answers no classification knows: `warn` or `fail`.
    #[serde(default)]
    pub on_unmapped: OnUnmapped,
    /// Folder of extra classification files.
    #[serde(default)]
    pub classifications_dir: Option<String>,
}

/// Fields a mapping may name.
const FIELDS: &[&str] = &[
    "respondent_id",
    "response_date",
    "postcode",
    "age",
    "sex",
    "ethnic_group",
    "disability",
    "religion",
    "sexual_orientation",
    "gender_identity",
];

/// A point on an agreement scale: `agree`, `neither`, `disagree` or
/// `dont_know`; `None` for an answer on no such scale.
pub fn agreement(answer: &str) -> Option<&'static str> {
    let a: String = answer
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match a.as_str() {
        "strongly agree" | "tend to agree" | "agree" | "definitely agree" | "slightly agree"
        | "somewhat agree" | "mostly agree" => Some("agree"),
        "strongly disagree"
        | "tend to disagree"
        | "disagree"
        | "definitely disagree"
        | "slightly disagree"
        | "somewhat disagree"
        | "mostly disagree" => Some("disagree"),
        "neither agree nor disagree" | "neither" | "neutral" => Some("neither"),
        "don t know" | "dont know" | "do not know" | "not sure" | "no opinion" => Some("dont_know"),
        _ => None,
    }
}

/// The plugin.
pub struct Engagement {
    options: Options,
    key: Vec<u8>,
    classifier: Classifier,
    postcodes: HashMap<String, (String, String)>,
}

impl SourcePlugin for Engagement {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("engagement", env!("CARGO_PKG_VERSION"))
            .description("Consultation and survey responses with equality monitoring questions, pseudonymised")
            .licence("The council's own data")
            .produces("engagement_respondents")
            .produces("engagement_answers")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        for k in options.columns.keys() {
            if !FIELDS.contains(&k.as_str()) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a field (one of: {})",
                    FIELDS.join(", ")
                )));
            }
        }
        let key = key_from_env(&options.pseudonymisation_key_env)?;
        let classifier = load_classifier(options.classifications_dir.as_deref())?;
        Ok(Engagement {
            options,
            key,
            classifier,
            postcodes: HashMap::new(),
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if let Some(l) = &self.options.postcode_lookup {
            self.postcodes = load_postcode_lookup(ctx, l)?;
        }
        let files = resolve_some_inputs(ctx, &self.options.path)?;
        let mut unplaced = (0u64, 0u64);
        for (file, name) in &files {
            ctx.check_cancelled()?;
            let table = read_table(
                file,
                name,
                self.options.format,
                self.options.sheet.as_deref(),
            )?;
            let lower: Vec<String> = table
                .header
                .iter()
                .map(|h| h.trim().to_lowercase())
                .collect();
            let find = |field: &str| {
                let want = self
                    .options
                    .columns
                    .get(field)
                    .map_or(field, String::as_str)
                    .trim()
                    .to_lowercase();
                lower.iter().position(|h| *h == want)
            };
            let idx: HashMap<&str, usize> = FIELDS
                .iter()
                .filter_map(|f| find(f).map(|i| (*f, i)))
                .collect();
            if !idx.contains_key("respondent_id") {
                return Err(PluginError::data(format!(
                    "{name}: no respondent id column `{}`; map it with columns.respondent_id (found: {})",
                    self.options
                        .columns
                        .get("respondent_id")
                        .map_or("respondent_id", String::as_str),
                    table.header.join(", ")
                )));
            }
            let questions: Vec<(String, usize)> = self
                .options
                .questions
                .iter()
                .map(|q| {
                    lower
                        .iter()
                        .position(|h| *h == q.trim().to_lowercase())
                        .map(|i| (q.clone(), i))
                        .ok_or_else(|| {
                            PluginError::data(format!("{name}: no question column `{q}`"))
                        })
                })
                .collect::<Result<_, _>>()?;
            let exercise = self.options.exercise.clone().unwrap_or_else(|| {
                name.rsplit_once('.')
                    .map_or(name.as_str(), |(stem, _)| stem)
                    .to_string()
            });
            let mut people = TextRows::new(&[
                "exercise",
                "respondent_key",
                "response_date",
                "ward_code",
                "lsoa_code",
                "age_band",
                "sex",
                "ethnic_group",
                "ethnic_group_broad",
                "disability",
                "religion",
                "sexual_orientation",
                "gender_identity",
            ]);
            let mut answers = TextRows::new(&[
                "exercise",
                "respondent_key",
                "question",
                "answer",
                "agreement",
            ]);
            for (line, rec) in &table.rows {
                let get = |c: &str| {
                    idx.get(c)
                        .and_then(|&i| rec.get(i))
                        .map(|s| s.trim())
                        .unwrap_or("")
                };
                let id = get("respondent_id");
                let key = if id.is_empty() {
                    String::new()
                } else {
                    pseudonymise(&self.key, id)
                };
                let (mut lsoa, mut ward) = (String::new(), String::new());
                let postcode = get("postcode");
                if !postcode.is_empty() && !self.postcodes.is_empty() {
                    unplaced.1 += 1;
                    match self.postcodes.get(&postcode_key(postcode)) {
                        Some((l, w)) => (lsoa, ward) = (l.clone(), w.clone()),
                        None => unplaced.0 += 1,
                    }
                }
                let age = get("age").parse::<f64>().ok().map(|a| a.floor() as i64);
                let eth = self.classifier.map("ethnic_group", get("ethnic_group"));
                let c = &mut self.classifier;
                let values = [
                    exercise.clone(),
                    key.clone(),
                    iso_date(get("response_date")),
                    ward,
                    lsoa,
                    age_band(age).to_string(),
                    c.map("sex", get("sex")).value,
                    eth.value.clone(),
                    eth.broad.clone().unwrap_or_default(),
                    c.map("disability", get("disability")).value,
                    c.map("religion", get("religion")).value,
                    c.map("sexual_orientation", get("sexual_orientation")).value,
                    c.map("gender_identity", get("gender_identity")).value,
                ];
                people.push(&values, name, *line);
                for (q, i) in &questions {
                    let a = rec.get(*i).map(|s| s.trim()).unwrap_or("");
                    if a.is_empty() {
                        continue;
                    }
                    answers.push(
                        [
                            exercise.as_str(),
                            key.as_str(),
                            q.as_str(),
                            a,
                            agreement(a).unwrap_or(""),
                        ],
                        name,
                        *line,
                    );
                }
            }
            let n = people.len();
            ctx.emit_rows("engagement_respondents", &mut people)?;
            ctx.emit_rows("engagement_answers", &mut answers)?;
            ctx.info(&format!("{name}: {n} respondents"));
        }
        if unplaced.0 > 0 {
            ctx.coverage_warning(
                Some("engagement_respondents"),
                "respondents' postcodes the lookup does not know: no ward or LSOA",
                unplaced.0,
                Some(unplaced.1),
            );
        }
        report_unmapped(ctx, &self.classifier, self.options.on_unmapped)
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Engagement);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_scales_as_surveys_write_them() {
        assert_eq!(agreement("Strongly agree"), Some("agree"));
        assert_eq!(agreement("Tend to disagree"), Some("disagree"));
        assert_eq!(agreement("Definitely agree"), Some("agree"));
        assert_eq!(agreement("Don't know"), Some("dont_know"));
        assert_eq!(agreement("Neither agree nor disagree"), Some("neither"));
        assert_eq!(agreement("Yes"), None);
    }
}
