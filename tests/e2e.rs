//! End-to-end: the real `eqpipe` binary, real configs, a local HTTP server.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use common::*;

/// (area, table) -> category label -> (count, parent label).
type Counts = HashMap<(String, String), HashMap<String, (i64, Option<String>)>>;

fn dict_text(col: &dyn Array, i: usize) -> String {
    let d = col.as_any_dictionary();
    let k = d.normalized_keys()[i];
    d.values().as_string::<i32>().value(k).to_string()
}

fn is_dict(t: &DataType) -> bool {
    matches!(t, DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8)
}

#[test]
fn demo_writes_typed_parquet_an_indicator_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // Every path the demo writes, against the golden list taken before the
    // host was split into crates (`tests/golden/demo-layout.txt`).
    assert_golden("demo-layout.txt", &layout(&out));

    // census_counts: the contract's types, provenance, and rows.
    let (schema, rows, kv, batches) =
        read_parquet(&out.join("datasets/census_counts/source=census/part-0.parquet"));
    assert!(rows > 2000, "rows: {rows}");
    for c in [
        "area_code",
        "area_name",
        "geography_level",
        "table_code",
        "topic",
        "category_label",
        "parent_label",
        "unit",
    ] {
        assert!(
            is_dict(schema.field_with_name(c).unwrap().data_type()),
            "{c} is dictionary-encoded"
        );
    }
    assert_eq!(
        schema.field_with_name("count").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("census_year").unwrap().data_type(),
        &DataType::Int16
    );
    assert_eq!(
        schema
            .field_with_name("category_level")
            .unwrap()
            .data_type(),
        &DataType::UInt8
    );
    assert!(
        schema.field_with_name("_source_row").is_err(),
        "reserved columns are not stored"
    );
    assert_eq!(kv["eqpipe.plugin"], "ons-census");
    assert_eq!(kv["eqpipe.dataset"], "census_counts");
    assert!(kv["eqpipe.licence"].contains("Open Government Licence"));
    assert!(kv["eqpipe.source_urls"].contains("census2021-ts021.zip"));
    assert!(kv.contains_key("eqpipe.run_id") && kv.contains_key("eqpipe.fetched_at"));

    // Within every area and table, categories add up to their parent.
    let mut by_key: Counts = HashMap::new();
    for b in &batches {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (code, table, label, parent, count) = (
            col("area_code"),
            col("table_code"),
            col("category_label"),
            col("parent_label"),
            col("count"),
        );
        let count = count.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let p = if parent.is_null(i) {
                None
            } else {
                Some(dict_text(&parent, i))
            };
            by_key
                .entry((dict_text(&code, i), dict_text(&table, i)))
                .or_default()
                .insert(dict_text(&label, i), (count.value(i), p));
        }
    }
    assert_eq!(by_key.len(), 28 * 9, "28 areas x 9 tables");
    for ((area, table), cats) in &by_key {
        let mut sums: HashMap<&str, i64> = HashMap::new();
        for (n, p) in cats.values() {
            if let Some(p) = p {
                *sums.entry(p.as_str()).or_default() += n;
            }
        }
        for (parent, sum) in sums {
            assert_eq!(
                cats[parent].0, sum,
                "{area} {table}: children of `{parent}`"
            );
        }
    }

    // The indicator: percent = count / own table total, and the difference.
    let (schema, rows, kv, batches) =
        read_parquet(&out.join("indicators/community_profile/part-0.parquet"));
    assert!(rows > 1000);
    assert_eq!(kv["eqpipe.plugin"], "community-profile");
    assert_eq!(
        schema.field_with_name("percent").unwrap().data_type(),
        &DataType::Float64
    );
    let mut checked = 0;
    for b in &batches {
        checked += check_profile_rows(b, &by_key);
    }
    assert_eq!(checked, rows);

    // Deprivation: one row per LSOA and domain, typed, deciles 1-10.
    let (schema, rows, kv, batches) =
        read_parquet(&out.join("datasets/deprivation/source=imd/part-0.parquet"));
    assert_eq!(
        schema.field_with_name("rank").unwrap().data_type(),
        &DataType::Int32
    );
    assert_eq!(
        schema.field_with_name("decile").unwrap().data_type(),
        &DataType::UInt8
    );
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(kv["eqpipe.plugin"], "deprivation");
    let domains: std::collections::BTreeSet<String> = batches
        .iter()
        .flat_map(|b| {
            let d = b.column_by_name("domain").unwrap().clone();
            (0..b.num_rows()).map(move |i| dict_text(&d, i))
        })
        .collect();
    assert_eq!(domains.len(), 3, "{domains:?}");
    assert!(domains.contains("Index of Multiple Deprivation (IMD)"));
    assert_eq!(rows % 3, 0);
    let (_, lookup_rows, _, _) =
        read_parquet(&out.join("datasets/geography_lookup/source=lookups/part-0.parquet"));
    // LSOA -> ward and LSOA -> LA per LSOA, plus ward -> LA per ward.
    assert_eq!(lookup_rows, 2 * (rows / 3) + 24);

    // The workforce extract: personal, so only under restricted/, and no
    // raw identifier (the demo's are NB1xxxxx) anywhere under the output.
    let (_, staff, _, _) =
        read_parquet(&out.join("restricted/datasets/workforce/source=workforce/part-0.parquet"));
    assert!(staff > 6000, "three yearly snapshots: {staff}");
    for f in files_under(&out) {
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains("NB1000"),
            "{}",
            f.display()
        );
    }

    // The catalogue describes every column of every output, with rows.
    let cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("catalog.json")).unwrap()).unwrap();
    let entries = cat["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for n in [
        "census_counts",
        "deprivation",
        "geography_lookup",
        "workforce",
        "community_profile",
        "workforce_representation",
        "pay_gap",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    for e in entries {
        // The demo has no rates tables: census_rates is there, empty.
        assert!(
            e["rows"].as_u64().unwrap() > 0 || e["name"] == "census_rates",
            "{e}"
        );
        assert!(!e["licences"].as_array().unwrap().is_empty(), "{e}");
        for c in e["columns"].as_array().unwrap() {
            assert!(
                !c["description"].as_str().unwrap().is_empty(),
                "{} {c}",
                e["name"]
            );
        }
    }
    let w = entries.iter().find(|e| e["name"] == "workforce").unwrap();
    assert_eq!(w["restricted"], true);
    assert_eq!(w["rows"].as_u64().unwrap() as usize, staff);
    let md = std::fs::read_to_string(out.join("catalog.md")).unwrap();
    assert!(
        md.contains("## census_counts") && md.contains("| `count` | int64 |"),
        "{md}"
    );

    // A declared dataset the run left empty is still a whole file with its
    // provenance (the demo's tables are all counts: no rates).
    let (_, rates_rows, rates_kv, _) =
        read_parquet(&out.join("datasets/census_rates/source=census/part-0.parquet"));
    assert_eq!(rates_rows, 0);
    for k in [
        "eqpipe.dataset",
        "eqpipe.run_id",
        "eqpipe.step",
        "eqpipe.source_urls",
    ] {
        assert!(rates_kv.contains_key(k), "{k} missing: {rates_kv:?}");
    }
    // The manifest, written last, names every file of the run.
    let m = last_manifest(&out);
    // The demo's case-system extract holds postcodes its lookup does not
    // know, on purpose: the loss is reported, not silent.
    assert_eq!(m["outcome"], "success_with_warnings");
    let services = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "services")
        .unwrap();
    assert_eq!(services["status"], "succeeded_with_warnings");
    let w = &services["warnings"][0];
    assert_eq!(w["kind"], "coverage", "{w}");
    assert!(
        w["count"].as_u64().unwrap() > 0
            && w["of"].as_u64().unwrap() > w["count"].as_u64().unwrap(),
        "{w}"
    );
    assert_eq!(
        m["sources"][0]["datasets"]["census_counts"]["quarantined"],
        0
    );
    assert_eq!(m["indicators"][0]["name"], "community_profile");
    for f in [
        &m["sources"][0]["datasets"]["census_counts"]["file"],
        &m["indicators"][0]["datasets"]["community_profile"]["file"],
    ] {
        assert!(out.join(f.as_str().unwrap()).exists());
    }
    // Deprivation profile: the city's LSOAs in IMD deciles 1 and 1-2, and
    // their residents, counted straight from the deprivation dataset.
    let (_, _, _, dep) = read_parquet(&out.join("datasets/deprivation/source=imd/part-0.parquet"));
    let (mut n, mut d10, mut d20, mut pop, mut pop20) = (0, 0, 0, 0i64, 0i64);
    for b in &dep {
        let domain = b.column_by_name("domain").unwrap();
        let decile = b
            .column_by_name("decile")
            .unwrap()
            .as_primitive::<UInt8Type>()
            .clone();
        let p = b
            .column_by_name("population")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if dict_text(domain, i) != "Index of Multiple Deprivation (IMD)" {
                continue;
            }
            n += 1;
            pop += p.value(i);
            d10 += i64::from(decile.value(i) == 1);
            if decile.value(i) <= 2 {
                d20 += 1;
                pop20 += p.value(i);
            }
        }
    }
    let (_, _, _, prof) = read_parquet(&out.join("indicators/deprivation_profile/part-0.parquet"));
    let mut found = false;
    for b in &prof {
        let code = b.column_by_name("area_code").unwrap();
        for i in 0..b.num_rows() {
            if dict_text(code, i) != "E08999001" {
                continue;
            }
            found = true;
            let int = |c: &str| {
                b.column_by_name(c)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .value(i)
            };
            assert_eq!(int("lsoas"), n);
            assert_eq!(int("lsoas_most_deprived_10pct"), d10);
            assert_eq!(int("lsoas_most_deprived_20pct"), d20);
            let share = b
                .column_by_name("pct_population_most_deprived_20pct")
                .unwrap()
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(i);
            assert!((share - pop20 as f64 * 100.0 / pop as f64).abs() < 1e-9);
            let summary = b
                .column_by_name("summary")
                .unwrap()
                .as_string::<i32>()
                .value(i)
                .to_string();
            assert!(
                summary.starts_with(&format!("{d20} out of {n} neighbourhoods")),
                "{summary}"
            );
        }
    }
    assert!(found && d20 > 0);

    // Workforce indicators are published protected: no count from 1 to 9
    // is visible, and their unsuppressed rows are under restricted/ only.
    for (name, count) in [
        ("workforce_representation", "count"),
        ("pay_gap", "numerator_n"),
    ] {
        let (_, rows, kv, batches) =
            read_parquet(&out.join(format!("indicators/{name}/part-0.parquet")));
        assert!(rows > 100, "{name}: {rows}");
        assert!(
            kv["eqpipe.disclosure"].contains("\"threshold\":10"),
            "{name}"
        );
        let mut suppressed = 0;
        for b in &batches {
            let n = arrow_cast::cast(b.column_by_name(count).unwrap(), &DataType::Float64).unwrap();
            let n = n.as_primitive::<arrow_array::types::Float64Type>();
            let s = b.column_by_name("suppressed").unwrap().as_boolean();
            for i in 0..b.num_rows() {
                if s.value(i) {
                    suppressed += 1;
                    assert!(n.is_null(i), "{name}: a suppressed count is visible");
                } else {
                    let v = n.value(i);
                    assert!(v == 0.0 || v >= 10.0, "{name}: count {v} published");
                }
            }
        }
        assert!(suppressed > 0, "{name}: the demo has small groups");
        let ind = m["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap();
        assert_eq!(ind["status"], "succeeded");
        let raw = ind["datasets"][name]["unsuppressed_file"].as_str().unwrap();
        assert!(raw.starts_with("restricted/indicators/"), "{raw}");
    }
    // No temporary files are left behind.
    assert!(
        files_under(&out)
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".tmp"))
    );
}

