//! `deprivation-profile`: for each area (ward, local authority, or any
//! parent of LSOAs in the loaded lookups), how many of its neighbourhoods
//! (LSOAs) are among England's most deprived 10% and 20% on the English
//! Indices of Deprivation, and what share of its residents live in them:
//! "10 out of 83 neighbourhoods are among the 20% most deprived in England".
//!
//! Method (English Indices of Deprivation 2019 / 2025, MHCLG): decile 1 is
//! the most deprived 10% of LSOAs in England, deciles 1 and 2 the most
//! deprived 20%. The population share uses the file's own population
//! denominators. LSOAs are assigned to areas through `geography_lookup`
//! rows whose child LSOAs are on the same boundaries as the indices
//! (2011 LSOAs for IoD2019, 2021 for IoD2025) and whose relation is
//! `within` (containment); `best_fit` rows map codes across boundary
//! vintages and never make an LSOA part of an area. LSOAs reach their local
//! authority through the indices file itself. With `best_fit = true`, areas
//! on newer boundaries are reached through an explicit best-fit step (each
//! LSOA in the areas containing its best-fit successor). Every row says
//! which LSOA boundaries it counts, how they were assigned to the area
//! (`within` or `best_fit`) and, where the lookup says, the area code's
//! vintage. LSOAs of an area that the indices do not rank are reported as a
//! coverage warning.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{Float64Array, Int16Array, Int64Array, StringArray};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{column, f64_values, text_values};
use serde::Deserialize;

/// The overall index, as the files label it.
pub const IMD: &str = "Index of Multiple Deprivation (IMD)";

/// Options of `[indicators.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Domains to profile, as labelled in `deprivation` (default the
    /// overall IMD only; `[]` for every domain loaded).
    #[serde(default = "default_domains")]
    pub domains: Vec<String>,
    /// Parent levels to profile from the lookups (default every level).
    #[serde(default)]
    pub levels: Vec<String>,
    /// Also profile areas that lookups give on newer LSOA boundaries than
    /// the indices' (IoD2019's 2011 LSOAs in 2022 wards), through the
    /// best-fit lookup between the two vintages: each LSOA counts in the
    /// areas containing its best-fit successor (`lsoa_mapping =
    /// "best_fit"`). Off by default: best-fit is an approximation to choose.
    #[serde(default)]
    pub best_fit: bool,
}

/// Areas by code: (name, level, LSOAs).
type Areas = BTreeMap<String, (String, String, BTreeSet<String>)>;

/// Puts `lsoa` in the area `r` names, recording how it got there.
fn place(
    parents: &mut Areas,
    mapping: &mut HashMap<String, &'static str>,
    r: &LookupRow,
    lsoa: &str,
    how: &'static str,
) {
    mapping.insert(r.parent.clone(), how);
    parents
        .entry(r.parent.clone())
        .or_insert_with(|| {
            (
                r.parent_name.clone(),
                r.parent_level.clone(),
                BTreeSet::new(),
            )
        })
        .2
        .insert(lsoa.to_string());
}

/// A lookup row whose child is an LSOA.
struct LookupRow {
    child: String,
    child_vintage: i16,
    parent: String,
    parent_name: String,
    parent_level: String,
    parent_vintage: Option<i16>,
    within: bool,
}

fn default_domains() -> Vec<String> {
    vec![IMD.to_string()]
}

/// The plugin.
pub struct DeprivationProfile {
    options: Options,
}

/// One LSOA's standing in one edition and domain.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// Decile (1 = most deprived 10%).
    pub decile: Option<u8>,
    /// Population denominator.
    pub population: Option<f64>,
}

/// Counts for one area.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// LSOAs in the area with a decile.
    pub lsoas: i64,
    /// Of those, in decile 1.
    pub most_deprived_10: i64,
    /// Of those, in deciles 1 and 2.
    pub most_deprived_20: i64,
    /// Residents (population denominators).
    pub population: f64,
    /// Residents of decile-1 LSOAs.
    pub population_10: f64,
    /// Residents of decile 1-2 LSOAs.
    pub population_20: f64,
}

