//! `recruitment`: applications from an applicant-tracking export (CSV or
//! XLSX, any layout through a column mapping), with the furthest stage each
//! application reached (applied, shortlisted, appointed) and the applicant's
//! characteristics on the Census 2021 classifications, for the relative
//! likelihood of appointment from shortlisting (NHS WRES indicator 2).
//!
//! Personal data: the applicant identifier is replaced on read by the same
//! keyed hash the `workforce` source uses, and the dataset is restricted.

use std::collections::{BTreeMap, HashMap};

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_workforce::classify::{Classifier, normalise};
use eqpipe_workforce::{
    Format, OnUnmapped, age_band, iso_date, key_from_env, load_classifier, pseudonymise,
    read_table, report_unmapped, resolve_inputs,
};
use serde::Deserialize;

/// The canonical columns an export is mapped onto.
pub const CANONICAL: &[&str] = &[
    "applicant_id",
    "vacancy",
    "grade",
    "application_date",
    "stage",
    "sex",
    "ethnic_group",
    "disability",
    "age",
];

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The export: a path, a glob on the file name, or a URL.
    pub path: String,
    /// `csv` or `xlsx`; guessed from the extension.
    #[serde(default)]
    pub format: Option<Format>,
    /// Worksheet (XLSX).
    #[serde(default)]
    pub sheet: Option<String>,
    /// Canonical column -> the file's column.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Environment variable holding the pseudonymisation key.
    pub pseudonymisation_key_env: String,
    /// Extra stage wordings -> `applied`, `shortlisted` or `appointed`.
    #[serde(default)]
    pub stages: BTreeMap<String, String>,
    /// Answers no classification knows: `warn` or `fail`.
    #[serde(default)]
    pub on_unmapped: OnUnmapped,
    /// Folder of extra classification files.
    #[serde(default)]
    pub classifications_dir: Option<String>,
}

/// The plugin.
pub struct Recruitment {
    options: Options,
    key: Vec<u8>,
    classifier: Classifier,
    stages: HashMap<String, &'static str>,
}

const STAGES: &[(&str, &[&str])] = &[
    (
        "applied",
        &[
            "applied",
            "application",
            "application received",
            "not shortlisted",
            "rejected at sift",
            "sifted out",
            "withdrawn",
        ],
    ),
    (
        "shortlisted",
        &[
            "shortlisted",
            "interview",
            "interviewed",
            "invited to interview",
            "assessment",
            "not appointed",
            "rejected after interview",
            "offered",
            "offer declined",
        ],
    ),
    (
        "appointed",
        &[
            "appointed",
            "hired",
            "offer accepted",
            "successful",
            "started",
            "appointed and started",
        ],
    ),
];

fn stage_code(s: &str) -> Option<&'static str> {
    STAGES.iter().map(|(c, _)| *c).find(|c| *c == s)
}

impl SourcePlugin for Recruitment {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("recruitment", env!("CARGO_PKG_VERSION"))
            .description("Applications with the furthest stage reached and the applicant's characteristics, pseudonymised")
            .licence("Personal data of the partner; restricted, never published")
            .produces("recruitment")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        for k in options.columns.keys() {
            if !CANONICAL.contains(&k.as_str()) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a canonical column (known: {})",
                    CANONICAL.join(", ")
                )));
            }
        }
        let mut stages = HashMap::new();
        for (code, words) in STAGES {
            for w in *words {
                stages.insert(normalise(w), *code);
            }
        }
        for (word, code) in &options.stages {
            let code = stage_code(code).ok_or_else(|| {
                PluginError::config(format!(
                    "stages: `{code}` must be applied, shortlisted or appointed"
                ))
            })?;
            stages.insert(normalise(word), code);
        }
        Ok(Recruitment {
            key: key_from_env(&options.pseudonymisation_key_env)?,
            classifier: load_classifier(options.classifications_dir.as_deref())?,
            stages,
            options,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let files = resolve_inputs(ctx, &self.options.path)?;
        if files.is_empty() {
            return Err(PluginError::data(format!(
                "no file matches `{}`",
                self.options.path
            )));
        }
        for (path, name) in files {
            ctx.check_cancelled()?;
            let table = read_table(
                &path,
                &name,
                self.options.format,
                self.options.sheet.as_deref(),
            )?;
            let lower: Vec<String> = table
                .header
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            let mut idx: HashMap<&str, usize> = HashMap::new();
            for c in CANONICAL {
                let wanted = self
                    .options
                    .columns
                    .get(*c)
                    .map(|s| s.to_ascii_lowercase())
                    .unwrap_or_else(|| c.to_string());
                match lower.iter().position(|h| *h == wanted) {
                    Some(i) => {
                        idx.insert(c, i);
                    }
                    None if ["applicant_id", "vacancy", "stage"].contains(c) => {
                        return Err(PluginError::data(format!(
                            "{name}: no `{wanted}` column for {c}; map it with columns.{c} (found: {})",
                            table.header.join(", ")
                        )));
                    }
                    None => {}
                }
            }
            let mut rows = TextRows::new(&[
                "applicant_key",
                "vacancy",
                "grade",
                "application_date",
                "stage",
                "shortlisted",
                "appointed",
                "sex",
                "ethnic_group",
                "ethnic_group_broad",
                "disability",
                "age_band",
                REJECT_COLUMN,
            ]);
            for (line, rec) in table.rows {
                let get = |c: &str| {
                    idx.get(c)
                        .and_then(|&i| rec.get(i))
                        .map(|s| s.trim())
                        .unwrap_or("")
                };
                let id = get("applicant_id");
                let mut reject = Vec::new();
                if id.is_empty() {
                    reject.push("applicant_id is empty".to_string());
                }
                let stage = match self.stages.get(&normalise(get("stage"))) {
                    Some(s) => *s,
                    None => {
                        reject.push(
                            "stage is not a known stage (map it with the `stages` option)"
                                .to_string(),
                        );
                        "applied"
                    }
                };
                let eth = self.classifier.map("ethnic_group", get("ethnic_group"));
                let sex = self.classifier.map("sex", get("sex")).value;
                let disability = self.classifier.map("disability", get("disability")).value;
                let age = get("age").parse::<f64>().ok().map(|a| a.floor() as i64);
                let key = if id.is_empty() {
                    String::new()
                } else {
                    pseudonymise(&self.key, id)
                };
                rows.push(
                    [
                        key.as_str(),
                        get("vacancy"),
                        get("grade"),
                        &iso_date(get("application_date")),
                        stage,
                        if stage != "applied" { "true" } else { "false" },
                        if stage == "appointed" {
                            "true"
                        } else {
                            "false"
                        },
                        &sex,
                        &eth.value,
                        eth.broad.as_deref().unwrap_or(""),
                        &disability,
                        age_band(age),
                        &reject.join("; "),
                    ],
                    &name,
                    line,
                );
            }
            let n = rows.len();
            ctx.emit_rows("recruitment", &mut rows)?;
            ctx.info(&format!("{name}: {n} applications"));
        }
        report_unmapped(ctx, &self.classifier, self.options.on_unmapped)
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Recruitment);
