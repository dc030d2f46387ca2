//! The evidence beside a council's own figures, read from the real files in
//! `../shared/data/real/`: OHID Fingertips downloads and API answers, and
//! the slope and relative index of inequality over their deprivation
//! deciles checked against a calculation from the raw file; the GOV.UK
//! gender pay gap service's yearly files, every year's layout.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use common::*;

const FINGERTIPS: &str = "real/health/fingertips-93356-campylobacter-county-ua.csv";

/// The raw file's records as a CSV parser reads them (the header has one
/// more name than the rows have fields), by column title.
fn raw_records() -> Vec<HashMap<String, String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(shared(FINGERTIPS))
        .unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.clone(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A raw number, `None` when the field is empty.
fn num(r: &HashMap<String, String>, col: &str) -> Option<f64> {
    let v = r[col].trim();
    (!v.is_empty()).then(|| v.parse().unwrap())
}

/// The key a row is found by: area, age, category type, category, period.
type Key = (String, String, String, String, String);

fn raw_key(r: &HashMap<String, String>) -> Key {
    (
        r["Area Code"].clone(),
        r["Age"].clone(),
        r["Category Type"].clone(),
        r["Category"].clone(),
        r["Time period"].clone(),
    )
}

fn out_key(b: &RecordBatch, i: usize) -> Key {
    let t = |c: &str| text_at(b, c, i).unwrap_or_default();
    (
        t("area_code"),
        t("age"),
        t("category_type"),
        t("category"),
        t("time_period"),
    )
}

fn opt_f64(b: &RecordBatch, col: &str, i: usize) -> Option<f64> {
    let a = f64s(b, col);
    arrow_array::Array::is_valid(a, i).then(|| a.value(i))
}

fn run(cfg: &Path) -> std::process::Output {
    eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap()
}

/// Fingertips' decile labels, most deprived first (as the site lists them).
const DECILES: [&str; 10] = [
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

/// Every record of the real download is stored with its figures; decile
/// rows get their decile; the SII and RII of each decile breakdown match a
/// weighted least-squares fit worked out here from the raw rows.
#[test]
fn a_real_fingertips_download_and_its_inequality_gradient() {
    let raw = raw_records();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eqpipe.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"ft\"\nplugin = \"fingertips\"\n[sources.options]\npath = \"{}\"\n\
             [[indicators]]\nplugin = \"health-inequalities\"\n",
            shared(FINGERTIPS).display()
        ),
    )
    .unwrap();
    let o = run(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "success", "{m:#}");
    let d = &m["sources"][0]["datasets"]["health_indicators"];
    assert_eq!(d["rows"].as_u64(), Some(raw.len() as u64), "{d}");
    assert_eq!(d["quarantined"].as_u64(), Some(0), "{d}");

    let (_, rows, _, batches) =
        read_parquet(&out.join("datasets/health_indicators/source=ft/part-0.parquet"));
    assert_eq!(rows, 852, "the file's records, counted by a CSV parser");
    let by_key: HashMap<Key, &HashMap<String, String>> =
        raw.iter().map(|r| (raw_key(r), r)).collect();
    assert_eq!(by_key.len(), raw.len(), "the raw key is unique");
    let (mut no_value, mut decile_rows) = (0, 0);
    for b in &batches {
        let ids = i64s(b, "indicator_id");
        for i in 0..b.num_rows() {
            let r = by_key[&out_key(b, i)];
            assert_eq!(ids.value(i).to_string(), r["Indicator ID"]);
            // The quoted line break at the name's end is gone.
            assert_eq!(
                text_at(b, "indicator_name", i).unwrap(),
                r["Indicator Name"].trim()
            );
            for (out_col, raw_col) in [
                ("value", "Value"),
                ("lower_ci_95", "Lower CI 95.0 limit"),
                ("upper_ci_95", "Upper CI 95.0 limit"),
                ("lower_ci_99_8", "Lower CI 99.8 limit"),
                ("count", "Count"),
                ("denominator", "Denominator"),
            ] {
                assert_eq!(opt_f64(b, out_col, i), num(r, raw_col), "{out_col} {r:?}");
            }
            no_value += usize::from(opt_f64(b, "value", i).is_none());
            assert_eq!(
                text_at(b, "compared_to_england", i).as_deref(),
                Some(r["Compared to England value or percentiles"].as_str()),
            );
            assert_eq!(
                text_at(b, "value_note", i),
                Some(r["Value note"].clone()).filter(|v| !v.is_empty())
            );
            let decile = b
                .column_by_name("deprivation_decile")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::UInt8Array>()
                .unwrap();
            let want = DECILES
                .iter()
                .position(|l| r["Category"].starts_with(&format!("{l} (")))
                .map(|p| p as u8 + 1);
            let got = arrow_array::Array::is_valid(decile, i).then(|| decile.value(i));
            assert_eq!(got, want, "{}", r["Category"]);
            if want.is_some() {
                decile_rows += 1;
                assert_eq!(
                    text_at(b, "deprivation_index", i).as_deref(),
                    Some("IMD2015")
                );
            }
        }
    }
    let raw_no_value = raw.iter().filter(|r| r["Value"].is_empty()).count();
    assert_eq!(no_value, raw_no_value);
    let raw_deciles = raw.iter().filter(|r| !r["Category"].is_empty()).count();
    assert_eq!((decile_rows, raw_deciles), (60, 60));

    // The gradient, from the raw rows: (category type, period) -> deciles.
    type Deciles = Vec<(usize, f64, f64)>;
    let mut groups: HashMap<(String, String), Deciles> = HashMap::new();
    for r in raw.iter().filter(|r| !r["Category"].is_empty()) {
        let d = DECILES
            .iter()
            .position(|l| r["Category"].starts_with(l))
            .unwrap();
        groups
            .entry((r["Category Type"].clone(), r["Time period"].clone()))
            .or_default()
            .push((d, num(r, "Value").unwrap(), num(r, "Denominator").unwrap()));
    }
    let (_, n, _, batches) =
        read_parquet(&out.join("indicators/health_inequalities/part-0.parquet"));
    assert_eq!(n, groups.len(), "two breakdowns over three years");
    for b in &batches {
        for i in 0..b.num_rows() {
            let t = |c: &str| text_at(b, c, i).unwrap();
            let mut g = groups[&(t("deprivation_type"), t("time_period"))].clone();
            g.sort_by_key(|d| d.0);
            assert_eq!(g.len(), 10);
            // Weighted least squares by the normal equations.
            let total: f64 = g.iter().map(|d| d.2).sum();
            let (mut cum, mut sw, mut swx, mut swy, mut swxx, mut swxy) =
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for &(_, y, w) in &g {
                let x = (cum + w / 2.0) / total;
                cum += w;
                sw += w;
                swx += w * x;
                swy += w * y;
                swxx += w * x * x;
                swxy += w * x * y;
            }
            let slope = (sw * swxy - swx * swy) / (sw * swxx - swx * swx);
            let intercept = (swy - slope * swx) / sw;
            let sii = opt_f64(b, "sii", i).unwrap();
            let rii = opt_f64(b, "rii", i).unwrap();
            assert!((sii - slope).abs() < 1e-9, "{sii} vs {slope}");
            assert!((rii - (intercept + slope) / intercept).abs() < 1e-12);
            // Campylobacter is reported more in less deprived areas.
            assert!(sii > 0.0 && rii > 1.0, "{sii} {rii}");
            assert_eq!(opt_f64(b, "value_most_deprived", i), Some(g[0].1));
            assert_eq!(opt_f64(b, "value_least_deprived", i), Some(g[9].1));
            assert_eq!(opt_f64(b, "population", i), Some(total));
            // England's own figure for the year, beside its gradient.
            let england = raw
                .iter()
                .find(|r| {
                    r["Area Code"] == "E92000001"
                        && r["Category"].is_empty()
                        && r["Age"] == "All ages"
                        && r["Time period"] == t("time_period")
                })
                .unwrap();
            assert_eq!(opt_f64(b, "area_value", i), num(england, "Value"));
        }
    }
}

