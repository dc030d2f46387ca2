//! `eqpipe schedule`: a long-lived daemon that fires the pipeline on cron
//! expressions from the config's `[[schedules]]`.
//!
//! Cron: `croner` (5-field crontab with day-of-week 1-5 = Monday to Friday,
//! or 6 fields with seconds), evaluated in each schedule's time zone
//! (default Europe/London) at every firing, so clock changes are handled:
//! a 01:30 job runs once on the spring-forward day (when 01:30 does not
//! exist) and once on the autumn day (when it happens twice). The `cron`
//! crate rejects 5-field strings and counts Sunday as 1, and
//! `tokio-cron-scheduler` freezes the UTC offset when a job is created;
//! both were ruled out for that reason.
//!
//! One run at a time: firings that come while a run is going are skipped
//! (`overlap = "skip"`, the default) or coalesced into one run right after
//! (`"queue"`). The output lock (`lock.rs`) also keeps a manual `eqpipe run`
//! and the daemon apart. The last firing of each schedule is persisted in
//! `<out>/schedules.json`; after downtime the missed firings are skipped,
//! the latest one run (default), or all run (`catch_up`). SIGTERM or Ctrl-C
//! stops firing and cancels the current run (plugins see cancellation;
//! outputs stay as they were); SIGHUP reloads the config after validating
//! it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::runner::{self, Outcome, RunOptions};
pub use eqpipe_core::config::{CatchUp, Overlap, ScheduleConfig};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its config.
    pub config: ScheduleConfig,
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// Parses the cron expression and time zone.
    pub fn new(config: ScheduleConfig) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(&config.cron)
            .map_err(|e| format!("schedule `{}`: cron `{}`: {e}", config.name, config.cron))?;
        let zone = config.timezone.as_deref().unwrap_or("Europe/London");
        let tz = chrono_tz::Tz::from_str(zone)
            .map_err(|_| format!("schedule `{}`: unknown time zone `{zone}` (use an IANA name such as Europe/London)", config.name))?;
        Ok(Schedule { config, cron, tz })
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Firings after `last` up to and including `now` (at most 1,000).
    pub fn missed(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = last;
        while let Some(n) = self.next_after(t) {
            if n > now || out.len() >= 1000 {
                break;
            }
            out.push(n);
            t = n;
        }
        out
    }
}

/// Checks a config's schedules: cron, time zone, unique names, and that
/// the sources and indicators they name exist.
pub fn check(config: &Config) -> Result<Vec<Schedule>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for s in &config.schedules {
        if !seen.insert(s.name.clone()) {
            return Err(format!("schedule `{}` is declared twice", s.name));
        }
        for name in s.sources.iter().flatten() {
            if !config.sources.iter().any(|x| &x.name == name) {
                return Err(format!(
                    "schedule `{}` names source `{name}`, which the config does not have",
                    s.name
                ));
            }
        }
        for name in s.indicators.iter().flatten() {
            if !config.indicators.iter().any(|x| is_indicator(x, name)) {
                return Err(format!(
                    "schedule `{}` names indicator `{name}`, which the config does not have",
                    s.name
                ));
            }
        }
        out.push(Schedule::new(s.clone())?);
    }
    Ok(out)
}

/// An indicator answers to its output folder name or its plugin name.
fn is_indicator(x: &crate::config::IndicatorConfig, name: &str) -> bool {
    x.name.as_deref() == Some(name) || x.plugin.as_deref() == Some(name)
}

/// The config restricted to one schedule's sources and indicators.
pub fn select(config: &Config, s: &ScheduleConfig) -> Config {
    let mut c = config.clone();
    if let Some(names) = &s.sources {
        c.sources.retain(|x| names.contains(&x.name));
    }
    if let Some(names) = &s.indicators {
        c.indicators
            .retain(|x| names.iter().any(|n| is_indicator(x, n)));
    }
    c
}

/// The persisted last firing per schedule.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Schedule name -> last firing handled (run or deliberately skipped).
    pub last: BTreeMap<String, DateTime<Utc>>,
}

fn state_path(out: &Path) -> PathBuf {
    eqpipe_core::layout::Layout::new(out).schedules_state()
}

