//! The partnership's lake on object storage: a real S3 server (the Ceph
//! RADOS Gateway `tests/run.sh` starts on loopback, `tests/s3/rgw.sh`).
//! Partners' runs on separate machines (here: output folders) commit to
//! one table at once and every commit is kept; the same partner twice at
//! once is refused by the lake's lock; credentials stay out of every file
//! and log. The tables are read back by replaying their Delta logs with
//! `object_store` and counting the Parquet rows, not by eqpipe.
//!
//! Skipped without `EQPIPE_TEST_S3_ENDPOINT`, unless `EQPIPE_REQUIRE_S3=1`.

use super::*;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

struct Rgw {
    endpoint: String,
    bucket: String,
    secret: String,
    /// This test's own prefix in the bucket.
    prefix: String,
    rt: tokio::runtime::Runtime,
}

fn rgw(test: &str) -> Option<Rgw> {
    let Ok(endpoint) = std::env::var("EQPIPE_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("EQPIPE_REQUIRE_S3").as_deref() != Ok("1"),
            "EQPIPE_REQUIRE_S3=1 but EQPIPE_TEST_S3_ENDPOINT is not set (tests/run.sh starts Ceph RGW)"
        );
        eprintln!("skipped: no S3 server (EQPIPE_TEST_S3_ENDPOINT)");
        return None;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Some(Rgw {
        endpoint,
        bucket: std::env::var("EQPIPE_TEST_S3_BUCKET").unwrap(),
        secret: std::env::var("EQPIPE_TEST_S3_SECRET_ACCESS_KEY").unwrap(),
        prefix: format!("{test}-{stamp}-{}", std::process::id()),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    })
}

/// A table as its Delta log says: the last version and the live files
/// (path → partition values).
struct Table {
    version: i64,
    files: BTreeMap<String, BTreeMap<String, String>>,
    run_ids: Vec<String>,
}

impl Rgw {
    fn store(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&self.bucket)
            .with_access_key_id(std::env::var("EQPIPE_TEST_S3_ACCESS_KEY_ID").unwrap())
            .with_secret_access_key(&self.secret)
            .build()
            .unwrap()
    }

    /// `[lake]` for this test: the published lake and the restricted one,
    /// the keys read from the variables tests/run.sh exports.
    fn lake_toml(&self, lock_hours: u64) -> String {
        let options = format!(
            "options = {{ aws_endpoint = \"{}\", aws_allow_http = \"true\", aws_region = \"us-east-1\" }}\n\
             env = {{ aws_access_key_id = \"EQPIPE_TEST_S3_ACCESS_KEY_ID\", aws_secret_access_key = \"EQPIPE_TEST_S3_SECRET_ACCESS_KEY\" }}\n",
            self.endpoint
        );
        format!(
            "\n[lake]\nuri = \"s3://{b}/{p}/published\"\nlock_hours = {lock_hours}\n{options}\n[lake.restricted]\nuri = \"s3://{b}/{p}/restricted\"\n{options}",
            b = self.bucket,
            p = self.prefix
        )
    }

    fn key(&self, rel: &str) -> Key {
        Key::from(format!("{}/{rel}", self.prefix))
    }

    /// Replays `lake/table`'s `_delta_log` (`lake`: published or restricted).
    fn table(&self, lake: &str, table: &str) -> Option<Table> {
        let store = self.store();
        self.rt.block_on(async {
            let log = self.key(&format!("{lake}/{table}/_delta_log"));
            let mut entries: Vec<Key> = Vec::new();
            let mut list = store.list(Some(&log));
            while let Some(m) = futures_util::StreamExt::next(&mut list).await {
                let m = m.unwrap();
                if m.location.as_ref().ends_with(".json") {
                    entries.push(m.location);
                }
            }
            if entries.is_empty() {
                return None;
            }
            entries.sort();
            let mut files = BTreeMap::new();
            let mut run_ids = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let name = e.filename().unwrap();
                assert_eq!(name, format!("{i:020}.json"), "versions are contiguous");
                let body = store.get(e).await.unwrap().bytes().await.unwrap();
                for line in std::str::from_utf8(&body).unwrap().lines() {
                    let a: serde_json::Value = serde_json::from_str(line).unwrap();
                    if let Some(add) = a.get("add") {
                        let parts = add["partitionValues"]
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect();
                        files.insert(add["path"].as_str().unwrap().to_string(), parts);
                    } else if let Some(rm) = a.get("remove") {
                        files.remove(rm["path"].as_str().unwrap());
                    } else if let Some(id) = a
                        .get("commitInfo")
                        .and_then(|ci| ci["eqpipe_run_id"].as_str())
                    {
                        run_ids.push(id.to_string());
                    }
                }
            }
            Some(Table {
                version: entries.len() as i64 - 1,
                files,
                run_ids,
            })
        })
    }

    /// The rows of one of a table's files (its Parquet footer, fetched).
    fn rows(&self, lake: &str, table: &str, file: &str) -> i64 {
        let store = self.store();
        let body = self.rt.block_on(async {
            store
                .get(&self.key(&format!("{lake}/{table}/{file}")))
                .await
                .unwrap_or_else(|e| {
                    panic!("{table}/{file} is in the log but not in the store: {e}")
                })
                .bytes()
                .await
                .unwrap()
        });
        parquet::file::reader::SerializedFileReader::new(body)
            .map(|r| {
                parquet::file::reader::FileReader::metadata(&r)
                    .file_metadata()
                    .num_rows()
            })
            .unwrap()
    }

    /// Rows per partner of a table's live files.
    fn rows_by_partner(&self, lake: &str, table: &str) -> BTreeMap<String, i64> {
        let t = self
            .table(lake, table)
            .unwrap_or_else(|| panic!("no table {lake}/{table}"));
        let mut out = BTreeMap::new();
        for (f, parts) in &t.files {
            let p = parts.get("partner").cloned().unwrap_or_default();
            *out.entry(p).or_insert(0) += self.rows(lake, table, f);
        }
        out
    }

    fn put(&self, rel: &str, body: String) {
        let store = self.store();
        self.rt
            .block_on(store.put(&self.key(rel), PutPayload::from(body)))
            .unwrap();
    }

    fn exists(&self, rel: &str) -> bool {
        let store = self.store();
        self.rt.block_on(store.head(&self.key(rel))).is_ok()
    }
}