/// The API is asked one page of indicators at a time for each area type;
/// England's rows repeated in every answer are kept once, a repeat with
/// other figures is quarantined by name, and an indicator no answer holds
/// is a coverage warning: the run ends succeeded with warnings (exit 4).
#[test]
fn the_fingertips_api_is_paged_by_indicator_and_area_type() {
    let real = std::fs::read_to_string(shared(FINGERTIPS)).unwrap();
    let header = real.split("\r\n").next().unwrap().to_string();
    // The regions' answer: the same file with England's 2015 value changed.
    let changed = real.replacen("94.7261896202678", "95.5", 1);
    assert_ne!(changed, real);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = TestServer::start(Box::new(move |url, _| {
        s.lock().unwrap().push(url.to_string());
        if !url.starts_with("/api/all_data/csv/by_indicator_id?") {
            return (404, vec![], vec![]);
        }
        let body = if url.contains("indicator_ids=93356&") {
            if url.contains("child_area_type_id=6&") {
                changed.clone()
            } else {
                real.clone()
            }
        } else {
            format!("{header}\r\n")
        };
        (
            200,
            vec![("Content-Type".into(), "text/csv".into())],
            body.into_bytes(),
        )
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eqpipe.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"ft\"\nplugin = \"fingertips\"\n[sources.options]\nbase_url = \"{}api\"\nindicator_ids = [93356, 90366]\nindicators_per_request = 1\narea_type_ids = [102, 6]\n",
            server.base
        ),
    )
    .unwrap();
    let o = run(&cfg);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let mut urls = seen.lock().unwrap().clone();
    urls.sort();
    let want: Vec<String> = [(90366, 102), (90366, 6), (93356, 102), (93356, 6)]
        .iter()
        .map(|(i, a)| format!("/api/all_data/csv/by_indicator_id?indicator_ids={i}&child_area_type_id={a}&parent_area_type_id=15&include_sortable_time_periods=yes"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(urls, want);
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    let step = &m["sources"][0];
    let d = &step["datasets"]["health_indicators"];
    assert_eq!(
        (d["rows"].as_u64(), d["quarantined"].as_u64()),
        (Some(852), Some(1)),
        "{d}"
    );
    let warnings = step["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["count"] == 1
            && w["of"] == 2
            && w["what"]
                .as_str()
                .is_some_and(|s| s.contains("no Fingertips answer"))),
        "{step:#}"
    );
    let q = step["quarantine_file"].as_str().unwrap();
    let qtext = std::fs::read_to_string(out.join(q)).unwrap();
    assert!(qtext.contains("duplicate of an earlier row"), "{qtext}");
    assert!(
        qtext.contains("child_area_type_id=6"),
        "the answer is named: {qtext}"
    );
    // The stored England 2015 figure is the first answer's.
    let (_, _, _, batches) =
        read_parquet(&out.join("datasets/health_indicators/source=ft/part-0.parquet"));
    let england: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .filter(|&i| {
                    out_key(b, i)
                        == (
                            "E92000001".into(),
                            "All ages".into(),
                            String::new(),
                            String::new(),
                            "2015".into(),
                        )
                })
                .map(|i| opt_f64(b, "value", i).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(england, vec![94.7261896202678]);
}

/// The real gender pay gap service files, one per layout (2017 to 2018's
/// 23 columns and CRLF breaks in addresses, 2019 to 2022's quoted fields
/// and `YYYY/MM/DD` dates, 2024 to 2025's `DD-MM-YYYY`): every record
/// stored with its figures, reporting year and snapshot date.
#[test]
fn every_years_gender_pay_gap_service_file_reads_alike() {
    let dir_in = shared("real/pay-gap");
    let mut files: Vec<_> = std::fs::read_dir(&dir_in)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    // Independently: (employer, first year) -> the raw record, by title.
    let mut raw: HashMap<(String, i32), HashMap<String, String>> = HashMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        // `gpg-2017-18-…`: the reporting year's first year.
        let year: i32 = name[4..8].parse().unwrap();
        let mut rdr = csv::Reader::from_path(f).unwrap();
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        for r in rdr.records() {
            let r = r.unwrap();
            let rec: HashMap<String, String> = header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.clone(), v.to_string()))
                .collect();
            raw.insert((rec["EmployerName"].clone(), year), rec);
        }
    }
    assert_eq!(raw.len(), 18, "4 + 4 + 2 + 4 + 4 returns");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eqpipe.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"gpg\"\nplugin = \"gender-pay-gap-service\"\n[sources.options]\npath = \"{}/gpg-*.csv\"\n\
             [[indicators]]\nplugin = \"pay-gap-benchmark\"\n[indicators.options]\nemployer = \"Manchester City Council\"\npeer_sic_code = \"84110\"\n",
            dir_in.display()
        ),
    )
    .unwrap();
    let o = run(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "success", "{m:#}");
    let (_, rows, _, batches) =
        read_parquet(&out.join("datasets/gender_pay_gap_returns/source=gpg/part-0.parquet"));
    assert_eq!(rows, raw.len());
    let mut seen = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            let t = |c: &str| text_at(b, c, i);
            let ry = t("reporting_year").unwrap();
            let year: i32 = ry[..4].parse().unwrap();
            assert_eq!(ry, format!("{year} to {}", year + 1));
            let r = &raw[&(t("employer_name").unwrap(), year)];
            seen += 1;
            for (c, title) in [
                ("diff_mean_hourly_pct", "DiffMeanHourlyPercent"),
                ("diff_median_hourly_pct", "DiffMedianHourlyPercent"),
                ("diff_mean_bonus_pct", "DiffMeanBonusPercent"),
                ("female_bonus_pct", "FemaleBonusPercent"),
                ("male_lower_quartile_pct", "MaleLowerQuartile"),
                ("female_lower_quartile_pct", "FemaleLowerQuartile"),
                (
                    "female_lower_middle_quartile_pct",
                    "FemaleLowerMiddleQuartile",
                ),
                (
                    "female_upper_middle_quartile_pct",
                    "FemaleUpperMiddleQuartile",
                ),
                ("female_top_quartile_pct", "FemaleTopQuartile"),
                ("male_top_quartile_pct", "MaleTopQuartile"),
            ] {
                assert_eq!(opt_f64(b, c, i), num(r, title), "{c} of {r:?}");
            }
            // Councils are public sector: code 1 beside SIC 84110, and the
            // 31 March snapshot of the year the file is for.
            assert_eq!(t("sic_codes").as_deref(), Some("1,84110"));
            let days = b
                .column_by_name("snapshot_date")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::Date32Array>()
                .unwrap()
                .value(i);
            let want = days_from_ce(year, 3, 31);
            assert_eq!(days, want, "{ry}");
            let address = t("address").unwrap();
            assert!(
                !address.contains('\n') && !address.contains(",,"),
                "{address}"
            );
            let ids = b.column_by_name("employer_id").unwrap();
            match r.get("EmployerId") {
                Some(id) => assert_eq!(i64s(b, "employer_id").value(i).to_string(), *id),
                None => assert!(arrow_array::Array::is_null(ids.as_ref(), i)),
            }
            // Dates as written (`2020/03/31 00:00:00`, `31-03-2025 00:00`).
            let submitted = b
                .column_by_name("date_submitted")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::Date32Array>()
                .unwrap();
            match r.get("DateSubmitted") {
                Some(d) => {
                    let day = d.split(' ').next().unwrap();
                    let p: Vec<i32> = day.split(['/', '-']).map(|x| x.parse().unwrap()).collect();
                    let (y, mo, da) = if p[0] > 31 {
                        (p[0], p[1], p[2])
                    } else {
                        (p[2], p[1], p[0])
                    };
                    assert_eq!(
                        submitted.value(i),
                        days_from_ce(y, mo as u32, da as u32),
                        "{d}"
                    );
                }
                None => assert!(arrow_array::Array::is_null(submitted, i)),
            }
        }
    }
    assert_eq!(seen, 18);

    // Manchester against the other councils (all SIC 84110), worked out
    // from the raw records: each year's peers, their median, Manchester's
    // rank and the change from its previous return.
    let (_, n, _, batches) = read_parquet(&out.join("indicators/pay_gap_benchmark/part-0.parquet"));
    assert_eq!(n, 5 * 10, "five years, ten measures");
    let mut years: Vec<i32> = raw.keys().map(|k| k.1).collect();
    years.sort();
    years.dedup();
    let mut checked = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            let t = |c: &str| text_at(b, c, i);
            if t("measure").as_deref() != Some("median_hourly_gap_pct") {
                continue;
            }
            let year: i32 = t("reporting_year").unwrap()[..4].parse().unwrap();
            let own = num(
                &raw[&("Manchester City Council".to_string(), year)],
                "DiffMedianHourlyPercent",
            )
            .unwrap();
            let mut peers: Vec<f64> = raw
                .iter()
                .filter(|(k, _)| k.1 == year && k.0 != "Manchester City Council")
                .map(|(_, r)| num(r, "DiffMedianHourlyPercent").unwrap())
                .collect();
            peers.sort_by(f64::total_cmp);
            let median = if peers.len() % 2 == 1 {
                peers[peers.len() / 2]
            } else {
                (peers[peers.len() / 2 - 1] + peers[peers.len() / 2]) / 2.0
            };
            assert_eq!(opt_f64(b, "value", i), Some(own));
            assert_eq!(i64s(b, "peers").value(i) as usize, peers.len());
            assert_eq!(opt_f64(b, "peer_median", i), Some(median), "{year}");
            assert_eq!(opt_f64(b, "peer_min", i), peers.first().copied());
            let rank = 1 + peers.iter().filter(|p| **p < own).count();
            assert_eq!(i64s(b, "rank").value(i) as usize, rank);
            let before = years.iter().rev().find(|y| **y < year);
            match before {
                Some(y) => {
                    let prev = num(
                        &raw[&("Manchester City Council".to_string(), *y)],
                        "DiffMedianHourlyPercent",
                    )
                    .unwrap();
                    assert_eq!(
                        t("previous_reporting_year"),
                        Some(format!("{y} to {}", y + 1))
                    );
                    assert!((opt_f64(b, "change", i).unwrap() - (own - prev)).abs() < 1e-9);
                }
                None => assert_eq!(opt_f64(b, "change", i), None),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5);

    // Naming an employer no file holds is a warning; a file that cannot
    // tell its reporting year is refused by name.
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out2\"\n[[sources]]\nname = \"gpg\"\nplugin = \"gender-pay-gap-service\"\n[sources.options]\npath = \"{}/gpg-*.csv\"\nemployers = [\"Manchester City Council\", \"574\", \"Nowhere Borough Council\"]\n",
            dir_in.display()
        ),
    )
    .unwrap();
    let o = run(&cfg);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out2"));
    let d = &m["sources"][0]["datasets"]["gender_pay_gap_returns"];
    // Manchester by name in all five files; Birmingham by id 574 where the
    // file has ids (not 2017 to 2018) and the council had reported (not
    // 2020 to 2021): three.
    assert_eq!(d["rows"].as_u64(), Some(8), "{d}");
    let undated = dir.path().join("returns.csv");
    let first = std::fs::read(&files[0]).unwrap();
    std::fs::write(&undated, first).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out3\"\n[[sources]]\nname = \"gpg\"\nplugin = \"gender-pay-gap-service\"\n[sources.options]\npath = \"{}\"\n",
            undated.display()
        ),
    )
    .unwrap();
    let o = run(&cfg);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("returns.csv: no `DueDate` column and no years in the file name"),
        "{}",
        text(&o)
    );
}

