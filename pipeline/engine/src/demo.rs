//! The built-in demo: a fictional city, "Northbridge", generated
//! deterministically in the real published formats, served from a local
//! HTTP server so the real fetch path runs, and put through the real
//! pipeline. No network, no config.
//!
//! Generated inputs (in `<out>-input/`, beside the outputs):
//! * `public/census2021-tsNNN.zip`: Nomis Census 2021 bulk layout, members
//!   `census2021-tsNNN-{ctry,ltla,wd}.csv` with the published column labels;
//!   wards add up to the city, categories add up to their totals;
//! * `public/imd2019-lsoa-scores-ranks-deciles.csv`: an IoD2019-style LSOA
//!   file (scores, ranks, deciles, population denominators);
//! * `public/lsoa11-to-wd22-to-lad22-lookup.csv`: an ONS-style lookup of
//!   the city's LSOAs to wards and the local authority;
//! * `workforce/workforce-YYYY-MM-DD.csv`: a council workforce extract, three
//!   yearly snapshots (identifiers are fictional);
//! * `recruitment/applications.csv`: an applicant-tracking export, two
//!   financial years, stages in the system's own words;
//! * `services/contacts-2024-25.csv` and `public/nspl-northbridge.csv`: a
//!   case-system extract (three services, clients' postcodes and dates of
//!   birth) and an NSPL-style postcode lookup.
//!
//! Every figure is invented. Area codes use the unused `…999…` ranges so
//! they cannot be mistaken for real areas, apart from the national rows
//! (`K04000001`, `E92000001`, `W92000004`) the bulk files always carry.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{Config, FetchConfig, IndicatorConfig, Isolation, SourceConfig};

/// The fictional local authority.
pub const CITY_CODE: &str = "E08999001";
/// Its name.
pub const CITY_NAME: &str = "Northbridge";
/// The environment variable the demo's workforce source reads its
/// pseudonymisation key from.
pub const KEY_ENV: &str = "EQPIPE_DEMO_PSEUDONYMISATION_KEY";
/// The key the demo uses when that variable is not set. Only for the
/// fictional demo data: a real deployment sets its own secret.
pub const DEMO_KEY: &str = "demo-only-key-not-a-secret-0001";

/// Where the demo writes its inputs for outputs in `out`: beside it.
pub fn input_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "eqpipe-demo".into());
    out.with_file_name(format!("{name}-input"))
}
/// The IoD2019-style file the demo serves.
pub const IMD_FILE: &str = "imd2019-lsoa-scores-ranks-deciles.csv";
/// The ONS-style LSOA → ward → local authority lookup the demo serves.
pub const LOOKUP_FILE: &str = "lsoa11-to-wd22-to-lad22-lookup.csv";
/// The NSPL-style postcode lookup of the city's fictional postcodes.
pub const POSTCODE_FILE: &str = "nspl-northbridge.csv";
/// England and Wales, the national comparator.
pub const EW_CODE: &str = "K04000001";

/// A deterministic random stream (SplitMix64), so the demo is identical on
/// every machine and every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
}

/// How a category's share moves with a ward's character.
#[derive(Clone, Copy)]
enum Drift {
    None,
    /// Grows with ethnic diversity.
    Diverse,
    /// Grows with deprivation.
    Deprived,
    /// Grows with the share of young adults.
    Young,
    /// Grows with the share of older people.
    Old,
}

/// A Census table as published: code, topic, total label, whether labels
/// carry `; measures: Value`, population base share, and categories (label,
/// England and Wales percent for leaves, drift). A label `A: B` is a child
/// of `A`; parents carry no percent of their own.
struct TableSpec {
    code: &'static str,
    topic: &'static str,
    total: &'static str,
    measures_suffix: bool,
    base_share: f64,
    categories: &'static [(&'static str, f64, Drift)],
}

use Drift::*;

