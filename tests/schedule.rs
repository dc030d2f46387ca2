//! Unattended operation: the scheduler daemon on a seconds-level cron, no
//! overlapping runs under a slow source, SIGTERM mid-run, SIGKILL mid-write,
//! and the output lock (a live holder refused, a stale one recovered).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn setup(schedule: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
        .unwrap()
        .public_dir;
    let slow = cdylib("eqpipe-fixture-misbehaving");
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n[[sources]]\nname = \"slow\"\nlibrary = \"{}\"\n[sources.options]\nmode = \"slow\"\n{schedule}",
            public.display(),
            slow.display()
        ),
    )
    .unwrap();
    (dir, cfg)
}

fn manifests(out: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("runs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_fires_on_schedule_never_overlaps_and_stops_cleanly_on_sigterm() {
    let (dir, cfg) = setup(
        "[[schedules]]\nname = \"every-second\"\ncron = \"* * * * * *\"\ntimezone = \"Europe/London\"\noverlap = \"skip\"\n",
    );
    let out = dir.path().join("out");
    let log = dir.path().join("daemon.log");
    let mut child = eqpipe()
        .args([
            "--log-format",
            "json",
            "schedule",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Two finished runs, then SIGTERM in the middle of the third.
    wait_for("two runs", Duration::from_secs(60), || {
        manifests(&out).len() >= 2
    });
    wait_for("the third run to start", Duration::from_secs(20), || {
        out.join(".eqpipe.lock").exists()
    });
    let census = out.join("datasets/census_counts/source=census/part-0.parquet");
    let rows_before = read_parquet(&census).1;
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{logs}");

    let runs = manifests(&out);
    assert!(runs.len() >= 3, "{} runs", runs.len());
    // Runs never overlap, and firings during a run were skipped.
    for w in runs.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            a["finished_at"].as_str().unwrap() <= b["started_at"].as_str().unwrap(),
            "{} overlaps {}",
            a["run_id"],
            b["run_id"]
        );
        assert_eq!(a["schedule"], "every-second");
    }
    assert!(logs.contains("firings skipped"), "{logs}");
    // The run cut short by SIGTERM is recorded as cancelled; every earlier
    // one succeeded; the last good census output is untouched.
    assert_eq!(runs.last().unwrap()["outcome"], "cancelled");
    assert!(
        runs[..runs.len() - 1]
            .iter()
            .all(|m| m["outcome"] == "success")
    );
    // (The census step may have finished within the cancelled run: either
    // way the file is whole, with the same rows.)
    assert_eq!(read_parquet(&census).1, rows_before);
    assert!(!out.join(".eqpipe.lock").exists(), "the lock is released");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("schedules.json")).unwrap()).unwrap();
    assert!(state["last"]["every-second"].is_string());
    // History through the CLI.
    let o = run(&["runs", "list", "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(text(&o).matches("every-second").count(), runs.len());
    let o = run(&["runs", "show", "--out", out.to_str().unwrap(), "latest"]);
    assert!(text(&o).contains("cancelled"), "{}", text(&o));
}

#[test]
fn a_killed_run_leaves_no_partial_file_and_the_next_run_recovers_the_lock() {
    let (dir, cfg) = setup("");
    let out = dir.path().join("out");
    // A first good run.
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let slow_part = out.join("datasets/fixture_rows/source=slow/part-0.parquet");
    let before = std::fs::read(&slow_part).unwrap();
    // A second run, killed outright while the slow source works.
    let mut child = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the run to start", Duration::from_secs(20), || {
        out.join(".eqpipe.lock").exists()
    });
    std::thread::sleep(Duration::from_millis(1200));
    signal(&child, "-KILL");
    let _ = child.wait();
    // Nothing partial is visible: every part file is a whole Parquet file,
    // the slow source's is the last good one; the dead run's lock is left.
    for f in files_under(&out) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".parquet") && !name.starts_with('.') {
            assert!(
                read_parquet(&f).1 > 0 || name == "part-0.parquet",
                "{}",
                f.display()
            );
        }
    }
    assert_eq!(std::fs::read(&slow_part).unwrap(), before);
    assert!(
        out.join(".eqpipe.lock").exists(),
        "a killed process cannot release its lock"
    );
    // The next run takes the stale lock over and succeeds.
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("stale lock"), "{}", text(&o));
    assert!(!out.join(".eqpipe.lock").exists());
    assert!(
        files_under(&out)
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".tmp")),
        "temporaries of the killed run are cleaned up"
    );
}

#[test]
fn a_live_lock_holder_is_named_and_the_run_refused() {
    let (dir, cfg) = setup("");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // pid 1 is always alive.
    std::fs::write(out.join(".eqpipe.lock"), "1\n2026-11-22T01:00:00+00:00\n").unwrap();
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("another eqpipe (pid 1"), "{}", text(&o));
    assert!(!out.join("runs").exists(), "nothing was written");
}

