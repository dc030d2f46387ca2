//! Finding plugins: the built-ins compiled into this binary and partner
//! libraries loaded with `libloading`. Both go through the same descriptor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eqpipe_plugin_abi as abi;
use eqpipe_plugin_sdk::{Manifest, PluginKind};

use eqpipe_core::config::PluginRef;

/// A built-in plugin: its name and its descriptor function.
pub struct Builtin {
    /// The plugin's name, as in its manifest.
    pub name: &'static str,
    /// Returns the static descriptor.
    pub descriptor: fn() -> &'static abi::PluginDescriptor,
}

/// Where a loaded plugin came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Compiled in.
    Builtin,
    /// A shared library.
    Library(PathBuf),
    /// A process plugin's command line.
    Command(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::Library(p) => write!(f, "{}", p.display()),
            Origin::Command(c) => f.write_str(c),
        }
    }
}

/// How the host calls a plugin.
#[derive(Clone)]
pub enum Entry {
    /// Through the C ABI descriptor (static in the library or binary).
    Abi(&'static abi::PluginDescriptor),
    /// As a program speaking the process plugin protocol.
    Process(crate::process::Program),
}

/// A plugin ready to use: its checked descriptor and manifest. Holds the
/// library open for as long as any clone lives.
#[derive(Clone)]
pub struct Plugin {
    /// How it is called.
    pub entry: Entry,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub origin: Origin,
    /// ABI version the plugin was built against (a process plugin: the
    /// protocol version it speaks).
    pub abi_version: (u32, u32),
    /// A process plugin: the digest of its program's files, so an edited
    /// script is run again by an incremental run even at the same version.
    pub code_digest: Option<String>,
    _library: Option<Arc<libloading::Library>>,
}

impl Plugin {
    /// The plugin's version as incremental runs compare it: the manifest's
    /// version, and for a process plugin its files' digest too.
    pub fn build_id(&self) -> String {
        match &self.code_digest {
            Some(d) => format!("{}+{d}", self.manifest.version),
            None => self.manifest.version.clone(),
        }
    }

    /// The interface it was built for: `1.3` (the C ABI) or `process 1.0`.
    pub fn interface(&self) -> String {
        let (major, minor) = self.abi_version;
        match self.entry {
            Entry::Abi(_) => format!("{major}.{minor}"),
            Entry::Process(_) => format!("process {major}.{minor}"),
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why a plugin could not be used. Messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No built-in of that name.
    #[error(
        "no built-in plugin named `{name}` (built-ins: {known}); for a partner plugin set `library = \"path/to/lib\"`"
    )]
    UnknownBuiltin {
        /// The requested name.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// The library could not be opened.
    #[error("cannot load plugin library {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's reason.
        message: String,
    },
    /// The library has no entry symbol: not an eqpipe plugin.
    #[error(
        "{path} is not an eqpipe plugin: it does not export `eqpipe_plugin_entry` (build the crate with the SDK's `export_plugin!` and its `dynamic` feature, as a cdylib)"
    )]
    NoEntry {
        /// The file.
        path: PathBuf,
    },
    /// The ABI major differs.
    #[error(
        "{origin}: plugin built for plugin ABI {plugin_major}.{plugin_minor}, but this eqpipe speaks ABI {host_major}.{host_minor}; rebuild the plugin against eqpipe-plugin-abi {host_major}.x (or use an eqpipe that speaks ABI {plugin_major})"
    )]
    AbiMismatch {
        /// The file or `built-in`.
        origin: String,
        /// The plugin's major.
        plugin_major: u32,
        /// The plugin's minor.
        plugin_minor: u32,
        /// The host's major.
        host_major: u32,
        /// The host's minor.
        host_minor: u32,
    },
    /// Descriptor or manifest malformed.
    #[error("{origin}: malformed plugin: {message}")]
    Malformed {
        /// The file or `built-in`.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Used as a source but is an indicator, or the other way round.
    #[error("{origin}: plugin `{name}` is a{} {actual} plugin, but the config uses it as a{} {wanted}", article(*actual), article(*wanted))]
    WrongKind {
        /// The file or `built-in`.
        origin: String,
        /// Plugin name.
        name: String,
        /// Its kind.
        actual: PluginKind,
        /// The kind the config needs.
        wanted: PluginKind,
    },
}