const TABLES: &[TableSpec] = &[
    TableSpec {
        code: "TS008",
        topic: "Sex",
        total: "All persons",
        measures_suffix: true,
        base_share: 1.0,
        categories: &[("Female", 51.04, None), ("Male", 48.96, None)],
    },
    TableSpec {
        code: "TS007A",
        topic: "Age",
        total: "Total",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Aged 4 years and under", 5.42, Young),
            ("Aged 5 to 9 years", 5.91, Young),
            ("Aged 10 to 14 years", 6.03, Young),
            ("Aged 15 to 19 years", 5.7, Young),
            ("Aged 20 to 24 years", 6.04, Young),
            ("Aged 25 to 29 years", 6.55, Young),
            ("Aged 30 to 34 years", 6.96, Young),
            ("Aged 35 to 39 years", 6.68, None),
            ("Aged 40 to 44 years", 6.3, None),
            ("Aged 45 to 49 years", 6.36, None),
            ("Aged 50 to 54 years", 6.92, None),
            ("Aged 55 to 59 years", 6.76, Old),
            ("Aged 60 to 64 years", 5.8, Old),
            ("Aged 65 to 69 years", 4.94, Old),
            ("Aged 70 to 74 years", 5.0, Old),
            ("Aged 75 to 79 years", 3.64, Old),
            ("Aged 80 to 84 years", 2.54, Old),
            ("Aged 85 years and over", 2.44, Old),
        ],
    },
    TableSpec {
        code: "TS021",
        topic: "Ethnic group",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Asian, Asian British or Asian Welsh", 0.0, None),
            (
                "Asian, Asian British or Asian Welsh: Bangladeshi",
                1.08,
                Diverse,
            ),
            (
                "Asian, Asian British or Asian Welsh: Chinese",
                0.75,
                Diverse,
            ),
            ("Asian, Asian British or Asian Welsh: Indian", 3.13, Diverse),
            (
                "Asian, Asian British or Asian Welsh: Pakistani",
                2.66,
                Diverse,
            ),
            (
                "Asian, Asian British or Asian Welsh: Other Asian",
                1.63,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African",
                0.0,
                None,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: African",
                2.5,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
                1.05,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: Other Black",
                0.5,
                Diverse,
            ),
            ("Mixed or Multiple ethnic groups", 0.0, None),
            (
                "Mixed or Multiple ethnic groups: White and Asian",
                0.82,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: White and Black African",
                0.42,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: White and Black Caribbean",
                0.86,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups",
                0.78,
                Diverse,
            ),
            ("White", 0.0, None),
            (
                "White: English, Welsh, Scottish, Northern Irish or British",
                74.42,
                None,
            ),
            ("White: Irish", 0.85, None),
            ("White: Gypsy or Irish Traveller", 0.11, Deprived),
            ("White: Roma", 0.17, Deprived),
            ("White: Other White", 6.15, Young),
            ("Other ethnic group", 0.0, None),
            ("Other ethnic group: Arab", 0.56, Diverse),
            ("Other ethnic group: Any other ethnic group", 1.55, Diverse),
        ],
    },
    TableSpec {
        code: "TS029",
        topic: "Proficiency in English language",
        total: "Total: All usual residents aged 3 years and over",
        measures_suffix: false,
        base_share: 0.965,
        categories: &[
            (
                "Main language is English (English or Welsh in Wales)",
                91.1,
                None,
            ),
            (
                "Main language is not English (English or Welsh in Wales)",
                0.0,
                None,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Can speak English very well",
                3.91,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Can speak English well",
                3.19,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Cannot speak English well",
                1.52,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Cannot speak English",
                0.28,
                Diverse,
            ),
        ],
    },
    TableSpec {
        code: "TS030",
        topic: "Religion",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("No religion", 37.19, Young),
            ("Christian", 46.18, Old),
            ("Buddhist", 0.46, Diverse),
            ("Hindu", 1.73, Diverse),
            ("Jewish", 0.46, None),
            ("Muslim", 6.49, Diverse),
            ("Sikh", 0.88, Diverse),
            ("Other religion", 0.58, None),
            ("Not answered", 6.03, None),
        ],
    },
    TableSpec {
        code: "TS038",
        topic: "Disability",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Disabled under the Equality Act", 0.0, None),
            (
                "Disabled under the Equality Act: Day-to-day activities limited a lot",
                7.48,
                Deprived,
            ),
            (
                "Disabled under the Equality Act: Day-to-day activities limited a little",
                10.04,
                Deprived,
            ),
            ("Not disabled under the Equality Act", 0.0, None),
            (
                "Not disabled under the Equality Act: Has long term physical or mental health condition but day-to-day activities are not limited",
                6.82,
                None,
            ),
            (
                "Not disabled under the Equality Act: No long term physical or mental health conditions",
                75.66,
                None,
            ),
        ],
    },
    TableSpec {
        code: "TS077",
        topic: "Sexual orientation",
        total: "Total: All usual residents aged 16 years and over",
        measures_suffix: false,
        base_share: 0.81,
        categories: &[
            ("Straight or Heterosexual", 89.37, None),
            ("Gay or Lesbian", 1.54, Young),
            ("Bisexual", 1.28, Young),
            ("All other sexual orientations", 0.34, Young),
            ("Not answered", 7.47, None),
        ],
    },
    TableSpec {
        code: "TS078",
        topic: "Gender identity",
        total: "Total: All usual residents aged 16 years and over",
        measures_suffix: false,
        base_share: 0.81,
        categories: &[
            (
                "Gender identity the same as sex registered at birth",
                93.46,
                None,
            ),
            (
                "Gender identity different from sex registered at birth but no specific identity given",
                0.24,
                Young,
            ),
            ("Trans woman", 0.1, Young),
            ("Trans man", 0.1, Young),
            ("All other gender identities", 0.1, Young),
            ("Not answered", 6.0, None),
        ],
    },
];

