//! Which plugin a step uses: a built-in, a library or a process plugin's
//! command, and where it may run.

use std::path::{Path, PathBuf};

use super::Isolation;

/// What a plugin reference in the config points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRef {
    /// A built-in plugin by name.
    Builtin(String),
    /// A library path (resolved).
    Library(PathBuf),
    /// A process plugin: a program and its arguments, run in `dir`.
    Command {
        /// The program (resolved against `dir` when it is a relative path
        /// with a `/`) and its arguments.
        argv: Vec<String>,
        /// Its working directory: the config's folder.
        dir: PathBuf,
    },
}

impl PluginRef {
    /// A process plugin (always runs in its own process).
    pub fn is_command(&self) -> bool {
        matches!(self, PluginRef::Command { .. })
    }
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginRef::Builtin(n) => write!(f, "{n}"),
            PluginRef::Library(p) => write!(f, "{}", p.display()),
            PluginRef::Command { argv, .. } => write!(f, "{}", argv.join(" ")),
        }
    }
}

pub(super) fn check_isolation(
    isolation: Isolation,
    command: bool,
    timeout_secs: Option<u64>,
    memory_limit_mb: Option<u64>,
) -> Result<(), String> {
    if isolation != Isolation::Process
        && !command
        && (timeout_secs.is_some() || memory_limit_mb.is_some())
    {
        return Err(
            "timeout_secs and memory_limit_mb need isolation = \"process\" (an in-process plugin cannot be stopped or limited)"
                .into(),
        );
    }
    if timeout_secs == Some(0) || memory_limit_mb.is_some_and(|m| m < 64) {
        return Err("timeout_secs must be at least 1 and memory_limit_mb at least 64".into());
    }
    Ok(())
}

pub(super) fn plugin_ref(
    plugin: &Option<String>,
    library: &Option<PathBuf>,
    command: &Option<Vec<String>>,
    base: &Path,
) -> Result<PluginRef, String> {
    match (plugin, library, command) {
        (Some(p), None, None) => Ok(PluginRef::Builtin(p.clone())),
        (None, Some(l), None) => Ok(PluginRef::Library(if l.is_absolute() {
            l.clone()
        } else {
            base.join(l)
        })),
        (None, None, Some(argv)) => {
            let Some(program) = argv.first().filter(|p| !p.trim().is_empty()) else {
                return Err("`command` is empty: give the program and its arguments, e.g. [\"python3\", \"plugins/my_source.py\"]".into());
            };
            let mut argv = argv.clone();
            if program.contains('/') && Path::new(program).is_relative() {
                argv[0] = base.join(program).to_string_lossy().into_owned();
            }
            Ok(PluginRef::Command {
                argv,
                dir: base.to_path_buf(),
            })
        }
        (None, None, None) => Err(
            "missing `plugin` (a built-in name), `library` (a plugin library path) or `command` (a process plugin)".into(),
        ),
        _ => Err("set one of `plugin` (a built-in), `library` (a path) or `command` (a process plugin), not several".into()),
    }
}