/// Checks each profile row against census_counts; returns rows checked.
fn check_profile_rows(b: &RecordBatch, counts: &Counts) -> usize {
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    let (area, table, label) = (col("area_code"), col("table_code"), col("category_label"));
    let (count, total, pct) = (col("count"), col("total"), col("percent"));
    let (cmp, cmp_pct, diff) = (
        col("comparator_code"),
        col("comparator_percent"),
        col("difference_pp"),
    );
    let level = col("category_level");
    let level = level.as_primitive::<UInt8Type>();
    let pct = pct.as_primitive::<arrow_array::types::Float64Type>();
    let cmp_pct = cmp_pct.as_primitive::<arrow_array::types::Float64Type>();
    let diff = diff.as_primitive::<arrow_array::types::Float64Type>();
    for i in 0..b.num_rows() {
        let key = (dict_text(&area, i), dict_text(&table, i));
        let cats = &counts[&key];
        let l = dict_text(&label, i);
        let own_total = cats.values().find(|(_, p)| p.is_none()).unwrap().0;
        assert!(level.value(i) >= 1);
        assert_eq!(count.as_primitive::<Int64Type>().value(i), cats[&l].0);
        assert_eq!(total.as_primitive::<Int64Type>().value(i), own_total);
        let expect = cats[&l].0 as f64 * 100.0 / own_total as f64;
        assert!((pct.value(i) - expect).abs() < 1e-9, "{key:?} {l}");
        if !cmp.is_null(i) {
            let ckey = (dict_text(&cmp, i), key.1.clone());
            let ccats = &counts[&ckey];
            let ctotal = ccats.values().find(|(_, p)| p.is_none()).unwrap().0;
            let cexpect = ccats[&l].0 as f64 * 100.0 / ctotal as f64;
            assert!((cmp_pct.value(i) - cexpect).abs() < 1e-9);
            assert!((diff.value(i) - (expect - cexpect)).abs() < 1e-9);
        }
    }
    b.num_rows()
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn eqpipe_run_against_a_local_server_then_reuses_unchanged_files() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = eqpipe_engine::demo::generate(&dir.path().join("inputs")).unwrap();
    let server = eqpipe_engine::serve::StaticServer::start(&inputs.public_dir).unwrap();
    let out = dir.path().join("out");
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
output_dir = "out"
[fetch]
min_interval_ms = 0
[[sources]]
name = "census"
plugin = "ons-census"
[sources.options]
base_url = "{}"
tables = ["TS021", "ts038"]
geography = ["ltla", "ward"]
[[indicators]]
plugin = "community-profile"
[indicators.options]
comparators = ["E08999001"]
"#,
            server.base_url()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, _) =
        read_parquet(&out.join("datasets/census_counts/source=census/part-0.parquet"));
    // (24 wards + 1 city) x (25 TS021 columns + 7 TS038 columns)
    assert_eq!(rows, 25 * (25 + 7));
    // The indicator's folder defaults to its output dataset's name.
    assert!(
        out.join("indicators/community_profile/part-0.parquet")
            .exists()
    );
    let downloads = server.downloads.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(downloads, 2);

    // Second run: the host revalidates the source's files (304 for both),
    // finds them unchanged and does not run the source or the indicator.
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        server.downloads.load(std::sync::atomic::Ordering::SeqCst),
        downloads
    );
    let m = last_manifest(&out);
    assert_eq!(m["sources"][0]["status"], "unchanged");
    assert_eq!(m["indicators"][0]["status"], "unchanged");

    // Forced: the plugin runs, and its fetches come from the cache (304).
    let o = run(&["run", "--force", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        server.downloads.load(std::sync::atomic::Ordering::SeqCst),
        downloads
    );
    let m = last_manifest(&out);
    let fetches = m["sources"][0]["fetches"].as_array().unwrap();
    assert_eq!(fetches.len(), 2);
    assert!(
        fetches.iter().all(|f| f["from_cache"] == true),
        "{fetches:?}"
    );
    let (_, rows2, _, _) =
        read_parquet(&out.join("datasets/census_counts/source=census/part-0.parquet"));
    assert_eq!(rows2, rows);
}

#[test]
fn a_failed_source_leaves_the_last_good_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = eqpipe_engine::demo::generate(&dir.path().join("inputs")).unwrap();
    let out = dir.path().join("out");
    let good = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n",
            inputs.public_dir.display()
        ),
    );
    let o = run(&["run", "--config", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let file = out.join("datasets/census_counts/source=census/part-0.parquet");
    let before = std::fs::read(&file).unwrap();

    // Now the table's zip lacks the requested level: the source fails.
    let bad = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"oa\"\n",
            inputs.public_dir.display()
        ),
    );
    let o = run(&["run", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("census2021-ts008-oa.csv"),
        "names the missing member: {err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "last good output untouched"
    );
    let m = last_manifest(&out);
    assert_eq!(m["outcome"], "failed");
    assert_eq!(m["sources"][0]["status"], "failed");
}

#[test]
fn config_errors_name_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\nisolaton = \"process\"\n",
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("isolaton") && err.contains("line 5") && err.contains("pipeline.toml"),
        "{err}"
    );

    // Options are checked against the plugin's schema by `validate`.
    let cfg = write_config(
        dir.path(),
        "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\ntables = \"TS021\"\ncolour = 1\n",
    );
    let o = run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("options.tables") && err.contains("colour"),
        "{err}"
    );

    let cfg = write_config(
        dir.path(),
        "[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\ntables = [\"TS021\"]\n[[indicators]]\nplugin = \"community-profile\"\n",
    );
    let o = run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn plugins_list_shows_the_builtins_with_their_datasets() {
    let o = run(&["plugins", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("ons-census") && s.contains("-> census_counts"),
        "{s}"
    );
    assert!(
        s.contains("community-profile")
            && s.contains("census_counts, [geography_lookup] -> community_profile"),
        "{s}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&[
        "--log-format",
        "json",
        "demo",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some());
    }
}

