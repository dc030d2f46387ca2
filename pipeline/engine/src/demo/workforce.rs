//! HR extracts (three snapshots, one in Windows-1252) and an anchor
//! institution's published diversity returns.

use super::*;

/// A council workforce extract in the canonical layout, one file per yearly
/// snapshot (31 March), with starters and leavers between them.
pub(super) fn write_workforce(dir: &Path, rng: &mut Rng) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut people: Vec<Person> = Vec::new();
    let mut next_id = 100_000u32;
    for _ in 0..2400 {
        let year = 1995 + (rng.f64() * 28.0) as i32;
        people.push(hire(rng, year, &mut next_id));
    }
    let mut files = Vec::new();
    for year in [2023, 2024, 2025] {
        if year > 2023 {
            for p in people.iter_mut().filter(|p| p.left.is_none()) {
                if rng.f64() < 0.09 {
                    p.left = Some(format!(
                        "{}-{:02}-15",
                        year - 1,
                        4 + (rng.f64() * 8.0) as u32
                    ));
                }
            }
            for _ in 0..230 {
                people.push(hire(rng, year - 1, &mut next_id));
            }
        }
        files.push(write_snapshot(dir, &people, year, rng)?);
    }
    Ok(files)
}

const GRADES: [&str; 12] = [
    "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10", "SM1", "SM2",
];
const UNITS: [&str; 6] = [
    "Adult Social Care",
    "Children's Services",
    "Neighbourhoods",
    "Growth and Development",
    "Corporate Core",
    "Public Health",
];
const ETHNIC: [(&str, f64); 12] = [
    (
        "White: English, Welsh, Scottish, Northern Irish or British",
        62.0,
    ),
    ("White: Irish", 2.0),
    ("White: Other White", 4.0),
    ("Asian, Asian British or Asian Welsh: Pakistani", 7.0),
    ("Asian, Asian British or Asian Welsh: Indian", 3.0),
    ("Asian, Asian British or Asian Welsh: Bangladeshi", 2.0),
    (
        "Black, Black British, Black Welsh, Caribbean or African: African",
        4.0,
    ),
    (
        "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
        3.0,
    ),
    (
        "Mixed or Multiple ethnic groups: White and Black Caribbean",
        2.0,
    ),
    ("Other ethnic group: Arab", 1.0),
    ("Prefer not to say", 4.0),
    ("", 6.0),
];

