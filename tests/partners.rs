//! Partnerships end to end through the real binary: three partners, each
//! with its own HR extract, key and inbox; one partner's extract is
//! malformed. The others complete, every partner's person-level rows stay in
//! its own folders, indicators are published per partner and for the
//! partnership with disclosure control across the levels, and the upload
//! endpoint keeps each token to its own partner's inbox.

mod common;
#[path = "partners/lake_s3.rs"]
mod lake_s3;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use common::*;

const PARTNERS: [(&str, &str, &str); 3] = [
    ("manchester", "Manchester City Council", "E08000003"),
    ("salford", "Salford City Council", "E08000006"),
    ("trafford", "Trafford Council", "E08000009"),
];

fn key_env(id: &str) -> String {
    format!("EQPIPE_TEST_PARTNER_KEY_{}", id.to_uppercase())
}

/// A deterministic extract of `n` staff; ids start at P100000 in every
/// partner (the same id in two partners must not link). `small` staff are
/// "Mixed: White and Asian", a group under the threshold.
fn extract(n: usize, seed: u64, small: usize) -> String {
    let mut s = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,full_pay_relevant\n",
    );
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 10_000
    };
    for i in 0..n {
        let sex = if next() < 5500 { "F" } else { "M" };
        let ethnic = if i < small {
            "Mixed: White and Asian"
        } else if next() < 7500 {
            "White: English, Welsh, Scottish, Northern Irish or British"
        } else {
            "Asian/Asian British: Pakistani"
        };
        let grade = ["G3", "G6", "G9", "SMT"][(next() % 4) as usize];
        let hourly = 12.0 + (next() as f64) / 500.0 + i as f64 * 1e-6;
        writeln!(
            s,
            "P{:06},2025-03-31,Services,{grade},{sex},\"{ethnic}\",No,{},37,{hourly:.6},0,2015-04-01,,Y",
            100_000 + i,
            20 + next() % 40,
        )
        .unwrap();
    }
    s
}

struct Setup {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    out: PathBuf,
}

impl Setup {
    fn inbox(&self, id: &str) -> PathBuf {
        self.dir.path().join("inboxes").join(id)
    }
}