fn shared_data() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        p.exists(),
        "{} is missing: the shared data folder must sit beside the repository",
        p.display()
    );
    p
}

/// The real Nomis TS007 files (single year of age, the hardest hierarchy:
/// nothing in the labels says that `Aged under 1 year` sits under `Aged 4
/// years and under`) at every level we have: totals match the file's own
/// total column, and every category adds up to its parent.
#[test]
fn real_ts007_files_at_every_level_keep_their_totals_and_hierarchy() {
    let data = shared_data().join("census2021");
    // Served over HTTP by a local server, as the real files would be.
    let server = eqpipe_engine::serve::StaticServer::start(&data).unwrap();
    for level in ["ctry", "rgn", "utla", "ltla"] {
        let dir = tempfile::tempdir().unwrap();
        let file = data.join(format!("census2021-ts007-{level}.csv"));
        let cfg = write_config(
            dir.path(),
            &format!(
                "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}census2021-ts007-{level}.csv\"\ntables = [\"TS007\"]\ngeography = \"{level}\"\non_inconsistent_sums = \"fail\"\n",
                server.base_url()
            ),
        );
        let o = run(&["run", "--config", cfg.to_str().unwrap()]);
        assert!(o.status.success(), "{level}: {}", text(&o));

        // The file's own total column, by area.
        let mut r = csv::Reader::from_path(&file).unwrap();
        let totals: HashMap<String, i64> = r
            .records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[2].to_string(), rec[3].parse().unwrap())
            })
            .collect();
        let (_, rows, _, batches) = read_parquet(
            &dir.path()
                .join("out/datasets/census_counts/source=census/part-0.parquet"),
        );
        assert_eq!(
            rows,
            totals.len() * 113,
            "{level}: one row per area and category"
        );
        let mut seen = 0;
        let mut levels = std::collections::BTreeMap::new();
        for b in &batches {
            let code = b.column_by_name("area_code").unwrap();
            let lvl = b
                .column_by_name("category_level")
                .unwrap()
                .as_primitive::<UInt8Type>()
                .clone();
            let count = b
                .column_by_name("count")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let label = b.column_by_name("category_label").unwrap();
            for i in 0..b.num_rows() {
                *levels.entry(lvl.value(i)).or_insert(0usize) += 1;
                if lvl.value(i) == 0 {
                    assert_eq!(totals[&dict_text(code, i)], count.value(i));
                    assert_eq!(dict_text(label, i), "Total");
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, totals.len());
        // 1 total, 11 bands (4 and under … 85 and over), 101 single years
        // (under 1 … 99, and 100 and over, which sits under 85 and over).
        let per_area: Vec<usize> = levels.values().map(|n| n / totals.len()).collect();
        assert_eq!(per_area, vec![1, 11, 101], "{level}: {levels:?}");
        if level == "ltla" {
            assert_eq!(totals["E08000003"], 551_943, "Manchester, as published");
        }
    }
}

/// The real ONS lookups (with their byte-order marks): every LSOA 2021 gets
/// its local authority, every LSOA 2011 its best-fit successors, and the
/// change indicators come along.
#[test]
fn real_ons_lookups_become_child_parent_pairs() {
    let lookups = shared_data().join("lookups");
    let lsoa = lookups.join("lsoa11-to-lsoa21-to-lad22-best-fit.csv");
    let msoa = lookups.join("msoa11-to-msoa21-to-lad22.csv");
    let server = eqpipe_engine::serve::StaticServer::start(&lookups).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"lookups\"\nplugin = \"geography\"\nmax_rejected_pct = 0.0\n[sources.options]\nlookups = [\"{0}lsoa11-to-lsoa21-to-lad22-best-fit.csv\", \"{0}msoa11-to-msoa21-to-lad22.csv\"]\n",
            server.base_url()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    // Independent count from the files themselves.
    let distinct = |path: &Path, cols: &[&str]| -> usize {
        let mut r = csv::Reader::from_path(path).unwrap();
        let h: Vec<String> = r
            .headers()
            .unwrap()
            .iter()
            .map(|s| s.trim_start_matches('\u{feff}').to_string())
            .collect();
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| h.iter().position(|x| x == c).unwrap())
            .collect();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                idx.iter().map(|&i| rec[i].to_string()).collect::<Vec<_>>()
            })
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/datasets/geography_lookup/source=lookups/part-0.parquet"),
    );
    let mut counts: HashMap<(String, i16, String, i16, String, String), usize> = HashMap::new();
    let mut with_change = 0;
    for b in &batches {
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let (cl, cv, pl, pv, rel, file, chg) = (
            c("child_level"),
            c("child_vintage"),
            c("parent_level"),
            c("parent_vintage"),
            c("relation"),
            c("lookup_file"),
            c("change_indicator"),
        );
        let cv = cv.as_primitive::<arrow_array::types::Int16Type>();
        let pv = pv.as_primitive::<arrow_array::types::Int16Type>();
        for i in 0..b.num_rows() {
            let key = (
                dict_text(&cl, i),
                cv.value(i),
                dict_text(&pl, i),
                pv.value(i),
                dict_text(&rel, i),
                dict_text(&file, i),
            );
            *counts.entry(key).or_default() += 1;
            if !chg.is_null(i) {
                with_change += 1;
            }
        }
    }
    let get = |cl: &str, cv: i16, pl: &str, pv: i16, rel: &str, f: &str| {
        counts[&(cl.into(), cv, pl.into(), pv, rel.into(), f.into())]
    };
    let lf = "lsoa11-to-lsoa21-to-lad22-best-fit.csv";
    let mf = "msoa11-to-msoa21-to-lad22.csv";
    assert_eq!(
        get("lsoa", 2021, "ltla", 2022, "within", lf),
        distinct(&lsoa, &["LSOA21CD"])
    );
    assert_eq!(
        get("lsoa", 2011, "ltla", 2022, "within", lf),
        distinct(&lsoa, &["LSOA11CD", "LAD22CD"])
    );
    assert_eq!(
        get("lsoa", 2011, "lsoa", 2021, "best_fit", lf),
        distinct(&lsoa, &["LSOA11CD", "LSOA21CD"])
    );
    assert_eq!(
        get("msoa", 2011, "msoa", 2021, "best_fit", mf),
        distinct(&msoa, &["MSOA11CD", "MSOA21CD"])
    );
    assert_eq!(
        with_change,
        get("msoa", 2011, "msoa", 2021, "best_fit", mf),
        "CHGIND kept on best-fit rows"
    );
    assert_eq!(rows, counts.values().sum::<usize>());
    // Every local authority of England and Wales (331 in 2022) appears.
    let las: std::collections::HashSet<String> = batches
        .iter()
        .flat_map(|b| {
            let (p, l) = (
                b.column_by_name("parent_code").unwrap().clone(),
                b.column_by_name("parent_level").unwrap().clone(),
            );
            (0..b.num_rows())
                .filter(move |&i| dict_text(&l, i) == "ltla")
                .map(move |i| dict_text(&p, i))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(las.len(), 331);
}

/// Census areas filtered by parent through a real lookup: only Manchester's
/// row is kept from the national local-authority file.
#[test]
fn census_areas_can_be_chosen_by_parent_through_a_lookup() {
    let data = shared_data();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS007\"]\ngeography = \"ltla\"\nparent_areas = [\"E08000003\"]\nlookup = \"{}\"\n",
            data.join("census2021/census2021-ts007-ltla.csv").display(),
            data.join("lookups/lsoa11-to-lsoa21-to-lad22-best-fit.csv")
                .display()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/datasets/census_counts/source=census/part-0.parquet"),
    );
    assert_eq!(rows, 113);
    assert_eq!(
        dict_text(batches[0].column_by_name("area_name").unwrap(), 0),
        "Manchester"
    );

    let cfg = write_config(
        dir.path(),
        "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\ntables = [\"TS007\"]\nparent_areas = [\"E08000003\"]\n",
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("`parent_areas` needs `lookup`"),
        "{}",
        text(&o)
    );
}

