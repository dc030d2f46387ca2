//! `deprivation`: the English Indices of Deprivation, from the published
//! "scores, ranks, deciles and population denominators" CSV (IoD2019 on
//! 2011 LSOAs, IoD2025 on 2021 LSOAs), into the long `deprivation` dataset:
//! one row per LSOA and domain.
//!
//! Columns are recognised by their published wording, not by position:
//! `<Domain> Score…`, `<Domain> Rank (where 1 is most deprived)`, `<Domain>
//! Decile (where 1 is most deprived 10% of LSOAs)`, `LSOA code (2011)`,
//! `Local Authority District code (2019)`, `Total population: mid 2015
//! (excluding prisoners)`. The LSOA boundary year comes from the LSOA code
//! column's label and the edition from the option or from that year.
//!
//! Several files of one edition (`urls`) are joined by LSOA code: File 2's
//! ranks and deciles with File 6's population denominators, say (File 7
//! has both). Each measure comes from the first file that has it; an LSOA
//! missing from one of the files is a coverage warning.
//!
//! Decile 1 is the most deprived 10% of LSOAs in England. Source: Ministry of
//! Housing, Communities and Local Government, English Indices of Deprivation,
//! Open Government Licence v3.0.

use std::collections::{HashMap, HashSet};

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The published CSV (URL or path): File 1, 2, 5 or 7, or any file of
    /// the indices with score, rank or decile columns.
    #[serde(default)]
    pub url: Option<String>,
    /// Several files of one edition read together and joined by LSOA code
    /// (e.g. File 2's ranks and deciles with File 6's population
    /// denominators). The first file that gives a measure is used.
    #[serde(default)]
    pub urls: Vec<String>,
    /// 2019 or 2025; guessed from the LSOA boundary year when left out.
    #[serde(default)]
    pub edition: Option<i16>,
    /// Keep only LSOAs of these local authority codes (empty: all).
    #[serde(default)]
    pub local_authorities: Vec<String>,
}

/// One read file: its name, layout, and rows with their line numbers.
type ReadFile = (String, Layout, Vec<(u64, csv::StringRecord)>);

/// The plugin.
pub struct Deprivation {
    options: Options,
}

/// Score, rank and decile columns of one domain.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DomainColumns {
    /// Score column.
    pub score: Option<usize>,
    /// Rank column.
    pub rank: Option<usize>,
    /// Decile column.
    pub decile: Option<usize>,
}

/// What the header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// LSOA code column.
    pub lsoa_code: usize,
    /// LSOA name column.
    pub lsoa_name: Option<usize>,
    /// LSOA boundary year from its label.
    pub lsoa_vintage: i16,
    /// Local authority code column.
    pub lad_code: Option<usize>,
    /// Local authority name column.
    pub lad_name: Option<usize>,
    /// Total population denominator column.
    pub population: Option<usize>,
    /// Domains in file order.
    pub domains: Vec<(String, DomainColumns)>,
}

fn year_in(label: &str) -> Option<i16> {
    let open = label.rfind('(')?;
    let inner = label[open + 1..].trim_end_matches(')');
    inner.trim().parse().ok()
}

/// Reads the header of a published file.
pub fn parse_header(header: &[String]) -> Result<Layout, String> {
    let clean: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let find = |prefix: &str| {
        clean
            .iter()
            .position(|h| h.to_ascii_lowercase().starts_with(prefix))
    };
    let lsoa_code = find("lsoa code").ok_or_else(|| {
        format!(
            "no `LSOA code (2011)` or `LSOA code (2021)` column (found: {})",
            clean.join(", ")
        )
    })?;
    let lsoa_vintage = year_in(&clean[lsoa_code]).ok_or_else(|| {
        format!(
            "cannot tell the LSOA boundary year from `{}`",
            clean[lsoa_code]
        )
    })?;
    let mut domains: Vec<(String, DomainColumns)> = Vec::new();
    for (i, h) in clean.iter().enumerate() {
        for (word, slot) in [(" Score", 0), (" Rank", 1), (" Decile", 2)] {
            let Some(at) = h.find(word) else { continue };
            let rest = &h[at + word.len()..];
            if !(rest.is_empty() || rest.starts_with(" (")) {
                continue;
            }
            let name = h[..at].trim().to_string();
            let entry = match domains.iter().position(|(n, _)| *n == name) {
                Some(p) => &mut domains[p].1,
                None => {
                    domains.push((name, DomainColumns::default()));
                    &mut domains.last_mut().expect("just pushed").1
                }
            };
            let target = match slot {
                0 => &mut entry.score,
                1 => &mut entry.rank,
                _ => &mut entry.decile,
            };
            if target.is_some() {
                return Err(format!("two columns give the same measure: `{h}`"));
            }
            *target = Some(i);
            break;
        }
    }
    if domains.is_empty() && find("total population").is_none() {
        return Err(
            "no `… Score`, `… Rank` or `… Decile` columns and no population denominators: not an Indices of Deprivation file"
                .into(),
        );
    }
    Ok(Layout {
        lsoa_code,
        lsoa_name: find("lsoa name"),
        lsoa_vintage,
        lad_code: find("local authority district code"),
        lad_name: find("local authority district name"),
        population: find("total population"),
        domains,
    })
}

