//! Evidence beside the council's own figures, in the publishers' layouts:
//! gender pay gap service files for Northbridge and its fictional peer
//! councils, and a Fingertips download with England's deprivation decile
//! breakdowns. Every figure is invented.

use super::*;

/// The gender pay gap service's yearly files the demo serves.
pub const PAY_GAP_FILES: [&str; 3] = [
    "UK Gender Pay Gap Data - 2022 to 2023.csv",
    "UK Gender Pay Gap Data - 2023 to 2024.csv",
    "UK Gender Pay Gap Data - 2024 to 2025.csv",
];

/// The Fingertips download the demo serves.
pub const FINGERTIPS_FILE: &str = "fingertips-demo-indicators.csv";

/// The employers in the demo's pay gap files: name, the service's id,
/// size band, SIC codes, and their median hourly gap in 2022.
const EMPLOYERS: [(&str, u32, &str, &str, f64); 8] = [
    (
        "Northbridge City Council",
        990_001,
        "5000 to 19,999",
        "1,\n84110",
        6.1,
    ),
    (
        "Southmoor Borough Council",
        990_002,
        "1000 to 4999",
        "1,\n84110",
        3.2,
    ),
    (
        "Eastwick City Council",
        990_003,
        "5000 to 19,999",
        "1,\n84110",
        8.4,
    ),
    (
        "Westford County Council",
        990_004,
        "5000 to 19,999",
        "1,\n84110",
        4.9,
    ),
    (
        "Highdale District Council",
        990_005,
        "250 to 499",
        "1,\n84110",
        -1.5,
    ),
    (
        "Lowmarsh Metropolitan Borough Council",
        990_006,
        "5000 to 19,999",
        "1,\n84110",
        10.2,
    ),
    (
        "Northbridge Logistics Ltd",
        990_007,
        "1000 to 4999",
        "49410",
        14.8,
    ),
    (
        "Northbridge Teaching Hospitals NHS Trust",
        990_008,
        "5000 to 19,999",
        "1,\n86101",
        12.3,
    ),
];

/// The council's own returns, one per file: mean and median hourly gap,
/// mean and median bonus gap, men and women receiving a bonus, and women's
/// share of each quarter pay band. For the 2023 and 2024 snapshots they are
/// the figures eqpipe computes from the demo's workforce extracts (the
/// council filed eqpipe's export, so the report's check finds them equal);
/// 2022's is invented (eqpipe holds no extract for it).
const NORTHBRIDGE_RETURNS: [[f64; 10]; 3] = [
    [15.1, 19.2, 3.0, 1.2, 6.8, 4.2, 64.5, 52.3, 53.0, 35.9],
    [14.6, 18.5, -2.0, -0.8, 7.2, 4.5, 63.8, 51.7, 54.1, 36.6],
    [14.2, 17.6, 14.7, 9.9, 7.9, 4.9, 63.7, 54.4, 51.1, 37.6],
];

/// The service's 27 columns (2019 onwards).
const PAY_GAP_HEADER: [&str; 27] = [
    "EmployerName",
    "EmployerId",
    "Address",
    "PostCode",
    "CompanyNumber",
    "SicCodes",
    "DiffMeanHourlyPercent",
    "DiffMedianHourlyPercent",
    "DiffMeanBonusPercent",
    "DiffMedianBonusPercent",
    "MaleBonusPercent",
    "FemaleBonusPercent",
    "MaleLowerQuartile",
    "FemaleLowerQuartile",
    "MaleLowerMiddleQuartile",
    "FemaleLowerMiddleQuartile",
    "MaleUpperMiddleQuartile",
    "FemaleUpperMiddleQuartile",
    "MaleTopQuartile",
    "FemaleTopQuartile",
    "CompanyLinkToGPGInfo",
    "ResponsiblePerson",
    "EmployerSize",
    "CurrentName",
    "SubmittedAfterTheDeadline",
    "DueDate",
    "DateSubmitted",
];

