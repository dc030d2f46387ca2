//! Where a step's outputs go and what it reads: targets, input
//! discovery, and the rule that personal data is never published raw.

use super::*;

/// Where a source's partition of a dataset lives: personal datasets under
/// the restricted root (a partner's under its own); a partner's public
/// datasets in a `partner=<id>` partition.
pub(super) fn source_path(
    root: &Path,
    contract: &eqpipe_plugin_sdk::Contract,
    source: &str,
    partner: Option<&str>,
) -> PathBuf {
    Layout::new(root).source_file(&contract.name, contract.personal, source, partner)
}

/// Invariant: published indicators carry no personal data. An indicator
/// may not publish a personal dataset, and one that reads a personal dataset
/// must publish through a contract with a `disclosure` section.
pub(super) fn check_publishable(
    shared: &Shared<'_>,
    plugin: &Plugin,
    output: &eqpipe_plugin_sdk::Contract,
) -> Result<(), StepFailure> {
    if output.personal {
        return Err(StepFailure::failed(format!(
            "indicator output `{}` is marked personal; indicators publish aggregates only",
            output.name
        )));
    }
    let personal_input = plugin
        .manifest
        .consumes
        .iter()
        .chain(&plugin.manifest.consumes_optional)
        .find(|d| shared.contracts.get(d).is_some_and(|c| c.personal));
    if let Some(input) = personal_input
        && output.disclosure.is_none()
    {
        return Err(StepFailure::failed(format!(
            "`{}` reads personal dataset `{input}` but its output contract `{}` has no [disclosure] section; add one so small counts are suppressed before publication",
            plugin.manifest.name, output.name
        )));
    }
    Ok(())
}

pub(super) fn no_contract(dataset: &str) -> String {
    format!(
        "no contract for dataset `{dataset}`: add config/contracts/{dataset}.toml (and set contracts_dir) or declare it in the plugin's manifest"
    )
}

pub(super) fn source_targets(
    shared: &Shared<'_>,
    step: &str,
    plugin: &Plugin,
    partner: Option<&crate::partners::Partner>,
) -> Result<HashMap<String, Target>, StepFailure> {
    let mut targets = HashMap::new();
    for d in &plugin.manifest.produces {
        let contract = shared
            .contracts
            .get(&d.name)
            .ok_or_else(|| StepFailure::failed(no_contract(&d.name)))?;
        targets.insert(
            d.name.clone(),
            Target {
                disclosure: None,
                final_path: source_path(
                    &shared.root,
                    &contract,
                    step,
                    partner.map(|p| p.id.as_str()),
                ),
                validator: Validator::new(contract),
                partner: partner.map(|p| p.id.clone()),
                publish: true,
            },
        );
    }
    Ok(targets)
}

/// Finds the committed files of each input dataset: those of the configured
/// sources that produce it (this run's, or their last good output), or, if
/// no configured source produces it, whatever is stored.
pub(super) fn indicator_inputs(
    shared: &Shared<'_>,
    plugin: &Plugin,
    producers: &HashMap<String, Vec<String>>,
    sources: &[StepReport],
    report: &mut StepReport,
    partnering: &Partnering<'_>,
    level: Option<&crate::partners::Level>,
) -> Result<HashMap<String, (arrow_schema::SchemaRef, Vec<PathBuf>)>, StepFailure> {
    let mut inputs = HashMap::new();
    let required = plugin.manifest.consumes.iter().map(|d| (d, true));
    let optional = plugin.manifest.consumes_optional.iter().map(|d| (d, false));
    for (d, needed) in required.chain(optional) {
        let contract = shared
            .contracts
            .get(d)
            .ok_or_else(|| StepFailure::failed(no_contract(d)))?;
        let mut files = Vec::new();
        match producers.get(d) {
            Some(names) => {
                for n in names {
                    let owner = partnering.owner(n).map(|p| p.id.as_str());
                    // A partner's run reads its own data (and shared data) only.
                    if let (Some(o), Some(l)) = (owner, level)
                        && l.partner.is_some()
                        && o != l.id
                    {
                        continue;
                    }
                    let p = source_path(&shared.root, &contract, n, owner);
                    if p.exists() {
                        let failed = sources.iter().any(|s| &s.name == n && !s.status.ok());
                        if failed {
                            tracing::warn!(dataset = %d, source = %n, "source failed in this run; using its last good output");
                        }
                        files.push(p);
                    }
                }
            }
            None => {
                let dir = source_path(&shared.root, &contract, "x", None)
                    .parent()
                    .and_then(Path::parent)
                    .expect("a dataset folder")
                    .to_path_buf();
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    let mut parts: Vec<PathBuf> = entries
                        .flatten()
                        .map(|e| e.path().join(PART_FILE))
                        .filter(|p| p.exists())
                        .collect();
                    parts.sort();
                    files.extend(parts);
                }
            }
        }
        if files.is_empty() && !needed {
            tracing::info!(dataset = %d, "optional input has no data; the indicator reads it as empty");
        } else if files.is_empty() {
            return Err(StepFailure {
                status: StepStatus::Skipped,
                message: format!(
                    "input dataset `{d}` has no data (its sources failed or are not configured, and no earlier output exists)"
                ),
            });
        }
        report
            .inputs
            .extend(files.iter().map(|f| rel(&shared.root, f)));
        inputs.insert(d.clone(), (contract.arrow_schema(), files));
    }
    Ok(inputs)
}
