//! Real inputs, loud failures: the formats councils really receive are
//! read without loss, and every loss that remains is loud (a failed step
//! that keeps the last good output, or `succeeded_with_warnings`), never a
//! quiet `Success`.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int16Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use common::*;

const KEY_ENV: &str = "EQPIPE_TEST_QUALITY_KEY";
const KEY: &str = "a-quality-test-key-of-enough-length";

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn run_cfg(cfg: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    eqpipe().args(&args).env(KEY_ENV, KEY).output().unwrap()
}

/// Inserts thousands separators as Excel writes them (`29199` -> `29,199`).
fn excel_thousands(n: &str) -> String {
    let digits: Vec<char> = n.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    out
}

/// IoD2019 File 2 as a council saves it from the workbook: every rank with
/// Excel's thousands separators (`"29,199"`). Every LSOA and its deciles
/// must survive, and Manchester's profile must match the file: 167 of its
/// 282 neighbourhoods among England's 20% most deprived, counted here
/// straight from the published rows. The ONS LSOA 2011 -> 2021 best-fit
/// lookup is loaded too: its best-fit pairs are not containment and must
/// not become `lsoa`-level areas.
#[test]
fn real_iod2019_saved_with_thousands_separators_loses_no_row() {
    let gz = shared("iod2019/File_2_-_IoD2019_Domains_of_Deprivation.csv.gz");
    let mut raw = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_string(&mut raw)
        .unwrap();
    let mut rdr = csv::Reader::from_reader(raw.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let imd_decile = header
        .iter()
        .position(|h| h.starts_with("Index of Multiple Deprivation (IMD) Decile"))
        .unwrap();
    let lad = header
        .iter()
        .position(|h| h.starts_with("Local Authority District code"))
        .unwrap();
    let ranks: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].contains(" Rank "))
        .collect();
    assert_eq!(ranks.len(), 8, "IMD and seven domains");
    let mut saved = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    saved.write_record(&header).unwrap();
    let (mut lsoas, mut with_comma) = (0usize, 0usize);
    let (mut man, mut man20, mut man10) = (0, 0, 0);
    let mut imd: HashMap<String, u8> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        lsoas += 1;
        imd.insert(rec[0].to_string(), rec[imd_decile].parse().unwrap());
        let mut fields: Vec<String> = rec.iter().map(str::to_string).collect();
        for &r in &ranks {
            fields[r] = excel_thousands(&fields[r]);
            with_comma += usize::from(fields[r].contains(','));
        }
        if &rec[lad] == "E08000003" {
            let d: u8 = rec[imd_decile].parse().unwrap();
            man += 1;
            man20 += i32::from(d <= 2);
            man10 += i32::from(d == 1);
        }
        saved.write_record(&fields).unwrap();
    }
    assert_eq!(lsoas, 32_844);
    assert!(with_comma > 200_000, "most ranks now carry a separator");
    assert_eq!((man, man20), (282, 167), "the published figures");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "File_1_IoD2019_saved_from_excel.csv",
        saved.into_inner().unwrap(),
    );
    let lookup = shared("lookups/lsoa11-to-lsoa21-to-lad22-best-fit.csv");
    let wards = shared("real/boundaries/gm-lsoa21-to-ward22-best-fit.csv");
    let config = |extra: &str| {
        write(
            dir.path(),
            "pipeline.toml",
            format!(
                "output_dir = \"out\"\n\
                 [[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\n[sources.options]\nurl = \"{}\"\n\
                 [[sources]]\nname = \"lookups\"\nplugin = \"geography\"\n[sources.options]\nlookups = [\"{}\", \"{}\"]\n\
                 [[indicators]]\nplugin = \"deprivation-profile\"\n[indicators.options]\n{extra}",
                file.display(),
                lookup.display(),
                wards.display()
            ),
        )
    };
    let cfg = config("");
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "success", "{m:#}");
    let d = &m["sources"][0]["datasets"]["deprivation"];
    assert_eq!(d["rows"].as_u64(), Some(32_844 * 8), "{d}");
    assert_eq!(d["quarantined"].as_u64(), Some(0), "{d}");
    // The ranks themselves were read, not dropped.
    let (_, _, _, dep) = read_parquet(&out.join("datasets/deprivation/source=imd/part-0.parquet"));
    let mut first_rank = None;
    for b in &dep {
        let r = b
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(r.null_count(), 0);
        first_rank.get_or_insert(r.value(0));
    }
    assert_eq!(
        first_rank,
        Some(29_199),
        "E01000001's IMD rank, once \"29,199\""
    );

    let (_, _, _, prof) = read_parquet(&out.join("indicators/deprivation_profile/part-0.parquet"));
    let mut levels: HashMap<String, usize> = HashMap::new();
    let mut manchester = None;
    for b in &prof {
        for i in 0..b.num_rows() {
            let level = text_at(b, "geography_level", i).unwrap();
            *levels.entry(level.clone()).or_default() += 1;
            if text_at(b, "area_code", i).as_deref() == Some("E08000003") {
                let n = |c: &str| {
                    b.column_by_name(c)
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .value(i)
                };
                let v = |c: &str| b.column_by_name(c).unwrap().as_primitive::<Int16Type>();
                manchester = Some((
                    level,
                    n("lsoas"),
                    n("lsoas_most_deprived_20pct"),
                    n("lsoas_most_deprived_10pct"),
                    v("lsoa_vintage").value(i),
                    v("area_vintage")
                        .is_valid(i)
                        .then(|| v("area_vintage").value(i)),
                ));
            }
        }
    }
    assert!(
        !levels.contains_key("lsoa"),
        "best-fit pairs are not areas: {levels:?}"
    );
    // The 2022 wards are on 2021 LSOAs: reached only through an explicit
    // best-fit step.
    assert!(!levels.contains_key("wd"), "{levels:?}");
    assert_eq!(
        manchester,
        Some((
            "ltla".to_string(),
            man,
            man20 as i64,
            man10 as i64,
            2011,
            Some(2022)
        )),
        "{levels:?}"
    );

    // With best_fit = true, every 2011 LSOA counts in the 2022 ward that
    // holds its best-fit 2021 successor: worked out here from the three
    // published files.
    let read_csv = |p: &Path| {
        let mut r = csv::Reader::from_path(p).unwrap();
        let h: Vec<String> = r
            .headers()
            .unwrap()
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_ascii_uppercase())
            .collect();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        (h, rows)
    };
    let (h, rows) = read_csv(&lookup);
    let (c11, c21) = (
        h.iter().position(|x| x == "LSOA11CD").unwrap(),
        h.iter().position(|x| x == "LSOA21CD").unwrap(),
    );
    let successor: HashMap<String, String> = rows
        .iter()
        .map(|r| (r[c11].to_string(), r[c21].to_string()))
        .collect();
    let (h, rows) = read_csv(&wards);
    let (l21, wd) = (
        h.iter().position(|x| x == "LSOA21CD").unwrap(),
        h.iter().position(|x| x == "WD22CD").unwrap(),
    );
    let ward_of: HashMap<String, String> = rows
        .iter()
        .map(|r| (r[l21].to_string(), r[wd].to_string()))
        .collect();
    let mut expected: HashMap<String, (i64, i64, i64)> = HashMap::new();
    for (lsoa, decile) in &imd {
        let Some(w) = successor.get(lsoa).and_then(|n| ward_of.get(n)) else {
            continue;
        };
        let e = expected.entry(w.clone()).or_default();
        e.0 += 1;
        e.1 += i64::from(*decile <= 2);
        e.2 += i64::from(*decile == 1);
    }
    assert_eq!(expected.len(), 215, "Greater Manchester's 2022 wards");
    let o = run_cfg(&config("best_fit = true\nlevels = [\"wd\"]\n"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, _, _, prof) = read_parquet(&out.join("indicators/deprivation_profile/part-0.parquet"));
    let mut got: HashMap<String, (i64, i64, i64)> = HashMap::new();
    for b in &prof {
        let n = |c: &str, i: usize| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(i)
        };
        for i in 0..b.num_rows() {
            assert_eq!(text_at(b, "geography_level", i).as_deref(), Some("wd"));
            assert_eq!(text_at(b, "lsoa_mapping", i).as_deref(), Some("best_fit"));
            got.insert(
                text_at(b, "area_code", i).unwrap(),
                (
                    n("lsoas", i),
                    n("lsoas_most_deprived_20pct", i),
                    n("lsoas_most_deprived_10pct", i),
                ),
            );
        }
    }
    assert_eq!(got, expected);
}

/// A good HR extract, then the files that used to replace it silently.
fn hr_extract(rows: usize) -> String {
    let mut s = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n",
    );
    for i in 0..rows {
        s.push_str(&format!(
            "E{i:05},2025-03-31,Housing,G{},F,White: Irish,No,{},37,{:.2},0,2015-05-01,\n",
            1 + i % 6,
            25 + i % 30,
            12.0 + i as f64 / 10.0
        ));
    }
    s
}

fn hr_config(dir: &Path, csv: &Path, extra: &str) -> PathBuf {
    write(
        dir,
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n{extra}[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n",
            csv.display()
        ),
    )
}

fn stored_rows(out: &Path) -> usize {
    read_parquet(&out.join("restricted/datasets/workforce/source=hr/part-0.parquet")).1
}

