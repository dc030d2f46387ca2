//! Equality objectives end to end through the real binary. An HR system
//! that only ever exports the current snapshot is run three times (2023,
//! 2024, 2025), as a council would run it each year; the objectives'
//! history must grow run by run and the statuses must be the hand-worked
//! ones:
//!
//! - median gender pay gap 20% → 15% → 10% (men £20.00, women £16, £17,
//!   £18 an hour), target 2% by 31 March 2027, tolerance ±1: −10 points is
//!   beyond the tolerance, the line (−5 a year) reaches about 0% by 2027:
//!   **on track**;
//! - share of women paid a bonus 30% → 25% → 20% (of 300), target 40%:
//!   −10 points with a 95% interval of about −16.6 to −3.3 (Newcombe):
//!   clearly worse, **off track**;
//! - share of men paid a bonus 20% → 21% → 22% (of 300), target 25% by
//!   2030: +2 points is within the uncertainty (about −4.6 to +8.5), the
//!   line (+1 a year) reaches about 27% by 2030: **at risk**;
//! - disability pay gap: 12 disabled employees, under the measure's 30:
//!   **not enough data**;
//! - ethnicity pay gap for all ethnic minorities: everyone is White
//!   British, so the published gap is empty every year: **no data**.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use arrow_array::RecordBatch;
use common::*;
use eqpipe_plugin_sdk::{date_values, f64_values, text_values};

const KEY_ENV: &str = "EQPIPE_TEST_OBJECTIVES_KEY";

/// One snapshot's HR extract: 300 men on £20.00 an hour, 300 women on
/// £(16 + k) (tiny offsets keep every rate distinct), 12 of the women
/// disabled; `women_bonus` women and `men_bonus` men paid a bonus.
fn extract(year: i32, k: usize, women_bonus: usize, men_bonus: usize) -> String {
    let mut s = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,full_pay_relevant\n",
    );
    for i in 0..600 {
        let woman = i % 2 == 0;
        let n = i / 2;
        let hourly = if woman { 16.0 + k as f64 } else { 20.0 } + n as f64 * 1e-5;
        let bonus = if (woman && n < women_bonus) || (!woman && n < men_bonus) {
            500
        } else {
            0
        };
        let disabled = if woman && n < 12 { "Yes" } else { "No" };
        writeln!(
            s,
            "P{i:05},{year}-03-31,Services,G5,{},\"White: English, Welsh, Scottish, Northern Irish or British\",{disabled},40,37,{hourly:.5},{bonus},2015-04-01,,Y",
            if woman { "F" } else { "M" }
        )
        .unwrap();
    }
    s
}

const OBJECTIVES: &str = r#"
[[objectives]]
id = "fair-pay"
title = "Fair pay"
owner = "Director of HR"

[[objectives.measures]]
id = "gender-gap"
title = "Median gender pay gap"
indicator = "pay_gap"
value = "value"
where = { dimension = "sex", measure = "median_hourly_gap_pct", group = "F" }
tolerance = 1.0
counts = ["numerator_n", "denominator_n"]
target = 2.0
target_date = 2027-03-31
direction = "decrease"

[[objectives.measures]]
id = "women-bonus"
title = "Women paid a bonus"
indicator = "pay_gap"
value = "value"
where = { dimension = "sex", measure = "pct_receiving_bonus", group = "F" }
numerator = "numerator_n"
denominator = "denominator_n"
target = 40.0
target_date = 2027-03-31
direction = "increase"

[[objectives.measures]]
id = "men-bonus"
title = "Men paid a bonus"
indicator = "pay_gap"
value = "value"
where = { dimension = "sex", measure = "pct_receiving_bonus", group = "M" }
numerator = "numerator_n"
denominator = "denominator_n"
target = 25.0
target_date = 2030-03-31
direction = "increase"

[[objectives.measures]]
id = "disability-gap"
title = "Median disability pay gap"
indicator = "pay_gap"
value = "value"
where = { dimension = "disability", measure = "median_hourly_gap_pct", group = "disabled" }
tolerance = 1.0
counts = ["numerator_n", "denominator_n"]
target = 0.0
target_date = 2027-03-31
direction = "decrease"

