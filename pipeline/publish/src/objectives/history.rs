//! The objective history (one row per objective, measure and period) and
//! the progress table: reading, merging and the Arrow batches written.

use super::*;

/// One recorded figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Objective.
    pub objective_id: String,
    /// Measure.
    pub measure_id: String,
    /// The measure's definition fingerprint when recorded.
    pub definition: String,
    /// The run that recorded it.
    pub run_id: String,
    /// The figure.
    pub point: Point,
}

/// Reads the history file (none yet: empty).
pub fn read_history(path: &Path) -> Result<Vec<Record>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let (batches, _) = eqpipe_store::files::read(path)
        .ok_or_else(|| format!("cannot read the objectives history {}", path.display()))?;
    let mut out = Vec::new();
    for b in &batches {
        let col = |n: &str| {
            b.column_by_name(n)
                .ok_or_else(|| format!("the objectives history has no column `{n}`"))
        };
        let t = |n: &str| -> Result<Vec<String>, String> {
            text_values(col(n)?.as_ref()).map_err(|e| e.to_string())
        };
        let f = |n: &str| -> Result<Vec<Option<f64>>, String> {
            f64_values(col(n)?.as_ref()).map_err(|e| e.to_string())
        };
        let (oid, mid, def, run) = (
            t("objective_id")?,
            t("measure_id")?,
            t("definition")?,
            t("run_id")?,
        );
        let period = date_values(col("period")?.as_ref()).map_err(|e| e.to_string())?;
        let (value, num, den, base) = (f("value")?, f("numerator")?, f("denominator")?, f("base")?);
        let sup = eqpipe_plugin_sdk::bool_values(col("suppressed")?.as_ref())
            .map_err(|e| e.to_string())?;
        for i in 0..b.num_rows() {
            let Some(p) = period[i] else { continue };
            out.push(Record {
                objective_id: oid[i].clone(),
                measure_id: mid[i].clone(),
                definition: def[i].clone(),
                run_id: run[i].clone(),
                point: Point {
                    period: from_days(p),
                    value: value[i],
                    numerator: num[i],
                    denominator: den[i],
                    base: base[i],
                    suppressed: sup[i].unwrap_or(false),
                },
            });
        }
    }
    Ok(out)
}

/// Merges this run's figures into the history: a period already recorded
/// takes the new figure; a measure whose definition changed loses its old
/// figures (returned as warnings).
pub fn merge(history: Vec<Record>, new: Vec<Record>) -> (Vec<Record>, Vec<String>) {
    let current: HashMap<(String, String), String> = new
        .iter()
        .map(|r| {
            (
                (r.objective_id.clone(), r.measure_id.clone()),
                r.definition.clone(),
            )
        })
        .collect();
    let mut warnings = BTreeMap::new();
    let mut by_key: BTreeMap<(String, String, NaiveDate), Record> = BTreeMap::new();
    for r in history {
        let k = (r.objective_id.clone(), r.measure_id.clone());
        if let Some(d) = current.get(&k)
            && *d != r.definition
        {
            *warnings.entry(k).or_insert(0usize) += 1;
            continue;
        }
        by_key.insert((k.0, k.1, r.point.period), r);
    }
    for r in new {
        by_key.insert(
            (r.objective_id.clone(), r.measure_id.clone(), r.point.period),
            r,
        );
    }
    let warnings = warnings
        .into_iter()
        .map(|((o, m), n)| {
            format!(
                "objective `{o}`, measure `{m}`: its definition changed, so the {n} figure(s) recorded under the old one were dropped from the history"
            )
        })
        .collect();
    (by_key.into_values().collect(), warnings)
}

fn strings(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn opt_strings(v: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(v.into_iter().collect::<StringArray>())
}

fn floats(v: impl IntoIterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(v.into_iter().collect::<Float64Array>())
}

fn dates(v: impl IntoIterator<Item = Option<NaiveDate>>) -> ArrayRef {
    Arc::new(
        v.into_iter()
            .map(|d| d.map(to_days))
            .collect::<Date32Array>(),
    )
}

/// Conforms plain columns to a contract (dictionary-encoding categoricals);
/// any rejected row is a bug here, reported as an error.
fn conform(contract: Arc<Contract>, columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, String> {
    let columns: Vec<(&str, ArrayRef)> = columns
        .into_iter()
        .map(|(name, col)| (name, eqpipe_store::protect::round(&col, &contract, name)))
        .collect();
    let batch = RecordBatch::try_from_iter(columns).map_err(|e| e.to_string())?;
    let mut v = Validator::new(contract);
    let out = v.validate(&batch).map_err(|e| e.to_string())?;
    if let Some(r) = out.rejections.first() {
        return Err(format!(
            "{} row(s) broke the contract (first: column `{}`: {})",
            out.rejections.len(),
            r.column,
            r.reason
        ));
    }
    Ok(out.batch)
}

/// The history as a batch of `objective_history`.
pub fn history_batch(contract: Arc<Contract>, rows: &[Record]) -> Result<RecordBatch, String> {
    let p = |f: fn(&Point) -> Option<f64>| floats(rows.iter().map(|r| f(&r.point)));
    conform(
        contract,
        vec![
            (
                "objective_id",
                strings(rows.iter().map(|r| r.objective_id.clone())),
            ),
            (
                "measure_id",
                strings(rows.iter().map(|r| r.measure_id.clone())),
            ),
            ("period", dates(rows.iter().map(|r| Some(r.point.period)))),
            ("value", p(|p| p.value)),
            ("numerator", p(|p| p.numerator)),
            ("denominator", p(|p| p.denominator)),
            ("base", p(|p| p.base)),
            (
                "suppressed",
                Arc::new(BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.point.suppressed)),
                )),
            ),
            (
                "definition",
                strings(rows.iter().map(|r| r.definition.clone())),
            ),
            ("run_id", strings(rows.iter().map(|r| r.run_id.clone()))),
        ],
    )
}

