//! Dynamically loaded plugins: a partner plugin that works, and deliberately
//! broken ones that must fail alone, with clear errors, while the rest of
//! the run completes.

mod common;

use std::path::Path;

use common::*;

/// A config with the demo census source (which must keep working) plus the
/// given extra source entries.
fn config_with(dir: &Path, public: &Path, extra: &str) -> std::path::PathBuf {
    let body = format!(
        "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n{extra}",
        public.display()
    );
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// A run of the demo census source beside other sources.
struct Beside {
    dir: tempfile::TempDir,
    public: std::path::PathBuf,
}

impl Beside {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
            .unwrap()
            .public_dir;
        Beside { dir, public }
    }

    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    /// Runs with `extra` source entries; checks the census source still
    /// succeeded; returns the process output and the run manifest.
    fn run(&self, extra: &str) -> (std::process::Output, serde_json::Value) {
        let cfg = config_with(self.dir.path(), &self.public, extra);
        let o = run(&["run", "--config", cfg.to_str().unwrap()]);
        let m = last_manifest(&self.out());
        census_ok(&self.out(), &m);
        (o, m)
    }
}

fn census_ok(out: &Path, m: &serde_json::Value) {
    assert_eq!(m["sources"][0]["name"], "census");
    assert_eq!(m["sources"][0]["status"], "succeeded", "{m:#}");
    assert!(
        out.join("datasets/census_counts/source=census/part-0.parquet")
            .exists()
    );
}

fn source<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