/// One file per reporting year: 2022 to 2023 as the service wrote files
/// until 2022 (every field quoted, `YYYY/MM/DD HH:MM:SS`), the later years
/// as it writes them now (quoted only where needed, `DD-MM-YYYY HH:MM`).
pub(super) fn write_pay_gap_returns(public: &Path) -> std::io::Result<()> {
    let mut rng = Rng(0x0690_2022);
    for (k, file) in PAY_GAP_FILES.iter().enumerate() {
        let year = 2022 + k as i32;
        let old = k == 0;
        let mut w = csv::WriterBuilder::new()
            .quote_style(if old {
                csv::QuoteStyle::Always
            } else {
                csv::QuoteStyle::Necessary
            })
            .terminator(if old {
                csv::Terminator::Any(b'\n')
            } else {
                csv::Terminator::CRLF
            })
            .from_path(public.join(file))?;
        w.write_record(PAY_GAP_HEADER)?;
        for (e, (name, id, size, sic, median)) in EMPLOYERS.into_iter().enumerate() {
            let public_sector = sic.starts_with("1,");
            let figures: [f64; 10] = if e == 0 {
                NORTHBRIDGE_RETURNS[k]
            } else {
                let median = median - 0.6 * k as f64 + rng.range(-0.8, 0.8);
                let mean = median + rng.range(0.5, 3.0);
                let mut women = |band: f64| (band + rng.range(-4.0, 4.0)).clamp(5.0, 95.0);
                [
                    mean,
                    median,
                    f64::NAN,
                    f64::NAN,
                    0.0,
                    0.0,
                    women(72.0),
                    women(64.0),
                    women(58.0),
                    women(49.0),
                ]
            };
            let due = if public_sector {
                (year + 1, 3, 30)
            } else {
                (year + 1, 4, 4)
            };
            let submitted = (year + 1, 2, 10 + (id % 15));
            let date = |(y, m, d): (i32, u32, u32)| {
                if old {
                    format!("{y}/{m:02}/{d:02} 00:00:00")
                } else {
                    format!("{d:02}-{m:02}-{y} 00:00")
                }
            };
            // No bonus paid: the service leaves the bonus gaps empty.
            let cell = |v: f64| {
                if v.is_nan() {
                    String::new()
                } else {
                    format!("{:.1}", (v * 10.0).round() / 10.0)
                }
            };
            let mut record = vec![
                name.to_string(),
                id.to_string(),
                format!("Civic Centre,\n{name} Way,\nNorthbridge"),
                format!("NB9 {}AA", id % 10),
                String::new(),
                sic.to_string(),
            ];
            record.extend(figures[..6].iter().map(|v| cell(*v)));
            for f in &figures[6..] {
                record.push(cell(100.0 - f));
                record.push(cell(*f));
            }
            record.extend([
                format!("https://www.example.org/{id}/gender-pay-gap"),
                // Public bodies name no responsible person.
                String::new(),
                size.to_string(),
                name.to_string(),
                if old { "False" } else { "FALSE" }.to_string(),
                date(due),
                date(submitted),
            ]);
            w.write_record(&record)?;
        }
        w.flush()?;
    }
    Ok(())
}

/// Fingertips' decile labels, most deprived first.
const DECILE_LABELS: [&str; 10] = [
    "Most deprived decile",
    "Second most deprived decile",
    "Third more deprived decile",
    "Fourth more deprived decile",
    "Fifth more deprived decile",
    "Fifth less deprived decile",
    "Fourth less deprived decile",
    "Third less deprived decile",
    "Second least deprived decile",
    "Least deprived decile",
];

