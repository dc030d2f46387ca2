//! Statistical disclosure control, applied by the host to every dataset
//! whose contract has a `disclosure` section before it is published.
//!
//! 1. Primary suppression: a row is suppressed when any of its count
//!    columns is below the threshold (zero counts only with
//!    `suppress_zero`), or when the plugin already marked it.
//! 2. Secondary suppression: for each group set of the contract, the rows
//!    that agree on those columns form one table whose cells add up to a
//!    published total. A table with exactly one suppressed cell would let a
//!    reader recover it by subtraction, so the unsuppressed cell with the
//!    smallest count (a non-zero one first) is suppressed too. This repeats
//!    over all group sets until nothing changes, which covers tables cut two
//!    ways (grade by ethnic group, say).
//! 3. Withholding: in a suppressed row the cell count, every count below the
//!    threshold and every derived column become null and `suppressed` is
//!    true; other float columns are rounded to their contract's `decimals`.
//!    A `dependent` column (say, the change since the previous snapshot) is
//!    withheld with its row, and also when a count it depends on (the
//!    previous count) is small, which is then withheld as well.
//!
//! The method follows the usual practice for tabular outputs (the ONS
//! "Statistical disclosure control" policy for tables: threshold, then
//! secondary suppression so totals cannot be differenced). It does not
//! attempt optimal (least information lost) cell choice.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType};
pub use eqpipe_core::config::Policy;
use eqpipe_plugin_sdk::contract::SUPPRESSED_COLUMN;
use eqpipe_plugin_sdk::{Contract, Disclosure};

/// What [`protect`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Protected {
    /// The rows to publish.
    pub batch: Option<RecordBatch>,
    /// Rows suppressed for their own small counts (or by the plugin).
    pub primary: u64,
    /// Rows suppressed so that others cannot be recovered.
    pub secondary: u64,
}

fn as_f64(batch: &RecordBatch, name: &str) -> Result<Float64Array, ArrowError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))?;
    let cast = arrow_cast::cast(col, &DataType::Float64)?;
    Ok(cast.as_primitive::<Float64Type>().clone())
}

