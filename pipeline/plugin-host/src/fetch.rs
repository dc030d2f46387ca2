//! The host's fetch layer: plugins ask, the host downloads.
//!
//! One `reqwest` client (rustls) with timeouts; retries with exponential
//! backoff and full jitter on 429, 5xx and connection errors, honouring
//! `Retry-After`; a minimum interval between requests to the same host; an
//! on-disk cache keyed by URL, revalidated with `If-None-Match` /
//! `If-Modified-Since`; downloads streamed to disk with size checks.
//!
//! Secrets (API keys) come from environment variables named in the request;
//! their values are put on the wire only, and are redacted from every URL,
//! log line and error this module produces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eqpipe_plugin_sdk::{FetchRequest, FetchResponse};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use eqpipe_core::config::FetchConfig;

/// What shows in place of a secret.
pub const REDACTED: &str = "REDACTED";

/// A fetch that failed. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request itself is unusable.
    #[error("{0}")]
    BadRequest(String),
    /// An environment variable named for a secret is not set.
    #[error("environment variable `{0}` (named in the config as a secret) is not set")]
    MissingSecret(String),
    /// A local file is missing or unreadable.
    #[error("{path}: {message}")]
    File {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// The server answered with an error status (after retries if retryable).
    #[error("HTTP {status} from {url}{}", if *.attempts > 1 { format!(" after {} attempts", attempts) } else { String::new() })]
    Status {
        /// The status.
        status: u16,
        /// The URL, redacted.
        url: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Connection, timeout or body error (after retries).
    #[error("fetching {url} failed after {attempts} attempt(s): {message}")]
    Transport {
        /// The URL, redacted.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Why.
        message: String,
    },
    /// The body is larger than allowed.
    #[error(
        "{url}: body of {size} bytes exceeds the limit of {limit} bytes (raise fetch.max_bytes)"
    )]
    TooLarge {
        /// The URL, redacted.
        url: String,
        /// Size seen.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Cache i/o.
    #[error("cache {path}: {message}")]
    Cache {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Cached response metadata, stored beside the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    content_type: Option<String>,
    bytes: u64,
    fetched_at: String,
}

impl CacheMeta {
    /// The cached copy's metadata, if both the body and its metadata are
    /// there and readable.
    fn load(body: &Path, meta: &Path) -> Option<CacheMeta> {
        if !body.exists() {
            return None;
        }
        std::fs::read(meta)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// A response's validators and type, before its body is read.
    fn of(shown: &str, headers: &reqwest::header::HeaderMap) -> CacheMeta {
        let header = |n| {
            headers
                .get(n)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        CacheMeta {
            url: shown.to_string(),
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
            content_type: header(CONTENT_TYPE),
            bytes: 0,
            fetched_at: String::new(),
        }
    }

    /// The response a plugin sees for the body at `path`.
    fn response(
        &self,
        path: &Path,
        shown: &str,
        status: u16,
        from_cache: bool,
        not_modified: bool,
    ) -> FetchResponse {
        FetchResponse {
            path: path.display().to_string(),
            url: shown.to_string(),
            status,
            from_cache,
            not_modified,
            bytes: self.bytes,
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            content_type: self.content_type.clone(),
            fetched_at: Some(self.fetched_at.clone()),
        }
    }
}

/// The fetch service shared by every step of a run.
pub struct Fetcher {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    config: FetchConfig,
    cache_dir: PathBuf,
    /// Cache for steps that read personal data (under the restricted root).
    restricted_cache_dir: Option<PathBuf>,
    base_dir: PathBuf,
    next_slot: tokio::sync::Mutex<HashMap<String, Instant>>,
}

/// Installs the rustls crypto provider once per process.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Fetcher {
    /// A fetcher; `base_dir` resolves relative paths, `cache_dir` holds the cache.
    pub fn new(
        config: FetchConfig,
        cache_dir: PathBuf,
        base_dir: PathBuf,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, FetchError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "eqpipe/",
                env!("CARGO_PKG_VERSION"),
                " (equality-pipeline)"
            ))
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| FetchError::BadRequest(format!("cannot build the HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            runtime,
            config,
            cache_dir,
            restricted_cache_dir: None,
            base_dir,
            next_slot: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Where steps that read personal data cache what they fetch: a folder
    /// under the restricted root (0700, files 0600), never the shared cache.
    pub fn with_restricted_cache(mut self, dir: PathBuf) -> Self {
        self.restricted_cache_dir = Some(dir);
        self
    }

    /// Its settings.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// The cache folder.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The cache folder of steps that make personal data.
    pub fn restricted_cache_dir(&self) -> Option<&Path> {
        self.restricted_cache_dir.as_deref()
    }

    /// The folder relative paths resolve against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Fetches from a plugin thread (blocks on the host's runtime).
    pub fn fetch_blocking(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
    ) -> Result<FetchResponse, FetchError> {
        self.runtime.block_on(self.fetch(req, cancel))
    }

    /// Fetches for a step; a step that writes personal data caches the
    /// body under the restricted root (or, with no restricted cache set, in
    /// the shared one).
    pub fn fetch_for_step(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
        personal: bool,
    ) -> Result<FetchResponse, FetchError> {
        self.fetch_for_step_in(req, cancel, personal, None)
    }

    /// As [`Fetcher::fetch_for_step`], with a partner's own restricted
    /// cache folder in place of the shared restricted one.
    pub fn fetch_for_step_in(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
        personal: bool,
        restricted_cache: Option<&Path>,
    ) -> Result<FetchResponse, FetchError> {
        let dir = match (restricted_cache, &self.restricted_cache_dir, personal) {
            (Some(d), _, true) => d,
            (None, Some(d), true) => d,
            _ => &self.cache_dir,
        };
        self.runtime.block_on(self.fetch_in(req, cancel, dir))
    }

    /// Fetches a request.
    pub async fn fetch(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
    ) -> Result<FetchResponse, FetchError> {
        self.fetch_in(req, cancel, &self.cache_dir).await
    }

    async fn fetch_in(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
        cache_dir: &Path,
    ) -> Result<FetchResponse, FetchError> {
        let url = req.url.trim();
        if url.is_empty() {
            return Err(FetchError::BadRequest("empty URL".into()));
        }
        if let Some(rest) = url.strip_prefix("file://") {
            return self.local(Path::new(rest));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return self.http(req, cancel, cache_dir).await;
        }
        if url.contains("://") {
            return Err(FetchError::BadRequest(format!(
                "unsupported URL scheme in `{url}` (use https://, http://, file:// or a path)"
            )));
        }
        let p = Path::new(url);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        };
        self.local(&p)
    }

    fn local(&self, path: &Path) -> Result<FetchResponse, FetchError> {
        let meta = std::fs::metadata(path).map_err(|e| FetchError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if meta.is_dir() {
            // A folder: plugins list it themselves (globs over snapshots).
            return Ok(FetchResponse {
                path: path.display().to_string(),
                url: format!("file://{}", path.display()),
                status: 200,
                from_cache: false,
                not_modified: false,
                bytes: 0,
                etag: None,
                last_modified: None,
                content_type: Some("inode/directory".into()),
                fetched_at: None,
            });
        }
        if !meta.is_file() {
            return Err(FetchError::File {
                path: path.display().to_string(),
                message: "not a file".into(),
            });
        }
        let modified = meta
            .modified()
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
        Ok(FetchResponse {
            path: path.display().to_string(),
            url: format!("file://{}", path.display()),
            status: 200,
            from_cache: false,
            not_modified: false,
            bytes: meta.len(),
            etag: None,
            last_modified: modified.clone(),
            content_type: None,
            fetched_at: modified,
        })
    }

    /// Builds the real URL (with secrets) and the display URL (redacted).
    fn urls(&self, req: &FetchRequest) -> Result<(url::Url, String, Vec<String>), FetchError> {
        let mut real = url::Url::parse(&req.url)
            .map_err(|e| FetchError::BadRequest(format!("invalid URL `{}`: {e}", req.url)))?;
        let mut shown = real.clone();
        let mut secrets = Vec::new();
        for (param, var) in &req.secret_query {
            let value = std::env::var(var).map_err(|_| FetchError::MissingSecret(var.clone()))?;
            real.query_pairs_mut().append_pair(param, &value);
            shown.query_pairs_mut().append_pair(param, REDACTED);
            secrets.push(value);
        }
        Ok((real, shown.to_string(), secrets))
    }

    fn headers(
        &self,
        req: &FetchRequest,
        secrets: &mut Vec<String>,
    ) -> Result<HeaderMap, FetchError> {
        let mut h = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| FetchError::BadRequest(format!("invalid header name `{k}`")))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|_| FetchError::BadRequest(format!("invalid value for header `{k}`")))?;
            h.insert(name, value);
        }
        for (k, var) in &req.secret_headers {
            let value = std::env::var(var).map_err(|_| FetchError::MissingSecret(var.clone()))?;
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| FetchError::BadRequest(format!("invalid header name `{k}`")))?;
            let mut hv = HeaderValue::try_from(value.as_str()).map_err(|_| {
                FetchError::BadRequest(format!("the secret in `{var}` is not a valid header value"))
            })?;
            hv.set_sensitive(true);
            h.insert(name, hv);
            secrets.push(value);
        }
        Ok(h)
    }

    fn cache_paths(cache_dir: &Path, shown_url: &str) -> (PathBuf, PathBuf) {
        let key = hex::encode(Sha256::digest(shown_url.as_bytes()));
        (
            cache_dir.join(format!("{key}.body")),
            cache_dir.join(format!("{key}.json")),
        )
    }

    async fn wait_turn(&self, host: &str) {
        if self.config.min_interval_ms == 0 {
            return;
        }
        let gap = Duration::from_millis(self.config.min_interval_ms);
        let wait = {
            let mut slots = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = slots.get(host).copied().unwrap_or(now).max(now);
            slots.insert(host.to_string(), slot + gap);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(Duration::from_secs(self.config.retry_after_max_secs));
        }
        let exp = self
            .config
            .backoff_base_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.config.backoff_max_ms);
        // Full jitter: uniformly between half and all of the exponential delay.
        Duration::from_millis(exp / 2 + fastrand::u64(0..=exp / 2))
    }

    // Long: one retry loop; every arm decides retry or return with the
    // attempt count, the cached validators and the redaction in scope.
    async fn http(
        &self,
        req: &FetchRequest,
        cancel: &AtomicBool,
        cache_dir: &Path,
    ) -> Result<FetchResponse, FetchError> {
        let (real, shown, mut secrets) = self.urls(req)?;
        let headers = self.headers(req, &mut secrets)?;
        let redact = |s: String| -> String {
            let mut out = s.replace(real.as_str(), &shown);
            for v in &secrets {
                if !v.is_empty() {
                    out = out.replace(v.as_str(), REDACTED);
                }
            }
            out
        };
        let host = real.host_str().unwrap_or_default().to_string();
        let limit = req
            .max_bytes
            .unwrap_or(self.config.max_bytes)
            .min(self.config.max_bytes);
        let (body_path, meta_path) = Self::cache_paths(cache_dir, &shown);
        eqpipe_store::files::create_dir(cache_dir).map_err(|e| FetchError::Cache {
            path: cache_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let cached = CacheMeta::load(&body_path, &meta_path);
        let attempts_allowed = self.config.retries + 1;
        let mut attempt = 0;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(FetchError::Cancelled);
            }
            attempt += 1;
            self.wait_turn(&host).await;
            let mut rb = self.client.get(real.clone()).headers(headers.clone());
            if let Some(c) = &cached {
                if let Some(e) = &c.etag {
                    rb = rb.header(IF_NONE_MATCH, e);
                }
                if let Some(lm) = &c.last_modified {
                    rb = rb.header(IF_MODIFIED_SINCE, lm);
                }
            }
            let retryable_err = |message: String| FetchError::Transport {
                url: shown.clone(),
                attempts: attempt,
                message,
            };
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let msg = redact(self.cause(e));
                    if attempt < attempts_allowed {
                        tracing::warn!(url = %shown, attempt, "fetch failed ({msg}); retrying");
                        self.sleep(self.backoff(attempt - 1, None), cancel).await?;
                        continue;
                    }
                    return Err(retryable_err(msg));
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED
                && let Some(c) = &cached
            {
                tracing::info!(url = %shown, "not modified; using the cached copy (no download)");
                return Ok(c.response(&body_path, &shown, 304, true, true));
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                if attempt < attempts_allowed {
                    let ra = retry_after(resp.headers());
                    let delay = self.backoff(attempt - 1, ra);
                    tracing::warn!(url = %shown, status = status.as_u16(), attempt, delay_ms = delay.as_millis() as u64, "server busy or failing; retrying");
                    self.sleep(delay, cancel).await?;
                    continue;
                }
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    url: shown,
                    attempts: attempt,
                });
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    url: shown,
                    attempts: attempt,
                });
            }
            if let Some(len) = resp.content_length()
                && len > limit
            {
                return Err(FetchError::TooLarge {
                    url: shown,
                    size: len,
                    limit,
                });
            }
            let mut meta = CacheMeta::of(&shown, resp.headers());
            let expected = resp.content_length();
            match self
                .download(resp, &body_path, limit, expected, cancel)
                .await
            {
                Ok(bytes) => {
                    meta.bytes = bytes;
                    meta.fetched_at = chrono::Utc::now().to_rfc3339();
                    let json = serde_json::to_vec_pretty(&meta).expect("serialisable");
                    eqpipe_store::files::write_atomic(&meta_path, &json).map_err(|e| {
                        FetchError::Cache {
                            path: meta_path.display().to_string(),
                            message: e.to_string(),
                        }
                    })?;
                    tracing::info!(url = %shown, bytes, "downloaded");
                    return Ok(meta.response(&body_path, &shown, status.as_u16(), false, false));
                }
                Err(DownloadError::Fatal(FetchError::TooLarge { size, limit, .. })) => {
                    return Err(FetchError::TooLarge {
                        url: shown,
                        size,
                        limit,
                    });
                }
                Err(DownloadError::Fatal(e)) => return Err(e),
                Err(DownloadError::Retryable(msg)) => {
                    let msg = redact(msg);
                    if attempt < attempts_allowed {
                        tracing::warn!(url = %shown, attempt, "download interrupted ({msg}); retrying");
                        self.sleep(self.backoff(attempt - 1, None), cancel).await?;
                        continue;
                    }
                    return Err(retryable_err(msg));
                }
            }
        }
    }

    async fn sleep(&self, d: Duration, cancel: &AtomicBool) -> Result<(), FetchError> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if cancel.load(Ordering::Relaxed) {
                return Err(FetchError::Cancelled);
            }
            tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(100))).await;
        }
        Ok(())
    }

    /// What went wrong with a request, in words an operator can act on:
    /// refused, timed out (connecting or reading, with the limit), too many
    /// redirects, the name not found, the body cut off; then the innermost
    /// cause. Never the URL (it may carry a secret).
    fn cause(&self, e: reqwest::Error) -> String {
        use std::error::Error as _;
        let mut inner: Vec<String> = Vec::new();
        let mut refused = false;
        let mut src = e.source();
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                refused = true;
            }
            inner.push(s.to_string());
            src = s.source();
        }
        let (timeout, connect, redirect, body) = (
            e.is_timeout(),
            e.is_connect(),
            e.is_redirect(),
            e.is_body() || e.is_decode(),
        );
        let root = match inner.last() {
            Some(r) => r.clone(),
            None => e.without_url().to_string(),
        };
        let cfg = &self.config;
        let what = if timeout && connect {
            format!(
                "timed out after {} s connecting (connect_timeout_secs)",
                cfg.connect_timeout_secs
            )
        } else if timeout {
            format!(
                "timed out after {} s (timeout_secs) waiting for the server",
                cfg.timeout_secs
            )
        } else if refused {
            "connection refused (nothing is listening there)".to_string()
        } else if redirect {
            "too many redirects".to_string()
        } else if connect {
            if root.to_ascii_lowercase().contains("dns")
                || root.contains("failed to lookup address")
            {
                "the host name could not be resolved".to_string()
            } else {
                "could not connect".to_string()
            }
        } else if body {
            "the response body could not be read".to_string()
        } else {
            "the request failed".to_string()
        };
        if inner.is_empty() {
            what
        } else {
            format!("{what}: {root}")
        }
    }

    async fn download(
        &self,
        resp: reqwest::Response,
        body_path: &Path,
        limit: u64,
        expected: Option<u64>,
        cancel: &AtomicBool,
    ) -> Result<u64, DownloadError> {
        let shown_path = body_path.display().to_string();
        let cache_err = |e: std::io::Error| {
            DownloadError::Fatal(FetchError::Cache {
                path: shown_path.clone(),
                message: e.to_string(),
            })
        };
        // Unique per download: two steps may fetch the same URL at once.
        let part = body_path.with_extension(format!(
            "part{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        // Owner-only under the restricted root, like every file there.
        let std_file = eqpipe_store::files::create_file(&part).map_err(|e| {
            DownloadError::Fatal(FetchError::Cache {
                path: shown_path.clone(),
                message: e.to_string(),
            })
        })?;
        let mut file = tokio::fs::File::from_std(std_file);
        let mut stream = resp.bytes_stream();
        let mut n: u64 = 0;
        let result = async {
            while let Some(chunk) = stream.next().await {
                if cancel.load(Ordering::Relaxed) {
                    return Err(DownloadError::Fatal(FetchError::Cancelled));
                }
                let chunk = chunk.map_err(|e| {
                    DownloadError::Retryable(match expected {
                        Some(exp) => format!(
                            "the body was cut off after {n} of {exp} bytes ({})",
                            self.cause(e)
                        ),
                        None => format!("the body was cut off after {n} bytes ({})", self.cause(e)),
                    })
                })?;
                n += chunk.len() as u64;
                if n > limit {
                    return Err(DownloadError::Fatal(FetchError::TooLarge {
                        url: String::new(),
                        size: n,
                        limit,
                    }));
                }
                file.write_all(&chunk).await.map_err(cache_err)?;
            }
            if let Some(exp) = expected
                && exp != n
            {
                return Err(DownloadError::Retryable(format!(
                    "body ended after {n} of {exp} bytes"
                )));
            }
            file.sync_all().await.map_err(cache_err)?;
            Ok(n)
        }
        .await;
        match result {
            Ok(n) => {
                tokio::fs::rename(&part, body_path)
                    .await
                    .map_err(cache_err)?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }
}

enum DownloadError {
    Retryable(String),
    Fatal(FetchError),
}

/// Parses `Retry-After` (seconds or an HTTP date).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Shared handle type.
pub type SharedFetcher = Arc<Fetcher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let future = std::time::SystemTime::now() + Duration::from_secs(30);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(future)).unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cfg = FetchConfig {
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            ..Default::default()
        };
        let f = Fetcher::new(cfg, "/tmp".into(), "/tmp".into(), rt.handle().clone()).unwrap();
        for attempt in 0..10 {
            let d = f.backoff(attempt, None).as_millis() as u64;
            let exp = (100u64 << attempt).min(1000);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d}");
        }
        assert_eq!(
            f.backoff(0, Some(Duration::from_secs(9999))),
            Duration::from_secs(120)
        );
    }
}
