//! `eqpipe plugins list | check | new`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use eqpipe_core::config::{Config, PluginRef, options_json};
use eqpipe_engine::registry;
use eqpipe_plugin_sdk::PluginKind;

/// Lists the built-ins and the libraries a config names.
pub(crate) fn list(config: Option<&Path>) -> Result<ExitCode> {
    println!(
        "{:<22} {:<9} {:<9} {:<5} {:<22} datasets",
        "name", "version", "kind", "abi", "origin"
    );
    let show = |p: &registry::Plugin| {
        let produces: Vec<&str> = p
            .manifest
            .produces
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        let mut reads = p.manifest.consumes.clone();
        reads.extend(
            p.manifest
                .consumes_optional
                .iter()
                .map(|d| format!("[{d}]")),
        );
        let datasets = if reads.is_empty() {
            format!("-> {}", produces.join(", "))
        } else {
            format!("{} -> {}", reads.join(", "), produces.join(", "))
        };
        println!(
            "{:<22} {:<9} {:<9} {:<5} {:<22} {datasets}",
            p.manifest.name,
            p.manifest.version,
            p.manifest.kind.to_string(),
            p.interface(),
            p.origin.to_string()
        );
    };
    for b in registry::builtins() {
        show(&registry::builtin(b.name)?);
    }
    if let Some(path) = config {
        let cfg = Config::load(path)?;
        let refs = cfg
            .sources
            .iter()
            .map(|s| cfg.source_plugin(s))
            .chain(cfg.indicators.iter().map(|i| cfg.indicator_plugin(i)));
        let mut failed = false;
        for r in refs {
            if matches!(r, PluginRef::Builtin(_)) {
                continue;
            }
            match registry::load(&r) {
                Ok(p) => show(&p),
                Err(e) => {
                    failed = true;
                    eprintln!("eqpipe: {e}");
                }
            }
        }
        if failed {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `eqpipe plugins check` was given: a library, a `.py` file (run
/// with `python3`) or a command line, relative paths against `cwd`.
fn target_of(args: &[String], cwd: &Path) -> PluginRef {
    let lib = ["so", "dylib", "dll"];
    let first = Path::new(&args[0]);
    if args.len() == 1
        && first
            .extension()
            .is_some_and(|e| lib.iter().any(|l| e == *l))
    {
        return PluginRef::Library(cwd.join(first));
    }
    let mut argv = args.to_vec();
    if args.len() == 1 && first.extension().is_some_and(|e| e == "py") {
        argv.insert(0, "python3".into());
    }
    if argv[0].contains('/') && Path::new(&argv[0]).is_relative() {
        argv[0] = cwd.join(&argv[0]).to_string_lossy().into_owned();
    }
    PluginRef::Command {
        argv,
        dir: cwd.to_path_buf(),
    }
}

/// A plugin reference as files on disk, to find the same plugin in a
/// config written relative to another folder.
fn files_of(r: &PluginRef) -> Vec<PathBuf> {
    let real = |p: PathBuf| p.canonicalize().unwrap_or(p);
    match r {
        PluginRef::Library(p) => vec![real(p.clone())],
        PluginRef::Command { argv, dir } => argv
            .iter()
            .map(|a| dir.join(a))
            .filter(|p| p.is_file())
            .map(real)
            .collect(),
        PluginRef::Builtin(n) => vec![PathBuf::from(n)],
    }
}

/// The conformance kit, with the options a config gives the plugin.
pub(crate) fn check(args: &[String], config: Option<&Path>) -> Result<ExitCode> {
    let mut options = serde_json::json!({});
    let mut base = std::env::current_dir()?;
    let target = target_of(args, &base);
    if let Some(path) = config {
        let cfg = Config::load(path)?;
        base = cfg.base_dir.clone();
        let wanted = files_of(&target);
        let same = |r: &PluginRef| files_of(r) == wanted;
        if let Some(s) = cfg.sources.iter().find(|s| same(&cfg.source_plugin(s))) {
            options = options_json(&s.options);
        } else if let Some(i) = cfg
            .indicators
            .iter()
            .find(|i| same(&cfg.indicator_plugin(i)))
        {
            options = options_json(&i.options);
        } else {
            bail!(
                "{} names no source or indicator using {target}",
                path.display(),
            );
        }
    }
    let lines = eqpipe_engine::check::check(&target, options, &base);
    let mut failed = 0;
    for l in &lines {
        let tag = match l.ok {
            Some(true) => "PASS",
            Some(false) => {
                failed += 1;
                "FAIL"
            }
            None => "SKIP",
        };
        println!("{tag} {:<28} {}", l.name, l.detail);
    }
    let passed = lines.iter().filter(|l| l.ok == Some(true)).count();
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes a ready-to-build plugin crate.
pub(crate) fn new(
    name: &str,
    kind: PluginKind,
    dir: &Path,
    sdk: Option<PathBuf>,
) -> Result<ExitCode> {
    let sdk = sdk.or_else(eqpipe_engine::template::default_sdk);
    let root = eqpipe_engine::template::generate(name, kind, dir, sdk.as_deref())
        .map_err(anyhow::Error::msg)?;
    println!(
        "created {}
  cd {} && cargo build --release && eqpipe plugins check target/release/lib{}.so",
        root.display(),
        root.display(),
        name.replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a ready-to-run Python plugin on the SDK.
pub(crate) fn new_python(name: &str, kind: PluginKind, dir: &Path) -> Result<ExitCode> {
    let (root, script) =
        eqpipe_engine::template::generate_python(name, kind, dir).map_err(anyhow::Error::msg)?;
    let sdk = eqpipe_engine::template::python_sdk()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<eqpipe checkout>/plugins/sdk-python".into());
    println!(
        "created {}
  pip install {sdk}   (the Python plugin SDK, once)
  cd {} && eqpipe plugins check {script}",
        root.display(),
        root.display(),
    );
    Ok(ExitCode::SUCCESS)
}
