//! Police recorded hate crime for the city's force, in the layout of the
//! Home Office's hate crime open data tables.

use super::*;

/// Three financial years by quarter and offence group, one row per
/// combination of strands (an offence with two strands is one row with
/// two `Yes`), the years written as the tables do (`2022/23`).
pub(super) fn write_hate_crime(dir: &Path, rng: &mut Rng) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut w = csv::Writer::from_path(dir.join("hate-crime-open-data-northbridge.csv"))?;
    w.write_record([
        "Financial Year",
        "Financial Quarter",
        "Force Name",
        "Offence Group",
        "Race or ethnicity",
        "Religion or beliefs",
        "Sexual orientation",
        "Disability",
        "Transgender",
        "Number of offences",
    ])?;
    // Combinations and their usual share of offences.
    let combos: [([&str; 5], f64); 7] = [
        (["Yes", "No", "No", "No", "No"], 0.66),
        (["Yes", "Yes", "No", "No", "No"], 0.05),
        (["No", "Yes", "No", "No", "No"], 0.04),
        (["No", "No", "Yes", "No", "No"], 0.13),
        (["No", "No", "No", "Yes", "No"], 0.07),
        (["No", "No", "No", "No", "Yes"], 0.03),
        (["No", "No", "Yes", "No", "Yes"], 0.02),
    ];
    let groups = [
        ("Public order offences", 0.55),
        ("Violence against the person", 0.38),
        ("Criminal damage and arson", 0.07),
    ];
    for (y, base) in [(2021, 1500.0), (2022, 1620.0), (2023, 1580.0)] {
        for q in 1..=4 {
            for (g, gs) in groups {
                for (flags, share) in combos {
                    let n = (base / 4.0 * gs * share * rng.range(0.8, 1.2)).round();
                    w.write_record([
                        format!("{y}/{:02}", (y + 1) % 100),
                        format!("Q{q}"),
                        "Northbridge Police".into(),
                        g.into(),
                        flags[0].into(),
                        flags[1].into(),
                        flags[2].into(),
                        flags[3].into(),
                        flags[4].into(),
                        format!("{n}"),
                    ])?;
                }
            }
        }
    }
    w.flush()
}
