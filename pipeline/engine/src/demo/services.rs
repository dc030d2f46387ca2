//! A case system's extract of service users and the postcode lookup it
//! needs (with unknown postcodes on purpose).

use super::*;

/// The `k`th of the three fictional `NB` postcodes of the `i`th LSOA, as
/// the demo's postcode lookup lists them.
pub(super) fn nb_postcode(i: usize, k: usize) -> String {
    format!(
        "NB{} {}{}{}",
        1 + i / 40,
        k,
        (b'A' + (i % 26) as u8) as char,
        (b'A' + (i / 26 % 26) as u8) as char
    )
}

/// A case-system extract (contacts with three services in 2024-25, the
/// client's postcode and date of birth) and an NSPL-style postcode lookup
/// for the city's fictional `NB` postcodes. Use leans towards deprived
/// neighbourhoods for some services and away for others.
// Long: one synthetic extract written row by row; its random draws must
// stay in this order for the demo to be the same on every machine.
pub(super) fn write_services(
    dir: &Path,
    public: &Path,
    lsoas: &[Lsoa],
    rng: &mut Rng,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut nspl = csv::Writer::from_path(public.join(POSTCODE_FILE))?;
    nspl.write_record([
        "pcd", "pcds", "dointr", "doterm", "lsoa11", "lsoa21cd", "wd22cd", "lad22cd",
    ])?;
    let postcode = nb_postcode;
    for (i, l) in lsoas.iter().enumerate() {
        for k in 0..3 {
            let pc = postcode(i, k);
            nspl.write_record([
                pc.as_str(),
                pc.as_str(),
                "199001",
                "",
                l.code.as_str(),
                l.code.as_str(),
                l.ward.as_str(),
                CITY_CODE,
            ])?;
        }
    }
    nspl.flush()?;
    let mut w = csv::Writer::from_path(dir.join("contacts-2024-25.csv"))?;
    w.write_record([
        "Client ID",
        "Service",
        "Contact Date",
        "Postcode",
        "Date of Birth",
        "Gender",
        "Ethnicity",
        "Disability",
    ])?;
    let ethnic = [
        ("White British", 60.0),
        ("Pakistani", 9.0),
        ("Indian", 4.0),
        ("African", 6.0),
        ("Caribbean", 3.0),
        ("White and Black Caribbean", 2.0),
        ("Other White", 6.0),
        ("Arab", 1.5),
        ("Not known", 8.5),
    ];
    let total_w: f64 = ethnic.iter().map(|e| e.1).sum();
    // (service, clients, lean towards deprived areas: >1 more deprived)
    let services = [
        ("Adult Social Care", 1400, 1.8f64),
        ("Libraries", 1800, 0.6),
        ("Early Help", 700, 2.5),
    ];
    let mut client = 0u32;
    for (service, clients, lean) in services {
        let weights: Vec<f64> = lsoas
            .iter()
            .map(|l| l.population as f64 * lean.powf((10.0 - l.decile as f64) / 9.0))
            .collect();
        let total: f64 = weights.iter().sum();
        for _ in 0..clients {
            client += 1;
            let mut x = rng.range(0.0, total);
            let mut at = 0;
            for (i, wgt) in weights.iter().enumerate() {
                if x < *wgt {
                    at = i;
                    break;
                }
                x -= wgt;
            }
            let mut e = rng.range(0.0, total_w);
            let mut eth = ethnic[0].0;
            for (name, wgt) in ethnic {
                if e < wgt {
                    eth = name;
                    break;
                }
                e -= wgt;
            }
            let age = match service {
                "Adult Social Care" => rng.range(18.0, 98.0),
                "Early Help" => rng.range(0.0, 17.0),
                _ => rng.range(4.0, 85.0),
            } as i32;
            let contacts = 1 + (rng.f64() * 4.0) as u32;
            for c in 0..contacts {
                let month = 4 + ((rng.f64() * 12.0) as u32);
                let (y, m) = if month > 12 {
                    (2025, month - 12)
                } else {
                    (2024, month)
                };
                // Some postcodes are mistyped: their area stays unknown.
                let pc = if rng.f64() < 0.02 {
                    "NB99 9ZZ".to_string()
                } else {
                    postcode(at, c as usize % 3)
                };
                w.write_record([
                    format!("CL{client:06}"),
                    service.to_string(),
                    format!("{:02}/{m:02}/{y}", 1 + (rng.f64() * 28.0) as u32),
                    pc,
                    format!("{}-06-15", 2024 - age),
                    if rng.f64() < 0.55 { "Female" } else { "Male" }.to_string(),
                    eth.to_string(),
                    if rng.f64() < 0.22 {
                        "Yes"
                    } else if rng.f64() < 0.1 {
                        "Prefer not to say"
                    } else {
                        "No"
                    }
                    .to_string(),
                ])?;
            }
        }
    }
    w.flush()?;
    Ok(())
}
