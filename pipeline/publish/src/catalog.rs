//! The data catalogue written with every run: `catalog.json` for programs
//! and `catalog.md` for people. Each dataset and indicator in the output
//! folder with its columns (type, meaning, unit, allowed values), where it
//! lives, how many rows it holds, which plugin made it from which source,
//! under which licence, and when.

use std::path::{Path, PathBuf};

use eqpipe_plugin_sdk::{ColumnType, Contract};
use serde::Serialize;

use eqpipe_store::contracts::Contracts;
use eqpipe_store::files::{self as store, PART_FILE, RESTRICTED_DIR, file_facts};

/// One column as the catalogue describes it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogColumn {
    /// Name.
    pub name: String,
    /// Logical type (`utf8`, `int64`, `date`, …).
    #[serde(rename = "type")]
    pub ty: String,
    /// Stored dictionary-encoded (pandas `category`).
    pub categorical: bool,
    /// Nulls allowed.
    pub nullable: bool,
    /// Meaning.
    pub description: String,
    /// Unit, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The allowed values, if the contract fixes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// One dataset or indicator output.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogEntry {
    /// Dataset or indicator name.
    pub name: String,
    /// `dataset` or `indicator`.
    pub kind: String,
    /// Folder, relative to the output root.
    pub path: String,
    /// Personal data under the restricted root (never published).
    pub restricted: bool,
    /// What one row means.
    pub description: String,
    /// Contract (schema) version.
    pub schema_version: u32,
    /// Rows across all files.
    pub rows: u64,
    /// Files, relative to the output root.
    pub files: Vec<String>,
    /// Plugins that wrote it (`name version`).
    pub produced_by: Vec<String>,
    /// Licences of the data.
    pub licences: Vec<String>,
    /// Newest file's creation time.
    pub last_updated: Option<String>,
    /// Columns.
    pub columns: Vec<CatalogColumn>,
}

/// The whole catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// eqpipe's version.
    pub pipeline_version: String,
    /// The run that wrote it.
    pub run_id: String,
    /// Entries, datasets first, by name.
    pub entries: Vec<CatalogEntry>,
}

fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Utf8 => "utf8",
        ColumnType::Int16 => "int16",
        ColumnType::Int32 => "int32",
        ColumnType::Int64 => "int64",
        ColumnType::UInt8 => "uint8",
        ColumnType::Float64 => "float64",
        ColumnType::Boolean => "boolean",
        ColumnType::Date => "date",
        ColumnType::Binary32 => "binary32",
        ColumnType::Geometry => "geometry",
    }
}

fn columns(c: &Contract) -> Vec<CatalogColumn> {
    c.columns
        .iter()
        .map(|col| CatalogColumn {
            name: col.name.clone(),
            ty: type_name(col.ty).into(),
            categorical: col.categorical,
            nullable: col.nullable,
            description: col.description.clone(),
            unit: col.unit.clone(),
            allowed: col.allowed.clone(),
        })
        .collect()
}

fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn entry(
    root: &Path,
    name: &str,
    kind: &str,
    dir: &Path,
    files: Vec<PathBuf>,
    contract: &Contract,
) -> CatalogEntry {
    let mut rows = 0;
    let mut produced_by = Vec::new();
    let mut licences = Vec::new();
    let mut last_updated: Option<String> = None;
    for f in &files {
        if let Some((n, kv)) = file_facts(f) {
            rows += n;
            if let (Some(p), Some(v)) = (
                kv.get(eqpipe_core::provenance::keys::PLUGIN),
                kv.get(eqpipe_core::provenance::keys::PLUGIN_VERSION),
            ) {
                let s = format!("{p} {v}");
                if !produced_by.contains(&s) {
                    produced_by.push(s);
                }
            }
            if let Some(l) = kv.get(eqpipe_core::provenance::keys::LICENCE)
                && !licences.contains(l)
            {
                licences.push(l.clone());
            }
            if let Some(t) = kv.get(eqpipe_core::provenance::keys::CREATED_AT)
                && last_updated.as_ref().is_none_or(|l| t > l)
            {
                last_updated = Some(t.clone());
            }
        }
    }
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    CatalogEntry {
        name: name.to_string(),
        kind: kind.to_string(),
        path: rel(dir),
        restricted: store::is_restricted(dir),
        description: contract.description.clone(),
        schema_version: contract.version,
        rows,
        files: files.iter().map(|f| rel(f)).collect(),
        produced_by,
        licences,
        last_updated,
        columns: {
            let mut cols = columns(contract);
            // A partnership's files lead with the partner they belong to.
            if files.iter().any(|f| {
                f.components().any(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .starts_with(eqpipe_core::layout::PARTITION_PREFIX)
                })
            }) {
                cols.insert(
                    0,
                    CatalogColumn {
                        name: eqpipe_core::provenance::PARTNER_COLUMN.into(),
                        ty: "utf8".into(),
                        nullable: false,
                        categorical: true,
                        description: "The partner the row belongs to (or the partnership's id for its own figures)".into(),
                        unit: None,
                        allowed: None,
                    },
                );
            }
            cols
        },
    }
}

