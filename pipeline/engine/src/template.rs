//! `eqpipe plugins new`: a ready-to-build plugin crate, which builds and
//! passes `eqpipe plugins check` untouched.

use std::path::{Path, PathBuf};

use eqpipe_plugin_sdk::PluginKind;
use eqpipe_plugin_sdk::contract::is_kebab_case;

/// Where the SDK lives, for the generated crate's dependency: the SDK
/// beside this build of eqpipe when it is there, else the published one.
pub fn default_sdk() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
    p.exists().then(|| p.canonicalize().unwrap_or(p))
}

/// The Python plugin SDK beside this build of eqpipe, when it is there.
pub fn python_sdk() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk-python");
    p.exists().then(|| p.canonicalize().unwrap_or(p))
}

/// The new plugin's folder, `dir/name`: refused when the name is not
/// kebab-case or the folder is there.
fn new_root(name: &str, dir: &Path) -> Result<PathBuf, String> {
    if !is_kebab_case(name) {
        return Err(format!(
            "plugin name `{name}` must be kebab-case, like `referrals-export`"
        ));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(format!("{} already exists", root.display()));
    }
    Ok(root)
}

/// Writes the crate `dir/name`; returns its folder.
pub fn generate(
    name: &str,
    kind: PluginKind,
    dir: &Path,
    sdk: Option<&Path>,
) -> Result<PathBuf, String> {
    let root = new_root(name, dir)?;
    let snake = name.replace('-', "_");
    let sdk_dep = match sdk {
        Some(p) => format!("eqpipe-plugin-sdk = {{ path = \"{}\" }}", p.display()),
        None => "eqpipe-plugin-sdk = \"0.1\"".to_string(),
    };
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the library eqpipe loads; rlib: for this crate's own tests.
crate-type = ["cdylib", "rlib"]

[features]
# Exports the entry symbol `eqpipe_plugin_entry`.
default = ["dynamic"]
dynamic = []

[dependencies]
{sdk_dep}
serde = {{ version = "1", features = ["derive"] }}
schemars = "1"

# A crate of its own, not part of any workspace.
[workspace]

[profile.release]
# Never "abort": the SDK turns panics into errors at the boundary.
panic = "unwind"
"#
    );
    let type_name: String = snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let lib = match kind {
        PluginKind::Source => SOURCE
            .replace("{NAME}", name)
            .replace("{SNAKE}", &snake)
            .replace("{TYPE}", &type_name),
        PluginKind::Indicator => INDICATOR
            .replace("{NAME}", name)
            .replace("{SNAKE}", &snake)
            .replace("{TYPE}", &type_name),
    };
    let readme = format!(
        "# {name}\n\nAn eqpipe {kind} plugin.\n\n```sh\ncargo build --release\neqpipe plugins check target/release/lib{snake}.so\n```\n\nThen name the library in a pipeline config:\n\n```toml\n[[{section}]]\nname = \"{snake}\"\nlibrary = \"path/to/lib{snake}.so\"\n[{section}.options]\n```\n",
        section = if kind == PluginKind::Source {
            "sources"
        } else {
            "indicators"
        }
    );
    std::fs::create_dir_all(root.join("src")).map_err(|e| format!("{}: {e}", root.display()))?;
    for (file, body) in [
        ("Cargo.toml", cargo.as_str()),
        ("src/lib.rs", lib.as_str()),
        ("README.md", readme.as_str()),
        (".gitignore", "/target\n"),
    ] {
        std::fs::write(root.join(file), body)
            .map_err(|e| format!("{}: {e}", root.join(file).display()))?;
    }
    Ok(root)
}

const SOURCE: &str = r#"//! {NAME}: an eqpipe source plugin.
//!
//! Replace `run` with your system's export: fetch through `ctx.fetch`
//! (the host caches, retries and keeps secrets out of logs), parse, and
//! emit rows. Values may be emitted as text: the host parses them against
//! the contract below and quarantines rows that do not fit.

use eqpipe_plugin_sdk::prelude::*;

/// Options from the config's `[sources.options]`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// How many example rows to emit.
    #[serde(default = "default_rows")]
    pub rows: u32,
}

fn default_rows() -> u32 {
    3
}

