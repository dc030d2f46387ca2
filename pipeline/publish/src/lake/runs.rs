//! The lake's record of the runs that committed to it
//! (`_eqpipe/runs/<run id>.json`: the run, the parts of the lake it wrote
//! and every table's version after it). Vacuum decides from these, not
//! from one machine's manifests: a partnership's runs on other machines
//! keep their `[versions] keep` last runs too, so no machine deletes the
//! files another's kept run needs.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Lake, LakeError, runtime};

/// One run's record.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    /// The parts of the lake it wrote (its locks' names, joined): runs of
    /// one part are kept together.
    parts: String,
    /// Every table's version after the run (manifest keys).
    versions: BTreeMap<String, i64>,
}

impl Lake {
    /// Records a run's table versions in the lake.
    pub fn record_run(
        &self,
        run_id: &str,
        parts: &[String],
        versions: &BTreeMap<String, i64>,
    ) -> Result<(), LakeError> {
        let rec = RunRecord {
            run_id: run_id.to_string(),
            parts: parts.join(","),
            versions: versions.clone(),
        };
        let body = serde_json::to_vec_pretty(&rec).expect("serialisable");
        let key = self.key(&format!("_eqpipe/runs/{run_id}.json"));
        runtime()?
            .block_on(self.store().put(&key, PutPayload::from(body)))
            .map(|_| ())
            .map_err(|e| LakeError::Config(format!("cannot record the run in the lake: {e}")))
    }

    /// The versions of every table the kept runs left (the last `keep` of
    /// each part of the lake, by run id, which sorts by time); the records
    /// of older runs are deleted.
    pub fn kept_versions(&self, keep: usize) -> Result<BTreeMap<String, BTreeSet<i64>>, LakeError> {
        let err =
            |e: object_store::Error| LakeError::Config(format!("the lake's run records: {e}"));
        let store = self.store().clone();
        let prefix = self.key("_eqpipe/runs");
        runtime()?.block_on(async {
            let mut records: Vec<(object_store::path::Path, RunRecord)> = Vec::new();
            let mut list = store.list(Some(&prefix));
            while let Some(m) = list.next().await {
                let m = m.map_err(err)?;
                let body = store
                    .get(&m.location)
                    .await
                    .map_err(err)?
                    .bytes()
                    .await
                    .map_err(err)?;
                match serde_json::from_slice::<RunRecord>(&body) {
                    Ok(r) => records.push((m.location, r)),
                    Err(e) => tracing::warn!("skipping the lake's run record {}: {e}", m.location),
                }
            }
            records.sort_by(|a, b| b.1.run_id.cmp(&a.1.run_id));
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut kept: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
            for (key, r) in records {
                let n = seen.entry(r.parts.clone()).or_default();
                *n += 1;
                if *n > keep.max(1) {
                    if let Err(e) = store.delete(&key).await {
                        tracing::warn!("cannot delete the lake's run record {key}: {e}");
                    }
                    continue;
                }
                for (t, v) in r.versions {
                    kept.entry(t).or_default().insert(v);
                }
            }
            Ok(kept)
        })
    }
}