/// A three-partner config: a shared Census source (sex, each partner's area
/// and the combined authority), each partner's HR extract from its inbox,
/// and the pay-gap and representation indicators. `extra` is appended to
/// the `[[partners]]` entries by id.
fn setup(extra: &BTreeMap<&str, String>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ts008 = dir.path().join("census2021-ts008-ltla.csv");
    // Made-up sex splits for the test areas.
    std::fs::write(
        &ts008,
        "\"date\",\"geography\",\"geography code\",\"Sex: All persons; measures: Value\",\"Sex: Female; measures: Value\",\"Sex: Male; measures: Value\"\n\
         \"2021\",\"Manchester\",\"E08000003\",551943,278300,273643\n\
         \"2021\",\"Salford\",\"E08000006\",270000,136000,134000\n\
         \"2021\",\"Trafford\",\"E08000009\",235000,120000,115000\n\
         \"2021\",\"Greater Manchester\",\"E47000001\",2868000,1460000,1408000\n",
    )
    .unwrap();
    let mut cfg = format!(
        "output_dir = \"out\"\n[exports]\nformats = [\"csv\"]\n\n[partnership]\nid = \"gm\"\nname = \"Greater Manchester\"\n[partnership.vars]\narea = \"E47000001\"\n\n\
         [[sources]]\nname = \"census\"\nplugin = \"ons-census\"\n[sources.options]\nbase_url = \"{}\"\ntables = [\"TS008\"]\ngeography = \"ltla\"\n\n",
        ts008.display()
    );
    for (id, _, _) in PARTNERS {
        write!(
            cfg,
            "[[sources]]\nmax_rejected_pct = 5\nname = \"{id}_hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{{inbox}}/workforce-*.csv\"\nsenior = [\"SMT\"]\n\n"
        )
        .unwrap();
    }
    cfg.push_str(
        "[[indicators]]\nplugin = \"pay-gap\"\n[indicators.options]\nsnapshot_date = \"2025-03-31\"\n\n\
         [[indicators]]\nplugin = \"workforce-representation\"\n[indicators.options]\ncharacteristics = [\"sex\", \"ethnic_group_broad\"]\n[[indicators.options.comparators]]\narea = \"{partner.area}\"\n\n",
    );
    for (id, name, area) in PARTNERS {
        write!(
            cfg,
            "[[partners]]\nid = \"{id}\"\nname = \"{name}\"\nsources = [\"{id}_hr\"]\nkey_env = \"{}\"\ninbox = \"inboxes/{id}\"\n{}\n[partners.vars]\narea = \"{area}\"\n\n",
            key_env(id),
            extra.get(id).map(String::as_str).unwrap_or("")
        )
        .unwrap();
    }
    let cfg_path = dir.path().join("partnership.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = dir.path().join("out");
    let s = Setup {
        cfg: cfg_path,
        out,
        dir,
    };
    for (id, _, _) in PARTNERS {
        std::fs::create_dir_all(s.inbox(id)).unwrap();
    }
    s
}

fn eqpipe_with_keys() -> std::process::Command {
    let mut c = eqpipe();
    for (i, (id, _, _)) in PARTNERS.iter().enumerate() {
        c.env(key_env(id), format!("partner-key-{i}-{id}-0123456789"));
    }
    c
}

/// `eqpipe` with the partners' keys set, run with `args`.
fn run_keyed(args: &[&str]) -> std::process::Output {
    eqpipe_with_keys().args(args).output().unwrap()
}

/// One partner's sources alone (`--partner <id> --sources-only`).
fn run_partner_sources(cfg: &str, id: &str) -> std::process::Output {
    run_keyed(&["run", "--config", cfg, "--partner", id, "--sources-only"])
}

fn run_partnership(s: &Setup) -> std::process::Output {
    eqpipe_with_keys()
        .args(["run", "--config", s.cfg.to_str().unwrap()])
        .output()
        .unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<String> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    // A binary pseudonym, as hex.
    if let Some(k) = c.as_fixed_size_binary_opt() {
        return (0..arrow_array::Array::len(k))
            .map(|i| hex::encode(k.value(i)))
            .collect();
    }
    let c = arrow_cast::cast(c, &arrow_schema::DataType::Utf8).unwrap();
    c.as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// One step of a run manifest (`list` is `sources` or `indicators`).
fn step<'a>(m: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    m[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {m:#}"))
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

#[test]
fn three_partners_one_malformed_are_kept_apart_and_published_together() {
    let s = setup(&BTreeMap::new());
    std::fs::write(
        s.inbox("manchester").join("workforce-2025-03.csv"),
        extract(420, 0x51, 4),
    )
    .unwrap();
    std::fs::write(
        s.inbox("salford").join("workforce-2025-03.csv"),
        extract(260, 0x77, 12),
    )
    .unwrap();
    // Trafford's extract has lost its id column: the whole file is unusable.
    let bad = extract(150, 0x99, 0).replacen("employee_id,", "staff_ref,", 1);
    std::fs::write(s.inbox("trafford").join("workforce-2025-03.csv"), bad).unwrap();

    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(3), "partial run: {}", text(&o));
    let m = last_manifest(&s.out);
    let status = |list: &str, name: &str| -> String {
        step(&m, list, name)["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status("sources", "manchester_hr"), "succeeded");
    assert_eq!(status("sources", "salford_hr"), "succeeded");
    assert_eq!(status("sources", "trafford_hr"), "failed");
    // (Representation is asked for ethnic groups with only TS008 loaded:
    // each level says it could not compare them.)
    for (ind, ok) in [
        ("pay_gap", "succeeded"),
        ("workforce_representation", "succeeded_with_warnings"),
    ] {
        assert_eq!(status("indicators", &format!("{ind}@manchester")), ok);
        assert_eq!(status("indicators", &format!("{ind}@salford")), ok);
        assert_eq!(status("indicators", &format!("{ind}@trafford")), "skipped");
        assert_eq!(status("indicators", &format!("{ind}@gm")), ok);
        assert_eq!(status("indicators", ind), "succeeded");
    }
    let w = &step(&m, "indicators", "workforce_representation@salford")["warnings"][0];
    assert!(
        w["what"]
            .as_str()
            .unwrap()
            .contains("not compared (ethnic_group_broad)"),
        "{w}"
    );

    // Person-level rows: each partner's under its own restricted root only,
    // tagged with its id, and pseudonymised with its own key.
    let restricted = s.out.join("restricted");
    let mut pseudonyms: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (id, _, _) in PARTNERS {
        let root = restricted.join(format!("partner={id}"));
        for f in parquet_files(&root) {
            let (schema, _, _, batches) = read_parquet(&f);
            assert_eq!(schema.field(0).name(), "partner_id", "{}", f.display());
            for b in &batches {
                assert!(
                    strings(b, "partner_id").iter().all(|p| p == id),
                    "{} holds another partner's rows",
                    f.display()
                );
                if b.column_by_name("employee_key").is_some() {
                    pseudonyms
                        .entry(id)
                        .or_default()
                        .extend(strings(b, "employee_key"));
                }
            }
        }
    }
    let (man, sal) = (&pseudonyms["manchester"], &pseudonyms["salford"]);
    assert_eq!(man.len(), 420);
    assert_eq!(sal.len(), 260);
    assert!(
        man.is_disjoint(sal),
        "the same staff ids pseudonymised alike in two partners: they could be linked"
    );
    assert!(!pseudonyms.contains_key("trafford"));
    // Nothing personal outside its partner's root: not the shared
    // restricted folder, not the kept versions, not another partner's.
    assert!(!restricted.join("datasets").join("workforce").exists());
    let mut personal_files = 0;
    for f in parquet_files(&s.out) {
        let (schema, _, _, batches) = read_parquet(&f);
        if schema.field_with_name("employee_key").is_ok() {
            personal_files += 1;
            for b in &batches {
                for pid in strings(b, "partner_id") {
                    assert!(
                        f.starts_with(restricted.join(format!("partner={pid}"))),
                        "{pid}'s rows in {}",
                        f.display()
                    );
                }
            }
        }
    }
    assert!(personal_files >= 4, "the datasets and their kept versions");

    // Published: one file per level that has data, and the partnership's
    // figures are built from both partners' rows.
    for ind in ["pay_gap", "workforce_representation"] {
        for level in ["manchester", "salford", "gm"] {
            assert!(
                s.out
                    .join(format!("indicators/{ind}/partner={level}/part-0.parquet"))
                    .exists(),
                "{ind} {level}"
            );
        }
        assert!(
            !s.out
                .join(format!("indicators/{ind}/partner=trafford"))
                .exists()
        );
    }
    let headcount = |level: &str| -> f64 {
        let f = if level == "gm" {
            restricted.join("indicators/workforce_representation/partner=gm/part-0.parquet")
        } else {
            restricted.join(format!(
                "partner={level}/indicators/workforce_representation/part-0.parquet"
            ))
        };
        let (_, _, _, batches) = read_parquet(&f);
        let b = &batches[0];
        let h = arrow_cast::cast(
            b.column_by_name("headcount").unwrap(),
            &arrow_schema::DataType::Float64,
        )
        .unwrap();
        h.as_primitive::<arrow_array::types::Float64Type>().value(0)
    };
    assert_eq!(headcount("manchester"), 420.0);
    assert_eq!(headcount("salford"), 260.0);
    assert_eq!(headcount("gm"), 680.0);

    // Differencing: in every published cell of the partnership, the number
    // of withheld cells among the levels is never exactly one.
    let key_cols = [
        "snapshot_date",
        "characteristic",
        "scope",
        "scope_value",
        "category",
        "comparator_population",
    ];
    let mut cells: BTreeMap<Vec<String>, Vec<(String, bool)>> = BTreeMap::new();
    for level in ["manchester", "salford", "gm"] {
        let (_, _, _, batches) = read_parquet(&s.out.join(format!(
            "indicators/workforce_representation/partner={level}/part-0.parquet"
        )));
        for b in &batches {
            let keys: Vec<Vec<String>> = key_cols.iter().map(|c| strings(b, c)).collect();
            let sup = b.column_by_name("suppressed").unwrap().as_boolean().clone();
            let pid = strings(b, "partner_id");
            for i in 0..b.num_rows() {
                assert_eq!(pid[i], level);
                let k: Vec<String> = keys.iter().map(|c| c[i].clone()).collect();
                cells
                    .entry(k)
                    .or_default()
                    .push((level.to_string(), sup.value(i)));
            }
        }
    }
    let mut mixed_withheld = false;
    for (k, levels) in &cells {
        let n = levels.iter().filter(|(_, s)| *s).count();
        assert_ne!(n, 1, "{k:?}: one withheld cell among {levels:?}");
        if k[4].starts_with("Mixed") && k[2] == "organisation" {
            mixed_withheld = levels.iter().any(|(l, s)| l == "manchester" && *s);
        }
    }
    assert!(
        mixed_withheld,
        "Manchester's 4 Mixed staff are withheld: {cells:#?}"
    );

    // The catalogue lists each partner's personal data where it lives and
    // every level's published file.
    let cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.out.join("catalog.json")).unwrap()).unwrap();
    let entries = cat["entries"].as_array().unwrap();
    let find = |name: &str, path: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name && e["path"] == path)
            .unwrap_or_else(|| panic!("no catalogue entry {name} at {path}: {cat:#}"))
    };
    let w = find(
        "workforce",
        "restricted/partner=manchester/datasets/workforce",
    );
    assert_eq!(w["rows"], 420);
    assert_eq!(w["restricted"], true);
    assert_eq!(w["columns"][0]["name"], "partner_id");
    let pg = find("pay_gap", "indicators/pay_gap");
    assert_eq!(pg["files"].as_array().unwrap().len(), 3);

    // The spreadsheet export holds every level, each row with its partner.
    let export = std::fs::read_to_string(s.out.join("exports/pay_gap.csv")).unwrap();
    let mut r = csv::Reader::from_reader(export.as_bytes());
    assert_eq!(&r.headers().unwrap()[0], "partner_id");
    let levels: BTreeSet<String> = r.records().map(|x| x.unwrap()[0].to_string()).collect();
    assert_eq!(
        levels,
        ["gm", "manchester", "salford"].map(String::from).into()
    );

    // The service's fields: one row per level and snapshot, never mixed.
    let export = std::fs::read_to_string(s.out.join("exports/gender-pay-gap-service.csv")).unwrap();
    let mut r = csv::Reader::from_reader(export.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(&r.headers().unwrap()[0], "partner_id");
    assert_eq!(&r.headers().unwrap()[1], "SnapshotDate");
    let rows: Vec<(String, String)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].to_string(), x[1].to_string())
        })
        .collect();
    let distinct: BTreeSet<&(String, String)> = rows.iter().collect();
    assert_eq!(distinct.len(), rows.len(), "{rows:?}");
    let partners: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(partners, ["gm", "manchester", "salford"].into());

    // Reports: the partnership's, one per partner with data, the comparison.
    let report = s.out.join("report");
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(index.contains("partners.html") && index.contains("partner=manchester/index.html"));
    assert!(report.join("partner=salford/index.html").exists());
    assert!(report.join("partner=salford/workforce.html").exists());
    let compare = std::fs::read_to_string(report.join("partners.html")).unwrap();
    assert!(compare.contains("manchester") && compare.contains("salford"));
    assert!(compare.contains("[c]"), "withheld cells are shown as [c]");
}

