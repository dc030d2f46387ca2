//! `community-profile`: each area's share of residents (or households) in
//! every Census category it has loaded, against comparator areas.
//!
//! percent = count / total × 100, where total is the same table's own total
//! for the same area (ONS perturbs counts, so totals differ slightly between
//! tables; each table's own total is the right denominator). For each
//! comparator area named in the options (e.g. the local authority and
//! England and Wales), the comparator's percent in the same category and the
//! difference in percentage points. With `parents` (the default), each
//! area is also compared with its own parent areas from `geography_lookup`
//! (a ward with its local authority and region), so one run can profile
//! the wards of several authorities, each against its own.

use std::collections::HashMap;
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::cast::AsArray;
use eqpipe_plugin_sdk::arrow_array::types::{Int64Type, UInt8Type};
use eqpipe_plugin_sdk::arrow_array::{Float64Array, Int64Array, StringArray, UInt8Array};
use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[indicators.options]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Area codes to compare every area with (e.g. the local authority and
    /// `K04000001`, England and Wales). They must be loaded by a source.
    #[serde(default)]
    pub comparators: Vec<String>,
    /// Only profile areas at these geography levels (empty: all).
    #[serde(default)]
    pub levels: Vec<String>,
    /// Also compare each area with its own parents (local authority,
    /// region, country) found in `geography_lookup`, when loaded (default
    /// true). Each parent must be in `census_counts` too.
    #[serde(default = "yes")]
    pub parents: bool,
}

fn yes() -> bool {
    true
}

/// The plugin.
pub struct CommunityProfile {
    options: Options,
}

#[derive(Clone)]
struct Cell {
    area_name: String,
    level: String,
    topic: String,
    category_level: u8,
    count: i64,
}