fn article(k: PluginKind) -> &'static str {
    match k {
        PluginKind::Indicator => "n",
        PluginKind::Source => "",
    }
}

/// Reads and checks a descriptor. Never calls the plugin's functions.
///
/// # Safety
/// `desc` must be null or point to memory that stays valid while `library`
/// (if any) is loaded.
unsafe fn from_descriptor(
    desc: *const abi::PluginDescriptor,
    origin: Origin,
    library: Option<Arc<libloading::Library>>,
) -> Result<Plugin, LoadError> {
    let o = origin.to_string();
    let malformed = |message: &str| LoadError::Malformed {
        origin: o.clone(),
        message: message.to_string(),
    };
    if desc.is_null() {
        return Err(malformed("the entry symbol returned no descriptor"));
    }
    // Only the first three fields are read before the version is checked:
    // they never move between ABI versions.
    // SAFETY: non-null; the caller guarantees validity.
    let (major, minor, size) =
        unsafe { ((*desc).abi_major, (*desc).abi_minor, (*desc).struct_size) };
    if major != abi::ABI_MAJOR {
        return Err(LoadError::AbiMismatch {
            origin: o,
            plugin_major: major,
            plugin_minor: minor,
            host_major: abi::ABI_MAJOR,
            host_minor: abi::ABI_MINOR,
        });
    }
    if size < abi::DESCRIPTOR_V1_0_SIZE {
        return Err(malformed(&format!(
            "descriptor is {size} bytes, smaller than ABI 1.0's {}",
            abi::DESCRIPTOR_V1_0_SIZE
        )));
    }
    // SAFETY: version and size checked: this is a 1.x descriptor.
    let desc: &'static abi::PluginDescriptor = unsafe { &*desc };
    if desc.create.is_none() || desc.run.is_none() || desc.destroy.is_none() {
        return Err(malformed("descriptor lacks create, run or destroy"));
    }
    // SAFETY: the manifest is static data in the library.
    let text = unsafe { desc.manifest.as_str() }.map_err(|_| malformed("manifest is not UTF-8"))?;
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
        malformed(&format!(
            "manifest is not valid JSON of the expected shape: {e}"
        ))
    })?;
    checked_manifest(&manifest).map_err(|m| malformed(&m))?;
    Ok(Plugin {
        entry: Entry::Abi(desc),
        manifest,
        origin,
        abi_version: (major, minor),
        code_digest: None,
        _library: library,
    })
}

/// The manifest's naming rules and its config schema.
fn checked_manifest(manifest: &Manifest) -> Result<(), String> {
    manifest.check()?;
    if jsonschema::validator_for(&manifest.config_schema).is_err() {
        return Err("config_schema is not a valid JSON Schema".into());
    }
    Ok(())
}

/// The built-ins table, installed once by the binary that compiles the
/// plugins in (the engine's `builtins` module, through cargo features), so
/// this crate builds and tests without any plugin crate.
static BUILTINS: std::sync::OnceLock<Vec<Builtin>> = std::sync::OnceLock::new();

/// Installs the built-ins table (the first call wins; later calls are
/// ignored, so every entry point may call it).
pub fn install_builtins(table: impl FnOnce() -> Vec<Builtin>) {
    BUILTINS.get_or_init(table);
}

/// The installed built-ins (none before [`install_builtins`]).
pub fn builtins() -> &'static [Builtin] {
    BUILTINS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Loads a built-in by name.
