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
///
/// The lock is an exclusive `flock` on `.eqpipe.lock`, held on an open
/// descriptor for the whole run, so the kernel decides who holds it: two
/// runs can never both take it, however their writes interleave, and a
/// killed holder's lock is released with its process. The file's text (pid
/// and start time) only names the holder in messages; a recorded pid that
/// is alive but not ours is still honoured (a holder without `flock`).
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    /// Holds the `flock` while open.
    #[allow(dead_code)]
    file: std::fs::File,
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
    /// Another process holds it and has not yet written who it is.
    #[error(
        "another eqpipe is starting to write to {dir} (it holds {lock}); wait for it to finish"
    )]
    Starting {
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

/// Takes an exclusive lock without waiting (`flock` on Unix, through
/// std): `Ok(false)` when another open file holds it.
fn try_flock(f: &std::fs::File) -> std::io::Result<bool> {
    match f.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `f` is still the file at `path` (not one a releasing holder
/// removed while we waited for it).
#[cfg(unix)]
fn same_file(f: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_f: &std::fs::File, path: &Path) -> bool {
    path.exists()
}

impl OutputLock {
    /// Takes the lock on `root`, recovering a stale one.
    pub fn acquire(root: &Path) -> Result<OutputLock, LockError> {
        use std::io::{Read as _, Seek as _};
        std::fs::create_dir_all(root).map_err(|source| LockError::Io {
            path: root.display().to_string(),
            source,
        })?;
        let path = root.join(LOCK_FILE);
        let io = |source: std::io::Error| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        for _ in 0..5 {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            let mut text = String::new();
            if !try_flock(&f).map_err(io)? {
                let _ = f.read_to_string(&mut text);
                let mut lines = text.lines();
                return Err(match lines.next().and_then(|l| l.trim().parse().ok()) {
                    Some(pid) => LockError::Held {
                        pid,
                        started: lines.next().unwrap_or("?").to_string(),
                        dir: root.display().to_string(),
                        lock: path.display().to_string(),
                    },
                    None => LockError::Starting {
                        dir: root.display().to_string(),
                        lock: path.display().to_string(),
                    },
                });
            }
            if !same_file(&f, &path) {
                // Its holder removed it as we took it: try the new one.
                continue;
            }
            let _ = f.read_to_string(&mut text);
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
                Some(_) | None if !text.trim().is_empty() => {
                    tracing::warn!(
                        lock = %path.display(),
                        pid = ?pid,
                        %started,
                        "recovering a stale lock (its process is gone)"
                    );
                }
                _ => {}
            }
            let body = format!(
                "{}\n{}\n",
                std::process::id(),
                chrono::Utc::now().to_rfc3339()
            );
            f.set_len(0).map_err(io)?;
            f.rewind().map_err(io)?;
            f.write_all(body.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            return Ok(OutputLock { path, file: f });
        }
        Err(io(std::io::Error::other("the lock kept changing hands")))
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held: whoever waits on the old file sees it
        // is gone and takes the new one.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_refused_and_a_dead_one_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK_FILE);
        // A holder that names a live process (pid 1) is honoured even
        // without its flock (an older eqpipe, a file system without locks).
        std::fs::write(&lock, "1\n2026-01-01T00:00:00Z\n").unwrap();
        let e = OutputLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("pid 1") && e.contains("2026-01-01"), "{e}");
        // A pid that cannot exist is stale.
        std::fs::write(&lock, "4294967\nlong ago\n").unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(&lock).unwrap();
        assert!(
            text.starts_with(&format!("{}\n", std::process::id())),
            "{text}"
        );
        // Held: refused, naming us.
        let e = OutputLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert!(!lock.exists());
        let again = OutputLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    /// The race the content-only lock lost: a holder that has created the
    /// file but not yet written its pid is still the holder.
    #[test]
    fn a_holder_that_has_not_written_its_pid_yet_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join(LOCK_FILE)).unwrap();
        assert!(try_flock(&f).unwrap());
        let e = OutputLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(e, LockError::Starting { .. }), "{e}");
        drop(f);
        // Its holder gone (the kernel released the flock), the empty file
        // is taken.
        drop(OutputLock::acquire(dir.path()).unwrap());
    }

    /// Many pairs of writers started together: never both hold the lock.
    #[test]
    fn two_writers_never_both_hold_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..200 {
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let take = || {
                    barrier.wait();
                    OutputLock::acquire(dir.path())
                };
                let a = s.spawn(take);
                let b = s.spawn(take);
                (a.join().unwrap(), b.join().unwrap())
            });
            assert_eq!(
                usize::from(a.is_ok()) + usize::from(b.is_ok()),
                1,
                "round {round}: {a:?} / {b:?}"
            );
        }
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
