//! The pipeline configuration (TOML).
//!
//! Unknown keys and wrong types are errors that name the key, the file and
//! the line. Relative paths are resolved against the config file's folder.

pub mod disclosure;
pub mod evidence;
pub mod exports;
pub mod lake;
pub mod notify;
pub mod objectives;
pub mod partners;
mod plugin;
pub mod report;
pub mod schedules;
pub mod serve;

pub use disclosure::Policy;
pub use exports::{ExportFormat, ExportsConfig};
pub use notify::NotifyConfig;
pub use objectives::{Measure, Objective};
pub use partners::{Partner, Partnership};
pub use plugin::PluginRef;
use plugin::{check_isolation, plugin_ref};
pub use schedules::{CatchUp, Overlap, ScheduleConfig};
pub use serve::ServeConfig;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// In the host process (the default; built-ins always can).
    #[default]
    InProcess,
    /// In a child process (partner plugins; see the plugin guide).
    Process,
}

/// Settings of the host's fetch layer.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Whole-request timeout, seconds.
    pub timeout_secs: u64,
    /// Connection timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Retries after the first attempt on 429, 5xx and connection errors.
    pub retries: u32,
    /// First backoff delay, milliseconds (doubles each retry, with jitter).
    pub backoff_base_ms: u64,
    /// Longest backoff delay, milliseconds.
    pub backoff_max_ms: u64,
    /// Longest `Retry-After` honoured, seconds.
    pub retry_after_max_secs: u64,
    /// Minimum gap between two requests to the same host, milliseconds.
    pub min_interval_ms: u64,
    /// Largest body accepted, bytes.
    pub max_bytes: u64,
    /// Cache folder (default `<output_dir>/.cache/http`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout_secs: 300,
            connect_timeout_secs: 15,
            retries: 4,
            backoff_base_ms: 500,
            backoff_max_ms: 30_000,
            retry_after_max_secs: 120,
            min_interval_ms: 100,
            max_bytes: 8 << 30,
            cache_dir: None,
        }
    }
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name: used in logs, manifests, quarantine files and folders.
    pub name: String,
    /// A built-in plugin's name.
    pub plugin: Option<String>,
    /// Or a plugin library's path.
    pub library: Option<PathBuf>,
    /// Or a program speaking the process plugin protocol (any language),
    /// run in the config's folder: `["python3", "plugins/my_source.py"]`.
    pub command: Option<Vec<String>>,
    /// Where it runs.
    #[serde(default)]
    pub isolation: Isolation,
    /// With `isolation = "process"`: kill the plugin after this many seconds.
    pub timeout_secs: Option<u64>,
    /// With `isolation = "process"`: the plugin process's memory limit, MB.
    pub memory_limit_mb: Option<u64>,
    /// Handed to the plugin, checked against its config schema.
    #[serde(default)]
    pub options: toml::Table,
    /// Fail the source (keeping the last good output) when more than this
    /// percentage of its rows is quarantined (default: `[quality]
    /// max_rejected_pct`, 1%).
    pub max_rejected_pct: Option<f64>,
    /// How the source's files write numbers and dates: `decimal = ","`,
    /// `date_format = "%d/%m/%Y"`.
    #[serde(default)]
    pub parse: eqpipe_plugin_sdk::published::Formats,
    /// Let this source's output shrink (fewer rows than `[quality]
    /// max_shrink_pct` allows, or none at all) without failing; the step
    /// then ends `succeeded with warnings`.
    #[serde(default)]
    pub accept_shrink: bool,
}

/// Which data-quality warnings fail a step instead of only being reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Rows rejected (below the limit) and quarantined.
    RejectedRows,
    /// Unreadable values of optional columns stored as null.
    NulledValues,
    /// A plugin's coverage warning: areas missing from a lookup, unmatched
    /// postcodes, unmapped answers.
    Coverage,
    /// The output shrank past the limit and was accepted (`accept_shrink`).
    AcceptedShrink,
}

/// `[quality]`: when a loss of data fails a step, and what only warns.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Fail a step when more than this percentage of its rows is rejected
    /// (a step's own `max_rejected_pct` wins). Default 1.
    pub max_rejected_pct: f64,
    /// Fail a source whose rows fall by more than this percentage from its
    /// last good output (or to none), unless it has `accept_shrink` or the
    /// run `--accept-shrink`. Default 50.
    pub max_shrink_pct: f64,
    /// Warnings that fail the step instead (default none).
    pub fail_on: Vec<WarningKind>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            max_rejected_pct: 1.0,
            max_shrink_pct: 50.0,
            fail_on: Vec::new(),
        }
    }
}