[[objectives.measures]]
id = "ethnicity-gap"
title = "Median ethnicity pay gap"
indicator = "pay_gap"
value = "value"
where = { dimension = "ethnicity", measure = "median_hourly_gap_pct", group = "All ethnic minorities" }
tolerance = 1.0
counts = ["numerator_n", "denominator_n"]
target = 0.0
target_date = 2027-03-31
direction = "decrease"
"#;

fn write_config(dir: &Path, objectives_file: &str) -> std::path::PathBuf {
    let cfg = dir.join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\nobjective_files = [\"{objectives_file}\"]\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"hr.csv\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[[indicators]]\nplugin = \"pay-gap\"\n"
        ),
    )
    .unwrap();
    cfg
}

fn run_year(
    dir: &Path,
    cfg: &Path,
    year: i32,
    k: usize,
    wb: usize,
    mb: usize,
) -> std::process::Output {
    std::fs::write(dir.join("hr.csv"), extract(year, k, wb, mb)).unwrap();
    eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env(KEY_ENV, "an-objectives-test-key")
        .output()
        .unwrap()
}

fn texts(b: &RecordBatch, n: &str) -> Vec<String> {
    text_values(b.column_by_name(n).unwrap().as_ref()).unwrap()
}

fn nums(b: &RecordBatch, n: &str) -> Vec<Option<f64>> {
    f64_values(b.column_by_name(n).unwrap().as_ref()).unwrap()
}

/// (measure, period days) -> value, from the history file.
fn history(out: &Path) -> BTreeMap<(String, i32), Option<f64>> {
    let (_, _, _, batches) = read_parquet(&out.join("indicators/objective_history/part-0.parquet"));
    let mut h = BTreeMap::new();
    for b in &batches {
        let (m, v) = (texts(b, "measure_id"), nums(b, "value"));
        let p = date_values(b.column_by_name("period").unwrap().as_ref()).unwrap();
        for i in 0..b.num_rows() {
            assert!(
                h.insert((m[i].clone(), p[i].unwrap()), v[i]).is_none(),
                "one row per measure and period"
            );
        }
    }
    h
}

/// measure -> (status, reason, row)
fn progress(out: &Path) -> BTreeMap<String, (String, String, RecordBatch, usize)> {
    let (_, _, _, batches) =
        read_parquet(&out.join("indicators/objective_progress/part-0.parquet"));
    let mut p = BTreeMap::new();
    for b in &batches {
        let (m, s, r) = (
            texts(b, "measure_id"),
            texts(b, "status"),
            texts(b, "reason"),
        );
        for i in 0..b.num_rows() {
            p.insert(m[i].clone(), (s[i].clone(), r[i].clone(), b.clone(), i));
        }
    }
    p
}

