//! Indicators end to end through the real binary: a generated HR extract
//! goes through the `workforce` source into `pay-gap` and
//! `workforce-representation`; the figures are checked against an
//! independent calculation in this file, and the published copies against
//! the host's disclosure control (small groups withheld, secondary
//! suppression, one decimal place, raw rows only under restricted/).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use common::*;

const KEY_ENV: &str = "EQPIPE_TEST_INDICATOR_KEY";
const WHITE_BRITISH: &str = "White: English, Welsh, Scottish, Northern Irish or British";

/// One generated employee.
#[derive(Clone)]
struct Emp {
    id: String,
    sex: &'static str,
    ethnic: &'static str,
    disabled: &'static str,
    grade: &'static str,
    hourly: f64,
    bonus: f64,
    full_pay: bool,
    left_before: bool,
    age: u32,
}

/// A deterministic workforce of `n` with a pay gap built in: women and
/// ethnic minority staff are more often in lower grades. Four Mixed
/// staff make a group below the threshold. No two hourly rates are equal.
fn workforce(n: usize) -> Vec<Emp> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % 10_000
    };
    (0..n)
        .map(|i| {
            let sex = if next() < 5600 { "F" } else { "M" };
            let ethnic = match (i, next()) {
                (i, _) if i % 97 == 5 && i < 400 => "Mixed: White and Asian",
                (_, r) if r < 7000 => WHITE_BRITISH,
                (_, r) if r < 8200 => "Asian/Asian British: Pakistani",
                (_, r) if r < 9000 => "Black/African/Caribbean/Black British: African",
                (_, r) if r < 9300 => "Prefer not to say",
                _ => "White: Irish",
            };
            let disabled = match next() {
                r if r < 1100 => "Yes",
                r if r < 1500 => "",
                _ => "No",
            };
            let lower = (sex == "F") as u64 * 1500 + (ethnic != WHITE_BRITISH) as u64 * 1000;
            let grade = match next().saturating_sub(lower) {
                r if r < 3500 => "G3",
                r if r < 7000 => "G6",
                r if r < 9300 => "G9",
                _ => "SMT",
            };
            let base = match grade {
                "G3" => 12.0,
                "G6" => 17.0,
                "G9" => 25.0,
                _ => 41.0,
            };
            let hourly = base + next() as f64 / 2000.0 + i as f64 * 1e-6;
            let bonus = if grade == "SMT" || next() < 800 {
                200.0 + (next() % 900) as f64
            } else {
                0.0
            };
            Emp {
                id: format!("P{:06}", 100_000 + i),
                sex,
                ethnic,
                disabled,
                grade,
                hourly,
                bonus,
                full_pay: next() >= 400,
                left_before: next() < 150,
                age: 17 + (next() % 50) as u32,
            }
        })
        .collect()
}

fn csv(staff: &[Emp]) -> String {
    let mut s = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,full_pay_relevant\n",
    );
    for e in staff {
        writeln!(
            s,
            "{},2025-03-31,Services,{},{},\"{}\",{},{},37,{:.6},{},2015-04-01,{},{}",
            e.id,
            e.grade,
            e.sex,
            e.ethnic,
            e.disabled,
            e.age,
            e.hourly,
            e.bonus,
            if e.left_before { "2025-01-31" } else { "" },
            if e.full_pay { "Y" } else { "N" }
        )
        .unwrap();
    }
    s
}

fn setup(staff: &[Emp], indicators: &str) -> (tempfile::TempDir, PathBuf, std::process::Output) {
    setup_in(tempfile::tempdir().unwrap(), "", staff, indicators)
}

fn setup_in(
    dir: tempfile::TempDir,
    head: &str,
    staff: &[Emp],
    indicators: &str,
) -> (tempfile::TempDir, PathBuf, std::process::Output) {
    let hr = dir.path().join("hr.csv");
    std::fs::write(&hr, csv(staff)).unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "{head}output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nsenior = [\"SMT\"]\n{indicators}",
            hr.display()
        ),
    )
    .unwrap();
    let o = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env(KEY_ENV, "an-indicator-test-key")
        .output()
        .unwrap();
    let out = dir.path().join("out");
    (dir, out, o)
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(name).unwrap();
    let d = c.as_any_dictionary();
    let keys = d.normalized_keys();
    (0..b.num_rows())
        .map(|i| (!c.is_null(i)).then(|| d.values().as_string::<i32>().value(keys[i]).to_string()))
        .collect()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