pub fn builtin(name: &str) -> Result<Plugin, LoadError> {
    let all = builtins();
    match all.iter().find(|b| b.name == name) {
        // SAFETY: built-in descriptors are statics of this binary.
        Some(b) => unsafe { from_descriptor((b.descriptor)(), Origin::Builtin, None) },
        None => Err(LoadError::UnknownBuiltin {
            name: name.to_string(),
            known: all.iter().map(|b| b.name).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Loads a plugin library. It stays loaded while the returned value (or a
/// clone) lives.
pub fn load_library(path: &Path) -> Result<Plugin, LoadError> {
    if !path.exists() {
        return Err(LoadError::Open {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    // SAFETY: loading a library runs its initialisers; that is the contract
    // of naming it in the config. Process isolation exists for untrusted code.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let lib = Arc::new(lib);
    // SAFETY: the symbol's type is fixed by the ABI.
    let entry: abi::EntryFn = match unsafe { lib.get::<abi::EntryFn>(abi::ENTRY_SYMBOL) } {
        Ok(sym) => *sym,
        Err(_) => {
            return Err(LoadError::NoEntry {
                path: path.to_path_buf(),
            });
        }
    };
    // SAFETY: calling the entry symbol is the ABI; it returns a static.
    let desc = unsafe { entry() };
    // SAFETY: the descriptor lives in `lib`, which the Plugin keeps loaded.
    unsafe { from_descriptor(desc, Origin::Library(path.to_path_buf()), Some(lib)) }
}

/// Resolves a config reference and checks the kind.
pub fn resolve(r: &PluginRef, wanted: PluginKind) -> Result<Plugin, LoadError> {
    let p = load(r)?;
    if p.manifest.kind != wanted {
        return Err(LoadError::WrongKind {
            origin: p.origin.to_string(),
            name: p.manifest.name.clone(),
            actual: p.manifest.kind,
            wanted,
        });
    }
    Ok(p)
}

/// Loads whatever a config reference points at: a built-in, a library, or
/// a process plugin (started once to ask for its manifest).
pub fn load(r: &PluginRef) -> Result<Plugin, LoadError> {
    Ok(match r {
        PluginRef::Builtin(n) => builtin(n)?,
        PluginRef::Library(path) => load_library(path)?,
        PluginRef::Command { argv, dir } => {
            let program = crate::process::Program {
                argv: argv.clone(),
                dir: dir.clone(),
            };
            let origin = program.to_string();
            let (manifest, protocol) =
                crate::process::describe(&program).map_err(|message| LoadError::Malformed {
                    origin: origin.clone(),
                    message,
                })?;
            checked_manifest(&manifest).map_err(|message| LoadError::Malformed {
                origin: origin.clone(),
                message,
            })?;
            Plugin {
                code_digest: Some(program.digest()),
                entry: Entry::Process(program),
                manifest,
                origin: Origin::Command(origin),
                abi_version: protocol,
                _library: None,
            }
        }
    })
}

/// Checks plugin options against the manifest's config schema; the error
/// lists each problem with its JSON path.
pub fn check_options(p: &Plugin, options: &serde_json::Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(&p.manifest.config_schema).map_err(|e| {
        format!(
            "plugin `{}` has an invalid config schema: {e}",
            p.manifest.name
        )
    })?;
    let problems: Vec<String> = validator
        .iter_errors(options)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("options: {e}")
            } else {
                format!("options{}: {e}", at.replace('/', "."))
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "invalid options for plugin `{}`: {}",
            p.manifest.name,
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_builtin_lists_the_known_ones() {
        let e = builtin("no-such-plugin").unwrap_err().to_string();
        assert!(
            e.contains("no-such-plugin") && e.contains("library ="),
            "{e}"
        );
    }

    #[test]
    fn a_shared_library_that_is_not_a_plugin_is_refused() {
        // Any ordinary shared library on the machine will do.
        let candidates = [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/aarch64-linux-gnu/libm.so.6",
            "/usr/lib/libm.so.6",
        ];
        let Some(path) = candidates.iter().map(Path::new).find(|p| p.exists()) else {
            panic!("no libm found to test with");
        };
        let e = load_library(path).unwrap_err();
        assert!(matches!(e, LoadError::NoEntry { .. }), "{e}");
        assert!(e.to_string().contains("eqpipe_plugin_entry"));
    }

    #[test]
    fn a_file_that_is_not_a_library_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let f = dir.join("not-a-lib.so");
        std::fs::write(&f, b"this is text").unwrap();
        let e = load_library(&f).unwrap_err().to_string();
        assert!(e.contains("not-a-lib.so"), "{e}");
        let e = load_library(&dir.join("missing.so"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
    }
}
