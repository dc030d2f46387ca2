//! Process plugins (`command = [...]`): the Python partner example against
//! a paged JSON API on a local server, a Python indicator reading its input
//! through the host, a partner's Python source kept out of another
//! partner's folders and secrets, and plugins that misbehave (print to
//! stdout, die mid-stream, send a malformed or late message, hang, run out
//! of memory, emit the wrong columns) failing alone with a clear message.
//!
//! They need a Python with pyarrow and the SDK (`plugins/sdk-python`):
//! `$EQPIPE_PYTHON`, else `.venv/bin/python` (which `tests/run.sh` makes).
//! Without one they are skipped, unless `EQPIPE_REQUIRE_PYTHON` is set (CI).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::Array;
use common::{TestServer, files_under, last_manifest, read_parquet, text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python to run plugins with, if it has the SDK.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("EQPIPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    let ok = std::process::Command::new(&p)
        .args(["-c", "import pyarrow, eqpipe_plugin"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(p);
    }
    if std::env::var_os("EQPIPE_REQUIRE_PYTHON").is_some() {
        panic!(
            "no Python with pyarrow and eqpipe_plugin at {} (EQPIPE_REQUIRE_PYTHON is set)",
            p.display()
        );
    }
    eprintln!("skipped: no Python with pyarrow and eqpipe_plugin (bash tests/run.sh makes one)");
    None
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.to_string_lossy())
}

/// Month, ward, age band, sex, ethnic group, reason, referrals (as sent).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

const PAGE_ROWS: &[Row] = &[
    (
        "2026-03",
        "E05011360",
        "65+",
        "F",
        Some("White: British"),
        "Loneliness",
        "1,204",
    ),
    ("2026-03", "E05011361", "18-64", "M", None, "Debt", "7"),
    (
        "2026-03",
        "E05011362",
        "18-64",
        "F",
        Some("Black: African"),
        "Housing",
        "23",
    ),
    (
        "2026-04",
        "E05011360",
        "65+",
        "F",
        Some("Asian: Pakistani"),
        "Loneliness",
        "12",
    ),
    // Sex outside the contract, and a suppression marker: quarantined.
    (
        "2026-04",
        "E05011361",
        "65+",
        "X",
        Some("Asian: Pakistani"),
        "Loneliness",
        "n/a",
    ),
    (
        "2026-04",
        "E05011362",
        "0-17",
        "U",
        Some("Mixed: Other"),
        "Wellbeing",
        "2,001",
    ),
    (
        "2026-05",
        "E05011360",
        "65+",
        "M",
        Some("White: Irish"),
        "Bereavement",
        "5",
    ),
];

/// The API's pages, Django REST Framework style, two rows a page.
fn page(base: &str, n: usize) -> Vec<u8> {
    let rows: Vec<serde_json::Value> = PAGE_ROWS
        .iter()
        .skip((n - 1) * 2)
        .take(2)
        .map(|r| {
            serde_json::json!({"month": r.0, "ward": r.1, "age_band": r.2, "sex": r.3,
                "ethnic_group": r.4, "reason": r.5, "referrals": r.6})
        })
        .collect();
    let last = PAGE_ROWS.len().div_ceil(2);
    let next = (n < last).then(|| format!("{base}api/referrals/?page={}", n + 1));
    serde_json::to_vec(
        &serde_json::json!({"count": PAGE_ROWS.len(), "next": next, "results": rows}),
    )
    .unwrap()
}

#[test]
fn the_python_partner_source_reads_a_paged_api_through_the_host() {
    let Some(py) = python() else { return };
    const KEY: &str = "py-partner-api-key-5e1f";
    let base: Arc<OnceLock<String>> = Arc::default();
    let b = base.clone();
    let server = TestServer::start(Box::new(move |url, headers| {
        if headers.get("x-api-key").map(String::as_str) != Some(KEY) {
            return (401, vec![], b"no key".to_vec());
        }
        let n = url
            .split("page=")
            .nth(1)
            .and_then(|s| s.split('&').next()?.parse().ok())
            .unwrap_or(1);
        (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            page(b.get().unwrap(), n),
        )
    }));
    base.set(server.base.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = repo().join("examples/partner-plugin-python/referrals_api.py");
    std::fs::write(
        dir.path().join("eqpipe.toml"),
        format!(
            "[[sources]]\nname = \"referrals\"\ncommand = [{}, {}]\nmax_rejected_pct = 50\ntimeout_secs = 120\n[sources.options]\nbase_url = \"{}api/referrals/\"\npage_size = 2\napi_key_env = \"TEST_PY_REFERRALS_KEY\"\n",
            toml_str(&py),
            toml_str(&script),
            server.base
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = common::eqpipe()
        .env("TEST_PY_REFERRALS_KEY", KEY)
        .args(["run", "--config"])
        .arg(dir.path().join("eqpipe.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let said = text(&o);
    // One row quarantined: the run succeeds with warnings (exit 4).
    assert_eq!(o.status.code(), Some(4), "{said}");
    assert_eq!(server.hits(), 4, "four pages, each once");

    // The expected figures, from the pages as sent.
    let valid: Vec<_> = PAGE_ROWS.iter().filter(|r| r.3 != "X").collect();
    let expected_total: i64 = valid
        .iter()
        .map(|r| r.6.replace(',', "").parse::<i64>().unwrap())
        .sum();
    let file = out
        .join("restricted/datasets/social_prescribing_referrals/source=referrals/part-0.parquet");
    let (schema, rows, kv, batches) = read_parquet(&file);
    assert_eq!(rows, valid.len());
    let idx = schema.index_of("referrals").unwrap();
    let total: i64 = batches
        .iter()
        .map(|b| {
            let a = b
                .column(idx)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            (0..a.len()).map(|i| a.value(i)).sum::<i64>()
        })
        .sum();
    assert_eq!(total, expected_total);
    let month = schema.index_of("month").unwrap();
    assert_eq!(
        schema.field(month).data_type(),
        &arrow_schema::DataType::Date32
    );
    // Provenance names the Python plugin and its version.
    let prov: String = kv.values().cloned().collect::<Vec<_>>().join(" ");
    assert!(prov.contains("referrals-api"), "{kv:?}");

    let m = last_manifest(&out);
    let step = &m["sources"][0];
    assert_eq!(step["plugin_version"], "0.1.0", "{step}");
    assert_eq!(step["plugin_abi"], "process 1.0", "{step}");
    let quarantine = files_under(&out.join("restricted/quarantine"));
    assert_eq!(quarantine.len(), 1);
    let q = std::fs::read_to_string(&quarantine[0]).unwrap();
    assert!(q.contains("sex: not one of the allowed values"), "{q}");

    // The key reached the server and nothing else.
    assert!(!said.contains(KEY));
    for f in files_under(&out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the API key is in {}",
            f.display()
        );
    }
}

const CONTRACT: &str = r#"{"name": "pp_counts", "version": 1, "description": "test counts",
    "columns": [{"name": "area", "type": "utf8"}, {"name": "n", "type": "int64", "min": 0}]}"#;

/// A plugin on the SDK whose `run` body is `body` (indented four spaces).
fn sdk_plugin(dir: &Path, name: &str, kind: &str, body: &str, extra: &str) -> PathBuf {
    let class = if kind == "source" {
        "Source"
    } else {
        "Indicator"
    };
    let produces = if kind == "source" {
        format!("[{CONTRACT}]")
    } else {
        r#"[{"name": "pp_totals", "version": 1, "description": "totals",
            "columns": [{"name": "area", "type": "utf8"}, {"name": "total", "type": "int64", "nullable": True},
                {"name": "suppressed", "type": "boolean"}],
            "disclosure": {"counts": ["total"]}}]"#
            .to_string()
    };
    let p = dir.join(format!("{name}.py"));
    let name = name.replace('_', "-");
    std::fs::write(
        &p,
        format!(
            "import os, sys, time\nimport pyarrow as pa\nfrom eqpipe_plugin import {class}, DataError, run\n\nclass P({class}):\n    name = \"{name}\"\n    version = \"1.2.3\"\n    produces = {produces}\n{extra}\n    def run(self, ctx):\n{body}\n\nif __name__ == \"__main__\":\n    run(P())\n"
        ),
    )
    .unwrap();
    p
}

/// A plugin speaking the protocol by hand, its lines after the handshake.
fn raw_plugin(dir: &Path, name: &str, after: &str) -> PathBuf {
    let manifest = format!(
        r#"{{"type": "manifest", "protocol": "1.0", "manifest": {{"name": "{}", "version": "0.0.1", "kind": "source", "produces": [{{"name": "pp_counts", "contract": {CONTRACT}}}]}}}}"#,
        name.replace('_', "-")
    )
    .replace('\n', " ");
    let p = dir.join(format!("{name}.py"));
    std::fs::write(
        &p,
        format!(
            "import json, os, sys, time\nsys.stdin.readline()\nout = sys.stdout.buffer\nout.write(({manifest:?} + '\\n').encode()); out.flush()\n{after}\n"
        ),
    )
    .unwrap();
    p
}

fn source(name: &str, py: &Path, script: &Path, extra: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\ncommand = [{}, {}]\n{extra}\n",
        toml_str(py),
        toml_str(script)
    )
}

fn run_config(dir: &Path, config: &str) -> (std::process::Output, serde_json::Value) {
    std::fs::write(dir.join("eqpipe.toml"), config).unwrap();
    let out = dir.join("out");
    let o = common::eqpipe()
        .env("SOMEONE_ELSES_SECRET", "do-not-send-me")
        .args(["run", "--config"])
        .arg(dir.join("eqpipe.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let m = last_manifest(&out);
    (o, m)
}

fn steps(m: &serde_json::Value, kind: &str) -> HashMap<String, (String, String)> {
    m[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                (
                    s["status"].as_str().unwrap_or("").to_string(),
                    s["error"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

const EMIT: &str = "        ctx.emit(\"pp_counts\", [{\"area\": \"E05011360\", \"n\": 3}, {\"area\": \"E05011361\", \"n\": \"1,500\"}, {\"area\": \"E05011360\", \"n\": 4}])";

#[test]
fn process_plugins_that_misbehave_fail_alone_with_a_clear_message() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cfg = String::new();
    let mut add =
        |name: &str, script: PathBuf, extra: &str| cfg.push_str(&source(name, &py, &script, extra));
    add("good", sdk_plugin(d, "good", "source", EMIT, ""), "");
    add(
        "chatty",
        sdk_plugin(
            d,
            "chatty",
            "source",
            &format!(
                "        print('hello from print()')\n        os.write(1, b'and from fd 1\\n')\n{EMIT}"
            ),
            "",
        ),
        "",
    );
    add(
        "raw_print",
        raw_plugin(
            d,
            "raw_print",
            "print('debugging: got here', flush=True)\ntime.sleep(0.2)",
        ),
        "",
    );
    add(
        "dies",
        sdk_plugin(
            d,
            "dies",
            "source",
            &format!(
                "{EMIT}\n        sys.stderr.write('about to die\\n'); sys.stderr.flush()\n        os._exit(3)"
            ),
            "",
        ),
        "",
    );
    add(
        "short_frame",
        raw_plugin(
            d,
            "short_frame",
            "out.write(b'{\"type\": \"batch\", \"dataset\": \"pp_counts\", \"bytes\": 100}\\nabc'); out.flush()",
        ),
        "",
    );
    add(
        "late",
        raw_plugin(
            d,
            "late",
            "out.write(b'{\"type\": \"done\"}\\n{\"type\": \"log\", \"message\": \"one more\"}\\n'); out.flush()",
        ),
        "",
    );
    add(
        "greedy",
        sdk_plugin(
            d,
            "greedy",
            "source",
            "        hoard = bytearray(2 << 30)\n        ctx.log(str(len(hoard)))",
            "",
        ),
        "memory_limit_mb = 400",
    );
    add(
        "hangs",
        sdk_plugin(d, "hangs", "source", "        time.sleep(120)", ""),
        "timeout_secs = 5",
    );
    add(
        "wrong_columns",
        sdk_plugin(
            d,
            "wrong_columns",
            "source",
            "        ctx.emit(\"pp_counts\", [{\"place\": \"x\", \"n\": 1}])",
            "",
        ),
        "",
    );
    add(
        "secret_taker",
        sdk_plugin(
            d,
            "secret_taker",
            "source",
            "        ctx.fetch('data.csv', secret_headers={'X-Key': 'SOMEONE_ELSES_SECRET'})",
            "",
        ),
        "",
    );
    add(
        "no_env",
        sdk_plugin(
            d,
            "no_env",
            "source",
            &format!(
                "        assert 'SOMEONE_ELSES_SECRET' not in os.environ, 'a secret leaked'\n{EMIT}"
            ),
            "",
        ),
        "",
    );
    add(
        "bug",
        sdk_plugin(d, "bug", "source", "        {}['missing']", ""),
        "",
    );
    std::fs::write(d.join("data.csv"), "a\n1\n").unwrap();
    let (o, m) = run_config(d, &cfg);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(3), "a partial run: {said}");
    let s = steps(&m, "sources");
    let ok = |n: &str| {
        assert_eq!(s[n].0, "succeeded", "{n}: {:?}", s[n]);
    };
    ok("good");
    ok("chatty");
    ok("no_env");
    let failed = |n: &str, wants: &[&str]| {
        let (status, error) = &s[n];
        assert_eq!(status, "failed", "{n}: {error}");
        for w in wants {
            assert!(error.contains(w), "{n}: `{w}` not in: {error}");
        }
    };
    failed(
        "raw_print",
        &["`debugging: got here`", "must not print to stdout"],
    );
    failed("dies", &["exited with code 3", "about to die"]);
    failed("short_frame", &["promised 100 bytes and sent 3"]);
    failed("late", &["a `log` message after it had ended"]);
    failed("greedy", &["MemoryError", "memory limit of 400 MB"]);
    failed("hangs", &["did not finish within 5 s"]);
    failed("wrong_columns", &["place"]);
    failed(
        "secret_taker",
        &["SOMEONE_ELSES_SECRET", "its options do not name"],
    );
    failed("bug", &["KeyError", "bug.py"]);
    // What the chatty plugin printed was logged, not taken as protocol.
    assert!(
        said.contains("hello from print()") && said.contains("and from fd 1"),
        "{said}"
    );
    assert!(!said.contains("do-not-send-me"));
    // The good plugin's rows, parsed by the host (`1,500` is 1500).
    let (_, rows, _, batches) =
        read_parquet(&d.join("out/datasets/pp_counts/source=good/part-0.parquet"));
    assert_eq!(rows, 3);
    let n = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap();
    assert_eq!(n.iter().flatten().sum::<i64>(), 3 + 1500 + 4);
}

#[test]
fn a_python_indicator_reads_its_input_through_the_host_and_is_disclosure_controlled() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Counts per area: E05011360 gets 3 + 4 + 20 = 27, E05011361 1500,
    // E05011362 2 (below the threshold of 10: suppressed).
    let src = sdk_plugin(
        d,
        "counts",
        "source",
        "        ctx.emit(\"pp_counts\", [{\"area\": \"E05011360\", \"n\": 3}, {\"area\": \"E05011361\", \"n\": \"1,500\"}, {\"area\": \"E05011360\", \"n\": 4}])\n        ctx.emit(\"pp_counts\", [{\"area\": \"E05011360\", \"n\": 20}, {\"area\": \"E05011362\", \"n\": 2}])",
        "",
    );
    let ind = sdk_plugin(
        d,
        "totals",
        "indicator",
        "        assert ctx.inputs['pp_counts'] == ['area', 'n'], ctx.inputs\n        totals = {}\n        for b in ctx.open_input('pp_counts', columns=['area', 'n']):\n            for a, n in zip(b.column('area').to_pylist(), b.column('n').to_pylist()):\n                totals[a] = totals.get(a, 0) + n\n        try:\n            ctx.open_input('workforce')\n        except DataError as e:\n            ctx.log(f'as expected: {e}')\n        ctx.emit('pp_totals', [{'area': a, 'total': t, 'suppressed': False} for a, t in sorted(totals.items())])",
        "    consumes = [\"pp_counts\"]\n",
    );
    let cfg = format!(
        "{}[[indicators]]\ncommand = [{}, {}]\n",
        source("counts", &py, &src, ""),
        toml_str(&py),
        toml_str(&ind)
    );
    let (o, m) = run_config(d, &cfg);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert_eq!(
        steps(&m, "indicators")["pp_totals"].0,
        "succeeded",
        "{said}"
    );
    assert!(said.contains("is not an input of this step"), "{said}");
    let (schema, rows, _, batches) =
        read_parquet(&d.join("out/indicators/pp_totals/part-0.parquet"));
    assert_eq!(rows, 3);
    let b = &batches[0];
    let area = arrow_cast::display::ArrayFormatter::try_new(
        b.column(schema.index_of("area").unwrap()).as_ref(),
        &Default::default(),
    )
    .unwrap();
    let total = b
        .column(schema.index_of("total").unwrap())
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap();
    let got: Vec<(String, Option<i64>)> = (0..rows)
        .map(|i| {
            (
                area.value(i).to_string(),
                total.is_valid(i).then(|| total.value(i)),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("E05011360".to_string(), Some(27)),
            ("E05011361".to_string(), Some(1500)),
            ("E05011362".to_string(), None),
        ]
    );
}

#[test]
fn a_partners_python_source_cannot_read_another_partners_inbox_through_the_host() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for id in ["north", "south"] {
        std::fs::create_dir_all(d.join("inboxes").join(id)).unwrap();
        std::fs::write(
            d.join("inboxes").join(id).join("counts.csv"),
            "area,n\nE05011360,5\n",
        )
        .unwrap();
    }
    let body = "        r = ctx.fetch(ctx.options['path'])\n        rows = [dict(zip(['area', 'n'], l.split(','))) for l in r.text().splitlines()[1:]]\n        ctx.emit('pp_counts', rows)";
    let reader = sdk_plugin(
        d,
        "inbox_reader",
        "source",
        body,
        "    config_schema = {\"type\": \"object\", \"properties\": {\"path\": {\"type\": \"string\"}}}\n",
    );
    let mut cfg = String::from("output_dir = \"out\"\n[partnership]\nid = \"p\"\nname = \"P\"\n\n");
    for (id, path) in [
        ("north", "inboxes/north/counts.csv"),
        ("south", "inboxes/north/counts.csv"),
    ] {
        cfg.push_str(&source(
            &format!("{id}_counts"),
            &py,
            &reader,
            &format!("[sources.options]\npath = \"{path}\""),
        ));
    }
    for id in ["north", "south"] {
        cfg.push_str(&format!(
            "[[partners]]\nid = \"{id}\"\nname = \"{id}\"\nsources = [\"{id}_counts\"]\nkey_env = \"PP_KEY_{}\"\ninbox = \"inboxes/{id}\"\n\n",
            id.to_uppercase()
        ));
    }
    std::fs::write(d.join("eqpipe.toml"), &cfg).unwrap();
    let o = common::eqpipe()
        .env("PP_KEY_NORTH", "north-key-0123456789abcdef0123456789")
        .env("PP_KEY_SOUTH", "south-key-0123456789abcdef0123456789")
        .args(["run", "--config"])
        .arg(d.join("eqpipe.toml"))
        .output()
        .unwrap();
    let said = text(&o);
    assert!(d.join("out/runs").exists(), "{said}");
    let m = last_manifest(&d.join("out"));
    let s = steps(&m, "sources");
    assert_eq!(s["north_counts"].0, "succeeded", "{said}");
    assert_eq!(s["south_counts"].0, "failed", "{said}");
    assert!(
        s["south_counts"].1.contains("partner `south` may not read"),
        "{:?}",
        s["south_counts"]
    );
}

/// `PATH` with the test's Python first, so `python3` in a config is it.
fn path_with(py: &Path) -> std::ffi::OsString {
    let bin = py.parent().unwrap().to_path_buf();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

#[test]
fn the_python_templates_pass_the_conformance_kit_and_run_untouched() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, kind, script, checks) in [
        (
            "my-referrals",
            "source",
            "my_referrals.py",
            "8 passed, 0 failed",
        ),
        (
            "my-totals",
            "indicator",
            "my_totals.py",
            "6 passed, 0 failed",
        ),
    ] {
        let o = common::eqpipe()
            .args([
                "plugins", "new", name, "--lang", "python", "--kind", kind, "--dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let root = dir.path().join(name);
        let o = common::eqpipe()
            .current_dir(&root)
            .env("PATH", path_with(&py))
            .args(["plugins", "check", script])
            .output()
            .unwrap();
        let said = text(&o);
        assert!(
            o.status.success() && said.contains(checks),
            "{name}: {said}"
        );
        assert!(said.contains("PASS protocol version"), "{said}");
    }
    // The source's example config runs it; its rows are the template's.
    let root = dir.path().join("my-referrals");
    let o = common::eqpipe()
        .current_dir(&root)
        .env("PATH", path_with(&py))
        .args(["--quiet", "run", "--config", "eqpipe.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, rows, _, _) = read_parquet(
        &root.join("out/datasets/my_referrals_rows/source=my_referrals/part-0.parquet"),
    );
    assert_eq!(rows, 3);
}

#[test]
fn the_conformance_kit_fails_a_process_plugin_that_breaks_the_protocol() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let check = |script: &Path| {
        let o = common::eqpipe()
            .args(["plugins", "check"])
            .arg(&py)
            .arg(script)
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    };
    // A manifest with a version that is not semver.
    let bad = d.join("bad_manifest.py");
    std::fs::write(
        &bad,
        "import sys\nsys.stdin.readline()\nsys.stdout.write('{\"type\": \"manifest\", \"protocol\": \"1.0\", \"manifest\": {\"name\": \"bad\", \"version\": \"one\", \"kind\": \"source\"}}\\n')\n",
    )
    .unwrap();
    let (code, said) = check(&bad);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAIL answers hello with a manifest") && said.contains("not semver"),
        "{said}"
    );
    // Silence: a program that is not a plugin at all.
    let silent = d.join("silent.py");
    std::fs::write(&silent, "print('I am not a plugin')\n").unwrap();
    let (code, said) = check(&silent);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("`I am not a plugin`"), "{said}");
    // A crash mid-run, and a batch of the wrong shape.
    let crash = sdk_plugin(d, "crashes", "source", "        os._exit(9)", "");
    let (code, said) = check(&crash);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAIL run and validate") && said.contains("exited with code 9"),
        "{said}"
    );
    let wrong = sdk_plugin(
        d,
        "wrong",
        "source",
        "        ctx.emit('pp_counts', [{'area': 'x', 'n': 'many'}])",
        "",
    );
    let (code, said) = check(&wrong);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("FAIL run and validate"), "{said}");
}

#[test]
fn an_unchanged_process_plugin_is_not_run_again_and_an_edited_one_is() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("counts.csv"), "area,n\nE05011360,5\nE05011361,7\n").unwrap();
    let body = "        r = ctx.fetch('counts.csv')\n        rows = [dict(zip(['area', 'n'], l.split(','))) for l in r.text().splitlines()[1:]]\n        ctx.emit('pp_counts', rows)";
    let script = sdk_plugin(d, "reader", "source", body, "");
    let cfg = source("reader", &py, &script, "");
    let status = |m: &serde_json::Value| m["sources"][0]["status"].as_str().unwrap().to_string();
    let (o, m) = run_config(d, &cfg);
    assert_eq!(status(&m), "succeeded", "{}", text(&o));
    let (_, m) = run_config(d, &cfg);
    assert_eq!(status(&m), "unchanged");
    // The same name and version, a different script: it runs again.
    let edited = std::fs::read_to_string(&script).unwrap().replace(
        "ctx.emit('pp_counts', rows)",
        "ctx.emit('pp_counts', rows[:1])",
    );
    std::fs::write(&script, edited).unwrap();
    // (The config is as it was: only the script's digest changed. Two rows
    // to one is a 50% fall, within [quality] max_shrink_pct.)
    let (o, m) = run_config(d, &cfg);
    assert!(status(&m).starts_with("succeeded"), "{}", text(&o));
    let (_, rows, _, _) =
        read_parquet(&d.join("out/datasets/pp_counts/source=reader/part-0.parquet"));
    assert_eq!(rows, 1);
}