#[test]
fn an_empty_shrunken_or_fully_rejected_extract_never_replaces_the_good_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let csv = dir.path().join("hr.csv");
    let cfg = hr_config(dir.path(), &csv, "");
    std::fs::write(&csv, hr_extract(50)).unwrap();
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stored_rows(&out), 50);

    let failed = |o: &std::process::Output| {
        assert_eq!(o.status.code(), Some(1), "{}", text(o));
        let m = last_manifest(&out);
        assert_eq!(m["sources"][0]["status"], "failed");
        m["sources"][0]["error"].as_str().unwrap().to_string()
    };
    // Only the header.
    std::fs::write(&csv, hr_extract(0)).unwrap();
    let e = failed(&run_cfg(&cfg, &[]));
    assert!(
        e.contains("yielded no rows where its last good output has 50") && e.contains("kept"),
        "{e}"
    );
    assert_eq!(stored_rows(&out), 50, "the last good output stands");
    // Every row rejected (no employee ids).
    let bad: String = hr_extract(50)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                format!("{}\n", &l[l.find(',').unwrap()..])
            }
        })
        .collect();
    std::fs::write(&csv, bad).unwrap();
    let e = failed(&run_cfg(&cfg, &[]));
    assert!(
        e.contains("rejected 50 of 50 rows (100.0%), above the limit of 1%")
            && e.contains("employee_key: missing value (50)"),
        "{e}"
    );
    assert_eq!(stored_rows(&out), 50);
    // One bad row in 50 (2%): above the default limit of 1%.
    let mut one_bad = hr_extract(50);
    one_bad = one_bad.replacen("E00007,", ",", 1);
    std::fs::write(&csv, &one_bad).unwrap();
    let e = failed(&run_cfg(&cfg, &[]));
    assert!(e.contains("rejected 1 of 50 rows (2.0%)"), "{e}");
    // A fall of 60% fails; 40% is within the default 50%.
    std::fs::write(&csv, hr_extract(20)).unwrap();
    let e = failed(&run_cfg(&cfg, &[]));
    assert!(
        e.contains("yielded 20 rows where its last good output has 50 (a fall of 60%"),
        "{e}"
    );
    std::fs::write(&csv, hr_extract(30)).unwrap();
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stored_rows(&out), 30);
    // Said once on the command line, a shrink is accepted, and reported.
    std::fs::write(&csv, hr_extract(0)).unwrap();
    let o = run_cfg(&cfg, &["--accept-shrink"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "success_with_warnings");
    assert_eq!(m["sources"][0]["warnings"][0]["kind"], "accepted_shrink");
    assert_eq!(stored_rows(&out), 0);
    // The run history shows each outcome.
    let o = run(&["runs", "list", "--out", out.to_str().unwrap()]);
    let list = text(&o);
    assert_eq!(list.matches(" failed ").count(), 4, "{list}");
    assert_eq!(list.matches("success_with_warnings").count(), 1, "{list}");
}

#[test]
fn a_run_wide_limit_and_fail_on_warnings_are_the_operators_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("hr.csv");
    let mut extract = hr_extract(50);
    extract = extract.replacen("E00007,", ",", 1);
    std::fs::write(&csv, &extract).unwrap();
    // A run-wide limit of 5%: 1 in 50 passes, with a warning.
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n[quality]\nmax_rejected_pct = 5\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n",
            csv.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out"));
    let w = &m["sources"][0]["warnings"][0];
    assert_eq!(
        (w["kind"].as_str(), w["count"].as_u64(), w["of"].as_u64()),
        (Some("rejected_rows"), Some(1), Some(50)),
        "{w}"
    );
    let metrics = std::fs::read_to_string(dir.path().join("out/metrics.prom")).unwrap();
    assert!(
        metrics.contains(
            "eqpipe_step_status{step=\"hr\",kind=\"source\",status=\"succeeded_with_warnings\"} 1"
        ) && metrics.contains("eqpipe_step_warnings{step=\"hr\",kind=\"source\"} 1")
            && metrics.contains("eqpipe_run_warnings 1")
            && metrics.contains("eqpipe_run_success 0"),
        "{metrics}"
    );
    // The operator fails steps on rejected rows.
    let body = std::fs::read_to_string(&cfg).unwrap().replace(
        "max_rejected_pct = 5\n",
        "max_rejected_pct = 5\nfail_on = [\"rejected_rows\"]\n",
    );
    std::fs::write(&cfg, body).unwrap();
    let o = run_cfg(&cfg, &["--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out"));
    assert!(
        m["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("[quality] fail_on"),
        "{m:#}"
    );
}

