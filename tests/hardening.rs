//! Faults an unattended pipeline meets: a full disk mid-step leaves the disk
//! as it found it, and the run's manifest, catalogue and report are still
//! written.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const KEY_ENV: &str = "EQPIPE_TEST_HARDENING_KEY";

/// A small tmpfs at `dir`, unmounted on drop. `None` where mounting is not
/// allowed (not root), unless EQPIPE_REQUIRE_TMPFS says it must be.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("EQPIPE_REQUIRE_TMPFS").is_none(),
                "EQPIPE_REQUIRE_TMPFS is set but a tmpfs cannot be mounted (run as root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_step_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let Some(_fs) = Tmpfs::mount(&out, "3m") else {
        return;
    };
    let public = eqpipe_engine::demo::generate(&dir.path().join("inputs"))
        .unwrap()
        .public_dir;
    // A workforce extract whose pseudonymised keys alone need ~12 MB.
    let mut csv = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n",
    );
    for i in 0..200_000 {
        csv.push_str(&format!(
            "E{i:07},2025-03-31,Unit {},G{},F,White: Irish,No,40,37,{:.2},0,2015-05-01,\n",
            i % 97,
            1 + i % 9,
            11.0 + (i % 1000) as f64 / 100.0
        ));
    }
    let extract = dir.path().join("big.csv");
    std::fs::write(&extract, csv).unwrap();
    let census = format!(
        "output_dir = \"out\"\n[versions]\nkeep = 0\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}/\"\ntables = [\"TS008\"]\ngeography = \"wd\"\n",
        public.display()
    );
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(&cfg, &census).unwrap();
    let run_it = || {
        eqpipe()
            .args(["run", "--config", cfg.to_str().unwrap()])
            .env(KEY_ENV, "a-hardening-test-key-long-enough")
            .output()
            .unwrap()
    };
    let o = run_it();
    assert!(o.status.success(), "{}", text(&o));
    let census_file = out.join("datasets/census_counts/source=census/part-0.parquet");
    let before = std::fs::read(&census_file).unwrap();

    std::fs::write(
        &cfg,
        format!(
            "{census}[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n",
            extract.display()
        ),
    )
    .unwrap();
    let o = run_it();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let m = last_manifest(&out);
    let hr = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "hr")
        .unwrap();
    assert_eq!(hr["status"], "failed");
    assert!(
        hr["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{hr}"
    );
    // The disk as it was: no partial file anywhere, the good output whole,
    // and the run recorded (two manifests), with its catalogue and report.
    let temporaries: Vec<PathBuf> = files_under(&out)
        .into_iter()
        .filter(|f| {
            let n = f.file_name().unwrap().to_string_lossy().to_string();
            n.ends_with(".tmp") || n.starts_with(".eqpipe-keys")
        })
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
    assert_eq!(std::fs::read(&census_file).unwrap(), before);
    assert_eq!(std::fs::read_dir(out.join("runs")).unwrap().count(), 2);
    // Manifests are for the operators, not the world.
    for f in std::fs::read_dir(out.join("runs")).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = f.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "{}: {mode:o}", f.path().display());
    }
    assert!(out.join("catalog.json").exists() && out.join("report/index.html").exists());
    assert!(
        !out.join("restricted/datasets/workforce")
            .join("source=hr/part-0.parquet")
            .exists()
    );
}

/// A maintenance page served with 200 where the Census zip should be: the
/// error says what came instead.
#[test]
fn an_html_page_where_a_zip_was_expected_is_named() {
    let server = TestServer::start(Box::new(|_, _| {
        (
            200,
            vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            b"<!DOCTYPE html>\n<html><body>Down for maintenance</body></html>\n".to_vec(),
        )
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"ltla\"\n",
            server.base
        ),
    )
    .unwrap();
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("expected a zip archive but the server sent text/html")
            && text(&o).contains("starting `<!DOCTYPE html>`"),
        "{}",
        text(&o)
    );
}

