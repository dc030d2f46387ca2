//! `eqpipe report-templates DIR`: the report's built-in templates, written
//! out for a designer to change.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use eqpipe_engine::report::BUILT_IN_TEMPLATES;

/// Writes every built-in template into `dir`; refuses to overwrite a file
/// unless `force`.
pub(crate) fn run(dir: &Path, force: bool) -> Result<ExitCode> {
    if !force
        && let Some((name, _)) = BUILT_IN_TEMPLATES
            .iter()
            .find(|(name, _)| dir.join(name).exists())
    {
        bail!(
            "{} exists (use --force to overwrite it)",
            dir.join(name).display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in BUILT_IN_TEMPLATES {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!(
        "add to the config:\n\n[report]\ntemplates = \"{}\"\n\nthen change the files; delete those you keep as they are (they stay built in)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