/// HR exports as they arrive: Windows-1252 from Excel, a repeated header,
/// decimal commas, UK and spelt-out dates, month/day order.
#[test]
fn hr_exports_in_the_encodings_and_formats_they_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let csv = dir.path().join("hr.csv");
    let header = "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,forename\n";
    // Windows-1252: org_unit "Café services" (0xE9), and a forename in a
    // column nobody reads (0xEB, "Zoë") that must not fail the file.
    let mut bytes: Vec<u8> = header.as_bytes().to_vec();
    for i in 0..20 {
        bytes.extend_from_slice(format!("E{i:03},31 Mar 2025,Caf").as_bytes());
        bytes.push(0xE9);
        bytes.extend_from_slice(b" services,G1,F,White: Irish,No,30,37,\"12.50\",0,01/05/2015,,Zo");
        bytes.push(0xEB);
        bytes.push(b'\n');
    }
    std::fs::write(&csv, &bytes).unwrap();
    let cfg = hr_config(dir.path(), &csv, "");
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, b) =
        read_parquet(&out.join("restricted/datasets/workforce/source=hr/part-0.parquet"));
    assert_eq!(rows, 20);
    assert_eq!(
        text_at(&b[0], "org_unit", 0).as_deref(),
        Some("Café services")
    );
    let day = |c: &str| {
        b[0].column_by_name(c)
            .unwrap()
            .as_primitive::<Date32Type>()
            .value(0)
    };
    // 31 March 2025 and 1 May 2015, as days since 1970-01-01.
    assert_eq!((day("snapshot_date"), day("start_date")), (20178, 16556));

    // Strict UTF-8: the row's mapped column is named, the value never.
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\nmax_rejected_pct = 100\naccept_shrink = true\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nencoding = \"utf-8\"\n",
            csv.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&out);
    let reasons = &m["sources"][0]["datasets"]["workforce"]["rejected_reasons"];
    assert_eq!(
        reasons["row: column `org_unit`: not UTF-8 text (set encoding = \"windows-1252\" for files saved by Excel on Windows)"],
        20,
        "{m:#}"
    );

    // A decimal comma is never read as a hundred times the pay.
    // Every pay written with a decimal comma (quoted, as a CSV must).
    let comma: String = hr_extract(3)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 {
                f[9] = format!("\"{}\"", f[9].replace('.', ","));
            }
            f.join(",") + "\n"
        })
        .collect();
    assert!(comma.contains(",\"12,00\","), "{comma}");
    std::fs::write(&csv, &comma).unwrap();
    let cfg = hr_config(
        dir.path(),
        &csv,
        "max_rejected_pct = 100\naccept_shrink = true\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&out);
    let reasons = m["sources"][0]["datasets"]["workforce"]["rejected_reasons"].to_string();
    assert!(reasons.contains("hourly_pay: a decimal comma"), "{reasons}");
    let cfg = hr_config(
        dir.path(),
        &csv,
        "accept_shrink = true\n[sources.parse]\ndecimal = \",\"\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, _, _, b) =
        read_parquet(&out.join("restricted/datasets/workforce/source=hr/part-0.parquet"));
    let pay = f64s(&b[0], "hourly_pay");
    assert_eq!((pay.value(0), pay.value(1)), (12.0, 12.1));

    // A header naming a mapped column twice.
    let twice = hr_extract(3).replacen("leaver_date\n", "grade\n", 1);
    std::fs::write(&csv, twice).unwrap();
    let o = run_cfg(&hr_config(dir.path(), &csv, ""), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the header names `grade` twice (columns 4 and 13)"),
        "{}",
        text(&o)
    );

    // Month/day dates: never guessed, the step fails naming the column.
    let us = hr_extract(3).replace("2015-05-01", "05/31/2015");
    std::fs::write(&csv, us).unwrap();
    let o = run_cfg(&hr_config(dir.path(), &csv, ""), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("column `start_date` holds dates that read only as month/day"),
        "{}",
        text(&o)
    );
    // Said so, they are read.
    let o = run_cfg(
        &hr_config(
            dir.path(),
            &csv,
            "[sources.parse]\ndate_format = \"%m/%d/%Y\"\n",
        ),
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// The open diversity-data format allows a year, a month or a date in
/// `published`; each is kept with its precision, and a partner's own
/// column names are mapped.
#[test]
fn published_workforce_counts_dated_by_year_month_or_day() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "diversity.csv",
        "Date,Employer,organisation_level,employees,gender_female,gender_male,gender_total,ethnicity_white,ethnicity_asian\n\
         2021,Northbridge Council,organisation,1200,700,500,1200,900,[c]\n\
         2022-03,Northbridge Council,organisation,\"1,250\",730,520,\"1,250\",920,200\n\
         2023-03-31,Northbridge Council,organisation,1300,760,540,1300,940,210\n",
    );
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"div\"\nplugin = \"workforce-aggregate\"\n[sources.options]\nfiles = [\"{}\"]\n[sources.options.columns]\npublished = \"Date\"\norganisation = \"Employer\"\n",
            csv.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    let d = &m["sources"][0]["datasets"]["workforce_counts"];
    // 3 rows x 5 categories, one a suppression marker: null, counted.
    assert_eq!(
        (d["rows"].as_u64(), d["quarantined"].as_u64()),
        (Some(15), Some(0)),
        "{d}"
    );
    assert_eq!(d["markers"]["count"], 1, "{d}");
    assert_eq!(m["outcome"], "success", "a publisher's marker is no loss");
    let (_, _, _, b) =
        read_parquet(&out.join("datasets/workforce_counts/source=div/part-0.parquet"));
    let b = &b[0];
    let dates = b
        .column_by_name("published")
        .unwrap()
        .as_primitive::<Date32Type>();
    let mut seen = Vec::new();
    for i in 0..b.num_rows() {
        let p = (
            dates.value(i),
            text_at(b, "published_precision", i).unwrap(),
        );
        if !seen.contains(&p) {
            seen.push(p);
        }
        assert_eq!(
            text_at(b, "organisation_level", i).as_deref(),
            Some("organisation")
        );
    }
    // 2021-01-01, 2022-03-01 and 2023-03-31 as days since 1970-01-01.
    assert_eq!(
        seen,
        vec![
            (18628, "year".to_string()),
            (19052, "month".to_string()),
            (19447, "day".to_string())
        ]
    );
    let employees = i64s(b, "employees");
    assert!((0..b.num_rows()).any(|i| employees.value(i) == 1250));
}

/// Three employers' published returns for one year (one dated by year
/// alone), benchmarked against each other and against their areas' Census
/// populations; every expected figure is worked out here from the inputs.
#[test]
fn published_profiles_are_benchmarked_against_peers_and_the_census() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "census2021-ts008-ltla.csv",
        "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n\
         \"2021\",\"Alphaton\",\"E08999101\",1000,520,480\n\
         \"2021\",\"Betaby\",\"E08999201\",2000,1000,1000\n",
    );
    // (organisation, published, female, male, prefer not to say, white, asian)
    let returns = [
        ("Alphaton Council", "2024", 700, 500, 100, 900, "[c]"),
        ("Betaby Council", "2024-03", 450, 450, 0, 800, "100"),
        ("Gammaford Trust", "2024-03-31", 300, 100, 20, 350, "50"),
    ];
    let mut csv = String::from(
        "published,organisation,employees,gender_female,gender_male,gender_prefernottosay,ethnicity_white,ethnicity_asian\n",
    );
    for (org, date, f, m, p, w, a) in returns {
        csv.push_str(&format!("{date},{org},{},{f},{m},{p},{w},{a}\n", f + m + p));
    }
    write(dir.path(), "returns.csv", csv);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        "output_dir = \"out\"\n\
         [[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"census2021-ts008-ltla.csv\"\ntables = [\"TS008\"]\ngeography = \"ltla\"\n\
         [[sources]]\nname = \"returns\"\nplugin = \"workforce-aggregate\"\n[sources.options]\nfiles = [\"returns.csv\"]\n\
         [[indicators]]\nplugin = \"workforce-benchmark\"\n[indicators.options]\ncharacteristics = [\"sex\", \"ethnic_group_broad\"]\n\
         [indicators.options.comparators.\"Alphaton Council\"]\narea = \"E08999101\"\n\
         [indicators.options.comparators.\"*\"]\narea = \"E08999201\"\n",
    );
    let o = run_cfg(&cfg, &[]);
    // Alphaton's Asian count is withheld: its ethnicity shares cannot be
    // computed, which is reported.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out"));
    let step = m["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "workforce_benchmark")
        .unwrap();
    assert_eq!(step["warnings"][0]["count"], 1, "{step:#}");
    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/workforce_benchmark/part-0.parquet"),
    );
    let mut got: HashMap<(String, String, String), Vec<Option<f64>>> = HashMap::new();
    for b in &batches {
        let f = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let n = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (share, census, ratio, median, diff) = (
            f("share"),
            f("census_share"),
            f("representation_ratio"),
            f("peer_median_share"),
            f("difference_from_peer_median"),
        );
        let (peers, rank) = (n("peers"), n("share_rank"));
        let opt = |a: &arrow_array::Float64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..b.num_rows() {
            got.insert(
                (
                    text_at(b, "organisation", i).unwrap(),
                    text_at(b, "characteristic", i).unwrap(),
                    text_at(b, "category", i).unwrap(),
                ),
                vec![
                    opt(&share, i),
                    opt(&census, i),
                    opt(&ratio, i),
                    Some(peers.value(i) as f64),
                    opt(&median, i),
                    opt(&diff, i),
                    rank.is_valid(i).then(|| rank.value(i) as f64),
                ],
            );
        }
    }
    let key = |o: &str, c: &str, k: &str| (o.to_string(), c.to_string(), k.to_string());
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
    // Women's shares of those who answered: 700/1200, 450/900, 300/400.
    let (fa, fb, fc) = (700.0 * 100.0 / 1200.0, 50.0, 75.0);
    let median_f = fa; // 50 < 58.3 < 75
    let a = &got[&key("Alphaton Council", "sex", "F")];
    assert!(
        close(a[0], fa) && close(a[1], 52.0) && close(a[2], fa / 52.0),
        "{a:?}"
    );
    assert!(
        close(a[3], 3.0) && close(a[4], median_f) && close(a[5], 0.0) && close(a[6], 2.0),
        "{a:?}"
    );
    let b = &got[&key("Betaby Council", "sex", "F")];
    assert!(
        close(b[0], fb) && close(b[1], 50.0) && close(b[2], 1.0) && close(b[6], 3.0),
        "{b:?}"
    );
    let c = &got[&key("Gammaford Trust", "sex", "F")];
    assert!(
        close(c[0], fc) && close(c[5], fc - median_f) && close(c[6], 1.0),
        "{c:?}"
    );
    // Not disclosed: 100 of Alphaton's 1,300 counted; 20 of Gammaford's 420.
    let nd = &got[&key("Alphaton Council", "sex", "not_disclosed")];
    assert!(close(nd[0], 100.0 * 100.0 / 1300.0), "{nd:?}");
    // Ethnicity: Alphaton's withheld cell leaves it without shares; the
    // other two are each other's peers (Asian: 100/900 and 50/400).
    let w = &got[&key("Alphaton Council", "ethnic_group_broad", "White")];
    assert_eq!(w[0], None, "{w:?}");
    let asian = "Asian, Asian British or Asian Welsh";
    let (ab, ac) = (100.0 * 100.0 / 900.0, 50.0 * 100.0 / 400.0);
    let e = &got[&key("Betaby Council", "ethnic_group_broad", asian)];
    assert!(
        close(e[0], ab) && close(e[3], 2.0) && close(e[4], (ab + ac) / 2.0) && close(e[6], 2.0),
        "{e:?}"
    );
}

/// IoD2019 File 2 (the real file: no population) joined with a File 6 of
/// population denominators, as councils combine them for population
/// shares. The denominators here are made up, one LSOA left out; the
/// shares are checked against a sum made from the two files.
#[test]
fn iod_files_joined_by_lsoa_give_population_shares() {
    let gz = shared("iod2019/File_2_-_IoD2019_Domains_of_Deprivation.csv.gz");
    let mut raw = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_string(&mut raw)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file2 = write(dir.path(), "File_2.csv", &raw);
    let mut rdr = csv::Reader::from_reader(raw.as_bytes());
    let decile_col = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h.starts_with("Index of Multiple Deprivation (IMD) Decile"))
        .unwrap();
    let mut file6 = String::from(
        "LSOA code (2011),LSOA name (2011),Local Authority District code (2019),Local Authority District name (2019),Total population: mid 2015 (excluding prisoners)\n",
    );
    let (mut pop, mut pop20, mut dropped) = (0i64, 0i64, None);
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        if &rec[2] != "E08000003" {
            continue;
        }
        if dropped.is_none() {
            dropped = Some(rec[0].to_string());
            continue;
        }
        let p = 1200 + (i as i64 * 37) % 900;
        let decile: u8 = rec[decile_col].parse().unwrap();
        pop += p;
        if decile <= 2 {
            pop20 += p;
        }
        file6.push_str(&format!(
            "{},\"{}\",{},{},\"{}\"\n",
            &rec[0],
            &rec[1],
            &rec[2],
            &rec[3],
            excel_thousands(&p.to_string())
        ));
    }
    let file6 = write(dir.path(), "File_6.csv", file6);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\n[sources.options]\nurls = [\"{}\", \"{}\"]\nlocal_authorities = [\"E08000003\"]\n\
             [[indicators]]\nplugin = \"deprivation-profile\"\n",
            file2.display(),
            file6.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    // One LSOA has no denominator: reported, not silent.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out"));
    let w = &m["sources"][0]["warnings"][0];
    assert_eq!(
        (w["count"].as_u64(), w["of"].as_u64()),
        (Some(1), Some(282)),
        "{w}"
    );
    assert!(w["what"].as_str().unwrap().contains("File_6.csv"), "{w}");
    let (_, _, _, prof) = read_parquet(
        &dir.path()
            .join("out/indicators/deprivation_profile/part-0.parquet"),
    );
    let b = &prof[0];
    let i = (0..b.num_rows())
        .find(|&i| text_at(b, "area_code", i).as_deref() == Some("E08000003"))
        .unwrap();
    let f = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(i)
    };
    assert_eq!(f("population"), pop as f64);
    assert!(
        (f("pct_population_most_deprived_20pct") - pop20 as f64 * 100.0 / pop as f64).abs() < 1e-9
    );
}