/// Broken Census files fail their source with an error naming the file
/// (and the row and column where there is one); nothing is stored.
#[test]
fn broken_census_files_are_reported_by_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let header = "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n";
    let cases = [
        ("duplicate.csv", format!("{header}\"2021\",\"A\",\"E08000001\",10,6,4\n\"2021\",\"A\",\"E08000001\",10,6,4\n"), "row 3: area E08000001 appears twice (first at row 2)"),
        ("not-a-number.csv", format!("{header}\"2021\",\"A\",\"E08000001\",10,six,4\n"), "row 2, column `Sex: Female; measures: Value`: `six` is not a whole number"),
        (
            "no-total.csv",
            "\"date\",\"geography\",\"geography code\",\"Sex: Female\",\"Sex: Male\"\n\"2021\",\"A\",\"E08000001\",6,4\n".to_string(),
            "the total column is missing",
        ),
        ("ragged.csv", format!("{header}\"2021\",\"A\",\"E08000001\",10,6\n"), "row 2: 5 fields, but the header has 6"),
        ("sums.csv", format!("{header}\"2021\",\"A\",\"E08000001\",11,6,4\n"), "categories under `All persons` sum to 10, not 11"),
    ];
    for (name, body, expected) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let cfg = write_config(
            dir.path(),
            &format!(
                "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"ltla\"\non_inconsistent_sums = \"fail\"\n",
                file.display()
            ),
        );
        let o = run(&["run", "--config", cfg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(name) && err.contains(expected),
            "{name}: expected `{expected}` in: {err}"
        );
        assert!(
            !dir.path()
                .join("out/datasets/census_counts/source=census/part-0.parquet")
                .exists(),
            "{name}"
        );
    }
    // An unknown geography level is a configuration error.
    let cfg = write_config(
        dir.path(),
        "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\ntables = [\"TS008\"]\ngeography = \"parish\"\n",
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown geography level `parish`"),
        "{}",
        text(&o)
    );
}

/// Rates tables (age-standardised proportions, density) go to
/// `census_rates` as floats; cross-tabulated tables become one tree.
#[test]
fn rates_tables_become_census_rates_and_cross_tabs_one_tree() {
    let dir = tempfile::tempdir().unwrap();
    let asp = dir.path().join("census2021-ts038asp-ltla.csv");
    std::fs::write(
        &asp,
        "\"date\",\"geography\",\"geography code\",\"Disability: Disabled under the Equality Act: Day-to-day activities limited a lot\",\"Disability: Disabled under the Equality Act: Day-to-day activities limited a little\",\"Disability: Not disabled under the Equality Act\"\n\
         \"2021\",\"Manchester\",\"E08000003\",8.1,10.2,81.7\n\"2021\",\"Salford\",\"E08000006\",8.9,10.5,80.6\n",
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\nmax_rejected_pct = 0\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS038ASP\"]\ngeography = \"ltla\"\n",
            asp.display()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out/datasets");
    let (schema, rows, _, batches) =
        read_parquet(&out.join("census_rates/source=census/part-0.parquet"));
    assert_eq!(rows, 6);
    assert_eq!(
        schema.field_with_name("value").unwrap().data_type(),
        &DataType::Float64
    );
    let v = batches[0]
        .column_by_name("value")
        .unwrap()
        .as_primitive::<arrow_array::types::Float64Type>()
        .clone();
    assert_eq!(v.value(0), 8.1);
    assert_eq!(
        dict_text(batches[0].column_by_name("measure").unwrap(), 0),
        "age-standardised percent"
    );
    assert_eq!(
        dict_text(batches[0].column_by_name("category_label").unwrap(), 2),
        "Not disabled under the Equality Act"
    );
    let (_, counts, _, _) = read_parquet(&out.join("census_counts/source=census/part-0.parquet"));
    assert_eq!(counts, 0, "no counts from a rates table");

    // A cross-tabulation (sex by age): one tree, grand total -> sexes ->
    // ages; the All persons cells, the sum of the others, are not repeated.
    let h = ["All persons", "Female", "Male"]
        .iter()
        .flat_map(|g| {
            ["Total", "Aged 15 years and under", "Aged 16 years and over"]
                .map(move |a| format!("\"Sex: {g}; Age: {a}; measures: Value\""))
        })
        .collect::<Vec<_>>()
        .join(",");
    let cross = dir.path().join("census2021-ts009-ltla.csv");
    let write_cross = |rows: &str| {
        std::fs::write(
            &cross,
            format!("\"date\",\"geography\",\"geography code\",{h}\n{rows}"),
        )
        .unwrap();
    };
    write_cross(
        "\"2021\",\"A\",\"E08000003\",10,4,6,6,3,3,4,1,3\n\"2021\",\"B\",\"E08000006\",20,5,15,11,2,9,9,3,6\n",
    );
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS009\"]\ngeography = \"ltla\"\non_inconsistent_sums = \"fail\"\n",
            cross.display()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, batches) =
        read_parquet(&out.join("census_counts/source=census/part-0.parquet"));
    assert_eq!(rows, 2 * 7);
    let b = &batches[0];
    let levels: Vec<u8> = b
        .column_by_name("category_level")
        .unwrap()
        .as_primitive::<UInt8Type>()
        .values()[..7]
        .to_vec();
    assert_eq!(levels, vec![0, 1, 2, 2, 1, 2, 2]);
    assert_eq!(
        dict_text(b.column_by_name("topic").unwrap(), 0),
        "Sex by Age"
    );
    assert_eq!(
        dict_text(b.column_by_name("category_label").unwrap(), 5),
        "Male; Age: Aged 15 years and under"
    );
    assert_eq!(
        dict_text(b.column_by_name("parent_label").unwrap(), 5),
        "Male; Age: Total"
    );

    // All persons must be the sum of the groups, or the file is refused.
    write_cross("\"2021\",\"A\",\"E08000003\",10,4,6,6,3,3,4,2,2\n");
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("but its groups add up to 5"),
        "{}",
        text(&o)
    );
}

