//! The host's fetch layer against scripted local servers: retries with
//! backoff, Retry-After, no retry on 4xx, ETag revalidation, secrets,
//! size limits, local files.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use eqpipe_engine::config::FetchConfig;
use eqpipe_engine::fetch::{FetchError, Fetcher};
use eqpipe_plugin_sdk::FetchRequest;

struct Env {
    _rt: tokio::runtime::Runtime,
    fetcher: Fetcher,
    dir: tempfile::TempDir,
}

fn env() -> Env {
    env_with(FetchConfig {
        retries: 2,
        backoff_base_ms: 20,
        backoff_max_ms: 100,
        min_interval_ms: 0,
        ..FetchConfig::default()
    })
}

fn env_with(cfg: FetchConfig) -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(
        cfg,
        dir.path().join("cache"),
        dir.path().to_path_buf(),
        rt.handle().clone(),
    )
    .unwrap();
    Env {
        _rt: rt,
        fetcher,
        dir,
    }
}

fn no_cancel() -> AtomicBool {
    AtomicBool::new(false)
}

#[test]
fn server_errors_are_retried_with_retry_after_honoured() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let server = TestServer::start(Box::new(move |_, _| {
        match c.fetch_add(1, Ordering::SeqCst) {
            0 => (
                503,
                vec![("Retry-After".into(), "1".into())],
                b"busy".to_vec(),
            ),
            1 => (429, vec![], b"slow down".to_vec()),
            _ => (200, vec![], b"a,b\n1,2\n".to_vec()),
        }
    }));
    let e = env();
    let t = Instant::now();
    let r = e
        .fetcher
        .fetch_blocking(
            &FetchRequest::get(format!("{}data.csv", server.base)),
            &no_cancel(),
        )
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After: {:?}",
        t.elapsed()
    );
    assert_eq!(server.hits(), 3);
    assert_eq!(std::fs::read_to_string(&r.path).unwrap(), "a,b\n1,2\n");
    assert_eq!(r.bytes, 8);
    assert!(!r.from_cache);
}

#[test]
fn client_errors_are_not_retried_and_exhausted_retries_say_so() {
    let server = TestServer::start(Box::new(|url, _| {
        if url.contains("missing") {
            (404, vec![], vec![])
        } else {
            (500, vec![], vec![])
        }
    }));
    let e = env();
    let err = e
        .fetcher
        .fetch_blocking(
            &FetchRequest::get(format!("{}missing.csv", server.base)),
            &no_cancel(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Status {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("missing.csv"));
    assert_eq!(server.hits(), 1);
    let err = e
        .fetcher
        .fetch_blocking(
            &FetchRequest::get(format!("{}broken.csv", server.base)),
            &no_cancel(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("HTTP 500 from {}broken.csv after 3 attempts", server.base)
    );
    assert_eq!(server.hits(), 4);
}

#[test]
fn unchanged_files_are_revalidated_not_downloaded() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = TestServer::start(Box::new(move |_, h| {
        s.lock().unwrap().push(h.get("if-none-match").cloned());
        if h.get("if-none-match").map(String::as_str) == Some("\"v1\"") {
            (304, vec![("ETag".into(), "\"v1\"".into())], vec![])
        } else {
            (
                200,
                vec![
                    ("ETag".into(), "\"v1\"".into()),
                    (
                        "Last-Modified".into(),
                        "Wed, 01 Oct 2025 10:00:00 GMT".into(),
                    ),
                ],
                b"payload".to_vec(),
            )
        }
    }));
    let e = env();
    let req = FetchRequest::get(format!("{}t.zip", server.base));
    let first = e.fetcher.fetch_blocking(&req, &no_cancel()).unwrap();
    assert!(!first.from_cache);
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    let second = e.fetcher.fetch_blocking(&req, &no_cancel()).unwrap();
    assert!(second.from_cache && second.not_modified);
    assert_eq!(second.path, first.path);
    assert_eq!(std::fs::read(&second.path).unwrap(), b"payload");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None, Some("\"v1\"".to_string())]
    );
}

#[test]
fn secrets_go_on_the_wire_only() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = TestServer::start(Box::new(move |url, h| {
        s.lock()
            .unwrap()
            .push((url.to_string(), h.get("authorization").cloned()));
        if url.contains("fail") {
            (500, vec![], vec![])
        } else {
            (200, vec![], b"ok".to_vec())
        }
    }));
    // SAFETY (edition 2024): tests in this binary set distinct variables.
    unsafe {
        std::env::set_var("EQPIPE_TEST_KEY", "k-12345-secret");
        std::env::set_var("EQPIPE_TEST_TOKEN", "Bearer t-67890-secret");
    }
    let e = env();
    let req = FetchRequest::get(format!("{}data?dataset=NM_1", server.base))
        .secret_query("uid", "EQPIPE_TEST_KEY")
        .secret_header("Authorization", "EQPIPE_TEST_TOKEN");
    let r = e.fetcher.fetch_blocking(&req, &no_cancel()).unwrap();
    let (url, auth) = seen.lock().unwrap()[0].clone();
    assert!(url.contains("uid=k-12345-secret"), "sent: {url}");
    assert_eq!(auth.as_deref(), Some("Bearer t-67890-secret"));
    assert!(
        r.url.contains("uid=REDACTED") && !r.url.contains("k-12345"),
        "{}",
        r.url
    );

    let mut bad = req.clone();
    bad.url = format!("{}fail", server.base);
    let err = e
        .fetcher
        .fetch_blocking(&bad, &no_cancel())
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("k-12345") && err.contains("REDACTED"),
        "{err}"
    );
    // Nothing in the cache folder carries the secret either.
    for f in files_under(e.dir.path()) {
        let s = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
        assert!(
            !s.contains("k-12345") && !s.contains("t-67890"),
            "{}",
            f.display()
        );
    }
    let missing = FetchRequest::get(format!("{}data", server.base))
        .secret_query("uid", "EQPIPE_TEST_NOT_SET");
    let err = e
        .fetcher
        .fetch_blocking(&missing, &no_cancel())
        .unwrap_err();
    assert!(
        matches!(err, FetchError::MissingSecret(ref v) if v == "EQPIPE_TEST_NOT_SET"),
        "{err}"
    );
}