impl SourcePlugin for Deprivation {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("deprivation", env!("CARGO_PKG_VERSION"))
            .description("English Indices of Deprivation (IoD2019, IoD2025) by LSOA and domain")
            .licence("Open Government Licence v3.0; Source: Ministry of Housing, Communities and Local Government, English Indices of Deprivation")
            .produces("deprivation")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.url.is_some() != options.urls.is_empty() {
            return Err(PluginError::config(
                "give the published file as `url`, or several files of one edition as `urls`",
            ));
        }
        if let Some(e) = options.edition
            && !(2004..=2099).contains(&e)
        {
            return Err(PluginError::config(format!(
                "edition {e} is not an Indices of Deprivation year"
            )));
        }
        Ok(Deprivation { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let urls: Vec<String> = match &self.options.url {
            Some(u) => vec![u.clone()],
            None => self.options.urls.clone(),
        };
        // Each file: its name, layout and rows by LSOA (in file order).
        let mut files: Vec<ReadFile> = Vec::new();
        for url in &urls {
            ctx.check_cancelled()?;
            let got = ctx.fetch_url(url)?;
            let file = url.rsplit('/').next().unwrap_or(url).to_string();
            let mut rdr = csv::ReaderBuilder::new()
                .from_path(&got.path)
                .map_err(|e| PluginError::io(format!("{file}: {e}")))?;
            let header: Vec<String> = rdr
                .headers()
                .map_err(|e| PluginError::data(format!("{file}: cannot read the header: {e}")))?
                .iter()
                .map(str::to_string)
                .collect();
            let layout =
                parse_header(&header).map_err(|e| PluginError::data(format!("{file}: {e}")))?;
            if let Some((first, l, _)) = files.first()
                && l.lsoa_vintage != layout.lsoa_vintage
            {
                return Err(PluginError::data(format!(
                    "{file} is on {} LSOAs but {first} on {}: files of one edition only",
                    layout.lsoa_vintage, l.lsoa_vintage
                )));
            }
            let mut rows = Vec::new();
            for (i, rec) in rdr.records().enumerate() {
                let line = i as u64 + 2;
                rows.push((
                    line,
                    rec.map_err(|e| PluginError::data(format!("{file}, row {line}: {e}")))?,
                ));
            }
            files.push((file, layout, rows));
        }
        if files.iter().all(|(_, l, _)| l.domains.is_empty()) {
            return Err(PluginError::data(
                "none of the files has `… Score`, `… Rank` or `… Decile` columns: add the file with the indices".to_string(),
            ));
        }
        let vintage_year = files[0].1.lsoa_vintage;
        let edition =
            self.options
                .edition
                .unwrap_or(if vintage_year >= 2021 { 2025 } else { 2019 });
        let keep: HashSet<&str> = self
            .options
            .local_authorities
            .iter()
            .map(String::as_str)
            .collect();
        if !keep.is_empty() && files.iter().all(|(_, l, _)| l.lad_code.is_none()) {
            return Err(PluginError::config(format!(
                "{} has no local authority column, so `local_authorities` cannot be applied",
                files[0].0
            )));
        }
        // Each file's rows by LSOA code; a code twice in one file is an error.
        let mut index: Vec<HashMap<String, usize>> = Vec::new();
        for (file, layout, rows) in &files {
            let mut by_code = HashMap::with_capacity(rows.len());
            for (k, (line, rec)) in rows.iter().enumerate() {
                let code = rec.get(layout.lsoa_code).unwrap_or("").trim();
                if code.is_empty() {
                    return Err(PluginError::data(format!(
                        "{file}, row {line}: the LSOA code is empty"
                    )));
                }
                if by_code.insert(code.to_string(), k).is_some() {
                    return Err(PluginError::data(format!(
                        "{file}, row {line}: LSOA {code} appears twice"
                    )));
                }
            }
            index.push(by_code);
        }
        // The LSOAs: those of the files with domains, in the first one's order.
        let mut order: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (_, layout, rows) in files.iter().filter(|(_, l, _)| !l.domains.is_empty()) {
            for (_, rec) in rows {
                let code = rec.get(layout.lsoa_code).unwrap_or("").trim();
                if seen.insert(code.to_string()) {
                    order.push(code.to_string());
                }
            }
        }
        // Domains across the files: the first file that gives a measure.
        // (domain, [score, rank, decile] as (file, column)).
        type Sources = [Option<(usize, usize)>; 3];
        let mut domains: Vec<(String, Sources)> = Vec::new();
        for (f, (_, layout, _)) in files.iter().enumerate() {
            for (name, dc) in &layout.domains {
                let at = match domains.iter().position(|(n, _)| n == name) {
                    Some(p) => p,
                    None => {
                        domains.push((name.clone(), [None; 3]));
                        domains.len() - 1
                    }
                };
                for (slot, col) in [dc.score, dc.rank, dc.decile].into_iter().enumerate() {
                    if domains[at].1[slot].is_none() {
                        domains[at].1[slot] = col.map(|c| (f, c));
                    }
                }
            }
        }
        let mut rows = TextRows::new(&[
            "lsoa_code",
            "lsoa_name",
            "lad_code",
            "lad_name",
            "domain",
            "score",
            "rank",
            "decile",
            "population",
            "lsoa_vintage",
            "edition",
        ]);
        let (vintage, edition_text) = (vintage_year.to_string(), edition.to_string());
        let mut lsoas = 0u64;
        let mut missing: Vec<u64> = vec![0; files.len()];
        for code in &order {
            // The first file that has the LSOA and gives the field.
            let field = |pick: &dyn Fn(&Layout) -> Option<usize>| -> (&str, String, u64) {
                for (f, (file, layout, frows)) in files.iter().enumerate() {
                    if let (Some(col), Some(&k)) = (pick(layout), index[f].get(code)) {
                        let (line, rec) = &frows[k];
                        return (rec.get(col).unwrap_or(""), file.clone(), *line);
                    }
                }
                ("", files[0].0.clone(), 0)
            };
            let lad = field(&|l| l.lad_code).0;
            if !keep.is_empty() && !keep.contains(lad.trim()) {
                continue;
            }
            for (f, by_code) in index.iter().enumerate() {
                missing[f] += u64::from(!by_code.contains_key(code));
            }
            lsoas += 1;
            let (name, lad_name, population) = (
                field(&|l| l.lsoa_name).0,
                field(&|l| l.lad_name).0,
                field(&|l| l.population).0,
            );
            let (_, file, line) = field(&|l| Some(l.lsoa_code));
            for (domain, cols) in &domains {
                let get = |slot: usize| match cols[slot] {
                    Some((f, c)) => index[f]
                        .get(code)
                        .and_then(|&k| files[f].2[k].1.get(c))
                        .unwrap_or(""),
                    None => "",
                };
                rows.push(
                    [
                        code,
                        name,
                        lad,
                        lad_name,
                        domain,
                        get(0),
                        get(1),
                        get(2),
                        population,
                        &vintage,
                        &edition_text,
                    ],
                    &file,
                    line,
                );
            }
            if rows.len() >= 64 * 1024 {
                ctx.check_cancelled()?;
                ctx.emit_rows("deprivation", &mut rows)?;
            }
        }
        ctx.emit_rows("deprivation", &mut rows)?;
        for (f, n) in missing.iter().enumerate() {
            if *n > 0 && files.len() > 1 {
                ctx.coverage_warning(
                    Some("deprivation"),
                    &format!(
                        "LSOAs not in {} (their measures from it are empty)",
                        files[f].0
                    ),
                    *n,
                    Some(lsoas),
                );
            }
        }
        ctx.info(&format!(
            "{}: {lsoas} LSOAs, {} domains, IoD{edition}",
            files
                .iter()
                .map(|(f, _, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            domains.len()
        ));
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Deprivation);

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_published_iod2019_header_is_understood() {
        let l = parse_header(&h(&[
            "LSOA code (2011)",
            "LSOA name (2011)",
            "Local Authority District code (2019)",
            "Local Authority District name (2019)",
            "Index of Multiple Deprivation (IMD) Score",
            "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
            "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
            "Income Score (rate)",
            "Income Rank (where 1 is most deprived)",
            "Income Decile (where 1 is most deprived 10% of LSOAs)",
            "Children and Young People Sub-domain Score",
            "Total population: mid 2015 (excluding prisoners)",
        ]))
        .unwrap();
        assert_eq!(l.lsoa_vintage, 2011);
        assert_eq!(l.population, Some(11));
        let names: Vec<&str> = l.domains.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "Index of Multiple Deprivation (IMD)",
                "Income",
                "Children and Young People Sub-domain"
            ]
        );
        assert_eq!(
            l.domains[1].1,
            DomainColumns {
                score: Some(7),
                rank: Some(8),
                decile: Some(9)
            }
        );
    }

    #[test]
    fn files_that_are_not_iod_files_are_explained() {
        let e = parse_header(&h(&["area", "value"])).unwrap_err();
        assert!(e.contains("LSOA code"), "{e}");
        let e = parse_header(&h(&["LSOA code (2021)", "value"])).unwrap_err();
        assert!(e.contains("not an Indices of Deprivation file"), "{e}");
    }
}
