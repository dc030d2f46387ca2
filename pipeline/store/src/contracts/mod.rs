//! The dataset contracts the host knows, and batch validation against them.
//!
//! Validation turns whatever a plugin emits into the contract's exact Arrow
//! schema: text is parsed into the declared type, categoricals are
//! dictionary-encoded, unknown columns are dropped. A row that breaks the
//! contract (missing value, unreadable value, out of range, not an allowed
//! value) is split off with its reason for the quarantine file. A batch whose
//! schema is wrong as a whole (a required column missing, an incompatible
//! type) is an error for the whole emit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_cast::cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, SchemaRef};
use eqpipe_plugin_sdk::contract::OnError;
use eqpipe_plugin_sdk::contract::{
    REJECT_COLUMN, SOURCE_FILE_COLUMN, SOURCE_ROW_COLUMN, is_reserved,
};
use eqpipe_plugin_sdk::{ColumnType, Contract};

use crate::published::{self, Cell, Formats, Precision};
use crate::unique::{self, LateDuplicate, SourceRow, UniqueKeys};

mod key;
mod read;
mod validate;
use key::*;
use read::*;
use validate::*;
pub use validate::{Rejection, SchemaMismatch, Validated, Validator};

/// Contracts shipped with eqpipe (`config/contracts/`), compiled in.
const BUILTIN: &[(&str, &str)] = &[
    (
        "census_counts.toml",
        include_str!("../../../../config/contracts/census_counts.toml"),
    ),
    (
        "community_profile.toml",
        include_str!("../../../../config/contracts/community_profile.toml"),
    ),
    (
        "census_rates.toml",
        include_str!("../../../../config/contracts/census_rates.toml"),
    ),
    (
        "nomis_observations.toml",
        include_str!("../../../../config/contracts/nomis_observations.toml"),
    ),
    (
        "workforce_counts.toml",
        include_str!("../../../../config/contracts/workforce_counts.toml"),
    ),
    (
        "recruitment.toml",
        include_str!("../../../../config/contracts/recruitment.toml"),
    ),
    (
        "workforce.toml",
        include_str!("../../../../config/contracts/workforce.toml"),
    ),
    (
        "geography_lookup.toml",
        include_str!("../../../../config/contracts/geography_lookup.toml"),
    ),
    (
        "deprivation.toml",
        include_str!("../../../../config/contracts/deprivation.toml"),
    ),
    (
        "service_usage.toml",
        include_str!("../../../../config/contracts/service_usage.toml"),
    ),
    (
        "pay_gap.toml",
        include_str!("../../../../config/contracts/pay_gap.toml"),
    ),
    (
        "deprivation_profile.toml",
        include_str!("../../../../config/contracts/deprivation_profile.toml"),
    ),
    (
        "service_equity.toml",
        include_str!("../../../../config/contracts/service_equity.toml"),
    ),
    (
        "workforce_benchmark.toml",
        include_str!("../../../../config/contracts/workforce_benchmark.toml"),
    ),
    (
        "workforce_flows.toml",
        include_str!("../../../../config/contracts/workforce_flows.toml"),
    ),
    (
        "workforce_representation.toml",
        include_str!("../../../../config/contracts/workforce_representation.toml"),
    ),
    (
        "spend.toml",
        include_str!("../../../../config/contracts/spend.toml"),
    ),
    (
        "health_indicators.toml",
        include_str!("../../../../config/contracts/health_indicators.toml"),
    ),
    (
        "health_inequalities.toml",
        include_str!("../../../../config/contracts/health_inequalities.toml"),
    ),
    (
        "gender_pay_gap_returns.toml",
        include_str!("../../../../config/contracts/gender_pay_gap_returns.toml"),
    ),
    (
        "pay_gap_benchmark.toml",
        include_str!("../../../../config/contracts/pay_gap_benchmark.toml"),
    ),
    (
        "boundaries.toml",
        include_str!("../../../../config/contracts/boundaries.toml"),
    ),
    (
        "grants.toml",
        include_str!("../../../../config/contracts/grants.toml"),
    ),
    (
        "suppliers.toml",
        include_str!("../../../../config/contracts/suppliers.toml"),
    ),
    (
        "social_value.toml",
        include_str!("../../../../config/contracts/social_value.toml"),
    ),
    (
        "vcse_grants.toml",
        include_str!("../../../../config/contracts/vcse_grants.toml"),
    ),
    (
        "engagement_respondents.toml",
        include_str!("../../../../config/contracts/engagement_respondents.toml"),
    ),
    (
        "engagement_answers.toml",
        include_str!("../../../../config/contracts/engagement_answers.toml"),
    ),
    (
        "engagement_reach.toml",
        include_str!("../../../../config/contracts/engagement_reach.toml"),
    ),
    (
        "engagement_estimates.toml",
        include_str!("../../../../config/contracts/engagement_estimates.toml"),
    ),
    (
        "hate_crime.toml",
        include_str!("../../../../config/contracts/hate_crime.toml"),
    ),
    (
        "hate_crime_trends.toml",
        include_str!("../../../../config/contracts/hate_crime_trends.toml"),
    ),
    (
        "objective_history.toml",
        include_str!("../../../../config/contracts/objective_history.toml"),
    ),
    (
        "objective_progress.toml",
        include_str!("../../../../config/contracts/objective_progress.toml"),
    ),
];

