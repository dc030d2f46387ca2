//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};

/// The `eqpipe` binary cargo built for these tests.
pub fn eqpipe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eqpipe"));
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// Runs eqpipe with args, returning the output.
pub fn run(args: &[&str]) -> Output {
    eqpipe().args(args).output().expect("eqpipe runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Builds a workspace crate as a dynamic library (in a target folder of its
/// own, so it never waits on the lock of the `cargo test` that runs us) and
/// returns the library's path. Built once per test binary.
pub fn cdylib(package: &str) -> PathBuf {
    build_library(package, &["build", "--quiet", "-p", package])
}

/// Builds a built-in plugin crate (an rlib in the eqpipe binary) as a
/// dynamic library the way its docs say: `cargo rustc --features dynamic
/// --crate-type cdylib`.
pub fn builtin_as_cdylib(package: &str) -> PathBuf {
    build_library(
        package,
        &[
            "rustc",
            "--quiet",
            "-p",
            package,
            "--lib",
            "--features",
            "dynamic",
            "--crate-type",
            "cdylib",
        ],
    )
}

fn build_library(package: &str, args: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap();
    if let Some(p) = map.get(package) {
        return p.clone();
    }
    let root = workspace_root();
    let target = root.join("target").join("plugin-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(args)
        .arg("--message-format=json")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["reason"] == "compiler-artifact"
                && v["target"]["name"].as_str() == Some(&package.replace('-', "_"))
        })
        .flat_map(|v| v["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| {
            f.extension()
                .is_some_and(|e| e == "so" || e == "dylib" || e == "dll")
        })
        .unwrap_or_else(|| panic!("no dynamic library in cargo's output for {package}"));
    map.insert(package.to_string(), path.clone());
    path
}

/// Builds a crate outside the workspace (a generated plugin) in the shared
/// test target folder and returns its dynamic library.
pub fn build_external(krate: &Path, lib_name: &str) -> PathBuf {
    let target = workspace_root().join("target").join("plugin-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(krate)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        krate.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = target.join("debug").join(format!("lib{lib_name}.so"));
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// A scripted HTTP server on 127.0.0.1 for tests: the handler sees the path
/// with query and the request headers, and returns (status, headers, body).
pub struct TestServer {
    server: Arc<tiny_http::Server>,
    pub base: String,
    pub hits: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub type Handler =
    dyn Fn(&str, &HashMap<String, String>) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

impl TestServer {
    pub fn start(handler: Box<Handler>) -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let (s, h) = (server.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                h.fetch_add(1, Ordering::SeqCst);
                let headers: HashMap<String, String> = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(req.as_reader(), &mut sink);
                let (status, hdrs, body) = handler(req.url(), &headers);
                let mut resp = tiny_http::Response::from_data(body).with_status_code(status);
                for (k, v) in hdrs {
                    resp.add_header(
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                    );
                }
                let _ = req.respond(resp);
            }
        });
        TestServer {
            server,
            base: format!("http://{addr}/"),
            hits,
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a Parquet file: (schema, total rows, key-value metadata).
pub fn read_parquet(
    path: &Path,
) -> (
    arrow_schema::SchemaRef,
    usize,
    HashMap<String, String>,
    Vec<arrow_array::RecordBatch>,
) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let kv: HashMap<String, String> = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|v| {
            v.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = b.schema().clone();
    let batches: Vec<_> = b.build().unwrap().map(|r| r.unwrap()).collect();
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    (schema, rows, kv, batches)
}

/// The newest run manifest under `out`.
pub fn last_manifest(out: &Path) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    runs.sort();
    let p = runs.last().expect("a run manifest");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

/// Every path under `root` (folders and files), relative and sorted, one per
/// line, with the parts that change from run to run masked: run ids
/// (`20261202T004216.584Z-7d7f` → `<run>`) and content hashes (64 hex
/// digits → `<hash>`). Folders end in `/`.
pub fn layout(root: &Path) -> String {
    fn mask(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            let hex = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                .count();
            if hex >= 64 {
                out.push_str("<hash>");
                i += hex;
                continue;
            }
            // A run id: 8 digits, T, 6 digits, '.', 3 digits, "Z-", 4 hex.
            let run = &b[i..];
            if run.len() >= 25
                && run[..8].iter().all(u8::is_ascii_digit)
                && run[8] == b'T'
                && run[9..15].iter().all(u8::is_ascii_digit)
                && run[15] == b'.'
                && run[16..19].iter().all(u8::is_ascii_digit)
                && &run[19..21] == b"Z-"
                && run[21..25].iter().all(u8::is_ascii_hexdigit)
            {
                out.push_str("<run>");
                i += 25;
                continue;
            }
            out.push(b[i] as char);
            i += 1;
        }
        out
    }
    let mut lines = std::collections::BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                lines.insert(format!("{}/", mask(&rel)));
                stack.push(p);
            } else {
                lines.insert(mask(&rel));
            }
        }
    }
    lines.into_iter().collect::<Vec<_>>().join("\n") + "\n"
}

/// Compares `actual` with the golden file `tests/golden/<name>`; with
/// `EQPIPE_UPDATE_GOLDEN=1` writes it instead. The golden files are
/// reviewed like code: a change to one is a change to what users see.
pub fn assert_golden(name: &str, actual: &str) {
    let path = workspace_root().join("tests").join("golden").join(name);
    if std::env::var_os("EQPIPE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (EQPIPE_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let exp: std::collections::BTreeSet<&str> = expected.lines().collect();
        let act: std::collections::BTreeSet<&str> = actual.lines().collect();
        let gone: Vec<_> = exp.difference(&act).collect();
        let new: Vec<_> = act.difference(&exp).collect();
        panic!(
            "{} differs from what was written.\nmissing: {gone:#?}\nunexpected: {new:#?}",
            path.display()
        );
    }
}

/// A file of `../shared/data` (the real public files beside the checkout).
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// The text of row `i` of a (dictionary or plain) string column; `None` when null.
pub fn text_at(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b.column_by_name(name).unwrap();
    if c.is_null(i) {
        return None;
    }
    Some(match c.as_any_dictionary_opt() {
        Some(d) => d
            .values()
            .as_string::<i32>()
            .value(d.normalized_keys()[i])
            .to_string(),
        None => c.as_string::<i32>().value(i).to_string(),
    })
}

/// A Float64 column of a batch, by name.
pub fn f64s<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow_array::PrimitiveArray<Float64Type> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
}

/// An Int64 column of a batch, by name.
pub fn i64s<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow_array::PrimitiveArray<Int64Type> {
    b.column_by_name(name).unwrap().as_primitive::<Int64Type>()
}