/// The Nomis API source against a local server answering in the API's CSV
/// layout (Annual Population Survey employment rates by ethnicity and
/// disability for one local authority; the values are illustrative): pages
/// with `recordoffset` until `RECORD_COUNT`, sends the key from the
/// environment and never shows it.
#[test]
fn nomis_api_pages_through_an_aps_query_with_a_secret_key() {
    const HEADER: &str = "\"DATE\",\"DATE_NAME\",\"DATE_CODE\",\"DATE_TYPE\",\"DATE_TYPECODE\",\"DATE_SORTORDER\",\"GEOGRAPHY\",\"GEOGRAPHY_NAME\",\"GEOGRAPHY_CODE\",\"GEOGRAPHY_TYPE\",\"GEOGRAPHY_TYPECODE\",\"GEOGRAPHY_SORTORDER\",\"VARIABLE\",\"VARIABLE_NAME\",\"VARIABLE_CODE\",\"VARIABLE_TYPE\",\"VARIABLE_TYPECODE\",\"VARIABLE_SORTORDER\",\"MEASURES\",\"MEASURES_NAME\",\"OBS_VALUE\",\"OBS_STATUS\",\"OBS_STATUS_NAME\",\"OBS_CONF\",\"OBS_CONF_NAME\",\"URN\",\"RECORD_OFFSET\",\"RECORD_COUNT\"\n";
    fn row(
        i: u32,
        var: &str,
        measure: &str,
        value: &str,
        status: &str,
        status_name: &str,
    ) -> String {
        format!(
            "\"2024-12\",\"Jan 2024-Dec 2024\",\"2024-12\",\"date\",0,0,1946157081,\"Manchester\",\"E08000003\",\"local authorities: district / unitary (as of April 2023)\",434,{i},{i},\"{var}\",{i},\"variable\",0,{i},20599,\"{measure}\",{value},\"{status}\",\"{status_name}\",\"F\",\"Free (free for publication)\",\"Nm-17d5d1946157081\",{i},5\n"
        )
    }
    let page1 = format!(
        "{HEADER}{}{}{}",
        row(
            0,
            "% who are aged 16-64 who are employed",
            "Variable",
            "70.1",
            "A",
            "Normal Value"
        ),
        row(
            1,
            "Employment rate - aged 16-64 - ethnic minority",
            "Variable",
            "58.3",
            "A",
            "Normal Value"
        ),
        row(
            2,
            "Employment rate - aged 16-64 - white",
            "Variable",
            "74.9",
            "A",
            "Normal Value"
        ),
    );
    let page2 = format!(
        "{HEADER}{}{}",
        row(
            3,
            "% of EA core or work-limiting disabled who are employed",
            "Variable",
            "52.6",
            "A",
            "Normal Value"
        ),
        row(
            4,
            "Employment rate - aged 16-64 - mixed ethnic group",
            "Variable",
            "",
            "!",
            "Estimate and confidence interval not available since the group sample size is zero or disclosive (0-2)"
        ),
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = TestServer::start(Box::new(move |url, _| {
        s.lock().unwrap().push(url.to_string());
        if !url.starts_with("/api/v01/dataset/NM_17_5.data.csv?") {
            return (404, vec![], vec![]);
        }
        let body = if url.contains("recordoffset=0") {
            page1.clone()
        } else if url.contains("recordoffset=3") {
            page2.clone()
        } else {
            HEADER.to_string()
        };
        (
            200,
            vec![("Content-Type".into(), "text/csv".into())],
            body.into_bytes(),
        )
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"aps\"\nplugin = \"nomis-api\"\n[sources.options]\nbase_url = \"{}api/v01\"\ndataset = \"NM_17_5\"\npage_size = 3\napi_key_env = \"EQPIPE_TEST_NOMIS_KEY\"\n[sources.options.params]\ngeography = \"1946157081\"\ndate = \"latest\"\nmeasures = \"20599\"\n",
            server.base
        ),
    );
    let o = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("EQPIPE_TEST_NOMIS_KEY", "0xNOMISSECRET")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let urls = seen.lock().unwrap().clone();
    assert_eq!(urls.len(), 2, "two pages: {urls:?}");
    assert!(
        urls.iter()
            .all(|u| u.contains("uid=0xNOMISSECRET") && u.contains("recordlimit=3"))
    );
    let out = dir.path().join("out");
    let (schema, rows, kv, batches) =
        read_parquet(&out.join("datasets/nomis_observations/source=aps/part-0.parquet"));
    assert_eq!(rows, 5);
    assert_eq!(
        schema.field_with_name("obs_value").unwrap().data_type(),
        &DataType::Float64
    );
    let v = batches[0]
        .column_by_name("obs_value")
        .unwrap()
        .as_primitive::<arrow_array::types::Float64Type>()
        .clone();
    assert_eq!(v.value(1), 58.3);
    let last = batches.last().unwrap();
    let lv = last.column_by_name("obs_value").unwrap();
    assert!(
        lv.is_null(lv.len() - 1),
        "withheld value stays null, with its status"
    );
    assert_eq!(
        dict_text(
            last.column_by_name("obs_status").unwrap(),
            last.num_rows() - 1
        ),
        "!"
    );
    assert_eq!(
        dict_text(batches[0].column_by_name("dimensions").unwrap(), 1),
        "VARIABLE=Employment rate - aged 16-64 - ethnic minority"
    );
    assert!(
        kv["eqpipe.source_urls"].contains("uid=REDACTED"),
        "{}",
        kv["eqpipe.source_urls"]
    );
    for f in files_under(&out) {
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains("0xNOMISSECRET"),
            "{}",
            f.display()
        );
    }
    assert!(!text(&o).contains("0xNOMISSECRET"));
}

/// The ONS API source against a local server answering in the
/// `census-observations` JSON layout (ethnic group by age for two wards;
/// values illustrative): pages with limit/offset, one row per area and cell,
/// and a per-area total that is the sum of the cells.
#[test]
fn ons_api_custom_dataset_becomes_census_counts() {
    fn ob(ward: (&str, &str), eth: &str, age: &str, n: i64) -> serde_json::Value {
        serde_json::json!({
            "dimensions": [
                {"dimension": "Wards", "dimension_id": "wd", "option": ward.1, "option_id": ward.0},
                {"dimension": "Ethnic group (6 categories)", "dimension_id": "ethnic_group_tb_6a", "option": eth, "option_id": "1"},
                {"dimension": "Age (3 categories)", "dimension_id": "resident_age_3a", "option": age, "option_id": "2"}
            ],
            "observation": n
        })
    }
    let a = ("E05011356", "Ancoats & Beswick");
    let b = ("E05011357", "Ardwick");
    let all = [
        ob(
            a,
            "Asian, Asian British or Asian Welsh",
            "Aged 15 years and under",
            310,
        ),
        ob(
            a,
            "Asian, Asian British or Asian Welsh",
            "Aged 16 to 64 years",
            2210,
        ),
        ob(a, "White", "Aged 15 years and under", 1020),
        ob(
            b,
            "Asian, Asian British or Asian Welsh",
            "Aged 15 years and under",
            850,
        ),
        ob(b, "White", "Aged 16 to 64 years", 7000),
    ];
    let server = TestServer::start(Box::new(move |url, _| {
        if !url.starts_with("/v1/population-types/UR/census-observations?area-type=wd,E05011356,E05011357&dimensions=ethnic_group_tb_6a,resident_age_3a") {
            return (404, vec![], b"{}".to_vec());
        }
        let offset: usize = url
            .split("offset=")
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let page: Vec<_> = all.iter().skip(offset).take(2).cloned().collect();
        let body =
            serde_json::json!({"observations": page, "total_observations": all.len(), "links": {}});
        (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string().into_bytes(),
        )
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"custom\"\nplugin = \"ons-api\"\nmax_rejected_pct = 0\n[sources.options]\nbase_url = \"{}v1\"\narea_type = \"wd\"\nareas = [\"E05011356\", \"E05011357\"]\ndimensions = [\"ethnic_group_tb_6a\", \"resident_age_3a\"]\npage_size = 2\n",
            server.base
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.hits(), 3, "three pages of two");
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/datasets/census_counts/source=custom/part-0.parquet"),
    );
    assert_eq!(rows, 5 + 2, "cells plus one total per ward");
    let mut got = Vec::new();
    for b in &batches {
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let (code, label, level, count, table, topic) = (
            c("area_code"),
            c("category_label"),
            c("category_level"),
            c("count"),
            c("table_code"),
            c("topic"),
        );
        for i in 0..b.num_rows() {
            got.push((
                dict_text(&code, i),
                dict_text(&label, i),
                level.as_primitive::<UInt8Type>().value(i),
                count.as_primitive::<Int64Type>().value(i),
            ));
            assert_eq!(
                dict_text(&table, i),
                "UR/ethnic_group_tb_6a,resident_age_3a"
            );
            assert_eq!(
                dict_text(&topic, i),
                "Ethnic group (6 categories) by Age (3 categories)"
            );
        }
    }
    assert!(got.contains(&("E05011356".into(), "Total".into(), 0, 3540)));
    assert!(got.contains(&("E05011357".into(), "Total".into(), 0, 7850)));
    assert!(got.contains(&(
        "E05011356".into(),
        "Asian, Asian British or Asian Welsh; Aged 16 to 64 years".into(),
        1,
        2210
    )));
}

/// Headless Chromium (Debian's `chromium`), as CI installs it; set
/// `EQPIPE_REQUIRE_BROWSER=1` to make its absence a failure (CI does).
fn chromium() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("CHROMIUM")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.exists())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("EQPIPE_REQUIRE_BROWSER").is_none(),
            "EQPIPE_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed");
    }
    found
}

