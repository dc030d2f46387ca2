//! `engagement-reach`: did a consultation hear from everyone? For each
//! exercise in `engagement_respondents`: the respondents' profile against
//! the consulted area's Census 2021 population, characteristic by
//! characteristic (share with its 95% Wilson interval, the population's
//! share, the representation ratio), with the groups it under-represented
//! named as the "harder to reach" for that exercise; then each question's
//! agreement, unweighted and weighted by raking to the area's Census
//! margins, with the effective sample size and design effect and an
//! interval that allows for the weighting.
//!
//! Method:
//! - Shares are of the respondents who stated the characteristic; those
//!   who did not are one `not_disclosed` row whose share is of all
//!   respondents. The population's shares are of those who answered the
//!   Census question, from the area's own tables (as in
//!   `workforce-representation`, whose Census reading this shares). A
//!   group is `under_represented` when the upper end of its 95% interval
//!   is below the population's share, `over_represented` when the lower
//!   end is above it, else `in_line`.
//! - Weights: raking (`eqpipe_plugin_sdk::rake`) on the margins of
//!   `weight_by` (default age band, sex and broad ethnic group; also
//!   `age_sex`, age band by sex jointly from TS009, and `ward`, the area's
//!   wards from `geography_lookup` and their residents from TS008; a margin
//!   with no Census population loaded is a coverage warning), trimmed to
//!   `trim` times the mean (default 0.2 to 5). Respondents who did not
//!   state a weighting characteristic keep their share of that margin (a
//!   "not stated" category whose target is its sample share, the rest of
//!   the margin scaled to the population's shares); a population group with
//!   no respondents cannot be weighted up, so it is left out of that margin
//!   and said in a coverage warning. Each estimate row says whether raking
//!   converged, in how many cycles, and how far from its targets a margin
//!   was left.
//! - Agreement = agree / (agree + neither + disagree); `dont_know` and
//!   other answers are left out. The weighted interval is Wilson's on the
//!   effective sample size (Kish) of the answering respondents' weights.
//! - Respondent counts go through the host's disclosure control.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::published::date_of_days;
use eqpipe_plugin_sdk::rake::{self, RakeOptions};
use eqpipe_plugin_sdk::stats::wilson;
use eqpipe_plugin_sdk::{column, date_values, is_disclosed, key_texts, text_values};
use eqpipe_workforce_representation::{
    Comparator, Population, census_category, population, read_census,
};
use serde::Deserialize;

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The consulted area (its Census tables must be in `census_counts`).
    pub area: String,
    /// Characteristics to profile (default sex, age band, broad and
    /// detailed ethnic group, disability, religion, sexual orientation,
    /// gender identity).
    #[serde(default)]
    pub characteristics: Vec<String>,
    /// Margins to rake on (default age band, sex, broad ethnic group): any
    /// profiled characteristic, `age_sex` (age band by sex jointly, from
    /// TS009) or `ward` (the respondents' wards against the area's wards in
    /// `geography_lookup`, residents from TS008).
    #[serde(default)]
    pub weight_by: Vec<String>,
    /// Bounds on a weight relative to the mean (default `[0.2, 5.0]`).
    #[serde(default)]
    pub trim: Option<[f64; 2]>,
}

const PROFILE: [&str; 8] = [
    "sex",
    "age_band",
    "ethnic_group_broad",
    "ethnic_group",
    "disability",
    "religion",
    "sexual_orientation",
    "gender_identity",
];
const WEIGHT_BY: [&str; 3] = ["age_band", "sex", "ethnic_group_broad"];

/// One respondent: characteristic -> harmonised value.
type Respondent = HashMap<String, String>;

/// Respondents by exercise (key, answers), repeated keys dropped, and each
/// exercise's last response date (days since 1970).
type Respondents = (
    BTreeMap<String, Vec<(String, Respondent)>>,
    u64,
    HashMap<String, i32>,
);

/// The plugin.
pub struct EngagementReach {
    options: Options,
}

impl EngagementReach {
    fn characteristics(&self) -> Vec<String> {
        if self.options.characteristics.is_empty() {
            PROFILE.iter().map(|s| s.to_string()).collect()
        } else {
            self.options.characteristics.clone()
        }
    }

    fn weight_by(&self) -> Vec<String> {
        if self.options.weight_by.is_empty() {
            WEIGHT_BY.iter().map(|s| s.to_string()).collect()
        } else {
            self.options.weight_by.clone()
        }
    }

