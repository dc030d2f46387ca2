//! `eqpipe plugins list | check | new`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use eqpipe_core::config::{Config, options_json};
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
            format!("{}.{}", p.abi_version.0, p.abi_version.1),
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
            if let eqpipe_engine::config::PluginRef::Library(path) = &r {
                match registry::load_library(path) {
                    Ok(p) => show(&p),
                    Err(e) => {
                        failed = true;
                        eprintln!("eqpipe: {e}");
                    }
                }
            }
        }
        if failed {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The conformance kit, with the options a config gives the library.
pub(crate) fn check(library: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let mut options = serde_json::json!({});
    let mut base = std::env::current_dir()?;
    if let Some(path) = config {
        let cfg = Config::load(path)?;
        base = cfg.base_dir.clone();
        let wanted = library
            .canonicalize()
            .unwrap_or_else(|_| library.to_path_buf());
        let same = |r: &eqpipe_engine::config::PluginRef| match r {
            eqpipe_engine::config::PluginRef::Library(p) => {
                p.canonicalize().unwrap_or_else(|_| p.clone()) == wanted
            }
            _ => false,
        };
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
                "{} names no source or indicator with library {}",
                path.display(),
                library.display()
            );
        }
    }
    let lines = eqpipe_engine::check::check(library, options, &base);
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