/// (dimension, measure, group) -> (value, numerator, denominator, suppressed).
type Table = BTreeMap<(String, String, String), (Option<f64>, Option<f64>, Option<f64>, bool)>;

fn table(path: &Path) -> Table {
    let (_, _, _, batches) = read_parquet(path);
    let mut t = Table::new();
    for b in &batches {
        let (dim, measure, group) = (
            strings(b, "dimension"),
            strings(b, "measure"),
            strings(b, "group"),
        );
        let (v, num, den) = (
            floats(b, "value"),
            floats(b, "numerator_n"),
            floats(b, "denominator_n"),
        );
        let sup = b.column_by_name("suppressed").unwrap().as_boolean().clone();
        for i in 0..b.num_rows() {
            t.insert(
                (
                    dim[i].clone().unwrap(),
                    measure[i].clone().unwrap(),
                    group[i].clone().unwrap(),
                ),
                (v[i], num[i], den[i], sup.value(i)),
            );
        }
    }
    t
}

fn key(d: &str, m: &str, g: &str) -> (String, String, String) {
    (d.into(), m.into(), g.into())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[test]
fn pay_gaps_match_an_independent_calculation_and_are_published_protected() {
    let staff = workforce(700);
    let (_dir, out, o) = setup(
        &staff,
        "[[indicators]]\nplugin = \"pay-gap\"\n[indicators.options]\nsnapshot_date = \"2025-03-31\"\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        last_manifest(&out)["sources"][0]["datasets"]["workforce"]["quarantined"],
        0
    );

    // Independent calculation, straight from the generated records.
    let relevant: Vec<&Emp> = staff.iter().filter(|e| !e.left_before).collect();
    let hourly = |sex: &str| -> Vec<f64> {
        relevant
            .iter()
            .filter(|e| e.sex == sex && e.full_pay)
            .map(|e| (e.hourly * 1e6).round() / 1e6)
            .collect()
    };
    let bonus = |sex: &str| -> Vec<f64> {
        relevant
            .iter()
            .filter(|e| e.sex == sex && e.bonus > 0.0)
            .map(|e| e.bonus)
            .collect()
    };
    let (m, f) = (hourly("M"), hourly("F"));
    let mean_gap = (mean(&m) - mean(&f)) / mean(&m) * 100.0;
    let median_gap = (median(&m) - median(&f)) / median(&m) * 100.0;
    let (bm, bf) = (bonus("M"), bonus("F"));
    let mean_bonus_gap = (mean(&bm) - mean(&bf)) / mean(&bm) * 100.0;
    let women = relevant.iter().filter(|e| e.sex == "F").count() as f64;
    let pct_women_bonus = bf.len() as f64 / women * 100.0;
    // Quartiles: no ties, so plain positions; 4 bands, extras to the lower bands.
    let mut ranked: Vec<(f64, &str)> = relevant
        .iter()
        .filter(|e| e.full_pay)
        .map(|e| (e.hourly, e.sex))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = ranked.len();
    let sizes: Vec<usize> = (0..4).map(|b| n / 4 + usize::from(b < n % 4)).collect();
    let upper = &ranked[n - sizes[3]..];
    let upper_women = upper.iter().filter(|p| p.1 == "F").count() as f64 / sizes[3] as f64 * 100.0;

    let raw = table(&out.join("restricted/indicators/pay_gap/part-0.parquet"));
    let close = |k: (String, String, String), want: f64| {
        let got = raw[&k].0.unwrap_or_else(|| panic!("{k:?} has no value"));
        assert!((got - want).abs() < 1e-6, "{k:?}: {got} != {want}");
    };
    assert!(mean_gap > 5.0, "the generated data has a gap ({mean_gap})");
    close(key("sex", "mean_hourly_gap_pct", "F"), mean_gap);
    close(key("sex", "median_hourly_gap_pct", "F"), median_gap);
    close(key("sex", "mean_bonus_gap_pct", "F"), mean_bonus_gap);
    close(key("sex", "pct_receiving_bonus", "F"), pct_women_bonus);
    close(key("sex", "upper_quartile_pct", "F"), upper_women);
    let wb_hourly: Vec<f64> = relevant
        .iter()
        .filter(|e| e.ethnic == WHITE_BRITISH && e.full_pay)
        .map(|e| (e.hourly * 1e6).round() / 1e6)
        .collect();
    let minority_hourly: Vec<f64> = relevant
        .iter()
        .filter(|e| e.ethnic != WHITE_BRITISH && e.ethnic != "Prefer not to say" && e.full_pay)
        .map(|e| (e.hourly * 1e6).round() / 1e6)
        .collect();
    close(
        key("ethnicity", "mean_hourly_gap_pct", "All ethnic minorities"),
        (mean(&wb_hourly) - mean(&minority_hourly)) / mean(&wb_hourly) * 100.0,
    );
    let undisclosed = relevant
        .iter()
        .filter(|e| e.ethnic == "Prefer not to say")
        .count() as f64;
    close(
        key("ethnicity", "not_disclosed_pct", "not_disclosed"),
        undisclosed / relevant.len() as f64 * 100.0,
    );
    let disabled: Vec<f64> = relevant
        .iter()
        .filter(|e| e.disabled == "Yes" && e.full_pay)
        .map(|e| (e.hourly * 1e6).round() / 1e6)
        .collect();
    let not_disabled: Vec<f64> = relevant
        .iter()
        .filter(|e| e.disabled == "No" && e.full_pay)
        .map(|e| (e.hourly * 1e6).round() / 1e6)
        .collect();
    close(
        key("disability", "median_hourly_gap_pct", "disabled"),
        (median(&not_disabled) - median(&disabled)) / median(&not_disabled) * 100.0,
    );

    // The published copy: rounded, and the small Mixed group withheld.
    let published = table(&out.join("indicators/pay_gap/part-0.parquet"));
    assert_eq!(published.len(), raw.len());
    for (k, (v, num, _, sup)) in &published {
        let (rv, rnum, _, _) = raw[k];
        if *sup {
            assert_eq!(*v, None, "{k:?} suppressed but published");
            continue;
        }
        if let (Some(v), Some(rv)) = (v, rv) {
            assert_eq!(*v, (rv * 10.0).round() / 10.0, "{k:?} rounded to 1 dp");
        }
        assert!(
            num.unwrap() >= 10.0 || num.unwrap() == 0.0,
            "{k:?}: {num:?} published"
        );
        assert_eq!(num.unwrap(), (rnum.unwrap() * 10.0).round() / 10.0);
    }
    let mixed = key(
        "ethnicity",
        "mean_hourly_gap_pct",
        "Mixed or Multiple ethnic groups",
    );
    assert!(raw[&mixed].1.unwrap() < 10.0 && raw[&mixed].1.unwrap() > 0.0);
    assert!(published[&mixed].3 && published[&mixed].0.is_none() && published[&mixed].1.is_none());
    // Secondary suppression: no (dimension, measure) table of several
    // groups has exactly one suppressed group.
    let mut per_table: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for ((d, m, _), (_, _, _, sup)) in &published {
        let e = per_table.entry((d.clone(), m.clone())).or_default();
        e.0 += 1;
        e.1 += usize::from(*sup);
    }
    assert!(
        per_table.values().all(|&(rows, sup)| rows == 1 || sup != 1),
        "{per_table:?}"
    );
    assert!(per_table[&("ethnicity".into(), "mean_hourly_gap_pct".into())].1 >= 2);

    let manifest = last_manifest(&out);
    let ind = &manifest["indicators"][0];
    assert_eq!(ind["status"], "succeeded", "{ind}");
    assert!(ind["datasets"]["pay_gap"]["suppressed"].as_u64().unwrap() >= 1);
    assert!(
        ind["datasets"]["pay_gap"]["secondary_suppressed"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(
        ind["datasets"]["pay_gap"]["unsuppressed_file"],
        "restricted/indicators/pay_gap/part-0.parquet"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("restricted/indicators/pay_gap/part-0.parquet"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No identifier of a person anywhere in the published outputs or logs.
    let logs = text(&o);
    for e in staff.iter().take(50) {
        assert!(!logs.contains(&e.id));
        for f in files_under(&out.join("indicators")) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(&e.id));
        }
    }
}

#[test]
fn an_indicator_reading_personal_data_must_publish_through_disclosure_control() {
    // A contract for community_profile-shaped output without a disclosure
    // section cannot be used by an indicator that reads workforce: the
    // host refuses before the plugin runs. Here: pay-gap with an override
    // contract that drops the [disclosure] section.
    let staff = workforce(40);
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts");
    std::fs::create_dir_all(&contracts).unwrap();
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/contracts/pay_gap.toml"),
    )
    .unwrap();
    let start = original.find("[disclosure]").unwrap();
    let end = original.find("[[columns]]").unwrap();
    let unprotected =
        format!("{}{}", &original[..start], &original[end..]).replace("decimals = 1\n", "");
    std::fs::write(contracts.join("pay_gap.toml"), unprotected).unwrap();
    let head = format!("contracts_dir = \"{}\"\n", contracts.display());
    let (_d, out, o) = setup_in(dir, &head, &staff, "[[indicators]]\nplugin = \"pay-gap\"\n");
    assert_eq!(o.status.code(), Some(3), "partial: {}", text(&o));
    let logs = text(&o);
    assert!(logs.contains("has no [disclosure] section"), "{logs}");
    let m = last_manifest(&out);
    assert_eq!(m["indicators"][0]["status"], "failed");
    assert!(!out.join("indicators/pay_gap").exists());
}

fn shared_ts007() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/census2021/census2021-ts007-ltla.csv");
    assert!(
        p.exists(),
        "{} is missing: the shared data folder must sit beside the repository",
        p.display()
    );
    p
}

/// Manchester's real age structure (TS007, single years) as the comparator:
/// the age bands are checked against sums taken straight from the published
/// file; sex against a small TS008-layout file.
#[test]
fn representation_against_real_census_ages_by_grade_and_senior() {
    let staff = workforce(900);
    let dir = tempfile::tempdir().unwrap();
    let ts008 = dir.path().join("census2021-ts008-ltla.csv");
    // Made-up sex split for the test (the shared data has TS007 only).
    std::fs::write(
        &ts008,
        "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n\"2021\",\"Manchester\",\"E08000003\",551943,278300,273643\n",
    )
    .unwrap();
    let census = |name: &str, url: &Path, table: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"{table}\"]\ngeography = \"ltla\"\nareas = [\"E08000003\"]\n",
            url.display()
        )
    };
    let indicators = format!(
        "{}{}[[indicators]]\nplugin = \"workforce-representation\"\n[indicators.options]\ncharacteristics = [\"sex\", \"age_band\", \"ethnic_group_broad\"]\n[[indicators.options.comparators]]\narea = \"E08000003\"\n",
        census("ages", &shared_ts007(), "TS007"),
        census("sex", &ts008, "TS008"),
    );
    let (_d, out, o) = setup_in(dir, "", &staff, &indicators);
    // Ethnic group asked for with no TS021 loaded: compared with nothing,
    // and said so (a coverage warning, exit 4).
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains(
            "characteristics with no usable Census table, not compared (ethnic_group_broad)"
        ),
        "{}",
        text(&o)
    );

    // Independent: the published file's Manchester row, single years 16-100+.
    let mut r = csv::Reader::from_path(shared_ts007()).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let row = r
        .records()
        .map(|x| x.unwrap())
        .find(|x| &x[2] == "E08000003")
        .unwrap();
    let mut by_band: BTreeMap<&str, f64> = BTreeMap::new();
    for (h, v) in header.iter().zip(row.iter()).skip(3) {
        let label = h
            .trim_start_matches("Age: ")
            .trim_end_matches("; measures: Value");
        let year = match label {
            "Aged under 1 year" => 0,
            "Aged 1 year" => 1,
            "Aged 100 years and over" => 100,
            l if l.ends_with(" years") && !l.contains(" to ") && !l.contains(" and ") => l
                .trim_start_matches("Aged ")
                .trim_end_matches(" years")
                .parse()
                .unwrap(),
            _ => continue,
        };
        let band = match year {
            0..=15 => continue,
            16..=24 => "16-24",
            25..=34 => "25-34",
            35..=49 => "35-49",
            50..=64 => "50-64",
            _ => "65+",
        };
        *by_band.entry(band).or_default() += v.parse::<f64>().unwrap();
    }
    let adults: f64 = by_band.values().sum();

    let (_, _, _, batches) =
        read_parquet(&out.join("indicators/workforce_representation/part-0.parquet"));
    let (_, _, _, raw) =
        read_parquet(&out.join("restricted/indicators/workforce_representation/part-0.parquet"));
    let relevant: Vec<&Emp> = staff.iter().filter(|e| !e.left_before).collect();
    let mut checked = 0;
    for b in &raw {
        let ch = strings(b, "characteristic");
        let scope = strings(b, "scope");
        let cat = strings(b, "category");
        let share = floats(b, "share_pct");
        let cmp = floats(b, "comparator_pct");
        let ratio = floats(b, "representation_ratio");
        for i in 0..b.num_rows() {
            if scope[i].as_deref() != Some("organisation") {
                continue;
            }
            let c = cat[i].as_deref().unwrap();
            let (want_share, want_cmp) = match (ch[i].as_deref().unwrap(), c) {
                ("sex", "F") => (
                    relevant.iter().filter(|e| e.sex == "F").count() as f64 / relevant.len() as f64
                        * 100.0,
                    Some(278300.0 / 551943.0 * 100.0),
                ),
                ("age_band", band) if band != "not_disclosed" => {
                    let (lo, hi) = match band {
                        "16-24" => (16, 24),
                        "25-34" => (25, 34),
                        "35-49" => (35, 49),
                        "50-64" => (50, 64),
                        _ => (65, 200),
                    };
                    let n = relevant
                        .iter()
                        .filter(|e| e.age >= lo && e.age <= hi)
                        .count() as f64;
                    (
                        n / relevant.len() as f64 * 100.0,
                        Some(by_band[band] / adults * 100.0),
                    )
                }
                _ => continue,
            };
            assert!((share[i].unwrap() - want_share).abs() < 1e-9, "{c}");
            let got = cmp[i].unwrap();
            assert!(
                (got - want_cmp.unwrap()).abs() < 1e-9,
                "{c}: {got} vs {want_cmp:?}"
            );
            assert!((ratio[i].unwrap() - want_share / got).abs() < 1e-9);
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "F and five age bands");

    // Published: no table of several cells with exactly one suppressed, in
    // either direction (categories of one scope; grade bands of one category).
    let mut rows_tables: BTreeMap<(String, String, String), (usize, usize)> = BTreeMap::new();
    let mut grade_tables: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut any = 0;
    for b in &batches {
        let ch = strings(b, "characteristic");
        let scope = strings(b, "scope");
        let sv = strings(b, "scope_value");
        let cat = strings(b, "category");
        let count = b
            .column_by_name("count")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        let sup = b.column_by_name("suppressed").unwrap().as_boolean().clone();
        for i in 0..b.num_rows() {
            let s = usize::from(sup.value(i));
            any += s;
            if sup.value(i) {
                assert!(count.is_null(i));
            } else {
                assert!(count.value(i) == 0 || count.value(i) >= 10);
            }
            let e = rows_tables
                .entry((
                    ch[i].clone().unwrap(),
                    scope[i].clone().unwrap(),
                    sv[i].clone().unwrap(),
                ))
                .or_default();
            e.0 += 1;
            e.1 += s;
            if scope[i].as_deref() == Some("grade_band") {
                let e = grade_tables
                    .entry((ch[i].clone().unwrap(), cat[i].clone().unwrap()))
                    .or_default();
                e.0 += 1;
                e.1 += s;
            }
        }
    }
    assert!(any > 0, "the senior grade and small bands have small cells");
    for (k, (n, s)) in &rows_tables {
        assert!(*n == 1 || *s != 1, "{k:?}: {s} of {n} suppressed");
    }
    for (k, (n, s)) in &grade_tables {
        assert!(
            *n == 1 || *s != 1,
            "grade bands of {k:?}: {s} of {n} suppressed"
        );
    }
}