    /// Respondents by exercise, in order, keyed once each; and how many
    /// repeated keys were dropped.
    fn respondents(&self, ctx: &Context, chars: &[String]) -> Result<Respondents, PluginError> {
        let mut out: BTreeMap<String, Vec<(String, Respondent)>> = BTreeMap::new();
        let mut last: HashMap<String, i32> = HashMap::new();
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        let mut repeated = 0;
        for batch in ctx.open_input("engagement_respondents")? {
            let b = batch?;
            let c = |n: &str| column(&b, "engagement_respondents", n);
            let exercise = text_values(c("exercise")?.as_ref())?;
            let key = key_texts(c("respondent_key")?.as_ref())?;
            let date = date_values(c("response_date")?.as_ref())?;
            let mut cols: Vec<(String, Vec<String>)> = Vec::new();
            let wanted: Vec<String> = chars
                .iter()
                .chain(self.weight_by().iter())
                .flat_map(|ch| match ch.as_str() {
                    AGE_SEX => vec!["age_band".to_string(), "sex".to_string()],
                    WARD => vec!["ward_code".to_string()],
                    _ => vec![ch.clone()],
                })
                .collect();
            for ch in &wanted {
                if !cols.iter().any(|(n, _)| n == ch) {
                    cols.push((ch.clone(), text_values(c(ch)?.as_ref())?));
                }
            }
            for i in 0..b.num_rows() {
                if let Some(d) = date[i] {
                    let e = last.entry(exercise[i].clone()).or_insert(d);
                    *e = (*e).max(d);
                }
                if !seen.insert((exercise[i].clone(), key[i].clone())) {
                    repeated += 1;
                    continue;
                }
                let mut r: Respondent = cols
                    .iter()
                    .map(|(n, v)| (n.clone(), v[i].clone()))
                    .collect();
                // The composite margins: age band by sex, and ward.
                let joint = match (r.get("age_band"), r.get("sex")) {
                    (Some(a), Some(x)) if stated(a) && stated(x) => format!("{a}|{x}"),
                    _ => "not_stated".to_string(),
                };
                r.insert(AGE_SEX.to_string(), joint);
                let ward = r.get("ward_code").cloned().unwrap_or_default();
                r.insert(WARD.to_string(), ward);
                out.entry(exercise[i].clone())
                    .or_default()
                    .push((key[i].clone(), r));
            }
        }
        Ok((out, repeated, last))
    }
}

/// The rake's input: each margin's respondent categories and targets, the
/// margins used, and the population groups left out for want of
/// respondents.
type Margins = (Vec<Vec<usize>>, Vec<Vec<f64>>, Vec<String>, Vec<String>);

/// An exercise's weights by respondent key, the raking's report, and the
/// margins raked on.
type Weights = (HashMap<String, f64>, rake::Raked, Vec<String>);

/// The joint margin of age band by sex (`weight_by = ["age_sex", …]`),
/// from a sex-by-age table (TS009).
const AGE_SEX: &str = "age_sex";
/// The area margin: respondents' wards against the wards' residents.
const WARD: &str = "ward";

