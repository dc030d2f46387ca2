//! `eqpipe validate`: the plan a config makes, and every problem in it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use eqpipe_core::config::Config;
use eqpipe_engine::plan::Plan;

/// Prints the plan; fails listing every problem.
pub(crate) fn run(path: &Path) -> Result<ExitCode> {
    let cfg = Config::load(path)?;
    let plan = Plan::new(&cfg)?;
    for (name, cron) in &plan.schedules {
        println!("schedule  {name:<20} {cron}");
    }
    for s in &plan.sources {
        println!("source    {:<20} {}", s.name, s.plugin);
    }
    for i in &plan.indicators {
        for n in &i.notes {
            println!("note: {n}");
        }
        println!("indicator {:<20} {}", i.name, i.plugin);
    }
    for (id, measures) in &plan.objectives {
        println!("objective {id:<20} {measures} measure(s)");
    }
    if plan.problems.is_empty() {
        println!(
            "{}: ok ({} sources, {} indicators, {} objectives)",
            path.display(),
            cfg.sources.len(),
            cfg.indicators.len(),
            cfg.objectives.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &plan.problems {
            eprintln!("eqpipe: {p}");
        }
        bail!("{}: {} problem(s)", path.display(), plan.problems.len())
    }
}
