//! `eqpipe serve`: the partners' upload endpoint.
//!
//! `PUT /inbox/<partner>/<source>/<file>` with `Authorization: Bearer
//! <token>` stores a file in that partner's inbox, after checking it against
//! the dataset contract: the partner's source plugin runs on the file alone
//! in a scratch folder under the partner's restricted root, and the answer is
//! a JSON receipt (rows read, rows valid, rows rejected with row, column and
//! reason, never the values). The file is accepted (201) when the source
//! would succeed on it, refused (422) otherwise.
//!
//! - No token, or one no partner has: 401. A valid token for another
//!   partner's inbox: 403. Tokens are compared by their SHA-256 only
//!   (`token_sha256` in the config).
//! - TLS with rustls (`[serve] tls_cert`, `tls_key`, PEM). Without them the
//!   server only listens on a loopback address (behind a TLS proxy).
//! - Every request that names an inbox is appended to `audit/uploads.jsonl`
//!   under the output folder: time, client address, partner, token
//!   fingerprint (the first 12 hex digits of its hash), file, size, SHA-256,
//!   status and row counts. Nothing in it identifies a person.
//! - Abuse is shed: header and TLS-handshake timeout, a body idle timeout
//!   (408), a cap on connections in all and per client address (closed at
//!   once), 413 before reading a body whose declared length is over the
//!   limit, a growing wait (429, `Retry-After`) for an address that keeps
//!   sending wrong tokens, and staging a killed server left removed at start.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::partners::{self, Partner};
pub use eqpipe_core::config::ServeConfig;
use eqpipe_store::files as store;

mod audit;
mod receipt;
pub use audit::audit_path;
use audit::*;
pub use receipt::{Receipt, ReceiptRejection, check_upload};

/// Failed tokens per client address: (count in the window, window start,
/// locked out until).
type Failures = HashMap<std::net::IpAddr, (u32, std::time::Instant, Option<std::time::Instant>)>;

/// A running upload server; stops when dropped.
pub struct UploadServer {
    addr: SocketAddr,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UploadServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://addr` or `http://addr`.
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Blocks until the server stops (it never does on its own).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UploadServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    config: Config,
    out: PathBuf,
    audit: Mutex<()>,
    /// Open connections per client address.
    clients: Mutex<HashMap<std::net::IpAddr, usize>>,
    /// Token failures per client address.
    failures: Mutex<Failures>,
}

impl State {
    /// How long `ip` must still wait after too many failed tokens.
    fn locked_out(&self, ip: std::net::IpAddr) -> Option<std::time::Duration> {
        let f = self.failures.lock().expect("not poisoned");
        let until = f.get(&ip)?.2?;
        until.checked_duration_since(std::time::Instant::now())
    }

    /// Counts a failed token from `ip`; past the limit it must wait, twice
    /// as long each time it fails again (1 s up to 5 min).
    fn failed_token(&self, ip: std::net::IpAddr) {
        let now = std::time::Instant::now();
        let limit = self.config.serve.max_token_failures.max(1);
        let mut f = self.failures.lock().expect("not poisoned");
        let e = f.entry(ip).or_insert((0, now, None));
        if now.duration_since(e.1) > std::time::Duration::from_secs(60) && e.2.is_none() {
            *e = (0, now, None);
        }
        e.0 += 1;
        if e.0 >= limit {
            let over = (e.0 - limit).min(8);
            let wait = std::time::Duration::from_secs((1u64 << over).min(300));
            e.2 = Some(now + wait);
        }
    }
}