/// Describes everything committed under `root`.
pub fn build(root: &Path, contracts: &Contracts, run_id: &str) -> Catalog {
    let mut entries = Vec::new();
    // Partitions one or two levels down: `source=<s>/`, or in a partnership
    // `partner=<id>/source=<s>/` (and an indicator's `partner=<id>/`).
    let parts = |dir: &Path| -> Vec<PathBuf> {
        let mut files = Vec::new();
        for p in folders(dir) {
            let f = p.join(PART_FILE);
            if f.exists() {
                files.push(f);
            } else {
                files.extend(
                    folders(&p)
                        .into_iter()
                        .map(|q| q.join(PART_FILE))
                        .filter(|q| q.exists()),
                );
            }
        }
        files
    };
    let mut bases = vec![root.to_path_buf(), root.join(RESTRICTED_DIR)];
    bases.extend(folders(&root.join(RESTRICTED_DIR)).into_iter().filter(|p| {
        p.file_name().is_some_and(|n| {
            n.to_string_lossy()
                .starts_with(eqpipe_core::layout::PARTITION_PREFIX)
        })
    }));
    for base in bases {
        for dir in folders(&base.join(eqpipe_core::layout::DATASETS_DIR)) {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let Some(contract) = contracts.get(&name) else {
                continue;
            };
            let files = parts(&dir);
            if !files.is_empty() {
                entries.push(entry(root, &name, "dataset", &dir, files, &contract));
            }
        }
    }
    for dir in folders(&root.join(eqpipe_core::layout::INDICATORS_DIR)) {
        let plain = dir.join(PART_FILE);
        let files = if plain.exists() {
            vec![plain]
        } else {
            parts(&dir)
        };
        let Some(file) = files.first() else {
            continue;
        };
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        // The folder is the indicator's config name; its contract is the
        // dataset recorded in the file.
        let dataset = file_facts(file)
            .and_then(|(_, kv)| kv.get(eqpipe_core::provenance::keys::DATASET).cloned());
        if let Some(contract) = dataset.and_then(|d| contracts.get(&d)) {
            entries.push(entry(root, &name, "indicator", &dir, files, &contract));
        }
    }
    Catalog {
        pipeline_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.to_string(),
        entries,
    }
}

/// The readable version.
pub fn markdown(c: &Catalog) -> String {
    let mut s = String::from("# Data catalogue\n\n");
    s.push_str(&format!(
        "Written by eqpipe {} with run `{}`. Open any folder below with pandas, polars, DuckDB or R arrow; categorical columns are dictionary-encoded.\n\n",
        c.pipeline_version, c.run_id
    ));
    s.push_str("| name | kind | rows | path | updated |\n|---|---|---:|---|---|\n");
    for e in &c.entries {
        s.push_str(&format!(
            "| [{}](#{}) | {}{} | {} | `{}` | {} |\n",
            e.name,
            e.name,
            e.kind,
            if e.restricted { " (restricted)" } else { "" },
            e.rows,
            e.path,
            e.last_updated.as_deref().unwrap_or("")
        ));
    }
    for e in &c.entries {
        s.push_str(&format!("\n## {}\n\n{}\n\n", e.name, e.description));
        if e.restricted {
            s.push_str("**Restricted**: personal data, readable only by the pipeline's owner; never publish it.\n\n");
        }
        s.push_str(&format!(
            "- Schema version {}; {} rows in {} file(s) under `{}`\n- Made by: {}\n- Licence: {}\n\n",
            e.schema_version,
            e.rows,
            e.files.len(),
            e.path,
            if e.produced_by.is_empty() { "-".into() } else { e.produced_by.join(", ") },
            if e.licences.is_empty() { "-".into() } else { e.licences.join("; ") }
        ));
        s.push_str("| column | type | meaning | unit |\n|---|---|---|---|\n");
        for col in &e.columns {
            let mut ty = col.ty.clone();
            if col.categorical {
                ty.push_str(", categorical");
            }
            if col.nullable {
                ty.push_str(", nullable");
            }
            let mut meaning = col.description.replace('|', "\\|");
            if let Some(a) = &col.allowed {
                meaning.push_str(&format!(" (one of: {})", a.join(", ")));
            }
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                col.name,
                ty,
                meaning,
                col.unit.as_deref().unwrap_or("")
            ));
        }
    }
    s
}

/// Writes `catalog.json` and `catalog.md` under `root`, atomically, and
/// beside them the readers' `eqpipe.sql` and `datapackage.json`.
pub fn write(
    root: &Path,
    contracts: &Contracts,
    run_id: &str,
) -> Result<Catalog, store::StoreError> {
    let c = build(root, contracts, run_id);
    let json = serde_json::to_vec_pretty(&c).expect("serialisable");
    let (json_path, md_path) = eqpipe_core::layout::Layout::new(root).catalog();
    store::write_atomic(&json_path, &json)?;
    store::write_atomic(&md_path, markdown(&c).as_bytes())?;
    let (sql, package) = eqpipe_core::layout::Layout::new(root).readers();
    store::write_atomic(&sql, crate::readers::duckdb_views(&c).as_bytes())?;
    let package_json =
        serde_json::to_vec_pretty(&crate::readers::datapackage(&c)).expect("serialisable");
    store::write_atomic(&package, &package_json)?;
    Ok(c)
}