#[test]
fn a_partner_plugin_is_loaded_from_its_library_and_pages_through_an_export() {
    let lib = cdylib("eqpipe-example-partner");
    let pages = [
        "month,service,ward_code,age_band,ethnic_group,referrals\n2025-04-01,Food bank,E05999001,16-24,White,12\n2025-04-01,Food bank,E05999002,25-49,Asian,7\n",
        // Row 3 has an age band outside the contract, row 4 an unreadable count.
        "month,service,ward_code,age_band,ethnic_group,referrals\n2025-05-01,Advice,E05999001,65+,Black,3\n2025-05-01,Advice,E05999003,teen,Mixed,4\n2025-05-01,Advice,E05999004,0-15,White,lots\n",
        "month,service,ward_code,age_band,ethnic_group,referrals\n",
    ];
    let server = TestServer::start(Box::new(move |url, headers| {
        if headers.get("x-api-key").map(String::as_str) != Some("s3cret-key-value") {
            return (401, vec![], b"no key".to_vec());
        }
        let page: usize = url
            .split("page=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match pages.get(page.wrapping_sub(1)) {
            Some(body) => (
                200,
                vec![("Content-Type".into(), "text/csv".into())],
                body.as_bytes().to_vec(),
            ),
            None => (200, vec![], pages[2].as_bytes().to_vec()),
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let inputs = eqpipe_engine::demo::generate(&dir.path().join("inputs")).unwrap();
    let cfg = config_with(
        dir.path(),
        &inputs.public_dir,
        &format!(
            "[[sources]]\nname = \"referrals\"\nlibrary = \"{}\"\nmax_rejected_pct = 50\n[sources.options]\nbase_url = \"{}export\"\napi_key_env = \"TEST_REFERRALS_KEY\"\npage_size = 2\n",
            lib.display(),
            server.base
        ),
    );
    let o = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("TEST_REFERRALS_KEY", "s3cret-key-value")
        .output()
        .unwrap();
    // Two of five rows rejected (below this step's limit): exit 4.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    census_ok(&out, &m);
    let r = source(&m, "referrals");
    assert_eq!(r["plugin_version"], "0.1.0");
    assert_eq!(r["plugin_abi"], "1.3");
    let d = &r["datasets"]["service_referrals"];
    assert_eq!(d["rows_in"], 5);
    assert_eq!(d["rows"], 3);
    assert_eq!(d["quarantined"], 2);

    // Stored with the contract's types: text parsed to dates and integers.
    let (schema, rows, kv, _) = read_parquet(&out.join(d["file"].as_str().unwrap()));
    assert_eq!(rows, 3);
    assert_eq!(
        schema.field_with_name("month").unwrap().data_type(),
        &arrow_schema::DataType::Date32
    );
    assert_eq!(
        schema.field_with_name("referrals").unwrap().data_type(),
        &arrow_schema::DataType::Int64
    );
    assert!(kv["eqpipe.plugin_abi"] == "1.3" && kv["eqpipe.plugin"] == "example-referrals");

    // Quarantine: page URL, line, column and reason for each rejected row.
    let q = std::fs::read_to_string(out.join(r["quarantine_file"].as_str().unwrap())).unwrap();
    let mut lines = q.lines();
    assert_eq!(
        lines.next().unwrap(),
        "file,row,column,reason,dataset,record"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 2, "{q}");
    assert!(
        rest[0].contains("page=2")
            && rest[0].contains(",3,age_band,age_band: not one of the allowed values"),
        "{q}"
    );
    assert!(
        rest[1].contains(",4,referrals,referrals: not an integer") && rest[1].contains("lots"),
        "{q}"
    );

    // Rolling the run back keeps the plugin's own dataset in the catalogue
    // (its contract comes from the plugin's manifest, not the built-ins).
    let catalogued = |out: &std::path::Path| {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("catalog.json")).unwrap()).unwrap();
        c["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "service_referrals")
    };
    assert!(catalogued(&out));
    let id = m["run_id"].as_str().unwrap();
    let r = run(&["runs", "restore", "--out", out.to_str().unwrap(), id]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(
        catalogued(&out),
        "restore dropped a plugin-declared dataset"
    );

    // The secret never reaches outputs or logs.
    let logs = text(&o);
    assert!(!logs.contains("s3cret-key-value"));
    for f in files_under(&out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret-key-value"),
            "secret found in {}",
            f.display()
        );
    }
}

#[test]
fn a_library_built_for_another_abi_is_refused_and_the_rest_of_the_run_completes() {
    let lib = cdylib("eqpipe-fixture-wrong-abi");
    let b = Beside::new();
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"future\"\nlibrary = \"{}\"\n",
        lib.display()
    ));
    assert_eq!(o.status.code(), Some(3), "partial run: {}", text(&o));
    let e = source(&m, "future")["error"].as_str().unwrap().to_string();
    assert!(e.contains(lib.to_str().unwrap()), "names the file: {e}");
    assert!(
        e.contains("ABI 99.0") && e.contains("ABI 1.3"),
        "names both versions: {e}"
    );
    assert!(e.contains("rebuild"), "says what to do: {e}");
    assert_eq!(m["outcome"], "partial");
}

#[test]
fn a_plugin_that_panics_fails_alone_with_the_panic_message() {
    let lib = cdylib("eqpipe-fixture-misbehaving");
    let b = Beside::new();
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"panicky\"\nlibrary = \"{0}\"\n[sources.options]\nmode = \"panic\"\n\
         [[sources]]\nname = \"fine\"\nlibrary = \"{0}\"\n[sources.options]\nmode = \"ok\"\n",
        lib.display()
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = b.out();
    let e = source(&m, "panicky")["error"].as_str().unwrap();
    assert!(
        e.contains("plugin panicked: fixture panic: index out of range"),
        "{e}"
    );
    assert_eq!(source(&m, "fine")["status"], "succeeded");
    assert_eq!(source(&m, "fine")["datasets"]["fixture_rows"]["rows"], 3);
    assert!(
        !out.join("datasets/fixture_rows/source=panicky/part-0.parquet")
            .exists()
    );
}

#[test]
fn a_wrong_schema_fails_the_source_with_what_the_contract_wants() {
    let lib = cdylib("eqpipe-fixture-misbehaving");
    let b = Beside::new();
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"wrong\"\nlibrary = \"{0}\"\n[sources.options]\nmode = \"bad-schema\"\n\
         [[sources]]\nname = \"erring\"\nlibrary = \"{0}\"\n[sources.options]\nmode = \"error\"\n\
         [[sources]]\nname = \"rows\"\nlibrary = \"{0}\"\nmax_rejected_pct = 10\n[sources.options]\nmode = \"bad-rows\"\n",
        lib.display()
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = b.out();
    let e = source(&m, "wrong")["error"].as_str().unwrap();
    assert!(
        e.contains("fixture_rows") && e.contains("required column `id` is missing"),
        "{e}"
    );
    let e = source(&m, "erring")["error"].as_str().unwrap();
    assert!(
        e.contains("upstream file is truncated") && e.contains("bad data"),
        "{e}"
    );
    // 4 of 5 rows rejected, over the 10% limit: failed, nothing published,
    // but the rejected rows are kept with file, row, column and reason.
    let r = source(&m, "rows");
    assert_eq!(r["status"], "failed");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("rejected 4 of 5 rows (80.0%)"),
        "{r}"
    );
    assert!(
        !out.join("datasets/fixture_rows/source=rows/part-0.parquet")
            .exists()
    );
    let q = std::fs::read_to_string(out.join(r["quarantine_file"].as_str().unwrap())).unwrap();
    assert!(
        q.contains("input.csv,3,label,label: not one of the allowed values"),
        "{q}"
    );
    assert!(q.contains("input.csv,4,id,id: missing value"), "{q}");
    assert!(
        q.contains("input.csv,5,value,value: below the minimum 0"),
        "{q}"
    );
    assert!(q.contains("input.csv,6,value,value: not a number"), "{q}");
}