/// One `[[indicators]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorConfig {
    /// Output folder name under `indicators/`; defaults to the plugin's
    /// output dataset name.
    pub name: Option<String>,
    /// A built-in plugin's name.
    pub plugin: Option<String>,
    /// Or a plugin library's path.
    pub library: Option<PathBuf>,
    /// Or a program speaking the process plugin protocol (any language),
    /// run in the config's folder: `["python3", "plugins/my_source.py"]`.
    pub command: Option<Vec<String>>,
    /// Where it runs.
    #[serde(default)]
    pub isolation: Isolation,
    /// With `isolation = "process"`: kill the plugin after this many seconds.
    pub timeout_secs: Option<u64>,
    /// With `isolation = "process"`: the plugin process's memory limit, MB.
    pub memory_limit_mb: Option<u64>,
    /// Handed to the plugin, checked against its config schema.
    #[serde(default)]
    pub options: toml::Table,
}

/// `[versions]`: every file a run writes is also kept, as a hard link, under
/// `versions/<run_id>/` (personal files under `restricted/versions/`), for
/// the newest `keep` runs; `eqpipe runs restore RUN_ID` puts a run's files
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsConfig {
    /// Runs whose versions are kept (0: none).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    5
}

impl Default for VersionsConfig {
    fn default() -> Self {
        VersionsConfig {
            keep: default_keep(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Output root; `--out` overrides.
    pub output_dir: Option<PathBuf>,
    /// Extra folder of dataset contracts (`*.toml`), added to the built-in ones.
    pub contracts_dir: Option<PathBuf>,
    /// Sources run at most this many at a time (default: the number of cores).
    pub max_parallel: Option<usize>,
    /// Fetch layer settings.
    #[serde(default)]
    pub fetch: FetchConfig,
    /// When a loss of data fails a step (`max_rejected_pct`,
    /// `max_shrink_pct`, `fail_on`).
    #[serde(default)]
    pub quality: QualityConfig,
    /// Disclosure control of published indicators (`threshold`, default 10;
    /// `suppress_zero`, default false).
    #[serde(default)]
    pub disclosure: disclosure::Policy,
    /// The sources.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// The indicators, run after the sources in this order.
    #[serde(default)]
    pub indicators: Vec<IndicatorConfig>,
    /// CSV and XLSX copies of the published indicators.
    #[serde(default)]
    pub exports: Option<exports::ExportsConfig>,
    /// The lake the published outputs are committed to as Delta tables
    /// (`[lake]`); none: the local folder only.
    #[serde(default)]
    pub lake: Option<lake::LakeConfig>,
    /// The report's settings (`[report]`: a folder of templates).
    #[serde(default)]
    pub report: report::ReportConfig,
    /// Equality impact evidence packs (`[[evidence_packs]]`).
    #[serde(default)]
    pub evidence_packs: Vec<evidence::EvidencePack>,
    /// Failure notifications (a webhook).
    #[serde(default)]
    pub notify: Option<notify::NotifyConfig>,
    /// How many runs' versions of the outputs are kept (`versions/`).
    #[serde(default)]
    pub versions: VersionsConfig,
    /// Schedules for `eqpipe schedule`.
    #[serde(default)]
    pub schedules: Vec<schedules::ScheduleConfig>,
    /// Equality objectives, inline (`[[objectives]]`); those in
    /// `objective_files` are added to them when the config is loaded.
    #[serde(default)]
    pub objectives: Vec<objectives::Objective>,
    /// Files of objectives (`config/objectives/*.toml`), relative to the
    /// config.
    #[serde(default)]
    pub objective_files: Vec<PathBuf>,
    /// The partners of a partnership (`[[partners]]`): each one's sources,
    /// key, upload tokens and inbox. Empty for a single organisation.
    #[serde(default)]
    pub partners: Vec<partners::Partner>,
    /// The partnership as a whole (`[partnership]`).
    #[serde(default)]
    pub partnership: partners::Partnership,
    /// The upload endpoint (`eqpipe serve`).
    #[serde(default)]
    pub serve: serve::ServeConfig,
    /// Folder of the config file (relative paths resolve against it).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file it was read from, if any.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type (the message names the
    /// line and the key).
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// Parsed, but does not make sense.
    #[error("config {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What to fix.
        message: String,
    },
}

/// A TOML error that names the line and the key but never a value: toml
/// quotes the offending line and the value itself, and a line of a config
/// may hold a secret written where it does not belong.
fn without_values(text: &str, e: &toml::de::Error) -> String {
    let complaint: Vec<String> = e
        .message()
        .lines()
        .map(|l| {
            // `"…"` and `'…'` are values; keys and expectations come in
            // backticks.
            let mut out = String::new();
            let mut quote: Option<char> = None;
            for c in l.chars() {
                match quote {
                    Some(q) if c == q => {
                        quote = None;
                        out.push_str("(value not shown)");
                    }
                    Some(_) => {}
                    None if c == '"' || c == '\'' => quote = Some(c),
                    None => out.push(c),
                }
            }
            out
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    let Some(span) = e.span() else {
        return complaint.join("; ");
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = match line.split_once('=') {
        Some((k, _)) => format!(", key `{}`", k.trim()),
        None if line.trim_start().starts_with('[') => {
            format!(", table `{}`", line.trim().trim_matches(['[', ']']))
        }
        None => String::new(),
    };
    format!(
        "at line {line_no}, column {column}{key}: {}",
        complaint.join("; ")
    )
}

/// Whether `s` can be an environment variable's name as the config expects
/// them (`NOMIS_API_KEY`): a secret pasted in its place is refused.
pub fn is_variable_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every string under a key ending in `_env` in a TOML table, with its
/// dotted key.
fn env_keys(prefix: &str, t: &toml::Table, out: &mut Vec<(String, String)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) if k.ends_with("_env") => out.push((key, s.clone())),
            toml::Value::Table(inner) => env_keys(&key, inner, out),
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(inner) = item {
                        env_keys(&format!("{key}[{i}]"), inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Config {
    /// Every config value that names an environment variable holding a
    /// secret: (where, key, the variable's name). Plugin options' keys
    /// ending in `_env`, partners' keys, the partnership's shared key, the
    /// webhook.
    pub fn variable_names(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let mut found = Vec::new();
            env_keys("", &s.options, &mut found);
            out.extend(
                found
                    .into_iter()
                    .map(|(k, v)| (format!("sources[{i}] (`{}`) options", s.name), k, v)),
            );
        }
        for (i, ind) in self.indicators.iter().enumerate() {
            let mut found = Vec::new();
            env_keys("", &ind.options, &mut found);
            out.extend(
                found
                    .into_iter()
                    .map(|(k, v)| (format!("indicators[{i}] options"), k, v)),
            );
        }
        for (i, p) in self.partners.iter().enumerate() {
            if let Some(k) = &p.key_env {
                out.push((
                    format!("partners[{i}] (`{}`)", p.id),
                    "key_env".into(),
                    k.clone(),
                ));
            }
        }
        if let Some(k) = &self.partnership.shared_key_env {
            out.push(("partnership".into(), "shared_key_env".into(), k.clone()));
        }
        if let Some(n) = &self.notify {
            out.push((
                "notify".into(),
                "webhook_url_env".into(),
                n.webhook_url_env.clone(),
            ));
        }
        if let Some(lake) = &self.lake {
            for (k, var) in &lake.env {
                out.push(("lake.env".into(), k.clone(), var.clone()));
            }
        }
        // Placeholders the host fills in later (`{partner.key}`) are names
        // too, once filled: leave them to the run.
        out.retain(|(_, _, v)| !v.contains('{'));
        out
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut config = Config::parse(&text, &path.display().to_string(), &base)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: without_values(text, &e),
        })?;
        config.base_dir = base_dir.to_path_buf();
        for f in config.objective_files.clone() {
            let objectives = objectives::load_file(&config.resolve(&f)).map_err(|message| {
                ConfigError::Invalid {
                    path: origin.to_string(),
                    message,
                }
            })?;
            config.objectives.extend(objectives);
        }
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        };
        for (at, key, value) in self.variable_names() {
            if !is_variable_name(&value) {
                return Err(invalid(format!(
                    "{at}: `{key}` must name an environment variable (capital letters, digits and _, such as EQPIPE_PSEUDONYMISATION_KEY) that holds the secret; the value given does not look like a variable name, so it is not shown: if it is the secret itself, move it into the environment and rotate it"
                )));
            }
        }
        let mut names = HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let at = format!("sources[{i}] (`{}`)", s.name);
            if !eqpipe_plugin_sdk::contract::is_snake_case(&s.name)
                && !eqpipe_plugin_sdk::contract::is_kebab_case(&s.name)
            {
                return Err(invalid(format!(
                    "{at}: name must be lowercase letters, digits, - or _ (it names folders)"
                )));
            }
            if !names.insert(s.name.clone()) {
                return Err(invalid(format!(
                    "{at}: the name `{}` is used twice; source names must be unique",
                    s.name
                )));
            }
            plugin_ref(&s.plugin, &s.library, &s.command, &self.base_dir)
                .map_err(|m| invalid(format!("{at}: {m}")))?;
            check_isolation(
                s.isolation,
                s.command.is_some(),
                s.timeout_secs,
                s.memory_limit_mb,
            )
            .map_err(|m| invalid(format!("{at}: {m}")))?;
            if let Some(p) = s.max_rejected_pct
                && !(0.0..=100.0).contains(&p)
            {
                return Err(invalid(format!(
                    "{at}: max_rejected_pct must be between 0 and 100"
                )));
            }
            s.parse
                .check()
                .map_err(|m| invalid(format!("{at}: parse: {m}")))?;
        }
        for (key, v) in [
            ("max_rejected_pct", self.quality.max_rejected_pct),
            ("max_shrink_pct", self.quality.max_shrink_pct),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(invalid(format!("quality.{key} must be between 0 and 100")));
            }
        }
        let mut outs = HashSet::new();
        for (i, ind) in self.indicators.iter().enumerate() {
            let at = format!("indicators[{i}]");
            plugin_ref(&ind.plugin, &ind.library, &ind.command, &self.base_dir)
                .map_err(|m| invalid(format!("{at}: {m}")))?;
            check_isolation(
                ind.isolation,
                ind.command.is_some(),
                ind.timeout_secs,
                ind.memory_limit_mb,
            )
            .map_err(|m| invalid(format!("{at}: {m}")))?;
            if let Some(n) = &ind.name {
                if !eqpipe_plugin_sdk::contract::is_snake_case(n) {
                    return Err(invalid(format!(
                        "{at}: name `{n}` must be snake_case (it is the output folder)"
                    )));
                }
                if !outs.insert(n.clone()) {
                    return Err(invalid(format!("{at}: the name `{n}` is used twice")));
                }
            }
        }
        if !(self.disclosure.threshold.is_finite() && self.disclosure.threshold >= 1.0) {
            return Err(invalid(format!(
                "disclosure.threshold must be at least 1 (it is {}); counts below it are suppressed before publication",
                self.disclosure.threshold
            )));
        }
        objectives::check(&self.objectives).map_err(invalid)?;
        evidence::check(&self.evidence_packs).map_err(invalid)?;
        let source_names: Vec<String> = self.sources.iter().map(|s| s.name.clone()).collect();
        partners::check(&self.partners, &self.partnership, &source_names).map_err(invalid)?;
        for s in &self.sources {
            let key = self
                .partner_of(&s.name)
                .and_then(|p| partners::key_env(&self.partnership, p));
            if let (Some(k), Some(set)) = (key, s.options.get(partners::KEY_OPTION))
                && set.as_str() != Some(k)
            {
                return Err(invalid(format!(
                    "source `{}` belongs to a partner whose key is in `{k}`; leave out {} (the partner's key is used)",
                    s.name,
                    partners::KEY_OPTION
                )));
            }
        }
        if self.max_parallel == Some(0) {
            return Err(invalid("max_parallel must be at least 1".into()));
        }
        Ok(())
    }

    /// The plugin a source uses.
    pub fn source_plugin(&self, s: &SourceConfig) -> PluginRef {
        plugin_ref(&s.plugin, &s.library, &s.command, &self.base_dir).expect("checked at load")
    }

    /// The plugin an indicator uses.
    pub fn indicator_plugin(&self, i: &IndicatorConfig) -> PluginRef {
        plugin_ref(&i.plugin, &i.library, &i.command, &self.base_dir).expect("checked at load")
    }

    /// The partner a source belongs to, if any.
    pub fn partner_of(&self, source: &str) -> Option<&partners::Partner> {
        partners::owner_of(&self.partners, source)
    }

    /// Resolves a path from the config against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Converts a TOML table into the JSON object handed to a plugin.
pub fn options_json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_else(|_| serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.toml", Path::new("/etc/eqpipe"))
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = parse(
            r#"
output_dir = "out"
[[sources]]
name = "census"
plugin = "ons-census"
isolation = "in-process"
[sources.options]
base_url = "http://127.0.0.1:8080/"
tables = ["TS021", "TS038"]
geography = "ltla"
[[indicators]]
name = "profile"
plugin = "community-profile"
[indicators.options]
"#,
        )
        .unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(
            c.source_plugin(&c.sources[0]),
            PluginRef::Builtin("ons-census".into())
        );
        let opts = options_json(&c.sources[0].options);
        assert_eq!(opts["tables"][1], "TS038");
        assert_eq!(c.indicators[0].name.as_deref(), Some("profile"));
    }

    #[test]
    fn an_unknown_key_names_the_key_and_the_line() {
        let e = parse(
            "output_dir = \"out\"\n[[sources]]\nname = \"a\"\nplugin = \"x\"\nplugn = \"y\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugn"), "{e}");
        assert!(e.contains("line 5"), "{e}");
        assert!(e.contains("test.toml"), "{e}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_the_line() {
        let e = parse("max_parallel = \"two\"\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("max_parallel"), "{e}");
    }

    #[test]
    fn duplicate_names_and_missing_plugins_are_refused() {
        let e = parse("[[sources]]\nname = \"a\"\nplugin = \"x\"\n[[sources]]\nname = \"a\"\nplugin = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("used twice"), "{e}");
        let e = parse("[[sources]]\nname = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing `plugin`"), "{e}");
    }

    #[test]
    fn a_command_runs_in_the_config_folder_and_excludes_the_other_kinds() {
        let c = parse(
            "[[sources]]\nname = \"a\"\ncommand = [\"python3\", \"plugins/a.py\"]\ntimeout_secs = 30\n\n[[indicators]]\ncommand = [\"./bin/ind\", \"--fast\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.source_plugin(&c.sources[0]),
            PluginRef::Command {
                argv: vec!["python3".into(), "plugins/a.py".into()],
                dir: PathBuf::from("/etc/eqpipe"),
            }
        );
        let PluginRef::Command { argv, .. } = c.indicator_plugin(&c.indicators[0]) else {
            panic!("a command");
        };
        assert_eq!(argv, ["/etc/eqpipe/./bin/ind", "--fast"]);
        let e = parse("[[sources]]\nname = \"a\"\nplugin = \"x\"\ncommand = [\"y\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not several"), "{e}");
        let e = parse("[[sources]]\nname = \"a\"\ncommand = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`command` is empty"), "{e}");
    }