/// An employer's return saved by Excel on Windows (Windows-1252) is read,
/// its accented name intact.
#[test]
fn a_windows_1252_diversity_return_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"published,organisation,gender_female,gender_male\n2024,Caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b" Services Trust,40,30\n");
    let csv = write(dir.path(), "return.csv", bytes);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"div\"\nplugin = \"workforce-aggregate\"\n[sources.options]\nfiles = [\"{}\"]\n",
            csv.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, b) = read_parquet(
        &dir.path()
            .join("out/datasets/workforce_counts/source=div/part-0.parquet"),
    );
    assert_eq!(rows, 2);
    assert_eq!(
        text_at(&b[0], "organisation", 0).as_deref(),
        Some("Café Services Trust")
    );
}

/// The raw spend files read straight with the csv crate (no eqpipe code):
/// rows, the sum of the amount column, payees marked `Redacted`, blank
/// payees, and the first row's payment date as written.
fn raw_spend(
    file: &str,
    amount: &str,
    payee: &str,
    date: &str,
) -> (usize, f64, usize, usize, String) {
    let mut r = csv::Reader::from_path(shared(&format!("real/spend/{file}"))).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (a, p, d) = (col(amount), col(payee), col(date));
    let (mut rows, mut sum, mut redacted, mut blank, mut first) = (0, 0.0, 0, 0, String::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        if rows == 0 {
            first = rec[d].to_string();
        }
        rows += 1;
        sum += rec[a].parse::<f64>().unwrap();
        match rec[p].trim() {
            "Redacted" => redacted += 1,
            "" => blank += 1,
            _ => {}
        }
    }
    (rows, sum, redacted, blank, first)
}

/// What the `spend` dataset holds for a source: rows, amount sum, payee
/// statuses, and whether any withheld payee kept a name, id or VAT number.
fn stored_spend(path: &Path) -> (usize, f64, HashMap<String, usize>, usize, Vec<RecordBatch>) {
    let (_, rows, _, batches) = read_parquet(path);
    let mut sum = 0.0;
    let mut status: HashMap<String, usize> = HashMap::new();
    let mut leaked = 0;
    for b in &batches {
        let amount = f64s(b, "amount");
        for i in 0..b.num_rows() {
            sum += amount.value(i);
            let s = text_at(b, "payee_status", i).unwrap();
            if s != "named" {
                leaked += ["supplier_name", "supplier_id", "vat_number"]
                    .iter()
                    .filter(|c| text_at(b, c, i).is_some())
                    .count();
            }
            *status.entry(s).or_default() += 1;
        }
    }
    (rows, sum, status, leaked, batches)
}

/// The real spend files of two councils: Oxford's two quarters (headers
/// spelt differently, CRLF and LF, no final newline, `dd/mm/yyyy`, amounts
/// with 0-2 decimals and negatives, blank payees) through one glob, and
/// Trafford's excerpt (its own column names, `NA`, `Redacted` payees). Every
/// row is stored, the totals are the files' to the penny, and no withheld
/// payee keeps a name, a supplier id or a VAT number.
#[test]
fn real_council_spend_files_load_whole_and_never_name_a_withheld_payee() {
    let dir = tempfile::tempdir().unwrap();
    let real = shared("real/spend");
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"oxford\"\nplugin = \"spend\"\n[sources.options]\npath = \"{0}/oxford-expenditure-over-500-*.csv\"\n\
             [[sources]]\nname = \"trafford\"\nplugin = \"spend\"\n[sources.options]\npath = \"{0}/trafford-supplier-spend-2026-27-excerpt.csv\"\n",
            real.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let log = text(&o);
    assert!(
        log.contains("expense_category <- `Expenditure Catergory`")
            && log.contains("expense_category <- `Expenditure Category`"),
        "the mapping of each quarter's header is reported: {log}"
    );
    let m = last_manifest(&dir.path().join("out"));
    assert_eq!(m["outcome"], "success", "nothing lost, nothing to warn of");

    let q4 = raw_spend(
        "oxford-expenditure-over-500-oct-dec-2017.csv",
        "Amount",
        "Supplier Name",
        "Paid Date",
    );
    let q1 = raw_spend(
        "oxford-expenditure-over-500-jan-mar-2018.csv",
        "Amount",
        "Supplier Name",
        "Paid Date",
    );
    let (rows, sum, status, leaked, batches) = stored_spend(
        &dir.path()
            .join("out/datasets/spend/source=oxford/part-0.parquet"),
    );
    assert_eq!(rows, q4.0 + q1.0);
    assert!(
        (sum - (q4.1 + q1.1)).abs() < 0.005,
        "{sum} vs {}",
        q4.1 + q1.1
    );
    assert_eq!(status.get("not_named").copied().unwrap_or(0), q4.3 + q1.3);
    assert!(q4.3 + q1.3 > 0 && q4.2 + q1.2 == 0);
    assert_eq!(leaked, 0);
    // The files are read in name order (jan-mar 2018 first): its first
    // row's dd/mm/yyyy date, as a date.
    let (d, mth, y) = {
        let p: Vec<i32> = q1.4.split('/').map(|x| x.parse().unwrap()).collect();
        (p[0], p[1], p[2])
    };
    let days = batches[0]
        .column_by_name("payment_date")
        .unwrap()
        .as_primitive::<Date32Type>()
        .value(0);
    let expected = (chrono_days(y, mth, d)) as i32;
    assert_eq!(days, expected, "{} read as day/month/year", q1.4);

    let t = raw_spend(
        "trafford-supplier-spend-2026-27-excerpt.csv",
        "Amount",
        "BeneficiaryName",
        "PaymentDate",
    );
    let (rows, sum, status, leaked, _) = stored_spend(
        &dir.path()
            .join("out/datasets/spend/source=trafford/part-0.parquet"),
    );
    assert_eq!(rows, t.0);
    assert!((sum - t.1).abs() < 0.005, "{sum} vs {}", t.1);
    assert_eq!(status.get("redacted").copied().unwrap_or(0), t.2);
    assert!(t.2 > 0);
    assert_eq!(leaked, 0, "a redacted payee kept a name, id or VAT number");
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm), so
/// the test needs no date library.
fn chrono_days(y: i32, m: i32, d: i32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A council's own column names (`columns`), `£` amounts with thousands
/// separators, `NA` values and a Windows-1252 payee; and a file with no
/// amount column fails the step naming the file, the field and the names
/// tried, keeping nothing half-read.
#[test]
fn spend_files_with_their_own_headers_are_mapped_or_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = b"Date,Creditor,Net Value (\xa3),Dept\r\n02/04/2024,Caf".to_vec();
    body.extend_from_slice(
        b"\xe9 Nero Ltd,\"\xa31,234.50\",NA\r\n03/04/2024,Redacted,-12.00,Housing\r\n",
    );
    write(dir.path(), "spend-2024-04.csv", body);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        "output_dir = \"out\"\n[[sources]]\nname = \"spend\"\nplugin = \"spend\"\n[sources.options]\npath = \"spend-*.csv\"\norganisation = \"Northbridge City Council\"\n[sources.options.columns]\nsupplier_name = [\"Creditor\"]\namount = [\"Net Value (£)\"]\nservice_area = [\"Dept\"]\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (rows, sum, status, leaked, b) = stored_spend(
        &dir.path()
            .join("out/datasets/spend/source=spend/part-0.parquet"),
    );
    assert_eq!(rows, 2);
    assert!((sum - (1234.50 - 12.00)).abs() < 1e-9, "{sum}");
    assert_eq!(status["redacted"], 1);
    assert_eq!(leaked, 0);
    assert_eq!(
        text_at(&b[0], "supplier_name", 0).as_deref(),
        Some("Café Nero Ltd")
    );
    assert_eq!(text_at(&b[0], "service_area", 0), None, "NA is no value");
    assert_eq!(
        text_at(&b[0], "organisation", 0).as_deref(),
        Some("Northbridge City Council")
    );

    write(
        dir.path(),
        "spend-2024-05.csv",
        "Date,Creditor,Dept\n02/05/2024,Acme Ltd,Housing\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("spend-2024-05.csv")
            && t.contains("no column for `amount`")
            && t.contains("Net Value (£)"),
        "{t}"
    );
    // The last good output stands.
    let (rows, _, _, _, _) = stored_spend(
        &dir.path()
            .join("out/datasets/spend/source=spend/part-0.parquet"),
    );
    assert_eq!(rows, 2);
}

