//! Wards from LSOAs. Nomis's bulk files have no ward members, so a council
//! profiling its wards adds up the LSOAs in each ward, through ONS's
//! LSOA (2021) to ward best-fit lookup: each LSOA counts wholly in the ward
//! its population-weighted centroid lies in. ONS builds its own ward
//! figures from output areas, so these can differ from them slightly; the
//! stored rows say where they came from (`source_file` names the LSOA
//! member and "LSOAs added up by ward"). A ward is written only when every
//! LSOA the lookup places in it was in the file; the others, and LSOAs the
//! lookup places in no ward, are named in a warning.

use std::collections::{BTreeMap, HashMap};

use eqpipe_plugin_sdk::prelude::*;

/// LSOA code → (ward code, ward name), from an ONS lookup.
pub(crate) type WardOf = HashMap<String, (String, String)>;

/// The LSOA-to-ward pairs of an ONS lookup (columns `LSOA21CD`, `WDnnCD`
/// and `WDnnNM`, in any case); `None` when the lookup has no such columns.
pub(crate) fn read_lookup(path: &str, name: &str) -> Result<Option<WardOf>, PluginError> {
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| PluginError::io(format!("{name}: {e}")))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_uppercase())
        .collect();
    let is_ward = |h: &str, end: &str| {
        h.len() == 6
            && h.starts_with("WD")
            && h[2..4].bytes().all(|b| b.is_ascii_digit())
            && h.ends_with(end)
    };
    let (Some(lsoa), Some(ward), Some(ward_name)) = (
        header.iter().position(|h| h == "LSOA21CD"),
        header.iter().position(|h| is_ward(h, "CD")),
        header.iter().position(|h| is_ward(h, "NM")),
    ) else {
        return Ok(None);
    };
    let mut out = WardOf::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {}: {e}", i + 2)))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let (l, w) = (get(lsoa), get(ward));
        if l.is_empty() || w.is_empty() {
            continue;
        }
        if let Some((before, _)) = out.get(&l)
            && *before != w
        {
            return Err(PluginError::data(format!(
                "{name}, row {}: LSOA {l} is in ward {w} here and in ward {before} on an earlier row: not a best-fit lookup",
                i + 2
            )));
        }
        out.insert(l, (w, get(ward_name)));
    }
    Ok(Some(out))
}

/// A ward added up: code, name, its first LSOA's row, counts.
pub(crate) type Ward = (String, String, u64, Vec<i64>);

/// The LSOAs of one table's file, added up by ward as they stream past.
pub(crate) struct WardSums<'a> {
    ward_of: &'a WardOf,
    /// ward → (name, first LSOA row, LSOAs added, counts)
    sums: BTreeMap<String, (String, u64, usize, Vec<i64>)>,
    unplaced: Vec<String>,
}

impl<'a> WardSums<'a> {
    pub(crate) fn new(ward_of: &'a WardOf) -> Self {
        WardSums {
            ward_of,
            sums: BTreeMap::new(),
            unplaced: Vec::new(),
        }
    }

    /// Adds one LSOA's counts (in the table's category order).
    pub(crate) fn add(&mut self, lsoa: &str, line: u64, counts: &[i64]) {
        let Some((ward, name)) = self.ward_of.get(lsoa) else {
            self.unplaced.push(lsoa.to_string());
            return;
        };
        let e = self
            .sums
            .entry(ward.clone())
            .or_insert_with(|| (name.clone(), line, 0, vec![0; counts.len()]));
        e.2 += 1;
        for (s, c) in e.3.iter_mut().zip(counts) {
            *s += c;
        }
    }

    /// The complete wards (code, name, first LSOA row, counts), and a
    /// warning for every loss: wards some of whose LSOAs were not in the
    /// file, LSOAs in no ward.
    pub(crate) fn finish(self, file: &str) -> (Vec<Ward>, Vec<String>) {
        let mut expected: HashMap<&str, usize> = HashMap::new();
        for (w, _) in self.ward_of.values() {
            *expected.entry(w.as_str()).or_default() += 1;
        }
        let mut warnings = Vec::new();
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for (ward, (name, line, n, counts)) in self.sums {
            let want = expected.get(ward.as_str()).copied().unwrap_or(0);
            if n < want {
                partial.push(format!("{ward} ({n} of {want})"));
            } else {
                out.push((ward, name, line, counts));
            }
        }
        if !partial.is_empty() {
            warnings.push(format!(
                "{file}: {} ward(s) not written, as some of their LSOAs are not in the file: {}",
                partial.len(),
                partial.join(", ")
            ));
        }
        if !self.unplaced.is_empty() {
            warnings.push(format!(
                "{file}: {} LSOA(s) the lookup places in no ward, left out of the ward totals (first: {})",
                self.unplaced.len(),
                self.unplaced[0]
            ));
        }
        (out, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(body: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        std::fs::write(&p, body).unwrap();
        let s = p.to_str().unwrap().to_string();
        (dir, s)
    }

    #[test]
    fn wards_are_the_sums_of_their_lsoas_and_partial_wards_are_held_back_loudly() {
        let (_d, p) = lookup(
            "\u{feff}lsoa21cd,lsoa21nm,wd22cd,wd22nm,lad22cd\nE01A,a,E05X,Ward X,E08\nE01B,b,E05X,Ward X,E08\nE01C,c,E05Y,Ward Y,E08\nE01D,d,E05Y,Ward Y,E08\n",
        );
        let of = read_lookup(&p, "l.csv").unwrap().unwrap();
        assert_eq!(of["E01C"], ("E05Y".to_string(), "Ward Y".to_string()));
        let mut w = WardSums::new(&of);
        w.add("E01A", 2, &[10, 4, 6]);
        w.add("E01B", 3, &[5, 1, 4]);
        // Ward Y has one of its two LSOAs in the file; E01Z is in no ward.
        w.add("E01C", 4, &[7, 3, 4]);
        w.add("E01Z", 5, &[1, 1, 0]);
        let (wards, warnings) = w.finish("ts-lsoa.csv");
        assert_eq!(
            wards,
            [("E05X".to_string(), "Ward X".to_string(), 2, vec![15, 5, 10])]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("1 ward(s) not written") && warnings[0].contains("E05Y (1 of 2)")
        );
        assert!(
            warnings[1].contains("1 LSOA(s) the lookup places in no ward")
                && warnings[1].contains("E01Z")
        );
    }

    #[test]
    fn a_lookup_without_wards_is_not_one_and_a_split_lsoa_is_refused() {
        let (_d, p) = lookup("LSOA21CD,LAD22CD\nE01A,E08\n");
        assert!(read_lookup(&p, "l.csv").unwrap().is_none());
        let (_d, p) = lookup("LSOA21CD,WD23CD,WD23NM\nE01A,E05X,X\nE01A,E05Y,Y\n");
        let e = read_lookup(&p, "l.csv").unwrap_err().to_string();
        assert!(
            e.contains("row 3: LSOA E01A is in ward E05Y here and in ward E05X"),
            "{e}"
        );
    }
}