#[test]
fn history_grows_run_by_run_and_statuses_follow_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objectives.toml"), OBJECTIVES).unwrap();
    let cfg = write_config(dir.path(), "objectives.toml");
    let out = dir.path().join("out");

    let o = run_year(dir.path(), &cfg, 2023, 0, 90, 60);
    assert!(o.status.success(), "{}", text(&o));
    let p = progress(&out);
    // One period: nothing can be judged yet, except what has no figure.
    assert_eq!(
        p["gender-gap"].0, "not enough data",
        "{}",
        p["gender-gap"].1
    );
    assert!(p["gender-gap"].1.contains("at least two"));
    // Five measures, one period each (the ethnicity gap is recorded with
    // no figure: pay-gap publishes the row with an empty group's gap null).
    assert_eq!(history(&out).len(), 5, "{:?}", history(&out));

    let o = run_year(dir.path(), &cfg, 2024, 1, 75, 63);
    assert!(o.status.success(), "{}", text(&o));
    // The same snapshot again (a rerun): replaced, not duplicated.
    let o = run_year(dir.path(), &cfg, 2024, 1, 75, 63);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(history(&out).len(), 10);
    let o = run_year(dir.path(), &cfg, 2025, 2, 60, 66);
    assert!(o.status.success(), "{}", text(&o));

    // The history holds all three years although each extract held one.
    let h = history(&out);
    let gaps: Vec<Option<f64>> = h
        .iter()
        .filter(|((m, _), _)| m == "gender-gap")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(gaps, vec![Some(20.0), Some(15.0), Some(10.0)]);
    let women: Vec<Option<f64>> = h
        .iter()
        .filter(|((m, _), _)| m == "women-bonus")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(women, vec![Some(30.0), Some(25.0), Some(20.0)]);
    assert!(
        h.iter()
            .filter(|((m, _), _)| m == "ethnicity-gap")
            .all(|(_, v)| v.is_none())
    );

    let p = progress(&out);
    let status = |m: &str| (p[m].0.as_str(), p[m].1.as_str());
    assert_eq!(
        status("gender-gap").0,
        "on track",
        "{}",
        status("gender-gap").1
    );
    assert_eq!(
        status("women-bonus").0,
        "off track",
        "{}",
        status("women-bonus").1
    );
    assert!(status("women-bonus").1.contains("beyond the margin"));
    assert_eq!(
        status("men-bonus").0,
        "at risk",
        "{}",
        status("men-bonus").1
    );
    assert!(status("men-bonus").1.contains("within the margin"));
    assert_eq!(status("disability-gap").0, "not enough data");
    assert!(
        status("disability-gap").1.contains("12 people"),
        "{}",
        status("disability-gap").1
    );
    assert_eq!(status("ethnicity-gap").0, "no data");
    assert!(
        status("ethnicity-gap")
            .1
            .contains("no figure for the latest period")
    );

    // The figures behind the statuses.
    let (_, _, b, i) = &p["women-bonus"];
    let (change, lo, hi) = (
        nums(b, "change_since_baseline")[*i].unwrap(),
        nums(b, "change_lower")[*i].unwrap(),
        nums(b, "change_upper")[*i].unwrap(),
    );
    assert_eq!(change, -10.0);
    assert!(
        (-16.8..=-16.4).contains(&lo) && (-3.5..=-3.1).contains(&hi),
        "{lo} {hi}"
    );
    let (_, _, b, i) = &p["gender-gap"];
    let projected = nums(b, "projected_value")[*i].unwrap();
    assert!(projected.abs() < 0.2, "{projected}");
    assert_eq!(
        nums(b, "periods" /* int */).get(*i).copied().flatten(),
        Some(3.0)
    );

    // The report's objectives page states each status and its chart's
    // figures in text.
    let page = std::fs::read_to_string(out.join("report/objectives.html")).unwrap();
    for s in [
        "on track",
        "off track",
        "at risk",
        "not enough data",
        "no data",
    ] {
        assert!(page.contains(&format!("Status: {s}.")), "{s}");
    }
    assert!(page.contains("role=\"img\""));
    assert!(page.contains("31 March 2023 20.0%; 31 March 2024 15.0%; 31 March 2025 10.0%"));
    let index = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(index.contains("objectives.html"));
    // The step is in the run manifest and the catalogue.
    let m = last_manifest(&out);
    let step = m["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "objectives")
        .expect("objectives step");
    assert_eq!(step["status"], "succeeded");
    assert_eq!(step["datasets"]["objective_progress"]["rows"], 5);
    let catalog = std::fs::read_to_string(out.join("catalog.json")).unwrap();
    assert!(catalog.contains("objective_progress") && catalog.contains("objective_history"));
}

