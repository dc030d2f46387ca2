//! Dataset contracts: the typed schema every dataset is validated against.
//!
//! A contract names a dataset's columns with their types, nullability,
//! whether they are categorical (stored dictionary-encoded, so pandas reads
//! them as `category`) and simple value constraints. The host keeps the
//! contracts of the standard datasets in `config/contracts/`; a plugin that
//! produces a dataset of its own declares its contract in its manifest.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// The reserved column a source may add to say which input file a row came
/// from; the host uses it in quarantine reports and never stores it.
pub const SOURCE_FILE_COLUMN: &str = "_source_file";
/// The reserved column a source may add with the row's 1-based line number
/// in its input file; used in quarantine reports, never stored.
pub const SOURCE_ROW_COLUMN: &str = "_source_row";
/// The reserved column a source may add to reject a row itself (a ragged
/// line, a code outside a mapping): a non-null value is the reason, and the
/// host sends the row to quarantine with it. Never stored.
pub const REJECT_COLUMN: &str = "_reject_reason";

/// True for the reserved columns the host reads and never stores.
pub fn is_reserved(column: &str) -> bool {
    column == SOURCE_FILE_COLUMN || column == SOURCE_ROW_COLUMN || column == REJECT_COLUMN
}

/// A dataset contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Dataset name, snake_case (`census_counts`).
    pub name: String,
    /// Schema version; bumped on any change that would break a reader.
    pub version: u32,
    /// What one row means.
    #[serde(default)]
    pub description: String,
    /// True when rows describe individual people (special-category data):
    /// the host stores them, and their quarantine files, under the
    /// restricted output root, readable by the owner only.
    #[serde(default)]
    pub personal: bool,
    /// Columns whose values together identify a row; a later row with the
    /// same values is quarantined as a duplicate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<String>,
    /// The columns, in output order.
    pub columns: Vec<Column>,
    /// Statistical disclosure control the host applies before the dataset
    /// is published (see [`Disclosure`]); `None` for data that needs none
    /// (Census counts, which ONS has already protected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<Disclosure>,
}

/// Name of the boolean column that says which rows the host suppressed.
pub const SUPPRESSED_COLUMN: &str = "suppressed";

/// How the host protects a dataset of counts about people before it is
/// published: small counts and what is built on them are withheld, then
/// further cells so that no withheld cell can be recovered by subtraction.
///
/// The host keeps the unsuppressed, unrounded rows under the restricted
/// root (owner-only) and publishes the protected copy. A contract with a
/// `disclosure` section must have a boolean `suppressed` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// Numeric columns holding counts of people. A row is suppressed when
    /// any of them is below the threshold; the first is the row's own cell
    /// count, used to choose cells for secondary suppression and always
    /// withheld from a suppressed row (the others only when small).
    pub counts: Vec<String>,
    /// Columns computed from the counts (percentages, ratios, gaps),
    /// withheld from every suppressed row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<String>,
    /// Secondary suppression: each entry is a set of columns; the rows that
    /// agree on them form one table whose cells add up to a published
    /// total. Where such a table has exactly one suppressed cell, the next
    /// smallest is suppressed too, repeated over all sets until stable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    /// Columns computed from counts that do not decide whether the row is
    /// suppressed (e.g. a change since the previous snapshot, which depends
    /// on the previous count): each maps to those counts, and is withheld
    /// when the row is suppressed or any of them is below the threshold
    /// (the small counts are withheld too).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dependent: std::collections::BTreeMap<String, Vec<String>>,
    /// In a partnership, the columns that name the same cell in every
    /// partner's table and the partnership's (default: the contract's
    /// `unique` columns). Leave out columns whose values differ by level by
    /// design, such as each partner's comparator area. The host protects
    /// these cells together, so the partnership's figure minus the other
    /// partners' cannot reveal a suppressed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub across_partners: Vec<String>,
}

/// One column of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name, snake_case.
    pub name: String,
    /// Logical type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether nulls are allowed (default false).
    #[serde(default)]
    pub nullable: bool,
    /// Store dictionary-encoded (only for `utf8`).
    #[serde(default)]
    pub categorical: bool,
    /// What the column means.
    #[serde(default)]
    pub description: String,
    /// Unit of measurement, if any (`persons`, `GBP per hour`, `percent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Smallest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The allowed values (utf8 columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// Decimal places kept in the published copy (`float64` columns of a
    /// dataset with a `disclosure` section); the restricted copy keeps the
    /// raw value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u32>,
    /// What the host does with a value it cannot read as the column's type
    /// (see [`OnError`]): reject the row (the default), or, for a column
    /// that the dataset's main figures do not need, store a null and count
    /// it. Only nullable columns may set `null`.
    #[serde(default, skip_serializing_if = "OnError::is_reject")]
    pub on_error: OnError,
    /// For a `date` column: the `utf8` column that records how precise each
    /// value is (`year`, `month` or `day`). With it, a year (`2021`) or a
    /// month (`2021-03`) alone is accepted and stored as the period's first
    /// day with its precision beside it; without it, a value less precise
    /// than a day is rejected rather than invented as the 1st of January.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_column: Option<String>,
}

