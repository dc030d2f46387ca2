//! The generic header and hierarchy detection, checked against ONS's own
//! metadata for every Census 2021 topic summary table.
//!
//! `../shared/data/census2021/reference/` (beside the repository) holds, for
//! each of the 78 tables, every cell's published column label, its England
//! and Wales count, and its tier in the table's hierarchy. For each count
//! table we rebuild the published header, feed the national row to the
//! detector, and compare every cell's level and parent with ONS's tiers.

use std::collections::HashMap;
use std::path::PathBuf;

use eqpipe_ons_census::table::{build_crosstab, check_row, detect_by_sums, parse_header};

fn reference_dir() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/census2021/reference");
    assert!(
        p.exists(),
        "{} is missing: the shared data folder must sit beside the repository",
        p.display()
    );
    p
}

fn read(name: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(reference_dir().join(name)).unwrap();
    let headers: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// A cell's depth from the tier columns: the first tier that names it.
fn tier_depth(m: &HashMap<String, String>) -> u8 {
    for k in 1..=5 {
        if m[&format!("Cell_Label_Tier{k}")] != "NA" {
            return k as u8;
        }
    }
    0
}

/// The published header of a table and its England and Wales row.
fn published(cs: &[&HashMap<String, String>]) -> (Vec<String>, Vec<i64>) {
    let mut header = vec![
        "date".to_string(),
        "geography".into(),
        "geography code".into(),
    ];
    header.extend(
        cs.iter()
            .map(|c| format!("{}: {}", c["Cell_Label_ONS_Prefix"], c["Cell_Label_ONS"])),
    );
    let row = cs.iter().map(|c| c["EW_Count"].parse().unwrap()).collect();
    (header, row)
}

#[test]
fn every_count_table_gets_the_hierarchy_ons_publishes() {
    let cells = read("ts-cell-metadata.csv");
    let mapping = read("ts-cell-mapping.csv");
    let tiers: HashMap<String, &HashMap<String, String>> =
        mapping.iter().map(|m| (m["Cell_ID"].clone(), m)).collect();
    let mut tables: Vec<String> = Vec::new();
    let mut by_table: HashMap<String, Vec<&HashMap<String, String>>> = HashMap::new();
    for c in &cells {
        let t = c["Table_ID"].clone();
        if !by_table.contains_key(&t) {
            tables.push(t.clone());
        }
        by_table.entry(t).or_default().push(c);
    }
    let mut checked = 0;
    let mut crosstabs = Vec::new();
    let mut failures = Vec::new();
    for t in &tables {
        let cs = &by_table[t];
        if cs[0]["Measure"] != "Count" {
            continue;
        }
        // Cross-tabulations of two variables (TS009 sex by age, TS076):
        // one tree, grand total -> groups -> the second variable's hierarchy.
        if cs[0]["Variables"] != "1" {
            let (header, row) = published(cs);
            match build_crosstab(&header, std::slice::from_ref(&row)) {
                Ok((h, keep)) => {
                    let kept: Vec<i64> = keep.iter().map(|&i| row[i]).collect();
                    if let Some((p, want, got)) = check_row(&h, &kept) {
                        failures.push(format!(
                            "{t}: categories under `{p}` sum to {got}, not {want}"
                        ));
                    }
                    let per_level = |l: u8| h.categories.iter().filter(|c| c.level == l).count();
                    if per_level(0) != 1 || per_level(1) != 2 || per_level(2) == 0 {
                        failures.push(format!(
                            "{t}: unexpected cross-tab shape: levels {:?}",
                            (0..5).map(per_level).collect::<Vec<_>>()
                        ));
                    }
                    crosstabs.push(t.clone());
                }
                Err(e) => failures.push(format!("{t}: {e}")),
            }
            continue;
        }
        let (header, row) = published(cs);
        let mut h = match parse_header(&header) {
            Ok(h) => h,
            Err(e) => {
                failures.push(format!("{t}: header refused: {e}"));
                continue;
            }
        };
        detect_by_sums(&mut h, std::slice::from_ref(&row));
        // Expected: depth from the tiers (a one-cell table, TS041, is its
        // own total); parent = the cell whose ONS path is the longest prefix
        // of this one's, else the nearest earlier cell one tier up.
        let mut depths: Vec<u8> = cs
            .iter()
            .map(|c| tier_depth(tiers[&c["Cell_ID"]]))
            .collect();
        if depths.len() == 1 {
            depths[0] = 0;
        }
        let paths: Vec<&str> = cs
            .iter()
            .map(|c| tiers[&c["Cell_ID"]]["Cell_Label"].as_str())
            .collect();
        let by_path = |i: usize| -> Option<usize> {
            (1..paths.len())
                .filter(|&j| j != i && paths[i].len() > paths[j].len() + 2)
                .filter(|&j| {
                    paths[i].starts_with(paths[j]) && paths[i][paths[j].len()..].starts_with(": ")
                })
                .max_by_key(|&j| paths[j].len())
        };
        for (i, c) in h.categories.iter().enumerate() {
            let want_parent = if depths[i] == 0 {
                None
            } else if depths[i] == 1 {
                Some(0)
            } else {
                by_path(i).or_else(|| (0..i).rev().find(|&j| depths[j] + 1 == depths[i]))
            };
            if c.level != depths[i] || c.parent != want_parent {
                failures.push(format!(
                    "{t}: `{}`: level {} parent {:?}, ONS says level {} parent {:?}",
                    c.label, c.level, c.parent, depths[i], want_parent
                ));
                break;
            }
        }
        if let Some((p, want, got)) = check_row(&h, &row) {
            failures.push(format!(
                "{t}: categories under `{p}` sum to {got}, not {want}"
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} tables differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 70, "only {checked} count tables checked");
    assert_eq!(crosstabs, vec!["ts009".to_string(), "ts076".to_string()]);
}