/// A Fingertips download as the site saves it: the 26-name header over
/// 25-field rows, a line break inside every quoted `Indicator Name`, CRLF
/// records; two fictional indicators for England, the region-less city
/// and England's deprivation deciles, 2021 to 2023.
pub(super) fn write_fingertips(public: &Path) -> std::io::Result<()> {
    let mut rng = Rng(0x0F16_2023);
    let mut s = String::from(
        "Indicator ID,Indicator Name,Parent Code,Parent Name,Area Code,Area Name,Area Type,Sex,Age,Category Type,Category,Time period,Value,Lower CI 95.0 limit,Upper CI 95.0 limit,Lower CI 99.8 limit,Upper CI 99.8 limit,Count,Denominator,Value note,Recent Trend,Compared to England value or percentiles,Compared to Region value or percentiles,Time period Sortable,New data,Compared to goal\r\n",
    );
    // (id, name, England's value, the gradient from most to least deprived)
    let indicators: [(u32, &str, f64, f64); 2] = [
        (
            990_001,
            "Emergency hospital admissions, all causes, per 100,000 (fictional)",
            9_800.0,
            -4_200.0,
        ),
        (
            990_002,
            "Healthy life expectancy at birth, years (fictional)",
            63.0,
            17.0,
        ),
    ];
    let england = 56_490_048.0;
    for (id, name, base, slope) in indicators {
        for year in 2021..=2023 {
            let shift = (year - 2021) as f64 * base * 0.005;
            let mut row = |code: &str,
                           area: &str,
                           kind: &str,
                           ctype: &str,
                           category: &str,
                           value: f64,
                           pop: f64,
                           compared: &str| {
                let count = (value * pop / 100_000.0).round();
                s.push_str(&format!(
                    "{id},\"{name}\n\",,,{code},{area},{kind},Persons,All ages,{ctype},{category},{year},{value},,,,,{},{pop},,,{compared},Not compared,{year}0000,\r\n",
                    if id == 990_001 { count.to_string() } else { String::new() }
                ));
            };
            row(
                "E92000001",
                "England",
                "Country",
                "",
                "",
                base + shift,
                england,
                "Not compared",
            );
            let city = base + shift + slope * -0.12 + rng.range(-0.01, 0.01) * base;
            row(
                CITY_CODE,
                CITY_NAME,
                "County & UA",
                "",
                "",
                (city * 100.0).round() / 100.0,
                552_000.0,
                if (id == 990_001) == (city > base) {
                    "Worse"
                } else {
                    "Better"
                },
            );
            for (d, label) in DECILE_LABELS.iter().enumerate() {
                let x = (d as f64 + 0.5) / 10.0;
                let v = base + shift + slope * (x - 0.5) + rng.range(-0.02, 0.02) * base;
                let pop = (england / 10.0 * rng.range(0.9, 1.1)).round();
                row(
                    "E92000001",
                    "England",
                    "Country",
                    "County & UA deprivation deciles in England (IMD2019)",
                    &format!("{label} (IMD2019)"),
                    (v * 100.0).round() / 100.0,
                    pop,
                    "Not compared",
                );
            }
        }
    }
    std::fs::write(public.join(FINGERTIPS_FILE), s)
}

/// The ward boundaries the demo serves, as the ONS Open Geography Portal
/// publishes them (GeoJSON, `WD22CD`/`WD22NM` and the local authority).
pub const WARD_BOUNDARIES_FILE: &str = "northbridge-wards-december-2022.geojson";

/// The city's wards as a 6 × 4 grid of four-sided wards whose shared
/// corners are moved a little (so they tile without gaps), rings
/// anticlockwise as RFC 7946 asks.
pub(super) fn write_ward_boundaries(public: &Path, wards: &[Area]) -> std::io::Result<()> {
    let mut rng = Rng(0x0B0D_2022);
    let (cols, rows) = (6usize, 4usize);
    let (lon0, lat0, dx, dy) = (-2.05, 53.16, 0.032, 0.021);
    let mut corner = vec![vec![(0.0, 0.0); rows + 1]; cols + 1];
    for (i, column) in corner.iter_mut().enumerate() {
        for (j, c) in column.iter_mut().enumerate() {
            let inner = i > 0 && i < cols && j > 0 && j < rows;
            let (jx, jy) = if inner {
                (rng.range(-0.3, 0.3) * dx, rng.range(-0.3, 0.3) * dy)
            } else {
                (0.0, 0.0)
            };
            let round = |v: f64| (v * 1e6).round() / 1e6;
            *c = (
                round(lon0 + i as f64 * dx + jx),
                round(lat0 + j as f64 * dy + jy),
            );
        }
    }
    let mut features = Vec::new();
    for (k, w) in wards.iter().enumerate().take(cols * rows) {
        let (i, j) = (k % cols, rows - 1 - k / cols);
        let ring = [
            corner[i][j],
            corner[i + 1][j],
            corner[i + 1][j + 1],
            corner[i][j + 1],
            corner[i][j],
        ];
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": {
                "WD22CD": w.code,
                "WD22NM": w.name,
                "LAD22CD": CITY_CODE,
                "LAD22NM": CITY_NAME,
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [ring.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()],
            },
        }));
    }
    let doc = serde_json::json!({
        "type": "FeatureCollection",
        "name": "Wards_December_2022_Boundaries_UK_BGC",
        "crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:OGC:1.3:CRS84" } },
        "features": features,
    });
    std::fs::write(public.join(WARD_BOUNDARIES_FILE), doc.to_string())
}