/// Which rows must be suppressed, and which of them only secondarily.
pub fn suppression(
    batch: &RecordBatch,
    rules: &Disclosure,
    policy: &Policy,
) -> Result<(Vec<bool>, Vec<bool>), ArrowError> {
    let n = batch.num_rows();
    let counts: Vec<Float64Array> = rules
        .counts
        .iter()
        .map(|c| as_f64(batch, c))
        .collect::<Result<_, _>>()?;
    let small = |v: f64| policy.is_small(v);
    let marked = batch
        .column_by_name(SUPPRESSED_COLUMN)
        .map(|c| c.as_boolean().clone());
    let mut suppressed: Vec<bool> = (0..n)
        .map(|i| {
            marked.as_ref().is_some_and(|m| m.is_valid(i) && m.value(i))
                || counts.iter().any(|c| c.is_valid(i) && small(c.value(i)))
        })
        .collect();
    let mut secondary = vec![false; n];
    let cell = &counts[0];
    let options = FormatOptions::default();
    let mut tables: Vec<Vec<Vec<usize>>> = Vec::new();
    for set in &rules.groups {
        let formatters = set
            .iter()
            .map(|c| {
                let col = batch
                    .column_by_name(c)
                    .ok_or_else(|| ArrowError::SchemaError(format!("no column `{c}`")))?;
                ArrayFormatter::try_new(col.as_ref(), &options)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for i in 0..n {
            let key: Vec<String> = formatters.iter().map(|f| f.value(i).to_string()).collect();
            by_key.entry(key.join("\u{1f}")).or_default().push(i);
        }
        let mut v: Vec<Vec<usize>> = by_key.into_values().filter(|r| r.len() > 1).collect();
        v.sort();
        tables.push(v);
    }
    loop {
        let mut changed = false;
        for table in tables.iter().flatten() {
            if table.iter().filter(|&&i| suppressed[i]).count() != 1 {
                continue;
            }
            // The next smallest cell, non-zero first; ties by row order.
            let pick = table
                .iter()
                .copied()
                .filter(|&i| !suppressed[i] && cell.is_valid(i))
                .min_by(|&a, &b| {
                    let (x, y) = (cell.value(a), cell.value(b));
                    (x == 0.0)
                        .cmp(&(y == 0.0))
                        .then(x.total_cmp(&y))
                        .then(a.cmp(&b))
                });
            if let Some(i) = pick {
                suppressed[i] = true;
                secondary[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok((suppressed, secondary))
}

/// Applies the contract's disclosure rules and rounding to a whole dataset.
pub fn protect(
    batch: &RecordBatch,
    contract: &Contract,
    policy: &Policy,
) -> Result<Protected, ArrowError> {
    let Some(rules) = &contract.disclosure else {
        return Ok(Protected {
            batch: Some(batch.clone()),
            ..Default::default()
        });
    };
    let (suppressed, secondary) = suppression(batch, rules, policy)?;
    let small = |v: f64| policy.is_small(v);
    let n = batch.num_rows();
    // Dependent columns, and the counts they depend on that are small.
    let mut withhold: HashMap<&str, Vec<bool>> = HashMap::new();
    for (column, needs) in &rules.dependent {
        let mut w = suppressed.clone();
        for need in needs {
            let v = as_f64(batch, need)?;
            let small_here: Vec<bool> =
                (0..n).map(|i| v.is_valid(i) && small(v.value(i))).collect();
            for i in 0..n {
                w[i] |= small_here[i];
            }
            let e = withhold
                .entry(need.as_str())
                .or_insert_with(|| vec![false; n]);
            for i in 0..n {
                e[i] |= small_here[i];
            }
        }
        let e = withhold
            .entry(column.as_str())
            .or_insert_with(|| vec![false; n]);
        for i in 0..n {
            e[i] |= w[i];
        }
    }
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        let out: ArrayRef = if name == SUPPRESSED_COLUMN {
            Arc::new(BooleanArray::from(suppressed.clone()))
        } else if let Some(pos) = rules.counts.iter().position(|c| c == name) {
            let v = as_f64(batch, name)?;
            let withheld: BooleanArray = (0..batch.num_rows())
                .map(|i| Some(suppressed[i] && (pos == 0 || (v.is_valid(i) && small(v.value(i))))))
                .collect();
            round(
                &arrow_select::nullif::nullif(col, &withheld)?,
                contract,
                name,
            )
        } else if rules.derived.iter().any(|c| c == name) {
            let withheld: BooleanArray = suppressed.iter().map(|s| Some(*s)).collect();
            round(
                &arrow_select::nullif::nullif(col, &withheld)?,
                contract,
                name,
            )
        } else if let Some(w) = withhold.get(name) {
            let mask: BooleanArray = w.iter().map(|s| Some(*s)).collect();
            round(&arrow_select::nullif::nullif(col, &mask)?, contract, name)
        } else {
            round(col, contract, name)
        };
        columns.push(out);
    }
    Ok(Protected {
        batch: Some(RecordBatch::try_new(schema, columns)?),
        primary: suppressed
            .iter()
            .zip(&secondary)
            .filter(|(s, x)| **s && !**x)
            .count() as u64,
        secondary: secondary.iter().filter(|s| **s).count() as u64,
    })
}

/// Disclosure control across the levels of a partnership. `batch` holds
/// every level's rows, told apart by a `partner_id` column (each partner's,
/// and the partnership's). Each level's tables are protected as [`protect`]
/// would protect them alone (every group set, within one `partner_id`), and
/// the cells that name the same figure at every level (the contract's
/// `across_partners`, by default its `unique` columns) form one
/// more table: the partners' cells with the partnership's as its total. No
/// such table may have exactly one suppressed cell, or the partnership's
/// figure minus the other partners' published ones would reveal it.
pub fn protect_levels(
    batch: &RecordBatch,
    contract: &Contract,
    policy: &Policy,
) -> Result<Protected, ArrowError> {
    use eqpipe_core::provenance::PARTNER_COLUMN;
    let Some(rules) = &contract.disclosure else {
        return protect(batch, contract, policy);
    };
    let mut rules = rules.clone();
    let mut across: Vec<String> = if rules.across_partners.is_empty() {
        contract.unique.clone()
    } else {
        rules.across_partners.clone()
    };
    across.retain(|c| c != PARTNER_COLUMN);
    let mut groups: Vec<Vec<String>> = rules
        .groups
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.push(PARTNER_COLUMN.into());
            g
        })
        .collect();
    if !across.is_empty() {
        groups.push(across);
    }
    rules.groups = groups;
    let mut c = contract.clone();
    c.disclosure = Some(rules);
    protect(batch, &c, policy)
}

/// Rounds a float column to its contract's `decimals` (others unchanged).
pub fn round(col: &ArrayRef, contract: &Contract, name: &str) -> ArrayRef {
    let decimals = contract.column(name).and_then(|c| c.decimals);
    match (decimals, col.data_type()) {
        (Some(d), DataType::Float64) => {
            let f = 10f64.powi(d as i32);
            let v = col.as_primitive::<Float64Type>();
            Arc::new(v.unary::<_, Float64Type>(|x| (x * f).round() / f))
        }
        _ => col.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    fn contract(groups: &str) -> Contract {
        serde_json::from_str(&format!(
            r#"{{"name": "t", "version": 1, "columns": [
                {{"name": "grade", "type": "utf8"}},
                {{"name": "group", "type": "utf8"}},
                {{"name": "count", "type": "int64", "nullable": true}},
                {{"name": "total", "type": "int64", "nullable": true}},
                {{"name": "percent", "type": "float64", "nullable": true, "decimals": 1}},
                {{"name": "suppressed", "type": "boolean"}}
            ],
            "disclosure": {{"counts": ["count", "total"], "derived": ["percent"], "groups": {groups}}}}}"#
        ))
        .unwrap()
    }

    fn table(rows: &[(&str, &str, i64, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("grade", DataType::Utf8, false),
            Field::new("group", DataType::Utf8, false),
            Field::new("count", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
            Field::new("percent", DataType::Float64, true),
            Field::new("suppressed", DataType::Boolean, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.2 as f64 * 100.0 / r.3 as f64),
                )),
                Arc::new(BooleanArray::from(vec![false; rows.len()])),
            ],
        )
        .unwrap()
    }

    fn suppressed(p: &Protected) -> Vec<bool> {
        let b = p.batch.as_ref().unwrap();
        b.column_by_name("suppressed")
            .unwrap()
            .as_boolean()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let c = contract(r#"[["grade"]]"#);
        let b = table(&[
            ("A", "White", 120, 160),
            ("A", "Asian", 25, 160),
            ("A", "Black", 4, 160),
            ("A", "Mixed", 11, 160),
        ]);
        let p = protect(&b, &c, &Policy::default()).unwrap();
        assert_eq!(suppressed(&p), [false, false, true, true]);
        assert_eq!((p.primary, p.secondary), (1, 1));
        let out = p.batch.unwrap();
        let count = out
            .column_by_name("count")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(
            count.iter().collect::<Vec<_>>(),
            [Some(120), Some(25), None, None]
        );
        // The total is not small, so it stays published.
        assert_eq!(out.column_by_name("total").unwrap().null_count(), 0);
        let pct = out
            .column_by_name("percent")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(
            pct.iter().collect::<Vec<_>>(),
            [Some(75.0), Some(15.6), None, None]
        );
        // 160 - 120 - 25 = 15 = Black + Mixed: neither can be recovered.
    }

    #[test]
    fn two_small_cells_need_no_secondary_and_zero_is_shown() {
        let c = contract(r#"[["grade"]]"#);
        let b = table(&[
            ("A", "White", 100, 112),
            ("A", "Asian", 7, 112),
            ("A", "Black", 5, 112),
            ("A", "Other", 0, 112),
        ]);
        let p = protect(&b, &c, &Policy::default()).unwrap();
        assert_eq!(suppressed(&p), [false, true, true, false]);
        assert_eq!(p.secondary, 0);
        let strict = Policy {
            suppress_zero: true,
            ..Policy::default()
        };
        let p = protect(&b, &c, &strict).unwrap();
        assert_eq!(suppressed(&p), [false, true, true, true]);
    }

    #[test]
    fn secondary_suppression_runs_both_ways_until_stable() {
        // Grade x group, with totals published both by grade and by group.
        let c = contract(r#"[["grade"], ["group"]]"#);
        let b = table(&[
            ("A", "White", 50, 80),
            ("A", "Asian", 3, 80),
            ("A", "Black", 27, 80),
            ("B", "White", 40, 95),
            ("B", "Asian", 30, 95),
            ("B", "Black", 25, 95),
        ]);
        let p = protect(&b, &c, &Policy::default()).unwrap();
        let s = suppressed(&p);
        // A/Asian (3) primary; grade A needs a second: A/Black (27).
        // Column Asian then has one: B/Asian; column Black: B/Black;
        // grade B then has two. Every row and column has 0 or >= 2.
        assert_eq!(s, [false, true, true, false, true, true]);
        assert_eq!((p.primary, p.secondary), (1, 3));
    }

    #[test]
    fn a_small_total_suppresses_its_whole_table() {
        let c = contract(r#"[["grade"]]"#);
        let b = table(&[
            ("S", "White", 6, 8),
            ("S", "Asian", 2, 8),
            ("T", "White", 30, 30),
        ]);
        let p = protect(&b, &c, &Policy::default()).unwrap();
        assert_eq!(suppressed(&p), [true, true, false]);
        let out = p.batch.unwrap();
        assert_eq!(out.column_by_name("total").unwrap().null_count(), 2);
    }

    #[test]
    fn a_change_from_a_small_previous_count_is_withheld_but_the_row_is_not() {
        let c: Contract = serde_json::from_str(
            r#"{"name": "t", "version": 1, "columns": [
                {"name": "count", "type": "int64", "nullable": true},
                {"name": "previous_count", "type": "int64", "nullable": true},
                {"name": "change_pp", "type": "float64", "nullable": true},
                {"name": "suppressed", "type": "boolean"}
            ],
            "disclosure": {"counts": ["count"], "dependent": {"change_pp": ["previous_count"]}}}"#,
        )
        .unwrap();
        let b = RecordBatch::try_new(
            Arc::new(c.arrow_schema().as_ref().clone()),
            vec![
                Arc::new(Int64Array::from(vec![30, 30, 4])),
                Arc::new(Int64Array::from(vec![Some(8), Some(25), Some(20)])),
                Arc::new(Float64Array::from(vec![5.0, 1.0, -3.0])),
                Arc::new(BooleanArray::from(vec![false; 3])),
            ],
        )
        .unwrap();
        let p = protect(&b, &c, &Policy::default()).unwrap();
        assert_eq!(suppressed(&p), [false, false, true]);
        let out = p.batch.unwrap();
        let prev = out.column_by_name("previous_count").unwrap();
        let change = out.column_by_name("change_pp").unwrap();
        assert_eq!((prev.is_null(0), change.is_null(0)), (true, true));
        assert_eq!((prev.is_null(1), change.is_null(1)), (false, false));
        assert!(change.is_null(2));
    }

    #[test]
    fn without_rules_nothing_changes() {
        let mut c = contract("[]");
        c.disclosure = None;
        let b = table(&[("A", "x", 1, 2)]);
        assert_eq!(
            protect(&b, &c, &Policy::default()).unwrap().batch.unwrap(),
            b
        );
    }

    /// A constructed partnership: partner `a` has 4 Mixed staff. Protected
    /// level by level, the partnership's Mixed count minus `b`'s and `c`'s
    /// gives `a`'s 4 back; protected across levels it cannot.
    #[test]
    fn a_partnership_figure_cannot_be_differenced_against_the_partners() {
        let contract: Contract = serde_json::from_str(
            r#"{"name": "t", "version": 1, "columns": [
                {"name": "partner_id", "type": "utf8"},
                {"name": "grade", "type": "utf8"},
                {"name": "group", "type": "utf8"},
                {"name": "count", "type": "int64", "nullable": true},
                {"name": "total", "type": "int64", "nullable": true},
                {"name": "suppressed", "type": "boolean"}
            ],
            "unique": ["grade", "group"],
            "disclosure": {"counts": ["count", "total"], "groups": [["grade"]]}}"#,
        )
        .unwrap();
        let rows: &[(&str, &str, i64)] = &[
            ("a", "White", 120),
            ("a", "Asian", 30),
            ("a", "Mixed", 4),
            ("b", "White", 200),
            ("b", "Asian", 40),
            ("b", "Mixed", 15),
            ("c", "White", 150),
            ("c", "Asian", 35),
            ("c", "Mixed", 12),
            ("all", "White", 470),
            ("all", "Asian", 105),
            ("all", "Mixed", 31),
        ];
        let total = |p: &str| rows.iter().filter(|r| r.0 == p).map(|r| r.2).sum::<i64>();
        let schema = Arc::new(Schema::new(vec![
            Field::new("partner_id", DataType::Utf8, false),
            Field::new("grade", DataType::Utf8, false),
            Field::new("group", DataType::Utf8, false),
            Field::new("count", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
            Field::new("suppressed", DataType::Boolean, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|_| "all grades"),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| total(r.0)),
                )),
                Arc::new(BooleanArray::from(vec![false; rows.len()])),
            ],
        )
        .unwrap();
        let policy = Policy::default();
        let count_of = |p: &Protected, partner: &str, group: &str| -> Option<i64> {
            let b = p.batch.as_ref().unwrap();
            let c = b.column_by_name("count").unwrap();
            let c = c.as_primitive::<arrow_array::types::Int64Type>();
            let i = rows
                .iter()
                .position(|r| r.0 == partner && r.1 == group)
                .unwrap();
            c.is_valid(i).then(|| c.value(i))
        };

        // Each level alone (what four separate publications would do).
        let mut per_level = contract.clone();
        per_level.disclosure.as_mut().unwrap().groups =
            vec![vec!["grade".into(), "partner_id".into()]];
        let alone = protect(&batch, &per_level, &policy).unwrap();
        assert_eq!(count_of(&alone, "a", "Mixed"), None, "a's 4 is withheld");
        let recovered = count_of(&alone, "all", "Mixed").unwrap()
            - count_of(&alone, "b", "Mixed").unwrap()
            - count_of(&alone, "c", "Mixed").unwrap();
        assert_eq!(recovered, 4, "…but differencing recovers it");

        // Across levels.
        let p = protect_levels(&batch, &contract, &policy).unwrap();
        let sup = suppressed(&p);
        for group in ["White", "Asian", "Mixed"] {
            let n = rows
                .iter()
                .enumerate()
                .filter(|(i, r)| r.1 == group && sup[*i])
                .count();
            assert_ne!(n, 1, "{group}: one suppressed cell across the levels");
        }
        for partner in ["a", "b", "c", "all"] {
            let n = rows
                .iter()
                .enumerate()
                .filter(|(i, r)| r.0 == partner && sup[*i])
                .count();
            assert_ne!(n, 1, "{partner}: one suppressed cell in its own table");
        }
        assert_eq!(count_of(&p, "a", "Mixed"), None);
        let published = |partner: &str| count_of(&p, partner, "Mixed");
        assert!(
            published("all").is_none() || published("b").is_none() || published("c").is_none(),
            "a's Mixed count is still all - b - c"
        );
        // The next smallest Mixed cell (c's 12) went with it, and c's own
        // table then needed a second cell.
        assert_eq!(count_of(&p, "c", "Mixed"), None);
        assert_eq!(count_of(&p, "c", "Asian"), None);
        assert_eq!(count_of(&p, "b", "Mixed"), Some(15));
        assert_eq!(count_of(&p, "all", "Mixed"), Some(31));
    }
}
