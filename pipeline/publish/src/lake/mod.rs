//! The lake: every published dataset and indicator committed as a Delta
//! table (`[lake] uri`), after the run's local validation and disclosure
//! control, one commit per table per run. The files are eqpipe's own (the
//! same Parquet bytes as the local folder, written by its arrow stack);
//! `deltalake-core` only commits the log, so no Arrow array crosses between
//! the two arrow versions (ARCHITECTURE.md, "Scale-out").
//!
//! A table's partition columns are the folders its files sit in
//! (`source=<s>`, `partner=<id>`); a run replaces the files of the
//! partitions it wrote and no others, so another partner's or source's
//! rows stay as they were. A file is named by its content's SHA-256: a
//! partition whose files are already the table's is not committed again.
//! Restricted (personal) data goes only to a lake of its own
//! (`[lake.restricted]`), never to the published one.
//!
//! The lake is a folder or object storage (`store.rs`). Several runs may
//! commit to one table at once (partners' runs on different machines):
//! Delta's optimistic concurrency takes commits to other partitions as
//! they come, and a commit that lost a race for the same files is made
//! again from the table's new version, a few times, then failed by name.
//! Two runs of the same partner at once are kept apart by the lake's locks
//! (`lock.rs`), not by the table.

mod lock;
mod pull;
mod runs;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use deltalake_core::DeltaTable;
use deltalake_core::kernel::transaction::CommitBuilder;
use deltalake_core::kernel::{Action, Add, DataType, PrimitiveType, StructField};
use deltalake_core::protocol::{DeltaOperation, SaveMode};

use crate::catalog::{Catalog, CatalogEntry};

pub use lock::LakeLock;
pub use pull::{Pulled, pull};
pub use store::Lake;

/// A lake that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// `[lake]` names a store eqpipe cannot open.
    #[error("{0}")]
    Config(String),
    /// A file could not be read or copied.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A table could not be created or committed.
    #[error("lake table {table}: {message}")]
    Table {
        /// The table's folder.
        table: String,
        /// Why.
        message: String,
    },
    /// Another run's commit to the same files won, each time this run
    /// tried again.
    #[error("lake table {table}: {message}")]
    Conflict {
        /// The table's folder.
        table: String,
        /// The last conflict.
        message: String,
    },
    /// Another run holds the lake's lock on a part this run writes.
    #[error("{0}")]
    Locked(String),
}

/// How many times a table's commit is made again after losing a race.
const COMMIT_ATTEMPTS: u32 = 8;

/// Commits made again after losing a race, in this process (for the
/// bench and the logs' totals).
static RETRIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many commits this process made again after losing a race.
pub fn retries() -> usize {
    RETRIES.load(std::sync::atomic::Ordering::Relaxed)
}

impl Lake {
    /// A table's current version (`None`: no such table yet).
    pub fn table_version(&self, table: &str) -> Result<Option<i64>, LakeError> {
        let t = runtime()?.block_on(self.table(table))?;
        Ok(t.version().map(|v| v as i64))
    }

    /// How many files a table's current version has.
    pub fn table_files(&self, table: &str) -> Result<usize, LakeError> {
        runtime()?.block_on(async {
            let t = self.table(table).await?;
            if t.version().is_none() {
                return Ok(0);
            }
            let snapshot = t.snapshot().map_err(|e| LakeError::Table {
                table: table.to_string(),
                message: e.to_string(),
            })?;
            Ok(snapshot.log_data().iter().count())
        })
    }
}

/// A commit error that another writer's commit caused (so the commit is
/// worth making again from the table's new version).
fn conflict(table: &str, e: deltalake_core::DeltaTableError) -> LakeError {
    use deltalake_core::DeltaTableError as E;
    use deltalake_core::kernel::transaction::TransactionError as T;
    let message = e.to_string();
    let table = table.to_string();
    match e {
        E::VersionAlreadyExists(_)
        | E::Transaction {
            source: T::VersionAlreadyExists(_) | T::CommitConflict(_) | T::MaxCommitAttempts(_),
        } => LakeError::Conflict { table, message },
        _ => LakeError::Table { table, message },
    }
}

