//! `ons-api`: custom (multivariate) Census 2021 datasets from the ONS beta
//! API's `census-observations` endpoint, e.g. ethnic group by age by ward,
//! into the long `census_counts` dataset, so profiles can show
//! intersections.
//!
//! The query is `<base_url>/population-types/<population_type>/census-observations
//! ?area-type=<area_type>[,<area>…]&dimensions=<d1>,<d2>…`, paged with `limit`
//! and `offset` until `total_observations`. Each observation lists its
//! dimensions (`dimension`, `dimension_id`, `option`, `option_id`); the first
//! is the area. One row per area and cell: `category_label` joins the
//! options (`Asian, Asian British or Asian Welsh; Aged 15 years and under`),
//! `topic` joins the dimension names, `table_code` is
//! `<population_type>/<dimensions>`.
//!
//! The API publishes no totals, so the plugin adds, per area, a level-0
//! `Total` row that is the **sum of the cells** (ONS perturbs cells, so it
//! can differ slightly from a published total).
//!
//! Source: Office for National Statistics, Census 2021, Open Government
//! Licence v3.0.

use std::collections::BTreeMap;
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{Int16Array, Int64Array, StringArray, UInt8Array};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::serde_json::Value;
use serde::Deserialize;

/// The ONS beta API root.
pub const DEFAULT_BASE_URL: &str = "https://api.beta.ons.gov.uk/v1";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_population_type() -> String {
    "UR".to_string()
}
fn default_page_size() -> u64 {
    50_000
}
fn default_max_pages() -> u64 {
    1000
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// API root (default the ONS beta API).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Population type: `UR` usual residents (default), `HH` households, …
    #[serde(default = "default_population_type")]
    pub population_type: String,
    /// Area type: `nat`, `ctry`, `rgn`, `utla`, `ltla`, `wd`, `msoa`, `lsoa`, `oa`.
    pub area_type: String,
    /// Area codes to keep (empty: every area of the type).
    #[serde(default)]
    pub areas: Vec<String>,
    /// Dimension ids, e.g. `["ethnic_group_tb_6a", "resident_age_3a"]`.
    #[schemars(length(min = 1))]
    pub dimensions: Vec<String>,
    /// Observations per request.
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// Stop after this many requests.
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
}

