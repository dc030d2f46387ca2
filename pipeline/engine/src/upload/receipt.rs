//! The receipt: an uploaded file run through its partner's source alone,
//! in a scratch folder, before it is accepted into the inbox.

use super::*;

/// A rejected row, as a receipt shows it (no values).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReceiptRejection {
    /// The row in the uploaded file.
    pub row: String,
    /// The column.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// The answer to an upload.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// Stored in the inbox.
    pub accepted: bool,
    /// The partner.
    pub partner: String,
    /// The source it is for.
    pub source: String,
    /// The file name in the inbox.
    pub file: String,
    /// Bytes received.
    pub bytes: u64,
    /// SHA-256 of the body.
    pub sha256: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// Rows the source read from it.
    pub rows_read: u64,
    /// Rows that passed the contract.
    pub rows_valid: u64,
    /// Rows the contract rejects (they would go to quarantine).
    pub rows_rejected: u64,
    /// The first rejected rows, with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<ReceiptRejection>,
    /// Data-quality warnings the source raised on it (counts, never values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::runner::Warning>,
    /// Why the file was refused, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Checks an uploaded file: runs the partner's source on it alone (in
/// `scratch`, as if it were the only file in the inbox) and reads what the
/// contract made of it. Accepted when the source succeeds.
pub fn check_upload(
    config: &Config,
    partner: &Partner,
    source: &str,
    staged: &Path,
    name: &str,
    scratch: &Path,
) -> Receipt {
    let mut receipt = Receipt::default();
    let Some(sc) = config.sources.iter().find(|s| s.name == source) else {
        receipt.error = Some(format!("no source `{source}`"));
        return receipt;
    };
    let out = scratch.join("check");
    let mut p = partner.clone();
    p.inbox = None;
    p.sources = vec![source.to_string()];
    let inbox = eqpipe_core::layout::Layout::new(&out).inbox(&p, |x| x.to_path_buf());
    let placed = store::create_dir(&inbox)
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::hard_link(staged, inbox.join(name)).map_err(|e| e.to_string()));
    if let Err(e) = placed {
        receipt.error = Some(format!("cannot stage the file: {e}"));
        return receipt;
    }
    let mut cfg = config.clone();
    cfg.sources = vec![sc.clone()];
    cfg.indicators.clear();
    cfg.objectives.clear();
    cfg.schedules.clear();
    cfg.exports = None;
    cfg.notify = None;
    cfg.versions.keep = 0;
    cfg.partners = vec![p];
    let opts = crate::runner::RunOptions {
        output_dir: out.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
        progress: false,
        scheduled: None,
        snapshot_date: None,
        force: true,
        accept_shrink: false,
        scope: Default::default(),
    };
    let manifest = match crate::runner::run(&cfg, &opts) {
        Ok(m) => m,
        Err(e) => {
            receipt.error = Some(e.to_string());
            return receipt;
        }
    };
    let Some(step) = manifest.sources.first() else {
        receipt.error = Some("the source did not run".into());
        return receipt;
    };
    for d in step.datasets.values() {
        receipt.rows_read += d.stats.rows_in;
        receipt.rows_valid += d.stats.rows;
        receipt.rows_rejected += d.stats.quarantined;
    }
    if let Some(q) = &step.quarantine_file
        && let Ok(mut r) = csv::Reader::from_path(out.join(q))
    {
        for rec in r.records().flatten().take(config.serve.receipt_rejections) {
            receipt.rejections.push(ReceiptRejection {
                row: rec.get(1).unwrap_or("").to_string(),
                column: rec.get(2).unwrap_or("").to_string(),
                reason: rec.get(3).unwrap_or("").to_string(),
            });
        }
    }
    receipt.warnings = step.warnings.clone();
    receipt.accepted = matches!(
        step.status,
        crate::runner::StepStatus::Succeeded | crate::runner::StepStatus::SucceededWithWarnings
    );
    if !receipt.accepted {
        // Error messages name files by their scratch path: show the name.
        let msg = step
            .error
            .clone()
            .unwrap_or_else(|| format!("the source ended {}", step.status.as_str()));
        receipt.error = Some(msg.replace(&inbox.display().to_string(), "inbox"));
    }
    receipt
}