/// Trafford's real 360Giving grants, the same 555 grants as a spreadsheet
/// (CSV) and as JSON: both load whole, agree grant by grant, and match
/// counts and sums taken straight from the raw files; company numbers keep
/// their leading zeros and org-id schemes are counted as published.
#[test]
fn real_360giving_grants_in_csv_and_json_load_alike() {
    let dir = tempfile::tempdir().unwrap();
    let real = shared("real/grants");
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"csv\"\nplugin = \"grants\"\n[sources.options]\npath = \"{0}/trafford-council-voluntary-sector-grants-360giving.csv\"\n\
             [[sources]]\nname = \"json\"\nplugin = \"grants\"\n[sources.options]\npath = \"{0}/trafford-council-voluntary-sector-grants-360giving.json\"\n",
            real.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(last_manifest(&dir.path().join("out"))["outcome"], "success");

    // The raw spreadsheet, read with the csv crate.
    let mut r =
        csv::Reader::from_path(real.join("trafford-council-voluntary-sector-grants-360giving.csv"))
            .unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (id, amount, company, org) = (
        col("Identifier"),
        col("Amount Awarded"),
        col("Recipient Org:Company Number"),
        col("Recipient Org:Identifier"),
    );
    let mut raw: Vec<(String, f64, String)> = Vec::new();
    let mut schemes: HashMap<String, usize> = HashMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        raw.push((
            rec[id].to_string(),
            rec[amount].parse().unwrap(),
            rec[company].to_string(),
        ));
        let o = &rec[org];
        let scheme = if o.starts_with("360G-") {
            "360G".to_string()
        } else {
            o.splitn(3, '-').take(2).collect::<Vec<_>>().join("-")
        };
        *schemes.entry(scheme).or_default() += 1;
    }
    // The raw JSON: its grants' ids and amounts in order.
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(real.join("trafford-council-voluntary-sector-grants-360giving.json"))
            .unwrap(),
    )
    .unwrap();
    let json_grants = json["grants"].as_array().unwrap();
    assert_eq!(json_grants.len(), raw.len());

    for source in ["csv", "json"] {
        let (_, rows, _, batches) = read_parquet(&dir.path().join(format!(
            "out/datasets/grants/source={source}/part-0.parquet"
        )));
        assert_eq!(rows, raw.len(), "{source}");
        let mut k = 0;
        let mut stored_schemes: HashMap<String, usize> = HashMap::new();
        for b in &batches {
            let amounts = f64s(b, "amount_awarded");
            for i in 0..b.num_rows() {
                let (rid, ramount, rcompany) = &raw[k];
                assert_eq!(
                    text_at(b, "grant_id", i).as_deref(),
                    Some(rid.as_str()),
                    "{source} row {k}"
                );
                assert_eq!(json_grants[k]["id"].as_str(), Some(rid.as_str()));
                assert!((amounts.value(i) - ramount).abs() < 1e-9, "{source} {rid}");
                let stored_company = text_at(b, "company_number", i).unwrap_or_default();
                assert_eq!(
                    &stored_company, rcompany,
                    "{source} {rid}: company number as text"
                );
                *stored_schemes
                    .entry(text_at(b, "recipient_id_scheme", i).unwrap())
                    .or_default() += 1;
                assert_eq!(
                    text_at(b, "recipient_type", i).as_deref(),
                    Some("organisation")
                );
                k += 1;
            }
        }
        assert_eq!(stored_schemes, schemes, "{source}");
    }
    assert!(
        raw.iter().any(|(_, _, c)| c.starts_with('0')),
        "the file has leading-zero company numbers"
    );
}

/// An LSOA's standing: in the first authority named, IMD decile, IMD rank.
type Standing = (bool, u8, u32);

/// The real IoD2019 File 2 rows of the given local authorities, as a CSV
/// with the published header, and each LSOA's standing read straight from
/// the file: (in the first authority, IMD decile, IMD rank).
fn iod2019_rows(lads: &[&str]) -> (Vec<u8>, HashMap<String, Standing>) {
    let mut raw = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(shared(
            "iod2019/File_2_-_IoD2019_Domains_of_Deprivation.csv.gz",
        ))
        .unwrap(),
    )
    .read_to_string(&mut raw)
    .unwrap();
    let mut rdr = csv::Reader::from_reader(raw.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let pos = |p: &str| header.iter().position(|h| h.starts_with(p)).unwrap();
    let (lad, decile, rank) = (
        pos("Local Authority District code"),
        pos("Index of Multiple Deprivation (IMD) Decile"),
        pos("Index of Multiple Deprivation (IMD) Rank"),
    );
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header).unwrap();
    let mut standing = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if !lads.contains(&&rec[lad]) {
            continue;
        }
        out.write_record(&rec).unwrap();
        standing.insert(
            rec[0].to_string(),
            (
                &rec[lad] == lads[0],
                rec[decile].parse().unwrap(),
                rec[rank].parse().unwrap(),
            ),
        );
    }
    (out.into_inner().unwrap(), standing)
}

/// Social value on real data: Trafford's real spend excerpt, a supplier
/// register made here from its supplier numbers (every fifth supplier left
/// out, flags and postcodes assigned by rule, postcodes placed in real
/// Trafford and Manchester LSOAs), and the real IoD2019 File 2 rows of the
/// two authorities. Every figure is recomputed here from the raw files.
#[test]
fn social_value_on_real_spend_matches_a_calculation_from_the_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    // IoD2019 rows of Trafford (E08000009) and Manchester (E08000003).
    let (iod, standing) = iod2019_rows(&["E08000009", "E08000003"]);
    write(dir.path(), "iod.csv", iod);
    let lsoas_of = |lad: bool| {
        let mut v: Vec<String> = standing
            .iter()
            .filter(|(_, s)| s.0 == lad)
            .map(|(l, _)| l.clone())
            .collect();
        v.sort();
        v
    };
    let (trafford, manchester) = (lsoas_of(true), lsoas_of(false));
    // Local deciles: Trafford's LSOAs by national rank, ceil(10 x position / n).
    let mut by_rank: Vec<&String> = trafford.iter().collect();
    by_rank.sort_by_key(|l| standing[*l].2);
    let local: HashMap<&String, usize> = by_rank
        .iter()
        .enumerate()
        .map(|(p, l)| (*l, (10 * (p + 1)).div_ceil(by_rank.len())))
        .collect();

    // The raw spend.
    let mut r = csv::Reader::from_path(shared(
        "real/spend/trafford-supplier-spend-2026-27-excerpt.csv",
    ))
    .unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (idc, namec, amountc) = (
        col("BeneficiaryOtherID"),
        col("BeneficiaryName"),
        col("Amount"),
    );
    let spend: Vec<(String, bool, f64)> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[idc].trim().to_string(),
                rec[namec].trim() == "Redacted",
                rec[amountc].parse().unwrap(),
            )
        })
        .collect();
    let mut ids: Vec<&String> = spend.iter().filter(|s| !s.1).map(|s| &s.0).collect();
    ids.sort();
    ids.dedup();
    // The register, by rule: (postcode, lsoa, vcse, sme) per supplier number.
    let mut register: HashMap<String, (Option<String>, bool, bool)> = HashMap::new();
    let mut reg = String::from("Supplier No,Supplier Name,Post Code,VCSE?,SME\n");
    let mut lookup = String::from("pcds,lsoa11cd,osward\n");
    for (k, id) in ids.iter().enumerate() {
        if k % 5 == 0 {
            continue;
        }
        let lsoa = (k % 11 != 0).then(|| {
            if k % 4 == 0 {
                manchester[k % manchester.len()].clone()
            } else {
                trafford[k % trafford.len()].clone()
            }
        });
        let postcode = lsoa.as_ref().map(|l| {
            let pc = format!("ZZ{k} 1AA");
            lookup.push_str(&format!("{pc},{l},E05000001\n"));
            pc
        });
        let (vcse, sme) = (k % 3 == 0, k % 2 == 0);
        reg.push_str(&format!(
            "{id},Supplier {id},{},{},{}\n",
            postcode.unwrap_or_default(),
            if vcse { "Y" } else { "N" },
            if sme { "Yes" } else { "No" }
        ));
        register.insert(id.to_string(), (lsoa, vcse, sme));
    }
    write(dir.path(), "register.csv", reg);
    write(dir.path(), "postcodes.csv", lookup);
    // The expected figures.
    let mut want: HashMap<&str, f64> = HashMap::new();
    for (id, redacted, amount) in &spend {
        let mut add = |m| *want.entry(m).or_default() += amount;
        add("all_spend");
        if *redacted {
            add("withheld_payee");
            continue;
        }
        let Some((lsoa, vcse, sme)) = register.get(id) else {
            add("unmatched");
            continue;
        };
        add("matched");
        add("matched_by_id");
        if *vcse {
            add("vcse")
        }
        if *sme {
            add("sme")
        }
        match lsoa {
            None => add("no_location"),
            Some(l) => {
                let (in_trafford, d, _) = standing[l];
                if in_trafford {
                    add("in_area")
                }
                if d == 1 {
                    add("england_most_deprived_10pct")
                }
                if d <= 2 {
                    add("england_most_deprived_20pct")
                }
                if local.get(l) == Some(&1) {
                    add("area_most_deprived_10pct")
                }
                if local.get(l).is_some_and(|d| *d <= 2) {
                    add("area_most_deprived_20pct")
                }
            }
        }
    }
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"spend\"\nplugin = \"spend\"\n[sources.options]\npath = \"{}\"\n\
             [[sources]]\nname = \"suppliers\"\nplugin = \"supplier-register\"\n[sources.options]\npath = \"register.csv\"\npostcode_lookup = {{ path = \"postcodes.csv\" }}\n\
             [[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\n[sources.options]\nurl = \"iod.csv\"\n\
             [[indicators]]\nplugin = \"social-value\"\n[indicators.options]\narea = \"E08000009\"\n",
            shared("real/spend/trafford-supplier-spend-2026-27-excerpt.csv").display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    // Named payees missing from the register are a coverage warning.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(
        last_manifest(&dir.path().join("out"))["outcome"],
        "success_with_warnings"
    );
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/social_value/part-0.parquet"),
    );
    assert_eq!(rows, 14, "one financial year, every measure");
    let mut got: HashMap<String, (f64, Option<f64>)> = HashMap::new();
    for b in &batches {
        let amount = f64s(b, "amount");
        let share = f64s(b, "share_of_matched_pct");
        for i in 0..b.num_rows() {
            assert_eq!(text_at(b, "period", i).as_deref(), Some("2026-27"));
            got.insert(
                text_at(b, "measure", i).unwrap(),
                (amount.value(i), share.is_valid(i).then(|| share.value(i))),
            );
        }
    }
    let matched = want["matched"];
    for (m, v) in &want {
        let (a, share) = got[*m];
        assert!((a - v).abs() < 0.01, "{m}: {a} vs {v}");
        if !["all_spend", "withheld_payee", "unmatched"].contains(m) {
            let s = share.unwrap();
            assert!((s - v / matched * 100.0).abs() < 1e-6, "{m}: {s}%");
        }
    }
    for m in [
        "in_area",
        "vcse",
        "sme",
        "england_most_deprived_20pct",
        "area_most_deprived_10pct",
        "no_location",
        "unmatched",
    ] {
        assert!(
            want.get(m).copied().unwrap_or(0.0).abs() > 0.0,
            "the test exercises {m}"
        );
    }
    assert_eq!(
        got["matched_by_name"].0, 0.0,
        "register names are not the spend names"
    );
}