/// Incremental runs: the second run of an unchanged config re-runs nothing
/// (sources replay their fetches and compare, indicators compare their
/// input files); a changed input reruns its source and the indicators that
/// read it; `--force` reruns everything.
#[test]
fn unchanged_sources_and_indicators_are_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
        .unwrap()
        .public_dir;
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{p}/\"\ntables = [\"TS008\"]\ngeography = [\"wd\", \"ltla\"]\n[[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\n[sources.options]\nurl = \"{p}/{imd}\"\n[[indicators]]\nplugin = \"community-profile\"\n[indicators.options]\ncomparators = [\"E08999001\"]\n",
            p = public.display(),
            imd = eqpipe_engine::demo::IMD_FILE
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = |m: &serde_json::Value, step: &str| -> String {
        m["sources"]
            .as_array()
            .unwrap()
            .iter()
            .chain(m["indicators"].as_array().unwrap())
            .find(|s| s["name"] == step)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let go = |extra: &[&str]| {
        let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        last_manifest(&out)
    };
    let first = go(&[]);
    assert_eq!(status(&first, "census"), "succeeded");
    let profile = out.join("indicators/community_profile/part-0.parquet");
    let bytes = std::fs::read(&profile).unwrap();
    std::thread::sleep(Duration::from_millis(20));

    let second = go(&[]);
    assert_eq!(second["outcome"], "success");
    for step in ["census", "imd", "community_profile"] {
        assert_eq!(status(&second, step), "unchanged", "{step}");
    }
    assert_eq!(std::fs::read(&profile).unwrap(), bytes, "outputs untouched");
    assert!(second["indicators"][0]["datasets"]["community_profile"]["file"].is_string());

    // A new edition of the census file: census and the profile rerun; the
    // deprivation source does not.
    let zip = public.join("census2021-ts008.zip");
    let content = rewrite_one_count(&std::fs::read(&zip).unwrap());
    std::fs::write(&zip, content).unwrap();
    let third = go(&[]);
    assert_eq!(status(&third, "census"), "succeeded");
    assert_eq!(status(&third, "imd"), "unchanged");
    assert_eq!(status(&third, "community_profile"), "succeeded");

    let forced = go(&["--force"]);
    for step in ["census", "imd", "community_profile"] {
        assert_eq!(status(&forced, step), "succeeded", "{step}");
    }
}