const WARD_NAMES: &[&str] = &[
    "Ashworth",
    "Bramley Park",
    "Canal Side",
    "Dunmore",
    "Eastgate",
    "Fenwick",
    "Greystone",
    "Harbour",
    "Ironbridge",
    "Jubilee",
    "Kingsmead",
    "Larkhill",
    "Millbrook",
    "Northfields",
    "Oakwood",
    "Priory",
    "Queensway",
    "Riverside",
    "St Anne's",
    "Thornley",
    "University",
    "Victoria Park",
    "Westcliffe",
    "Yarrow",
];

/// A ward's character, which shapes its shares.
struct Area {
    code: String,
    name: String,
    population: f64,
    diverse: f64,
    deprived: f64,
    young: f64,
}

fn factor(d: Drift, a: &Area) -> f64 {
    match d {
        None => 1.0,
        Diverse => a.diverse,
        Deprived => a.deprived,
        Young => a.young,
        Old => 1.0 / a.young,
    }
}

/// Splits `total` over weights with largest-remainder rounding.
fn apportion(total: i64, weights: &[f64]) -> Vec<i64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<i64> = exact.iter().map(|x| x.floor() as i64).collect();
    let mut left = total - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left <= 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// One area's counts for a table: total first, then every category in
/// header order (parents are the sums of their children).
fn table_counts(t: &TableSpec, a: &Area, rng: &mut Rng) -> Vec<i64> {
    let base = (a.population * t.base_share).round() as i64;
    let is_parent = |label: &str| {
        t.categories.iter().any(|(l, _, _)| {
            l.len() > label.len() && l.starts_with(label) && l[label.len()..].starts_with(": ")
        })
    };
    let leaves: Vec<usize> = (0..t.categories.len())
        .filter(|&i| !is_parent(t.categories[i].0))
        .collect();
    let weights: Vec<f64> = leaves
        .iter()
        .map(|&i| {
            let (_, pct, drift) = t.categories[i];
            pct * factor(drift, a) * rng.range(0.85, 1.15)
        })
        .collect();
    let leaf_counts = apportion(base, &weights);
    let mut counts = vec![0i64; t.categories.len()];
    for (k, &i) in leaves.iter().enumerate() {
        counts[i] = leaf_counts[k];
    }
    let leaf_only = counts.clone();
    for (i, (label, _, _)) in t.categories.iter().enumerate() {
        if is_parent(label) {
            counts[i] = t
                .categories
                .iter()
                .zip(&leaf_only)
                .filter(|((l, _, _), _)| l.starts_with(label) && l[label.len()..].starts_with(": "))
                .map(|(_, c)| *c)
                .sum();
        }
    }
    let mut out = vec![base];
    out.extend(counts);
    out
}

