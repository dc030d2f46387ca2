//! The upload audit log: one JSON line per attempt, without values or
//! tokens.

use super::*;

#[derive(Default, serde::Serialize)]
pub(super) struct AuditLine<'a> {
    pub(super) time: String,
    pub(super) remote: String,
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) token_partner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rows_valid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rows_rejected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<&'a str>,
}

/// The audit log of uploads.
pub fn audit_path(out: &Path) -> PathBuf {
    eqpipe_core::layout::Layout::new(out).upload_audit()
}

pub(super) fn audit(state: &State, line: &AuditLine<'_>) {
    let path = audit_path(&state.out);
    let _g = state.audit.lock();
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        let mut o = std::fs::OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&path)?;
        let mut text = serde_json::to_string(line).expect("serialisable");
        text.push('\n');
        f.write_all(text.as_bytes())
    };
    if let Err(e) = write() {
        tracing::error!("cannot write the upload audit log {}: {e}", path.display());
    }
}