#[test]
fn a_partners_step_cannot_read_another_partners_inbox() {
    let s = setup(&BTreeMap::new());
    for (id, _, _) in PARTNERS {
        std::fs::write(
            s.inbox(id).join("workforce-2025-03.csv"),
            extract(30, 0x5, 0),
        )
        .unwrap();
    }
    // Salford's source pointed at Manchester's inbox.
    let cfg = std::fs::read_to_string(&s.cfg).unwrap().replacen(
        "name = \"salford_hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{inbox}/workforce-*.csv\"",
        &format!(
            "name = \"salford_hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}/workforce-*.csv\"",
            s.inbox("manchester").display()
        ),
        1,
    );
    std::fs::write(&s.cfg, cfg).unwrap();
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let m = last_manifest(&s.out);
    let sal = step(&m, "sources", "salford_hr");
    assert_eq!(sal["status"], "failed");
    let err = sal["error"].as_str().unwrap();
    assert!(err.contains("partner `salford` may not read"), "{err}");
    assert!(
        !s.out
            .join("restricted/partner=salford/datasets/workforce")
            .exists()
    );
}

#[test]
fn partners_that_share_a_key_are_refused_unless_the_partnership_says_so() {
    let s = setup(&BTreeMap::new());
    let o = eqpipe()
        .args(["run", "--config", s.cfg.to_str().unwrap()])
        .env(key_env("manchester"), "the-same-secret-for-both-0123")
        .env(key_env("salford"), "the-same-secret-for-both-0123")
        .env(key_env("trafford"), "another-secret-entirely-0123")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("are the same secret"), "{}", text(&o));
    assert!(
        !text(&o).contains("the-same-secret"),
        "a key leaked: {}",
        text(&o)
    );
}