/// One measure's progress, with what it is about.
pub struct MeasureProgress<'a> {
    /// The objective.
    pub objective: &'a Objective,
    /// The measure.
    pub measure: &'a Measure,
    /// The unit shown.
    pub unit: String,
    /// The outcome.
    pub progress: Progress,
}

/// The progress rows as a batch of `objective_progress`.
// Long: one entry per column of `objective_progress`, in the contract's
// order; the list is the function.
pub fn progress_batch(
    contract: Arc<Contract>,
    rows: &[MeasureProgress<'_>],
) -> Result<RecordBatch, String> {
    let pr = |f: &dyn Fn(&Progress) -> Option<f64>| floats(rows.iter().map(|r| f(&r.progress)));
    let change = |f: &dyn Fn(&progress::Change) -> f64| {
        floats(
            rows.iter()
                .map(|r| r.progress.since_baseline.as_ref().map(f)),
        )
    };
    conform(
        contract,
        vec![
            (
                "objective_id",
                strings(rows.iter().map(|r| r.objective.id.clone())),
            ),
            (
                "objective_title",
                strings(rows.iter().map(|r| r.objective.title.clone())),
            ),
            (
                "owner",
                opt_strings(rows.iter().map(|r| r.objective.owner.clone())),
            ),
            (
                "measure_id",
                strings(rows.iter().map(|r| r.measure.id.clone())),
            ),
            (
                "measure_title",
                strings(rows.iter().map(|r| r.measure.title.clone())),
            ),
            (
                "indicator",
                strings(rows.iter().map(|r| r.measure.indicator.clone())),
            ),
            ("unit", strings(rows.iter().map(|r| r.unit.clone()))),
            (
                "direction",
                strings(rows.iter().map(|r| r.measure.direction.label().to_string())),
            ),
            (
                "target",
                floats(rows.iter().map(|r| Some(r.measure.target))),
            ),
            (
                "target_date",
                dates(rows.iter().map(|r| Some(r.measure.target_date))),
            ),
            (
                "baseline_period",
                dates(
                    rows.iter()
                        .map(|r| r.progress.baseline.as_ref().map(|p| p.period)),
                ),
            ),
            ("baseline_value", pr(&|p| p.baseline.as_ref()?.value)),
            (
                "latest_period",
                dates(
                    rows.iter()
                        .map(|r| r.progress.latest.as_ref().map(|p| p.period)),
                ),
            ),
            (
                "latest_value",
                pr(&|p| p.latest.as_ref().filter(|l| !l.suppressed)?.value),
            ),
            ("latest_lower", pr(&|p| p.latest_interval.map(|i| i.0))),
            ("latest_upper", pr(&|p| p.latest_interval.map(|i| i.1))),
            (
                "previous_period",
                dates(
                    rows.iter()
                        .map(|r| r.progress.previous.as_ref().map(|p| p.period)),
                ),
            ),
            ("previous_value", pr(&|p| p.previous.as_ref()?.value)),
            ("change_since_baseline", change(&|c| c.change)),
            ("change_lower", change(&|c| c.lower)),
            ("change_upper", change(&|c| c.upper)),
            (
                "change_assessment",
                opt_strings(rows.iter().map(|r| {
                    r.progress
                        .since_baseline
                        .map(|c| c.assessment.label().to_string())
                })),
            ),
            (
                "change_since_previous",
                pr(&|p| p.since_previous.map(|c| c.change)),
            ),
            (
                "previous_change_assessment",
                opt_strings(rows.iter().map(|r| {
                    r.progress
                        .since_previous
                        .map(|c| c.assessment.label().to_string())
                })),
            ),
            ("slope_per_year", pr(&|p| p.slope_per_year)),
            ("projected_value", pr(&|p| p.projected)),
            (
                "periods",
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.progress.periods as i64),
                )),
            ),
            (
                "status",
                strings(rows.iter().map(|r| r.progress.status.label().to_string())),
            ),
            (
                "reason",
                strings(rows.iter().map(|r| r.progress.reason.clone())),
            ),
        ],
    )
}
