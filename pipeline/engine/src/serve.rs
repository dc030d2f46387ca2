//! A small static-file HTTP server on 127.0.0.1, used by the demo (so the
//! real fetch path is exercised with no network) and by tests.
//!
//! It answers `GET /<file>` from one folder, with `ETag`, `Last-Modified`,
//! `Content-Length` and `304 Not Modified` on a matching `If-None-Match`, and
//! counts the requests and full downloads it served.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// A running server; stops when dropped.
pub struct StaticServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
    /// Requests answered.
    pub requests: Arc<AtomicU64>,
    /// Answers that sent a body (200).
    pub downloads: Arc<AtomicU64>,
}

impl StaticServer {
    /// Serves `root` on an ephemeral port of 127.0.0.1.
    pub fn start(root: &Path) -> std::io::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let requests = Arc::new(AtomicU64::new(0));
        let downloads = Arc::new(AtomicU64::new(0));
        let (s, root, rq, dl) = (
            server.clone(),
            root.to_path_buf(),
            requests.clone(),
            downloads.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("eqpipe-static-server".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    rq.fetch_add(1, Ordering::Relaxed);
                    if answer(&root, req) {
                        dl.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })?;
        Ok(StaticServer {
            server,
            addr,
            thread: Some(thread),
            requests,
            downloads,
        })
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

/// Answers one request; true when a body was sent.
fn answer(root: &Path, req: tiny_http::Request) -> bool {
    let url_path = req
        .url()
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let path: PathBuf = root.join(&url_path);
    let safe = !url_path.split('/').any(|c| c == ".." || c.is_empty()) && path.is_file();
    if req.method() != &tiny_http::Method::Get || !safe {
        let _ = req.respond(tiny_http::Response::from_string("not found").with_status_code(404));
        return false;
    }
    let Ok(bytes) = std::fs::read(&path) else {
        let _ = req.respond(tiny_http::Response::from_string("unreadable").with_status_code(500));
        return false;
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..16]);
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(httpdate::fmt_http_date)
        .unwrap_or_default();
    let matches = req
        .headers()
        .iter()
        .any(|h| h.field.equiv("If-None-Match") && h.value.as_str() == etag);
    if matches {
        let resp = tiny_http::Response::empty(304)
            .with_header(header("ETag", &etag))
            .with_header(header("Last-Modified", &modified));
        let _ = req.respond(resp);
        return false;
    }
    let ctype = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => "text/csv",
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let resp = tiny_http::Response::from_data(bytes)
        .with_header(header("ETag", &etag))
        .with_header(header("Last-Modified", &modified))
        .with_header(header("Content-Type", ctype));
    let _ = req.respond(resp);
    true
}
