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
//! (a ward with its local authority and region: rows with relation
//! `within`, never a best-fit successor on other boundaries), so one run
//! can profile the wards of several authorities, each against its own.
//!
//! Streaming, in bounded memory (a national output-area profile is about
//! 95 million Census cells): the first pass over `census_counts` keeps
//! each (area, table)'s total and the cells of comparator areas only; the
//! second reads the cells again in order and emits the profile in chunks
//! of 64K rows. Memory is about 500 bytes an area, whatever the cells.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::cast::AsArray;
use eqpipe_plugin_sdk::arrow_array::types::{Int32Type, Int64Type, UInt8Type};
use eqpipe_plugin_sdk::arrow_array::{
    DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray, UInt8Array,
};
use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::{Interner, TextColumn};
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

/// Rows emitted at a time.
const CHUNK: usize = 64 * 1024;

/// A table an area has no total row for.
const NO_TOTAL: i64 = i64::MIN;

/// What the first pass learns about the areas.
#[derive(Default)]
struct Areas {
    /// Area codes (the comparators' and the lookup's first, then as read).
    codes: Interner,
    /// By area: its name (a text id), if the area is in `census_counts`.
    name: Vec<Option<u32>>,
    /// By area, by table: the table's total for the area.
    totals: Vec<Vec<i64>>,
    /// By area: whether it may be a comparator (named in the options or a
    /// parent in the lookup), so its cells are kept.
    candidate: Vec<bool>,
}

impl Areas {
    fn add(&mut self, code: &str) -> u32 {
        let id = self.codes.intern(code);
        self.grow();
        id
    }

    /// Sizes the per-area vectors to the codes interned.
    fn grow(&mut self) {
        let n = self.codes.len();
        self.name.resize(n, None);
        self.totals.resize_with(n, Vec::new);
        self.candidate.resize(n, false);
    }

    /// An area's comparators: those named in the options, then its own
    /// parents with Census data, followed up the hierarchy (ward ->
    /// authority -> region -> country).
    fn comparators(&self, a: u32, named: &[u32], direct: &HashMap<u32, Vec<u32>>) -> Vec<u32> {
        let mut out: Vec<u32> = named
            .iter()
            .copied()
            .filter(|&c| c != a && self.present(c))
            .collect();
        let mut found: Vec<u32> = Vec::new();
        let mut frontier = vec![a];
        while let Some(x) = frontier.pop() {
            for &p in direct.get(&x).into_iter().flatten() {
                if !found.contains(&p) && p != a {
                    found.push(p);
                    frontier.push(p);
                }
            }
        }
        out.extend(
            found
                .into_iter()
                .filter(|&p| self.present(p) && !named.contains(&p)),
        );
        out
    }

    fn present(&self, a: u32) -> bool {
        self.name[a as usize].is_some()
    }

    fn total(&self, a: u32, t: u32) -> i64 {
        self.totals[a as usize]
            .get(t as usize)
            .copied()
            .unwrap_or(NO_TOTAL)
    }

    fn percent(&self, a: u32, t: u32, count: i64) -> Option<f64> {
        let total = self.total(a, t);
        (total > 0).then(|| count as f64 * 100.0 / total as f64)
    }
}

/// One batch of `census_counts`, as ids.
struct Cells {
    area: Vec<u32>,
    name: Vec<u32>,
    level: Vec<u32>,
    table: Vec<u32>,
    topic: Vec<u32>,
    label: Vec<u32>,
    category_level: Vec<u8>,
    count: Vec<i64>,
}