/// One of the run's files for a table: its path in the table, its
/// partition values, its size and the local file.
type RunFile = (String, Vec<(String, String)>, u64, PathBuf);

/// A Delta type for a Parquet file's Arrow type (unsigned bytes widened to
/// short, Delta having no unsigned types; dictionaries as their values).
fn delta_type(t: &arrow_schema::DataType) -> Option<DataType> {
    use arrow_schema::DataType as A;
    Some(DataType::Primitive(match t {
        A::Utf8 | A::LargeUtf8 => PrimitiveType::String,
        A::Dictionary(_, v) => return delta_type(v),
        A::Int8 => PrimitiveType::Byte,
        A::Int16 | A::UInt8 => PrimitiveType::Short,
        A::Int32 | A::UInt16 => PrimitiveType::Integer,
        A::Int64 | A::UInt32 => PrimitiveType::Long,
        A::Float32 => PrimitiveType::Float,
        A::Float64 => PrimitiveType::Double,
        A::Boolean => PrimitiveType::Boolean,
        A::Date32 => PrimitiveType::Date,
        A::Binary | A::LargeBinary | A::FixedSizeBinary(_) => PrimitiveType::Binary,
        _ => return None,
    }))
}

/// A catalogue entry's table in the lake: its path without `restricted/`
/// and without the `column=value` folders in it, which become partition
/// values (a partnership's `restricted/partner=x/datasets/workforce` is
/// table `datasets/workforce`, partition `partner=x`: every partner's
/// records in one table).
fn table_of(entry_path: &str) -> (String, Vec<(String, String)>) {
    let mut folder = Vec::new();
    let mut parts = Vec::new();
    for seg in table_folder(entry_path).split('/') {
        match seg.split_once('=') {
            Some((k, v)) => parts.push((k.to_string(), v.to_string())),
            None => folder.push(seg),
        }
    }
    (folder.join("/"), parts)
}

/// A file's partition values, in order: those of its entry's path, then
/// its folders' (`source=census/partner=x`).
fn partitions(entry_path: &str, file: &str) -> Vec<(String, String)> {
    let inner = file
        .strip_prefix(entry_path)
        .unwrap_or(file)
        .trim_start_matches('/');
    let mut parts = table_of(entry_path).1;
    parts.extend(
        inner
            .split('/')
            .filter_map(|seg| seg.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    parts
}

/// What a run left in the lake.
#[derive(Debug, Default)]
pub struct Committed {
    /// Every published table's folder and its version after the run
    /// (committed by it, or left as it was): what `runs restore` goes back
    /// to.
    pub versions: BTreeMap<String, i64>,
    /// How many tables this run committed.
    pub commits: usize,
    /// The tables (keys) this run committed.
    pub committed: Vec<String>,
}

/// The lake's runtime: two workers, not one. The Delta kernel waits on
/// some of its reads (a checkpoint's) synchronously; on a single thread
/// that starves the HTTP connections the store opened there, and each such
/// request hung until the client's 30-second timeout (measured on Ceph
/// RGW: a checkpointing commit took 30.6 s; on two workers no commit of
/// 30 took over 0.9 s).
fn runtime() -> Result<tokio::runtime::Runtime, LakeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eqpipe-lake")
        .enable_all()
        .build()
        .map_err(|e| LakeError::Config(format!("cannot start the lake's runtime: {e}")))
}

/// A table's folder in its lake for its key in the manifest (a catalogue
/// path): the restricted lake's tables drop the `restricted/` the local
/// folder has (`restricted/datasets/workforce` is `datasets/workforce`
/// there), so each lake reads like the other.
pub fn table_folder(key: &str) -> &str {
    key.strip_prefix("restricted/").unwrap_or(key)
}

/// Whether a table key (a catalogue path) is restricted data's, which only
/// the restricted lake (`[lake.restricted]`) takes.
pub fn is_restricted(key: &str) -> bool {
    key.starts_with("restricted/")
}

/// Commits the entries of `catalog` (files under `root`) to the lake: the
/// published ones, or with `restricted` the restricted ones (to the
/// restricted lake, which the caller opened from `[lake.restricted]`).
pub fn commit(
    root: &Path,
    catalog: &Catalog,
    lake: &Lake,
    restricted: bool,
) -> Result<Committed, LakeError> {
    let runtime = runtime()?;
    let mut out = Committed::default();
    // Entries by table: a partnership's partners' entries share one.
    let mut tables: BTreeMap<String, Vec<&CatalogEntry>> = BTreeMap::new();
    for e in catalog
        .entries
        .iter()
        .filter(|e| e.restricted == restricted)
    {
        tables.entry(table_of(&e.path).0).or_default().push(e);
    }
    for (folder, entries) in &tables {
        let mut attempt = 1;
        let (version, committed) = loop {
            match runtime.block_on(commit_table(root, catalog, folder, entries, lake)) {
                Err(LakeError::Conflict { table, message }) if attempt < COMMIT_ATTEMPTS => {
                    RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        table,
                        attempt,
                        "another run committed first ({message}); again"
                    );
                    // Jittered backoff: writers that collided do not collide again in step.
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| u64::from(d.subsec_nanos()) % 100)
                        .unwrap_or(0);
                    std::thread::sleep(std::time::Duration::from_millis(
                        50 * u64::from(attempt) + jitter,
                    ));
                    attempt += 1;
                }
                Err(LakeError::Conflict { table, message }) => {
                    return Err(LakeError::Conflict {
                        table,
                        message: format!(
                            "other runs' commits won {COMMIT_ATTEMPTS} times in a row; the last: {message}"
                        ),
                    });
                }
                other => break other?,
            }
        };
        let key = if restricted {
            format!("restricted/{folder}")
        } else {
            folder.clone()
        };
        if committed {
            out.committed.push(key.clone());
        }
        out.versions.insert(key, version);
        out.commits += usize::from(committed);
    }
    Ok(out)
}