impl IndicatorPlugin for CommunityProfile {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("community-profile", env!("CARGO_PKG_VERSION"))
            .description("Area profiles from Census counts: percent in each category against comparator areas")
            .consumes("census_counts")
            .consumes_optional("geography_lookup")
            .produces("community_profile")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(CommunityProfile { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // (area, table, category) -> cell; (area, table) -> total.
        let mut cells: Vec<((String, String, String), Cell)> = Vec::new();
        let mut totals: HashMap<(String, String), i64> = HashMap::new();
        let mut pct: HashMap<(String, String, String), Option<f64>> = HashMap::new();
        let mut names: HashMap<String, String> = HashMap::new();
        for batch in ctx.open_input("census_counts")? {
            ctx.check_cancelled()?;
            let b = batch?;
            let col = |n: &str| {
                b.column_by_name(n)
                    .cloned()
                    .ok_or_else(|| PluginError::data(format!("census_counts has no column `{n}`")))
            };
            let (code, name, level, table, topic, label, clevel, count) = (
                col("area_code")?,
                col("area_name")?,
                col("geography_level")?,
                col("table_code")?,
                col("topic")?,
                col("category_label")?,
                col("category_level")?,
                col("count")?,
            );
            let clevel = clevel.as_primitive::<UInt8Type>();
            let count = count.as_primitive::<Int64Type>();
            use eqpipe_plugin_sdk::TextColumn;
            let (code, name, level, table, topic, label) = (
                TextColumn::new(code.as_ref())?,
                TextColumn::new(name.as_ref())?,
                TextColumn::new(level.as_ref())?,
                TextColumn::new(table.as_ref())?,
                TextColumn::new(topic.as_ref())?,
                TextColumn::new(label.as_ref())?,
            );
            for i in 0..b.num_rows() {
                let code = code.get(i).to_string();
                let table = table.get(i).to_string();
                let area_name = name.get(i).to_string();
                names
                    .entry(code.clone())
                    .or_insert_with(|| area_name.clone());
                if clevel.value(i) == 0 {
                    totals.insert((code, table), count.value(i));
                    continue;
                }
                let key = (code, table, label.get(i).to_string());
                cells.push((
                    key,
                    Cell {
                        area_name,
                        level: level.get(i).to_string(),
                        topic: topic.get(i).to_string(),
                        category_level: clevel.value(i),
                        count: count.value(i),
                    },
                ));
            }
        }
        for c in &self.options.comparators {
            if !names.contains_key(c) {
                ctx.warn(&format!(
                    "comparator area {c} is not in census_counts; load its geography level to compare with it"
                ));
            }
        }
        for ((area, table, label), cell) in &cells {
            let p = totals
                .get(&(area.clone(), table.clone()))
                .filter(|t| **t > 0)
                .map(|t| cell.count as f64 * 100.0 / *t as f64);
            pct.insert((area.clone(), table.clone(), label.clone()), p);
        }
        let comparators: Vec<&String> = self
            .options
            .comparators
            .iter()
            .filter(|c| names.contains_key(*c))
            .collect();
        // Each area's parents with Census data: child -> parents, followed
        // up the hierarchy (ward -> authority -> region -> country).
        let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
        if self.options.parents {
            let mut direct: HashMap<String, Vec<String>> = HashMap::new();
            for batch in ctx.open_input("geography_lookup")? {
                let b = batch?;
                let child = eqpipe_plugin_sdk::text_values(
                    eqpipe_plugin_sdk::column(&b, "geography_lookup", "child_code")?.as_ref(),
                )?;
                let parent = eqpipe_plugin_sdk::text_values(
                    eqpipe_plugin_sdk::column(&b, "geography_lookup", "parent_code")?.as_ref(),
                )?;
                for (c, p) in child.into_iter().zip(parent) {
                    let e = direct.entry(c).or_default();
                    if !e.contains(&p) {
                        e.push(p);
                    }
                }
            }
            for area in names.keys() {
                let mut found: Vec<String> = Vec::new();
                let mut frontier = vec![area.clone()];
                while let Some(a) = frontier.pop() {
                    for p in direct.get(&a).into_iter().flatten() {
                        if !found.contains(p) && p != area {
                            found.push(p.clone());
                            frontier.push(p.clone());
                        }
                    }
                }
                found.retain(|p| names.contains_key(p) && !self.options.comparators.contains(p));
                if !found.is_empty() {
                    parents_of.insert(area.clone(), found);
                }
            }
        }

        let mut out = Columns::default();
        for ((area, table, label), cell) in &cells {
            if !self.options.levels.is_empty() && !self.options.levels.contains(&cell.level) {
                continue;
            }
            let total = totals
                .get(&(area.clone(), table.clone()))
                .copied()
                .unwrap_or(0);
            let p = pct[&(area.clone(), table.clone(), label.clone())];
            let own = parents_of.get(area.as_str());
            let mut others: Vec<&String> =
                comparators.iter().copied().filter(|c| *c != area).collect();
            others.extend(own.into_iter().flatten());
            if others.is_empty() {
                out.push(area, cell, table, label, total, p, None, None, None);
            }
            for c in others {
                let cp = pct
                    .get(&((*c).clone(), table.clone(), label.clone()))
                    .copied()
                    .flatten();
                out.push(
                    area,
                    cell,
                    table,
                    label,
                    total,
                    p,
                    Some(c.as_str()),
                    names.get(c.as_str()).map(String::as_str),
                    cp,
                );
            }
        }
        ctx.info(&format!(
            "{} profile rows for {} areas",
            out.area_code.len(),
            names.len()
        ));
        let batch = out.finish()?;
        ctx.emit_batches("community_profile", batch.schema(), vec![batch])
    }
}

#[derive(Default)]
struct Columns {
    area_code: Vec<String>,
    area_name: Vec<String>,
    level: Vec<String>,
    table: Vec<String>,
    topic: Vec<String>,
    label: Vec<String>,
    category_level: Vec<u8>,
    count: Vec<i64>,
    total: Vec<i64>,
    percent: Vec<Option<f64>>,
    comparator_code: Vec<Option<String>>,
    comparator_name: Vec<Option<String>>,
    comparator_percent: Vec<Option<f64>>,
    difference: Vec<Option<f64>>,
}

impl Columns {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        area: &str,
        cell: &Cell,
        table: &str,
        label: &str,
        total: i64,
        percent: Option<f64>,
        comparator: Option<&str>,
        comparator_name: Option<&str>,
        comparator_percent: Option<f64>,
    ) {
        self.area_code.push(area.to_string());
        self.area_name.push(cell.area_name.clone());
        self.level.push(cell.level.clone());
        self.table.push(table.to_string());
        self.topic.push(cell.topic.clone());
        self.label.push(label.to_string());
        self.category_level.push(cell.category_level);
        self.count.push(cell.count);
        self.total.push(total);
        self.percent.push(percent);
        self.comparator_code.push(comparator.map(str::to_string));
        self.comparator_name
            .push(comparator_name.map(str::to_string));
        self.comparator_percent.push(comparator_percent);
        self.difference.push(match (percent, comparator_percent) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        });
    }

    fn finish(self) -> Result<RecordBatch, PluginError> {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let schema = Arc::new(Schema::new(vec![
            s("area_code", false),
            s("area_name", false),
            s("geography_level", false),
            s("table_code", false),
            s("topic", false),
            s("category_label", false),
            Field::new("category_level", DataType::UInt8, false),
            Field::new("count", DataType::Int64, false),
            Field::new("total", DataType::Int64, false),
            Field::new("percent", DataType::Float64, true),
            s("comparator_code", true),
            s("comparator_name", true),
            Field::new("comparator_percent", DataType::Float64, true),
            Field::new("difference_pp", DataType::Float64, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.area_code)),
            Arc::new(StringArray::from(self.area_name)),
            Arc::new(StringArray::from(self.level)),
            Arc::new(StringArray::from(self.table)),
            Arc::new(StringArray::from(self.topic)),
            Arc::new(StringArray::from(self.label)),
            Arc::new(UInt8Array::from(self.category_level)),
            Arc::new(Int64Array::from(self.count)),
            Arc::new(Int64Array::from(self.total)),
            Arc::new(Float64Array::from(self.percent)),
            Arc::new(StringArray::from(self.comparator_code)),
            Arc::new(StringArray::from(self.comparator_name)),
            Arc::new(Float64Array::from(self.comparator_percent)),
            Arc::new(Float64Array::from(self.difference)),
        ];
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: CommunityProfile);