impl Cells {
    fn read(
        b: &RecordBatch,
        areas: &mut Areas,
        tables: &mut Interner,
        text: &mut Interner,
    ) -> Result<Self, PluginError> {
        let col = |n: &str| {
            b.column_by_name(n)
                .cloned()
                .ok_or_else(|| PluginError::data(format!("census_counts has no column `{n}`")))
        };
        let codes = col("area_code")?;
        let codes = TextColumn::new(codes.as_ref())?;
        let area = areas.codes.ids(&codes);
        areas.grow();
        let ids = |n: &str, into: &mut Interner| -> Result<Vec<u32>, PluginError> {
            let c = col(n)?;
            Ok(into.ids(&TextColumn::new(c.as_ref())?))
        };
        Ok(Cells {
            area,
            name: ids("area_name", text)?,
            level: ids("geography_level", text)?,
            table: ids("table_code", tables)?,
            topic: ids("topic", text)?,
            label: ids("category_label", text)?,
            category_level: col("category_level")?
                .as_primitive::<UInt8Type>()
                .values()
                .to_vec(),
            count: col("count")?.as_primitive::<Int64Type>().values().to_vec(),
        })
    }
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
        let mut areas = Areas::default();
        let mut tables = Interner::new();
        let mut text = Interner::new();
        let named: Vec<u32> = self
            .options
            .comparators
            .iter()
            .map(|c| areas.add(c))
            .collect();
        for &c in &named {
            areas.candidate[c as usize] = true;
        }
        // Each area's direct parents, from the lookup.
        let mut direct: HashMap<u32, Vec<u32>> = HashMap::new();
        if self.options.parents {
            for batch in ctx.open_input("geography_lookup")? {
                let b = batch?;
                let child = eqpipe_plugin_sdk::column(&b, "geography_lookup", "child_code")?;
                let parent = eqpipe_plugin_sdk::column(&b, "geography_lookup", "parent_code")?;
                let relation = eqpipe_plugin_sdk::column(&b, "geography_lookup", "relation")?;
                let (child, parent, relation) = (
                    TextColumn::new(child.as_ref())?,
                    TextColumn::new(parent.as_ref())?,
                    TextColumn::new(relation.as_ref())?,
                );
                for i in 0..b.num_rows() {
                    // A best-fit successor on other boundaries is not a
                    // containing area to compare with.
                    if relation.get(i) != "within" {
                        continue;
                    }
                    let (c, p) = (areas.add(child.get(i)), areas.add(parent.get(i)));
                    areas.candidate[p as usize] = true;
                    let e = direct.entry(c).or_default();
                    if !e.contains(&p) {
                        e.push(p);
                    }
                }
            }
        }

        // First pass: names, totals, and the comparator candidates' cells.
        let mut candidate_counts: HashMap<(u32, u32, u32), i64> = HashMap::new();
        for batch in ctx.open_input("census_counts")? {
            ctx.check_cancelled()?;
            let cells = Cells::read(&batch?, &mut areas, &mut tables, &mut text)?;
            for i in 0..cells.area.len() {
                let (a, t) = (cells.area[i], cells.table[i]);
                areas.name[a as usize].get_or_insert(cells.name[i]);
                if cells.category_level[i] == 0 {
                    let row = &mut areas.totals[a as usize];
                    if row.len() <= t as usize {
                        row.resize(t as usize + 1, NO_TOTAL);
                    }
                    row[t as usize] = cells.count[i];
                } else if areas.candidate[a as usize] {
                    candidate_counts.insert((a, t, cells.label[i]), cells.count[i]);
                }
            }
        }
        let absent: Vec<&String> = self
            .options
            .comparators
            .iter()
            .zip(&named)
            .filter(|(_, id)| !areas.present(**id))
            .map(|(c, _)| c)
            .collect();
        if !absent.is_empty() {
            ctx.coverage_warning(
                Some("community_profile"),
                &format!(
                    "comparator areas not in census_counts, so not compared with ({}; load their geography level)",
                    absent.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
                absent.len() as u64,
                Some(self.options.comparators.len() as u64),
            );
        }
        let comparator_percent: HashMap<(u32, u32, u32), Option<f64>> = candidate_counts
            .into_iter()
            .map(|((a, t, l), n)| ((a, t, l), areas.percent(a, t, n)))
            .collect();
        let levels: HashSet<&str> = self.options.levels.iter().map(String::as_str).collect();
        // Whether a level (by text id) is profiled, worked out once per level.
        let mut level_wanted: Vec<Option<bool>> = Vec::new();
        // Each area's comparators, worked out when first needed.
        let mut comparators_of: Vec<Option<Box<[u32]>>> = Vec::new();
        // Second pass: every cell again, in order, emitted in chunks.
        let mut out = Chunk::default();
        let mut rows = 0u64;
        for batch in ctx.open_input("census_counts")? {
            ctx.check_cancelled()?;
            let cells = Cells::read(&batch?, &mut areas, &mut tables, &mut text)?;
            for i in 0..cells.area.len() {
                let level = cells.level[i] as usize;
                if level_wanted.len() <= level {
                    level_wanted.resize(level + 1, None);
                }
                let wanted = *level_wanted[level].get_or_insert_with(|| {
                    levels.is_empty() || levels.contains(text.get(cells.level[i]))
                });
                if cells.category_level[i] == 0 || !wanted {
                    continue;
                }
                let (a, t, l) = (cells.area[i], cells.table[i], cells.label[i]);
                let total = areas.total(a, t);
                let p = areas.percent(a, t, cells.count[i]);
                let cell = Row {
                    area: a,
                    name: cells.name[i],
                    level: cells.level[i],
                    table: t,
                    topic: cells.topic[i],
                    label: l,
                    category_level: cells.category_level[i],
                    count: cells.count[i],
                    total: if total == NO_TOTAL { 0 } else { total },
                    percent: p,
                };
                if comparators_of.len() <= a as usize {
                    comparators_of.resize(areas.name.len(), None);
                }
                let others = comparators_of[a as usize].get_or_insert_with(|| {
                    areas.comparators(a, &named, &direct).into_boxed_slice()
                });
                if others.is_empty() {
                    out.push(&cell, None);
                }
                for &c in others.iter() {
                    let cp = comparator_percent.get(&(c, t, l)).copied().flatten();
                    out.push(&cell, Some((c, areas.name[c as usize], cp)));
                }
                if out.len() >= CHUNK {
                    rows += out.len() as u64;
                    let b = std::mem::take(&mut out).finish(&areas.codes, &tables, &text)?;
                    ctx.emit_batches("community_profile", b.schema(), vec![b])?;
                }
            }
        }
        rows += out.len() as u64;
        let b = out.finish(&areas.codes, &tables, &text)?;
        ctx.emit_batches("community_profile", b.schema(), vec![b])?;
        let profiled = (0..areas.name.len() as u32)
            .filter(|&a| areas.present(a))
            .count();
        ctx.info(&format!("{rows} profile rows for {profiled} areas"));
        Ok(())
    }
}