/// Days since 1970-01-01 of a date (as Arrow's Date32).
fn days_from_ce(y: i32, m: u32, d: u32) -> i32 {
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy as i32;
    era * 146_097 + doe - 719_468
}

/// The real ward and LSOA boundaries (GeoJSON, rings wound clockwise,
/// centroids as strings, codes renamed `area_code`) stored as GeoParquet:
/// every feature, its coordinates exactly, its bounding box, and the `geo`
/// metadata stating the types and the extent, worked out from the raw
/// files here.
#[test]
fn real_boundaries_are_stored_as_geoparquet_with_every_coordinate() {
    let files = [
        (
            "gm_wards",
            "gm-wards-may2023-bsc.geojson",
            "2023",
            "ward",
            215,
        ),
        (
            "trafford_wards",
            "trafford-wards-may2023-bgc.geojson",
            "2023",
            "ward",
            21,
        ),
        (
            "trafford_lsoas",
            "trafford-lsoa21-bgc.geojson",
            "2021",
            "lsoa",
            139,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eqpipe.toml");
    let mut body = String::from("output_dir = \"out\"\n");
    for (name, file, vintage, _, _) in &files {
        body.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nplugin = \"boundaries\"\n[sources.options]\npath = \"{}\"\nvintage = \"{vintage}\"\n",
            shared(&format!("real/boundaries/{file}")).display()
        ));
    }
    std::fs::write(&cfg, body).unwrap();
    let o = run(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    assert_eq!(last_manifest(&out)["outcome"], "success");
    for (name, file, vintage, level, count) in files {
        let raw: serde_json::Value = serde_json::from_slice(
            &std::fs::read(shared(&format!("real/boundaries/{file}"))).unwrap(),
        )
        .unwrap();
        let features = raw["features"].as_array().unwrap();
        assert_eq!(features.len(), count, "{file}");
        let by_code: HashMap<&str, &serde_json::Value> = features
            .iter()
            .map(|f| (f["properties"]["area_code"].as_str().unwrap(), f))
            .collect();
        let (_, rows, kv, batches) =
            read_parquet(&out.join(format!("datasets/boundaries/source={name}/part-0.parquet")));
        assert_eq!(rows, count, "{file}");
        let mut extent = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for b in &batches {
            let geometry = b
                .column_by_name("geometry")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::BinaryArray>()
                .unwrap();
            for i in 0..b.num_rows() {
                let code = text_at(b, "area_code", i).unwrap();
                let f = by_code[code.as_str()];
                assert_eq!(
                    text_at(b, "area_name", i).as_deref(),
                    f["properties"]["area_name"].as_str()
                );
                assert_eq!(text_at(b, "vintage", i).as_deref(), Some(vintage));
                assert_eq!(text_at(b, "level", i).as_deref(), Some(level));
                // The raw polygon's rings, as published (clockwise).
                assert_eq!(f["geometry"]["type"], "Polygon");
                let rings: Vec<Vec<(f64, f64)>> = f["geometry"]["coordinates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r.as_array()
                            .unwrap()
                            .iter()
                            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                            .collect()
                    })
                    .collect();
                // WKB read here: byte order, type 3 (Polygon), rings, points.
                let w = geometry.value(i);
                let u32_at = |k: usize| u32::from_le_bytes(w[k..k + 4].try_into().unwrap());
                let f64_at = |k: usize| f64::from_le_bytes(w[k..k + 8].try_into().unwrap());
                assert_eq!((w[0], u32_at(1), u32_at(5) as usize), (1, 3, rings.len()));
                let mut at = 9;
                let mut bb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                for ring in &rings {
                    assert_eq!(u32_at(at) as usize, ring.len());
                    at += 4;
                    for &(x, y) in ring {
                        assert_eq!((f64_at(at), f64_at(at + 8)), (x, y), "{code}");
                        at += 16;
                        bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x), bb[3].max(y)];
                    }
                }
                assert_eq!(at, w.len());
                for (k, c) in ["bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax"]
                    .iter()
                    .enumerate()
                {
                    assert_eq!(f64s(b, c).value(i), bb[k], "{code} {c}");
                    extent[k] = if k < 2 {
                        extent[k].min(bb[k])
                    } else {
                        extent[k].max(bb[k])
                    };
                }
                // GM's centroids are strings: kept as the label point.
                if let Some(lon) = f["properties"]["lon"].as_str() {
                    assert_eq!(f64s(b, "label_lon").value(i), lon.parse::<f64>().unwrap());
                    assert_eq!(
                        text_at(b, "parent_code", i).as_deref(),
                        f["properties"]["local_authority_area_code"].as_str()
                    );
                } else {
                    let (x, y) = (f64s(b, "label_lon").value(i), f64s(b, "label_lat").value(i));
                    assert!(
                        x > bb[0] && x < bb[2] && y > bb[1] && y < bb[3],
                        "{code}: label inside its box"
                    );
                }
            }
        }
        let geo: serde_json::Value = serde_json::from_str(&kv["geo"]).unwrap();
        assert_eq!(geo["version"], "1.1.0");
        assert_eq!(geo["primary_column"], "geometry");
        let g = &geo["columns"]["geometry"];
        assert_eq!(g["encoding"], "WKB");
        assert_eq!(g["geometry_types"], serde_json::json!(["Polygon"]));
        assert_eq!(g["bbox"], serde_json::json!(extent), "{file}");
        assert!(g.get("crs").is_none(), "no CRS: OGC:CRS84, as GeoJSON");
    }

    // A feature that is not an area (a Point) is quarantined by name and,
    // with the rejection limit raised, the run ends succeeded with
    // warnings (exit 4); the others are kept. (At the default limit of 1%
    // it fails.)
    let mixed = dir.path().join("mixed.geojson");
    std::fs::write(
        &mixed,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"WD23CD":"E05000001","WD23NM":"One"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
{"type":"Feature","properties":{"WD23CD":"E05000002","WD23NM":"Two"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
    )
    .unwrap();
    let cfg3 = dir.path().join("mixed.toml");
    std::fs::write(
        &cfg3,
        format!(
            "output_dir = \"out3\"\n[[sources]]\nname = \"w\"\nplugin = \"boundaries\"\nmax_rejected_pct = 60.0\n[sources.options]\npath = \"{}\"\n",
            mixed.display()
        ),
    )
    .unwrap();
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        std::fs::read_to_string(&cfg3)
            .unwrap()
            .replace("max_rejected_pct = 60.0\n", "")
            .replace("out3", "out-strict"),
    )
    .unwrap();
    let o = run(&strict);
    assert!(
        !o.status.success() && o.status.code() != Some(4),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("rejected 1 of 2 rows"), "{}", text(&o));
    let o = run(&cfg3);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out3"));
    let d = &m["sources"][0]["datasets"]["boundaries"];
    assert_eq!(
        (d["rows"].as_u64(), d["quarantined"].as_u64()),
        (Some(1), Some(1)),
        "{d}"
    );
    let q = m["sources"][0]["quarantine_file"].as_str().unwrap();
    let qtext = std::fs::read_to_string(dir.path().join("out3").join(q)).unwrap();
    assert!(
        qtext.contains("mixed.geojson,2,geometry,geometry: missing value"),
        "{qtext}"
    );
    // ONS property names give the vintage: WD23CD is 2023.
    let (_, _, _, b) = read_parquet(
        &dir.path()
            .join("out3/datasets/boundaries/source=w/part-0.parquet"),
    );
    assert_eq!(text_at(&b[0], "vintage", 0).as_deref(), Some("2023"));

    // Renamed properties say no year: the run fails and names the fix.
    let cfg2 = dir.path().join("undated.toml");
    std::fs::write(
        &cfg2,
        format!(
            "output_dir = \"out2\"\n[[sources]]\nname = \"w\"\nplugin = \"boundaries\"\n[sources.options]\npath = \"{}\"\n",
            shared("real/boundaries/trafford-wards-may2023-bgc.geojson").display()
        ),
    )
    .unwrap();
    let o = run(&cfg2);
    assert!(!o.status.success());
    assert!(text(&o).contains("set `vintage`"), "{}", text(&o));
}

