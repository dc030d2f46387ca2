//! The objectives step of a run: every measure read from the published
//! indicators, merged into the history, assessed, and both files written
//! together.

use super::*;

/// What the objectives step did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rows in the history.
    pub history_rows: u64,
    /// Measures assessed.
    pub measures: u64,
    /// The files written (history, progress).
    pub files: Vec<PathBuf>,
    /// Things an analyst should know (definitions changed, outputs missing).
    pub warnings: Vec<String>,
    /// How many measures have each status.
    pub statuses: BTreeMap<&'static str, u64>,
}

/// Errors of the objectives step.
#[derive(Debug, thiserror::Error)]
pub enum ObjectivesError {
    /// A measure cannot be read (the message names it).
    #[error("{0}")]
    Measure(String),
    /// Writing failed; the previous files are untouched.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the objectives step over the published indicators under `root`.
/// `dataset_of` maps an indicator folder to its contract. Both files are
/// written under temporary names and renamed only when both are complete.
pub fn run(
    root: &Path,
    run_id: &str,
    objectives: &[Objective],
    contracts: &Contracts,
    dataset_of: &dyn Fn(&str) -> Option<Arc<Contract>>,
) -> Result<Outcome, ObjectivesError> {
    let problems = check_columns(objectives, dataset_of);
    if !problems.is_empty() {
        return Err(ObjectivesError::Measure(problems.join("; ")));
    }
    let history_contract = contracts.get(HISTORY).expect("built-in contract");
    let progress_contract = contracts.get(PROGRESS).expect("built-in contract");
    let mut out = Outcome::default();
    let mut inputs: BTreeMap<String, Published> = BTreeMap::new();
    let new = read_points(root, run_id, objectives, &mut inputs, &mut out)?;
    let history_path = eqpipe_core::layout::Layout::new(root)
        .indicator_file(eqpipe_core::layout::Privacy::Public, HISTORY);
    let old = read_history(&history_path).map_err(ObjectivesError::Measure)?;
    let (history, warnings) = merge(old, new);
    out.warnings.extend(warnings);
    let rows = assess_all(objectives, &history, dataset_of, &mut out);
    let md = provenance(run_id, &inputs);
    let write = |contract: &Arc<Contract>, batch: RecordBatch| {
        let mut md = md.clone();
        md.push((
            eqpipe_core::provenance::keys::DATASET.into(),
            contract.name.clone(),
        ));
        md.push((
            eqpipe_core::provenance::keys::CONTRACT_VERSION.into(),
            contract.version.to_string(),
        ));
        let path = eqpipe_core::layout::Layout::new(root)
            .indicator_file(eqpipe_core::layout::Privacy::Public, &contract.name);
        let mut w = PendingFile::create(path, run_id, batch.schema())?;
        w.write(&batch)?;
        w.finish(&md)
    };
    let h = history_batch(history_contract.clone(), &history)
        .map_err(|e| ObjectivesError::Measure(format!("objective history: {e}")))?;
    let p = progress_batch(progress_contract.clone(), &rows)
        .map_err(|e| ObjectivesError::Measure(format!("objective progress: {e}")))?;
    out.history_rows = h.num_rows() as u64;
    out.measures = p.num_rows() as u64;
    let h = write(&history_contract, h)?;
    let p = write(&progress_contract, p)?;
    out.files.push(h.commit()?);
    out.files.push(p.commit()?);
    Ok(out)
}

/// An indicator's published rows and metadata, read once; `None` if it
/// has no published output yet.
type Published = Option<(Vec<RecordBatch>, BTreeMap<String, String>)>;

/// This run's points of every measure, from the published indicators
/// (each read once into `inputs`); a measure whose indicator has no output
/// yet is a warning, and progress uses the recorded history alone.
fn read_points(
    root: &Path,
    run_id: &str,
    objectives: &[Objective],
    inputs: &mut BTreeMap<String, Published>,
    out: &mut Outcome,
) -> Result<Vec<Record>, ObjectivesError> {
    let mut new = Vec::new();
    for o in objectives {
        for m in &o.measures {
            let file = eqpipe_store::files::published_file(root, &m.indicator);
            let data = inputs
                .entry(m.indicator.clone())
                .or_insert_with(|| eqpipe_store::files::read(&file));
            let Some((batches, _)) = data else {
                out.warnings.push(format!(
                    "objective `{}`, measure `{}`: no published `{}` output yet; progress uses the recorded history only",
                    o.id, m.id, m.indicator
                ));
                continue;
            };
            let points = extract(m, batches).map_err(|e| {
                ObjectivesError::Measure(format!(
                    "objective `{}`, measure `{}` ({}): {e}",
                    o.id,
                    m.id,
                    file.display()
                ))
            })?;
            let definition = m.definition();
            new.extend(points.into_iter().map(|point| Record {
                objective_id: o.id.clone(),
                measure_id: m.id.clone(),
                definition: definition.clone(),
                run_id: run_id.to_string(),
                point,
            }));
        }
    }
    Ok(new)
}

/// Each measure assessed over its whole history, with its unit (the
/// measure's, else the indicator column's); the statuses counted.
fn assess_all<'a>(
    objectives: &'a [Objective],
    history: &[Record],
    dataset_of: &dyn Fn(&str) -> Option<Arc<Contract>>,
    out: &mut Outcome,
) -> Vec<MeasureProgress<'a>> {
    let mut series: HashMap<(&str, &str), Vec<Point>> = HashMap::new();
    for r in history {
        series
            .entry((r.objective_id.as_str(), r.measure_id.as_str()))
            .or_default()
            .push(r.point.clone());
    }
    let mut rows = Vec::new();
    for o in objectives {
        for m in &o.measures {
            let unit = m.unit.clone().unwrap_or_else(|| {
                dataset_of(&m.indicator)
                    .and_then(|c| {
                        c.columns
                            .iter()
                            .find(|c| c.name == m.value)
                            .and_then(|c| c.unit.clone())
                    })
                    .unwrap_or_default()
            });
            let points = series
                .get(&(o.id.as_str(), m.id.as_str()))
                .cloned()
                .unwrap_or_default();
            let progress = rule(m, &unit).assess(&points);
            *out.statuses.entry(progress.status.label()).or_default() += 1;
            rows.push(MeasureProgress {
                objective: o,
                measure: m,
                unit,
                progress,
            });
        }
    }
    rows
}