/// A Python source on a real published file: Oxford City Council's
/// "expenditure over £500", October to December 2017 (quoted names with
/// commas, `DD/MM/YYYY` dates, amounts with 0, 1 or 2 decimals, negatives),
/// read through `ctx.fetch` and emitted as text for the host to parse.
#[test]
fn a_python_source_reads_a_real_council_spend_file_through_the_host() {
    let Some(py) = python() else { return };
    let real =
        repo().join("../shared/data/real/spend/oxford-expenditure-over-500-oct-dec-2017.csv");
    let real = real
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", real.display()));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let contract = r#"{"name": "py_spend", "version": 1, "description": "spend lines",
        "columns": [{"name": "service_area", "type": "utf8", "categorical": true},
                    {"name": "paid_date", "type": "date"},
                    {"name": "amount", "type": "float64", "decimals": 2}]}"#;
    let script = d.join("spend.py");
    std::fs::write(
        &script,
        format!(
            "import csv, io\nfrom eqpipe_plugin import Source, run\n\nclass P(Source):\n    name = 'py-spend'\n    version = '1.0.0'\n    produces = [{contract}]\n    config_schema = {{'type': 'object', 'properties': {{'path': {{'type': 'string'}}}}}}\n\n    def run(self, ctx):\n        text = ctx.fetch(ctx.options['path']).text()\n        rows = [{{'service_area': r['Service Area'], 'paid_date': r['Paid Date'], 'amount': r['Amount']}} for r in csv.DictReader(io.StringIO(text))]\n        ctx.emit('py_spend', rows)\n\nif __name__ == '__main__':\n    run(P())\n"
        )
        .replace("true}", "True}"),
    )
    .unwrap();
    let cfg = format!(
        "{}[sources.parse]\ndate_format = \"%d/%m/%Y\"\n[sources.options]\npath = {}\n",
        source("spend", &py, &script, ""),
        toml_str(&real)
    );
    let (o, m) = run_config(d, &cfg);
    // Every row read, none lost: a plain success.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(m["sources"][0]["status"], "succeeded");

    // The expected figures, from the raw file with the csv crate.
    let mut r = csv::Reader::from_path(&real).unwrap();
    let h = r.headers().unwrap().clone();
    let amount = h.iter().position(|c| c == "Amount").unwrap();
    let (mut n, mut total) = (0usize, 0f64);
    for rec in r.records() {
        let rec = rec.unwrap();
        n += 1;
        total += rec[amount].parse::<f64>().unwrap();
    }
    assert_eq!(n, 3855, "the README's row count");
    let (schema, rows, _, batches) =
        read_parquet(&d.join("out/datasets/py_spend/source=spend/part-0.parquet"));
    assert_eq!(rows, n);
    let i = schema.index_of("amount").unwrap();
    let got: f64 = batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column(i)
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            a.iter().flatten().collect::<Vec<_>>()
        })
        .sum();
    assert!((got - total).abs() < 0.005, "stored {got}, raw {total}");
    let j = schema.index_of("paid_date").unwrap();
    assert_eq!(schema.field(j).data_type(), &arrow_schema::DataType::Date32);
}

