//! The lake's datasets brought down to a local output folder, for an
//! indicator run on a machine that ran none of the sources
//! (`eqpipe run --indicators-only` with a lake): each dataset table's
//! current files are written where the local layout has them, so the
//! indicators read every partner's data as the lake holds it. A file that
//! is already there with the same content is not fetched again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use tokio::io::AsyncWriteExt;

use super::{Lake, LakeError, runtime};

/// What a pull did.
#[derive(Debug, Default)]
pub struct Pulled {
    /// Dataset tables read.
    pub tables: usize,
    /// Files fetched (new or changed).
    pub fetched: usize,
    /// Files already in place.
    pub unchanged: usize,
}

/// A lake file's place in the local folder: the restricted lake's
/// `partner` goes before the dataset (`restricted/partner=x/datasets/…`),
/// as the local layout keeps each partner's personal data apart; every
/// other partition value is a folder inside the dataset's.
fn local_path(table: &str, parts: &[(String, String)], restricted: bool) -> String {
    let mut out = String::new();
    if restricted {
        out.push_str("restricted/");
        for (k, v) in parts.iter().filter(|(k, _)| k == "partner") {
            out.push_str(&format!("{k}={v}/"));
        }
    }
    out.push_str(table);
    for (k, v) in parts
        .iter()
        .filter(|(k, _)| !(restricted && k == "partner"))
    {
        out.push_str(&format!("/{k}={v}"));
    }
    out.push('/');
    out.push_str(eqpipe_store::files::PART_FILE);
    out
}

/// Brings every `datasets/` table of `lake` down into `root`
/// (`restricted`: the restricted lake, into `restricted/`).
pub fn pull(lake: &Lake, restricted: bool, root: &Path) -> Result<Pulled, LakeError> {
    let rt = runtime()?;
    rt.block_on(async {
        let err = |e: object_store::Error| LakeError::Config(format!("{}: {e}", lake.uri()));
        let listing = lake
            .store()
            .list_with_delimiter(Some(&lake.key("datasets")))
            .await
            .map_err(err)?;
        let mut out = Pulled::default();
        for prefix in listing.common_prefixes {
            let Some(name) = prefix.filename() else {
                continue;
            };
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let table = format!("datasets/{name}");
            let t = lake.table(&table).await?;
            if t.version().is_none() {
                continue;
            }
            out.tables += 1;
            let snapshot = t.snapshot().map_err(|e| LakeError::Table {
                table: table.clone(),
                message: e.to_string(),
            })?;
            let columns: Vec<String> = snapshot.metadata().partition_columns().to_vec();
            for f in snapshot.log_data().iter() {
                let values: HashMap<String, Option<String>> = f.partition_values_map();
                let parts: Vec<(String, String)> = columns
                    .iter()
                    .map(|c| {
                        (
                            c.clone(),
                            values.get(c).cloned().flatten().unwrap_or_default(),
                        )
                    })
                    .collect();
                let local = root.join(local_path(&table, &parts, restricted));
                let rel = f.path().to_string();
                // Lake files are named by their content's SHA-256.
                let digest = rel
                    .rsplit('/')
                    .next()
                    .and_then(|n| n.strip_prefix("part-"))
                    .and_then(|n| n.strip_suffix(".parquet"))
                    .unwrap_or("");
                if !digest.is_empty()
                    && local.exists()
                    && eqpipe_store::fingerprint::digest_path(&local)
                        .is_ok_and(|sha| sha.starts_with(digest))
                {
                    out.unchanged += 1;
                    continue;
                }
                fetch(lake, &format!("{table}/{rel}"), &local).await?;
                out.fetched += 1;
            }
        }
        Ok(out)
    })
}

/// Streams one lake file to `local` (a temporary name, then renamed).
async fn fetch(lake: &Lake, rel: &str, local: &Path) -> Result<(), LakeError> {
    let io = |p: &Path, e: String| LakeError::Io {
        path: p.to_path_buf(),
        message: e,
    };
    let dir = local.parent().expect("a file in a folder");
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io(dir, e.to_string()))?;
    let tmp = eqpipe_core::fsio::TempPath(PathBuf::from(format!("{}.lake.tmp", local.display())));
    let mut file = tokio::fs::File::create(&tmp.0)
        .await
        .map_err(|e| io(&tmp.0, e.to_string()))?;
    let mut body = lake
        .store()
        .get(&lake.key(rel))
        .await
        .map_err(|e| io(local, format!("from the lake ({rel}): {e}")))?
        .into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| io(local, format!("from the lake ({rel}): {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| io(&tmp.0, e.to_string()))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io(&tmp.0, e.to_string()))?;
    drop(file);
    tokio::fs::rename(&tmp.0, local)
        .await
        .map_err(|e| io(local, e.to_string()))?;
    tmp.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lake_file_goes_where_the_local_layout_keeps_it() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            local_path("datasets/census_counts", &[p("source", "census")], false),
            "datasets/census_counts/source=census/part-0.parquet"
        );
        assert_eq!(
            local_path(
                "datasets/workforce",
                &[p("partner", "salford"), p("source", "salford_hr")],
                true
            ),
            "restricted/partner=salford/datasets/workforce/source=salford_hr/part-0.parquet"
        );
        assert_eq!(
            local_path("datasets/workforce", &[p("source", "workforce")], true),
            "restricted/datasets/workforce/source=workforce/part-0.parquet"
        );
    }
}
