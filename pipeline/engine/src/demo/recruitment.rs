//! An applicant-tracking export.

use super::*;

/// An applicant-tracking export: two financial years of applications, the
/// furthest stage in the system's own words, with a built-in disparity
/// (minority ethnic and disabled applicants less often appointed once
/// shortlisted), so the relative likelihood has something to show.
pub(super) fn write_recruitment(dir: &Path, rng: &mut Rng) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("applications.csv");
    let mut w = csv::Writer::from_path(&path)?;
    w.write_record([
        "applicant_id",
        "vacancy",
        "grade",
        "application_date",
        "stage",
        "sex",
        "ethnic_group",
        "disability",
        "age",
    ])?;
    let ethnic = [
        (
            "White: English, Welsh, Scottish, Northern Irish or British",
            55.0,
        ),
        ("White: Other White", 6.0),
        ("Asian, Asian British or Asian Welsh: Pakistani", 12.0),
        ("Asian, Asian British or Asian Welsh: Indian", 5.0),
        (
            "Black, Black British, Black Welsh, Caribbean or African: African",
            9.0,
        ),
        (
            "Mixed or Multiple ethnic groups: White and Black Caribbean",
            4.0,
        ),
        ("Other ethnic group: Arab", 2.0),
        ("Prefer not to say", 4.0),
        ("", 3.0),
    ];
    let total: f64 = ethnic.iter().map(|e| e.1).sum();
    for i in 0..3200u32 {
        let mut x = rng.range(0.0, total);
        let mut eth = ethnic[0].0;
        for (e, wgt) in ethnic {
            if x < wgt {
                eth = e;
                break;
            }
            x -= wgt;
        }
        let white = eth.starts_with("White");
        let disabled = rng.f64() < 0.12;
        let shortlisted = rng.f64() < 0.35;
        let p_appoint = 0.3 * if white { 1.0 } else { 0.7 } * if disabled { 0.8 } else { 1.0 };
        let stage = if !shortlisted {
            ["Rejected at sift", "Not shortlisted", "Withdrawn"][(rng.f64() * 3.0) as usize]
        } else if rng.f64() < p_appoint {
            "Offer accepted"
        } else {
            ["Interviewed", "Rejected after interview", "Offer declined"]
                [(rng.f64() * 3.0) as usize]
        };
        let year = if i < 1600 { 2023 } else { 2024 };
        let month = 4 + (rng.f64() * 12.0) as u32;
        let (y, m) = if month > 12 {
            (year + 1, month - 12)
        } else {
            (year, month)
        };
        w.write_record([
            format!("APP{:06}", 500_000 + i),
            format!("NB-{:04}", 1000 + (rng.f64() * 400.0) as u32),
            format!("G{}", 1 + (rng.f64() * 10.0) as u32),
            format!("{y}-{m:02}-{:02}", 1 + (rng.f64() * 28.0) as u32),
            stage.to_string(),
            if rng.f64() < 0.58 { "Female" } else { "Male" }.to_string(),
            eth.to_string(),
            if disabled { "Yes" } else { "No" }.to_string(),
            (18 + (rng.f64() * 45.0) as u32).to_string(),
        ])?;
    }
    w.flush()?;
    Ok(path)
}