/// The plugin.
pub struct OnsApi {
    options: Options,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One area's cells, in the order the API sent them.
#[derive(Default)]
struct AreaCells {
    name: String,
    cells: Vec<(String, i64)>,
}

impl SourcePlugin for OnsApi {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("ons-api", env!("CARGO_PKG_VERSION"))
            .description("Custom multivariate Census 2021 datasets from the ONS beta API, as long-form counts")
            .licence("Open Government Licence v3.0; Source: Office for National Statistics (Census 2021)")
            .produces("census_counts")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        for d in options
            .dimensions
            .iter()
            .chain([&options.area_type, &options.population_type])
        {
            if !valid_id(d) {
                return Err(PluginError::config(format!(
                    "`{d}` is not an ONS API identifier"
                )));
            }
        }
        if options.dimensions.is_empty() {
            return Err(PluginError::config(
                "`dimensions` is empty: name at least one, e.g. [\"ethnic_group_tb_6a\"]",
            ));
        }
        if options.page_size == 0 {
            return Err(PluginError::config("page_size must be at least 1"));
        }
        Ok(OnsApi { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let o = &self.options;
        let mut area = o.area_type.clone();
        for a in &o.areas {
            area.push(',');
            area.push_str(a.trim());
        }
        let base = format!(
            "{}/population-types/{}/census-observations?area-type={}&dimensions={}",
            o.base_url.trim_end_matches('/'),
            o.population_type,
            area,
            o.dimensions.join(",")
        );
        let mut areas: BTreeMap<String, AreaCells> = BTreeMap::new();
        let mut topic = String::new();
        let mut seen: u64 = 0;
        let mut total: Option<u64> = None;
        let mut pages = 0;
        loop {
            if pages == o.max_pages {
                return Err(PluginError::data(format!(
                    "still more observations after max_pages = {} requests; raise max_pages or narrow the query",
                    o.max_pages
                )));
            }
            ctx.check_cancelled()?;
            let url = format!("{base}&limit={}&offset={seen}", o.page_size);
            let got = ctx.fetch_url(&url)?;
            pages += 1;
            let text = std::fs::read_to_string(&got.path)?;
            let doc: Value = eqpipe_plugin_sdk::serde_json::from_str(&text)
                .map_err(|e| PluginError::data(format!("{}: not JSON: {e}", got.url)))?;
            let obs = doc
                .get("observations")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    PluginError::data(format!("{}: no `observations` list in the answer", got.url))
                })?;
            if total.is_none() {
                total = doc.get("total_observations").and_then(Value::as_u64);
            }
            for (i, ob) in obs.iter().enumerate() {
                let at = || format!("{}, observation {}", got.url, seen + i as u64 + 1);
                let dims = ob
                    .get("dimensions")
                    .and_then(Value::as_array)
                    .filter(|d| d.len() >= 2)
                    .ok_or_else(|| {
                        PluginError::data(format!(
                            "{}: expected the area and at least one dimension",
                            at()
                        ))
                    })?;
                let field = |d: &Value, k: &str| -> Result<String, PluginError> {
                    d.get(k)
                        .and_then(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .or_else(|| v.as_i64().map(|n| n.to_string()))
                        })
                        .ok_or_else(|| {
                            PluginError::data(format!("{}: a dimension has no `{k}`", at()))
                        })
                };
                let code = field(&dims[0], "option_id")?;
                let name = field(&dims[0], "option")?;
                let count = ob
                    .get("observation")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        PluginError::data(format!("{}: `observation` is not a whole number", at()))
                    })?;
                let label = dims[1..]
                    .iter()
                    .map(|d| field(d, "option"))
                    .collect::<Result<Vec<_>, _>>()?
                    .join("; ");
                if topic.is_empty() {
                    topic = dims[1..]
                        .iter()
                        .map(|d| field(d, "dimension").or_else(|_| field(d, "dimension_id")))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(" by ");
                }
                let entry = areas.entry(code).or_default();
                entry.name = name;
                entry.cells.push((label, count));
            }
            seen += obs.len() as u64;
            ctx.progress(seen, total.unwrap_or(0), "observations");
            let done = match total {
                Some(t) => seen >= t,
                None => (obs.len() as u64) < o.page_size,
            };
            if obs.is_empty() || done {
                break;
            }
        }
        if let Some(t) = total
            && seen != t
        {
            return Err(PluginError::data(format!(
                "the API reported {t} observations but sent {seen}"
            )));
        }
        let table = format!("{}/{}", o.population_type, o.dimensions.join(","));
        let unit = if o.population_type.eq_ignore_ascii_case("HH") {
            "households"
        } else {
            "persons"
        };
        emit(ctx, &areas, &o.area_type, &table, &topic, unit)?;
        ctx.info(&format!(
            "{table}: {seen} observations for {} areas",
            areas.len()
        ));
        Ok(())
    }
}

fn emit(
    ctx: &Context,
    areas: &BTreeMap<String, AreaCells>,
    level: &str,
    table: &str,
    topic: &str,
    unit: &str,
) -> Result<(), PluginError> {
    let mut code = Vec::new();
    let mut name = Vec::new();
    let mut label = Vec::new();
    let mut parent: Vec<Option<&str>> = Vec::new();
    let mut clevel = Vec::new();
    let mut count = Vec::new();
    for (c, a) in areas {
        let sum: i64 = a.cells.iter().map(|(_, n)| n).sum();
        code.push(c.as_str());
        name.push(a.name.as_str());
        label.push("Total");
        parent.push(None);
        clevel.push(0u8);
        count.push(sum);
        for (l, n) in &a.cells {
            code.push(c.as_str());
            name.push(a.name.as_str());
            label.push(l.as_str());
            parent.push(Some("Total"));
            clevel.push(1u8);
            count.push(*n);
        }
    }
    let n = code.len();
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let schema = Arc::new(Schema::new(vec![
        s("area_code", false),
        s("area_name", false),
        s("geography_level", false),
        Field::new("census_year", DataType::Int16, false),
        s("table_code", false),
        s("topic", false),
        s("category_label", false),
        Field::new("category_level", DataType::UInt8, false),
        s("parent_label", true),
        s("unit", false),
        Field::new("count", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(code)),
            Arc::new(StringArray::from(name)),
            Arc::new(StringArray::from(vec![level; n])),
            Arc::new(Int16Array::from(vec![2021i16; n])),
            Arc::new(StringArray::from(vec![table; n])),
            Arc::new(StringArray::from(vec![topic; n])),
            Arc::new(StringArray::from(label)),
            Arc::new(UInt8Array::from(clevel)),
            Arc::new(StringArray::from(parent)),
            Arc::new(StringArray::from(vec![unit; n])),
            Arc::new(Int64Array::from(count)),
        ],
    )?;
    ctx.emit_batches("census_counts", schema, vec![batch])
}

eqpipe_plugin_sdk::export_plugin!(source: OnsApi);