/// Reads a Nomis TS file: area code -> (label -> count), with the total under "Total".
fn nomis_counts(path: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.trim_end_matches("; measures: Value");
            h.split_once(": ").map(|x| x.1).unwrap_or(h).to_string()
        })
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let cells = header
                .iter()
                .zip(rec.iter())
                .skip(3)
                .map(|(h, v)| (h.clone(), v.parse::<f64>().unwrap()))
                .collect();
            (rec[2].to_string(), cells)
        })
        .collect()
}

/// Community profiles from the real published TS007 files for Manchester,
/// Birmingham, Leicester and Oxford, against the North West and England
/// and Wales: every percentage equals the count over the same file's total
/// for the area (what Nomis publishes as the percentage), every comparator
/// percentage the comparator's, and the difference their difference.
#[test]
fn community_profiles_from_real_census_files_reproduce_the_published_percentages() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/census2021");
    assert!(data.exists(), "{} is missing", data.display());
    let dir = tempfile::tempdir().unwrap();
    let areas = ["E08000003", "E08000025", "E06000016", "E07000178"];
    let mut cfg = String::from("output_dir = \"out\"\n");
    for (level, keep) in [
        ("ltla", format!("{areas:?}")),
        ("rgn", "[\"E12000002\"]".to_string()),
        ("ctry", "[\"K04000001\"]".to_string()),
    ] {
        cfg.push_str(&format!(
            "[[sources]]\nname = \"ts007_{level}\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS007\"]\ngeography = \"{level}\"\nareas = {keep}\n",
            data.join(format!("census2021-ts007-{level}.csv")).display()
        ));
    }
    cfg.push_str("[[indicators]]\nplugin = \"community-profile\"\n[indicators.options]\ncomparators = [\"E12000002\", \"K04000001\"]\nlevels = [\"ltla\"]\n");
    std::fs::write(dir.path().join("pipeline.toml"), cfg).unwrap();
    let o = run(&[
        "run",
        "--config",
        dir.path().join("pipeline.toml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let mut published = nomis_counts(&data.join("census2021-ts007-ltla.csv"));
    published.extend(nomis_counts(&data.join("census2021-ts007-rgn.csv")));
    published.extend(nomis_counts(&data.join("census2021-ts007-ctry.csv")));
    let pct = |area: &str, label: &str| {
        let a = &published[area];
        a[label] / a["Total"] * 100.0
    };
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/community_profile/part-0.parquet"),
    );
    // 4 areas x 112 categories x 2 comparators.
    assert_eq!(rows, 4 * 112 * 2);
    let mut manchester_20_24 = None;
    for b in &batches {
        let (code, label, cmp) = (
            strings(b, "area_code"),
            strings(b, "category_label"),
            strings(b, "comparator_code"),
        );
        let (p, cp, d) = (
            floats_plain(b, "percent"),
            floats_plain(b, "comparator_percent"),
            floats_plain(b, "difference_pp"),
        );
        for i in 0..b.num_rows() {
            let (a, l, c) = (
                code[i].as_deref().unwrap(),
                label[i].as_deref().unwrap(),
                cmp[i].as_deref().unwrap(),
            );
            let want = pct(a, l);
            assert!((p[i] - want).abs() < 1e-9, "{a} {l}: {} vs {want}", p[i]);
            assert!((cp[i] - pct(c, l)).abs() < 1e-9, "{c} {l}");
            assert!((d[i] - (want - pct(c, l))).abs() < 1e-9);
            if a == "E08000003" && l == "Aged 20 to 24 years" && c == "K04000001" {
                manchester_20_24 = Some((p[i], cp[i]));
            }
        }
    }
    // Manchester's young adults: far above the England and Wales share.
    let (m, ew) = manchester_20_24.unwrap();
    assert!(m > 1.5 * ew, "{m} vs {ew}");
}

fn floats_plain(b: &RecordBatch, name: &str) -> Vec<f64> {
    floats(b, name).into_iter().map(|v| v.unwrap()).collect()
}

/// Recruitment and turnover end to end: an applicant-tracking export with
/// the system's own stage names and two workforce snapshots go through the
/// sources into `workforce-flows`; the WRES relative likelihood and the
/// leaving rate of staff under 25 match a calculation from the raw rows.
#[test]
fn workforce_flows_match_the_wres_method_and_turnover_from_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Applications: (ethnic group as written, shortlisted?, appointed?).
    let mut apps = String::from(
        "applicant_id,vacancy,grade,application_date,stage,sex,ethnic_group,disability,age\n",
    );
    let mut counts: BTreeMap<bool, (f64, f64)> = BTreeMap::new(); // white? -> (shortlisted, appointed)
    let groups = [
        ("White British", true),
        ("White - Irish", true),
        ("Asian/Asian British: Pakistani", false),
        ("Black/African/Caribbean/Black British: African", false),
        ("Prefer not to say", false),
    ];
    for i in 0..1200u32 {
        let (eth, white) = groups[(i as usize * 7 + i as usize / 13) % groups.len()];
        let shortlisted = i % 3 != 0;
        let appointed = shortlisted && (i % if white { 4 } else { 7 } == 1);
        let stage = match (shortlisted, appointed) {
            (false, _) => "Rejected at sift",
            (true, false) => "Interviewed",
            (true, true) => "Offer accepted",
        };
        if eth != "Prefer not to say" {
            let e = counts.entry(white).or_default();
            e.0 += f64::from(u8::from(shortlisted));
            e.1 += f64::from(u8::from(appointed));
        }
        writeln!(
            apps,
            "A{i:05},V{},G3,2024-{:02}-10,{stage},Female,{eth},No,30",
            i % 50,
            4 + i % 9
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("applications.csv"), apps).unwrap();
    // Two snapshots: 60 under-25s and 140 others; 15 under-25s and 10 others leave.
    let mut snaps = [String::new(), String::new()];
    for (k, s) in snaps.iter_mut().enumerate() {
        s.push_str("employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n");
        let date = ["2024-03-31", "2025-03-31"][k];
        for i in 0..200u32 {
            let young = i < 60;
            let gone = (young && i < 15) || (!young && i < 70);
            if k == 1 && gone {
                continue;
            }
            let age = if young { 20 } else { 40 } + k as u32;
            writeln!(
                s,
                "E{i:04},{date},Ops,G3,F,White British,No,{age},37,15.0,0,2010-01-01,"
            )
            .unwrap();
        }
    }
    std::fs::write(dir.path().join("wf-2024-03-31.csv"), &snaps[0]).unwrap();
    std::fs::write(dir.path().join("wf-2025-03-31.csv"), &snaps[1]).unwrap();
    let cfg = format!(
        "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[[sources]]\nname = \"ats\"\nplugin = \"recruitment\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[[indicators]]\nplugin = \"workforce-flows\"\n",
        dir.path().join("wf-*.csv").display(),
        dir.path().join("applications.csv").display()
    );
    std::fs::write(dir.path().join("pipeline.toml"), cfg).unwrap();
    let o = eqpipe()
        .args([
            "run",
            "--config",
            dir.path().join("pipeline.toml").to_str().unwrap(),
        ])
        .env(KEY_ENV, "an-indicator-test-key")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/workforce_flows/part-0.parquet"),
    );
    let mut got: BTreeMap<(String, String, String), Option<f64>> = BTreeMap::new();
    for b in &batches {
        let (d, m, g, v) = (
            strings(b, "dimension"),
            strings(b, "measure"),
            strings(b, "group"),
            floats(b, "value"),
        );
        for i in 0..b.num_rows() {
            got.insert(
                (
                    d[i].clone().unwrap(),
                    m[i].clone().unwrap(),
                    g[i].clone().unwrap(),
                ),
                v[i],
            );
        }
    }
    let (ws, wa) = counts[&true];
    let (bs, ba) = counts[&false];
    let want = (wa / ws) / (ba / bs);
    let rl = got[&key3(
        "ethnicity",
        "relative_likelihood_appointed",
        "Black and minority ethnic",
    )]
        .unwrap();
    assert!(
        want > 1.3,
        "the generated data favours White applicants: {want}"
    );
    assert!(
        (rl - (want * 100.0).round() / 100.0).abs() < 1e-9,
        "{rl} vs {want}"
    );
    let leaving = got[&key3("age_band", "leaving_rate_pct", "16-24")].unwrap();
    assert_eq!(leaving, 25.0, "15 of 60");
    let older = got[&key3("age_band", "leaving_rate_pct", "35-49")].unwrap();
    assert!(
        (older - (10.0f64 / 140.0 * 1e4).round() / 100.0).abs() < 1e-9,
        "{older}"
    );
    assert_eq!(
        got[&key3("age_band", "retention_rate_pct", "16-24")],
        Some(75.0)
    );
}