fn render(browser: &Path, page: &Path, profile: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// The demo's HTML report, rendered by a real browser: every page parses,
/// tables have captions and header cells, charts are images with a title
/// and a description, suppressed cells are marked, links resolve, and the
/// page paints.
#[test]
fn the_demo_report_renders_in_headless_chromium_and_is_accessible() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let report = out.join("report");
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    // The run's start reads as people write it ("2 December 2026, 19:06
    // UTC"), worked out here from the manifest's RFC 3339 text, and keeps
    // the exact instant in a <time> element.
    let manifest = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let started = manifest["started_at"].as_str().unwrap();
    assert!(
        started.ends_with("+00:00") || started.ends_with('Z'),
        "{started}"
    );
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[started[5..7].parse::<usize>().unwrap() - 1];
    let day = started[8..10].parse::<u32>().unwrap();
    let shown = format!(
        "<time datetime=\"{started}\">{day} {month} {}, {} UTC</time>",
        &started[..4],
        &started[11..16]
    );
    assert!(index.contains(&shown), "{shown} in {index}");
    let mut pages = vec![report.join("index.html")];
    for link in index.split("href=\"").skip(1) {
        let target = &link[..link.find('"').unwrap()];
        let file = target.split('#').next().unwrap();
        if !file.is_empty() {
            let p = report.join(file);
            assert!(p.exists(), "index links to {target}, which is missing");
            if !pages.contains(&p) {
                pages.push(p);
            }
        }
    }
    // 25 areas (24 wards and the city), the objectives, workforce,
    // services, health, community and spending pages, the evidence pack
    // and the index.
    assert_eq!(pages.len(), 33, "{pages:?}");
    let named = |f: &str| {
        pages
            .iter()
            .find(|p| p.ends_with(f))
            .unwrap_or_else(|| panic!("no {f} in {pages:?}"))
    };
    for (k, page) in [
        &pages[0],
        named("objectives.html"),
        named("workforce.html"),
        named("services.html"),
        named("health.html"),
        named("community.html"),
        named("spending.html"),
        named("evidence-library-opening-hours.html"),
        named("area-E08999001.html"),
        named("area-E05999007.html"),
    ]
    .into_iter()
    .enumerate()
    {
        let profile = dir.path().join(format!("profile-{k}"));
        let dom = render(&browser, page, &profile, &["--dump-dom"]);
        assert!(dom.status.success(), "{}", text(&dom));
        let dom = String::from_utf8_lossy(&dom.stdout).to_string();
        assert!(dom.contains("<html lang=\"en-GB\">"), "{}", page.display());
        assert!(dom.contains("<main>") && dom.contains("<h1>"));
        let tables = dom.matches("<table>").count();
        assert!(tables >= 1, "{}: no table", page.display());
        assert_eq!(
            dom.matches("<caption>").count(),
            tables,
            "every table has a caption"
        );
        assert!(dom.contains("<th scope=\"col\">") && dom.contains("<th scope=\"row\""));
        for svg in dom.split("<svg").skip(1) {
            let head = &svg[..svg.find('>').unwrap()];
            assert!(
                head.contains("role=\"img\"") && head.contains("aria-labelledby"),
                "{head}"
            );
            assert!(svg.contains("<title") && svg.contains("<desc"));
        }
    }
    // The data-quality section comes first on the index, as the browser
    // built it, and carries the manifest's warnings, counts and all.
    let dom = render(
        &browser,
        &pages[0],
        &dir.path().join("profile-q"),
        &["--dump-dom"],
    );
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let quality = dom
        .find("<h2 id=\"quality\">Data quality</h2>")
        .expect("a data quality section");
    // The headline figures come first, with a pointer to the data quality
    // section below them (the demo's run has warnings).
    let headlines = dom
        .find("<h2>Headline figures</h2>")
        .expect("headline figures");
    assert!(headlines < quality);
    assert!(dom[headlines..quality].contains("read these figures with the"));
    // The pay gap headline is the latest snapshot's published median gap.
    let (_, _, _, gaps) = read_parquet(&out.join("indicators/pay_gap/part-0.parquet"));
    let mut latest = (i32::MIN, 0.0);
    for b in &gaps {
        let days = b
            .column_by_name("snapshot_date")
            .unwrap()
            .as_primitive::<arrow_array::types::Date32Type>();
        let values = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..b.num_rows() {
            let t = |c: &str| text_at(b, c, i).unwrap_or_default();
            if t("dimension") == "sex"
                && t("measure") == "median_hourly_gap_pct"
                && t("group") == "F"
                && days.value(i) > latest.0
            {
                latest = (days.value(i), values.value(i));
            }
        }
    }
    let headline = format!(
        "<span class=\"figure\">{:.1}%</span> median gender pay gap",
        (latest.1 * 10.0).round() / 10.0
    );
    assert!(dom[headlines..quality].contains(&headline), "{headline}");
    assert!(quality < dom.find("<h2>Pages</h2>").unwrap(), "at the top");
    let m = last_manifest(&out);
    let mut warned = 0;
    for st in m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .chain(m["indicators"].as_array().unwrap())
    {
        for w in st["warnings"].as_array().into_iter().flatten() {
            warned += 1;
            let row = format!(
                "<tr><th scope=\"row\">{}</th><td>succeeded with warnings</td>",
                st["name"].as_str().unwrap()
            );
            let at = dom
                .find(&row)
                .unwrap_or_else(|| panic!("{row} not in the index"));
            let count = format!("<td class=\"n\">{}</td>", w["count"]);
            assert!(dom[at..].contains(&count), "{w}");
        }
    }
    assert!(
        warned >= 2,
        "the demo's unknown postcodes and users outside the catchment"
    );
    assert!(dom.contains("step(s) succeeded with warnings"));
    let objectives = std::fs::read_to_string(report.join("objectives.html")).unwrap();
    assert!(objectives.contains("Status: not enough data."));
    assert!(objectives.contains("How progress is judged"));
    // The spending page states the spend of the demo's raw spend files
    // (summed here with the csv crate), and who was not matched.
    let mut spent = 0.0;
    let spend_dir = eqpipe_engine::demo::input_dir(&out).join("spend");
    for f in std::fs::read_dir(&spend_dir).unwrap() {
        let mut r = csv::Reader::from_path(f.unwrap().path()).unwrap();
        let amount = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "Amount")
            .unwrap();
        for rec in r.records() {
            spent += rec.unwrap()[amount].parse::<f64>().unwrap();
        }
    }
    let spending = std::fs::read_to_string(report.join("spending.html")).unwrap();
    let whole = format!("{}", spent.round() as u64);
    let grouped: String = whole
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = i > 0 && (whole.len() - i).is_multiple_of(3);
            sep.then_some(',').into_iter().chain([c])
        })
        .collect();
    assert!(
        spending.contains(&format!("Of £{grouped} spent")),
        "£{grouped}: {spending}"
    );
    assert!(spending.contains("payees the council withheld or did not name"));
    assert!(spending.contains("Grants to voluntary, community and social enterprise groups"));
    let community = std::fs::read_to_string(report.join("community.html")).unwrap();
    assert!(
        community.contains("Harder to reach in this exercise"),
        "{community}"
    );
    assert!(community.contains("What we heard, weighted to the Census"));
    assert!(community.contains("Police recorded hate crime"));
    assert!(
        !community.contains("NP-1"),
        "no respondent id reaches the report"
    );
    let workforce = std::fs::read_to_string(report.join("workforce.html")).unwrap();
    assert!(workforce.contains("[c]"), "suppressed cells are marked");
    assert!(workforce.contains("Gender pay gap (statutory measures)"));
    assert!(workforce.contains("Women and men in each quarter pay band"));
    health_and_pay_benchmark_pages_state_the_raw_files(&out, &report, &workforce);
    maps_state_the_published_figures(&out, &report);
    the_evidence_pack_covers_every_characteristic(&out, &report);
    // No identifier or raw record reaches the report.
    for f in files_under(&report) {
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(!s.contains("NB1"), "{}", f.display());
    }
    // It paints: a screenshot of the workforce page is a real PNG.
    let shot = dir.path().join("workforce.png");
    let o = render(
        &browser,
        &report.join("workforce.html"),
        &dir.path().join("profile-shot"),
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    // And the city's map, the health page, the evidence pack and the
    // spending page (its grants map) paint too.
    for (page, name) in [
        ("area-E08999001.html", "map.png"),
        ("health.html", "health.png"),
        ("evidence-library-opening-hours.html", "pack.png"),
        ("spending.html", "spending.png"),
    ] {
        let shot = dir.path().join(name);
        let o = render(
            &browser,
            &report.join(page),
            &dir.path().join(format!("profile-{name}")),
            &[&format!("--screenshot={}", shot.display())],
        );
        assert!(o.status.success(), "{}", text(&o));
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{name}: {} bytes",
            png.len()
        );
    }
}

/// Every example config in `config/examples/` passes `eqpipe validate`
/// (keys, plugins, their options, schedules).
#[test]
fn every_example_config_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let body = std::fs::read_to_string(&p).unwrap();
            // The partner example names the library a workspace build makes;
            // point it at the one this test builds.
            let checked = if body.contains("libeqpipe_example_partner.so") {
                let lib = cdylib("eqpipe-example-partner");
                let copy = tempfile::tempdir().unwrap().keep().join("partner.toml");
                let re = body.replace(
                    "../../target/debug/libeqpipe_example_partner.so",
                    lib.to_str().unwrap(),
                );
                std::fs::write(&copy, re).unwrap();
                copy
            } else {
                p.clone()
            };
            // The variables its secrets live in (`…_env = "NAME"`): without
            // them validate names each one missing; with them it passes.
            let vars: Vec<String> = body
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    let v = v.split('"').nth(1)?;
                    k.trim().ends_with("_env").then(|| v.to_string())
                })
                .filter(|v| !v.contains('{'))
                .collect();
            let mut cmd = eqpipe();
            cmd.args(["validate", "--config", checked.to_str().unwrap()]);
            for v in &vars {
                cmd.env_remove(v);
            }
            if let Some(v) = vars.first() {
                let o = cmd.output().unwrap();
                assert_eq!(o.status.code(), Some(1), "{}: {}", p.display(), text(&o));
                assert!(
                    text(&o).contains(&format!(
                        "names the environment variable {v}, which is not set"
                    )),
                    "{}: {}",
                    p.display(),
                    text(&o)
                );
            }
            for v in &vars {
                cmd.env(v, "a-value-validate-never-prints");
            }
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            assert!(!text(&o).contains("a-value-validate-never-prints"));
            n += 1;
        }
    }
    assert!(n >= 3);
}