/// A client's connection, counted while it is open.
struct ClientSlot {
    state: Arc<State>,
    ip: std::net::IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut c = self.state.clients.lock().expect("not poisoned");
        if let Some(n) = c.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

/// Removes staging folders an earlier server left (killed mid-upload).
pub fn remove_abandoned_uploads(out: &Path, partners: &[Partner]) -> usize {
    let mut n = 0;
    for p in partners {
        let staging = eqpipe_core::layout::Layout::new(out).upload_staging(&p.id);
        for e in std::fs::read_dir(&staging).into_iter().flatten().flatten() {
            if std::fs::remove_dir_all(e.path()).is_ok() {
                n += 1;
            }
        }
    }
    n
}

fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Starts the upload server for `config`, writing under `out`.
pub fn start(config: Config, out: PathBuf) -> Result<UploadServer, String> {
    let sc = config.serve.clone();
    let addr: SocketAddr = sc
        .listen
        .parse()
        .map_err(|e| format!("serve.listen `{}`: {e}", sc.listen))?;
    let tls = match (&sc.tls_cert, &sc.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(&config.resolve(c), &config.resolve(k))?),
        (None, None) => {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "serve.listen is {addr}, not a loopback address: set serve.tls_cert and serve.tls_key (uploads carry personal data and tokens), or listen on 127.0.0.1 behind a TLS proxy"
                ));
            }
            None
        }
        _ => return Err("set both serve.tls_cert and serve.tls_key, or neither".into()),
    };
    if config.partners.iter().all(|p| p.token_sha256.is_empty()) {
        return Err(
            "no partner has an upload token: add token_sha256 to a [[partners]] entry (`eqpipe partners token ID` makes one)"
                .into(),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("eqpipe-serve")
        .build()
        .map_err(|e| format!("cannot start the server runtime: {e}"))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let abandoned = remove_abandoned_uploads(&out, &config.partners);
    if abandoned > 0 {
        tracing::info!(
            abandoned,
            "removed uploads an earlier server left half-received"
        );
    }
    let state = Arc::new(State {
        config,
        out,
        audit: Mutex::new(()),
        clients: Mutex::new(HashMap::new()),
        failures: Mutex::new(HashMap::new()),
    });
    let connections = Arc::new(tokio::sync::Semaphore::new(sc.max_connections.max(1)));
    let header_timeout = std::time::Duration::from_secs(sc.header_timeout_secs.max(1));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let has_tls = acceptor.is_some();
    let thread = std::thread::Builder::new()
        .name("eqpipe-serve".into())
        .spawn(move || {
            rt.block_on(accept_loop(
                listener,
                state,
                connections,
                acceptor,
                header_timeout,
                stop_rx,
            ));
            rt.shutdown_background();
        })
        .map_err(|e| format!("cannot start the server thread: {e}"))?;
    Ok(UploadServer {
        addr: bound,
        tls: has_tls,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// Accepts connections until told to stop: over `serve.max_connections`
/// or a client's `max_connections_per_client`, a connection is closed at
/// once with nothing read.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    connections: Arc<tokio::sync::Semaphore>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: std::time::Duration,
    mut stop_rx: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut stop_rx => break,
            got = listener.accept() => match got {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%remote, "connection refused: serve.max_connections reached");
            continue;
        };
        let slot = {
            let mut c = state.clients.lock().expect("not poisoned");
            let n = c.entry(remote.ip()).or_default();
            if *n >= state.config.serve.max_connections_per_client.max(1) {
                tracing::warn!(%remote, "connection refused: serve.max_connections_per_client reached");
                continue;
            }
            *n += 1;
            ClientSlot {
                state: state.clone(),
                ip: remote.ip(),
            }
        };
        let (state, acceptor) = (state.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _held = (permit, slot);
            serve_connection(state, tcp, remote, acceptor, header_timeout).await;
        });
    }
}

/// One connection: the TLS handshake (within the header timeout) if the
/// server has a certificate, then HTTP/1.1 requests to [`handle`].
async fn serve_connection(
    state: Arc<State>,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: std::time::Duration,
) {
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, req, remote).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let result = match acceptor {
        Some(a) => match tokio::time::timeout(header_timeout, a.accept(tcp)).await {
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake timed out");
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!(%remote, "TLS handshake failed: {e}");
                return;
            }
            Ok(Ok(tls)) => {
                http.serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await
            }
        },
        None => {
            http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%remote, "connection ended: {e}");
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string() + "\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"eqpipe\""),
        );
    }
    r
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