#[test]
fn size_limits_and_local_files() {
    let server = TestServer::start(Box::new(|_, _| (200, vec![], vec![b'x'; 10_000])));
    let e = env();
    let mut req = FetchRequest::get(format!("{}big.bin", server.base));
    req.max_bytes = Some(1000);
    let err = e.fetcher.fetch_blocking(&req, &no_cancel()).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::TooLarge {
                size: 10_000,
                limit: 1000,
                ..
            }
        ),
        "{err}"
    );

    std::fs::write(e.dir.path().join("local.csv"), "a\n1\n").unwrap();
    let r = e
        .fetcher
        .fetch_blocking(&FetchRequest::get("local.csv"), &no_cancel())
        .unwrap();
    assert_eq!(r.bytes, 4);
    let abs = e.dir.path().join("local.csv");
    let r = e
        .fetcher
        .fetch_blocking(
            &FetchRequest::get(format!("file://{}", abs.display())),
            &no_cancel(),
        )
        .unwrap();
    assert_eq!(std::fs::read_to_string(r.path).unwrap(), "a\n1\n");
    let err = e
        .fetcher
        .fetch_blocking(&FetchRequest::get("nope.csv"), &no_cancel())
        .unwrap_err();
    assert!(err.to_string().contains("nope.csv"), "{err}");
    let err = e
        .fetcher
        .fetch_blocking(&FetchRequest::get("ftp://x/y"), &no_cancel())
        .unwrap_err();
    assert!(err.to_string().contains("unsupported URL scheme"), "{err}");
}

#[test]
fn connection_failures_are_retried_then_reported() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = env();
    let err = e
        .fetcher
        .fetch_blocking(
            &FetchRequest::get(format!("http://127.0.0.1:{port}/x")),
            &no_cancel(),
        )
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Transport { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("connection refused"), "{err}");
}

/// A raw server on 127.0.0.1 that answers every connection with `reply`
/// after reading the request, then waits `hold` before closing.
fn raw_server(reply: &'static [u8], hold: Duration) -> String {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        // Bounded: a few connections (the first attempt and its retries).
        for s in l.incoming().take(6) {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
            let _ = s.flush();
            std::thread::sleep(hold);
        }
    });
    format!("http://{addr}/file.csv")
}

/// Fetch errors say what happened: a body cut short (with the byte
/// counts), a read that timed out (with the limit), a redirect loop.
#[test]
fn fetch_errors_name_their_cause() {
    let e = env_with(FetchConfig {
        retries: 1,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
        min_interval_ms: 0,
        timeout_secs: 1,
        ..FetchConfig::default()
    });
    let get = |url: &str| {
        e.fetcher
            .fetch_blocking(&FetchRequest::get(url.to_string()), &no_cancel())
            .unwrap_err()
            .to_string()
    };
    // Declares 1,000 bytes, sends 10, closes.
    let url = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/csv\r\n\r\n0123456789",
        Duration::from_millis(0),
    );
    let e = get(&url);
    assert!(e.contains("cut off after 10 of 1000 bytes"), "{e}");
    // Headers, then nothing for longer than timeout_secs.
    let url = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nab",
        Duration::from_secs(3),
    );
    let e = get(&url);
    assert!(e.contains("timed out after 1 s"), "{e}");
    // A redirect to itself, for ever.
    let server = TestServer::start(Box::new(|_, _| {
        (302, vec![("Location".into(), "/loop".into())], vec![])
    }));
    let e = get(&format!("{}loop", server.base));
    assert!(e.contains("too many redirects"), "{e}");
}

#[test]
fn a_cancelled_run_stops_fetching() {
    let server = TestServer::start(Box::new(|_, _| {
        (503, vec![("Retry-After".into(), "30".into())], vec![])
    }));
    let e = env();
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        c.store(true, Ordering::SeqCst);
    });
    let t = Instant::now();
    let err = e
        .fetcher
        .fetch_blocking(&FetchRequest::get(format!("{}x", server.base)), &cancel)
        .unwrap_err();
    assert!(matches!(err, FetchError::Cancelled), "{err}");
    assert!(t.elapsed() < Duration::from_secs(10));
}
