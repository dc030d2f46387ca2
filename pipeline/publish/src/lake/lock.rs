//! The lake's locks: one object per part of the lake a run writes (a
//! partner's sources, the shared sources, the indicators) under
//! `_eqpipe/locks/`, created with create-if-absent, the same primitive a
//! Delta commit uses, so no lock server is needed. Two runs of one partner
//! on different machines cannot both hold it: the second is refused before
//! it fetches anything, naming the holder. Runs of different partners
//! take different locks and commit side by side.
//!
//! A lock records its holder and when it lapses; a run that died holding
//! one (killed, its machine gone) blocks that part of the lake until then,
//! and the next run after that takes it over. A lock is released when its
//! run ends, and only if it is still the run's own.

use std::time::Duration;

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Lake, LakeError, runtime};

/// What a lock object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    /// Who holds it: host, process and run.
    holder: String,
    /// A random token, so a run releases only its own lock.
    token: String,
    /// When it was taken (RFC 3339).
    since: String,
    /// When it lapses, if its run has not released it (RFC 3339).
    until: String,
}

/// The locks a run holds; released when dropped.
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    held: Vec<(object_store::path::Path, String)>,
}

/// A lock's object under the lake's root.
fn key(lake: &Lake, name: &str) -> object_store::path::Path {
    lake.key(&format!("_eqpipe/locks/{name}.json"))
}

impl Lake {
    /// Takes the lake's locks `names` for a run `holder` describes (host,
    /// process, run id: nothing personal), each lapsing after `lease`.
    /// Refuses, naming the holder and its lock's object, if another run
    /// holds one that has not lapsed; takes none then.
    pub fn lock(
        &self,
        names: &[String],
        holder: &str,
        lease: Duration,
    ) -> Result<LakeLock, LakeError> {
        let rt = runtime()?;
        let mut lock = LakeLock {
            lake: self.clone(),
            held: Vec::new(),
        };
        let token = format!(
            "{:016x}{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
            std::process::id()
        );
        for name in names {
            let k = key(self, name);
            rt.block_on(take(self, &k, name, holder, &token, lease))?;
            lock.held.push((k, token.clone()));
        }
        Ok(lock)
    }
}

async fn take(
    lake: &Lake,
    k: &object_store::path::Path,
    name: &str,
    holder: &str,
    token: &str,
    lease: Duration,
) -> Result<(), LakeError> {
    let store = lake.store().as_ref();
    let io = |e: object_store::Error| {
        LakeError::Config(format!(
            "the lake's lock `{name}` ({}/{k}): {e}",
            lake.uri()
        ))
    };
    let now = chrono::Utc::now();
    let mine = Holder {
        holder: holder.to_string(),
        token: token.to_string(),
        since: now.to_rfc3339(),
        until: (now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(12)))
            .to_rfc3339(),
    };
    let body = serde_json::to_vec_pretty(&mine).expect("serialisable");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    for _ in 0..2 {
        match store
            .put_opts(k, PutPayload::from(body.clone()), create())
            .await
        {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        let theirs = match store.get(k).await {
            Ok(r) => r.bytes().await.map_err(io)?,
            // Released between the two requests: try again.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(io(e)),
        };
        let theirs: Option<Holder> = serde_json::from_slice(&theirs).ok();
        let lapsed = theirs.as_ref().is_none_or(|h| {
            chrono::DateTime::parse_from_rfc3339(&h.until).map_or(true, |u| u < now)
        });
        if !lapsed {
            let h = theirs.expect("not lapsed, so read");
            return Err(LakeError::Locked(format!(
                "the lake's lock `{name}` is held by {} since {} (until {}): another run is writing that part of the lake. \
                 If that run is dead, delete {}/{k} or wait for the lock to lapse",
                h.holder,
                h.since,
                h.until,
                lake.uri()
            )));
        }
        tracing::warn!(
            lock = name,
            holder = theirs
                .as_ref()
                .map(|h| h.holder.as_str())
                .unwrap_or("unreadable"),
            "taking over the lake's lock of a run that did not release it"
        );
        match store.delete(k).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
    }
    Err(LakeError::Locked(format!(
        "the lake's lock `{name}` ({}/{k}) changed hands while this run tried to take it",
        lake.uri()
    )))
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        let Ok(rt) = runtime() else { return };
        let store = self.lake.store().clone();
        for (k, token) in self.held.drain(..) {
            rt.block_on(async {
                let ours = match store.get(&k).await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())
                        .is_some_and(|h| h.token == token),
                    Err(_) => false,
                };
                if ours && let Err(e) = store.delete(&k).await {
                    tracing::warn!("cannot release the lake's lock {k}: {e}");
                }
            });
        }
    }
}