/// Boundaries kept to one authority: by the features' own parent property,
/// or through an ONS lookup. Trafford's May 2023 wards share no code with
/// the 2022 lookup, so selecting them through it fails by name instead of
/// storing an empty map; a mistyped parent fails the same way.
#[test]
fn boundaries_are_kept_to_an_authority_by_property_or_lookup() {
    let gm = shared("real/boundaries/gm-wards-may2023-bsc.geojson");
    let trafford = shared("real/boundaries/trafford-wards-may2023-bgc.geojson");
    let lookup = shared("real/boundaries/gm-lsoa21-to-ward22-best-fit.csv");
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&gm).unwrap()).unwrap();
    let manchester: std::collections::BTreeSet<String> = raw["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["local_authority_area_code"] == "E08000003")
        .map(|f| f["properties"]["area_code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(manchester.len(), 32);
    let case = |path: &Path, extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("eqpipe.toml");
        std::fs::write(
            &cfg,
            format!(
                "output_dir = \"out\"\n[[sources]]\nname = \"wards\"\nplugin = \"boundaries\"\n[sources.options]\npath = \"{}\"\nvintage = \"2023\"\n{extra}\n",
                path.display()
            ),
        )
        .unwrap();
        let o = run(&cfg);
        let file = dir
            .path()
            .join("out/datasets/boundaries/source=wards/part-0.parquet");
        let codes: std::collections::BTreeSet<String> = if file.exists() {
            read_parquet(&file)
                .3
                .iter()
                .flat_map(|b| (0..b.num_rows()).map(|i| text_at(b, "area_code", i).unwrap()))
                .collect()
        } else {
            Default::default()
        };
        (o, codes)
    };
    let (o, codes) = case(&gm, "parent_areas = [\"E08000003\"]");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(codes, manchester);
    let (o, codes) = case(
        &gm,
        &format!(
            "parent_areas = [\"E08000003\"]\nlookup = [\"{}\"]",
            lookup.display()
        ),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(codes, manchester);
    let (o, codes) = case(&gm, "parent_areas = [\"E08000003\", \"E0800009\"]");
    assert!(!o.status.success());
    assert!(text(&o).contains("E0800009"), "{}", text(&o));
    assert!(codes.is_empty());
    let (o, codes) = case(
        &trafford,
        &format!(
            "parent_areas = [\"E08000009\"]\nlookup = [\"{}\"]",
            lookup.display()
        ),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("none of its 21 features is among the selected areas"),
        "{}",
        text(&o)
    );
    assert!(codes.is_empty());
}

/// A council's designer changes the report without reading Rust: `eqpipe
/// report-templates` writes the built-in templates out, the changed ones
/// named in `[report] templates` replace the built-in ones on every page
/// (the rest stay built in), `runs restore` rewrites the report with the
/// same design and evidence packs, and a broken or misnamed template is
/// refused by `validate` and before a run's first step, by file and line,
/// leaving the last report as it was.
#[test]
fn a_designers_templates_restyle_every_page_and_a_broken_one_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = eqpipe_engine::demo::generate(&dir.path().join("inputs")).unwrap();
    let server = eqpipe_engine::serve::StaticServer::start(&inputs.public_dir).unwrap();
    let tpl = dir.path().join("design");
    let o = common::run(&["report-templates", tpl.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut written: Vec<String> = std::fs::read_dir(&tpl)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "area.html",
            "base.html",
            "index.html",
            "macros.html",
            "objectives.html",
            "pack.html",
            "report.css",
            "topic.html"
        ]
    );
    // Not overwritten by accident.
    let o = common::run(&["report-templates", tpl.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("exists (use --force"),
        "{}",
        text(&o)
    );

    // The designer keeps two files and changes them; the rest stay built in.
    for f in [
        "index.html",
        "macros.html",
        "objectives.html",
        "pack.html",
        "report.css",
        "topic.html",
    ] {
        std::fs::remove_file(tpl.join(f)).unwrap();
    }
    let base = std::fs::read_to_string(tpl.join("base.html")).unwrap();
    let banner = "<p class=\"council\">Northbridge City Council: Intelligence Team</p>";
    assert!(base.contains("<body>\n"));
    std::fs::write(
        tpl.join("base.html"),
        base.replace("<body>\n", &format!("<body>\n{banner}\n")),
    )
    .unwrap();
    let area = std::fs::read_to_string(tpl.join("area.html")).unwrap();
    assert!(area.contains("Compared with: "));
    std::fs::write(
        tpl.join("area.html"),
        area.replace("Compared with: ", "Set beside: "),
    )
    .unwrap();

    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"output_dir = "out"
[fetch]
min_interval_ms = 0
[report]
templates = "design"
[versions]
keep = 3
[[sources]]
name = "census"
plugin = "ons-census"
[sources.options]
base_url = "{}"
tables = ["TS021", "TS038"]
geography = ["ltla", "ward"]
[[indicators]]
plugin = "community-profile"
[indicators.options]
comparators = ["E08999001"]
[[evidence_packs]]
name = "library-hours"
title = "Reducing library opening hours"
areas = ["E08999001"]
"#,
            server.base_url()
        ),
    )
    .unwrap();
    let o = common::run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let first = last_manifest(&out)["run_id"].as_str().unwrap().to_string();
    let report = out.join("report");
    let pages = |want_pack: bool| {
        let mut pages: Vec<(String, String)> = std::fs::read_dir(&report)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".html"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().to_string(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        pages.sort();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        // 24 wards and the city, the pack, the index.
        assert_eq!(
            names.iter().filter(|n| n.starts_with("area-")).count(),
            25,
            "{names:?}"
        );
        assert_eq!(
            names.contains(&"evidence-library-hours.html"),
            want_pack,
            "{names:?}"
        );
        assert!(names.contains(&"index.html"));
        pages
    };
    let check = |pages: &[(String, String)]| {
        for (name, html) in pages {
            assert!(html.contains(banner), "{name} lacks the council's banner");
            // The built-in frame and style sheet are still there.
            assert!(
                html.contains("<html lang=\"en-GB\">") && html.contains("@media print{"),
                "{name}"
            );
            if name.starts_with("area-") {
                assert!(
                    html.contains("Set beside: ") && !html.contains("Compared with: "),
                    "{name}"
                );
                // The contents list reaches every table's heading.
                for id in ["TS021", "TS038"] {
                    assert!(html.contains(&format!("<a href=\"#h-{id}\">")), "{name}");
                    assert!(html.contains(&format!("<h2 id=\"h-{id}\">")), "{name}");
                }
            }
        }
    };
    check(&pages(true));

    // A second run, then back to the first: the same design and the pack.
    let o = common::run(&["run", "--force", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_dir_all(&report).unwrap();
    let o = common::run(&["runs", "restore", "--out", out.to_str().unwrap(), &first]);
    assert!(o.status.success(), "{}", text(&o));
    let restored = pages(true);
    check(&restored);
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        index.contains(&format!("<code>{first}</code>")),
        "the restored run's report"
    );

    // A broken template: validate names it and its line; the run stops
    // before its first step and the report stays as it was.
    std::fs::write(
        tpl.join("area.html"),
        "{% extends \"base.html\" %}\n{% block content %}\n{% for t in tables %}\n{% endblock %}\n",
    )
    .unwrap();
    let o = common::run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("[report] templates: report template area.html (from ")
            && text(&o).contains("area.html:"),
        "{}",
        text(&o)
    );
    let runs_before = std::fs::read_dir(out.join("runs")).unwrap().count();
    let o = common::run(&["run", "--force", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("report template area.html"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(out.join("runs")).unwrap().count(),
        runs_before,
        "no step ran"
    );
    assert_eq!(
        std::fs::read_to_string(report.join("index.html")).unwrap(),
        index
    );

    // A template that compiles but names a field no page has: the data is
    // committed, the run says the report was not written (exit 4), and
    // the manifest records why, by template and line.
    std::fs::write(
        tpl.join("area.html"),
        area.replace("{{ t.topic }} ({{ t.code }})</h2>", "{{ t.topik }}</h2>"),
    )
    .unwrap();
    let o = common::run(&["run", "--force", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o)
            .contains("not published: cannot write the report: report template area.html (from "),
        "{}",
        text(&o)
    );
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "success_with_warnings");
    let why = m["publication_errors"][0].as_str().unwrap();
    assert!(
        why.contains("area.html:") && why.contains("undefined"),
        "{why}"
    );

    // A file that replaces nothing would be ignored: refused by name.
    std::fs::write(tpl.join("area.html"), area).unwrap();
    std::fs::write(tpl.join("idnex.html"), "{% extends \"base.html\" %}").unwrap();
    let o = common::run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("idnex.html: not one of the report's templates"),
        "{}",
        text(&o)
    );

    // The design folder gone: a restore still puts the data back, and says
    // the report could not be rewritten (exit 4).
    std::fs::rename(&tpl, dir.path().join("design-moved")).unwrap();
    let o = common::run(&["runs", "restore", "--out", out.to_str().unwrap(), &first]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("file(s) of run") && text(&o).contains("not rewritten: the report:"),
        "{}",
        text(&o)
    );
}

/// A page the report no longer has is removed, so nobody who kept its
/// address reads old figures: after the Census keeps fewer wards, only the
/// areas still profiled have pages.
#[test]
fn pages_of_areas_no_longer_profiled_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = eqpipe_engine::demo::generate(&dir.path().join("inputs")).unwrap();
    let server = eqpipe_engine::serve::StaticServer::start(&inputs.public_dir).unwrap();
    let cfg = dir.path().join("pipeline.toml");
    let write = |areas: &str| {
        std::fs::write(
            &cfg,
            format!(
                "output_dir = \"out\"\n[fetch]\nmin_interval_ms = 0\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS021\"]\ngeography = [\"ltla\", \"ward\"]\n{areas}\n[[indicators]]\nplugin = \"community-profile\"\n[indicators.options]\ncomparators = [\"E08999001\"]\n",
                server.base_url()
            ),
        )
        .unwrap()
    };
    let pages = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path().join("out/report"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("area-"))
            .collect();
        v.sort();
        v
    };
    write("");
    let o = run(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let all = pages();
    assert_eq!(all.len(), 25, "{all:?}");
    let kept = ["E08999001", "E05999001", "E05999002", "E05999003"];
    write(&format!("areas = {kept:?}"));
    let o = common::run(&["run", "--force", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let want: Vec<String> = {
        let mut v: Vec<String> = kept.iter().map(|c| format!("area-{c}.html")).collect();
        v.sort();
        v
    };
    assert_eq!(pages(), want);
    let index = std::fs::read_to_string(dir.path().join("out/report/index.html")).unwrap();
    assert_eq!(index.matches("href=\"area-").count(), 4);
}
