//! The data-quality section at the top of the index: failed steps and
//! every loss, with counts and the quarantine file.

use super::*;

/// The data-quality section at the top of the index: every step that
/// failed and why, and every loss a step that succeeded took (rows
/// rejected by reason, values nulled, coverage a plugin could not use,
/// accepted shrinks), with the quarantine file's name. Counts and column
/// names only, never a value.
pub(super) fn quality_section(manifest: &RunManifest) -> String {
    use eqpipe_core::manifest::StepStatus;
    let steps: Vec<&eqpipe_core::manifest::StepReport> = manifest
        .sources
        .iter()
        .chain(&manifest.indicators)
        .collect();
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::Cancelled))
        .collect();
    let warned: Vec<_> = steps.iter().filter(|s| !s.warnings.is_empty()).collect();
    let mut s = String::from(
        "<section aria-labelledby=\"quality\" class=\"quality\">\n<h2 id=\"quality\">Data quality</h2>\n",
    );
    if failed.is_empty() && warned.is_empty() {
        s.push_str("<p>Every step read all of its input: no rows rejected, no values lost, no areas or answers left out.</p>\n");
    } else {
        let _ = writeln!(
            s,
            "<p><strong>{} step(s) failed</strong> (their last good outputs are unchanged) and <strong>{} step(s) succeeded with warnings</strong>: the figures below were lost on the way. Rejected rows are kept, with the reason, in the quarantine files named here (restricted where the data is personal).</p>",
            failed.len(),
            warned.len()
        );
        s.push_str("<table>\n<caption>Data lost in this run, by step</caption>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Status</th><th scope=\"col\">What</th><th scope=\"col\">How many</th><th scope=\"col\">Of</th><th scope=\"col\">Quarantine file</th></tr></thead>\n<tbody>\n");
        let quarantine = |st: &eqpipe_core::manifest::StepReport| {
            st.quarantine_file
                .as_deref()
                .map(|q| format!("<code>{}</code>", esc(q)))
                .unwrap_or_default()
        };
        for st in &failed {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td></td><td></td><td>{}</td></tr>",
                esc(&st.name),
                st.status.as_str(),
                esc(st.error.as_deref().unwrap_or("")),
                quarantine(st)
            );
        }
        for st in &warned {
            for w in &st.warnings {
                let what = match &w.dataset {
                    Some(d) => format!("{d}: {}", w.what),
                    None => w.what.clone(),
                };
                let _ = writeln!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(&st.name),
                    st.status.as_str().replace('_', " "),
                    esc(&what),
                    w.count,
                    w.of.map(|o| o.to_string()).unwrap_or_default(),
                    if w.kind == eqpipe_core::config::WarningKind::RejectedRows {
                        quarantine(st)
                    } else {
                        String::new()
                    }
                );
            }
        }
        s.push_str("</tbody>\n</table>\n");
    }
    let withheld: Vec<String> = steps
        .iter()
        .flat_map(|st| {
            st.datasets.iter().flat_map(move |(d, r)| {
                r.stats
                    .markers
                    .iter()
                    .map(move |(c, n)| format!("{} ({d}.{c}): {n}", st.name))
            })
        })
        .collect();
    if !withheld.is_empty() {
        let _ = writeln!(
            s,
            "<p>Values the publishers withheld or marked missing (<code>..</code>, <code>[c]</code>, <code>[x]</code> and the like), stored as empty: {}.</p>",
            esc(&withheld.join("; "))
        );
    }
    s.push_str("</section>\n");
    s
}
