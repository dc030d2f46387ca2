//! `[serve]`: the partners' upload endpoint.

use std::path::PathBuf;

use serde::Deserialize;

/// `[serve]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on (default `127.0.0.1:8443`).
    pub listen: String,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Largest upload accepted, MB (default 512).
    pub max_upload_mb: u64,
    /// Rejected rows listed in a receipt (default 100; all are counted).
    pub receipt_rejections: usize,
    /// A client must send its request headers within this many seconds
    /// (and complete the TLS handshake), or the connection is closed
    /// (default 10).
    pub header_timeout_secs: u64,
    /// The longest gap between two pieces of an upload's body before it is
    /// abandoned with 408 (default 30).
    pub body_idle_timeout_secs: u64,
    /// Connections served at once (default 64); more are closed at once.
    pub max_connections: usize,
    /// Connections one client address may hold at once (default 8).
    pub max_connections_per_client: usize,
    /// Failed tokens one address may send in a minute before it is made
    /// to wait (429 with Retry-After, doubling while it keeps failing;
    /// default 10).
    pub max_token_failures: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8443".into(),
            tls_cert: None,
            tls_key: None,
            max_upload_mb: 512,
            receipt_rejections: 100,
            header_timeout_secs: 10,
            body_idle_timeout_secs: 30,
            max_connections: 64,
            max_connections_per_client: 8,
            max_token_failures: 10,
        }
    }
}
