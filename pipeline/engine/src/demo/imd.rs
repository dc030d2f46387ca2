//! The city's LSOAs and their Indices of Deprivation file, in IoD2019
//! File 7's published layout.

use super::*;

/// A generated LSOA: code, ward, IMD decile, residents.
pub(super) struct Lsoa {
    pub(super) code: String,
    pub(super) ward: String,
    pub(super) decile: u32,
    pub(super) population: u32,
}

/// `29199` as `29,199`, as Excel writes numbers saved to CSV.
pub(super) fn thousands(n: u32) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An IoD2019-style "scores, ranks, deciles and population denominators"
/// file for the city's LSOAs (ranks placed within England's 32,844).
pub(super) fn write_imd(dir: &Path, wards: &[Area], rng: &mut Rng) -> std::io::Result<Vec<Lsoa>> {
    let mut lsoas = Vec::new();
    let mut w = csv::Writer::from_path(dir.join(IMD_FILE))?;
    let mut lookup = csv::Writer::from_path(dir.join(LOOKUP_FILE))?;
    lookup.write_record([
        "LSOA11CD", "LSOA11NM", "WD22CD", "WD22NM", "LAD22CD", "LAD22NM",
    ])?;
    w.write_record([
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
        "Employment Score (rate)",
        "Employment Rank (where 1 is most deprived)",
        "Employment Decile (where 1 is most deprived 10% of LSOAs)",
        "Total population: mid 2015 (excluding prisoners)",
        "Dependent Children aged 0-15: mid 2015 (excluding prisoners)",
        "Population aged 16-59: mid 2015 (excluding prisoners)",
        "Older population aged 60 and over: mid 2015 (excluding prisoners)",
        "Working age population 18-59/64: for use with Employment Deprivation Domain (excluding prisoners)",
    ])?;
    const LSOAS: f64 = 32_844.0;
    let decile = |rank: u32| ((rank as f64 - 1.0) / (LSOAS / 10.0)).floor() as u32 + 1;
    let mut n: u32 = 0;
    for ward in wards {
        let count = (ward.population / 1600.0).round().max(4.0) as usize;
        for k in 0..count {
            n += 1;
            // More deprived wards sit lower in the national ranking.
            let centre = (1.9 - ward.deprived).clamp(0.05, 1.0);
            let rank =
                ((centre + rng.range(-0.12, 0.12)).clamp(0.0001, 0.9999) * LSOAS).round() as u32;
            let score =
                (75.0 * (1.0 - rank as f64 / LSOAS).powf(2.2) + rng.range(0.5, 3.0)).min(95.0);
            let income = score / 250.0 + rng.range(0.0, 0.02);
            let emp = score / 320.0 + rng.range(0.0, 0.02);
            let pop = rng.range(1300.0, 2100.0).round() as u32;
            let kids = (pop as f64 * rng.range(0.15, 0.27)).round() as u32;
            let older = (pop as f64 * rng.range(0.12, 0.28)).round() as u32;
            let working = pop - kids - older;
            let income_rank = (rank as f64 * rng.range(0.9, 1.1)).clamp(1.0, LSOAS) as u32;
            let emp_rank = (rank as f64 * rng.range(0.9, 1.1)).clamp(1.0, LSOAS) as u32;
            let lsoa_code = format!("E01999{n:03}");
            lsoas.push(Lsoa {
                code: lsoa_code.clone(),
                ward: ward.code.clone(),
                decile: decile(rank),
                population: pop,
            });
            let lsoa_name = format!(
                "{CITY_NAME} {:03}{}",
                n.div_ceil(4),
                (b'A' + (k % 4) as u8) as char
            );
            lookup.write_record([
                lsoa_code.as_str(),
                lsoa_name.as_str(),
                ward.code.as_str(),
                ward.name.as_str(),
                CITY_CODE,
                CITY_NAME,
            ])?;
            w.write_record([
                lsoa_code,
                lsoa_name,
                CITY_CODE.to_string(),
                CITY_NAME.to_string(),
                format!("{score:.3}"),
                // Ranks as Excel saves them from the published workbook.
                thousands(rank),
                decile(rank).to_string(),
                format!("{income:.3}"),
                thousands(income_rank),
                decile(income_rank).to_string(),
                format!("{emp:.3}"),
                thousands(emp_rank),
                decile(emp_rank).to_string(),
                thousands(pop),
                kids.to_string(),
                working.to_string(),
                older.to_string(),
                ((working as f64) * 1.05).round().to_string(),
            ])?;
        }
    }
    w.flush()?;
    lookup.flush()?;
    Ok(lsoas)
}