#[test]
fn a_shared_library_that_is_not_a_plugin_is_refused_by_name() {
    let b = Beside::new();
    let not_a_plugin = b.dir.path().join("libnot_a_plugin.so");
    std::fs::write(&not_a_plugin, b"\x7fELF but not really").unwrap();
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"odd\"\nlibrary = \"{}\"\n",
        not_a_plugin.display()
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let e = source(&m, "odd")["error"].as_str().unwrap();
    assert!(e.contains("libnot_a_plugin.so"), "{e}");

    // `plugins list --config` shows the loadable ones and refuses the rest.
    let lib = cdylib("eqpipe-example-partner");
    let cfg = config_with(
        b.dir.path(),
        &b.public,
        &format!(
            "[[sources]]\nname = \"referrals\"\nlibrary = \"{}\"\n[sources.options]\nbase_url = \"http://127.0.0.1:9/\"\n",
            lib.display()
        ),
    );
    let o = run(&["plugins", "list", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("example-referrals"));
}

#[test]
fn a_builtin_plugin_built_as_a_cdylib_loads_and_runs_like_the_linked_one() {
    let lib = builtin_as_cdylib("eqpipe-ons-census");
    let b = Beside::new();
    let (o, _) = b.run(&format!(
        "[[sources]]\nname = \"census_dynamic\"\nlibrary = \"{}\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n",
        lib.display(),
        b.public.display()
    ));
    assert!(o.status.success(), "{}", text(&o));
    let out = b.out();
    let linked = read_parquet(&out.join("datasets/census_counts/source=census/part-0.parquet"));
    let dynamic =
        read_parquet(&out.join("datasets/census_counts/source=census_dynamic/part-0.parquet"));
    assert_eq!(
        linked.0.fields(),
        dynamic.0.fields(),
        "same columns and types"
    );
    let columns = |b: &Vec<arrow_array::RecordBatch>| {
        b.iter().map(|b| b.columns().to_vec()).collect::<Vec<_>>()
    };
    assert_eq!(columns(&linked.3), columns(&dynamic.3), "same rows");
}

/// A partner's first afternoon: `plugins new`, build, `plugins check` all
/// pass untouched; the kit fails broken libraries with the reason.
#[test]
fn plugins_new_builds_and_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "plugins",
        "new",
        "my-referrals",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let krate = dir.path().join("my-referrals");
    assert!(krate.join("Cargo.toml").exists() && krate.join("src/lib.rs").exists());
    let lib = build_external(&krate, "my_referrals");
    let o = run(&["plugins", "check", lib.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    for check in [
        "entry symbol",
        "ABI version",
        "manifest",
        "dataset contracts",
        "errors come back as errors",
        "run and validate",
        "honours cancellation",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("PASS") && l.contains(check)),
            "{check}: {out}"
        );
    }
    assert!(
        out.contains("my_referrals_rows: 3 rows stored, 0 quarantined"),
        "{out}"
    );

    // An indicator template is generated too (checked up to its run).
    let o = run(&[
        "plugins",
        "new",
        "my-summary",
        "--kind",
        "indicator",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Names must be kebab-case.
    let o = run(&[
        "plugins",
        "new",
        "My_Plugin",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));

    // Broken libraries fail the kit, with the reason.
    let o = run(&[
        "plugins",
        "check",
        cdylib("eqpipe-fixture-wrong-abi").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("FAIL ABI version"),
        "{}",
        text(&o)
    );
    let misbehaving = cdylib("eqpipe-fixture-misbehaving");
    let cfg = dir.path().join("check.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[sources]]\nname = \"p\"\nlibrary = \"{}\"\n[sources.options]\nmode = \"panic\"\n",
            misbehaving.display()
        ),
    )
    .unwrap();
    let o = run(&[
        "plugins",
        "check",
        misbehaving.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL run and validate") && l.contains("plugin panicked")),
        "{out}"
    );
    std::fs::write(&cfg, format!("[[sources]]\nname = \"p\"\nlibrary = \"{}\"\n[sources.options]\nmode = \"wait-for-cancel\"\n", misbehaving.display())).unwrap();
    let o = run(&[
        "plugins",
        "check",
        misbehaving.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS honours cancellation") && l.contains("stopped after")),
        "{out}"
    );
}

/// Process isolation: a plugin that segfaults, one that never returns and
/// one that allocates without bound each fail alone, with an error that
/// says what happened, while the in-process census source and an isolated
/// plugin that works (its rows validated and stored by the parent, bad
/// rows quarantined by the parent) complete in the same run.
#[test]
fn isolated_plugins_that_crash_hang_or_blow_up_fail_alone() {
    let lib = cdylib("eqpipe-fixture-misbehaving");
    let b = Beside::new();
    let entry = |name: &str, mode: &str, extra: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nlibrary = \"{}\"\nisolation = \"process\"\n{extra}[sources.options]\nmode = \"{mode}\"\n",
            lib.display()
        )
    };
    let started = std::time::Instant::now();
    let (o, m) = b.run(&format!(
        "{}{}{}{}{}",
        entry("crash", "segfault", ""),
        entry("spin", "loop", "timeout_secs = 2\n"),
        entry("hog", "allocate", "memory_limit_mb = 256\n"),
        entry("fine", "ok", "timeout_secs = 60\nmemory_limit_mb = 512\n"),
        entry("rows", "bad-rows", ""),
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = |n: &str| source(&m, n)["error"].as_str().unwrap_or("").to_string();
    assert_eq!(source(&m, "crash")["status"], "failed");
    assert!(
        err("crash").contains("died of signal 11 (SIGSEGV)"),
        "{}",
        err("crash")
    );
    assert!(
        err("spin").contains("did not finish within 2 s (timeout_secs)"),
        "{}",
        err("spin")
    );
    assert!(
        err("hog").contains("memory limit of 256 MB (memory_limit_mb)"),
        "{}",
        err("hog")
    );
    assert!(err("hog").contains("memory allocation"), "{}", err("hog"));
    // The isolated plugin that works: rows through Arrow IPC, stored here.
    assert_eq!(source(&m, "fine")["status"], "succeeded", "{m:#}");
    assert_eq!(source(&m, "fine")["datasets"]["fixture_rows"]["rows"], 3);
    let (_, rows, kv, _) = read_parquet(
        &b.out()
            .join("datasets/fixture_rows/source=fine/part-0.parquet"),
    );
    assert_eq!(rows, 3);
    assert_eq!(kv["eqpipe.step"], "fine");
    // Its log lines come back through the parent, and it was offered the
    // run's snapshot date (ABI 1.1) in its own process too.
    assert!(text(&o).contains("run covers "), "{}", text(&o));
    // Bad rows from an isolated plugin are quarantined by the host.
    assert_eq!(source(&m, "rows")["datasets"]["fixture_rows"]["rows"], 1);
    assert_eq!(
        source(&m, "rows")["datasets"]["fixture_rows"]["quarantined"],
        4
    );
    let q = source(&m, "rows")["quarantine_file"].as_str().unwrap();
    let q = std::fs::read_to_string(b.out().join(q)).unwrap();
    assert!(q.contains("label: not one of the allowed values"), "{q}");
    // Nothing of the failed ones is visible, and the hang cost its timeout,
    // not the run.
    for n in ["crash", "spin", "hog"] {
        assert!(
            !b.out()
                .join(format!("datasets/fixture_rows/source={n}"))
                .join("part-0.parquet")
                .exists()
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // The config is checked: limits need process isolation.
    let cfg = config_with(
        b.dir.path(),
        &b.public,
        &format!(
            "[[sources]]\nname = \"x\"\nlibrary = \"{}\"\ntimeout_secs = 5\n[sources.options]\nmode = \"ok\"\n",
            lib.display()
        ),
    );
    let o = run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("need isolation = \"process\""),
        "{}",
        text(&o)
    );
}

/// True when process `pid` has a child (read from /proc: no tools needed).
fn has_child(pid: u32) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // pid (comm) state ppid ...; comm may hold spaces, so split
            // after its closing parenthesis.
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok())
                == Some(pid)
        })
}

/// Cancelling a run reaches a plugin in its own process: SIGTERM to eqpipe
/// sends the child `cancel`, the plugin sees it and stops, the step is
/// recorded cancelled and no child is left behind.
#[test]
fn an_isolated_plugin_sees_cancellation() {
    let lib = cdylib("eqpipe-fixture-misbehaving");
    let b = Beside::new();
    let cfg = config_with(
        b.dir.path(),
        &b.public,
        &format!(
            "[[sources]]\nname = \"waiting\"\nlibrary = \"{}\"\nisolation = \"process\"\n[sources.options]\nmode = \"wait-for-cancel\"\n",
            lib.display()
        ),
    );
    let child = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the plugin process to start, then stop the run.
    let t = std::time::Instant::now();
    let pid = child.id().to_string();
    loop {
        if has_child(child.id()) {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 30,
            "the plugin process never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let m = last_manifest(&b.out());
    assert_eq!(source(&m, "waiting")["status"], "cancelled", "{m:#}");
    assert!(
        source(&m, "waiting")["error"]
            .as_str()
            .unwrap()
            .contains("cancel"),
        "{m:#}"
    );
}

fn kv_abi(out: &Path) -> String {
    let (_, _, kv, _) =
        read_parquet(&out.join("datasets/library_visits/source=visits/part-0.parquet"));
    kv["eqpipe.plugin_abi"].clone()
}

/// Builds `examples/c-plugin/library_visits.c` with the system C compiler
/// against the cbindgen header.
fn build_c_plugin(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = dir.join("liblibrary_visits.so");
    let o = std::process::Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-shared",
            "-fPIC",
            "-I",
        ])
        .arg(root.join("plugins/abi/include"))
        .arg(root.join("examples/c-plugin/library_visits.c"))
        .arg("-o")
        .arg(&lib)
        .output()
        .expect("a C compiler (cc)");
    assert!(o.status.success(), "{}", text(&o));
    lib
}

/// A plugin written in C against the generated header loads, runs,
/// declares its own contract, passes the conformance kit, and reports an
/// error whose message it allocated and frees itself. It was written
/// against ABI 1.0 and says so; the host records that in provenance.
#[test]
fn a_plugin_written_in_c_loads_and_runs() {
    let b = Beside::new();
    let lib = build_c_plugin(b.dir.path());
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"visits\"\nlibrary = \"{0}\"\n\
         [[sources]]\nname = \"broken-visits\"\nlibrary = \"{0}\"\n[sources.options]\nfail = true\n",
        lib.display()
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let visits = source(&m, "visits");
    assert_eq!(visits["status"], "succeeded", "{m:#}");
    assert_eq!(visits["plugin_version"], "1.0.0");
    // Built against the previous minor version (1.0), loaded by a 1.3 host.
    assert_eq!(visits["plugin_abi"], "1.0");
    assert_eq!(m["abi_version"], "1.3");
    assert_eq!(kv_abi(&b.out()), "1.0");
    assert_eq!(visits["datasets"]["library_visits"]["rows"], 3);
    let (schema, rows, kv, batches) = read_parquet(
        &b.out()
            .join("datasets/library_visits/source=visits/part-0.parquet"),
    );
    assert_eq!(rows, 3);
    assert_eq!(kv["eqpipe.plugin"], "library-visits");
    assert!(matches!(
        schema.field_with_name("branch").unwrap().data_type(),
        arrow_schema::DataType::Dictionary(_, _)
    ));
    let visits_col =
        eqpipe_plugin_sdk::f64_values(batches[0].column_by_name("visits").unwrap().as_ref())
            .unwrap();
    assert_eq!(visits_col, vec![Some(1520.0), Some(830.0), Some(410.0)]);
    assert!(
        text(&o).contains("counting library visits (a plugin in C)"),
        "{}",
        text(&o)
    );
    let e = source(&m, "broken-visits")["error"].as_str().unwrap();
    assert!(e.contains("the visits export has no header row"), "{e}");
    // The conformance kit passes it, in its own process too.
    let o = run(&["plugins", "check", lib.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let b = Beside::new();
    let (o, m) = b.run(&format!(
        "[[sources]]\nname = \"visits\"\nlibrary = \"{}\"\nisolation = \"process\"\n",
        lib.display()
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        source(&m, "visits")["datasets"]["library_visits"]["rows"],
        3
    );
}