/// A file name an inbox accepts: letters, digits, `.`, `-`, `_`, not
/// starting with a dot.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// One request: `GET /health`, or an upload `PUT /inbox/<partner>/<source>/<file>`
/// admitted, received, checked and delivered to the inbox; every request
/// but the health check is audited.
async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if method == Method::GET && path == "/health" {
        return json(StatusCode::OK, &serde_json::json!({"status": "ok"}));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["inbox", partner_id, source, file] = parts.as_slice() else {
        return error(
            StatusCode::NOT_FOUND,
            "not found: PUT /inbox/<partner>/<source>/<file>",
        );
    };
    let target = UploadTarget {
        partner: partner_id.to_string(),
        source: source.to_string(),
        file: file.to_string(),
    };
    let mut line = AuditLine {
        time: chrono::Utc::now().to_rfc3339(),
        remote: remote.to_string(),
        method: method.as_str(),
        path: &path,
        ..Default::default()
    };
    let owner = match admit(&state, &req, remote, &target, &mut line) {
        Ok(owner) => owner.clone(),
        Err(refusal) => {
            let (response, message) = *refusal;
            return finish(&state, &mut line, response, Some(&message));
        }
    };
    // Stream the body into a scratch file under the partner's restricted root.
    let limit = state.config.serve.max_upload_mb.saturating_mul(1 << 20);
    let scratch = eqpipe_core::layout::Layout::new(&state.out)
        .upload_staging(&owner.id)
        .join(nonce());
    let staged = scratch.join("body");
    let idle = std::time::Duration::from_secs(state.config.serve.body_idle_timeout_secs.max(1));
    let (bytes, sha) = match receive(req.into_body(), &scratch, &staged, limit, idle).await {
        Ok(x) => x,
        Err((status, m)) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return finish(&state, &mut line, error(status, &m), Some(&m));
        }
    };
    line.bytes = Some(bytes);
    let st = state.clone();
    let (src, name, stg, scr) = (
        target.source.clone(),
        target.file.clone(),
        staged.clone(),
        scratch.clone(),
    );
    let checked = tokio::task::spawn_blocking(move || {
        check_upload(&st.config, &owner, &src, &stg, &name, &scr)
    })
    .await;
    let mut receipt = match checked {
        Ok(r) => r,
        Err(e) => Receipt {
            error: Some(format!("the check stopped: {e}")),
            ..Default::default()
        },
    };
    receipt.partner = target.partner.clone();
    receipt.source = target.source.clone();
    receipt.file = target.file.clone();
    receipt.bytes = bytes;
    receipt.sha256 = sha.clone();
    receipt.received_at = line.time.clone();
    let status = deliver(&state, &target, &staged, &mut receipt);
    let _ = std::fs::remove_dir_all(&scratch);
    line.sha256 = Some(&sha);
    line.rows_valid = Some(receipt.rows_valid);
    line.rows_rejected = Some(receipt.rows_rejected);
    let body = serde_json::to_value(&receipt).expect("serialisable");
    tracing::info!(partner = %target.partner, source = %target.source, file = %target.file, status = status.as_u16(), rows = receipt.rows_valid, rejected = receipt.rows_rejected, "upload");
    let msg = receipt.error.clone();
    finish(&state, &mut line, json(status, &body), msg.as_deref())
}

/// Where an upload is addressed: the partner, its source and the file name.
struct UploadTarget {
    partner: String,
    source: String,
    file: String,
}

/// A request refused before its body is read: the response, and the
/// audit log's message.
type Refusal = Box<(Response<Full<Bytes>>, String)>;

/// The audit line written with the response's status and a message.
fn finish<'a>(
    state: &State,
    line: &mut AuditLine<'a>,
    resp: Response<Full<Bytes>>,
    msg: Option<&'a str>,
) -> Response<Full<Bytes>> {
    line.status = resp.status().as_u16();
    line.message = msg;
    audit(state, line);
    resp
}

