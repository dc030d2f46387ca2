//! The service-usage source end to end: a case-system CSV with its own
//! column names, postcodes through an ONS-style postcode lookup and dates of
//! birth to age bands (neither stored); a paged JSON API with a token; and a
//! live PostgreSQL server started by the test (Debian's postgresql; CI
//! installs it and sets `EQPIPE_REQUIRE_POSTGRES=1`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use common::*;

const KEY_ENV: &str = "EQPIPE_TEST_SERVICE_KEY";
const KEY: &str = "a-service-test-key-0123";

fn run_with(cfg: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = eqpipe();
    c.args(["run", "--config", cfg.to_str().unwrap()])
        .env(KEY_ENV, KEY);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn texts(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(name).unwrap();
    let d = c.as_any_dictionary();
    let keys = d.normalized_keys();
    (0..b.num_rows())
        .map(|i| (!c.is_null(i)).then(|| d.values().as_string::<i32>().value(keys[i]).to_string()))
        .collect()
}

fn stored(out: &Path, source: &str) -> Vec<RecordBatch> {
    let f = out.join(format!(
        "restricted/datasets/service_usage/source={source}/part-0.parquet"
    ));
    read_parquet(&f).3
}

/// Nothing under `dir` or in the output contains any of `needles`.
fn assert_absent(dir: &Path, o: &std::process::Output, needles: &[&str]) {
    let logs = text(o);
    for n in needles {
        assert!(!logs.contains(n), "`{n}` in the logs");
        for f in files_under(dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(n),
                "`{n}` in {}",
                f.display()
            );
        }
    }
}

#[test]
fn a_case_system_csv_with_postcodes_and_dates_of_birth() {
    let dir = tempfile::tempdir().unwrap();
    // An NSPL-style lookup (a subset of its columns, in its naming).
    std::fs::write(
        dir.path().join("nspl.csv"),
        "\u{feff}pcd,pcd2,pcds,dointr,doterm,oa21cd,lsoa21cd,msoa21cd,wd24cd,lad24cd\n\
         M1 1AD,M1  1AD,M1 1AD,198001,,E00000001,E01005070,E02000984,E05011376,E08000003\n\
         M13 9PL,M13 9PL,M13 9PL,198001,,E00000002,E01005206,E02001062,E05011372,E08000003\n\
         M14 5TQ,M14 5TQ,M14 5TQ,198001,,E00000003,E01005160,E02001073,E05011361,E08000003\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("contacts.csv"),
        "Client Ref,Team,Contact Date,Post Code,DOB,Gender,Ethnicity,Disabled,Free Text Notes\n\
         C-0001,Adult Social Care,03/02/2025,m1 1ad,1950-06-01,Female,Pakistani,Yes,visited at home\n\
         C-0002,Adult Social Care,04/02/2025,M139PL,1990-12-31,male,White - British,No,\n\
         C-0003,Libraries,05/02/2025,ZZ9 9ZZ,2010-01-15,F,Prefer not to say,,\n\
         C-0001,Libraries,06/02/2025,M14 5TQ,1950-06-01,Female,Pakistani,Yes,\n",
    )
    .unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"cases\"\nplugin = \"service-usage\"\n[sources.options]\npath = \"contacts.csv\"\npseudonymisation_key_env = \"{KEY_ENV}\"\npostcode_lookup = {{ path = \"nspl.csv\" }}\n[sources.options.columns]\nperson_id = \"Client Ref\"\nservice = \"Team\"\ncontact_date = \"Contact Date\"\npostcode = \"Post Code\"\ndate_of_birth = \"DOB\"\nsex = \"Gender\"\nethnic_group = \"Ethnicity\"\ndisability = \"Disabled\"\n"
        ),
    )
    .unwrap();
    let o = run_with(&cfg, &[]);
    // One postcode the lookup does not know: a loss reported as a coverage
    // warning (exit 4), not a silent success.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let m = last_manifest(&dir.path().join("out"));
    let w = &m["sources"][0]["warnings"][0];
    assert_eq!(m["sources"][0]["status"], "succeeded_with_warnings");
    assert_eq!(
        (w["kind"].as_str(), w["count"].as_u64(), w["of"].as_u64()),
        (Some("coverage"), Some(1), Some(4)),
        "{w}"
    );
    assert!(
        w["what"]
            .as_str()
            .unwrap()
            .contains("postcodes the lookup does not know"),
        "{w}"
    );
    let out = dir.path().join("out");
    let b = &stored(&out, "cases")[0];
    assert_eq!(b.num_rows(), 4);
    assert_eq!(
        texts(b, "lsoa_code"),
        vec![
            Some("E01005070".into()),
            Some("E01005206".into()),
            None,
            Some("E01005160".into())
        ]
    );
    assert_eq!(texts(b, "ward_code")[1].as_deref(), Some("E05011372"));
    assert_eq!(
        texts(b, "age_band"),
        vec![
            Some("65+".into()),
            Some("25-34".into()),
            Some("under 16".into()),
            Some("65+".into())
        ]
    );
    assert_eq!(
        texts(b, "ethnic_group")[0].as_deref(),
        Some("Asian, Asian British or Asian Welsh: Pakistani")
    );
    assert_eq!(
        texts(b, "ethnic_group")[2].as_deref(),
        Some("prefer_not_to_say")
    );
    assert_eq!(texts(b, "disability")[2].as_deref(), Some("not_stated"));
    // The same person has the same key across rows; no raw identifier,
    // postcode, date of birth or free text is stored or logged.
    // The key is the HMAC's 32 bytes (contract v2).
    let keys = b
        .column_by_name("person_key")
        .unwrap()
        .as_fixed_size_binary()
        .clone();
    assert_eq!(keys.value_length(), 32);
    assert_eq!(keys.value(0), keys.value(3));
    assert_ne!(keys.value(0), keys.value(1));
    for f in ["postcode", "date_of_birth", "free_text_notes"] {
        assert!(b.schema().field_with_name(f).is_err(), "{f} stored");
    }
    assert_absent(
        &out,
        &o,
        &[
            "C-0001",
            "C-0002",
            "M1 1AD",
            "M139PL",
            "1950-06-01",
            "visited at home",
        ],
    );
}

