//! What a run tells the outside world when nobody is watching:
//! - `metrics.prom` in the output root after every run, in the Prometheus
//!   text format (for node_exporter's textfile collector or any scraper
//!   reading a file): run outcome and duration, rows, quarantined rows,
//!   status and duration per step, suppressed cells;
//! - an optional webhook (`[notify]` in the config) posting a short JSON
//!   message (`{"text": …}`, which Slack and Teams incoming webhooks
//!   accept) when a run is not a success, or after every run. It carries
//!   step names, statuses and error messages (which never hold row
//!   values), never data;
//! - with `eqpipe schedule --metrics-addr 127.0.0.1:9464`, an HTTP endpoint
//!   (`GET /metrics`) serving the last run's metrics and the daemon's own
//!   counters (runs, failed runs, config reloads), for a Prometheus scrape.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::runner::{Outcome, RunManifest};
pub use eqpipe_core::config::NotifyConfig;

/// The webhook message for a run.
pub fn message(m: &RunManifest) -> serde_json::Value {
    let mut text = format!("eqpipe run {} ended {}: ", m.run_id, m.outcome.as_str());
    let problems: Vec<String> = m
        .sources
        .iter()
        .chain(&m.indicators)
        .filter(|s| !s.status.ok())
        .map(|s| {
            let why = s
                .error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            format!("{} {} ({why})", s.name, s.status.as_str())
        })
        .collect();
    let warned: Vec<String> = m
        .sources
        .iter()
        .chain(&m.indicators)
        .filter(|s| !s.warnings.is_empty())
        .map(|s| {
            let ws: Vec<String> = s.warnings.iter().take(3).map(|w| w.to_string()).collect();
            let more = s.warnings.len().saturating_sub(3);
            format!(
                "{} {} ({}{})",
                s.name,
                s.status.as_str(),
                ws.join("; "),
                if more > 0 {
                    format!("; {more} more")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    if problems.is_empty() && warned.is_empty() {
        text.push_str("every step succeeded or was unchanged.");
    } else {
        if !problems.is_empty() {
            text.push_str(&problems.join("; "));
            text.push_str(". The last good outputs of those steps are untouched.");
        }
        if !warned.is_empty() {
            if !problems.is_empty() {
                text.push(' ');
            }
            text.push_str("Data-quality warnings: ");
            text.push_str(&warned.join("; "));
            text.push('.');
        }
    }
    serde_json::json!({
        "text": text,
        "run_id": m.run_id,
        "outcome": m.outcome,
        "schedule": m.schedule,
        "failed_steps": problems,
        "warning_steps": warned,
    })
}

/// Posts the run's message to the webhook, if configured and due. Errors
/// are logged, never fatal; the URL (a secret) is never logged.
pub fn notify(cfg: Option<&NotifyConfig>, m: &RunManifest, runtime: &tokio::runtime::Runtime) {
    let Some(cfg) = cfg else { return };
    if m.outcome == Outcome::Success && !cfg.always {
        return;
    }
    let Ok(url) = std::env::var(&cfg.webhook_url_env) else {
        tracing::warn!(variable = %cfg.webhook_url_env, "notify: the webhook URL variable is not set; no notification sent");
        return;
    };
    let body = message(m);
    let result = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let resp = client
            .post(url.as_str())
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status().as_u16()))
        }
    });
    match result {
        Ok(()) => tracing::info!("notification sent"),
        Err(e) => tracing::warn!("notification not sent: {e}"),
    }
}

/// The daemon's own counters, served next to the last run's metrics.
#[derive(Debug, Default)]
pub struct DaemonCounters {
    /// Runs started.
    pub runs: AtomicU64,
    /// Runs that did not succeed (or could not start).
    pub failed: AtomicU64,
    /// Config reloads that took effect.
    pub reloads: AtomicU64,
    /// Config reloads refused (the running config was kept).
    pub reload_failures: AtomicU64,
}

/// `GET /metrics` on a local address: the output root's `metrics.prom`
/// (read at each scrape, so it is always the last run's) followed by the
/// daemon's counters. Stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free one). `root` is shared so a
    /// config reload that moves the output folder is followed.
    pub fn start(
        addr: SocketAddr,
        root: Arc<Mutex<PathBuf>>,
        counters: Arc<DaemonCounters>,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| "the metrics listener is not an IP socket".to_string())?;
        let server = Arc::new(server);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("eqpipe-metrics".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    let path = req.url().split('?').next().unwrap_or("").to_string();
                    let resp = if req.method() != &tiny_http::Method::Get || path != "/metrics" {
                        tiny_http::Response::from_string("not found: try GET /metrics\n")
                            .with_status_code(404)
                    } else {
                        let root = root.lock().map(|r| r.clone()).unwrap_or_default();
                        let mut body = std::fs::read_to_string(
                            eqpipe_core::layout::Layout::new(root.as_path()).metrics(),
                        )
                        .unwrap_or_default();
                        body.push_str(&daemon_metrics(&counters, started));
                        tiny_http::Response::from_string(body).with_header(
                            "Content-Type: text/plain; version=0.0.4; charset=utf-8"
                                .parse::<tiny_http::Header>()
                                .expect("valid header"),
                        )
                    };
                    let _ = req.respond(resp);
                }
            })
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        Ok(MetricsServer {
            server,
            addr,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemon's counters in the Prometheus text format.
pub fn daemon_metrics(c: &DaemonCounters, started: chrono::DateTime<chrono::Utc>) -> String {
    let mut s = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(s, "# HELP eqpipe_daemon_{name} {help}");
        let _ = writeln!(s, "# TYPE eqpipe_daemon_{name} counter");
        let _ = writeln!(s, "eqpipe_daemon_{name} {v}");
    };
    counter(
        "runs_total",
        "Runs the daemon started.",
        c.runs.load(Ordering::Relaxed),
    );
    counter(
        "failed_runs_total",
        "Runs that did not succeed in full, or could not start.",
        c.failed.load(Ordering::Relaxed),
    );
    counter(
        "reloads_total",
        "Config reloads (SIGHUP) that took effect.",
        c.reloads.load(Ordering::Relaxed),
    );
    counter(
        "reload_failures_total",
        "Config reloads refused because the new config was invalid.",
        c.reload_failures.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        s,
        "# HELP eqpipe_daemon_start_time_seconds When the daemon started (Unix time)."
    );
    let _ = writeln!(s, "# TYPE eqpipe_daemon_start_time_seconds gauge");
    let _ = writeln!(
        s,
        "eqpipe_daemon_start_time_seconds {}",
        started.timestamp()
    );
    s
}