/// Each partner's extract's rows (what the workforce table should hold).
fn extract_rows() -> BTreeMap<String, i64> {
    EXTRACTS
        .iter()
        .map(|(id, n, _)| (id.to_string(), *n as i64))
        .collect()
}

/// Starts `eqpipe run --partner <id> --sources-only` on its own "machine"
/// (output folder).
fn partner_run(s: &Setup, id: &str, machine: &str) -> std::process::Child {
    eqpipe_with_keys()
        .args([
            "run",
            "--config",
            s.cfg.to_str().unwrap(),
            "--out",
            s.dir.path().join(machine).to_str().unwrap(),
            "--partner",
            id,
            "--sources-only",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn lake_setup(r: &Rgw, lock_hours: u64) -> Setup {
    let s = setup(&BTreeMap::new());
    write_extracts(&s);
    let mut cfg = std::fs::read_to_string(&s.cfg).unwrap();
    cfg.push_str(&r.lake_toml(lock_hours));
    std::fs::write(&s.cfg, cfg).unwrap();
    s
}

/// Every file under `dir` and the process's output: the secret key is in
/// none of them.
fn assert_no_secret(r: &Rgw, dir: &Path, logs: &str) {
    assert!(!logs.contains(&r.secret), "the secret key is in a log");
    for f in files_under(dir) {
        let body = std::fs::read(&f).unwrap();
        assert!(
            !body
                .windows(r.secret.len())
                .any(|w| w == r.secret.as_bytes()),
            "the secret key is in {}",
            f.display()
        );
    }
}

/// Three partners' runs and the shared sources' run, on four machines at
/// once, commit to the same lake: every partner's workforce records land
/// in the restricted lake's one table, each in its partition with its
/// extract's rows, each commit kept (the log's versions contiguous, one
/// commit per run); the published Census table is there once; the
/// manifests record the lake without a credential.
#[test]
fn partners_on_separate_machines_commit_to_one_lake_on_s3_at_once() {
    let Some(r) = rgw("fanout") else { return };
    let s = lake_setup(&r, 12);
    let mut children = vec![("gm", partner_run(&s, "gm", "machine-gm"))];
    for (id, _, _) in PARTNERS {
        children.push((id, partner_run(&s, id, &format!("machine-{id}"))));
    }
    let mut logs = String::new();
    let mut run_ids = BTreeSet::new();
    for (id, c) in children {
        let o = c.wait_with_output().unwrap();
        let t = text(&o);
        logs.push_str(&t);
        assert!(matches!(o.status.code(), Some(0 | 4)), "{id}: {t}");
        let m = last_manifest(&s.dir.path().join(format!("machine-{id}")));
        assert!(m.get("publication_errors").is_none(), "{id}: {m:#}");
        assert_eq!(
            m["lake"],
            format!("s3://{}/{}/published", r.bucket, r.prefix),
            "{m:#}"
        );
        run_ids.insert(m["run_id"].as_str().unwrap().to_string());
    }
    assert_no_secret(&r, s.dir.path(), &logs);
    eprintln!(
        "commits made again after losing a race: {}",
        logs.matches("another run committed first").count()
    );

    let workforce = r.table("restricted", "datasets/workforce").unwrap();
    let expected = extract_rows();
    assert_eq!(
        r.rows_by_partner("restricted", "datasets/workforce"),
        expected
    );
    // One commit per partner's run, none lost: versions 0..=2.
    assert_eq!(workforce.version, 2, "{:?}", workforce.run_ids);
    let partners_runs: BTreeSet<String> = workforce.run_ids.iter().cloned().collect();
    assert_eq!(partners_runs.len(), 3);
    assert!(partners_runs.is_subset(&run_ids));
    // The shared Census source, committed once by its own run, published.
    let census = r.table("published", "datasets/census_counts").unwrap();
    assert_eq!(census.version, 0);
    assert!(r.table("published", "datasets/workforce").is_none());
    assert!(r.table("restricted", "datasets/census_counts").is_none());
    // The locks were released.
    for id in ["gm", "manchester", "salford", "trafford"] {
        assert!(!r.exists(&format!("published/_eqpipe/locks/sources-{id}.json")));
    }

    // The indicators on a fifth machine, from the lake alone: every
    // partner's figures, Manchester's female staff as its extract has them.
    let o = eqpipe_with_keys()
        .args([
            "run",
            "--config",
            s.cfg.to_str().unwrap(),
            "--indicators-only",
        ])
        .args([
            "--out",
            s.dir.path().join("machine-indicators").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let women = extract(420, 0x51, 0)
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(4) == Some("F"))
        .count() as i64;
    let ind = s.dir.path().join("machine-indicators");
    assert_eq!(published_women(&ind, "manchester"), Some(women));
    let rep = r
        .table("published", "indicators/workforce_representation")
        .unwrap();
    let partners: BTreeSet<String> = rep
        .files
        .values()
        .filter_map(|p| p.get("partner").cloned())
        .collect();
    assert_eq!(
        partners,
        ["gm", "manchester", "salford", "trafford"]
            .map(String::from)
            .into()
    );

    // Manchester's next extract replaces Manchester's rows only.
    std::fs::write(
        s.inbox("manchester").join("workforce-2025-03.csv"),
        extract(300, 0x123, 0),
    )
    .unwrap();
    let o = partner_run(&s, "manchester", "machine-manchester")
        .wait_with_output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", text(&o));
    let mut expected = expected;
    expected.insert("manchester".into(), 300);
    assert_eq!(
        r.rows_by_partner("restricted", "datasets/workforce"),
        expected
    );
    assert_eq!(
        r.table("restricted", "datasets/workforce").unwrap().version,
        3
    );

    // Back to Manchester's first run on its machine: its rows as they
    // were, the other partners' (committed from other machines) untouched.
    let runs = std::fs::read_dir(s.dir.path().join("machine-manchester/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter_map(|n| n.strip_suffix(".json").map(String::from))
        .collect::<BTreeSet<_>>();
    let first = runs.first().unwrap().clone();
    let o = eqpipe()
        .args(["runs", "restore", "--out"])
        .arg(s.dir.path().join("machine-manchester"))
        .arg(&first)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "restored lake table restricted/datasets/workforce to run {first}'s files (version 4)"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(
        r.rows_by_partner("restricted", "datasets/workforce"),
        extract_rows()
    );
}

/// The same partner's run on two machines at once: the second is refused
/// before it runs anything, naming the lock and its holder; a lock whose
/// holder never released it is taken over once it lapses; and runs started
/// together leave one run's rows, never two.
#[test]
fn the_same_partner_twice_at_once_is_refused_by_the_lakes_lock() {
    let Some(r) = rgw("lock") else { return };
    let s = lake_setup(&r, 12);
    let lock = "published/_eqpipe/locks/sources-salford.json";
    let held = |until: chrono::DateTime<chrono::Utc>| {
        serde_json::json!({
            "holder": "run 20261204T000000.000Z-abcd (process 7 on hr-node-2)",
            "token": "theirs",
            "since": "2026-12-04T00:00:00+00:00",
            "until": until.to_rfc3339(),
        })
        .to_string()
    };
    r.put(lock, held(chrono::Utc::now() + chrono::Duration::hours(1)));
    let o = partner_run(&s, "salford", "machine-a")
        .wait_with_output()
        .unwrap();
    let t = text(&o);
    assert!(!matches!(o.status.code(), Some(0 | 4)), "{t}");
    assert!(
        t.contains("lock `sources-salford` is held by run 20261204T000000.000Z-abcd (process 7 on hr-node-2)"),
        "{t}"
    );
    assert!(r.table("restricted", "datasets/workforce").is_none());
    assert!(r.exists(lock), "another run's lock is not removed");

    // Lapsed: taken over, said, and released at the end.
    r.put(
        lock,
        held(chrono::Utc::now() - chrono::Duration::minutes(1)),
    );
    let o = partner_run(&s, "salford", "machine-a")
        .wait_with_output()
        .unwrap();
    let t = text(&o);
    assert!(matches!(o.status.code(), Some(0 | 4)), "{t}");
    assert!(t.contains("taking over the lake's lock"), "{t}");
    assert!(!r.exists(lock));

    // Three at once: each ran or was refused by the lock, and the table
    // holds one run's rows.
    let children: Vec<_> = ["machine-b", "machine-c", "machine-d"]
        .iter()
        .map(|m| partner_run(&s, "salford", m))
        .collect();
    let mut ran = 0;
    for c in children {
        let o = c.wait_with_output().unwrap();
        let t = text(&o);
        match o.status.code() {
            Some(0 | 4) => ran += 1,
            _ => assert!(t.contains("lock `sources-salford` is held by"), "{t}"),
        }
    }
    assert!(ran >= 1);
    let t = r.table("restricted", "datasets/workforce").unwrap();
    assert_eq!(t.files.len(), 1, "{:?}", t.files);
    assert_eq!(
        r.rows_by_partner("restricted", "datasets/workforce"),
        BTreeMap::from([("salford".to_string(), 260)])
    );

    // A restore takes the run's locks too: refused while Salford's run
    // elsewhere holds one, the local files back all the same.
    r.put(lock, held(chrono::Utc::now() + chrono::Duration::hours(1)));
    let machine = s.dir.path().join("machine-a");
    let first = last_manifest(&machine)["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = eqpipe()
        .args(["runs", "restore", "--out"])
        .arg(&machine)
        .arg(&first)
        .output()
        .unwrap();
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("not rewritten: the lake: the lake's lock `sources-salford` is held by run 20261204T000000.000Z-abcd"),
        "{t}"
    );
    assert!(r.exists(lock));
}

/// Every table of a lake (`published` or `restricted`) its log lists.
fn tables(r: &Rgw, lake: &str) -> Vec<String> {
    let store = r.store();
    r.rt.block_on(async {
        let mut out = BTreeSet::new();
        let mut list = store.list(Some(&r.key(lake)));
        while let Some(m) = futures_util::StreamExt::next(&mut list).await {
            let p = m.unwrap().location.to_string();
            if let Some((before, _)) = p.split_once("/_delta_log/") {
                let prefix = format!("{}/{lake}/", r.prefix);
                out.insert(before.trim_start_matches(&prefix).to_string());
            }
        }
        out.into_iter().collect()
    })
}

/// A run killed while it commits to the lake leaves every table at a
/// version whose files are all there (a commit is one create-if-absent of
/// the log's next entry, made after its files are up); the next run, once
/// the dead run's lock has lapsed (`lock_hours = 0` here), commits the
/// rest, and the tables hold each partner's rows once.
#[test]
fn a_run_killed_mid_commit_leaves_every_table_at_its_last_version() {
    let Some(r) = rgw("kill") else { return };
    let s = lake_setup(&r, 0);
    let mut child = eqpipe_with_keys()
        .args(["run", "--config", s.cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as the first table's first commit is in the store.
    let t0 = std::time::Instant::now();
    loop {
        if !tables(&r, "published").is_empty() || !tables(&r, "restricted").is_empty() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it committed"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(120));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: Vec<String> = tables(&r, "published");
    for lake in ["published", "restricted"] {
        for t in tables(&r, lake) {
            let table = r.table(lake, &t).unwrap();
            for f in table.files.keys() {
                r.rows(lake, &t, f); // fetched whole: it is there
            }
        }
    }
    // The next run commits every table; nothing doubled.
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&s.out);
    assert!(m.get("publication_errors").is_none(), "{m:#}");
    let after = tables(&r, "published");
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    let expected = extract_rows();
    assert_eq!(
        r.rows_by_partner("restricted", "datasets/workforce"),
        expected
    );
    let versions = m["lake_versions"].as_object().unwrap();
    for t in &after {
        assert!(versions.contains_key(t.as_str()), "{t} not in {versions:?}");
    }
}
