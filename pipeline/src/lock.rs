//! One writer per output folder: `<out>/.eqpipe.lock` holds the pid and
//! start time of the run writing there. A second `eqpipe run`, or a
//! scheduled run while a manual one is going, is refused with who holds the
//! lock. A lock left by a process that no longer exists (killed, machine
//! restarted) is stale and taken over, with a warning.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Name of the lock file in the output root.
pub const LOCK_FILE: &str = ".eqpipe.lock";

/// Held while a run writes to an output folder; released on drop.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "another eqpipe (pid {pid}, started {started}) is writing to {dir}; wait for it to finish, or remove {lock} if that process is gone"
    )]
    Held {
        /// Its process id.
        pid: u32,
        /// When it started.
        started: String,
        /// The output folder.
        dir: String,
        /// The lock file.
        lock: String,
    },
    /// The file system refused.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// True when a process with this id is running (Linux: `/proc/<pid>`;
/// elsewhere every pid is taken as alive, so a lock is never stolen).
pub fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl OutputLock {
    /// Takes the lock on `root`, recovering a stale one.
    pub fn acquire(root: &Path) -> Result<OutputLock, LockError> {
        std::fs::create_dir_all(root).map_err(|source| LockError::Io {
            path: root.display().to_string(),
            source,
        })?;
        let path = root.join(LOCK_FILE);
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let body = format!(
                        "{}\n{}\n",
                        std::process::id(),
                        chrono::Utc::now().to_rfc3339()
                    );
                    f.write_all(body.as_bytes())
                        .map_err(|source| LockError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                    return Ok(OutputLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut lines = text.lines();
                    let pid: Option<u32> = lines.next().and_then(|l| l.trim().parse().ok());
                    let started = lines.next().unwrap_or("?").to_string();
                    match pid {
                        Some(pid) if pid != std::process::id() && alive(pid) => {
                            return Err(LockError::Held {
                                pid,
                                started,
                                dir: root.display().to_string(),
                                lock: path.display().to_string(),
                            });
                        }
                        _ => {
                            tracing::warn!(
                                lock = %path.display(),
                                pid = ?pid,
                                %started,
                                "recovering a stale lock (its process is gone)"
                            );
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(source) => {
                    return Err(LockError::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        }
        Err(LockError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other("the lock kept changing hands"),
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_refused_and_a_dead_one_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        // Our own pid is alive; pretend another live process (pid 1) holds it.
        std::fs::write(dir.path().join(LOCK_FILE), "1\n2026-01-01T00:00:00Z\n").unwrap();
        let e = OutputLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("pid 1") && e.contains("2026-01-01"), "{e}");
        // A pid that cannot exist is stale.
        std::fs::write(dir.path().join(LOCK_FILE), "4294967\nlong ago\n").unwrap();
        let second = OutputLock::acquire(dir.path()).unwrap();
        drop(first);
        drop(second);
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