/// Payments without supplier numbers meet the register by name, whatever
/// the spelling of the legal form; a name two registered suppliers share
/// matches neither (counted unmatched, never guessed).
#[test]
fn social_value_matches_by_name_only_where_the_name_is_one_suppliers() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "spend.csv",
        "Payment Date,Supplier Name,Amount\n\
         01/04/2025,Northbridge Community Trust,1000.00\n\
         02/04/2025,ACME SUPPLIES LIMITED,300.00\n\
         03/04/2025,Twin Names Ltd,50.00\n\
         04/04/2025,Redacted,25.00\n",
    );
    write(
        dir.path(),
        "register.csv",
        "Supplier Name,VCSE,SME\n\
         NORTHBRIDGE COMMUNITY TRUST CIC,Y,N\n\
         Acme Supplies Ltd.,N,Y\n\
         Twin Names Limited,N,Y\n\
         TWIN NAMES LTD,N,N\n",
    );
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        "output_dir = \"out\"\n\
         [[sources]]\nname = \"spend\"\nplugin = \"spend\"\n[sources.options]\npath = \"spend.csv\"\n\
         [[sources]]\nname = \"suppliers\"\nplugin = \"supplier-register\"\n[sources.options]\npath = \"register.csv\"\n\
         [[indicators]]\nplugin = \"social-value\"\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/social_value/part-0.parquet"),
    );
    let mut got: HashMap<String, f64> = HashMap::new();
    for b in &batches {
        let amount = f64s(b, "amount");
        for i in 0..b.num_rows() {
            got.insert(text_at(b, "measure", i).unwrap(), amount.value(i));
        }
    }
    assert_eq!(got["all_spend"], 1375.0);
    assert_eq!(got["withheld_payee"], 25.0);
    assert_eq!(got["matched_by_name"], 1300.0);
    assert_eq!(got["unmatched"], 50.0, "the shared name is not guessed");
    assert_eq!(got["vcse"], 1000.0);
    assert_eq!(got["sme"], 300.0);
    assert_eq!(got["no_location"], 1300.0, "no postcodes loaded");
}

/// Grants to voluntary groups on Trafford's real 360Giving file: by year
/// and programme, by kind of recipient, and placed where the data allows:
/// the 11 recipients with a postcode (placed here in real Trafford LSOAs by
/// a lookup made in the test, their IMD deciles from the real IoD2019
/// rows), the rest only by the borough code, so in no ward and said so.
/// Every figure is recomputed here from the raw CSV.
#[test]
fn vcse_grants_on_real_360giving_data_match_the_raw_file() {
    let dir = tempfile::tempdir().unwrap();
    let (iod, standing) = iod2019_rows(&["E08000009"]);
    write(dir.path(), "iod.csv", iod);
    let mut lsoas: Vec<&String> = standing.keys().collect();
    lsoas.sort();
    let file = shared("real/grants/trafford-council-voluntary-sector-grants-360giving.csv");
    let mut r = csv::Reader::from_path(&file).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (amount, date, programme, org, postcode) = (
        col("Amount Awarded"),
        col("Award Date"),
        col("Grant Programme:Title"),
        col("Recipient Org:Identifier"),
        col("Recipient Org:Postal Code"),
    );
    // (dimension, financial year, group) -> (grants, amount)
    let mut want: HashMap<(String, String, String), (u64, f64)> = HashMap::new();
    let mut lookup = String::from("pcds,lsoa11cd,osward\n");
    let mut placed: HashMap<String, String> = HashMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let (y, m): (i32, u32) = (
            rec[date][..4].parse().unwrap(),
            rec[date][5..7].parse().unwrap(),
        );
        let fy = if m >= 4 { y } else { y - 1 };
        let fy = format!("{fy}-{:02}", (fy + 1) % 100);
        let a: f64 = rec[amount].parse().unwrap();
        let o = &rec[org];
        let kind = if o.starts_with("GB-CHC") {
            "registered charity"
        } else if o.starts_with("GB-COH") {
            "registered company"
        } else {
            "unregistered group (publisher's own identifier)"
        };
        let pc = rec[postcode].trim().to_string();
        let basis = if pc.is_empty() {
            "beneficiary location: a wider area's code"
        } else {
            "recipient postcode"
        };
        let mut groups = vec![
            ("all", "All grants".to_string()),
            ("programme", rec[programme].to_string()),
            ("recipient_kind", kind.to_string()),
            ("location_basis", basis.to_string()),
        ];
        if !pc.is_empty() {
            let lsoa = placed.entry(pc.clone()).or_insert_with(|| {
                let l = lsoas[placed_len(&lookup) * 7 % lsoas.len()].clone();
                lookup.push_str(&format!("{pc},{l},E0500{:04}\n", placed_len(&lookup)));
                l
            });
            groups.push(("imd_decile", standing[lsoa.as_str()].1.to_string()));
        }
        for (dim, g) in groups {
            let e = want.entry((dim.to_string(), fy.clone(), g)).or_default();
            e.0 += 1;
            e.1 += a;
        }
    }
    let with_postcode = want
        .iter()
        .filter(|((d, _, g), _)| d == "location_basis" && g == "recipient postcode")
        .map(|(_, (n, _))| n)
        .sum::<u64>();
    assert_eq!(with_postcode, 11, "the README's 11 rows with a postcode");
    assert!(placed.len() > 1);
    write(dir.path(), "postcodes.csv", lookup);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"grants\"\nplugin = \"grants\"\n[sources.options]\npath = \"{}\"\npostcode_lookup = {{ path = \"postcodes.csv\" }}\n\
             [[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\n[sources.options]\nurl = \"iod.csv\"\n\
             [[indicators]]\nplugin = \"vcse-grants\"\n",
            file.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "grants placed in no ward are a warning: {}",
        text(&o)
    );
    let (_, _, _, batches) =
        read_parquet(&dir.path().join("out/indicators/vcse_grants/part-0.parquet"));
    let mut got: HashMap<(String, String, String), (u64, f64)> = HashMap::new();
    for b in &batches {
        let grants = i64s(b, "grants");
        let amounts = f64s(b, "amount");
        for i in 0..b.num_rows() {
            let dim = text_at(b, "dimension", i).unwrap();
            if dim == "ward" || dim == "classification" {
                continue;
            }
            got.insert(
                (
                    dim,
                    text_at(b, "period", i).unwrap(),
                    text_at(b, "group", i).unwrap(),
                ),
                (grants.value(i) as u64, amounts.value(i)),
            );
        }
    }
    assert_eq!(
        got.len(),
        want.len(),
        "the same groups: {:?}",
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .collect::<Vec<_>>()
    );
    for (k, (n, a)) in &want {
        let (gn, ga) = got.get(k).unwrap_or_else(|| panic!("{k:?} missing"));
        assert_eq!(gn, n, "{k:?}");
        assert!((ga - a).abs() < 0.005, "{k:?}: {ga} vs {a}");
    }
}

/// How many postcodes a test lookup holds so far (its lines less the header).
fn placed_len(lookup: &str) -> usize {
    lookup.lines().count() - 1
}

/// The Wilson score interval, written out here from the methodology note
/// (z = 1.959964), so the test does not lean on eqpipe's own.
fn wilson95(x: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054_f64;
    let p = x / n;
    let d = 1.0 + z * z / n;
    let c = p + z * z / (2.0 * n);
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((c - h) / d, (c + h) / d)
}

