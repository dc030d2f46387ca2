//! `eqpipe init --area`: writes a ready config for one local authority.

use std::process::ExitCode;

use anyhow::Result;
use eqpipe_engine::init::{InitOptions, init};

/// Writes the config and says what it holds and what it leaves out.
pub(crate) fn run(o: &InitOptions) -> Result<ExitCode> {
    let done = init(o)?;
    println!(
        "{}: eqpipe for {} ({})",
        done.config.display(),
        done.name,
        done.code
    );
    for (column, n) in &done.areas {
        println!("  {n:>5} {column} areas in the lookups");
    }
    if let Some(n) = done.boundaries {
        println!("  {n:>5} boundaries");
    }
    for m in &done.missing {
        println!("  not configured: {m}");
    }
    println!(
        "next: eqpipe validate --config {c} && eqpipe run --config {c}",
        c = done.config.display()
    );
    Ok(ExitCode::SUCCESS)
}