#[test]
fn a_paged_json_api_with_a_token_is_read_to_the_last_page() {
    let total = 23usize;
    let records: Vec<serde_json::Value> = (0..total)
        .map(|i| {
            serde_json::json!({
                "personId": format!("P{i:03}"),
                "service": if i % 2 == 0 { "Leisure" } else { "Libraries" },
                "date": "2025-01-15",
                "lsoa": "E01005070",
                "sex": if i % 3 == 0 { "M" } else { "F" },
                "ethnicity": "Indian",
                "age": 20 + i,
            })
        })
        .collect();
    let server = TestServer::start(Box::new(move |url, headers| {
        if headers.get("authorization").map(String::as_str) != Some("Bearer tok-123456") {
            return (401, vec![], b"{\"error\": \"no token\"}".to_vec());
        }
        let param = |name: &str| -> usize {
            url.split(&format!("{name}="))
                .nth(1)
                .and_then(|s| s.split('&').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let (offset, limit) = (param("offset"), param("limit"));
        let page: Vec<_> = records.iter().skip(offset).take(limit).cloned().collect();
        let body = serde_json::json!({"data": page, "total": total});
        (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string().into_bytes(),
        )
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"api\"\nplugin = \"service-usage\"\n[sources.options]\npseudonymisation_key_env = \"{KEY_ENV}\"\n[sources.options.http]\nurl = \"{}contacts\"\nrecords = \"/data\"\npaging = \"offset\"\npage_size = 10\ntoken_header = \"Authorization\"\ntoken_env = \"SERVICE_API_TOKEN\"\n[sources.options.columns]\nperson_id = \"personId\"\ncontact_date = \"date\"\nlsoa_code = \"lsoa\"\nethnic_group = \"ethnicity\"\n",
            server.base
        ),
    )
    .unwrap();
    let o = run_with(&cfg, &[("SERVICE_API_TOKEN", "Bearer tok-123456")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.hits(), 3, "pages of 10, 10 and 3");
    let out = dir.path().join("out");
    let rows: usize = stored(&out, "api").iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, total);
    let b = &stored(&out, "api")[0];
    assert_eq!(texts(b, "age_band")[0].as_deref(), Some("16-24"));
    assert_eq!(texts(b, "service")[1].as_deref(), Some("Libraries"));
    // Fetched pages hold personal data: cached only under restricted/.
    let public: Vec<PathBuf> = files_under(&out)
        .into_iter()
        .filter(|f| !f.starts_with(out.join("restricted")))
        .collect();
    for f in &public {
        let s = String::from_utf8_lossy(&std::fs::read(f).unwrap()).to_string();
        assert!(
            !s.contains("P000") && !s.contains("tok-123456"),
            "{}",
            f.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cached: Vec<PathBuf> = files_under(&out.join("restricted/.cache/http"));
        assert!(!cached.is_empty());
        for f in cached {
            assert_eq!(
                std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                f.display()
            );
        }
    }
    let logs = text(&o);
    assert!(!logs.contains("tok-123456") && !logs.contains("P000"));
}

/// A throwaway PostgreSQL server in a temporary folder, on a free port.
struct Pg {
    bin: PathBuf,
    data: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Pg {
    fn start() -> Option<Pg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("EQPIPE_REQUIRE_POSTGRES").is_none(),
                "EQPIPE_REQUIRE_POSTGRES is set but the PostgreSQL server is not installed (apt-get install postgresql)"
            );
            eprintln!("skipped: PostgreSQL server binaries are not installed");
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        // initdb refuses to run as root: run the server as `postgres` then.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if as_postgres {
            assert!(
                Command::new("chown")
                    .args(["-R", "postgres:postgres", data.path().to_str().unwrap()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Pg {
            bin,
            data,
            port,
            as_postgres,
        };
        let db = pg.data.path().join("db");
        let o = pg.cmd(
            "initdb",
            &[
                "-D",
                db.to_str().unwrap(),
                "-U",
                "eqpipe",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        assert!(o.status.success(), "initdb: {}", text(&o));
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            pg.port,
            pg.data.path().display()
        );
        let log = pg.data.path().join("pg.log");
        let o = pg.cmd(
            "pg_ctl",
            &[
                "-D",
                db.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            o.status.success(),
            "pg_ctl start: {} {}",
            text(&o),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Some(pg)
    }

    fn cmd(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(exe)
                .args(args)
                .output()
                .unwrap()
        } else {
            Command::new(exe).args(args).output().unwrap()
        }
    }

    fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=eqpipe dbname=postgres",
            self.port
        )
    }

    fn sql(&self, sql: &str) {
        let psql = self.bin.join("psql");
        let psql = if psql.exists() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let file = self.data.path().join("input.sql");
        std::fs::write(&file, sql).unwrap();
        let o = Command::new(psql)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", &self.url(), "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "psql: {}", text(&o));
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let db = self.data.path().join("db");
        let _ = self.cmd(
            "pg_ctl",
            &["-D", db.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

#[test]
fn a_postgresql_query_is_read_in_batches_from_a_live_server() {
    let Some(pg) = Pg::start() else { return };
    let mut insert = String::from(
        "CREATE TABLE referrals (referral_id text, client_id text, team text, referred_on date, lsoa21 text, sex text, ethnicity text, disabled boolean, age int, contacts int);\nINSERT INTO referrals VALUES\n",
    );
    let eth = [
        "Black African",
        "White British",
        "Chinese",
        "Not stated",
        "Irish",
    ];
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..2_345 {
        let team = ["Early Help", "Housing Options", "Adult Social Care"][i % 3];
        *expected.entry(team.to_string()).or_default() += 1 + (i % 4) as i64;
        let _ = write!(
            insert,
            "{}('R{i:05}', 'CL{:05}', '{team}', DATE '2024-04-01' + {}, 'E0100{:04}', '{}', '{}', {}, {}, {})",
            if i == 0 { "" } else { ",\n" },
            i / 2,
            i % 365,
            i % 50,
            if i % 2 == 0 { "Female" } else { "Male" },
            eth[i % eth.len()],
            if i % 7 == 0 { "true" } else { "false" },
            10 + i % 80,
            1 + i % 4
        );
    }
    insert.push_str(";\n");
    pg.sql(&insert);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"db\"\nplugin = \"service-usage\"\n[sources.options]\npseudonymisation_key_env = \"{KEY_ENV}\"\n[sources.options.postgres]\nurl_env = \"SERVICE_DB_URL\"\nquery = \"SELECT client_id, team, referred_on, lsoa21, sex, ethnicity, CASE WHEN disabled THEN 'Yes' ELSE 'No' END AS disabled, age, contacts FROM referrals ORDER BY referral_id\"\nfetch_size = 500\n[sources.options.columns]\nperson_id = \"client_id\"\nservice = \"team\"\ncontact_date = \"referred_on\"\nlsoa_code = \"lsoa21\"\nethnic_group = \"ethnicity\"\n"
        ),
    )
    .unwrap();
    let o = run_with(&cfg, &[("SERVICE_DB_URL", &pg.url())]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let batches = stored(&out, "db");
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    let mut eth_seen: HashMap<String, usize> = HashMap::new();
    for b in &batches {
        let team = texts(b, "service");
        let contacts = b
            .column_by_name("contacts")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        for (i, t) in team.iter().enumerate() {
            *got.entry(t.clone().unwrap()).or_default() += contacts.value(i);
        }
        for e in texts(b, "ethnic_group").into_iter().flatten() {
            *eth_seen.entry(e).or_default() += 1;
        }
    }
    assert_eq!(got, expected, "every row, in batches of 500");
    assert_eq!(
        eth_seen["Black, Black British, Black Welsh, Caribbean or African: African"],
        469
    );
    assert_eq!(eth_seen["not_stated"], 469);
    assert_absent(&out, &o, &["CL00001", "R00001"]);

    // A wrong password-free URL fails with the variable named, not its value.
    let bad = format!(
        "host=127.0.0.1 port={} user=nobody_here dbname=missing_db",
        pg.port
    );
    std::fs::remove_dir_all(&out).unwrap();
    let o = run_with(&cfg, &[("SERVICE_DB_URL", &bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let logs = text(&o);
    assert!(logs.contains("SERVICE_DB_URL"), "{logs}");
    assert!(!logs.contains("nobody_here dbname"), "{logs}");
}

/// The demo's service-equity figures against a calculation from its
/// restricted `service_usage` rows and the deprivation dataset: distinct
/// users by IMD decile per 1,000 residents, the slope index of inequality
/// (weighted least squares on cumulative population midpoints, solved here
/// through the normal equations), and a Wilson interval.
#[test]
fn service_equity_matches_a_calculation_from_the_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // LSOA -> decile, decile -> residents (IMD rows of the city).
    let mut decile_of: HashMap<String, usize> = HashMap::new();
    let mut residents = [0f64; 10];
    for b in read_parquet(&out.join("datasets/deprivation/source=imd/part-0.parquet")).3 {
        let (lsoa, domain) = (texts(&b, "lsoa_code"), texts(&b, "domain"));
        let d = b
            .column_by_name("decile")
            .unwrap()
            .as_primitive::<arrow_array::types::UInt8Type>()
            .clone();
        let p = b
            .column_by_name("population")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if domain[i].as_deref() == Some("Index of Multiple Deprivation (IMD)") {
                decile_of.insert(lsoa[i].clone().unwrap(), d.value(i) as usize);
                residents[d.value(i) as usize - 1] += p.value(i) as f64;
            }
        }
    }
    // Distinct people per service, their LSOA (the first known) and sex.
    // service -> person key -> (LSOA, sex)
    type People = HashMap<Vec<u8>, (Option<String>, String)>;
    let mut people: BTreeMap<String, People> = BTreeMap::new();
    for b in stored(&out, "services") {
        let key = b
            .column_by_name("person_key")
            .unwrap()
            .as_fixed_size_binary()
            .clone();
        let (service, lsoa, sex) = (
            texts(&b, "service"),
            texts(&b, "lsoa_code"),
            texts(&b, "sex"),
        );
        for i in 0..b.num_rows() {
            for s in [service[i].clone().unwrap(), "All services".to_string()] {
                let e = people
                    .entry(s)
                    .or_default()
                    .entry(key.value(i).to_vec())
                    .or_insert((None, sex[i].clone().unwrap()));
                if e.0.is_none() {
                    e.0 = lsoa[i].clone();
                }
            }
        }
    }
    let raw = read_parquet(&out.join("restricted/indicators/service_equity/part-0.parquet")).3;
    let find =
        |service: &str, measure: &str, group: &str| -> (Option<f64>, Option<f64>, Option<f64>) {
            for b in &raw {
                let (s, m, g) = (texts(b, "service"), texts(b, "measure"), texts(b, "group"));
                let f = |n: &str| {
                    b.column_by_name(n)
                        .unwrap()
                        .as_primitive::<arrow_array::types::Float64Type>()
                        .clone()
                };
                let (v, l, u) = (f("value"), f("lower_ci"), f("upper_ci"));
                for i in 0..b.num_rows() {
                    if s[i].as_deref() == Some(service)
                        && m[i].as_deref() == Some(measure)
                        && g[i].as_deref() == Some(group)
                    {
                        let get =
                            |a: &arrow_array::Float64Array| (!a.is_null(i)).then(|| a.value(i));
                        return (get(&v), get(&l), get(&u));
                    }
                }
            }
            panic!("{service} {measure} {group}");
        };
    for service in ["Early Help", "Libraries", "All services"] {
        let mut users = [0f64; 10];
        for (lsoa, _) in people[service].values() {
            if let Some(d) = lsoa.as_ref().and_then(|l| decile_of.get(l)) {
                users[d - 1] += 1.0;
            }
        }
        let rates: Vec<f64> = (0..10).map(|d| users[d] * 1000.0 / residents[d]).collect();
        for (d, want) in rates.iter().enumerate() {
            let got = find(service, "rate_per_1000", &(d + 1).to_string())
                .0
                .unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{service} decile {}: {got} vs {want}",
                d + 1
            );
        }
        // Weighted least squares through the normal equations.
        let total: f64 = residents.iter().sum();
        let (mut cum, mut sw, mut swx, mut swy, mut swxx, mut swxy) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for d in 0..10 {
            let x = (cum + residents[d] / 2.0) / total;
            cum += residents[d];
            let w = residents[d];
            sw += w;
            swx += w * x;
            swy += w * rates[d];
            swxx += w * x * x;
            swxy += w * x * rates[d];
        }
        let slope = (sw * swxy - swx * swy) / (sw * swxx - swx * swx);
        let got = find(service, "sii", "all").0.unwrap();
        assert!(
            (got - slope).abs() < 1e-9,
            "{service}: SII {got} vs {slope}"
        );
        // RII as OHID defines it: the fitted rate at x = 1 over the fitted
        // rate at x = 0 (the intercept).
        let intercept = (swy - slope * swx) / sw;
        let rii = find(service, "rii", "all").0.unwrap();
        assert!((rii - (intercept + slope) / intercept).abs() < 1e-9);
    }
    // The demo builds Early Help towards deprived areas and Libraries away.
    assert!(find("Early Help", "sii", "all").0.unwrap() < 0.0);
    assert!(find("Libraries", "sii", "all").0.unwrap() > 0.0);
    // Wilson interval of the share of Libraries users who are women.
    let libs = &people["Libraries"];
    let women = libs.values().filter(|p| p.1 == "F").count() as f64;
    let stated = libs.values().filter(|p| p.1 == "F" || p.1 == "M").count() as f64;
    let (v, l, u) = find("Libraries", "share_pct", "F");
    let p = women / stated;
    let z: f64 = 1.959_963_984_540_054;
    let centre = (p + z * z / (2.0 * stated)) / (1.0 + z * z / stated);
    let half = z * (p * (1.0 - p) / stated + z * z / (4.0 * stated * stated)).sqrt()
        / (1.0 + z * z / stated);
    assert!((v.unwrap() - p * 100.0).abs() < 1e-9);
    assert!((l.unwrap() - (centre - half) * 100.0).abs() < 1e-9);
    assert!((u.unwrap() - (centre + half) * 100.0).abs() < 1e-9);
}
