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
//!   birth) and an NSPL-style postcode lookup;
//! * `public/UK Gender Pay Gap Data - YYYY to YYYY.csv`: the gender pay gap
//!   service's yearly files for the council and its fictional peers, and
//!   `public/fingertips-demo-indicators.csv`: a Fingertips download of two
//!   fictional indicators with England's deprivation deciles;
//! * `public/northbridge-wards-december-2022.geojson`: the wards' boundaries
//!   in the ONS Open Geography layout.
//!
//! Every figure is invented. Area codes use the unused `…999…` ranges so
//! they cannot be mistaken for real areas, apart from the national rows
//! (`K04000001`, `E92000001`, `W92000004`) the bulk files always carry.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

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

use Drift::*;

mod census;
mod engagement;
mod evidence;
mod hate_crime;
mod imd;
mod recruitment;
mod services;
mod spend;
mod workforce;
use census::*;
use engagement::*;
pub use evidence::{FINGERTIPS_FILE, PAY_GAP_FILES, WARD_BOUNDARIES_FILE};
use evidence::{write_fingertips, write_pay_gap_returns, write_ward_boundaries};
use hate_crime::*;
use imd::*;
use recruitment::*;
use services::*;
use spend::*;
use workforce::*;

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
    write_spend(
        &dir.join("spend"),
        &dir.join("suppliers/supplier-register.csv"),
        &dir.join("grants/northbridge-grants-360giving.csv"),
        &lsoas,
        &mut rng,
    )?;
    write_consultation(&dir.join("engagement"), &lsoas, &mut rng)?;
    write_hate_crime(&dir.join("hate-crime"), &mut rng)?;
    write_pay_gap_returns(&public)?;
    write_fingertips(&public)?;
    write_ward_boundaries(&public, &wards)?;
    Ok(DemoInputs {
        public_dir: public,
        workforce_files,
        tables,
        wards: wards.iter().map(|w| w.code.clone()).collect(),
    })
}

/// The demo's pipeline (`config/demo.toml`), with `@…@` words to fill in.
const DEMO_TOML: &str = include_str!("../../../../config/demo.toml");

/// The pipeline configuration the demo runs, against the local server:
/// `config/demo.toml` with the server's address, the generated census
/// tables and the demo's codes and file names filled in, read like any
/// other config, plus the example objective sets of `config/objectives/`.
pub fn config(base_url: &str, tables: &[String], base_dir: &Path) -> Config {
    let tables = toml::Value::Array(tables.iter().cloned().map(toml::Value::String).collect());
    let text = [
        ("@BASE_URL@", base_url),
        ("@TABLES@", &tables.to_string()),
        ("@IMD_FILE@", IMD_FILE),
        ("@POSTCODE_FILE@", POSTCODE_FILE),
        ("@DIVERSITY_FILE@", DIVERSITY_FILE),
        ("@LOOKUP_FILE@", LOOKUP_FILE),
        ("@FINGERTIPS_FILE@", FINGERTIPS_FILE),
        ("@BOUNDARIES_FILE@", WARD_BOUNDARIES_FILE),
        ("@KEY_ENV@", KEY_ENV),
        ("@CITY_CODE@", CITY_CODE),
        ("@EW_CODE@", EW_CODE),
    ]
    .iter()
    .fold(DEMO_TOML.to_string(), |t, (word, value)| {
        t.replace(word, value)
    });
    let mut config = Config::parse(&text, "config/demo.toml", base_dir)
        .unwrap_or_else(|e| panic!("the demo's config/demo.toml: {e}"));
    config.objectives = eqpipe_publish::objectives::examples();
    config
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