fn load_state(out: &Path) -> State {
    std::fs::read(state_path(out))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_state(out: &Path, state: &State) {
    let json = serde_json::to_vec_pretty(state).expect("serialisable");
    if let Err(e) = eqpipe_store::files::write_atomic(&state_path(out), &json) {
        tracing::error!("cannot save the schedule state: {e}");
    }
}

/// How the daemon is run.
pub struct DaemonOptions {
    /// The config file (reloaded on SIGHUP).
    pub config_path: PathBuf,
    /// Output folder (overrides the config's).
    pub out: Option<PathBuf>,
    /// Set by SIGTERM/SIGINT.
    pub cancel: Arc<AtomicBool>,
    /// Set by SIGHUP.
    pub reload: Arc<AtomicBool>,
    /// Progress bars.
    pub progress: bool,
    /// Serve `GET /metrics` here (`--metrics-addr`).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// What the daemon did.
#[derive(Debug, Default)]
pub struct DaemonReport {
    /// Runs started.
    pub runs: u64,
    /// Runs that did not succeed.
    pub failed: u64,
}

fn load(path: &Path, out: &Option<PathBuf>) -> Result<(Config, PathBuf, Vec<Schedule>), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let root = out
        .clone()
        .or_else(|| config.output_dir.as_ref().map(|d| config.resolve(d)))
        .ok_or("no output folder: set `output_dir` in the config or pass --out")?;
    let schedules = check(&config)?;
    if schedules.is_empty() {
        return Err(format!("{} has no [[schedules]]", path.display()));
    }
    Ok((config, root, schedules))
}

/// Sleeps until `t` unless cancelled or asked to reload; true if woken early.
fn sleep_until(t: DateTime<Utc>, cancel: &AtomicBool, reload: &AtomicBool) -> bool {
    loop {
        if cancel.load(Ordering::Relaxed) || reload.load(Ordering::Relaxed) {
            return true;
        }
        let left = t - Utc::now();
        if left <= chrono::Duration::zero() {
            return false;
        }
        let step = left
            .to_std()
            .unwrap_or_default()
            .min(Duration::from_millis(200));
        std::thread::sleep(step);
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run_daemon(opts: &DaemonOptions) -> Result<DaemonReport, String> {
    let (mut config, mut root, mut schedules) = load(&opts.config_path, &opts.out)?;
    let mut state = load_state(&root);
    let start = Utc::now();
    let counters = Arc::new(crate::observe::DaemonCounters::default());
    let shared_root = Arc::new(std::sync::Mutex::new(root.clone()));
    let _metrics = match opts.metrics_addr {
        Some(addr) => {
            let m = crate::observe::MetricsServer::start(
                addr,
                shared_root.clone(),
                counters.clone(),
                start,
            )?;
            tracing::info!(addr = %m.addr(), "serving metrics at /metrics");
            Some(m)
        }
        None => None,
    };
    let mut due = catch_up(&schedules, &mut state, start);
    save_state(&root, &state);
    tracing::info!(schedules = schedules.len(), output = %root.display(), "scheduler started");
    loop {
        if opts.cancel.load(Ordering::Relaxed) {
            break;
        }
        if opts.reload.swap(false, Ordering::Relaxed) {
            match load(&opts.config_path, &opts.out) {
                Ok((c, r, s)) => {
                    tracing::info!(schedules = s.len(), "config reloaded");
                    counters.reloads.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut shared) = shared_root.lock() {
                        shared.clone_from(&r);
                    }
                    (config, root, schedules) = (c, r, s);
                    due.clear();
                    let now = Utc::now();
                    for s in &schedules {
                        state.last.entry(s.config.name.clone()).or_insert(now);
                    }
                }
                Err(e) => {
                    counters.reload_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("config not reloaded, keeping the running one: {e}")
                }
            }
        }
        if due.is_empty() {
            // The next firing of any schedule.
            let next = schedules
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let last = state.last.get(&s.config.name).copied().unwrap_or(start);
                    s.next_after(last).map(|t| (i, t))
                })
                .min_by_key(|(_, t)| *t);
            let Some((i, t)) = next else {
                return Err("no schedule has a future firing".into());
            };
            tracing::info!(schedule = %schedules[i].config.name, at = %t.to_rfc3339(), "next run");
            if sleep_until(t, &opts.cancel, &opts.reload) {
                continue;
            }
            due.push((i, t));
        }
        let (i, fired) = due.remove(0);
        let s = schedules[i].clone();
        if s.config.jitter_secs > 0 {
            let wait = chrono::Duration::seconds(fastrand::i64(0..=s.config.jitter_secs as i64));
            if sleep_until(Utc::now() + wait, &opts.cancel, &opts.reload)
                && opts.cancel.load(Ordering::Relaxed)
            {
                break;
            }
        }
        if run_fired(&config, &root, &s, fired, opts, &counters) == Some(Outcome::Cancelled) {
            break;
        }
        after_run(&s, i, fired, &mut due, &mut state);
        save_state(&root, &state);
    }
    let report = DaemonReport {
        runs: counters.runs.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
    };
    tracing::info!(runs = report.runs, "scheduler stopped");
    Ok(report)
}