/// What the host does with a value that cannot be read as its column's
/// type (an unreadable number, an impossible date).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The row is rejected and quarantined with the reason.
    #[default]
    Reject,
    /// The value becomes null, the row is kept, and the nulled values are
    /// counted (the step ends `succeeded with warnings`).
    Null,
}

impl OnError {
    /// True for the default, [`OnError::Reject`].
    pub fn is_reject(&self) -> bool {
        *self == OnError::Reject
    }
}

/// The values [`Column::precision_column`] holds.
pub const PRECISIONS: [&str; 3] = ["year", "month", "day"];

/// The logical types a contract column can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// UTF-8 text.
    Utf8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 8-bit integer.
    UInt8,
    /// 64-bit float.
    Float64,
    /// True or false.
    Boolean,
    /// A calendar date (days since the epoch).
    Date,
    /// 32 bytes of fixed width, stored as Arrow `FixedSizeBinary(32)` and
    /// Parquet `FIXED_LEN_BYTE_ARRAY(32)`: a keyed SHA-256 hash (a
    /// pseudonym). Half the size of its hex text, and compared as bytes.
    Binary32,
    /// A geometry as well-known binary (WKB), stored as Arrow `Binary`
    /// marked with the GeoArrow extension name `geoarrow.wkb`; the host
    /// writes GeoParquet's `geo` file metadata for it, so DuckDB spatial,
    /// GeoPandas and QGIS read the column as geometry. Coordinates are
    /// longitude/latitude on WGS 84 (OGC:CRS84). Emitted as `Binary`, or as
    /// the WKB's hex text.
    Geometry,
}

/// The Arrow field metadata key of an extension type.
pub const EXTENSION_KEY: &str = "ARROW:extension:name";
/// GeoArrow's extension name for WKB geometries, which a
/// [`ColumnType::Geometry`] column's field carries.
pub const WKB_EXTENSION: &str = "geoarrow.wkb";

impl ColumnType {
    /// The Arrow type a column of this type is stored as.
    pub fn arrow_type(self, categorical: bool) -> DataType {
        match self {
            ColumnType::Utf8 if categorical => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::UInt8 => DataType::UInt8,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Binary32 => DataType::FixedSizeBinary(32),
            ColumnType::Geometry => DataType::Binary,
        }
    }

    /// Whether the type is numeric (so `min` and `max` apply).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnType::Int16
                | ColumnType::Int32
                | ColumnType::Int64
                | ColumnType::UInt8
                | ColumnType::Float64
        )
    }
}