/// A consultation in Manchester against the real Census 2021 TS007 file:
/// its respondents' age profile against the city's (the bands summed here
/// from the file's single years), the groups under-represented named, and
/// a cohesion question's agreement raked to the city's age margin (one
/// margin has a closed form: each band's weight is its population share
/// over its sample share), with Kish's effective sample size.
#[test]
fn a_consultations_reach_and_its_raked_answers_match_the_census_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let ts007 = shared("census2021/census2021-ts007-ltla.csv");
    // The city's residents by band, from the raw file.
    let mut r = csv::Reader::from_path(&ts007).unwrap();
    let h = r.headers().unwrap().clone();
    let row = r
        .records()
        .map(|x| x.unwrap())
        .find(|x| &x[2] == "E08000003")
        .unwrap();
    let bands = [
        ("16-24", 16, 24),
        ("25-34", 25, 34),
        ("35-49", 35, 49),
        ("50-64", 50, 64),
        ("65+", 65, 200),
    ];
    let mut pop = [0f64; 5];
    for (i, name) in h.iter().enumerate() {
        let Some(rest) = name.strip_prefix("Age: Aged ") else {
            continue;
        };
        let first = rest.split(' ').next().unwrap();
        // Single years, and the open-ended 100+; not the bands above them
        // ("85 years and over" has the single years 85 to 99 beneath it).
        let single = rest.starts_with(&format!("{first} year"))
            && !rest.contains(" to ")
            && !rest.contains("under")
            && !rest.contains("and over");
        let over = rest.starts_with("100 years and over");
        if !(single || over) {
            continue;
        }
        let age: u32 = first.parse().unwrap();
        if let Some(b) = bands.iter().position(|b| age >= b.1 && age <= b.2) {
            pop[b] += row[i].parse::<f64>().unwrap();
        }
    }
    let pop_total: f64 = pop.iter().sum();
    // Respondents: (band age, how many, how many agree), older ones over-represented;
    // twelve gave no age (and answered don't know).
    let sample = [
        (20, 10, 3),
        (30, 20, 8),
        (40, 50, 25),
        (55, 60, 36),
        (70, 60, 42),
    ];
    let mut csv = String::from(
        "Response ID,Age,Postcode,Q12 People from different backgrounds get on well together\n",
    );
    let mut id = 0;
    for (age, n, agree) in sample {
        for k in 0..n {
            id += 1;
            let a = if k < agree {
                "Definitely agree"
            } else if k % 2 == 0 {
                "Tend to disagree"
            } else {
                "Neither agree nor disagree"
            };
            csv.push_str(&format!("R{id:04},{age},,{a}\n"));
        }
    }
    for _ in 0..12 {
        id += 1;
        csv.push_str(&format!("R{id:04},,,Don't know\n"));
    }
    write(dir.path(), "consultation.csv", csv);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS007\"]\ngeography = \"ltla\"\n\
             [[sources]]\nname = \"consultation\"\nplugin = \"engagement\"\n[sources.options]\npath = \"consultation.csv\"\nexercise = \"Neighbourhood plan 2026\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nquestions = [\"Q12 People from different backgrounds get on well together\"]\n[sources.options.columns]\nrespondent_id = \"Response ID\"\n\
             [[indicators]]\nplugin = \"engagement-reach\"\n[indicators.options]\narea = \"E08000003\"\ncharacteristics = [\"age_band\"]\nweight_by = [\"age_band\"]\n\
             [[indicators]]\nplugin = \"engagement-answers\"\n[indicators.options]\narea = \"E08000003\"\nweight_by = [\"age_band\"]\n",
            ts007.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(4),
        "{}",
        text(&o)
    );
    // Profile: the published file.
    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/engagement_reach/part-0.parquet"),
    );
    let stated: f64 = sample.iter().map(|s| s.1 as f64).sum();
    let mut seen = 0;
    for b in &batches {
        let share = f64s(b, "share_pct");
        let popc = f64s(b, "population_pct");
        for i in 0..b.num_rows() {
            let cat = text_at(b, "category", i).unwrap();
            if cat == "not_disclosed" {
                assert!((share.value(i) - 12.0 / (stated + 12.0) * 100.0).abs() < 1e-9);
                continue;
            }
            let k = bands
                .iter()
                .position(|x| x.0 == cat)
                .unwrap_or_else(|| panic!("{cat}"));
            let x = sample[k].1 as f64;
            assert!((share.value(i) - x / stated * 100.0).abs() < 1e-9, "{cat}");
            let ps = pop[k] / pop_total;
            assert!(
                (popc.value(i) - ps * 100.0).abs() < 1e-9,
                "{cat}: {} vs {}",
                popc.value(i),
                ps * 100.0
            );
            let (lo, hi) = wilson95(x, stated);
            let want = if hi < ps {
                "under_represented"
            } else if lo > ps {
                "over_represented"
            } else {
                "in_line"
            };
            assert_eq!(
                text_at(b, "representation", i).as_deref(),
                Some(want),
                "{cat}"
            );
            if cat == "16-24" {
                assert_eq!(
                    want, "under_represented",
                    "the young are the harder to reach here"
                );
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
    // Weighted agreement by hand: weight of band k = (pop share × stated) / n_k.
    let w: Vec<f64> = (0..5)
        .map(|k| pop[k] / pop_total * stated / sample[k].1 as f64)
        .collect();
    let (mut wsum, mut wyes, mut w2) = (0.0, 0.0, 0.0);
    for k in 0..5 {
        let n = sample[k].1 as f64;
        wsum += w[k] * n;
        wyes += w[k] * sample[k].2 as f64;
        w2 += w[k] * w[k] * n;
    }
    let p = wyes / wsum;
    let ess = wsum * wsum / w2;
    let (lo, hi) = wilson95(p * ess, ess);
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/engagement_estimates/part-0.parquet"),
    );
    assert_eq!(rows, 1);
    let b = &batches[0];
    let f = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0)
    };
    let agree: f64 = sample.iter().map(|s| s.2 as f64).sum();
    assert!((f("agree_pct") - agree / stated * 100.0).abs() < 1e-9);
    assert!(
        (f("weighted_agree_pct") - p * 100.0).abs() < 1e-6,
        "{} vs {}",
        f("weighted_agree_pct"),
        p * 100.0
    );
    assert!((f("effective_n") - ess).abs() < 1e-6);
    assert!(
        (f("weighted_lower_pct") - lo * 100.0).abs() < 1e-6
            && (f("weighted_upper_pct") - hi * 100.0).abs() < 1e-6
    );
    assert!(
        f("weighted_agree_pct") < f("agree_pct"),
        "the over-represented older respondents agree more"
    );
    // No respondent identifier or answer text is published.
    for f in files_under(&dir.path().join("out/indicators")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("R0001"),
            "{}",
            f.display()
        );
    }
}

/// Police recorded hate crime in the Home Office open data layout (a row
/// per year, quarter, force, offence group and combination of strands; an
/// offence motivated by two strands is one row with two `Yes`): each
/// strand's offences, all hate crime counted once, the change from the
/// year before and the rate per 1,000 residents, all recomputed here from
/// the rows; a file without a strand column fails naming it.
#[test]
fn hate_crime_in_the_home_office_layout_counts_each_offence_once() {
    let dir = tempfile::tempdir().unwrap();
    // (year as written, force, race, religion, orientation, disability, trans, offences)
    let rows = [
        (
            "2021/22",
            "Greater Manchester",
            "Yes",
            "No",
            "No",
            "No",
            "No",
            900,
        ),
        (
            "2021/22",
            "Greater Manchester",
            "Yes",
            "Yes",
            "No",
            "No",
            "No",
            60,
        ),
        (
            "2021/22",
            "Greater Manchester",
            "No",
            "No",
            "Yes",
            "No",
            "No",
            210,
        ),
        (
            "2021/22",
            "Greater Manchester",
            "No",
            "No",
            "No",
            "Yes",
            "Yes",
            15,
        ),
        (
            "2022 to 2023",
            "Greater Manchester",
            "Yes",
            "No",
            "No",
            "No",
            "No",
            990,
        ),
        (
            "2022 to 2023",
            "Greater Manchester",
            "No",
            "No",
            "Yes",
            "Yes",
            "No",
            25,
        ),
        (
            "2022 to 2023",
            "Greater Manchester",
            "No",
            "No",
            "No",
            "No",
            "Yes",
            40,
        ),
        ("2022/23", "Cheshire", "Yes", "No", "No", "No", "No", 300),
    ];
    let mut csv = String::from(
        "Financial Year,Financial Quarter,Force Name,Offence Group,Race or ethnicity,Religion or beliefs,Sexual orientation,Disability,Transgender,Number of offences\n",
    );
    for (k, r) in rows.iter().enumerate() {
        csv.push_str(&format!(
            "{},Q{},{},Public order offences,{},{},{},{},{},{}\n",
            r.0,
            1 + k % 4,
            r.1,
            r.2,
            r.3,
            r.4,
            r.5,
            r.6,
            r.7
        ));
    }
    write(dir.path(), "hate-crime-open-data.csv", csv);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        "output_dir = \"out\"\n[[sources]]\nname = \"hate_crime\"\nplugin = \"hate-crime\"\n[sources.options]\npath = \"hate-crime-open-data.csv\"\n[[indicators]]\nplugin = \"hate-crime-trends\"\n[indicators.options]\npopulations = { \"Greater Manchester\" = 2867800 }\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "Cheshire has no population: a warning; {}",
        text(&o)
    );
    // Expected, from the rows.
    let fy = |s: &str| {
        if s.starts_with("2021") {
            "2021-22"
        } else {
            "2022-23"
        }
    };
    let strand_col = [
        ("race", 2),
        ("religion", 3),
        ("sexual_orientation", 4),
        ("disability", 5),
        ("transgender", 6),
    ];
    let mut want: HashMap<(String, String, String), f64> = HashMap::new();
    for r in &rows {
        let flags = [r.2, r.3, r.4, r.5, r.6];
        *want
            .entry((fy(r.0).into(), r.1.into(), "all".into()))
            .or_default() += r.7 as f64;
        for (s, k) in strand_col {
            if flags[k - 2] == "Yes" {
                *want
                    .entry((fy(r.0).into(), r.1.into(), s.into()))
                    .or_default() += r.7 as f64;
            }
        }
    }
    let (_, n, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/hate_crime_trends/part-0.parquet"),
    );
    assert_eq!(n, 3 * 6, "three area-years, all and five strands");
    for b in &batches {
        let offences = i64s(b, "offences");
        let change = f64s(b, "change_pct");
        let rate = f64s(b, "rate_per_1000");
        for i in 0..b.num_rows() {
            let key = (
                text_at(b, "financial_year", i).unwrap(),
                text_at(b, "area_name", i).unwrap(),
                text_at(b, "strand", i).unwrap(),
            );
            let w = want.get(&key).copied().unwrap_or(0.0);
            assert_eq!(offences.value(i) as f64, w, "{key:?}");
            if key.1 == "Greater Manchester" {
                assert!(
                    (rate.value(i) - w / 2_867_800.0 * 1000.0).abs() < 1e-12,
                    "{key:?}"
                );
                if key.0 == "2022-23" {
                    let before = want
                        .get(&("2021-22".into(), key.1.clone(), key.2.clone()))
                        .copied()
                        .unwrap_or(0.0);
                    if before > 0.0 {
                        assert!(
                            (change.value(i) - (w - before) / before * 100.0).abs() < 1e-9,
                            "{key:?}"
                        );
                    }
                }
            } else {
                assert!(rate.is_null(i));
            }
        }
    }
    // All hate crime counts each offence once: less than the strands' sum.
    let all = want[&("2021-22".into(), "Greater Manchester".into(), "all".into())];
    assert_eq!(all, 1185.0);

    write(
        dir.path(),
        "hate-crime-open-data.csv",
        "Financial Year,Force Name,Race or ethnicity,Religion or beliefs,Sexual orientation,Disability,Number of offences\n2022/23,Cheshire,Yes,No,No,No,3\n",
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "the source fails, the run is partial: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("no column for the `transgender` strand"),
        "{}",
        text(&o)
    );
}