/// Deletes the files no kept version of a table needs: `keep` is, for each
/// table, the versions the kept runs (`[versions] keep`) left it at; the
/// current version is always kept, and so is every file younger than
/// `grace`, which may be another writer's commit in flight. Returns the
/// number of files deleted.
pub fn vacuum(
    lake: &Lake,
    keep: &BTreeMap<String, BTreeSet<i64>>,
    grace: std::time::Duration,
) -> Result<usize, LakeError> {
    let runtime = runtime()?;
    let mut deleted = 0;
    for (table, versions) in keep {
        let err = |message: String| LakeError::Table {
            table: table.clone(),
            message,
        };
        deleted += runtime.block_on(async {
            let t = lake.table(table_folder(table)).await?;
            let Some(now) = t.version() else {
                return Ok::<_, LakeError>(0);
            };
            let mut kept: Vec<u64> = versions.iter().map(|v| *v as u64).collect();
            kept.push(now);
            kept.sort_unstable();
            kept.dedup();
            let (_, metrics) = t
                .vacuum()
                .with_keep_versions(&kept)
                .with_retention_period(
                    chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1)),
                )
                .with_enforce_retention_duration(false)
                .await
                .map_err(|e| err(e.to_string()))?;
            Ok(metrics.files_deleted.len())
        })?;
    }
    Ok(deleted)
}