/// Everything checked before a byte of the body is read, in order: the
/// address not locked out, a known token of the addressed partner, the
/// method, the partner's source, a safe file name, the partner's
/// pseudonymisation key present, a declared length within the limit. The
/// token's owner, or the refusal and the audit log's message.
fn admit<'s>(
    state: &'s State,
    req: &Request<Incoming>,
    remote: SocketAddr,
    target: &UploadTarget,
    line: &mut AuditLine<'s>,
) -> Result<&'s Partner, Refusal> {
    let refuse = |status: StatusCode, m: &str| Err(Box::new((error(status, m), m.to_string())));
    if let Some(wait) = state.locked_out(remote.ip()) {
        let m = "too many failed tokens from this address: wait before trying again";
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, m);
        if let Ok(v) = hyper::header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
        return Err(Box::new((r, m.to_string())));
    }
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
        );
    };
    line.token = Some(partners::hash_token(token)[..12].to_string());
    let Some(owner) = partners::token_owner(&state.config.partners, token) else {
        state.failed_token(remote.ip());
        return refuse(StatusCode::UNAUTHORIZED, "unknown token");
    };
    line.token_partner = Some(owner.id.as_str());
    let partner_id = &target.partner;
    if owner.id != *partner_id {
        let m = format!(
            "this token is partner `{}`'s; it cannot write to partner `{partner_id}`'s inbox",
            owner.id
        );
        return Err(Box::new((
            error(StatusCode::FORBIDDEN, &m),
            "wrong partner".into(),
        )));
    }
    if req.method() != Method::PUT && req.method() != Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "use PUT (or POST) to upload",
        );
    }
    if !owner.sources.contains(&target.source) {
        let m = format!(
            "partner `{partner_id}` has no source `{}` (its sources: {})",
            target.source,
            owner.sources.join(", ")
        );
        return Err(Box::new((
            error(StatusCode::NOT_FOUND, &m),
            "unknown source".into(),
        )));
    }
    if !safe_name(&target.file) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "file names are letters, digits, '.', '-' and '_' (not starting with '.')",
        );
    }
    if let Some(var) = partners::key_env(&state.config.partnership, owner)
        && std::env::var(var).map(|v| v.len() < 16).unwrap_or(true)
    {
        tracing::error!(partner = %owner.id, var, "upload refused: the key variable is not set");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server has no pseudonymisation key for this partner; ask the partnership's administrator",
        );
    }
    let limit = state.config.serve.max_upload_mb.saturating_mul(1 << 20);
    // A declared length over the limit is refused before any byte is read.
    if let Some(declared) = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && declared > limit
    {
        let m = format!("the file is larger than serve.max_upload_mb ({limit} bytes)");
        return Err(Box::new((
            error(StatusCode::PAYLOAD_TOO_LARGE, &m),
            "too large".into(),
        )));
    }
    Ok(owner)
}

/// An accepted upload moved into the partner's inbox (201), or the
/// receipt turned into a refusal if it cannot be stored (500); a refused
/// one is 422.
fn deliver(
    state: &State,
    target: &UploadTarget,
    staged: &Path,
    receipt: &mut Receipt,
) -> StatusCode {
    if !receipt.accepted {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let inbox_owner = state
        .config
        .partners
        .iter()
        .find(|p| p.id == target.partner)
        .expect("the token's partner");
    let inbox = eqpipe_core::layout::Layout::new(&state.out)
        .inbox(inbox_owner, |p| state.config.resolve(p));
    let stored = store::create_dir(&inbox)
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::rename(staged, inbox.join(&target.file)).map_err(|e| e.to_string()));
    match stored {
        Ok(()) => StatusCode::CREATED,
        Err(e) => {
            tracing::error!(partner = %target.partner, "cannot store an upload in the inbox: {e}");
            receipt.accepted = false;
            receipt.error = Some("the server could not store the file".into());
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn nonce() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

async fn receive(
    mut body: Incoming,
    scratch: &Path,
    staged: &Path,
    limit: u64,
    idle: std::time::Duration,
) -> Result<(u64, String), (StatusCode, String)> {
    let internal = |e: String| {
        tracing::error!("cannot stage an upload: {e}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not stage the file".to_string(),
        )
    };
    store::create_dir(scratch).map_err(|e| internal(e.to_string()))?;
    let mut f = store::create_file(staged).map_err(|e| internal(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err((
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "no data for {} s (serve.body_idle_timeout_secs): the upload was abandoned",
                        idle.as_secs()
                    ),
                ));
            }
            Ok(None) => break,
            Ok(Some(frame)) => frame,
        };
        let frame =
            frame.map_err(|e| (StatusCode::BAD_REQUEST, format!("reading the upload: {e}")))?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            if n > limit {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the file is larger than serve.max_upload_mb ({limit} bytes)"),
                ));
            }
            hasher.update(&data);
            f.write_all(&data).map_err(|e| internal(e.to_string()))?;
        }
    }
    f.sync_all().map_err(|e| internal(e.to_string()))?;
    if n == 0 {
        return Err((StatusCode::BAD_REQUEST, "the upload is empty".into()));
    }
    Ok((n, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_file_names_are_plain() {
        assert!(safe_name("workforce-2026-03.csv"));
        assert!(!safe_name("../etc/passwd"));
        assert!(!safe_name(".hidden"));
        assert!(!safe_name("a b.csv"));
        assert!(!safe_name(""));
    }
}
