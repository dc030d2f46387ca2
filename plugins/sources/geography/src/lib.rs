//! `geography`: ONS Open Geography lookups (OA → LSOA → MSOA → ward → local
//! authority, and LSOA 2011 → LSOA 2021) into the long `geography_lookup`
//! dataset: one row per (child area, parent area) pair.
//!
//! Any ONS lookup CSV works: its columns are named `<TYPE><YY>CD` (code),
//! `<TYPE><YY>NM` (name) and `<TYPE><YY>NMW` (Welsh name), e.g. `LSOA21CD`,
//! `LAD22NM`; `CHGIND` (or `CHNGIND`) is a change indicator. For every pair of code
//! columns, the finer geography is the child: "within" the coarser one, or,
//! for the same type in two vintages (LSOA11 → LSOA21), its "best_fit"
//! successor. Pairs are deduplicated (an OA-level file repeats each LSOA →
//! LAD pair for every OA).
//!
//! Source: Office for National Statistics, Open Geography Portal, licensed
//! under the Open Government Licence v3.0.

use std::collections::HashSet;
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{Int16Array, StringArray, UInt64Array};
use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// ONS lookup CSV files (URLs or paths).
    #[schemars(length(min = 1))]
    pub lookups: Vec<String>,
}

/// The plugin.
pub struct Geography {
    options: Options,
}

/// A geography type's level name and fineness (smaller is finer).
pub fn level_of(prefix: &str) -> Option<(&'static str, u8)> {
    Some(match prefix {
        "OA" => ("oa", 1),
        "LSOA" => ("lsoa", 2),
        "MSOA" => ("msoa", 3),
        "WD" => ("wd", 4),
        "LAD" | "LTLA" => ("ltla", 5),
        "UTLA" | "CTYUA" | "CTY" => ("utla", 6),
        "RGN" => ("rgn", 7),
        "CTRY" => ("ctry", 8),
        _ => return None,
    })
}

/// One geography in a lookup file: its code column, optional name column,
/// level, fineness and vintage (two-digit year → 20YY).
#[derive(Debug, Clone, PartialEq)]
pub struct GeoColumn {
    /// Index of the `CD` column.
    pub code: usize,
    /// Index of the `NM` column, if present.
    pub name: Option<usize>,
    /// Level name.
    pub level: &'static str,
    /// Fineness (smaller is finer).
    pub rank: u8,
    /// Vintage year.
    pub vintage: i16,
}

/// Finds the geographies in a lookup header. Errors name what is missing.
pub fn parse_header(header: &[String]) -> Result<(Vec<GeoColumn>, Option<usize>), String> {
    let clean: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_uppercase())
        .collect();
    let split = |h: &str, suffix: &str| -> Option<(String, i16)> {
        let stem = h.strip_suffix(suffix)?;
        let digits = stem.len().checked_sub(2)?;
        let (prefix, yy) = stem.split_at(digits);
        if prefix.is_empty() || !yy.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((prefix.to_string(), 2000 + yy.parse::<i16>().ok()?))
    };
    let mut cols = Vec::new();
    for (i, h) in clean.iter().enumerate() {
        if let Some((prefix, vintage)) = split(h, "CD")
            && let Some((level, rank)) = level_of(&prefix)
        {
            let name = clean
                .iter()
                .position(|n| split(n, "NM") == Some((prefix.clone(), vintage)));
            cols.push(GeoColumn {
                code: i,
                name,
                level,
                rank,
                vintage,
            });
        }
    }
    if cols.len() < 2 {
        return Err(format!(
            "expected at least two geography code columns such as LSOA21CD and LAD22CD; found {}",
            header.join(", ")
        ));
    }
    let chgind = clean.iter().position(|h| h == "CHGIND" || h == "CHNGIND");
    Ok((cols, chgind))
}

/// The pairs of columns a file relates: (child, parent, relation).
pub fn pairs(cols: &[GeoColumn]) -> Vec<(usize, usize, &'static str)> {
    let mut out = Vec::new();
    for (a, ca) in cols.iter().enumerate() {
        for (b, cb) in cols.iter().enumerate() {
            if a == b {
                continue;
            }
            if ca.rank < cb.rank {
                out.push((a, b, "within"));
            } else if ca.rank == cb.rank && ca.vintage < cb.vintage {
                out.push((a, b, "best_fit"));
            }
        }
    }
    out
}