/// One table: its files copied in under content names, then one commit
/// replacing the partitions they belong to. Its version after the run, and
/// whether this run committed it.
async fn commit_table(
    root: &Path,
    catalog: &Catalog,
    folder: &str,
    entries: &[&CatalogEntry],
    lake: &Lake,
) -> Result<(i64, bool), LakeError> {
    let table_err = |message: String| LakeError::Table {
        table: folder.to_string(),
        message,
    };
    // The run's files: (relative path in the table, partition values,
    // size, the local file), each hashed as it streams past, never held.
    let mut files = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for (entry, f) in entries
        .iter()
        .flat_map(|e| e.files.iter().map(move |f| (*e, f)))
    {
        let local = root.join(f);
        let io = |e: std::io::Error| LakeError::Io {
            path: local.clone(),
            message: e.to_string(),
        };
        let size = std::fs::metadata(&local).map_err(io)?.len();
        let sha = eqpipe_store::fingerprint::digest_path(&local).map_err(io)?;
        let parts = partitions(&entry.path, f);
        if columns.is_empty() {
            columns = parts.iter().map(|(k, _)| k.clone()).collect();
        }
        let digest = &sha[..32];
        let folder: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut rel = folder.join("/");
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(&format!("part-{digest}.parquet"));
        files.push((rel, parts, size, local));
    }
    let table = lake.table(folder).await?;
    if table.version().is_none() {
        // A new table: created with this run's files in its first commit.
        let mut adds = Vec::new();
        for (rel, parts, size, local) in &files {
            lake.put(local, folder, rel).await?;
            adds.push(Action::Add(add_action(rel, parts, *size)));
        }
        create(&table, catalog, entries[0], &files, &columns, root, adds).await?;
        return Ok((0, true));
    }
    let snapshot = table.snapshot().map_err(|e| table_err(e.to_string()))?;
    let current: Vec<_> = snapshot.log_data().iter().collect();
    let present: BTreeSet<String> = current.iter().map(|f| f.path().to_string()).collect();
    let owned: BTreeSet<Vec<(String, String)>> = files.iter().map(|f| f.1.clone()).collect();
    let in_owned = |pv: &HashMap<String, Option<String>>| {
        owned.iter().any(|parts| {
            parts
                .iter()
                .all(|(k, v)| pv.get(k).and_then(|x| x.as_deref()) == Some(v.as_str()))
        })
    };
    let keep_paths: BTreeSet<&str> = files.iter().map(|f| f.0.as_str()).collect();
    let removes: Vec<Action> = current
        .iter()
        .filter(|f| in_owned(&f.partition_values_map()) && !keep_paths.contains(f.path().as_ref()))
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    let mut adds = Vec::new();
    for (rel, parts, size, local) in &files {
        if present.contains(rel) {
            continue;
        }
        lake.put(local, folder, rel).await?;
        adds.push(Action::Add(add_action(rel, parts, *size)));
    }
    if adds.is_empty() && removes.is_empty() {
        return Ok((snapshot.version() as i64, false));
    }
    let mut actions = removes;
    actions.extend(adds);
    let predicate = owned
        .iter()
        .map(|parts| {
            parts
                .iter()
                .map(|(k, v)| format!("{k} = '{}'", v.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" OR ");
    let done = CommitBuilder::from(commit_properties(catalog))
        .with_actions(actions)
        .build(
            Some(snapshot),
            table.log_store(),
            DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: (!columns.is_empty()).then(|| columns.clone()),
                predicate: (!predicate.is_empty()).then_some(predicate),
            },
        )
        .await
        .map_err(|e| conflict(folder, e))?;
    Ok((done.version as i64, true))
}

/// Times `deltalake` makes a commit again at the next version, checking
/// the winners' actions for a real conflict, before it gives up.
const DELTA_RETRIES: usize = 100;

/// Commits between two checkpoints of a table's log.
const CHECKPOINT_INTERVAL: u32 = 20;

/// A commit's properties: the run's provenance, a checkpoint when the
/// interval comes round, and the log kept whole (Delta would otherwise
/// drop entries older than 30 days, and with them the versions a kept
/// monthly run's restore needs; vacuum decides what goes).
fn commit_properties(catalog: &Catalog) -> deltalake_core::kernel::transaction::CommitProperties {
    deltalake_core::kernel::transaction::CommitProperties::default()
        .with_metadata(app_metadata(catalog))
        .with_create_checkpoint(true)
        .with_cleanup_expired_logs(Some(false))
        // Many partners' commits in the same minute: each lost race costs
        // a read of the winner's entry, so allow plenty before giving up.
        .with_max_retries(DELTA_RETRIES)
}

/// The run's provenance in a commit's metadata.
fn app_metadata(catalog: &Catalog) -> HashMap<String, serde_json::Value> {
    HashMap::from([
        (
            "eqpipe_run_id".to_string(),
            serde_json::Value::String(catalog.run_id.clone()),
        ),
        (
            "eqpipe_version".to_string(),
            serde_json::Value::String(catalog.pipeline_version.clone()),
        ),
    ])
}

fn add_action(rel: &str, parts: &[(String, String)], size: u64) -> Add {
    Add {
        path: rel.to_string(),
        partition_values: parts
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
        size: size as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        ..Default::default()
    }
}

/// Creates the table with the first file's columns and the partition
/// columns, the entry's description, and the run's files (`adds`).
async fn create(
    table: &DeltaTable,
    catalog: &Catalog,
    entry: &CatalogEntry,
    files: &[RunFile],
    partition_columns: &[String],
    root: &Path,
    adds: Vec<Action>,
) -> Result<DeltaTable, LakeError> {
    let err = |message: String| LakeError::Table {
        table: entry.path.clone(),
        message,
    };
    let first = files
        .first()
        .ok_or_else(|| err("no file to take the columns from".to_string()))?;
    let file = std::fs::File::open(&first.3).map_err(|e| err(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(e.to_string()))?;
    let schema = reader.schema().clone();
    // The file's provenance that holds for the whole table, as the table's
    // properties (a reader sees what the table is without opening a file);
    // what varies by run (its id, disclosure counts) is in each commit.
    let table_keys = {
        use eqpipe_core::provenance::keys;
        [
            keys::DATASET,
            keys::CONTRACT_VERSION,
            keys::LICENCE,
            keys::PLUGIN,
        ]
    };
    let properties: HashMap<String, Option<String>> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| table_keys.contains(&kv.key.as_str()))
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    let mut fields = Vec::new();
    for f in schema.fields() {
        let t = delta_type(f.data_type()).ok_or_else(|| {
            err(format!(
                "column {} of {}: {} has no Delta type",
                f.name(),
                root.join(&entry.files[0]).display(),
                f.data_type()
            ))
        })?;
        fields.push(StructField::new(f.name(), t, f.is_nullable()));
    }
    for c in partition_columns {
        fields.push(StructField::new(
            c,
            DataType::Primitive(PrimitiveType::String),
            false,
        ));
    }
    table
        .create()
        .with_table_name(entry.name.clone())
        .with_comment(entry.description.clone())
        .with_columns(fields)
        .with_partition_columns(partition_columns.to_vec())
        .with_actions(adds)
        .with_commit_properties(commit_properties(catalog))
        // eqpipe's own properties are not Delta's: kept, not refused.
        .with_configuration(properties)
        .with_raise_if_key_not_exists(false)
        // Loading a table reads the log since its last checkpoint: with
        // hundreds of partners committing a night, every 20 commits.
        .with_configuration_property(
            deltalake_core::TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        )
        .await
        .map_err(|e| match e {
            // Another writer created the table since it was loaded: the
            // commit is made again, onto that table.
            e @ deltalake_core::DeltaTableError::GenericError { .. }
                if e.to_string().contains("already exists") =>
            {
                LakeError::Conflict {
                    table: entry.path.clone(),
                    message: e.to_string(),
                }
            }
            e => conflict(&entry.path, e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_files_folders() {
        assert_eq!(
            partitions(
                "datasets/census_counts",
                "datasets/census_counts/source=census/part-0.parquet"
            ),
            [("source".to_string(), "census".to_string())]
        );
        assert!(partitions("indicators/pay_gap", "indicators/pay_gap/part-0.parquet").is_empty());
        assert_eq!(
            partitions(
                "indicators/pay_gap",
                "indicators/pay_gap/partner=gm/part-0.parquet"
            ),
            [("partner".to_string(), "gm".to_string())]
        );
        // A partnership's restricted entries: one table, the partner a
        // partition.
        assert_eq!(
            table_of("restricted/partner=salford/datasets/workforce"),
            (
                "datasets/workforce".to_string(),
                vec![("partner".to_string(), "salford".to_string())]
            )
        );
        assert_eq!(
            partitions(
                "restricted/partner=salford/datasets/workforce",
                "restricted/partner=salford/datasets/workforce/source=salford_hr/part-0.parquet"
            ),
            [
                ("partner".to_string(), "salford".to_string()),
                ("source".to_string(), "salford_hr".to_string())
            ]
        );
    }
}