/// Summarises the standings of an area's LSOAs.
pub fn summarise<'a>(lsoas: impl IntoIterator<Item = &'a Standing>) -> Summary {
    let mut s = Summary::default();
    for st in lsoas {
        let Some(d) = st.decile else { continue };
        let p = st.population.unwrap_or(0.0);
        s.lsoas += 1;
        s.population += p;
        if d == 1 {
            s.most_deprived_10 += 1;
            s.population_10 += p;
        }
        if d <= 2 {
            s.most_deprived_20 += 1;
            s.population_20 += p;
        }
    }
    s
}

struct Row {
    code: String,
    name: String,
    level: String,
    area_vintage: Option<i16>,
    lsoa_vintage: Option<i16>,
    mapping: &'static str,
    edition: i16,
    domain: String,
    s: Summary,
}

impl IndicatorPlugin for DeprivationProfile {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("deprivation-profile", env!("CARGO_PKG_VERSION"))
            .description("Neighbourhoods and residents of each area among England's most deprived 10% and 20%")
            .consumes("deprivation")
            // Without lookups, local authorities come from the indices.
            .consumes_optional("geography_lookup")
            .produces("deprivation_profile")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(DeprivationProfile { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // (edition, domain) -> lsoa -> standing; lsoa -> (vintage, lad).
        let mut standings: BTreeMap<(i16, String), HashMap<String, Standing>> = BTreeMap::new();
        let mut lads: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
        let mut vintages: BTreeSet<i16> = BTreeSet::new();
        for batch in ctx.open_input("deprivation")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "deprivation", n);
            let lsoa = text_values(c("lsoa_code")?.as_ref())?;
            let vintage = f64_values(c("lsoa_vintage")?.as_ref())?;
            let lad = text_values(c("lad_code")?.as_ref())?;
            let lad_name = text_values(c("lad_name")?.as_ref())?;
            let edition = f64_values(c("edition")?.as_ref())?;
            let domain = text_values(c("domain")?.as_ref())?;
            let decile = f64_values(c("decile")?.as_ref())?;
            let population = f64_values(c("population")?.as_ref())?;
            for i in 0..b.num_rows() {
                if !self.options.domains.is_empty() && !self.options.domains.contains(&domain[i]) {
                    continue;
                }
                vintages.insert(vintage[i].unwrap_or(0.0) as i16);
                let ed = edition[i].unwrap_or(0.0) as i16;
                standings
                    .entry((ed, domain[i].clone()))
                    .or_default()
                    .insert(
                        lsoa[i].clone(),
                        Standing {
                            decile: decile[i].map(|d| d as u8),
                            population: population[i],
                        },
                    );
                if !lad[i].is_empty() {
                    lads.entry(lad[i].clone())
                        .or_insert_with(|| (lad_name[i].clone(), BTreeSet::new()))
                        .1
                        .insert(lsoa[i].clone());
                }
            }
        }
        if standings.is_empty() {
            return Err(PluginError::data(format!(
                "deprivation has no rows for the domains {:?}",
                self.options.domains
            )));
        }
        // The lookups' rows between LSOAs and their parents or successors.
        let mut lookup: Vec<LookupRow> = Vec::new();
        for batch in ctx.open_input("geography_lookup")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let c = |n: &str| column(&b, "geography_lookup", n);
            let child = text_values(c("child_code")?.as_ref())?;
            let child_level = text_values(c("child_level")?.as_ref())?;
            let child_vintage = f64_values(c("child_vintage")?.as_ref())?;
            let parent = text_values(c("parent_code")?.as_ref())?;
            let parent_name = text_values(c("parent_name")?.as_ref())?;
            let parent_level = text_values(c("parent_level")?.as_ref())?;
            let p_vintage = f64_values(c("parent_vintage")?.as_ref())?;
            let relation = text_values(c("relation")?.as_ref())?;
            for i in 0..b.num_rows() {
                if child_level[i] != "lsoa" {
                    continue;
                }
                lookup.push(LookupRow {
                    child: child[i].clone(),
                    child_vintage: child_vintage[i].unwrap_or(0.0) as i16,
                    parent: parent[i].clone(),
                    parent_name: parent_name[i].clone(),
                    parent_level: parent_level[i].clone(),
                    parent_vintage: p_vintage[i].map(|v| v as i16),
                    within: relation[i] == "within",
                });
            }
        }
        let wanted_level =
            |l: &str| self.options.levels.is_empty() || self.options.levels.iter().any(|x| x == l);
        // parent -> (name, level, lsoas), from lookups on the indices' own
        // boundaries: containment only.
        let mut parents: Areas = BTreeMap::new();
        let mut parent_vintage: HashMap<String, i16> = HashMap::new();
        let mut mapping: HashMap<String, &'static str> = HashMap::new();
        let (mut best_fit_rows, mut other_boundaries) = (0u64, 0u64);
        for r in &lookup {
            if !vintages.contains(&r.child_vintage) {
                other_boundaries += u64::from(r.within);
                continue;
            }
            if !r.within {
                // A successor on other boundaries, not a containing area.
                best_fit_rows += 1;
                continue;
            }
            if let Some(v) = r.parent_vintage {
                parent_vintage.insert(r.parent.clone(), v);
            }
            if !wanted_level(&r.parent_level) {
                continue;
            }
            place(&mut parents, &mut mapping, r, &r.child, "within");
        }
        // The explicit best-fit step: each LSOA of the indices counts in the
        // areas that contain its best-fit successor on newer boundaries
        // (IoD2019's 2011 LSOAs in 2022 wards), for areas no lookup on the
        // indices' own boundaries gives.
        if self.options.best_fit {
            let successor: HashMap<&str, &str> = lookup
                .iter()
                .filter(|r| {
                    !r.within && vintages.contains(&r.child_vintage) && r.parent_level == "lsoa"
                })
                .map(|r| (r.child.as_str(), r.parent.as_str()))
                .collect();
            let mut containing: HashMap<&str, Vec<&LookupRow>> = HashMap::new();
            for r in lookup
                .iter()
                .filter(|r| r.within && !vintages.contains(&r.child_vintage))
            {
                containing.entry(r.child.as_str()).or_default().push(r);
            }
            let direct: BTreeSet<String> = parents.keys().cloned().collect();
            for (old, new) in &successor {
                for r in containing.get(new).into_iter().flatten() {
                    if direct.contains(&r.parent) || !wanted_level(&r.parent_level) {
                        continue;
                    }
                    if let Some(v) = r.parent_vintage {
                        parent_vintage.insert(r.parent.clone(), v);
                    }
                    place(&mut parents, &mut mapping, r, old, "best_fit");
                }
            }
        } else if other_boundaries > 0 {
            ctx.info(&format!(
                "{other_boundaries} lookup rows relate LSOAs on other boundaries than the indices' ({vintages:?}); set best_fit = true to reach their areas through a best-fit lookup"
            ));
        }
        // Local authorities straight from the indices, unless a lookup gave them.
        if self.options.levels.is_empty() || self.options.levels.iter().any(|l| l == "ltla") {
            for (code, (name, lsoas)) in lads {
                mapping.entry(code.clone()).or_insert("within");
                parents.entry(code).or_insert((name, "ltla".into(), lsoas));
            }
        }
        if best_fit_rows > 0 && !self.options.best_fit {
            ctx.info(&format!(
                "{best_fit_rows} best-fit lookup rows (codes across boundary vintages) are not containment and were not used to build areas"
            ));
        }
        let lsoa_vintage = (vintages.len() == 1).then(|| *vintages.iter().next().expect("one"));
        let mut rows = Vec::new();
        for ((edition, domain), by_lsoa) in &standings {
            let (mut missing, mut wanted, mut areas_short) = (0u64, 0u64, 0u64);
            for (code, (name, level, lsoas)) in &parents {
                let found: Vec<&Standing> = lsoas.iter().filter_map(|l| by_lsoa.get(l)).collect();
                if found.is_empty() {
                    continue;
                }
                wanted += lsoas.len() as u64;
                if found.len() < lsoas.len() {
                    missing += (lsoas.len() - found.len()) as u64;
                    areas_short += 1;
                    ctx.debug(&format!(
                        "{code} {name}: {} of its {} LSOAs are not in the {edition} indices",
                        lsoas.len() - found.len(),
                        lsoas.len()
                    ));
                }
                rows.push(Row {
                    code: code.clone(),
                    name: name.clone(),
                    level: level.clone(),
                    area_vintage: parent_vintage.get(code).copied(),
                    lsoa_vintage,
                    mapping: mapping.get(code).copied().unwrap_or("within"),
                    edition: *edition,
                    domain: domain.clone(),
                    s: summarise(found),
                });
            }
            if missing > 0 {
                ctx.coverage_warning(
                    Some("deprivation_profile"),
                    &format!(
                        "LSOAs of profiled areas not ranked in the {edition} indices ({domain}; {areas_short} areas affected)"
                    ),
                    missing,
                    Some(wanted),
                );
            }
        }
        ctx.info(&format!("{} area profiles", rows.len()));
        let batch = to_batch(&rows)?;
        ctx.emit_batches("deprivation_profile", batch.schema(), vec![batch])
    }
}