impl SourcePlugin for Geography {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("geography", env!("CARGO_PKG_VERSION"))
            .description("ONS Open Geography lookups as child → parent area pairs")
            .licence("Open Government Licence v3.0; Source: Office for National Statistics (Open Geography Portal)")
            .produces("geography_lookup")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.lookups.is_empty() {
            return Err(PluginError::config(
                "`lookups` is empty: name at least one ONS lookup CSV",
            ));
        }
        Ok(Geography { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        for url in &self.options.lookups {
            ctx.check_cancelled()?;
            let got = ctx.fetch_url(url)?;
            let file = url.rsplit('/').next().unwrap_or(url).to_string();
            let n = convert(ctx, &got.path, &file)?;
            ctx.info(&format!("{file}: {n} area pairs"));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Out {
    child: [Vec<Option<String>>; 2],
    child_level: Vec<&'static str>,
    child_vintage: Vec<i16>,
    parent: [Vec<Option<String>>; 2],
    parent_level: Vec<&'static str>,
    parent_vintage: Vec<i16>,
    relation: Vec<&'static str>,
    change: Vec<Option<String>>,
    line: Vec<u64>,
}

impl Out {
    fn len(&self) -> usize {
        self.line.len()
    }

    fn batch(&mut self, file: &str) -> Result<RecordBatch, PluginError> {
        let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let consts = |v: &[&'static str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        let taken = std::mem::take(self);
        let n = taken.line.len();
        let [cc, cn] = taken.child;
        let [pc, pn] = taken.parent;
        let columns: Vec<ArrayRef> = vec![
            text(cc),
            text(cn),
            consts(&taken.child_level),
            Arc::new(Int16Array::from(taken.child_vintage)),
            text(pc),
            text(pn),
            consts(&taken.parent_level),
            Arc::new(Int16Array::from(taken.parent_vintage)),
            consts(&taken.relation),
            text(taken.change),
            Arc::new(StringArray::from(vec![file.to_string(); n])),
            Arc::new(StringArray::from(vec![file.to_string(); n])),
            Arc::new(UInt64Array::from(taken.line)),
        ];
        let names = [
            "child_code",
            "child_name",
            "child_level",
            "child_vintage",
            "parent_code",
            "parent_name",
            "parent_level",
            "parent_vintage",
            "relation",
            "change_indicator",
            "lookup_file",
            SOURCE_FILE_COLUMN,
            SOURCE_ROW_COLUMN,
        ];
        let fields: Vec<Field> = names
            .iter()
            .zip(&columns)
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect();
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

fn convert(ctx: &Context, path: &str, file: &str) -> Result<u64, PluginError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| PluginError::io(format!("{file}: {e}")))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| PluginError::data(format!("{file}: cannot read the header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let (cols, chgind) =
        parse_header(&header).map_err(|e| PluginError::data(format!("{file}: {e}")))?;
    let pairs = pairs(&cols);
    let mut seen: HashSet<(usize, String, String)> = HashSet::new();
    let mut out = Out::default();
    let mut total = 0u64;
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| PluginError::data(format!("{file}, row {line}: {e}")))?;
        let get = |idx: usize| {
            rec.get(idx)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        for (k, &(a, b, relation)) in pairs.iter().enumerate() {
            let (ca, cb) = (&cols[a], &cols[b]);
            let (Some(child), Some(parent)) = (get(ca.code), get(cb.code)) else {
                continue;
            };
            if !seen.insert((k, child.clone(), parent.clone())) {
                continue;
            }
            out.child[0].push(Some(child));
            out.child[1].push(ca.name.and_then(get));
            out.child_level.push(ca.level);
            out.child_vintage.push(ca.vintage);
            out.parent[0].push(Some(parent));
            out.parent[1].push(cb.name.and_then(get));
            out.parent_level.push(cb.level);
            out.parent_vintage.push(cb.vintage);
            out.relation.push(relation);
            out.change.push(if relation == "best_fit" {
                chgind.and_then(get)
            } else {
                None
            });
            out.line.push(line);
        }
        if out.len() >= 65_536 {
            ctx.check_cancelled()?;
            total += out.len() as u64;
            let b = out.batch(file)?;
            ctx.emit_batches("geography_lookup", b.schema(), vec![b])?;
        }
    }
    if out.len() > 0 {
        total += out.len() as u64;
        let b = out.batch(file)?;
        ctx.emit_batches("geography_lookup", b.schema(), vec![b])?;
    }
    Ok(total)
}

eqpipe_plugin_sdk::export_plugin!(source: Geography);

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_levels_and_pairs_are_found_from_the_header() {
        let (cols, chg) = parse_header(&h(&[
            "\u{feff}ObjectId",
            "LSOA11CD",
            "LSOA11NM",
            "LSOA21CD",
            "LSOA21NM",
            "CHGIND",
            "LAD22CD",
            "LAD22NM",
            "LAD22NMW",
        ]))
        .unwrap();
        assert_eq!(chg, Some(5));
        let summary: Vec<(&str, i16, Option<usize>)> =
            cols.iter().map(|c| (c.level, c.vintage, c.name)).collect();
        assert_eq!(
            summary,
            vec![
                ("lsoa", 2011, Some(2)),
                ("lsoa", 2021, Some(4)),
                ("ltla", 2022, Some(7))
            ]
        );
        let p = pairs(&cols);
        assert_eq!(
            p,
            vec![(0, 1, "best_fit"), (0, 2, "within"), (1, 2, "within")]
        );
    }

    #[test]
    fn a_file_that_is_not_a_lookup_is_explained() {
        let e = parse_header(&h(&["date", "geography", "geography code"])).unwrap_err();
        assert!(e.contains("LSOA21CD"), "{e}");
    }
}