/// Names and identifiers planted in every column an HR extract's rows can
/// shift into (an unquoted comma moves a forename into the next column)
/// never reach a log line, an error, a manifest or a published file; only
/// the restricted store and its quarantine may hold them.
#[test]
fn planted_names_and_ids_reach_no_log_manifest_or_published_file() {
    const NAME: &str = "Zebulonia";
    const ID: &str = "RAWID-77341";
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,religion,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n",
    );
    for i in 0..60 {
        csv.push_str(&format!(
            "E{i:04},2025-03-31,Housing,G{},{},White: Irish,No,Christian,{},37,{:.2},0,2015-05-01,\n",
            1 + i % 3,
            if i % 2 == 0 { "F" } else { "M" },
            25 + i % 30,
            12.0 + i as f64 / 10.0
        ));
    }
    // The planted rows: the name in each column that takes free text or a
    // value the host parses, and a raw id.
    for (k, col) in [
        "sex",
        "ethnic_group",
        "disability",
        "religion",
        "age",
        "contract_hours",
        "hourly_pay",
        "bonus_pay",
        "snapshot_date",
        "start_date",
        "leaver_date",
    ]
    .iter()
    .enumerate()
    {
        let mut fields = vec![
            format!("{ID}-{k}"),
            "2025-03-31".into(),
            "Housing".into(),
            "G1".into(),
            "F".into(),
            "White: Irish".into(),
            "No".into(),
            "Christian".into(),
            "40".into(),
            "37".into(),
            "15.00".into(),
            "0".into(),
            "2015-05-01".into(),
            String::new(),
        ];
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let at = header.iter().position(|h| h == col).unwrap();
        fields[at] = NAME.to_string();
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    let extract = dir.path().join("hr.csv");
    std::fs::write(&extract, csv).unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\nmax_rejected_pct = 100\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[[indicators]]\nplugin = \"pay-gap\"\n[indicators.options]\nsnapshot_date = \"2025-03-31\"\n",
            extract.display()
        ),
    )
    .unwrap();
    for format in ["human", "json"] {
        let o = eqpipe()
            .args([
                "--log-format",
                format,
                "-v",
                "run",
                "--force",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .env(KEY_ENV, "a-hardening-test-key-long-enough")
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0) | Some(4)), "{}", text(&o));
        let logs = text(&o);
        assert!(
            !logs.contains(NAME) && !logs.contains(ID),
            "a value in the logs: {logs}"
        );
    }
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert!(
        m["sources"][0]["datasets"]["workforce"]["quarantined"]
            .as_u64()
            .unwrap()
            > 0,
        "{m:#}"
    );
    for f in files_under(&out) {
        if f.strip_prefix(&out).unwrap().starts_with("restricted") {
            continue;
        }
        let body = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
        assert!(
            !body.contains(NAME) && !body.contains(ID),
            "a planted value in {}",
            f.display()
        );
    }
}