/// The dataset this plugin produces, with its contract.
pub fn contract() -> Contract {
    eqpipe_plugin_sdk::serde_json::from_value(eqpipe_plugin_sdk::serde_json::json!({
        "name": "{SNAKE}_rows",
        "version": 1,
        "description": "Example rows from {NAME}",
        "columns": [
            {"name": "id", "type": "int64", "description": "Row number", "min": 1},
            {"name": "service", "type": "utf8", "categorical": true, "description": "Service name"},
            {"name": "month", "type": "date", "description": "First day of the month"}
        ]
    }))
    .expect("a valid contract")
}

/// The plugin.
pub struct {TYPE} {
    options: Options,
}

impl SourcePlugin for {TYPE} {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("{NAME}", env!("CARGO_PKG_VERSION"))
            .description("Example source plugin")
            .produces_with_contract(contract())
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok({TYPE} { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut rows = TextRows::new(&["id", "service", "month"]);
        for i in 1..=self.options.rows {
            ctx.check_cancelled()?;
            rows.push([i.to_string().as_str(), "Advice", "2025-04-01"], "example", i as u64);
        }
        ctx.info(&format!("emitting {} example rows", rows.len()));
        ctx.emit_rows("{SNAKE}_rows", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(source: {TYPE});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_valid() {
        let m = {TYPE}::manifest();
        m.check().unwrap();
        assert_eq!(m.produces[0].name, "{SNAKE}_rows");
    }
}
"#;

const INDICATOR: &str = r#"//! {NAME}: an eqpipe indicator plugin.
//!
//! Reads the datasets it declares in `consumes` and emits the one it
//! declares in `produces`.

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::arrow_array::cast::AsArray;
use eqpipe_plugin_sdk::arrow_array::types::Int64Type;
use eqpipe_plugin_sdk::prelude::*;

/// Options from the config's `[indicators.options]`.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {}

/// The output, with its contract.
pub fn contract() -> Contract {
    eqpipe_plugin_sdk::serde_json::from_value(eqpipe_plugin_sdk::serde_json::json!({
        "name": "{SNAKE}",
        "version": 1,
        "description": "Rows of census_counts per table",
        "columns": [
            {"name": "table_code", "type": "utf8", "categorical": true, "description": "Census table"},
            {"name": "total", "type": "int64", "description": "Sum of the table's level-0 counts", "min": 0}
        ]
    }))
    .expect("a valid contract")
}

/// The plugin.
pub struct {TYPE};

impl IndicatorPlugin for {TYPE} {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("{NAME}", env!("CARGO_PKG_VERSION"))
            .description("Example indicator plugin")
            .consumes("census_counts")
            .produces_with_contract(contract())
    }

    fn new(_options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok({TYPE})
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for batch in ctx.open_input("census_counts")? {
            let b = batch?;
            let tables = eqpipe_plugin_sdk::text_values(b.column_by_name("table_code").unwrap())?;
            let levels = b.column_by_name("category_level").unwrap().as_primitive::<eqpipe_plugin_sdk::arrow_array::types::UInt8Type>();
            let counts = b.column_by_name("count").unwrap().as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                if levels.value(i) == 0 {
                    *totals.entry(tables[i].clone()).or_default() += counts.value(i);
                }
            }
        }
        let mut rows = TextRows::new(&["table_code", "total"]);
        for (i, (t, n)) in totals.iter().enumerate() {
            rows.push([t.as_str(), n.to_string().as_str()], "census_counts", i as u64 + 1);
        }
        ctx.emit_rows("{SNAKE}", &mut rows)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: {TYPE});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_valid() {
        {TYPE}::manifest().check().unwrap();
    }
}
"#;

/// Writes a Python plugin `dir/name/`: the script on the SDK, an example
/// config running it, and a README; returns the folder and the script's
/// file name. It passes `eqpipe plugins check` untouched.
pub fn generate_python(
    name: &str,
    kind: PluginKind,
    dir: &Path,
) -> Result<(PathBuf, String), String> {
    let root = new_root(name, dir)?;
    let snake = name.replace('-', "_");
    let script = format!("{snake}.py");
    let (body, section) = match kind {
        PluginKind::Source => (PY_SOURCE, "sources"),
        PluginKind::Indicator => (PY_INDICATOR, "indicators"),
    };
    let body = body.replace("{NAME}", name).replace("{SNAKE}", &snake);
    let name_line = match kind {
        PluginKind::Source => format!("name = \"{snake}\"\n"),
        PluginKind::Indicator => String::new(),
    };
    let config = format!(
        "# Runs the plugin: eqpipe run --config eqpipe.toml\noutput_dir = \"out\"\n\n[[{section}]]\n{name_line}command = [\"python3\", \"{script}\"]\n# timeout_secs = 600\n# memory_limit_mb = 2048\n[{section}.options]\n"
    );
    let readme = format!(
        "# {name}\n\nAn eqpipe {kind} plugin in Python, on the eqpipe plugin SDK (`pip install plugins/sdk-python` from an eqpipe checkout; it is not on PyPI).\n\n```sh\neqpipe plugins check {script}\neqpipe run --config eqpipe.toml\n```\n\nThe plugin guide (`plugins/sdk/GUIDE.md` in eqpipe, section 10) explains the protocol, the contract and what the host does with the rows.\n"
    );
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    for (file, text) in [
        (script.as_str(), body.as_str()),
        ("eqpipe.toml", config.as_str()),
        ("README.md", readme.as_str()),
    ] {
        std::fs::write(root.join(file), text)
            .map_err(|e| format!("{}: {e}", root.join(file).display()))?;
    }
    Ok((root, script))
}

const PY_SOURCE: &str = r#"#!/usr/bin/env python3
"""{NAME}: an eqpipe source plugin.

Replace `run` with your system's export: fetch through `ctx.fetch` (the
host caches, retries, and adds secrets from the variables your options
name, so they never reach this script), parse, and `ctx.emit` rows. Values
may be text: the host parses them against the contract below and
quarantines the rows that do not fit.
"""

from eqpipe_plugin import Source, run

CONTRACT = {
    "name": "{SNAKE}_rows",
    "version": 1,
    "description": "Example rows from {NAME}",
    "columns": [
        {"name": "id", "type": "int64", "description": "Row number", "min": 1},
        {"name": "service", "type": "utf8", "categorical": True, "description": "Service name"},
        {"name": "month", "type": "date", "description": "First day of the month"},
    ],
}


class Plugin(Source):
    name = "{NAME}"
    version = "0.1.0"
    description = "Example source plugin"
    produces = [CONTRACT]
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"rows": {"type": "integer", "minimum": 0, "default": 3, "description": "How many example rows to emit"}},
    }

    def run(self, ctx):
        rows = []
        for i in range(1, ctx.options.get("rows", 3) + 1):
            ctx.check_cancelled()
            rows.append({"id": str(i), "service": "Advice", "month": "2025-04-01"})
        ctx.log(f"emitting {len(rows)} example rows")
        ctx.emit(CONTRACT["name"], rows)