/// Work due at start: (schedule index, firing time) for the firings missed
/// while the daemon was down, as each schedule's `catch_up` says. A
/// schedule never run before starts its clock now.
fn catch_up(
    schedules: &[Schedule],
    state: &mut State,
    start: DateTime<Utc>,
) -> Vec<(usize, DateTime<Utc>)> {
    let mut due: Vec<(usize, DateTime<Utc>)> = Vec::new();
    for (i, s) in schedules.iter().enumerate() {
        let Some(last) = state.last.get(&s.config.name).copied() else {
            state.last.insert(s.config.name.clone(), start);
            continue;
        };
        let missed = s.missed(last, start);
        if missed.is_empty() {
            continue;
        }
        tracing::info!(schedule = %s.config.name, missed = missed.len(), policy = ?s.config.catch_up, "firings missed while the daemon was down");
        match s.config.catch_up {
            CatchUp::Skip => {
                state
                    .last
                    .insert(s.config.name.clone(), *missed.last().expect("not empty"));
            }
            CatchUp::Latest => due.push((i, *missed.last().expect("not empty"))),
            CatchUp::All => due.extend(missed.iter().map(|t| (i, *t))),
        }
    }
    due
}

/// One firing's run of the schedule's selected steps, keyed by the
/// period it stands for; counted, and logged. Its outcome, if it ran.
fn run_fired(
    config: &Config,
    root: &Path,
    s: &Schedule,
    fired: DateTime<Utc>,
    opts: &DaemonOptions,
    counters: &crate::observe::DaemonCounters,
) -> Option<Outcome> {
    let selected = select(config, &s.config);
    let run_opts = RunOptions {
        output_dir: root.to_path_buf(),
        cancel: opts.cancel.clone(),
        progress: opts.progress,
        scheduled: Some((s.config.name.clone(), fired.to_rfc3339())),
        // Keyed by the period it stands for: a catch-up run for a missed
        // firing covers that firing's day, not the day it ran.
        snapshot_date: Some(fired.with_timezone(&s.tz).date_naive()),
        force: false,
        accept_shrink: false,
        scope: Default::default(),
    };
    tracing::info!(schedule = %s.config.name, fired = %fired.to_rfc3339(), "run starting");
    counters.runs.fetch_add(1, Ordering::Relaxed);
    match runner::run(&selected, &run_opts) {
        Ok(m) => {
            // (A run with data-quality warnings completed: its warnings
            // are in its manifest and metrics, not a failure.)
            if !matches!(m.outcome, Outcome::Success | Outcome::SuccessWithWarnings) {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(schedule = %s.config.name, run = %m.run_id, outcome = ?m.outcome, "run finished");
            Some(m.outcome)
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(schedule = %s.config.name, "run not started: {e}");
            None
        }
    }
}

/// Firings that came during the run: skipped or run once more, as the
/// schedule's `overlap` says; the schedule's clock moved on.
fn after_run(
    s: &Schedule,
    i: usize,
    fired: DateTime<Utc>,
    due: &mut Vec<(usize, DateTime<Utc>)>,
    state: &mut State,
) {
    let now = Utc::now();
    let during = s.missed(fired, now);
    let last = match (s.config.overlap, during.last()) {
        (_, None) => fired,
        (Overlap::Skip, Some(t)) => {
            tracing::warn!(schedule = %s.config.name, skipped = during.len(), "firings skipped: the run was still going (overlap = skip)");
            *t
        }
        (Overlap::Queue, Some(t)) => {
            tracing::info!(schedule = %s.config.name, coalesced = during.len(), "firings during the run: running once more (overlap = queue)");
            due.push((i, *t));
            fired
        }
    };
    let e = state.last.entry(s.config.name.clone()).or_insert(last);
    *e = (*e).max(last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sched(cron: &str) -> Schedule {
        Schedule::new(ScheduleConfig {
            name: "t".into(),
            cron: cron.into(),
            timezone: None,
            sources: None,
            indicators: None,
            overlap: Overlap::Skip,
            catch_up: CatchUp::Latest,
            jitter_secs: 0,
        })
        .unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
    }

    /// Firings whose London date is `day`.
    fn on_day(s: &Schedule, day: (i32, u32, u32)) -> Vec<DateTime<Utc>> {
        s.missed(
            utc(day.0, day.1, day.2, 0, 0) - chrono::Duration::days(1),
            utc(day.0, day.1, day.2, 0, 0) + chrono::Duration::days(2),
        )
        .into_iter()
        .filter(|t| {
            let l = t.with_timezone(&chrono_tz::Europe::London).date_naive();
            l == chrono::NaiveDate::from_ymd_opt(day.0, day.1, day.2).unwrap()
        })
        .collect()
    }

    #[test]
    fn a_0130_job_runs_exactly_once_on_both_clock_change_days() {
        let s = sched("30 1 * * *");
        // 29 March 2026: 01:00 GMT jumps to 02:00 BST; 01:30 does not exist.
        let spring = on_day(&s, (2026, 3, 29));
        assert_eq!(spring.len(), 1, "{spring:?}");
        // The day before and after run at 01:30 local as usual.
        assert_eq!(on_day(&s, (2026, 3, 28)), vec![utc(2026, 3, 28, 1, 30)]);
        assert_eq!(on_day(&s, (2026, 3, 30)), vec![utc(2026, 3, 30, 0, 30)]);
        // 25 October 2026: 02:00 BST falls back to 01:00 GMT; 01:30 happens twice.
        let autumn = on_day(&s, (2026, 10, 25));
        assert_eq!(autumn.len(), 1, "{autumn:?}");
        assert!(autumn[0] == utc(2026, 10, 25, 0, 30) || autumn[0] == utc(2026, 10, 25, 1, 30));
        assert_eq!(on_day(&s, (2026, 10, 26)), vec![utc(2026, 10, 26, 1, 30)]);
    }

    #[test]
    fn day_of_week_1_to_5_is_monday_to_friday_as_in_crontab() {
        let s = sched("0 9 * * 1-5");
        // Saturday 21 November 2026 -> Monday 23rd, 09:00 GMT.
        assert_eq!(
            s.next_after(utc(2026, 11, 21, 12, 0)),
            Some(utc(2026, 11, 23, 9, 0))
        );
        // Friday 09:00 BST in June is 08:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 6, 18, 12, 0)),
            Some(utc(2026, 6, 19, 8, 0))
        );
        let sunday = sched("0 9 * * 0");
        assert_eq!(
            sunday.next_after(utc(2026, 11, 21, 12, 0)),
            Some(utc(2026, 11, 22, 9, 0))
        );
    }

    #[test]
    fn six_fields_have_seconds_and_bad_input_is_named() {
        let s = sched("*/10 * * * * *");
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 3).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap())
        );
        let e = Schedule::new(ScheduleConfig {
            timezone: Some("Mars/Olympus".into()),
            ..sched("0 1 * * *").config
        })
        .unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
        let e = Schedule::new(ScheduleConfig {
            cron: "61 * * * *".into(),
            ..sched("0 1 * * *").config
        })
        .unwrap_err();
        assert!(e.contains("61 * * * *"), "{e}");
    }

    #[test]
    fn missed_firings_are_listed_in_order() {
        let s = sched("0 2 * * *");
        let m = s.missed(utc(2026, 11, 18, 3, 0), utc(2026, 11, 21, 2, 0));
        assert_eq!(
            m,
            vec![
                utc(2026, 11, 19, 2, 0),
                utc(2026, 11, 20, 2, 0),
                utc(2026, 11, 21, 2, 0)
            ]
        );
    }
}