/// A figure as the report writes it: one decimal, thousands grouped, a
/// minus sign (U+2212).
fn as_shown(v: f64) -> String {
    let t = format!("{:.1}", v.abs());
    let (whole, frac) = t.split_once('.').unwrap();
    let grouped: String = whole
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = i > 0 && (whole.len() - i).is_multiple_of(3);
            sep.then_some(',').into_iter().chain([c])
        })
        .collect();
    let sign = if v < 0.0 && t != "0.0" {
        "\u{2212}"
    } else {
        ""
    };
    format!("{sign}{grouped}.{frac}")
}

/// The health page's SII for every indicator and year, worked out here
/// from the demo's raw Fingertips file; the pay gap benchmark's published
/// figure and peers' median from the raw service file.
fn health_and_pay_benchmark_pages_state_the_raw_files(out: &Path, report: &Path, workforce: &str) {
    let public = eqpipe_engine::demo::input_dir(out).join("public");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(public.join(eqpipe_engine::demo::FINGERTIPS_FILE))
        .unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (cat, year, value, denom, id) = (
        at("Category"),
        at("Time period"),
        at("Value"),
        at("Denominator"),
        at("Indicator ID"),
    );
    let mut groups: std::collections::BTreeMap<(String, String), Vec<(f64, f64)>> =
        Default::default();
    for r in rdr.records() {
        let r = r.unwrap();
        if r[cat].is_empty() {
            continue;
        }
        // Written most deprived first.
        groups
            .entry((r[id].to_string(), r[year].to_string()))
            .or_default()
            .push((r[value].parse().unwrap(), r[denom].parse().unwrap()));
    }
    assert_eq!(groups.len(), 6, "two indicators, three years");
    let health = std::fs::read_to_string(report.join("health.html")).unwrap();
    for ((_, year), g) in &groups {
        assert_eq!(g.len(), 10);
        let total: f64 = g.iter().map(|d| d.1).sum();
        let (mut cum, mut sw, mut swx, mut swy, mut swxx, mut swxy) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for &(y, w) in g {
            let x = (cum + w / 2.0) / total;
            cum += w;
            sw += w;
            swx += w * x;
            swy += w * y;
            swxx += w * x * x;
            swxy += w * x * y;
        }
        let slope = (sw * swxy - swx * swy) / (sw * swxx - swx * swx);
        let cell = format!("<td class=\"n\">{}</td>", as_shown(slope));
        assert!(health.contains(&cell), "{year}: {cell} in {health}");
    }
    assert!(health.contains("The council&#39;s services across the same scale"));

    // The benchmark: Northbridge's median gap in the latest file, and the
    // median of the other councils (SIC 84110) beside it.
    let latest = public.join(eqpipe_engine::demo::PAY_GAP_FILES.last().unwrap());
    let mut rdr = csv::Reader::from_path(&latest).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (mut own, mut peers) = (None, Vec::new());
    for r in rdr.records() {
        let r = r.unwrap();
        let median: f64 = r[at("DiffMedianHourlyPercent")].parse().unwrap();
        if &r[at("EmployerName")] == "Northbridge City Council" {
            own = Some(median);
        } else if r[at("SicCodes")].contains("84110") {
            peers.push(median);
        }
    }
    peers.sort_by(f64::total_cmp);
    let mid = peers.len() / 2;
    let peer_median = if peers.len() % 2 == 1 {
        peers[mid]
    } else {
        (peers[mid - 1] + peers[mid]) / 2.0
    };
    let section = workforce
        .find("How our gender pay gap compares")
        .expect("the benchmark section");
    let start = section
        + workforce[section..]
            .find("<tr><th scope=\"row\">Median hourly pay gap</th>")
            .expect("the benchmark's median row");
    let row = &workforce[start..start + workforce[start..].find("</tr>").unwrap()];
    // Computed by eqpipe | our published return | peers' median.
    let cells = format!(
        "</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}% (",
        own.unwrap(),
        (peer_median * 10.0).round() / 10.0
    );
    assert!(row.contains(&cells), "{cells} in {row}");
}

/// The export in the GOV.UK gender pay gap service's fields holds, for
/// each snapshot, the published `pay_gap` figures to one decimal place.
#[test]
fn the_gender_pay_gap_submission_is_the_published_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, _, _, batches) = read_parquet(&out.join("indicators/pay_gap/part-0.parquet"));
    // (snapshot, measure, group) -> value, from the published file.
    let mut published: HashMap<(String, String, String), Option<f64>> = HashMap::new();
    for b in &batches {
        let days = b
            .column_by_name("snapshot_date")
            .unwrap()
            .as_primitive::<arrow_array::types::Date32Type>();
        let values = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..b.num_rows() {
            if text_at(b, "dimension", i).as_deref() != Some("sex") {
                continue;
            }
            let day = eqpipe_plugin_sdk::published::date_of_days(days.value(i))
                .format("%Y-%m-%d")
                .to_string();
            let key = (
                day,
                text_at(b, "measure", i).unwrap(),
                text_at(b, "group", i).unwrap(),
            );
            published.insert(key, values.is_valid(i).then(|| values.value(i)));
        }
    }
    let body = std::fs::read_to_string(out.join("exports/gender-pay-gap-service.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "SnapshotDate");
    assert_eq!(header.len(), 15);
    let fields = [
        ("DiffMeanHourlyPercent", "mean_hourly_gap_pct", "F"),
        ("DiffMedianHourlyPercent", "median_hourly_gap_pct", "F"),
        ("DiffMeanBonusPercent", "mean_bonus_gap_pct", "F"),
        ("DiffMedianBonusPercent", "median_bonus_gap_pct", "F"),
        ("MaleBonusPercent", "pct_receiving_bonus", "M"),
        ("FemaleBonusPercent", "pct_receiving_bonus", "F"),
        ("MaleLowerQuartile", "lower_quartile_pct", "M"),
        ("FemaleLowerQuartile", "lower_quartile_pct", "F"),
        ("MaleLowerMiddleQuartile", "lower_middle_quartile_pct", "M"),
        (
            "FemaleLowerMiddleQuartile",
            "lower_middle_quartile_pct",
            "F",
        ),
        ("MaleUpperMiddleQuartile", "upper_middle_quartile_pct", "M"),
        (
            "FemaleUpperMiddleQuartile",
            "upper_middle_quartile_pct",
            "F",
        ),
        ("MaleTopQuartile", "upper_quartile_pct", "M"),
        ("FemaleTopQuartile", "upper_quartile_pct", "F"),
    ];
    let mut rows = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        rows += 1;
        for (k, (title, measure, group)) in fields.iter().enumerate() {
            assert_eq!(header[k + 1], *title);
            let want = published[&(r[0].to_string(), measure.to_string(), group.to_string())]
                .map(|v| format!("{:.1}", (v * 10.0).round() / 10.0))
                .unwrap_or_default();
            assert_eq!(r[k + 1], want, "{} {title}", &r[0]);
        }
        // The quarter bands' men and women add up to 100.
        for pair in [(7, 8), (9, 10), (11, 12), (13, 14)] {
            let m: f64 = r[pair.0].parse().unwrap();
            let f: f64 = r[pair.1].parse().unwrap();
            assert!((m + f - 100.0).abs() < 0.11, "{m} + {f}");
        }
    }
    assert_eq!(rows, 3, "the demo's three snapshots");
}