/// Raking to a joint margin of age band by sex, from a sex-by-age table in
/// the Nomis layout of TS009 (bands, with under-16s the weighting leaves
/// out): each respondent's weight is its cell's share of the adult
/// population over its share of the respondents, worked out here.
#[test]
fn answers_raked_to_age_by_sex_match_the_joint_cells_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let ages = [
        "Aged 15 years and under",
        "Aged 16 to 24 years",
        "Aged 25 to 34 years",
        "Aged 35 to 49 years",
        "Aged 50 to 64 years",
        "Aged 65 years and over",
    ];
    // Residents: [female, male] per age.
    let pop: [[i64; 2]; 6] = [
        [40_000, 42_000],
        [35_000, 33_000],
        [48_000, 47_000],
        [52_000, 50_000],
        [45_000, 43_000],
        [40_000, 32_000],
    ];
    let mut header = vec![
        "\"date\"".to_string(),
        "\"geography\"".into(),
        "\"geography code\"".into(),
    ];
    let mut row = vec![
        "\"2021\"".to_string(),
        "\"Manchester\"".into(),
        "\"E08000003\"".into(),
    ];
    for (sex, k) in [
        ("All persons", None),
        ("Female", Some(0)),
        ("Male", Some(1)),
    ] {
        let cell = |a: usize| match k {
            Some(k) => pop[a][k],
            None => pop[a][0] + pop[a][1],
        };
        header.push(format!("\"Sex: {sex}; Age: Total; measures: Value\""));
        row.push((0..6).map(cell).sum::<i64>().to_string());
        for (a, age) in ages.iter().enumerate() {
            header.push(format!("\"Sex: {sex}; Age: {age}; measures: Value\""));
            row.push(cell(a).to_string());
        }
    }
    let ts009 = write(
        dir.path(),
        "census2021-ts009-ltla.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    );
    // Respondents per (age, sex) cell: (age, female n, female agree, male n, male agree).
    let sample = [
        (20, 6, 2, 4, 1),
        (30, 10, 5, 8, 3),
        (42, 25, 14, 15, 7),
        (57, 30, 20, 22, 12),
        (72, 40, 30, 30, 21),
    ];
    let mut csv = String::from("id,age,sex,q\n");
    let mut id = 0;
    for (age, fnum, fyes, mnum, myes) in sample {
        for (sex, n, yes) in [("Female", fnum, fyes), ("Male", mnum, myes)] {
            for k in 0..n {
                id += 1;
                let a = if k < yes {
                    "Strongly agree"
                } else {
                    "Strongly disagree"
                };
                csv.push_str(&format!("P{id},{age},{sex},{a}\n"));
            }
        }
    }
    write(dir.path(), "survey.csv", csv);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS009\"]\ngeography = \"ltla\"\non_inconsistent_sums = \"fail\"\n\
             [[sources]]\nname = \"survey\"\nplugin = \"engagement\"\n[sources.options]\npath = \"survey.csv\"\nexercise = \"Residents survey\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nquestions = [\"q\"]\n[sources.options.columns]\nrespondent_id = \"id\"\n\
             [[indicators]]\nplugin = \"engagement-answers\"\n[indicators.options]\narea = \"E08000003\"\nweight_by = [\"age_sex\"]\n",
            ts009.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    // By hand: adult cells only (16+).
    let adults: f64 = pop[1..].iter().flatten().sum::<i64>() as f64;
    let n: f64 = sample.iter().map(|s| (s.1 + s.3) as f64).sum();
    let (mut wsum, mut wyes, mut w2) = (0.0, 0.0, 0.0);
    for (a, s) in sample.iter().enumerate() {
        for (k, (cn, cy)) in [(s.1, s.2), (s.3, s.4)].into_iter().enumerate() {
            let w = pop[a + 1][k] as f64 / adults * n / cn as f64;
            wsum += w * cn as f64;
            wyes += w * cy as f64;
            w2 += w * w * cn as f64;
        }
    }
    let p = wyes / wsum;
    let ess = wsum * wsum / w2;
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/engagement_estimates/part-0.parquet"),
    );
    assert_eq!(rows, 1);
    let b = &batches[0];
    let f = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0)
    };
    assert!(
        (f("weighted_agree_pct") - p * 100.0).abs() < 1e-6,
        "{} vs {}",
        f("weighted_agree_pct"),
        p * 100.0
    );
    assert!(
        (f("effective_n") - ess).abs() < 1e-6,
        "{} vs {ess}",
        f("effective_n")
    );
    assert_eq!(text_at(b, "weighted_by", 0).as_deref(), Some("age_sex"));
}

/// Raking to the area's wards: respondents placed by postcode, each
/// ward's residents from a ward-level TS008 and the wards of the area from
/// an ONS lookup. A ward with no respondents cannot be weighted up: it is
/// left out of the margin and said in a warning; respondents with no ward
/// keep their share. Worked out here in closed form.
#[test]
fn answers_raked_to_wards_match_the_ward_populations_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let wards = [
        ("E05000001", "Ancoats", 12_000i64),
        ("E05000002", "Baguley", 18_000),
        ("E05000003", "Crumpsall", 15_000),
    ];
    let mut ts008 = String::from(
        "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n",
    );
    let mut lookup = String::from("WD22CD,WD22NM,LAD22CD,LAD22NM\n");
    for (code, name, n) in wards {
        ts008.push_str(&format!(
            "\"2021\",\"{name}\",\"{code}\",{n},{},{}\n",
            n / 2,
            n - n / 2
        ));
        lookup.push_str(&format!("{code},{name},E08000003,Manchester\n"));
    }
    let ts008 = write(dir.path(), "census2021-ts008-wd.csv", ts008);
    let lookup = write(dir.path(), "wd22-lad22.csv", lookup);
    write(
        dir.path(),
        "postcodes.csv",
        "pcds,lsoa21cd,wd22cd\nM4 1AA,E01000001,E05000001\nM23 1AA,E01000002,E05000002\n",
    );
    // (postcode, respondents, agree): Crumpsall has none; four gave no postcode.
    let sample = [("M4 1AA", 30, 21), ("M23 1AA", 10, 4), ("", 4, 2)];
    let mut csv = String::from("id,postcode,q\n");
    let mut id = 0;
    for (pc, n, yes) in sample {
        for k in 0..n {
            id += 1;
            csv.push_str(&format!(
                "P{id},{pc},{}\n",
                if k < yes { "Agree" } else { "Disagree" }
            ));
        }
    }
    write(dir.path(), "survey.csv", csv);
    let cfg = write(
        dir.path(),
        "pipeline.toml",
        format!(
            "output_dir = \"out\"\n\
             [[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n\
             [[sources]]\nname = \"lookups\"\nplugin = \"geography\"\n[sources.options]\nlookups = [\"{}\"]\n\
             [[sources]]\nname = \"survey\"\nplugin = \"engagement\"\n[sources.options]\npath = \"survey.csv\"\nexercise = \"Residents survey\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nquestions = [\"q\"]\npostcode_lookup = {{ path = \"postcodes.csv\" }}\n[sources.options.columns]\nrespondent_id = \"id\"\n\
             [[indicators]]\nplugin = \"engagement-answers\"\n[indicators.options]\narea = \"E08000003\"\nweight_by = [\"ward\"]\n",
            ts008.display(),
            lookup.display()
        ),
    );
    let o = run_cfg(&cfg, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("ward: E05000003"),
        "the ward nobody answered from is named: {}",
        text(&o)
    );
    // By hand: the placed respondents (40) share out by the two wards with
    // respondents; the four without a ward keep weight 1.
    let placed = 40.0;
    let both = (12_000 + 18_000) as f64;
    let w = [
        12_000.0 / both * placed / 30.0,
        18_000.0 / both * placed / 10.0,
        1.0,
    ];
    let (mut wsum, mut wyes, mut w2) = (0.0, 0.0, 0.0);
    for (k, (_, n, yes)) in sample.iter().enumerate() {
        wsum += w[k] * *n as f64;
        wyes += w[k] * *yes as f64;
        w2 += w[k] * w[k] * *n as f64;
    }
    let (_, _, _, batches) = read_parquet(
        &dir.path()
            .join("out/indicators/engagement_estimates/part-0.parquet"),
    );
    let b = &batches[0];
    let f = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0)
    };
    assert!(
        (f("weighted_agree_pct") - wyes / wsum * 100.0).abs() < 1e-6,
        "{} vs {}",
        f("weighted_agree_pct"),
        wyes / wsum * 100.0
    );
    assert!((f("effective_n") - wsum * wsum / w2).abs() < 1e-6);
}