/// One item, drawn with the items' weights.
fn pick(rng: &mut Rng, items: &[(&'static str, f64)]) -> &'static str {
    let total: f64 = items.iter().map(|i| i.1).sum();
    let mut x = rng.range(0.0, total);
    for (v, w) in items {
        if x < *w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// One employee of the synthetic council.
struct Person {
    id: u32,
    unit: usize,
    grade: usize,
    sex: &'static str,
    ethnic: &'static str,
    disability: &'static str,
    religion: &'static str,
    orientation: &'static str,
    birth_year: i32,
    hours: f64,
    start: String,
    left: Option<String>,
}

/// A new employee, hired in `year`.
fn hire(rng: &mut Rng, year: i32, next_id: &mut u32) -> Person {
    *next_id += 1;
    let grade = ((rng.f64().powf(1.6)) * GRADES.len() as f64) as usize;
    let sex = if rng.f64() < 0.6 - grade as f64 * 0.02 {
        "F"
    } else {
        "M"
    };
    Person {
        id: *next_id,
        unit: (rng.f64() * UNITS.len() as f64) as usize,
        grade: grade.min(GRADES.len() - 1),
        sex,
        ethnic: pick(rng, &ETHNIC),
        disability: pick(
            rng,
            &[
                ("No", 80.0),
                ("Yes", 9.0),
                ("Prefer not to say", 4.0),
                ("", 7.0),
            ],
        ),
        religion: pick(
            rng,
            &[
                ("Christian", 38.0),
                ("None", 31.0),
                ("Muslim", 10.0),
                ("Hindu", 2.0),
                ("Sikh", 1.0),
                ("Jewish", 0.6),
                ("Buddhist", 0.6),
                ("Any other religion", 0.8),
                ("Prefer not to say", 7.0),
                ("", 9.0),
            ],
        ),
        orientation: pick(
            rng,
            &[
                ("Heterosexual", 80.0),
                ("Gay/Lesbian", 2.6),
                ("Bisexual", 1.6),
                ("Other", 0.5),
                ("Prefer not to say", 8.0),
                ("", 7.3),
            ],
        ),
        birth_year: 1960 + (rng.f64() * 45.0) as i32,
        hours: if rng.f64() < 0.75 {
            37.0
        } else {
            (rng.range(15.0, 30.0) * 2.0).round() / 2.0
        },
        start: format!(
            "{}-{:02}-{:02}",
            year,
            1 + (rng.f64() * 12.0) as u32,
            1 + (rng.f64() * 28.0) as u32
        ),
        left: Option::None,
    }
}

/// One yearly snapshot's extract. The newest comes as HR systems export
/// it from Excel: Windows-1252, UK dates, pay with a pound sign.
fn write_snapshot(
    dir: &Path,
    people: &[Person],
    year: i32,
    rng: &mut Rng,
) -> std::io::Result<PathBuf> {
    let snapshot = format!("{year}-03-31");
    let path = dir.join(format!("workforce-{snapshot}.csv"));
    let excel = year == 2025;
    let uk = |iso: &str| -> String {
        if excel && iso.len() == 10 {
            format!("{}/{}/{}", &iso[8..10], &iso[5..7], &iso[..4])
        } else {
            iso.to_string()
        }
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "employee_id",
        "snapshot_date",
        "org_unit",
        "grade",
        "sex",
        "ethnic_group",
        "disability",
        "religion",
        "sexual_orientation",
        "age",
        "contract_hours",
        "hourly_pay",
        "bonus_pay",
        "start_date",
        "leaver_date",
        "full_pay_relevant",
    ])?;
    for p in people {
        let started = p.start.as_str() <= snapshot.as_str();
        let gone = p.left.as_deref().is_some_and(|l| l <= snapshot.as_str());
        if !started || gone {
            continue;
        }
        let base = 11.44 + p.grade as f64 * 2.35 + (year - 2023) as f64 * 0.6;
        let pay = base * if p.sex == "M" { 1.03 } else { 1.0 } * rng.range(0.97, 1.05);
        let bonus = if p.grade >= 9 && rng.f64() < 0.4 {
            format!("{:.2}", rng.range(300.0, 2500.0))
        } else {
            "0".into()
        };
        w.write_record([
            format!("NB{:06}", p.id),
            uk(&snapshot),
            UNITS[p.unit].to_string(),
            GRADES[p.grade].to_string(),
            p.sex.to_string(),
            p.ethnic.to_string(),
            p.disability.to_string(),
            p.religion.to_string(),
            p.orientation.to_string(),
            (year - p.birth_year).to_string(),
            format!("{:.1}", p.hours),
            if excel {
                format!("£{pay:.2}")
            } else {
                format!("{pay:.2}")
            },
            bonus,
            uk(&p.start),
            String::new(),
            // About 3% on reduced or nil pay for leave in the period.
            if rng.f64() < 0.03 { "N" } else { "Y" }.to_string(),
        ])?;
    }
    let text =
        String::from_utf8(w.into_inner().map_err(|e| e.into_error())?).expect("written as UTF-8");
    let bytes = if excel {
        let (b, _, lossy) = encoding_rs::WINDOWS_1252.encode(&text);
        assert!(!lossy, "the demo's text fits Windows-1252");
        b.into_owned()
    } else {
        text.into_bytes()
    };
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// The file of the city's anchor organisations' published workforce
/// diversity returns (the open diversity-data format), as a partnership
/// collects them: dated by year, by month or by day as each employer
/// wrote it, one Asian count withheld (`[c]`), thousands separators.
pub(super) const DIVERSITY_FILE: &str = "anchor-diversity-returns-2024.csv";

pub(super) fn write_diversity_returns(public: &Path) -> std::io::Result<()> {
    let rows = [
        (
            "2024",
            "Northbridge City Council",
            "7,236",
            ["4,101", "3,135", "0"],
            ["5,502", "398", "301", "[c]", "96"],
        ),
        (
            "2024-03",
            "Northbridge NHS Trust",
            "9,870",
            ["7,322", "2,501", "47"],
            ["6,410", "1,622", "612", "588", "238"],
        ),
        (
            "2024-03-31",
            "Northbridge College",
            "1,140",
            ["702", "431", "7"],
            ["866", "141", "58", "39", "20"],
        ),
    ];
    let mut s = String::from(
        "published,organisation,organisation_level,employees,gender_female,gender_male,gender_prefernottosay,ethnicity_white,ethnicity_asian,ethnicity_black,ethnicity_mixed,ethnicity_other\n",
    );
    let q = |v: &str| {
        if v.contains(',') {
            format!("\"{v}\"")
        } else {
            v.to_string()
        }
    };
    for (date, org, employees, gender, ethnicity) in rows {
        let cells: Vec<String> = gender
            .iter()
            .chain(ethnicity.iter())
            .map(|v| q(v))
            .collect();
        s.push_str(&format!(
            "{date},{org},organisation,{},{}\n",
            q(employees),
            cells.join(",")
        ));
    }
    std::fs::write(public.join(DIVERSITY_FILE), s)
}