fn header_line(t: &TableSpec) -> String {
    let suffix = if t.measures_suffix {
        "; measures: Value"
    } else {
        ""
    };
    let mut cols = vec![
        "\"date\"".to_string(),
        "\"geography\"".into(),
        "\"geography code\"".into(),
    ];
    cols.push(format!("\"{}: {}{suffix}\"", t.topic, t.total));
    for (label, _, _) in t.categories {
        cols.push(format!("\"{}: {label}{suffix}\"", t.topic));
    }
    cols.join(",")
}

fn data_line(code: &str, name: &str, counts: &[i64]) -> String {
    let mut s = format!("\"2021\",\"{name}\",\"{code}\"");
    for c in counts {
        s.push(',');
        s.push_str(&c.to_string());
    }
    s
}

fn sum_rows(rows: &[Vec<i64>]) -> Vec<i64> {
    let mut out = vec![0i64; rows[0].len()];
    for r in rows {
        for (o, v) in out.iter_mut().zip(r) {
            *o += v;
        }
    }
    out
}

/// Writes `census2021-<code>.zip` with its ctry, ltla (the city: the sum
/// of its wards) and wd members.
fn write_table_zip(
    public: &Path,
    code: &str,
    header: &str,
    wards: &[Area],
    ward_rows: &[Vec<i64>],
    national: &[Area],
    national_rows: &[Vec<i64>],
) -> std::io::Result<()> {
    let lower = code.to_ascii_lowercase();
    let city = sum_rows(ward_rows);
    let mut wd = vec![header.to_string()];
    for (w, r) in wards.iter().zip(ward_rows) {
        wd.push(data_line(&w.code, &w.name, r));
    }
    let ltla = [header.to_string(), data_line(CITY_CODE, CITY_NAME, &city)];
    let mut ctry = vec![header.to_string()];
    for (a, r) in national.iter().zip(national_rows) {
        ctry.push(data_line(&a.code, &a.name, r));
    }
    let zip_path = public.join(format!("census2021-{lower}.zip"));
    let file = std::fs::File::create(&zip_path)?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (level, lines) in [
        ("ctry", ctry.as_slice()),
        ("ltla", &ltla[..]),
        ("wd", wd.as_slice()),
    ] {
        zip.start_file(format!("census2021-{lower}-{level}.csv"), opts)
            .map_err(std::io::Error::other)?;
        zip.write_all((lines.join("\n") + "\n").as_bytes())?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// TS007's published bands (first year, last year, England and Wales
/// percent); single years sit beneath each, and "Aged 100 years and over"
/// beneath "Aged 85 years and over" after 99.
const TS007_BANDS: [(u32, u32, f64, Drift); 11] = [
    (0, 4, 5.4, Young),
    (5, 9, 5.9, Young),
    (10, 15, 7.2, Young),
    (16, 19, 4.6, Young),
    (20, 24, 6.0, Young),
    (25, 34, 13.5, Young),
    (35, 49, 19.3, None),
    (50, 64, 19.5, Old),
    (65, 74, 9.9, Old),
    (75, 84, 6.2, Old),
    (85, 100, 2.4, Old),
];

fn ts007_band_label(lo: u32, hi: u32) -> String {
    match (lo, hi) {
        (0, h) => format!("Aged {h} years and under"),
        (l, 100) => format!("Aged {l} years and over"),
        (l, h) => format!("Aged {l} to {h} years"),
    }
}

fn ts007_year_label(y: u32) -> String {
    match y {
        0 => "Aged under 1 year".into(),
        1 => "Aged 1 year".into(),
        100 => "Aged 100 years and over".into(),
        y => format!("Aged {y} years"),
    }
}

fn ts007_header() -> String {
    let mut cols = vec![
        "\"date\"".to_string(),
        "\"geography\"".into(),
        "\"geography code\"".into(),
        "\"Age: Total; measures: Value\"".into(),
    ];
    for (lo, hi, _, _) in TS007_BANDS {
        cols.push(format!(
            "\"Age: {}; measures: Value\"",
            ts007_band_label(lo, hi)
        ));
        for y in lo..=hi {
            cols.push(format!("\"Age: {}; measures: Value\"", ts007_year_label(y)));
        }
    }
    cols.join(",")
}

/// One area's TS007 row: total, then each band followed by its years.
fn ts007_counts(a: &Area, rng: &mut Rng) -> Vec<i64> {
    let mut weights = Vec::new();
    for (lo, hi, pct, drift) in TS007_BANDS {
        // 100+ is a sliver of 85+.
        let years = (hi - lo + 1) as f64;
        for y in lo..=hi {
            let w = if y == 100 { 0.02 } else { 1.0 };
            weights.push(pct / years * w * factor(drift, a) * rng.range(0.9, 1.1));
        }
    }
    let total = a.population.round() as i64;
    let years = apportion(total, &weights);
    let mut out = vec![total];
    let mut k = 0;
    for (lo, hi, _, _) in TS007_BANDS {
        let n = (hi - lo + 1) as usize;
        out.push(years[k..k + n].iter().sum());
        out.extend_from_slice(&years[k..k + n]);
        k += n;
    }
    out
}

/// What the generator wrote.
#[derive(Debug, Clone)]
pub struct DemoInputs {
    /// Folder served over HTTP (the public files).
    pub public_dir: PathBuf,
    /// The workforce extracts.
    pub workforce_files: Vec<PathBuf>,
    /// Table codes generated.
    pub tables: Vec<String>,
    /// Ward codes.
    pub wards: Vec<String>,
}

fn wards(rng: &mut Rng) -> Vec<Area> {
    WARD_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| Area {
            code: format!("E05999{:03}", i + 1),
            name: name.to_string(),
            population: rng.range(14_000.0, 31_000.0).round(),
            diverse: rng.range(0.3, 4.5),
            deprived: rng.range(0.6, 1.8),
            young: rng.range(0.7, 1.6),
        })
        .collect()
}

/// Writes the demo's inputs under `dir` (deterministic).
pub fn generate(dir: &Path) -> std::io::Result<DemoInputs> {
    let public = dir.join("public");
    std::fs::create_dir_all(&public)?;
    let mut rng = Rng(0x00E9_A11E_2021);
    let wards = wards(&mut rng);
    let national = [
        Area {
            code: "K04000001".into(),
            name: "England and Wales".into(),
            population: 59_597_542.0,
            diverse: 1.0,
            deprived: 1.0,
            young: 1.0,
        },
        Area {
            code: "E92000001".into(),
            name: "England".into(),
            population: 56_490_048.0,
            diverse: 1.04,
            deprived: 1.0,
            young: 1.0,
        },
        Area {
            code: "W92000004".into(),
            name: "Wales".into(),
            population: 3_107_494.0,
            diverse: 0.35,
            deprived: 1.1,
            young: 0.95,
        },
    ];
    let mut tables = Vec::new();
    for t in TABLES {
        let header = header_line(t);
        let ward_rows: Vec<Vec<i64>> = wards.iter().map(|w| table_counts(t, w, &mut rng)).collect();
        let national_rows: Vec<Vec<i64>> = national
            .iter()
            .map(|a| table_counts(t, a, &mut rng))
            .collect();
        write_table_zip(
            &public,
            t.code,
            &header,
            &wards,
            &ward_rows,
            &national,
            &national_rows,
        )?;
        tables.push(t.code.to_string());
    }
    // TS007, single year of age, in its published layout: bands with the
    // single years beneath them and nothing in the labels to say so.
    let header = ts007_header();
    let ward_rows: Vec<Vec<i64>> = wards.iter().map(|w| ts007_counts(w, &mut rng)).collect();
    let national_rows: Vec<Vec<i64>> = national.iter().map(|a| ts007_counts(a, &mut rng)).collect();
    write_table_zip(
        &public,
        "TS007",
        &header,
        &wards,
        &ward_rows,
        &national,
        &national_rows,
    )?;
    tables.push("TS007".to_string());
    let lsoas = write_imd(&public, &wards, &mut rng)?;
    let workforce_files = write_workforce(&dir.join("workforce"), &mut rng)?;
    write_recruitment(&dir.join("recruitment"), &mut rng)?;
    write_services(&dir.join("services"), &public, &lsoas, &mut rng)?;
    write_diversity_returns(&public)?;
    Ok(DemoInputs {
        public_dir: public,
        workforce_files,
        tables,
        wards: wards.iter().map(|w| w.code.clone()).collect(),
    })
}

/// The file of the city's anchor organisations' published workforce
/// diversity returns (the open diversity-data format), as a partnership
/// collects them: dated by year, by month or by day as each employer
/// wrote it, one Asian count withheld (`[c]`), thousands separators.
pub const DIVERSITY_FILE: &str = "anchor-diversity-returns-2024.csv";

fn write_diversity_returns(public: &Path) -> std::io::Result<()> {
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

/// A generated LSOA: code, ward, IMD decile, residents.
struct Lsoa {
    code: String,
    ward: String,
    decile: u32,
    population: u32,
}

/// `29199` as `29,199`, as Excel writes numbers saved to CSV.
fn thousands(n: u32) -> String {
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
fn write_imd(dir: &Path, wards: &[Area], rng: &mut Rng) -> std::io::Result<Vec<Lsoa>> {
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

/// A case-system extract (contacts with three services in 2024-25, the
/// client's postcode and date of birth) and an NSPL-style postcode lookup
/// for the city's fictional `NB` postcodes. Use leans towards deprived
/// neighbourhoods for some services and away for others.
fn write_services(dir: &Path, public: &Path, lsoas: &[Lsoa], rng: &mut Rng) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut nspl = csv::Writer::from_path(public.join(POSTCODE_FILE))?;
    nspl.write_record([
        "pcd", "pcds", "dointr", "doterm", "lsoa11", "lsoa21cd", "wd22cd", "lad22cd",
    ])?;
    let postcode = |i: usize, k: usize| {
        format!(
            "NB{} {}{}{}",
            1 + i / 40,
            k,
            (b'A' + (i % 26) as u8) as char,
            (b'A' + (i / 26 % 26) as u8) as char
        )
    };
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

/// A council workforce extract in the canonical layout, one file per yearly
/// snapshot (31 March), with starters and leavers between them.
fn write_workforce(dir: &Path, rng: &mut Rng) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let grades = [
        "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10", "SM1", "SM2",
    ];
    let units = [
        "Adult Social Care",
        "Children's Services",
        "Neighbourhoods",
        "Growth and Development",
        "Corporate Core",
        "Public Health",
    ];
    let ethnic = [
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
    let pick = |rng: &mut Rng, items: &[(&'static str, f64)]| -> &'static str {
        let total: f64 = items.iter().map(|i| i.1).sum();
        let mut x = rng.range(0.0, total);
        for (v, w) in items {
            if x < *w {
                return v;
            }
            x -= w;
        }
        items[items.len() - 1].0
    };
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
    let mut people: Vec<Person> = Vec::new();
    let mut next_id = 100_000u32;
    let mut hire = |rng: &mut Rng, year: i32| -> Person {
        next_id += 1;
        let grade = ((rng.f64().powf(1.6)) * grades.len() as f64) as usize;
        let sex = if rng.f64() < 0.6 - grade as f64 * 0.02 {
            "F"
        } else {
            "M"
        };
        Person {
            id: next_id,
            unit: (rng.f64() * units.len() as f64) as usize,
            grade: grade.min(grades.len() - 1),
            sex,
            ethnic: pick(rng, &ethnic),
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
    };
    for _ in 0..2400 {
        let year = 1995 + (rng.f64() * 28.0) as i32;
        people.push(hire(rng, year));
    }
    let mut files = Vec::new();
    for year in [2023, 2024, 2025] {
        let snapshot = format!("{year}-03-31");
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
                people.push(hire(rng, year - 1));
            }
        }
        let path = dir.join(format!("workforce-{snapshot}.csv"));
        // The newest snapshot comes as HR systems export it from Excel:
        // Windows-1252, UK dates, pay with a pound sign.
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
        for p in &people {
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
                units[p.unit].to_string(),
                grades[p.grade].to_string(),
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
        let text = String::from_utf8(w.into_inner().map_err(|e| e.into_error())?)
            .expect("written as UTF-8");
        let bytes = if excel {
            let (b, _, lossy) = encoding_rs::WINDOWS_1252.encode(&text);
            assert!(!lossy, "the demo's text fits Windows-1252");
            b.into_owned()
        } else {
            text.into_bytes()
        };
        std::fs::write(&path, bytes)?;
        files.push(path);
    }
    Ok(files)
}

fn table(entries: &[(&str, toml::Value)]) -> toml::Table {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// An applicant-tracking export: two financial years of applications, the
/// furthest stage in the system's own words, with a built-in disparity
/// (minority ethnic and disabled applicants less often appointed once
/// shortlisted), so the relative likelihood has something to show.
fn write_recruitment(dir: &Path, rng: &mut Rng) -> std::io::Result<PathBuf> {
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

/// A built-in source step of the demo.
fn source(name: &str, plugin: &str, options: toml::Table, max_rejected_pct: f64) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        plugin: Some(plugin.into()),
        library: Option::None,
        isolation: Isolation::InProcess,
        timeout_secs: Option::None,
        memory_limit_mb: Option::None,
        options,
        max_rejected_pct: Some(max_rejected_pct),
        parse: Default::default(),
        accept_shrink: false,
    }
}

/// A built-in indicator step of the demo.
fn indicator(name: &str, plugin: &str, options: toml::Table) -> IndicatorConfig {
    IndicatorConfig {
        name: Some(name.into()),
        plugin: Some(plugin.into()),
        library: Option::None,
        isolation: Isolation::InProcess,
        timeout_secs: Option::None,
        memory_limit_mb: Option::None,
        options,
    }
}

/// The pipeline configuration the demo runs, against the local server.
pub fn config(base_url: &str, tables: &[String], base_dir: &Path) -> Config {
    let mut source_options = toml::Table::new();
    source_options.insert("base_url".into(), toml::Value::String(base_url.to_string()));
    source_options.insert(
        "tables".into(),
        toml::Value::Array(
            tables
                .iter()
                .map(|t| toml::Value::String(t.clone()))
                .collect(),
        ),
    );
    source_options.insert(
        "geography".into(),
        toml::Value::Array(
            ["ctry", "ltla", "wd"]
                .iter()
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
    );
    let mut profile_options = toml::Table::new();
    profile_options.insert(
        "comparators".into(),
        toml::Value::Array(vec![
            toml::Value::String(CITY_CODE.into()),
            toml::Value::String(EW_CODE.into()),
        ]),
    );
    profile_options.insert(
        "levels".into(),
        toml::Value::Array(vec![
            toml::Value::String("wd".into()),
            toml::Value::String("ltla".into()),
        ]),
    );
    Config {
        output_dir: Option::None,
        contracts_dir: Option::None,
        max_parallel: Option::None,
        disclosure: Default::default(),
        quality: Default::default(),
        schedules: Vec::new(),
        // The example objective sets of config/objectives/.
        objectives: eqpipe_publish::objectives::examples(),
        objective_files: Vec::new(),
        partners: Vec::new(),
        partnership: Default::default(),
        serve: Default::default(),
        versions: Default::default(),
        notify: Option::None,
        exports: Some(eqpipe_publish::export::ExportsConfig {
            formats: vec![
                eqpipe_publish::export::ExportFormat::Csv,
                eqpipe_publish::export::ExportFormat::Xlsx,
            ],
            indicators: vec!["pay_gap".into(), "workforce_representation".into()],
        }),
        fetch: FetchConfig {
            min_interval_ms: 0,
            ..FetchConfig::default()
        },
        sources: vec![
            source("census", "ons-census", source_options, 0.0),
            source(
                "imd",
                "deprivation",
                table(&[("url", toml::Value::String(format!("{base_url}{IMD_FILE}")))]),
                0.0,
            ),
            source(
                "workforce",
                "workforce",
                table(&[
                    (
                        "path",
                        toml::Value::String("workforce/workforce-*.csv".into()),
                    ),
                    (
                        "pseudonymisation_key_env",
                        toml::Value::String(KEY_ENV.into()),
                    ),
                    (
                        "senior",
                        toml::Value::Array(vec![
                            toml::Value::String("SM1".into()),
                            toml::Value::String("SM2".into()),
                        ]),
                    ),
                ]),
                1.0,
            ),
            source(
                "recruitment",
                "recruitment",
                table(&[
                    (
                        "path",
                        toml::Value::String("recruitment/applications.csv".into()),
                    ),
                    (
                        "pseudonymisation_key_env",
                        toml::Value::String(KEY_ENV.into()),
                    ),
                ]),
                1.0,
            ),
            source(
                "services",
                "service-usage",
                table(&[
                    (
                        "path",
                        toml::Value::String("services/contacts-*.csv".into()),
                    ),
                    (
                        "pseudonymisation_key_env",
                        toml::Value::String(KEY_ENV.into()),
                    ),
                    (
                        "postcode_lookup",
                        toml::Value::Table(table(&[(
                            "path",
                            toml::Value::String(format!("{base_url}{POSTCODE_FILE}")),
                        )])),
                    ),
                    (
                        "columns",
                        toml::Value::Table(table(&[
                            ("person_id", toml::Value::String("Client ID".into())),
                            ("contact_date", toml::Value::String("Contact Date".into())),
                            ("date_of_birth", toml::Value::String("Date of Birth".into())),
                            ("sex", toml::Value::String("Gender".into())),
                            ("ethnic_group", toml::Value::String("Ethnicity".into())),
                        ])),
                    ),
                ]),
                1.0,
            ),
            source(
                "diversity",
                "workforce-aggregate",
                table(&[(
                    "files",
                    toml::Value::Array(vec![toml::Value::String(format!(
                        "{base_url}{DIVERSITY_FILE}"
                    ))]),
                )]),
                0.0,
            ),
            source(
                "lookups",
                "geography",
                table(&[(
                    "lookups",
                    toml::Value::Array(vec![toml::Value::String(format!(
                        "{base_url}{LOOKUP_FILE}"
                    ))]),
                )]),
                0.0,
            ),
        ],
        indicators: vec![
            indicator("community_profile", "community-profile", profile_options),
            indicator(
                "deprivation_profile",
                "deprivation-profile",
                toml::Table::new(),
            ),
            indicator(
                "workforce_representation",
                "workforce-representation",
                table(&[(
                    "comparators",
                    toml::Value::Array(vec![toml::Value::Table(table(&[(
                        "area",
                        toml::Value::String(CITY_CODE.into()),
                    )]))]),
                )]),
            ),
            indicator("workforce_flows", "workforce-flows", toml::Table::new()),
            indicator(
                "service_equity",
                "service-equity",
                table(&[("catchment", toml::Value::String(CITY_CODE.into()))]),
            ),
            indicator("pay_gap", "pay-gap", toml::Table::new()),
            indicator(
                "workforce_benchmark",
                "workforce-benchmark",
                table(&[(
                    "comparators",
                    toml::Value::Table(table(&[(
                        "*",
                        toml::Value::Table(table(&[(
                            "area",
                            toml::Value::String(CITY_CODE.into()),
                        )])),
                    )])),
                )]),
            ),
        ],
        base_dir: base_dir.to_path_buf(),
        path: Option::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_keeps_the_total() {
        let v = apportion(1001, &[1.0, 1.0, 1.0]);
        assert_eq!(v.iter().sum::<i64>(), 1001);
        assert!(v.iter().all(|x| (333..=334).contains(x)));
    }

    #[test]
    fn generation_is_deterministic_and_tables_add_up() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        generate(a.path()).unwrap();
        generate(b.path()).unwrap();
        for f in [
            "public/census2021-ts021.zip",
            "public/imd2019-lsoa-scores-ranks-deciles.csv",
            "workforce/workforce-2025-03-31.csv",
        ] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap(),
                "{f} differs between two generations"
            );
        }
        let mut rng = Rng(7);
        let ward = &wards(&mut rng)[0];
        for t in TABLES {
            let c = table_counts(t, ward, &mut rng);
            let leaves: i64 = t
                .categories
                .iter()
                .zip(&c[1..])
                .filter(|((l, _, _), _)| {
                    !t.categories
                        .iter()
                        .any(|(m, _, _)| m.starts_with(&format!("{l}: ")))
                })
                .map(|(_, n)| *n)
                .sum();
            assert_eq!(leaves, c[0], "{}: leaves sum to the total", t.code);
        }
    }
}
