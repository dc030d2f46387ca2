//! Many partners committing to one Delta table at once: the national case
//! in small (`examples/bench/run.sh lake`). Each simulated partner is its
//! own writer (its own client and runtime, as a Job on its own machine
//! would be) committing one Parquet file to its partition of one table on
//! the S3 server the variables name (tests/s3/rgw.sh), `WRITERS` at a
//! time. Prints commit latency (median, 95th percentile, worst), how
//! often a commit lost a race and was made again, and checks that every
//! partner's file is in the table at the end.
//!
//!   EQPIPE_TEST_S3_ENDPOINT=… EQPIPE_TEST_S3_BUCKET=… EQPIPE_TEST_S3_ACCESS_KEY_ID=…
//!   EQPIPE_TEST_S3_SECRET_ACCESS_KEY=… cargo bench -p eqpipe-publish --bench lake_commits
//!   [-- PARTNERS WRITERS]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use eqpipe_core::config::lake::LakeConfig;
use eqpipe_publish::catalog::{Catalog, CatalogEntry};
use eqpipe_publish::lake::{Lake, commit};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let partners = args.first().copied().unwrap_or(300);
    let writers = args.get(1).copied().unwrap_or(16);
    let Ok(endpoint) = std::env::var("EQPIPE_TEST_S3_ENDPOINT") else {
        eprintln!("lake_commits: set EQPIPE_TEST_S3_* (tests/s3/rgw.sh start DIR writes them)");
        return;
    };
    let bucket = std::env::var("EQPIPE_TEST_S3_BUCKET").unwrap_or_else(|_| "eqpipe".into());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cfg = LakeConfig {
        uri: format!("s3://{bucket}/bench-{stamp}"),
        options: BTreeMap::from([
            ("aws_endpoint".to_string(), endpoint),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("aws_region".to_string(), "us-east-1".to_string()),
        ]),
        env: BTreeMap::from([
            (
                "aws_access_key_id".to_string(),
                "EQPIPE_TEST_S3_ACCESS_KEY_ID".to_string(),
            ),
            (
                "aws_secret_access_key".to_string(),
                "EQPIPE_TEST_S3_SECRET_ACCESS_KEY".to_string(),
            ),
        ]),
        lock_hours: None,
        vacuum_grace_minutes: None,
        restricted: None,
    };
    let dir = tempfile::tempdir().unwrap();
    // Each partner's output: one small file of the indicator's shape.
    for p in 0..partners {
        let rel = format!("indicators/representation/partner=p{p:04}");
        std::fs::create_dir_all(dir.path().join(&rel)).unwrap();
        let batch = RecordBatch::try_from_iter([
            ("category", Arc::new(StringArray::from(vec!["F", "M"])) as _),
            (
                "count",
                Arc::new(Int64Array::from(vec![p as i64, 2 * p as i64])) as _,
            ),
        ])
        .unwrap();
        let f = std::fs::File::create(dir.path().join(&rel).join("part-0.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let next = AtomicUsize::new(0);
    let latencies = std::sync::Mutex::new(Vec::new());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            s.spawn(|| {
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    if p >= partners {
                        break;
                    }
                    let rel = format!("indicators/representation/partner=p{p:04}");
                    let catalog = Catalog {
                        pipeline_version: "bench".into(),
                        run_id: format!("bench-p{p:04}"),
                        entries: vec![CatalogEntry {
                            name: "representation".into(),
                            kind: "indicator".into(),
                            path: "indicators/representation".into(),
                            restricted: false,
                            description: "simulated".into(),
                            schema_version: 1,
                            rows: 2,
                            files: vec![format!("{rel}/part-0.parquet")],
                            produced_by: vec![],
                            licences: vec![],
                            last_updated: None,
                            columns: vec![],
                        }],
                    };
                    // Its own client, as a Job on its own machine has.
                    let lake = Lake::open(&cfg, dir.path()).unwrap();
                    let t = Instant::now();
                    commit(dir.path(), &catalog, &lake, false)
                        .unwrap_or_else(|e| panic!("partner {p}: {e}"));
                    let took = t.elapsed();
                    if took > Duration::from_secs(5) {
                        eprintln!(
                            "lake_commits: partner {p}'s commit took {:.1} s",
                            took.as_secs_f64()
                        );
                    }
                    latencies.lock().unwrap().push(took);
                }
            });
        }
    });
    let wall = t0.elapsed();
    let mut l = latencies.into_inner().unwrap();
    l.sort();
    let pct = |q: f64| l[((l.len() as f64 - 1.0) * q).round() as usize];
    let lake = Lake::open(&cfg, dir.path()).unwrap();
    let version = lake
        .table_version("indicators/representation")
        .unwrap()
        .expect("the table exists");
    let files = lake.table_files("indicators/representation").unwrap();
    println!(
        "lake: {partners} partners' commits to one table, {writers} at a time: {:.1} s wall, {:.1} commits/s; \
         latency median {:.0} ms, p95 {:.0} ms, worst {:.0} ms; table at version {version} with {files} files \
         ({} commits made again after losing a race)",
        wall.as_secs_f64(),
        partners as f64 / wall.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(*l.last().unwrap()),
        eqpipe_publish::lake::retries(),
    );
    assert_eq!(files, partners, "every partner's file is in the table");
    assert_eq!(version as usize, partners - 1, "one commit per partner");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