/// Residents by age band and sex (`16-24|F`) from the area's TS009 cells
/// (`Female; Age: Aged 16 years`): the finest cells only (bands with single
/// years beneath them are skipped); `None` when the table is missing or a
/// cell straddles a band.
fn age_sex_population(
    rows: &[eqpipe_workforce_representation::CensusRow],
) -> Option<BTreeMap<String, f64>> {
    let table: Vec<_> = rows.iter().filter(|r| r.0 == "TS009").collect();
    let parents: BTreeSet<&str> = table.iter().map(|r| r.2.as_str()).collect();
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (_, label, _, count) in table {
        if parents.contains(label.as_str()) {
            continue;
        }
        let Some((sex, age)) = label.split_once("; ") else {
            continue;
        };
        let Some(sex) = census_category("sex", sex) else {
            continue;
        };
        let age = age.trim_start_matches("Age: ");
        match census_category("age_band", age) {
            Some(band) if band.starts_with('\u{0}') => return None,
            Some(band) => *out.entry(format!("{band}|{sex}")).or_default() += *count as f64,
            None => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Each ward of `area` (from `geography_lookup`) and its residents (TS008's
/// total in `census_counts`).
fn ward_population(ctx: &Context, area: &str) -> Result<BTreeMap<String, f64>, PluginError> {
    let mut wards: BTreeSet<String> = BTreeSet::new();
    for batch in ctx.open_input("geography_lookup")? {
        let b = batch?;
        let c = |n: &str| column(&b, "geography_lookup", n);
        let (child, level, parent) = (
            text_values(c("child_code")?.as_ref())?,
            text_values(c("child_level")?.as_ref())?,
            text_values(c("parent_code")?.as_ref())?,
        );
        for i in 0..b.num_rows() {
            if parent[i] == area && level[i].starts_with("wd") {
                wards.insert(child[i].clone());
            }
        }
    }
    let codes: BTreeSet<&str> = wards.iter().map(String::as_str).collect();
    let (cells, _) = read_census(ctx, &codes)?;
    Ok(cells
        .into_iter()
        .filter_map(|(ward, rows)| {
            rows.iter()
                .find(|r| r.0 == "TS008" && (r.1 == "All persons" || r.1.starts_with("Total")))
                .map(|r| (ward, r.3 as f64))
        })
        .collect())
}

/// A value counts as stated when it says what the characteristic is.
fn stated(v: &str) -> bool {
    is_disclosed(v)
}

/// The rake's margins for one exercise: each respondent's category index
/// per margin and the targets; population groups with no respondents are
/// left out (returned by name for the warning).
fn margins(people: &[(String, Respondent)], weight_by: &[String], pop: &Population) -> Margins {
    let (mut cats, mut targets, mut used, mut empty) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let n = people.len() as f64;
    for ch in weight_by {
        let Some(p) = pop.get(ch) else { continue };
        let present: BTreeSet<&str> = people.iter().map(|(_, r)| r[ch].as_str()).collect();
        let groups: Vec<(&String, f64)> = p
            .iter()
            .filter(|(g, _)| {
                let has = present.contains(g.as_str());
                if !has {
                    empty.push(format!("{ch}: {g}"));
                }
                has
            })
            .map(|(g, c)| (g, *c))
            .collect();
        if groups.is_empty() {
            continue;
        }
        let index: HashMap<&str, usize> = groups
            .iter()
            .enumerate()
            .map(|(i, (g, _))| (g.as_str(), i))
            .collect();
        let other = groups.len();
        let idx: Vec<usize> = people
            .iter()
            .map(|(_, r)| index.get(r[ch].as_str()).copied().unwrap_or(other))
            .collect();
        let unplaced = idx.iter().filter(|&&i| i == other).count() as f64;
        let placed_total: f64 = groups.iter().map(|(_, c)| c).sum();
        let mut t: Vec<f64> = groups
            .iter()
            .map(|(_, c)| c / placed_total * (n - unplaced))
            .collect();
        t.push(unplaced);
        cats.push(idx);
        targets.push(t);
        used.push(ch.clone());
    }
    (cats, targets, used, empty)
}

impl IndicatorPlugin for EngagementReach {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("engagement-reach", env!("CARGO_PKG_VERSION"))
            .description("Who a consultation reached against the area's population, and raked estimates of its answers")
            .consumes("engagement_respondents")
            .consumes("census_counts")
            .produces("engagement_reach")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(EngagementReach { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.compute(ctx, Output::Reach)
    }
}

/// Which of the two datasets a run writes: the same respondents, Census
/// and weights serve both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `engagement_reach` (this plugin).
    Reach,
    /// `engagement_estimates` (the `engagement-answers` plugin).
    Estimates,
}

impl EngagementReach {
    /// A plugin over these options.
    pub fn with(options: Options) -> Self {
        EngagementReach { options }
    }

    /// Reads the respondents and the Census, and writes `which`.
    pub fn compute(&self, ctx: &Context, which: Output) -> Result<(), PluginError> {
        let chars = self.characteristics();
        let (exercises, repeated, last) = self.respondents(ctx, &chars)?;
        if repeated > 0 {
            let dataset = match which {
                Output::Reach => "engagement_reach",
                Output::Estimates => "engagement_estimates",
            };
            ctx.coverage_warning(
                Some(dataset),
                "responses repeating a respondent already counted in the same exercise: the first kept",
                repeated,
                None,
            );
        }
        let areas: BTreeSet<&str> = [self.options.area.as_str()].into();
        let (census, _) = read_census(ctx, &areas)?;
        let cmp = Comparator {
            area: self.options.area.clone(),
            population: None,
            ages: None,
            tables: BTreeMap::new(),
        };
        let weight_by = self.weight_by();
        let all: Vec<&str> = chars
            .iter()
            .chain(weight_by.iter())
            .map(String::as_str)
            .collect();
        let pop = population(
            &cmp,
            census
                .get(&self.options.area)
                .map_or(&[][..], Vec::as_slice),
            &all,
        );
        let mut pop = pop;
        // The composite margins' populations serve the weights only.
        let weighting = which == Output::Estimates;
        if weighting
            && weight_by.iter().any(|w| w == AGE_SEX)
            && let Some(p) = age_sex_population(
                census
                    .get(&self.options.area)
                    .map_or(&[][..], Vec::as_slice),
            )
        {
            pop.insert(AGE_SEX.to_string(), p);
        }
        if weighting && weight_by.iter().any(|w| w == WARD) {
            let p = ward_population(ctx, &self.options.area)?;
            if !p.is_empty() {
                pop.insert(WARD.to_string(), p);
            }
        }
        if weighting {
            let missing: Vec<&str> = weight_by
                .iter()
                .filter(|w| !pop.contains_key(w.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                ctx.coverage_warning(
                    Some("engagement_estimates"),
                    &format!(
                        "margins asked for in weight_by with no Census population for {} (its table, or for wards the lookup, is not loaded): not weighted on them ({})",
                        self.options.area,
                        missing.join(", ")
                    ),
                    missing.len() as u64,
                    Some(weight_by.len() as u64),
                );
            }
        }
        let mut profile = TextRows::new(&[
            "exercise",
            "period_end",
            "characteristic",
            "category",
            "respondents",
            "stated_total",
            "share_pct",
            "share_lower_pct",
            "share_upper_pct",
            "population_pct",
            "representation_ratio",
            "representation",
            "suppressed",
        ]);
        let mut weights_of: HashMap<String, Weights> = HashMap::new();
        for (exercise, people) in &exercises {
            let period_end = last
                .get(exercise)
                .map(|d| date_of_days(*d).to_string())
                .unwrap_or_default();
            for ch in &chars {
                let total = people.len() as f64;
                let mut counts: BTreeMap<&str, f64> = BTreeMap::new();
                let mut undisclosed = 0.0;
                for (_, r) in people {
                    let v = r[ch].as_str();
                    if stated(v) {
                        *counts.entry(v).or_default() += 1.0
                    } else {
                        undisclosed += 1.0
                    }
                }
                let stated_total = total - undisclosed;
                let p = pop.get(ch);
                let p_total: f64 = p.map_or(0.0, |p| p.values().sum());
                let groups: BTreeSet<&str> = counts
                    .keys()
                    .copied()
                    .chain(p.into_iter().flat_map(|p| p.keys().map(String::as_str)))
                    .collect();
                for g in groups {
                    let x = counts.get(g).copied().unwrap_or(0.0);
                    let share = (stated_total > 0.0).then(|| x / stated_total);
                    let ci = wilson(x, stated_total);
                    let pshare = p
                        .and_then(|p| p.get(g))
                        .filter(|_| p_total > 0.0)
                        .map(|c| c / p_total);
                    let representation = match (ci, pshare) {
                        (Some((_, hi)), Some(ps)) if hi < ps => "under_represented",
                        (Some((lo, _)), Some(ps)) if lo > ps => "over_represented",
                        (Some(_), Some(_)) => "in_line",
                        _ => "no_comparator",
                    };
                    let f =
                        |v: Option<f64>| v.map(|v| format!("{}", v * 100.0)).unwrap_or_default();
                    profile.push(
                        [
                            exercise.clone(),
                            period_end.clone(),
                            ch.clone(),
                            g.to_string(),
                            format!("{x}"),
                            format!("{stated_total}"),
                            f(share),
                            f(ci.map(|c| c.0)),
                            f(ci.map(|c| c.1)),
                            f(pshare),
                            match (share, pshare) {
                                (Some(s), Some(ps)) if ps > 0.0 => format!("{}", s / ps),
                                _ => String::new(),
                            },
                            representation.to_string(),
                            "false".to_string(),
                        ],
                        "engagement-reach",
                        0,
                    );
                }
                profile.push(
                    [
                        exercise.clone(),
                        period_end.clone(),
                        ch.clone(),
                        "not_disclosed".to_string(),
                        format!("{undisclosed}"),
                        format!("{total}"),
                        format!(
                            "{}",
                            if total > 0.0 {
                                undisclosed / total * 100.0
                            } else {
                                0.0
                            }
                        ),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        "not_disclosed".to_string(),
                        "false".to_string(),
                    ],
                    "engagement-reach",
                    0,
                );
            }
            if which == Output::Reach {
                continue;
            }
            // Weights.
            let (cats, targets, used, empty) = margins(people, &self.weight_by(), &pop);
            if !empty.is_empty() {
                ctx.coverage_warning(
                    Some("engagement_estimates"),
                    &format!("{exercise}: population groups with no respondents, so not weighted up ({})", empty.join("; ")),
                    empty.len() as u64,
                    None,
                );
            }
            if cats.is_empty() {
                continue;
            }
            let [lo, hi] = self.options.trim.unwrap_or([0.2, 5.0]);
            let raked = rake::rake(
                &cats,
                &targets,
                None,
                RakeOptions {
                    trim: Some((lo, hi)),
                    ..RakeOptions::default()
                },
            )
            .map_err(|e| PluginError::data(format!("{exercise}: weighting: {e}")))?;
            let by_key: HashMap<String, f64> = people
                .iter()
                .map(|(k, _)| k.clone())
                .zip(raked.weights.iter().copied())
                .collect();
            weights_of.insert(exercise.clone(), (by_key, raked, used));
        }
        if which == Output::Reach {
            return ctx.emit_rows("engagement_reach", &mut profile);
        }
        // Estimates: (exercise, question) -> respondents' (key, agreement).
        let mut answers: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
        for batch in ctx.open_input("engagement_answers")? {
            let b = batch?;
            let c = |n: &str| column(&b, "engagement_answers", n);
            let (ex, key, q, agr) = (
                text_values(c("exercise")?.as_ref())?,
                key_texts(c("respondent_key")?.as_ref())?,
                text_values(c("question")?.as_ref())?,
                text_values(c("agreement")?.as_ref())?,
            );
            for i in 0..b.num_rows() {
                answers
                    .entry((ex[i].clone(), q[i].clone()))
                    .or_default()
                    .push((key[i].clone(), agr[i].clone()));
            }
        }
        let mut est = TextRows::new(&[
            "exercise",
            "question",
            "period_end",
            "respondents",
            "agree",
            "agree_pct",
            "weighted_agree_pct",
            "weighted_lower_pct",
            "weighted_upper_pct",
            "effective_n",
            "design_effect",
            "weighted_by",
            "raking_converged",
            "raking_iterations",
            "max_margin_difference_pp",
            "suppressed",
        ]);
        for ((exercise, question), list) in &answers {
            let scale: Vec<&(String, String)> = list
                .iter()
                .filter(|(_, a)| matches!(a.as_str(), "agree" | "neither" | "disagree"))
                .collect();
            let n = scale.len() as f64;
            let agree = scale.iter().filter(|(_, a)| a == "agree").count() as f64;
            let f = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
            let weighted = weights_of.get(exercise).and_then(|(w, raked, used)| {
                let ws: Vec<f64> = scale
                    .iter()
                    .map(|(k, _)| w.get(k).copied().unwrap_or(0.0))
                    .collect();
                let yes: Vec<bool> = scale.iter().map(|(_, a)| a == "agree").collect();
                rake::weighted_proportion(&ws, &yes)
                    .map(|p| (p, rake::design_effect(&ws), raked, used))
            });
            est.push(
                [
                    exercise.clone(),
                    question.clone(),
                    last.get(exercise)
                        .map(|d| date_of_days(*d).to_string())
                        .unwrap_or_default(),
                    format!("{n}"),
                    format!("{agree}"),
                    f((n > 0.0).then(|| agree / n * 100.0)),
                    f(weighted.as_ref().map(|w| w.0.0 * 100.0)),
                    f(weighted.as_ref().map(|w| w.0.2 * 100.0)),
                    f(weighted.as_ref().map(|w| w.0.3 * 100.0)),
                    f(weighted.as_ref().map(|w| w.0.1)),
                    f(weighted.as_ref().map(|w| w.1)),
                    weighted
                        .as_ref()
                        .map(|w| w.3.join(", "))
                        .unwrap_or_default(),
                    weighted
                        .as_ref()
                        .map(|w| w.2.converged.to_string())
                        .unwrap_or_default(),
                    weighted
                        .as_ref()
                        .map(|w| w.2.iterations.to_string())
                        .unwrap_or_default(),
                    f(weighted.as_ref().map(|w| w.2.max_difference * 100.0)),
                    "false".to_string(),
                ],
                "engagement-reach",
                0,
            );
        }
        ctx.emit_rows("engagement_estimates", &mut est)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: EngagementReach);