    #[test]
    fn library_paths_resolve_against_the_config_folder() {
        let c = parse("[[sources]]\nname = \"a\"\nlibrary = \"plugins/libx.so\"\n").unwrap();
        assert_eq!(
            c.source_plugin(&c.sources[0]),
            PluginRef::Library(PathBuf::from("/etc/eqpipe/plugins/libx.so"))
        );
    }

    /// A secret written where the name of its variable belongs, or in an
    /// unknown key, or where a string is expected, is never echoed.
    #[test]
    fn config_errors_never_echo_a_secret() {
        const MARK: &str = "zq-SECRET-7f3a9c";
        let cases = [
            format!("webhook_url = \"https://hooks.example/{MARK}/x\"\n"),
            format!(
                "[[sources]]\nname = \"a\"\nplugin = \"x\"\n[sources.options]\npseudonymisation_key_env = \"{MARK}\"\n"
            ),
            format!(
                "[[sources]]\nname = \"a\"\nplugin = \"x\"\n[sources.options]\n[sources.options.http]\ntoken_env = \"{MARK}\"\n"
            ),
            format!("[[partners]]\nid = \"p\"\nname = \"P\"\nsources = []\nkey_env = \"{MARK}\"\n"),
            format!("[notify]\nwebhook_url_env = \"https://hooks.example/{MARK}\"\n"),
            format!("[notify]\nwebhook_url_env = [\"{MARK}\"]\n"),
            format!(
                "output_dir = \"out\"\n[[sources]]\nname = \"a\"\nplugin = \"x\"\napi_key = \"{MARK}\"\n"
            ),
        ];
        for c in &cases {
            let e = parse(c).unwrap_err().to_string();
            assert!(!e.contains(MARK), "echoed: {e}");
            assert!(e.contains("test.toml"), "{e}");
        }
        // The key and the line are still named.
        let e = parse(&cases[0]).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("webhook_url"), "{e}");
        let e = parse(&cases[1]).unwrap_err().to_string();
        assert!(
            e.contains("pseudonymisation_key_env") && e.contains("sources[0]"),
            "{e}"
        );
        // Real variable names pass.
        assert!(is_variable_name("EQPIPE_PSEUDONYMISATION_KEY") && is_variable_name("_X1"));
        assert!(
            !is_variable_name("eqpipe_key") && !is_variable_name("a b") && !is_variable_name("")
        );
    }
}