if __name__ == "__main__":
    run(Plugin())
"#;

const PY_INDICATOR: &str = r#"#!/usr/bin/env python3
"""{NAME}: an eqpipe indicator plugin.

Reads the datasets it declares in `consumes` (through the host, only the
columns it asks for) and emits the one it declares in `produces`.
"""

from eqpipe_plugin import Indicator, run

CONTRACT = {
    "name": "{SNAKE}",
    "version": 1,
    "description": "Rows of census_counts per table",
    "columns": [
        {"name": "table_code", "type": "utf8", "categorical": True, "description": "Census table"},
        {"name": "total", "type": "int64", "description": "Sum of the table's level-0 counts", "min": 0},
    ],
}


class Plugin(Indicator):
    name = "{NAME}"
    version = "0.1.0"
    description = "Example indicator plugin"
    consumes = ["census_counts"]
    produces = [CONTRACT]

    def run(self, ctx):
        totals = {}
        for batch in ctx.open_input("census_counts", columns=["table_code", "category_level", "count"]):
            tables = batch.column("table_code").to_pylist()
            levels = batch.column("category_level").to_pylist()
            counts = batch.column("count").to_pylist()
            for t, level, n in zip(tables, levels, counts):
                if level == 0:
                    totals[t] = totals.get(t, 0) + n
        ctx.emit(CONTRACT["name"], [{"table_code": t, "total": n} for t, n in sorted(totals.items())])


if __name__ == "__main__":
    run(Plugin())
"#;