#[test]
fn a_broken_measure_fails_its_step_and_keeps_the_last_good_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objectives.toml"), OBJECTIVES).unwrap();
    let cfg = write_config(dir.path(), "objectives.toml");
    let out = dir.path().join("out");
    let o = run_year(dir.path(), &cfg, 2023, 0, 90, 60);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(out.join("indicators/objective_history/part-0.parquet")).unwrap();

    // A measure naming a column pay_gap does not have.
    std::fs::write(
        dir.path().join("objectives.toml"),
        OBJECTIVES.replacen("value = \"value\"", "value = \"gap_value\"", 1),
    )
    .unwrap();
    let v = eqpipe()
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!v.status.success(), "{}", text(&v));
    assert!(
        text(&v).contains("objective `fair-pay`, measure `gender-gap`: `pay_gap` (pay_gap) has no column `gap_value`"),
        "{}",
        text(&v)
    );
    let o = run_year(dir.path(), &cfg, 2024, 1, 75, 63);
    assert!(!o.status.success(), "a failed step makes a partial run");
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "partial");
    let step = m["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "objectives")
        .unwrap();
    assert_eq!(step["status"], "failed");
    assert!(step["error"].as_str().unwrap().contains("gap_value"));
    let after = std::fs::read(out.join("indicators/objective_history/part-0.parquet")).unwrap();
    assert_eq!(before, after, "the last good history is untouched");

    // A config error is named with its file.
    std::fs::write(
        dir.path().join("objectives.toml"),
        OBJECTIVES.replacen("tolerance = 1.0\n", "", 1),
    )
    .unwrap();
    let v = eqpipe()
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!v.status.success());
    assert!(
        text(&v).contains("measure `gender-gap`: set numerator and denominator"),
        "{}",
        text(&v)
    );
}

#[test]
fn the_example_objective_sets_run_on_the_demo() {
    // `eqpipe demo` runs every file in config/objectives/ against its
    // three yearly snapshots; each measure must get a status, none fail.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = eqpipe()
        .args(["demo", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let files: Vec<_> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/objectives"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
    let mut expected = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        expected += text.matches("[[objectives.measures]]").count();
    }
    assert!(files.len() >= 3);
    let p = progress(&out);
    assert_eq!(p.len(), expected, "every example measure assessed");
    let statuses: std::collections::BTreeSet<&str> = p.values().map(|v| v.0.as_str()).collect();
    // The demo's data gives a spread of statuses, and the small senior
    // groups give "not enough data" rather than a status.
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert_eq!(p["senior-ethnic-minority"].0, "not enough data");
    // Three snapshots recorded for each workforce measure.
    let h = history(&out);
    assert_eq!(
        h.keys().filter(|(m, _)| m == "senior-women").count(),
        3,
        "{h:?}"
    );
}

#[test]
fn a_backfill_covers_past_periods_through_the_snapshot_date() {
    // The HR system's yearly extracts arrive late; each is loaded with
    // `--snapshot-date`, which the config's path names.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hr")).unwrap();
    for (year, k, wb, mb) in [(2023, 0, 90, 60), (2024, 1, 75, 63), (2025, 2, 60, 66)] {
        std::fs::write(
            dir.path().join(format!("hr/workforce-{year}-03-31.csv")),
            extract(year, k, wb, mb),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("objectives.toml"), OBJECTIVES).unwrap();
    let cfg = write_config(dir.path(), "objectives.toml");
    let body = std::fs::read_to_string(&cfg).unwrap().replace(
        "path = \"hr.csv\"",
        "path = \"hr/workforce-{snapshot_date}.csv\"",
    );
    std::fs::write(&cfg, body).unwrap();
    let out = dir.path().join("out");
    let run = |date: &str| {
        eqpipe()
            .args([
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "--snapshot-date",
                date,
            ])
            .env(KEY_ENV, "an-objectives-test-key")
            .output()
            .unwrap()
    };
    for date in ["2023-03-31", "2024-03-31", "2025-03-31"] {
        let o = run(date);
        assert!(o.status.success(), "{}", text(&o));
        let m = last_manifest(&out);
        assert_eq!(m["snapshot_date"], date);
        let (_, _, kv, _) = read_parquet(&out.join("indicators/pay_gap/part-0.parquet"));
        assert_eq!(kv["eqpipe.snapshot_date"], date);
    }
    let gaps: Vec<Option<f64>> = history(&out)
        .iter()
        .filter(|((m, _), _)| m == "gender-gap")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(gaps, vec![Some(20.0), Some(15.0), Some(10.0)]);
    assert_eq!(progress(&out)["gender-gap"].0, "on track");
    let o = run("2026-02-30");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is not a date: use YYYY-MM-DD"),
        "{}",
        text(&o)
    );
    // A period with no extract fails its source by file name, and the
    // history keeps what it had.
    let o = run("2026-03-31");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("workforce-2026-03-31.csv"),
        "{}",
        text(&o)
    );
    assert_eq!(history(&out).len(), 15);
}