/// One profile row before its comparator.
struct Row {
    area: u32,
    name: u32,
    level: u32,
    table: u32,
    topic: u32,
    label: u32,
    category_level: u8,
    count: i64,
    total: i64,
    percent: Option<f64>,
}

/// A dictionary-encoded text column being built from interned ids: each
/// chunk's dictionary holds only the values the chunk uses.
#[derive(Default)]
struct DictColumn {
    /// Id -> key in this chunk (+1; 0: not used yet).
    local: Vec<i32>,
    used: Vec<u32>,
    keys: Vec<Option<i32>>,
}

impl DictColumn {
    fn push(&mut self, id: Option<u32>) {
        let key = id.map(|id| {
            let i = id as usize;
            if i >= self.local.len() {
                self.local.resize(i + 1, 0);
            }
            if self.local[i] == 0 {
                self.used.push(id);
                self.local[i] = self.used.len() as i32;
            }
            self.local[i] - 1
        });
        self.keys.push(key);
    }

    fn finish(self, values: &Interner) -> Result<ArrayRef, PluginError> {
        let values = StringArray::from_iter_values(self.used.iter().map(|&id| values.get(id)));
        let keys = Int32Array::from(self.keys);
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys,
            Arc::new(values),
        )?))
    }
}

#[derive(Default)]
struct Chunk {
    area_code: DictColumn,
    area_name: DictColumn,
    level: DictColumn,
    table: DictColumn,
    topic: DictColumn,
    label: DictColumn,
    category_level: Vec<u8>,
    count: Vec<i64>,
    total: Vec<i64>,
    percent: Vec<Option<f64>>,
    comparator_code: DictColumn,
    comparator_name: DictColumn,
    comparator_percent: Vec<Option<f64>>,
    difference: Vec<Option<f64>>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.count.len()
    }

    /// Adds `row` against a comparator (its area, name and percent).
    fn push(&mut self, row: &Row, comparator: Option<(u32, Option<u32>, Option<f64>)>) {
        self.area_code.push(Some(row.area));
        self.area_name.push(Some(row.name));
        self.level.push(Some(row.level));
        self.table.push(Some(row.table));
        self.topic.push(Some(row.topic));
        self.label.push(Some(row.label));
        self.category_level.push(row.category_level);
        self.count.push(row.count);
        self.total.push(row.total);
        self.percent.push(row.percent);
        self.comparator_code.push(comparator.map(|c| c.0));
        self.comparator_name.push(comparator.and_then(|c| c.1));
        let cp = comparator.and_then(|c| c.2);
        self.comparator_percent.push(cp);
        self.difference.push(match (row.percent, cp) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        });
    }

    fn finish(
        self,
        codes: &Interner,
        tables: &Interner,
        text: &Interner,
    ) -> Result<RecordBatch, PluginError> {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let s = |n: &str, null: bool| Field::new(n, dict.clone(), null);
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
            self.area_code.finish(codes)?,
            self.area_name.finish(text)?,
            self.level.finish(text)?,
            self.table.finish(tables)?,
            self.topic.finish(text)?,
            self.label.finish(text)?,
            Arc::new(UInt8Array::from(self.category_level)),
            Arc::new(Int64Array::from(self.count)),
            Arc::new(Int64Array::from(self.total)),
            Arc::new(Float64Array::from(self.percent)),
            self.comparator_code.finish(codes)?,
            self.comparator_name.finish(text)?,
            Arc::new(Float64Array::from(self.comparator_percent)),
            Arc::new(Float64Array::from(self.difference)),
        ];
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: CommunityProfile);
