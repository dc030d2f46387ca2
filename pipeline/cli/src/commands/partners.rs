//! `eqpipe partners token | list`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use eqpipe_core::config::Config;

/// Makes a partner's upload token: prints it once, and the hash to store.
pub(crate) fn token(id: &str) -> Result<ExitCode> {
    let token = eqpipe_engine::partners::new_token().map_err(anyhow::Error::msg)?;
    println!("token for partner `{id}` (give it to them once; it is not stored):\n  {token}");
    println!(
        "add to its [[partners]] entry:\n  token_sha256 = [\"{}\"]",
        eqpipe_engine::partners::hash_token(&token)
    );
    Ok(ExitCode::SUCCESS)
}

/// Lists a config's partners: sources, key variable, inbox, tokens.
pub(crate) fn list(config: &Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let out = out.or_else(|| cfg.output_dir.as_ref().map(|d| cfg.resolve(d)));
    if cfg.partners.is_empty() {
        println!("no [[partners]] in {}", config.display());
    }
    for p in &cfg.partners {
        println!("{} ({})", p.id, p.name);
        println!("  sources: {}", p.sources.join(", "));
        println!(
            "  key:     {}",
            eqpipe_engine::partners::key_env(&cfg.partnership, p).unwrap_or("(none)")
        );
        if let Some(o) = &out {
            println!(
                "  inbox:   {}",
                eqpipe_core::layout::Layout::new(o)
                    .inbox(p, |x| cfg.resolve(x))
                    .display()
            );
        }
        println!("  upload tokens: {}", p.token_sha256.len());
    }
    println!("partnership: {}", cfg.partnership.id);
    Ok(ExitCode::SUCCESS)
}