mod upload {
    use super::*;

    struct Server {
        child: std::process::Child,
        url: String,
        ca: reqwest::Certificate,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn serve(s: &Setup, tokens: &BTreeMap<&str, String>) -> Server {
        // A self-signed certificate for 127.0.0.1.
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        std::fs::write(s.dir.path().join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(s.dir.path().join("key.pem"), &key_pem).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cfg = std::fs::read_to_string(&s.cfg).unwrap();
        write!(
            cfg,
            "\n[serve]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"
        )
        .unwrap();
        for (id, token) in tokens {
            cfg = cfg.replacen(
                &format!("sources = [\"{id}_hr\"]\n"),
                &format!(
                    "sources = [\"{id}_hr\"]\ntoken_sha256 = [\"{}\"]\n",
                    eqpipe_engine::partners::hash_token(token)
                ),
                1,
            );
        }
        std::fs::write(&s.cfg, cfg).unwrap();
        let child = eqpipe_with_keys()
            .args(["serve", "--config", s.cfg.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Server {
            child,
            url: format!("https://127.0.0.1:{port}"),
            ca: reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap(),
        }
    }

    fn put(
        server: &Server,
        path: &str,
        token: Option<&str>,
        body: String,
    ) -> (u16, serde_json::Value) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .add_root_certificate(server.ca.clone())
                .build()
                .unwrap();
            let mut req = client.put(format!("{}{path}", server.url)).body(body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (status, json)
        })
    }

    #[test]
    fn tokens_write_only_their_own_inbox_and_uploads_get_receipts() {
        let s = setup(&BTreeMap::new());
        let tokens: BTreeMap<&str, String> = [
            ("manchester", eqpipe_engine::partners::new_token().unwrap()),
            ("salford", eqpipe_engine::partners::new_token().unwrap()),
        ]
        .into();
        let server = serve(&s, &tokens);
        let file = "/inbox/salford/salford_hr/workforce-2025-03.csv";
        let good = extract(40, 0x3, 0);

        let (code, body) = put(&server, file, None, good.clone());
        assert_eq!(code, 401, "{body}");
        let (code, _) = put(&server, file, Some("eqp_not-a-real-token"), good.clone());
        assert_eq!(code, 401);
        let (code, body) = put(&server, file, Some(&tokens["manchester"]), good.clone());
        assert_eq!(code, 403, "{body}");
        assert!(
            std::fs::read_dir(s.inbox("salford"))
                .unwrap()
                .next()
                .is_none(),
            "nothing reached Salford's inbox"
        );

        // Salford's own token: checked, accepted, receipted.
        let mut with_bad_rows = good.clone();
        with_bad_rows.push_str(
            "P999998,2025-03-31,Services,G3,F,\"White: Irish\",No,41,37,not-a-number,0,2015-04-01,,Y\n",
        );
        let (code, receipt) = put(&server, file, Some(&tokens["salford"]), with_bad_rows);
        assert_eq!(code, 201, "{receipt:#}");
        assert_eq!(receipt["accepted"], true);
        assert_eq!(receipt["partner"], "salford");
        assert_eq!(receipt["rows_read"], 41);
        assert_eq!(receipt["rows_valid"], 40);
        assert_eq!(receipt["rows_rejected"], 1);
        let rej = &receipt["rejections"][0];
        assert_eq!(rej["column"], "hourly_pay", "{receipt:#}");
        assert!(
            !receipt.to_string().contains("not-a-number"),
            "a value leaked into the receipt"
        );
        assert!(s.inbox("salford").join("workforce-2025-03.csv").exists());

        // A file the contract cannot use is refused and not stored.
        let broken = extract(10, 0x4, 0).replacen("employee_id,", "ref,", 1);
        let (code, receipt) = put(
            &server,
            "/inbox/manchester/manchester_hr/workforce-2025-04.csv",
            Some(&tokens["manchester"]),
            broken,
        );
        assert_eq!(code, 422, "{receipt:#}");
        assert_eq!(receipt["accepted"], false);
        assert!(
            receipt["error"].as_str().unwrap().contains("employee_id"),
            "{receipt:#}"
        );
        assert!(!s.inbox("manchester").join("workforce-2025-04.csv").exists());
        assert!(
            files_under(&s.out.join("restricted/partner=manchester/.uploads")).is_empty(),
            "scratch files are cleaned up"
        );

        // An extract holding only its header, or one whose every row is
        // rejected, never replaces good data: refused with the reason.
        let header_only = extract(10, 0x4, 0).lines().next().unwrap().to_string() + "\n";
        let every_row_bad = extract(10, 0x4, 0).replace(",2025-03-31,", ",31/02/2025,");
        for (body, why) in [
            (header_only, "yielded no rows"),
            (every_row_bad, "rejected 10 of 10 rows"),
        ] {
            let (code, receipt) = put(
                &server,
                "/inbox/manchester/manchester_hr/workforce-2025-05.csv",
                Some(&tokens["manchester"]),
                body,
            );
            assert_eq!(code, 422, "{receipt:#}");
            assert!(
                receipt["error"].as_str().unwrap().contains(why),
                "{why}: {receipt:#}"
            );
            assert!(!s.inbox("manchester").join("workforce-2025-05.csv").exists());
        }

        // The audit log has every attempt, and no token.
        let audit = std::fs::read_to_string(s.out.join("audit/uploads.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = audit
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let statuses: Vec<u64> = lines
            .iter()
            .map(|l| l["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, vec![401, 401, 403, 201, 422, 422, 422]);
        assert_eq!(lines[2]["token_partner"], "manchester");
        assert_eq!(lines[3]["rows_valid"], 40);
        for t in tokens.values() {
            assert!(!audit.contains(t.as_str()), "a token in the audit log");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.out.join("audit/uploads.jsonl"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the audit log is owner-only");
        }
        drop(server);

        // The accepted file is what the nightly run then reads.
        let o = run_partnership(&s);
        let m = last_manifest(&s.out);
        let sal = step(&m, "sources", "salford_hr");
        assert_eq!(sal["status"], "succeeded_with_warnings", "{}", text(&o));
        assert_eq!(sal["datasets"]["workforce"]["rows"], 40);
        assert_eq!(sal["datasets"]["workforce"]["quarantined"], 1);
    }
}

/// Every path a partnership run writes, against the golden list in
/// `tests/golden/partnership-layout.txt` (taken before the host was split
/// into crates and kept equal across the move): the published, restricted
/// and per-partner roots, quarantine, caches, state and versions.
#[test]
fn a_partnership_run_writes_the_golden_layout() {
    let s = setup(&BTreeMap::new());
    std::fs::write(
        s.inbox("manchester").join("workforce-2025-03.csv"),
        extract(420, 0x51, 4),
    )
    .unwrap();
    // One of Salford's rows has no id: it is quarantined, the rest kept.
    let mut salford = extract(260, 0x77, 12);
    salford = salford.replacen("\nP100003,", "\n,", 1);
    std::fs::write(s.inbox("salford").join("workforce-2025-03.csv"), salford).unwrap();
    std::fs::write(
        s.inbox("trafford").join("workforce-2025-03.csv"),
        extract(150, 0x99, 0),
    )
    .unwrap();
    let o = run_partnership(&s);
    // Salford lost a row: the run completes, but never as a plain success.
    assert_eq!(
        o.status.code(),
        Some(4),
        "succeeded with warnings: {}",
        text(&o)
    );
    let m = last_manifest(&s.out);
    assert_eq!(m["outcome"], "success_with_warnings", "{m:#}");
    assert_eq!(
        step(&m, "sources", "salford_hr")["status"],
        "succeeded_with_warnings"
    );
    assert_golden("partnership-layout.txt", &layout(&s.out));
}

/// The three partners' extracts, no small group: Manchester 420 staff,
/// Salford 260, Trafford 150.
const EXTRACTS: [(&str, usize, u64); 3] = [
    ("manchester", 420, 0x51),
    ("salford", 260, 0x77),
    ("trafford", 150, 0x99),
];

fn write_extracts(s: &Setup) {
    for (id, n, seed) in EXTRACTS {
        std::fs::write(
            s.inbox(id).join("workforce-2025-03.csv"),
            extract(n, seed, 0),
        )
        .unwrap();
    }
}

/// Female staff in a partner's published representation file (the
/// organisation's sex row), or `None` when withheld.
fn published_women(out: &Path, level: &str) -> Option<i64> {
    let (_, _, _, batches) = read_parquet(&out.join(format!(
        "indicators/workforce_representation/partner={level}/part-0.parquet"
    )));
    for b in &batches {
        let (ch, scope, cat) = (
            strings(b, "characteristic"),
            strings(b, "scope"),
            strings(b, "category"),
        );
        let count = arrow_cast::cast(
            b.column_by_name("count").unwrap(),
            &arrow_schema::DataType::Int64,
        )
        .unwrap();
        let count = count.as_primitive::<arrow_array::types::Int64Type>();
        for i in 0..b.num_rows() {
            if ch[i] == "sex" && scope[i] == "organisation" && cat[i] == "F" {
                return (!arrow_array::Array::is_null(count, i)).then(|| count.value(i));
            }
        }
    }
    None
}

/// A partnership fanned out as Kubernetes Jobs would run it: one
/// partner's sources alone (`--partner manchester --sources-only`), which
/// touches no other partner's data and no indicator, then the indicators
/// alone (`--indicators-only`) over every partner's committed data; each
/// manifest and report says what the run took. A partner the config does
/// not have, or flags that leave nothing to run, are refused by name.
#[test]
fn a_partnership_fans_out_into_partner_source_runs_and_one_indicator_run() {
    let s = setup(&BTreeMap::new());
    write_extracts(&s);
    // The Census source has no ethnic group table: every run with the
    // representation indicator ends with that warning (exit 4).
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let women = |body: &str| {
        body.lines()
            .skip(1)
            .filter(|l| l.split(',').nth(4) == Some("F"))
            .count() as i64
    };
    assert_eq!(
        published_women(&s.out, "manchester"),
        Some(women(&extract(420, 0x51, 0)))
    );

    // Manchester sends a new extract; only its source runs.
    let new = extract(500, 0x1234, 0);
    std::fs::write(s.inbox("manchester").join("workforce-2025-03.csv"), &new).unwrap();
    let others: Vec<(PathBuf, Vec<u8>)> = parquet_files(&s.out)
        .into_iter()
        .filter(|p| {
            !p.to_string_lossy().contains("partner=manchester")
                && !p.to_string_lossy().contains("versions")
        })
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(
        others
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("indicators/"))
    );
    let cfg = s.cfg.to_str().unwrap();
    let o = run_partner_sources(cfg, "manchester");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("scope: manchester's sources, no indicators"),
        "{}",
        text(&o)
    );
    let m = last_manifest(&s.out);
    let names = |list: &str| -> Vec<String> {
        m[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("sources"), ["manchester_hr"]);
    assert!(names("indicators").is_empty());
    assert_eq!(
        m["scope"],
        "manchester's sources, no indicators (--sources-only)"
    );
    for (p, before) in &others {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            before,
            "{} changed",
            p.display()
        );
    }
    // The published figures still stand for the old extract...
    assert_eq!(
        published_women(&s.out, "manchester"),
        Some(women(&extract(420, 0x51, 0)))
    );
    let index = std::fs::read_to_string(s.out.join("report/index.html")).unwrap();
    assert!(index.contains("This run took part of the pipeline: manchester&#39;s sources"));

    // The partnership's id takes the shared sources: the Census here.
    let o = run_keyed(&[
        "run",
        "--config",
        cfg,
        "--partner",
        "gm",
        "--sources-only",
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = last_manifest(&s.out);
    let names: Vec<&str> = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["census"]);

    // ...until the indicator run, which runs no source.
    let o = run_keyed(&["run", "--config", cfg, "--indicators-only"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&s.out);
    assert!(m["sources"].as_array().unwrap().is_empty(), "{m:#}");
    assert!(
        m["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "pay_gap@manchester"),
        "{m:#}"
    );
    assert_eq!(
        m["scope"],
        "the indicators only, over the datasets as last committed (--indicators-only)"
    );
    assert_eq!(published_women(&s.out, "manchester"), Some(women(&new)));
    assert_eq!(
        published_women(&s.out, "salford"),
        Some(women(&extract(260, 0x77, 0)))
    );

    // Refused before anything runs.
    for (args, said) in [
        (
            vec!["--partner", "bolton"],
            "--partner bolton: no such partner (the config's partners: manchester, salford, trafford; `gm`, the partnership's id, takes the shared sources)",
        ),
        (
            vec!["--partner", "salford", "--indicators-only"],
            "cannot be used with",
        ),
        (
            vec!["--sources-only", "--indicators-only"],
            "cannot be used with",
        ),
    ] {
        let runs = std::fs::read_dir(s.out.join("runs")).unwrap().count();
        let o = eqpipe_with_keys()
            .args([&["run", "--config", cfg][..], &args].concat())
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(text(&o).contains(said), "{args:?}: {}", text(&o));
        assert_eq!(std::fs::read_dir(s.out.join("runs")).unwrap().count(), runs);
    }
}

/// The files a Delta table holds now, replayed from its log's JSON commits
/// (add, then remove): (path, partition values).
fn delta_files(table: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    logs.sort();
    let mut files = BTreeMap::new();
    for log in logs {
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(add) = a.get("add") {
                files.insert(
                    add["path"].as_str().unwrap().to_string(),
                    add["partitionValues"].clone(),
                );
            }
            if let Some(rm) = a.get("remove") {
                files.remove(rm["path"].as_str().unwrap());
            }
        }
    }
    files
}

/// The published outputs are committed to a lake of Delta tables, one
/// commit per table per run, partitioned by the folders they sit in; the
/// restricted data never goes there; a run replaces only the partitions it
/// wrote and leaves unchanged tables alone; every table holds the same rows
/// as the local outputs.
#[test]
fn published_outputs_are_committed_to_a_lake_of_delta_tables() {
    let s = setup(&BTreeMap::new());
    write_extracts(&s);
    let mut cfg = std::fs::read_to_string(&s.cfg).unwrap();
    cfg.push_str("\n[lake]\nuri = \"lake\"\n");
    std::fs::write(&s.cfg, cfg).unwrap();
    let lake = s.dir.path().join("lake");
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&s.out);
    assert!(m.get("publication_errors").is_none(), "{m:#}");
    let versions = m["lake_versions"].as_object().unwrap().clone();
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.out.join("catalog.json")).unwrap()).unwrap();
    let published: Vec<&serde_json::Value> = catalog["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["restricted"] == false)
        .collect();
    assert_eq!(versions.len(), published.len(), "{versions:?}");
    // A published output made from personal records says what may be done
    // with it, not the records' "never published".
    for e in &published {
        let licences = e["licences"].to_string();
        assert!(
            !licences.contains("never published"),
            "{}: {licences}",
            e["path"]
        );
    }
    let rep = published
        .iter()
        .find(|e| e["path"] == "indicators/workforce_representation")
        .unwrap();
    assert!(
        rep["licences"]
            .to_string()
            .contains("under disclosure control"),
        "{}",
        rep["licences"]
    );
    // The table says what it is: the files' provenance as its properties.
    let first_entry = std::fs::read_to_string(
        lake.join("datasets/census_counts/_delta_log/00000000000000000000.json"),
    )
    .unwrap();
    let meta = first_entry
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|a| a.get("metaData").cloned())
        .unwrap();
    let conf = &meta["configuration"];
    assert_eq!(conf["eqpipe.dataset"], "census_counts", "{meta:#}");
    assert_eq!(conf["eqpipe.plugin"], "ons-census", "{meta:#}");
    assert_eq!(conf["delta.checkpointInterval"], "20", "{meta:#}");
    // Nothing personal: the restricted datasets have no table.
    assert!(!lake.join("datasets/workforce").exists());
    assert!(
        files_under(&lake)
            .iter()
            .all(|f| !f.to_string_lossy().contains("restricted"))
    );
    let rows_of = |table: &Path| -> (u64, BTreeSet<String>) {
        let files = delta_files(table);
        let mut rows = 0;
        let mut parts = BTreeSet::new();
        for (p, pv) in &files {
            let (_, n, _, _) = read_parquet(&table.join(p));
            rows += n as u64;
            parts.insert(pv.to_string());
        }
        (rows, parts)
    };
    for e in &published {
        let table = lake.join(e["path"].as_str().unwrap());
        let (rows, _) = rows_of(&table);
        assert_eq!(rows, e["rows"].as_u64().unwrap(), "{}", e["path"]);
    }
    // Partitioned as the local folders: a level per partner and the
    // partnership's.
    let rep = lake.join("indicators/workforce_representation");
    let (_, parts) = rows_of(&rep);
    assert_eq!(parts.len(), 4, "{parts:?}");
    assert!(
        parts
            .iter()
            .any(|p| p.contains("\"partner\":\"manchester\"")),
        "{parts:?}"
    );
    assert_eq!(versions["datasets/census_counts"], 0);
    let first = m["run_id"].as_str().unwrap().to_string();
    let first_files = delta_files(&rep);

    // Manchester's new extract, then the indicators: the Census table is
    // not committed again; the indicator tables get one commit each, each
    // partition's old file replaced.
    std::fs::write(
        s.inbox("manchester").join("workforce-2025-03.csv"),
        extract(500, 0x1234, 0),
    )
    .unwrap();
    let cfg = s.cfg.to_str().unwrap();
    let o = run_partner_sources(cfg, "manchester");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_keyed(&["run", "--config", cfg, "--indicators-only"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&s.out);
    let versions = m["lake_versions"].as_object().unwrap();
    // Left as it was: still its first version.
    assert_eq!(versions["datasets/census_counts"], 0, "{versions:?}");
    // Created in the first run (version 0), replaced in this one.
    assert_eq!(
        versions["indicators/workforce_representation"], 1,
        "{versions:?}"
    );
    let files = delta_files(&rep);
    assert_eq!(files.len(), 4, "one file per partition: {files:?}");
    // The first run is kept ([versions] keep = 5), so are its files.
    assert_eq!(parquet_files(&rep).len(), 8);
    let (rows, _) = rows_of(&rep);
    let local: u64 = parquet_files(&s.out.join("indicators/workforce_representation"))
        .iter()
        .map(|f| read_parquet(f).1 as u64)
        .sum();
    assert_eq!(rows, local);

    // Back to the first run: the local files and each lake table's
    // partitions as that run left them (a commit of its files; the later
    // version stays in the log).
    let o = eqpipe()
        .args(["runs", "restore", "--out", s.out.to_str().unwrap(), &first])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "restored lake table indicators/workforce_representation to run {first}'s files (version 2)"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(
        delta_files(&rep).keys().collect::<Vec<_>>(),
        first_files.keys().collect::<Vec<_>>()
    );
    assert!(
        !text(&o).contains("lake table datasets/census_counts"),
        "{}",
        text(&o)
    );

    // A credential in the config is refused by name before any run, and
    // never echoed; so is a variable [lake.env] names that is not set.
    let text_cfg = std::fs::read_to_string(&s.cfg).unwrap().replace(
        "uri = \"lake\"",
        "uri = \"s3://bucket/lake\"\noptions = { aws_secret_access_key = \"not-for-a-config-file\" }",
    );
    std::fs::write(&s.cfg, &text_cfg).unwrap();
    let o = run_keyed(&["validate", "--config", cfg]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("`aws_secret_access_key` is a credential")
            && !text(&o).contains("not-for-a-config-file"),
        "{}",
        text(&o)
    );
    let text_cfg = text_cfg.replace(
        "options = { aws_secret_access_key = \"not-for-a-config-file\" }",
        "env = { aws_secret_access_key = \"EQPIPE_TEST_UNSET_LAKE_SECRET\" }",
    );
    std::fs::write(&s.cfg, text_cfg).unwrap();
    let o = run_keyed(&["validate", "--config", cfg]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("EQPIPE_TEST_UNSET_LAKE_SECRET"),
        "{}",
        text(&o)
    );
}

/// `[versions] keep` is the lake's too: files that no kept run's table
/// version needs are deleted (here at once: `vacuum_grace_minutes = 0`),
/// those it needs stay, and the table still reads whole.
#[test]
fn the_lake_keeps_the_files_of_the_kept_runs_only() {
    let s = setup(&BTreeMap::new());
    write_extracts(&s);
    let mut cfg = std::fs::read_to_string(&s.cfg).unwrap();
    cfg = cfg.replacen(
        "output_dir = \"out\"\n",
        "output_dir = \"out\"\n[versions]\nkeep = 1\n",
        1,
    );
    cfg.push_str("\n[lake]\nuri = \"lake\"\nvacuum_grace_minutes = 0\n");
    std::fs::write(&s.cfg, cfg).unwrap();
    let rep = s
        .dir
        .path()
        .join("lake/indicators/workforce_representation");
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let first = delta_files(&rep);
    std::fs::write(
        s.inbox("manchester").join("workforce-2025-03.csv"),
        extract(500, 0x1234, 0),
    )
    .unwrap();
    let o = run_partnership(&s);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(last_manifest(&s.out).get("publication_errors").is_none());
    let now = delta_files(&rep);
    assert_eq!(now.len(), 4);
    // Only the kept (last) run's files are left on disk.
    let on_disk: BTreeSet<PathBuf> = parquet_files(&rep).into_iter().collect();
    let wanted: BTreeSet<PathBuf> = now.keys().map(|p| rep.join(p)).collect();
    assert_eq!(on_disk, wanted);
    assert!(
        first
            .keys()
            .all(|p| !rep.join(p).exists() || now.contains_key(p))
    );
    let rows: usize = now.keys().map(|p| read_parquet(&rep.join(p)).1).sum();
    let local: usize = parquet_files(&s.out.join("indicators/workforce_representation"))
        .iter()
        .map(|f| read_parquet(f).1)
        .sum();
    assert_eq!(rows, local);
}