/// The same Nomis zip with the first ward's female count one higher (and
/// its total), so the content differs but still parses.
fn rewrite_one_count(zip_bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        if name.ends_with("-wd.csv") {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
            let bump = |s: &str| (s.parse::<i64>().unwrap() + 1).to_string();
            let mut new = cells.clone();
            new[3] = bump(&cells[3]);
            new[4] = bump(&cells[4]);
            lines[1] = new.join(",");
            text = lines.join("\n") + "\n";
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Observability: a partial run posts a short message to the webhook (URL
/// from the environment; no data in it) and every run leaves metrics.prom.
#[test]
fn a_failed_step_is_notified_and_every_run_writes_metrics() {
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = bodies.clone();
    let server = TestServer::start(Box::new(move |_url, headers| {
        seen.lock()
            .unwrap()
            .push(headers.get("content-type").cloned().unwrap_or_default());
        (200, vec![], b"ok".to_vec())
    }));
    let (dir, cfg) = setup("[notify]\nwebhook_url_env = \"EQPIPE_TEST_WEBHOOK\"\n");
    // Break the slow source: an unknown mode is a configuration error.
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("mode = \"slow\"", "mode = \"nonsense\"");
    std::fs::write(&cfg, text_cfg).unwrap();
    let o = eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env(
            "EQPIPE_TEST_WEBHOOK",
            format!("{}hook/secret-path-123", server.base),
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(server.hits(), 1, "one notification");
    assert_eq!(bodies.lock().unwrap()[0], "application/json");
    assert!(
        !text(&o).contains("secret-path-123"),
        "the webhook URL is a secret"
    );
    let metrics = std::fs::read_to_string(dir.path().join("out/metrics.prom")).unwrap();
    assert!(metrics.contains("eqpipe_run_success 0"), "{metrics}");
    assert!(
        metrics.contains("eqpipe_step_status{step=\"slow\",kind=\"source\",status=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("eqpipe_dataset_rows{step=\"census\",dataset=\"census_counts\"}"),
        "{metrics}"
    );
    // Every sample line is `name{labels} value`.
    for l in metrics.lines().filter(|l| !l.starts_with('#')) {
        let v = l.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "{l}");
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn sighup_reloads_a_valid_config_keeps_the_running_one_otherwise_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
        .unwrap()
        .public_dir;
    let cfg = dir.path().join("pipeline.toml");
    let write = |schedule: &str, cron: &str| {
        std::fs::write(
            &cfg,
            format!(
                "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n[[schedules]]\nname = \"{schedule}\"\ncron = \"{cron}\"\n",
                public.display()
            ),
        )
        .unwrap()
    };
    write("first", "* * * * * *");
    let out = dir.path().join("out");
    let log = dir.path().join("daemon.log");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut child = eqpipe()
        .args([
            "--log-format",
            "json",
            "schedule",
            "--config",
            cfg.to_str().unwrap(),
            "--metrics-addr",
            &addr,
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let runs_of = |name: &str| {
        manifests(&out)
            .iter()
            .filter(|m| m["schedule"] == name)
            .count()
    };
    wait_for("a run of `first`", Duration::from_secs(60), || {
        runs_of("first") >= 1
    });

    // A valid new config: the daemon switches to it.
    write("second", "* * * * * *");
    signal(&child, "-HUP");
    wait_for("a run of `second`", Duration::from_secs(60), || {
        runs_of("second") >= 1
    });
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("config reloaded"), "{logs}");

    // An invalid one is refused by name and the running config kept.
    write("third", "every full moon");
    signal(&child, "-HUP");
    wait_for("the refusal", Duration::from_secs(20), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("config not reloaded")
    });
    let before = runs_of("second");
    wait_for("more runs of `second`", Duration::from_secs(60), || {
        runs_of("second") > before
    });
    assert_eq!(runs_of("third"), 0);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("every full moon"),
        "the bad cron is named: {logs}"
    );

    // Metrics over HTTP: the last run's and the daemon's own counters.
    let m = http_get(&addr, "/metrics");
    assert!(
        m.starts_with("HTTP/1.1 200") || m.starts_with("HTTP/1.0 200"),
        "{m}"
    );
    assert!(m.contains("text/plain; version=0.0.4"), "{m}");
    assert!(m.contains("eqpipe_run_success 1"), "{m}");
    assert!(m.contains("eqpipe_daemon_reloads_total 1\n"), "{m}");
    assert!(m.contains("eqpipe_daemon_reload_failures_total 1\n"), "{m}");
    let runs: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("eqpipe_daemon_runs_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(runs >= 3, "{m}");
    assert!(http_get(&addr, "/").contains(" 404 "));

    signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Per-run versions: each run's files are kept (hard links) for the newest
/// `[versions] keep` runs, older ones pruned; a bad run is rolled back with
/// `eqpipe runs restore`, after which every step runs in full again.
#[test]
fn versions_are_kept_pruned_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
        .unwrap()
        .public_dir;
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[versions]\nkeep = 2\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}/\"\ntables = [\"TS008\"]\ngeography = [\"wd\"]\n",
            public.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let go = || {
        let o = run(&["run", "--config", cfg.to_str().unwrap(), "--force"]);
        assert!(o.status.success(), "{}", text(&o));
        last_manifest(&out)["run_id"].as_str().unwrap().to_string()
    };
    let published = out.join("datasets/census_counts/source=census/part-0.parquet");
    let ids: Vec<String> = (0..3).map(|_| go()).collect();
    let kept: Vec<String> = std::fs::read_dir(out.join("versions"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let mut kept = kept;
    kept.sort();
    assert_eq!(kept, ids[1..].to_vec(), "the newest two runs are kept");
    let version = |id: &str| {
        out.join("versions")
            .join(id)
            .join("datasets/census_counts/source=census/part-0.parquet")
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (a, b) = (
            std::fs::metadata(&published).unwrap(),
            std::fs::metadata(version(&ids[2])).unwrap(),
        );
        assert_eq!(
            (a.dev(), a.ino()),
            (b.dev(), b.ino()),
            "a hard link, no copy"
        );
    }
    let good = std::fs::read(&published).unwrap();

    // A bad edition arrives and is published by a fourth run...
    let zip = public.join("census2021-ts008.zip");
    std::fs::write(&zip, rewrite_one_count(&std::fs::read(&zip).unwrap())).unwrap();
    let bad = go();
    assert_ne!(std::fs::read(&published).unwrap(), good);
    // ...and rolled back to the third run's files.
    let o = run(&["runs", "restore", "--out", out.to_str().unwrap(), &ids[2]]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("restored datasets/census_counts/source=census/part-0.parquet"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&published).unwrap(), good);
    assert!(
        version(&bad).exists(),
        "the bad run's files stay in versions/"
    );
    assert!(!out.join(".state").exists(), "the next run runs every step");
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(
        last_manifest(&out)["sources"][0]["status"],
        "succeeded",
        "not `unchanged` after a restore"
    );
    // A pruned run cannot be restored, and says which can.
    let o = run(&["runs", "restore", "--out", out.to_str().unwrap(), &ids[0]]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no kept versions of run"), "{}", text(&o));
}