/// The provenance both files carry: the run, eqpipe as the plugin, the
/// input indicators and their licences.
fn provenance(run_id: &str, inputs: &BTreeMap<String, Published>) -> Vec<(String, String)> {
    let mut md = vec![
        (
            eqpipe_core::provenance::keys::RUN_ID.to_string(),
            run_id.to_string(),
        ),
        (
            eqpipe_core::provenance::keys::PIPELINE_VERSION.into(),
            eqpipe_core::manifest::PIPELINE_VERSION.into(),
        ),
        (
            eqpipe_core::provenance::keys::STEP.into(),
            "objectives".into(),
        ),
        (
            eqpipe_core::provenance::keys::PLUGIN.into(),
            "eqpipe-objectives".into(),
        ),
        (
            eqpipe_core::provenance::keys::PLUGIN_VERSION.into(),
            eqpipe_core::manifest::PIPELINE_VERSION.into(),
        ),
        (
            eqpipe_core::provenance::keys::CREATED_AT.into(),
            chrono::Utc::now().to_rfc3339(),
        ),
    ];
    let mut licences: Vec<String> = Vec::new();
    let mut files = Vec::new();
    for (name, data) in inputs {
        if let Some((_, kv)) = data {
            files.push(format!("indicators/{name}/{PART_FILE}"));
            for l in kv
                .get(eqpipe_core::provenance::keys::LICENCE)
                .into_iter()
                .flat_map(|l| l.split(" | "))
            {
                if !licences.iter().any(|x| x == l) {
                    licences.push(l.to_string());
                }
            }
        }
    }
    if !licences.is_empty() {
        md.push((
            eqpipe_core::provenance::keys::LICENCE.into(),
            licences.join(" | "),
        ));
    }
    md.push((
        eqpipe_core::provenance::keys::INPUTS.into(),
        serde_json::to_string(&files).expect("json"),
    ));
    md
}