/// A plugin that stops when asked may be gone before the host's answer to
/// its last request reaches it: the step is cancelled, not failed, and the
/// conformance kit passes it (the partner example, cancelled while its
/// first fetch is retried against a port nothing listens on).
#[test]
fn a_plugin_gone_after_cancellation_honoured_it() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/partner-plugin-python/referrals_api.py");
    std::fs::copy(&script, dir.path().join("referrals_api.py")).unwrap();
    std::fs::write(
        dir.path().join("check.toml"),
        "[[sources]]\nname = \"referrals\"\ncommand = [\"python3\", \"referrals_api.py\"]\n[sources.options]\nbase_url = \"http://127.0.0.1:9/api/referrals/\"\napi_key_env = \"EQPIPE_TEST_REFERRALS_KEY\"\n",
    )
    .unwrap();
    let o = common::eqpipe()
        .current_dir(dir.path())
        .env("PATH", path_with(&py))
        .env("EQPIPE_TEST_REFERRALS_KEY", "not-a-real-key")
        .args([
            "plugins",
            "check",
            "referrals_api.py",
            "--config",
            "check.toml",
        ])
        .output()
        .unwrap();
    let said = text(&o);
    assert!(said.contains("PASS honours cancellation"), "{said}");
    assert!(
        said.contains("FAIL run and validate") && said.contains("connection refused"),
        "{said}"
    );
    assert!(!said.contains("cannot answer the plugin"), "{said}");
}