fn share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part * 100.0 / whole)
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch, PluginError> {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    let schema = Arc::new(Schema::new(vec![
        s("area_code"),
        s("area_name"),
        s("geography_level"),
        Field::new("edition", DataType::Int16, false),
        s("domain"),
        i("lsoas"),
        i("lsoas_most_deprived_10pct"),
        i("lsoas_most_deprived_20pct"),
        f("population", false),
        f("pct_population_most_deprived_10pct", true),
        f("pct_population_most_deprived_20pct", true),
        s("summary"),
        Field::new("lsoa_vintage", DataType::Int16, true),
        Field::new("area_vintage", DataType::Int16, true),
        Field::new("lsoa_mapping", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.code.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.name.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.level.as_str()))),
        Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.edition))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.domain.as_str()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.s.lsoas))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.s.most_deprived_10))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.s.most_deprived_20))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.s.population))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| share(r.s.population_10, r.s.population)))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| share(r.s.population_20, r.s.population)))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| {
            format!(
                "{} out of {} neighbourhoods are among the 20% most deprived in England ({} among the 10% most deprived), home to {} of residents",
                r.s.most_deprived_20,
                r.s.lsoas,
                r.s.most_deprived_10,
                share(r.s.population_20, r.s.population)
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| "an unknown share".into())
            )
        }))),
        Arc::new(Int16Array::from_iter(rows.iter().map(|r| r.lsoa_vintage))),
        Arc::new(Int16Array::from_iter(rows.iter().map(|r| r.area_vintage))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.mapping))),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

eqpipe_plugin_sdk::export_plugin!(indicator: DeprivationProfile);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_population_shares_by_decile() {
        let st = |d: Option<u8>, p: f64| Standing {
            decile: d,
            population: Some(p),
        };
        let lsoas = [
            st(Some(1), 1500.0),
            st(Some(2), 1600.0),
            st(Some(2), 1400.0),
            st(Some(5), 1500.0),
            st(Some(10), 2000.0),
            st(None, 999.0),
        ];
        let s = summarise(&lsoas);
        assert_eq!((s.lsoas, s.most_deprived_10, s.most_deprived_20), (5, 1, 3));
        assert_eq!(s.population, 8000.0);
        assert_eq!(share(s.population_20, s.population), Some(56.25));
        assert_eq!(share(s.population_10, s.population), Some(18.75));
        assert_eq!(summarise(&[]), Summary::default());
    }
}