/// The city's page maps its wards (drawn from the demo's GeoJSON, stored
/// as GeoParquet) with each ward's share of residents in England's most
/// deprived 20% as the published deprivation profile gives it; a ward's
/// page shows where it is.
fn maps_state_the_published_figures(out: &Path, report: &Path) {
    let raw: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            eqpipe_engine::demo::input_dir(out)
                .join("public")
                .join(eqpipe_engine::demo::WARD_BOUNDARIES_FILE),
        )
        .unwrap(),
    )
    .unwrap();
    let wards: Vec<(String, String)> = raw["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["properties"]["WD22CD"].as_str().unwrap().to_string(),
                f["properties"]["WD22NM"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(wards.len(), 24);
    let (_, _, _, batches) =
        read_parquet(&out.join("indicators/deprivation_profile/part-0.parquet"));
    let mut share: HashMap<String, (f64, f64)> = HashMap::new();
    for b in &batches {
        let p20 = b
            .column_by_name("pct_population_most_deprived_20pct")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        let edition = b.column_by_name("edition").unwrap();
        let edition = arrow_cast::cast::cast(edition, &DataType::Float64).unwrap();
        let edition = edition.as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..b.num_rows() {
            if text_at(b, "domain", i)
                .unwrap()
                .starts_with("Index of Multiple Deprivation")
            {
                let e = share
                    .entry(text_at(b, "area_code", i).unwrap())
                    .or_insert((0.0, 0.0));
                if edition.value(i) >= e.0 {
                    *e = (edition.value(i), p20.value(i));
                }
            }
        }
    }
    let city = std::fs::read_to_string(report.join("area-E08999001.html")).unwrap();
    let map = &city[city.find("<h2>Map</h2>").expect("a map on the city's page")..];
    assert!(map.contains("<svg role=\"img\" aria-labelledby=\"map-t map-d\""));
    assert!(map.matches("fill-rule=\"evenodd\"").count() >= 24);
    for (code, name) in &wards {
        let v = share[code].1;
        // As HTML writes it (`St Anne&#39;s`).
        let name = name.replace('&', "&amp;").replace('\'', "&#39;");
        let row = format!(
            "<tr><th scope=\"row\">{name}</th><td class=\"n\">{:.1}%</td>",
            (v * 10.0).round() / 10.0
        );
        assert!(map.contains(&row), "{row}");
        // And on the map itself, in its description.
        assert!(map.contains(&format!("{name} {:.1}%", (v * 10.0).round() / 10.0)));
    }
    let ward = std::fs::read_to_string(report.join(format!("area-{}.html", wards[6].0))).unwrap();
    assert!(ward.contains("<h2>Where it is</h2>"));
    assert!(ward.contains(&format!("with {} shown filled and hatched", wards[6].1)));

    // Each Census table on the city's page maps, across its wards, the
    // top-level category whose share (count / total, worked out here)
    // ranges most widely; every ward at its share.
    let (_, _, _, batches) = read_parquet(&out.join("indicators/community_profile/part-0.parquet"));
    let mut ts021: BTreeMap<String, HashMap<String, f64>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for b in &batches {
        let level = arrow_cast::cast::cast(
            b.column_by_name("category_level").unwrap(),
            &DataType::Float64,
        )
        .unwrap();
        let level = level.as_primitive::<arrow_array::types::Float64Type>();
        let count =
            arrow_cast::cast::cast(b.column_by_name("count").unwrap(), &DataType::Float64).unwrap();
        let count = count.as_primitive::<arrow_array::types::Float64Type>();
        let total =
            arrow_cast::cast::cast(b.column_by_name("total").unwrap(), &DataType::Float64).unwrap();
        let total = total.as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..b.num_rows() {
            let ward = text_at(b, "area_code", i).unwrap();
            if text_at(b, "table_code", i).as_deref() == Some("TS021")
                && level.value(i) == 1.0
                && wards.iter().any(|(c, _)| *c == ward)
                && text_at(b, "comparator_code", i).as_deref() == Some("K04000001")
            {
                let label = text_at(b, "category_label", i).unwrap();
                if !order.contains(&label) {
                    order.push(label.clone());
                }
                ts021
                    .entry(label)
                    .or_default()
                    .insert(ward, count.value(i) / total.value(i) * 100.0);
            }
        }
    }
    let spread = |v: &HashMap<String, f64>| {
        let (lo, hi) = v
            .values()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        hi - lo
    };
    let widest = order
        .iter()
        .fold(None::<&String>, |best, l| match best {
            Some(b) if spread(&ts021[b]) >= spread(&ts021[l]) => Some(b),
            _ => Some(l),
        })
        .unwrap();
    let section = &city[city.find("<h2 id=\"h-TS021\">").expect("the TS021 section")..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(
        section.contains(&format!(
            "<h3>Where it varies most: {}</h3>",
            widest.replace('&', "&amp;")
        )),
        "{widest}"
    );
    for (code, name) in &wards {
        let name = name.replace('&', "&amp;").replace('\'', "&#39;");
        let v = ts021[widest][code];
        let row = format!(
            "<tr><th scope=\"row\">{name}</th><td class=\"n\">{:.1}%</td>",
            (v * 10.0).round() / 10.0
        );
        assert!(section.contains(&row), "{row}");
    }

    // The spending page maps the latest year's grants by ward: every ward
    // of the raw boundaries, at the published vcse_grants amount or £0.
    let (_, _, _, batches) = read_parquet(&out.join("indicators/vcse_grants/part-0.parquet"));
    let mut by_ward: HashMap<String, f64> = HashMap::new();
    let mut latest = (i32::MIN, String::new());
    let mut rows = Vec::new();
    for b in &batches {
        let start = b
            .column_by_name("period_start")
            .unwrap()
            .as_primitive::<arrow_array::types::Date32Type>();
        let amount = f64s(b, "amount");
        for i in 0..b.num_rows() {
            if text_at(b, "dimension", i).as_deref() == Some("ward") {
                let period = text_at(b, "period", i).unwrap();
                if start.value(i) > latest.0 {
                    latest = (start.value(i), period.clone());
                }
                rows.push((period, text_at(b, "group", i).unwrap(), amount.value(i)));
            }
        }
    }
    for (period, ward, amount) in rows {
        if period == latest.1 {
            *by_ward.entry(ward).or_default() += amount;
        }
    }
    assert!(!by_ward.is_empty(), "the demo places some grants in wards");
    let spending = std::fs::read_to_string(report.join("spending.html")).unwrap();
    let map = &spending[spending
        .find(&format!("<h3>Grant funding by ward, {}</h3>", latest.1))
        .expect("a grants map")..];
    assert!(map.contains("<svg role=\"img\" aria-labelledby=\"grants-map-t grants-map-d\""));
    for (code, name) in &wards {
        let v = by_ward.get(code).copied().unwrap_or(0.0).round() as u64;
        let pounds = {
            let d = v.to_string();
            let mut o = String::new();
            for (k, c) in d.chars().enumerate() {
                if k > 0 && (d.len() - k).is_multiple_of(3) {
                    o.push(',');
                }
                o.push(c);
            }
            format!("£{o}")
        };
        let name = name.replace('&', "&amp;").replace('\'', "&#39;");
        let row = format!("<tr><th scope=\"row\">{name}</th><td class=\"n\">{pounds}</td>");
        assert!(map.contains(&row), "{row}");
    }
}

/// The demo's evidence pack: a section for each of the nine protected
/// characteristics and deprivation, "no data held" with its reason where
/// there is none, and the service's figures as the published
/// service_equity file gives them; its workbook is written beside it.
fn the_evidence_pack_covers_every_characteristic(out: &Path, report: &Path) {
    let pack = std::fs::read_to_string(report.join("evidence-library-opening-hours.html")).unwrap();
    for (id, name) in [
        ("age", "Age"),
        ("disability", "Disability"),
        ("gender-reassignment", "Gender reassignment"),
        (
            "marriage-and-civil-partnership",
            "Marriage and civil partnership",
        ),
        ("pregnancy-and-maternity", "Pregnancy and maternity"),
        ("race", "Race"),
        ("religion-or-belief", "Religion or belief"),
        ("sex", "Sex"),
        ("sexual-orientation", "Sexual orientation"),
        ("deprivation", "Deprivation"),
    ] {
        assert!(
            pack.contains(&format!("<h2 id=\"{id}\">{name}</h2>")),
            "{name}"
        );
    }
    let pregnancy = &pack[pack.find("<h2 id=\"pregnancy-and-maternity\">").unwrap()..];
    let pregnancy = &pregnancy[..pregnancy.find("</table>").unwrap()];
    assert_eq!(pregnancy.matches("No data held").count(), 3, "{pregnancy}");
    assert!(pregnancy.contains("Census 2021 does not ask about pregnancy or maternity"));
    // Libraries' users by sex, as published.
    let (_, _, _, batches) = read_parquet(&out.join("indicators/service_equity/part-0.parquet"));
    let mut checked = 0;
    for b in &batches {
        let values = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..b.num_rows() {
            let t = |c: &str| text_at(b, c, i).unwrap_or_default();
            if t("service") == "Libraries" && t("dimension") == "sex" && t("measure") == "share_pct"
            {
                let withheld = b
                    .column_by_name("suppressed")
                    .unwrap()
                    .as_boolean()
                    .value(i);
                let shown = if withheld {
                    "[c]".to_string()
                } else {
                    format!("{:.1}%", (values.value(i) * 10.0).round() / 10.0)
                };
                let row = format!(
                    "<tr><th scope=\"row\">Service users</th><td>Libraries</td><td>{}</td><td class=\"n\">{shown}</td>",
                    t("group")
                );
                assert!(pack.contains(&row), "{row}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "women and men at least");
    let xlsx = std::fs::read(out.join("exports/evidence-library-opening-hours.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"), "a workbook (zip)");
}