/// A contract problem found while loading.
#[derive(Debug, thiserror::Error)]
#[error("contract {file}: {message}")]
pub struct ContractLoadError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// All contracts by dataset name.
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    by_name: BTreeMap<String, Arc<Contract>>,
}

impl Contracts {
    /// The built-in contracts.
    pub fn builtin() -> Self {
        let mut c = Contracts::default();
        for (file, text) in BUILTIN {
            c.add_toml(file, text)
                .expect("built-in contracts are valid");
        }
        c
    }

    /// The built-ins plus every `*.toml` in `dir` (which may override them).
    pub fn with_dir(dir: &Path) -> Result<Self, ContractLoadError> {
        let mut c = Self::builtin();
        let entries = std::fs::read_dir(dir).map_err(|e| ContractLoadError {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ContractLoadError {
                file: f.display().to_string(),
                message: e.to_string(),
            })?;
            c.add_toml(&f.display().to_string(), &text)?;
        }
        Ok(c)
    }

    fn add_toml(&mut self, file: &str, text: &str) -> Result<(), ContractLoadError> {
        let contract: Contract = toml::from_str(text).map_err(|e| ContractLoadError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        contract.check().map_err(|e| ContractLoadError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        self.by_name
            .insert(contract.name.clone(), Arc::new(contract));
        Ok(())
    }

    /// A contract by dataset name.
    pub fn get(&self, name: &str) -> Option<Arc<Contract>> {
        self.by_name.get(name).cloned()
    }

    /// Adds a contract a plugin declared, unless the host already has one
    /// for that dataset (the host's wins).
    pub fn add_declared(&mut self, c: &Contract) {
        self.by_name
            .entry(c.name.clone())
            .or_insert_with(|| Arc::new(c.clone()));
    }

    /// All contracts.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Contract>> {
        self.by_name.values()
    }

    /// Where a run records every contract it knew (built-in, from
    /// `contracts_dir`, declared by plugins), so that later commands on the
    /// folder (`runs restore`) describe its datasets as the run did.
    pub fn recorded_path(root: &Path) -> std::path::PathBuf {
        eqpipe_core::layout::Layout::new(root).recorded_contracts()
    }

    /// Records the contracts under `root` (see [`Contracts::recorded_path`]).
    pub fn record(&self, root: &Path) -> Result<(), crate::files::StoreError> {
        let all: Vec<&Contract> = self.by_name.values().map(|c| c.as_ref()).collect();
        let json = serde_json::to_vec_pretty(&all).expect("serialisable");
        Ok(crate::files::write_atomic(
            &Self::recorded_path(root),
            &json,
        )?)
    }

    /// The built-ins plus the contracts the last run under `root` recorded.
    pub fn recorded(root: &Path) -> Self {
        let mut c = Self::builtin();
        let recorded: Vec<Contract> = std::fs::read(Self::recorded_path(root))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for r in recorded {
            if r.check().is_ok() {
                c.by_name
                    .entry(r.name.clone())
                    .or_insert_with(|| Arc::new(r));
            }
        }
        c
    }
}

/// Renders row `i` of every column of `batch` as text, for quarantine files.
pub fn row_as_text(batch: &RecordBatch, i: usize) -> Vec<String> {
    let opts = FormatOptions::default().with_null("");
    batch
        .columns()
        .iter()
        .map(|col| {
            ArrayFormatter::try_new(col.as_ref(), &opts)
                .map(|f| f.value(i).to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// Schema compatibility: `config/contracts/schema-lock.json` records what
/// readers see of every built-in contract (version and, per column, name,
/// type, nullability, dictionary encoding). A change that could break a
/// reader (a column removed, renamed, retyped, re-encoded, made nullable,
/// or moved) must bump the contract's `version`; any change must update the
/// lock, with `EQPIPE_UPDATE_SCHEMA_LOCK=1 cargo test -p eqpipe schema_lock`.
#[cfg(test)]
mod schema_lock {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Locked {
        version: u32,
        columns: Vec<String>,
    }

    fn describe(c: &Contract) -> Locked {
        Locked {
            version: c.version,
            columns: c
                .columns
                .iter()
                .map(|col| {
                    format!(
                        "{} {:?}{}{}",
                        col.name,
                        col.ty,
                        if col.nullable { " nullable" } else { "" },
                        if col.categorical { " categorical" } else { "" }
                    )
                })
                .collect(),
        }
    }

    /// Breaking unless the new columns are the old ones with others added
    /// at the end (added columns are nullable for old writers' sake).
    fn breaking(old: &Locked, new: &Locked) -> bool {
        new.columns.len() < old.columns.len() || new.columns[..old.columns.len()] != old.columns[..]
    }

    #[test]
    fn schema_lock() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/contracts/schema-lock.json");
        let locked: BTreeMap<String, Locked> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let current: BTreeMap<String, Locked> = Contracts::builtin()
            .iter()
            .map(|c| (c.name.clone(), describe(c)))
            .collect();
        let mut problems = Vec::new();
        for (name, now) in &current {
            match locked.get(name) {
                None => problems.push(format!("{name}: new contract, not in the lock")),
                Some(old) if old == now => {}
                Some(old) if breaking(old, now) && old.version == now.version => problems.push(format!(
                    "{name}: a change readers would notice ({:?} -> {:?}) without a version bump: raise `version` in config/contracts/{name}.toml",
                    old.columns, now.columns
                )),
                Some(_) => problems.push(format!("{name}: changed; update the lock")),
            }
        }
        for name in locked.keys() {
            if !current.contains_key(name) {
                problems.push(format!("{name}: removed; readers of it will break"));
            }
        }
        let must_bump = problems.iter().any(|p| p.contains("version bump"));
        if !problems.is_empty()
            && std::env::var_os("EQPIPE_UPDATE_SCHEMA_LOCK").is_some()
            && !must_bump
        {
            let json = serde_json::to_string_pretty(&current).unwrap() + "\n";
            std::fs::write(&path, json).unwrap();
            return;
        }
        assert!(
            problems.is_empty(),
            "schema lock: {}\n(after bumping versions where asked: EQPIPE_UPDATE_SCHEMA_LOCK=1 cargo test -p eqpipe schema_lock)",
            problems.join("\n")
        );
    }

    #[test]
    fn appending_is_compatible_and_anything_else_is_not() {
        let l = |v: &[&str]| Locked {
            version: 1,
            columns: v.iter().map(|s| s.to_string()).collect(),
        };
        assert!(!breaking(
            &l(&["a Int64"]),
            &l(&["a Int64", "b Utf8 nullable"])
        ));
        assert!(breaking(&l(&["a Int64", "b Utf8"]), &l(&["a Int64"])));
        assert!(breaking(&l(&["a Int64"]), &l(&["a Float64"])));
        assert!(breaking(
            &l(&["a Int64", "b Utf8"]),
            &l(&["b Utf8", "a Int64"])
        ));
        assert!(breaking(&l(&["a Int64"]), &l(&["a Int64 nullable"])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow_array::{Int64Array, StringArray, UInt64Array};
    use arrow_schema::{Field, Schema};
    use eqpipe_plugin_sdk::contract::SOURCE_ROW_COLUMN;

    #[test]
    fn unique_key_bytes_keep_values_apart() {
        use arrow_array::{Date32Array, DictionaryArray, types::Int32Type};
        let key = |cols: &[&dyn Array], i: usize| {
            let mut k = Vec::new();
            for c in cols {
                KeyPart::new(*c).unwrap().append(i, &mut k);
            }
            k
        };
        // ("ab", "c") and ("a", "bc") differ; a dictionary column keys as
        // its text; dates by value; a null differs from an empty text.
        let a = StringArray::from(vec![Some("ab"), Some("a"), Some(""), None]);
        let b: DictionaryArray<Int32Type> = vec!["c", "bc", "x", "x"].into_iter().collect();
        let d = Date32Array::from(vec![20178, 20178, 20179, 20179]).slice(0, 4);
        let cols: [&dyn Array; 3] = [&a, &b, &d];
        let keys: Vec<Vec<u8>> = (0..4).map(|i| key(&cols, i)).collect();
        for x in 0..4 {
            for y in 0..4 {
                assert_eq!(keys[x] == keys[y], x == y, "rows {x} and {y}");
            }
        }
        let plain = StringArray::from(vec!["c", "bc"]);
        assert_eq!(
            key(&[&plain], 1),
            key(&[&b], 1),
            "text keys alike however stored"
        );
        // A dictionary column whose rows are all null has no values: every
        // row keys as null (Arrow refuses to normalise its keys).
        let empty: DictionaryArray<Int32Type> = vec![None::<&str>, None].into_iter().collect();
        assert_eq!(empty.values().len(), 0);
        assert_eq!(key(&[&empty], 1), u32::MAX.to_le_bytes().to_vec());
        // A sliced date column reads from its offset.
        let sliced = Date32Array::from(vec![1, 2, 3]).slice(1, 2);
        assert_eq!(key(&[&sliced], 0), key(&[&Date32Array::from(vec![2])], 0));
    }

    fn contract() -> Arc<Contract> {
        Arc::new(
            toml::from_str(
                r#"
name = "t"
version = 2
[[columns]]
name = "code"
type = "utf8"
categorical = true
allowed = ["a", "b"]
[[columns]]
name = "n"
type = "int64"
min = 0
[[columns]]
name = "note"
type = "utf8"
nullable = true
"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn text_is_parsed_and_bad_rows_are_split_off_with_reasons() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, true),
            Field::new("n", DataType::Utf8, true),
            Field::new("extra", DataType::Utf8, true),
            Field::new(SOURCE_ROW_COLUMN, DataType::UInt64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("c"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    Some("x1"),
                    Some("4"),
                    Some("-5"),
                ])),
                Arc::new(StringArray::from(vec!["p"; 5])),
                Arc::new(UInt64Array::from(vec![2, 3, 4, 5, 6])),
            ],
        )
        .unwrap();
        let mut v = Validator::new(contract());
        assert_eq!(v.check_schema(&schema).unwrap(), vec!["extra".to_string()]);
        let out = v.validate(&b).unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert_eq!(out.batch.schema(), *v.schema());
        let reasons: Vec<(usize, &str, &str)> = out
            .rejections
            .iter()
            .map(|r| (r.index, r.column.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "code", "code: not one of the allowed values"),
                (2, "n", "n: not an integer"),
                (3, "code", "code: missing value"),
                (4, "n", "n: below the minimum 0"),
            ]
        );
        assert!(matches!(
            out.batch.column(0).data_type(),
            DataType::Dictionary(_, _)
        ));
    }

    #[test]
    fn a_missing_required_column_or_an_incompatible_type_fails_the_whole_stream() {
        let mut v = Validator::new(contract());
        let s = Schema::new(vec![Field::new("code", DataType::Utf8, true)]);
        let e = v.check_schema(&s).unwrap_err().to_string();
        assert!(
            e.contains("required column `n` is missing") && e.contains("v2"),
            "{e}"
        );
        let s = Schema::new(vec![
            Field::new("code", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let e = v.check_schema(&s).unwrap_err().to_string();
        assert!(e.contains("column `code` is Int64"), "{e}");
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        assert!(v.validate(&b).is_err());
    }

    /// A binary pseudonym arrives as its bytes (kept as they are, keyed as
    /// bytes) or as 64 hex digits (an older dataset, a plugin that writes
    /// text): both store the same 32 bytes; other text is a fault of its
    /// row. And dictionary text with an allowed list is checked per value.
    #[test]
    fn pseudonyms_as_bytes_or_hex_store_alike() {
        use arrow_array::{DictionaryArray, FixedSizeBinaryArray, types::Int32Type};
        let c: Arc<Contract> = Arc::new(
            toml::from_str(
                "name = \"k\"\nversion = 1\nunique = [\"key\"]\n[[columns]]\nname = \"key\"\ntype = \"binary32\"\n[[columns]]\nname = \"code\"\ntype = \"utf8\"\ncategorical = true\nallowed = [\"a\"]\n",
            )
            .unwrap(),
        );
        let raw: Vec<[u8; 32]> = vec![[7u8; 32], [9u8; 32]];
        let code: DictionaryArray<Int32Type> = vec!["a", "b"].into_iter().collect();
        let as_bytes = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("key", DataType::FixedSizeBinary(32), true),
                Field::new("code", code.data_type().clone(), true),
            ])),
            vec![
                Arc::new(FixedSizeBinaryArray::try_from_iter(raw.iter()).unwrap()),
                Arc::new(code.clone()),
            ],
        )
        .unwrap();
        let hex_text: Vec<String> = raw.iter().map(hex::encode).collect();
        let as_hex = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("key", DataType::Utf8, true),
                Field::new("code", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec![hex_text[0].as_str(), "not hex"])),
                Arc::new(StringArray::from(vec!["a", "a"])),
            ],
        )
        .unwrap();
        let mut v = Validator::new(c.clone());
        let out = v.validate(&as_bytes).unwrap();
        assert_eq!(out.batch.num_rows(), 1, "code `b` is not allowed");
        assert_eq!(
            out.rejections[0].reason,
            "code: not one of the allowed values"
        );
        let stored = out.batch.column(0).as_fixed_size_binary().value(0).to_vec();
        assert_eq!(stored, raw[0]);
        let mut v = Validator::new(c);
        let out = v.validate(&as_hex).unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert_eq!(out.batch.column(0).as_fixed_size_binary().value(0), stored);
        assert_eq!(
            out.rejections[0].reason,
            "key: not 32 bytes (64 hex digits)"
        );
        assert_eq!(out.batch.schema(), *v.schema());
    }

    #[test]
    fn builtin_contracts_load() {
        let c = Contracts::builtin();
        let cc = c.get("census_counts").unwrap();
        assert_eq!(cc.arrow_schema().fields().len(), 11);
        assert!(c.get("community_profile").is_some());
    }
}