/// The upload endpoint under abuse, on loopback: half-open requests and
/// stalled bodies are cut off, a declared oversize body is refused before
/// a byte is read, one client cannot hold every connection, a run of wrong
/// tokens is made to wait, and staging left by a killed server is removed.
#[test]
fn the_upload_server_sheds_abuse() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    const TOKEN: &str = "eqp_hardening-test-token-0123456789";
    // The server only checks that the partner's key variable is set and
    // long enough before it reads a body; PATH always is, and setting a
    // variable here would race the other tests' child processes.
    const PARTNER_KEY: &str = "PATH";
    assert!(std::env::var(PARTNER_KEY).is_ok_and(|v| v.len() >= 16));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let abandoned = out.join("restricted/partner=a/.uploads/0123abcd");
    std::fs::create_dir_all(&abandoned).unwrap();
    std::fs::write(abandoned.join("body"), "half an upload").unwrap();
    let text = format!(
        "output_dir = \"out\"\n[serve]\nlisten = \"127.0.0.1:0\"\nmax_upload_mb = 1\nheader_timeout_secs = 1\nbody_idle_timeout_secs = 1\nmax_connections_per_client = 3\nmax_token_failures = 3\n\
         [[sources]]\nname = \"a_hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{{inbox}}/*.csv\"\n\
         [[partners]]\nid = \"a\"\nname = \"A\"\nsources = [\"a_hr\"]\nkey_env = \"{PARTNER_KEY}\"\ntoken_sha256 = [\"{}\"]\ninbox = \"inbox/a\"\n",
        eqpipe_engine::partners::hash_token(TOKEN)
    );
    let cfg = eqpipe_engine::config::Config::parse(&text, "test.toml", dir.path()).unwrap();
    let server = eqpipe_engine::upload::start(cfg, out.clone()).unwrap();
    let addr = server.addr();
    assert!(
        !abandoned.exists(),
        "staging from a killed server is removed at start"
    );
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Reads until the server closes; the status line of what it sent.
    let answer = |mut s: TcpStream| -> (String, Duration) {
        let t = Instant::now();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).to_string();
        (text.lines().next().unwrap_or("").to_string(), t.elapsed())
    };
    let head = |token: &str, len: u64| {
        format!(
            "PUT /inbox/a/a_hr/w.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };

    // Half-open: headers never finished. Closed after header_timeout_secs.
    let mut s = connect();
    s.write_all(b"PUT /inbox/a/a_hr/w.csv HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (_, waited) = answer(s);
    assert!(waited < Duration::from_secs(5), "held {waited:?}");

    // A body that stalls: 408 after body_idle_timeout_secs.
    let mut s = connect();
    s.write_all(head(TOKEN, 100).as_bytes()).unwrap();
    s.write_all(b"employee_id").unwrap();
    let (status, waited) = answer(s);
    assert!(status.contains("408"), "{status}");
    assert!(waited < Duration::from_secs(5), "held {waited:?}");

    // 2 GB declared, over max_upload_mb: 413 at once, no body sent.
    let mut s = connect();
    s.write_all(head(TOKEN, 2 << 30).as_bytes()).unwrap();
    let (status, waited) = answer(s);
    assert!(status.contains("413"), "{status}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // One client holds three idle connections; a fourth is closed at once.
    // (The server may not have accepted all three yet on a loaded machine,
    // and then the fourth waits out the header timeout instead: try again
    // a few times, a server that never refuses fails every try.)
    let held: Vec<TcpStream> = (0..3).map(|_| connect()).collect();
    let mut tries = Vec::new();
    let mut refused = false;
    while !refused && tries.len() < 10 {
        std::thread::sleep(Duration::from_millis(200));
        let (status, waited) = answer(connect());
        refused = status.is_empty() && waited < Duration::from_millis(500);
        tries.push(format!("{status:?} after {waited:?}"));
    }
    assert!(
        refused,
        "a fourth connection was never refused at once: {tries:?}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(1500));

    // Three wrong tokens, then even the right one must wait (429).
    for _ in 0..3 {
        let mut s = connect();
        s.write_all(head("eqp_wrong", 0).as_bytes()).unwrap();
        assert!(answer(s).0.contains("401"));
    }
    let mut s = connect();
    s.write_all(head(TOKEN, 0).as_bytes()).unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    assert!(
        buf.starts_with("HTTP/1.1 429") && buf.to_ascii_lowercase().contains("retry-after: "),
        "{buf}"
    );
    // Nothing half-received is left behind.
    let staging = out.join("restricted/partner=a/.uploads");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    drop(server);
}

/// A marker secret in every place a secret lives (the pseudonymisation
/// key, an API key sent in a query, the webhook URL), used for real on
/// local servers, failing where it can: it is found in no file under the
/// output folder and in no log line.
#[test]
fn marker_secrets_reach_no_file_and_no_log() {
    use std::sync::{Arc, Mutex};
    const KEY: &str = "MARKERKEY-4b1d9e-pseudonymisation-secret";
    const API: &str = "MARKERAPI-77c2f0";
    const HOOK: &str = "MARKERHOOK-e0a513";
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    // Nomis stand-in: sees the key, fails every time (the error path).
    let api = TestServer::start(Box::new(move |url, _| {
        s.lock().unwrap().push(url.to_string());
        (503, vec![], b"unavailable".to_vec())
    }));
    let hooks: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = hooks.clone();
    let hook = TestServer::start(Box::new(move |url, _| {
        h.lock().unwrap().push(url.to_string());
        (200, vec![], vec![])
    }));
    let dir = tempfile::tempdir().unwrap();
    let extract = dir.path().join("hr.csv");
    std::fs::write(
        &extract,
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n\
         E1,2025-03-31,Housing,G1,F,White: Irish,No,40,37,12.00,0,2015-05-01,\n",
    )
    .unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[fetch]\nretries = 1\nbackoff_base_ms = 10\nmin_interval_ms = 0\n[notify]\nwebhook_url_env = \"EQPIPE_TEST_MARKER_HOOK\"\nalways = true\n\
             [[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"EQPIPE_TEST_MARKER_KEY\"\n\
             [[sources]]\nname = \"aps\"\nplugin = \"nomis-api\"\n[sources.options]\nbase_url = \"{}api/v01\"\ndataset = \"NM_17_5\"\napi_key_env = \"EQPIPE_TEST_MARKER_API\"\n[sources.options.params]\ngeography = \"1946157081\"\n",
            extract.display(),
            api.base
        ),
    )
    .unwrap();
    let o = eqpipe()
        .args(["-v", "run", "--config", cfg.to_str().unwrap()])
        .env("EQPIPE_TEST_MARKER_KEY", KEY)
        .env("EQPIPE_TEST_MARKER_API", API)
        .env(
            "EQPIPE_TEST_MARKER_HOOK",
            format!("{}hook/{HOOK}", hook.base),
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // Each secret was used.
    assert!(seen.lock().unwrap().iter().any(|u| u.contains(API)));
    assert!(hooks.lock().unwrap().iter().any(|u| u.contains(HOOK)));
    let logs = text(&o);
    let out = dir.path().join("out");
    for marker in [KEY, API, HOOK] {
        assert!(!logs.contains(marker), "{marker} in the logs: {logs}");
        for f in files_under(&out) {
            let body = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
            assert!(!body.contains(marker), "{marker} in {}", f.display());
        }
    }
    let m = last_manifest(&out);
    let aps = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "aps")
        .unwrap();
    assert!(aps["error"].as_str().unwrap().contains("REDACTED"), "{aps}");
}