/// A contract that does not make sense on its own terms.
#[derive(Debug, thiserror::Error)]
#[error("contract `{contract}`: {message}")]
pub struct ContractError {
    /// The contract's name.
    pub contract: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Contract {
    /// The Arrow schema of the stored dataset.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let f = Field::new(&c.name, c.ty.arrow_type(c.categorical), c.nullable);
                if c.ty == ColumnType::Geometry {
                    f.with_metadata(std::collections::HashMap::from([(
                        EXTENSION_KEY.to_string(),
                        WKB_EXTENSION.to_string(),
                    )]))
                } else {
                    f
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Looks a column up by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Checks naming rules and internal consistency.
    pub fn check(&self) -> Result<(), ContractError> {
        let err = |message: String| ContractError {
            contract: self.name.clone(),
            message,
        };
        if !is_snake_case(&self.name) {
            return Err(err(format!(
                "dataset name `{}` must be snake_case (lowercase letters, digits and _)",
                self.name
            )));
        }
        if self.columns.is_empty() {
            return Err(err("has no columns".into()));
        }
        for u in &self.unique {
            if self.column(u).is_none() {
                return Err(err(format!(
                    "unique column `{u}` is not a column of the contract"
                )));
            }
        }
        // GeoParquet files leave out the embedded Arrow schema (so pyarrow
        // and GeoPandas see the `geo` metadata), which would read
        // categorical columns back as plain text: a contract with a
        // geometry column keeps its text plain.
        let geometry = self.columns.iter().any(|c| c.ty == ColumnType::Geometry);
        if let Some(c) = self.columns.iter().find(|c| geometry && c.categorical) {
            return Err(err(format!(
                "column `{}`: a contract with a geometry column cannot have categorical columns (its GeoParquet files are read without the Arrow schema that keeps them dictionary-encoded)",
                c.name
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns {
            if !is_snake_case(&c.name) {
                return Err(err(format!("column `{}` must be snake_case", c.name)));
            }
            if !seen.insert(&c.name) {
                return Err(err(format!("column `{}` is declared twice", c.name)));
            }
            if c.categorical && c.ty != ColumnType::Utf8 {
                return Err(err(format!(
                    "column `{}`: only utf8 columns can be categorical",
                    c.name
                )));
            }
            if (c.min.is_some() || c.max.is_some()) && !c.ty.is_numeric() {
                return Err(err(format!(
                    "column `{}`: min/max apply only to numeric columns",
                    c.name
                )));
            }
            if c.allowed.is_some() && c.ty != ColumnType::Utf8 {
                return Err(err(format!(
                    "column `{}`: allowed values apply only to utf8 columns",
                    c.name
                )));
            }
        }
        for c in &self.columns {
            if c.on_error == OnError::Null && !c.nullable {
                return Err(err(format!(
                    "column `{}`: on_error = \"null\" needs a nullable column",
                    c.name
                )));
            }
            if let Some(p) = &c.precision_column {
                if c.ty != ColumnType::Date {
                    return Err(err(format!(
                        "column `{}`: precision_column applies only to date columns",
                        c.name
                    )));
                }
                match self.column(p) {
                    Some(pc) if pc.ty == ColumnType::Utf8 => {}
                    _ => {
                        return Err(err(format!(
                            "column `{}`: precision_column `{p}` must be a utf8 column of the contract",
                            c.name
                        )));
                    }
                }
            }
        }
        if let Some(d) = &self.disclosure {
            self.check_disclosure(d).map_err(err)?;
        }
        for c in &self.columns {
            if c.decimals.is_some() && c.ty != ColumnType::Float64 {
                return Err(err(format!(
                    "column `{}`: decimals apply only to float64 columns",
                    c.name
                )));
            }
        }
        Ok(())
    }

    fn check_disclosure(&self, d: &Disclosure) -> Result<(), String> {
        match self.column(SUPPRESSED_COLUMN) {
            Some(c) if c.ty == ColumnType::Boolean => {}
            _ => {
                return Err(format!(
                    "a contract with a disclosure section needs a boolean `{SUPPRESSED_COLUMN}` column"
                ));
            }
        }
        if d.counts.is_empty() {
            return Err("disclosure.counts names no column".into());
        }
        let dependent = d
            .dependent
            .iter()
            .flat_map(|(k, v)| std::iter::once(k).chain(v));
        for name in d.counts.iter().chain(&d.derived).chain(dependent) {
            let c = self.column(name).ok_or_else(|| {
                format!("disclosure column `{name}` is not a column of the contract")
            })?;
            if !c.ty.is_numeric() {
                return Err(format!("disclosure column `{name}` must be numeric"));
            }
            if !c.nullable {
                return Err(format!(
                    "disclosure column `{name}` must be nullable: suppressed values are published as null"
                ));
            }
        }
        for name in d.groups.iter().flatten().chain(&d.across_partners) {
            if self.column(name).is_none() {
                return Err(format!(
                    "disclosure group column `{name}` is not a column of the contract"
                ));
            }
        }
        Ok(())
    }
}

/// True for names like `census_counts` or `ts021`.
pub fn is_snake_case(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// True for names like `ons-census` or `pay-gap`.
pub fn is_kebab_case(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(json: &str) -> Contract {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn categorical_text_becomes_a_dictionary() {
        let c = contract(
            r#"{"name":"x","version":1,"columns":[
                {"name":"area_code","type":"utf8","categorical":true},
                {"name":"count","type":"int64","min":0}]}"#,
        );
        c.check().unwrap();
        let s = c.arrow_schema();
        assert!(matches!(s.field(0).data_type(), DataType::Dictionary(_, _)));
        assert_eq!(s.field(1).data_type(), &DataType::Int64);
        assert!(!s.field(1).is_nullable());
    }

    #[test]
    fn bad_contracts_are_refused_with_the_reason() {
        let c = contract(
            r#"{"name":"x","version":1,"columns":[{"name":"n","type":"int64","categorical":true}]}"#,
        );
        assert!(c.check().unwrap_err().to_string().contains("only utf8"));
        let c =
            contract(r#"{"name":"Bad-Name","version":1,"columns":[{"name":"n","type":"int64"}]}"#);
        assert!(c.check().unwrap_err().to_string().contains("snake_case"));
        let e = serde_json::from_str::<Contract>(
            r#"{"name":"x","version":1,"columns":[{"name":"n","type":"int64","colour":1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("colour"));
    }

    #[test]
    fn a_geometry_column_is_marked_wkb_and_keeps_text_plain() {
        let c = contract(
            r#"{"name":"b","version":1,"columns":[
                {"name":"code","type":"utf8"},
                {"name":"geometry","type":"geometry"}]}"#,
        );
        c.check().unwrap();
        let f = c.arrow_schema().field(1).clone();
        assert_eq!(f.data_type(), &DataType::Binary);
        assert_eq!(
            f.metadata().get(EXTENSION_KEY).map(String::as_str),
            Some(WKB_EXTENSION)
        );
        let c = contract(
            r#"{"name":"b","version":1,"columns":[
                {"name":"code","type":"utf8","categorical":true},
                {"name":"geometry","type":"geometry"}]}"#,
        );
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("cannot have categorical columns")
        );
    }

    #[test]
    fn naming_rules() {
        assert!(is_kebab_case("ons-census"));
        assert!(!is_kebab_case("ons_census"));
        assert!(!is_kebab_case("ons--census"));
        assert!(is_snake_case("census_counts"));
        assert!(!is_snake_case("census-counts"));
    }
}