fn key3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

/// One run profiles the wards of two authorities, each ward against its own
/// authority (found through the loaded lookup), not the other's.
#[test]
fn each_ward_is_compared_with_its_own_authority() {
    let dir = tempfile::tempdir().unwrap();
    let header = "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n";
    std::fs::write(
        dir.path().join("census2021-ts008-wd.csv"),
        format!("{header}\"2021\",\"North Ward\",\"E05999101\",100,60,40\n\"2021\",\"South Ward\",\"E05999201\",200,90,110\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("census2021-ts008-ltla.csv"),
        format!("{header}\"2021\",\"Alphaton\",\"E08999101\",1000,520,480\n\"2021\",\"Betaby\",\"E08999201\",2000,1000,1000\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wd22-lad22.csv"),
        "\u{feff}WD22CD,WD22NM,LAD22CD,LAD22NM\nE05999101,North Ward,E08999101,Alphaton\nE05999201,South Ward,E08999201,Betaby\n",
    )
    .unwrap();
    // A boundary change: North Ward's best-fit successor is South Ward's
    // code. A successor is not a parent, so it is no comparator.
    std::fs::write(
        dir.path().join("wd22-wd23.csv"),
        "WD22CD,WD22NM,WD23CD,WD23NM\nE05999101,North Ward,E05999201,South Ward\n",
    )
    .unwrap();
    let src = |name: &str, level: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"census2021-ts008-{level}.csv\"\ntables = [\"TS008\"]\ngeography = \"{level}\"\n"
        )
    };
    let cfg = format!(
        "output_dir = \"out\"\n{}{}[[sources]]\nname = \"lookup\"\nplugin = \"geography\"\n[sources.options]\nlookups = [\"wd22-lad22.csv\", \"wd22-wd23.csv\"]\n[[indicators]]\nplugin = \"community-profile\"\n[indicators.options]\nlevels = [\"wd\"]\n",
        src("wards", "wd"),
        src("authorities", "ltla")
    );
    std::fs::write(dir.path().join("pipeline.toml"), cfg).unwrap();
    let o = run(&[
        "run",
        "--config",
        dir.path().join("pipeline.toml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/community_profile/part-0.parquet"),
    );
    let mut seen = BTreeMap::new();
    for b in &batches {
        let (area, cmp, label) = (
            strings(b, "area_code"),
            strings(b, "comparator_code"),
            strings(b, "category_label"),
        );
        let (p, cp) = (floats(b, "percent"), floats(b, "comparator_percent"));
        for i in 0..b.num_rows() {
            if label[i].as_deref() == Some("Female") {
                seen.insert(
                    (area[i].clone().unwrap(), cmp[i].clone().unwrap()),
                    (p[i].unwrap(), cp[i].unwrap()),
                );
            }
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            (
                ("E05999101".to_string(), "E08999101".to_string()),
                (60.0, 52.0)
            ),
            (
                ("E05999201".to_string(), "E08999201".to_string()),
                (45.0, 50.0)
            ),
        ])
    );
}
