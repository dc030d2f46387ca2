//! What analysts' tools open the outputs with, written beside the
//! catalogue: `eqpipe.sql`, a DuckDB view per published dataset and
//! indicator over exactly the files the catalogue lists, and
//! `datapackage.json`, a Frictionless Data Package describing the same
//! files (their columns' types, meanings, units, allowed values and
//! licences) for tools that read one. Restricted (personal) data is in
//! neither: both files are safe to share with the published outputs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::catalog::{Catalog, CatalogEntry};

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Each published entry with the name its view and resource take: the
/// entry's own, or `<name>_<kind>` where a dataset and an indicator share
/// one.
fn published(c: &Catalog) -> Vec<(String, &CatalogEntry)> {
    let entries: Vec<&CatalogEntry> = c.entries.iter().filter(|e| !e.restricted).collect();
    let mut seen = BTreeSet::new();
    let dup: BTreeSet<&str> = entries
        .iter()
        .filter(|e| !seen.insert(e.name.as_str()))
        .map(|e| e.name.as_str())
        .collect();
    entries
        .into_iter()
        .map(|e| {
            let name = if dup.contains(e.name.as_str()) {
                format!("{}_{}", e.name, e.kind)
            } else {
                e.name.clone()
            };
            (name, e)
        })
        .collect()
}

/// `eqpipe.sql`: `CREATE OR REPLACE VIEW` per published entry, reading the
/// catalogue's files by paths relative to the output folder (run DuckDB
/// there: `duckdb -init eqpipe.sql`).
pub fn duckdb_views(c: &Catalog) -> String {
    let mut s = format!(
        "-- DuckDB views over the published outputs of eqpipe run {} (eqpipe {}).\n-- Run from the output folder: duckdb -init eqpipe.sql, or .read eqpipe.sql.\n-- Restricted (personal) data is not here. Rewritten by every run.\n",
        c.run_id, c.pipeline_version
    );
    for (name, e) in published(c) {
        let files: Vec<String> = e.files.iter().map(|f| lit(f)).collect();
        let _ = write!(
            s,
            "\n-- {}: {} ({} rows, schema v{}, {}).\nCREATE OR REPLACE VIEW \"{}\" AS SELECT * FROM read_parquet([{}], hive_partitioning = true, union_by_name = true);\n",
            e.kind,
            e.description.replace('\n', " "),
            e.rows,
            e.schema_version,
            e.path,
            name.replace('"', "\"\""),
            files.join(", ")
        );
        if e.columns.iter().any(|col| col.ty == "geometry") {
            s.push_str("-- Its geometry column is WKB (GeoParquet): INSTALL spatial; LOAD spatial; then ST_GeomFromWKB(geometry).\n");
        }
    }
    s
}

/// A Frictionless Table Schema type for a contract type.
fn field_type(ty: &str) -> (&'static str, Option<&'static str>) {
    match ty {
        "utf8" => ("string", None),
        "int16" | "int32" | "int64" | "uint8" => ("integer", None),
        "float64" => ("number", None),
        "boolean" => ("boolean", None),
        "date" => ("date", None),
        // Not text: 32 raw bytes, and well-known binary geometry.
        "binary32" => ("any", Some("32 bytes (a keyed pseudonym)")),
        _ => ("any", Some("well-known binary (GeoParquet geometry)")),
    }
}

/// `datapackage.json`: a Frictionless Data Package (v1) of the published
/// entries, one resource each, its files as the resource's paths.
pub fn datapackage(c: &Catalog) -> Value {
    let resources: Vec<Value> = published(c)
        .into_iter()
        .map(|(name, e)| {
            let fields: Vec<Value> = e
                .columns
                .iter()
                .map(|col| {
                    let (ty, note) = field_type(&col.ty);
                    let mut description = col.description.clone();
                    if let Some(n) = note {
                        description = format!("{description} ({n})");
                    }
                    let mut f = json!({
                        "name": col.name,
                        "type": ty,
                        "description": description,
                        "constraints": { "required": !col.nullable },
                    });
                    if let Some(a) = &col.allowed {
                        f["constraints"]["enum"] = json!(a);
                    }
                    if let Some(u) = &col.unit {
                        f["unit"] = json!(u);
                    }
                    f
                })
                .collect();
            json!({
                "name": name,
                "title": e.name,
                "description": e.description,
                "path": e.files,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "licenses": e.licences.iter().map(|l| json!({ "title": l })).collect::<Vec<_>>(),
                "eqpipe": {
                    "kind": e.kind,
                    "rows": e.rows,
                    "schema_version": e.schema_version,
                    "produced_by": e.produced_by,
                    "last_updated": e.last_updated,
                },
                "schema": { "fields": fields },
            })
        })
        .collect();
    json!({
        "profile": "data-package",
        "name": "eqpipe-outputs",
        "title": "Equality evidence: the published outputs of an eqpipe run",
        "description": format!(
            "Datasets and indicators written by eqpipe {} in run {}, after validation and disclosure control. Personal data is not included.",
            c.pipeline_version, c.run_id
        ),
        "created": created(c),
        "resources": resources,
    })
}

/// The newest file's time, as the package's creation.
fn created(c: &Catalog) -> Option<String> {
    c.entries
        .iter()
        .filter(|e| !e.restricted)
        .filter_map(|e| e.last_updated.clone())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogColumn;

    fn entry(name: &str, kind: &str, restricted: bool) -> CatalogEntry {
        CatalogEntry {
            name: name.into(),
            kind: kind.into(),
            path: format!("{kind}s/{name}"),
            restricted,
            description: "One row per it's thing".into(),
            schema_version: 2,
            rows: 7,
            files: vec![format!("{kind}s/{name}/source=a/part-0.parquet")],
            produced_by: vec!["p 1.0".into()],
            licences: vec!["OGL v3.0".into()],
            last_updated: Some("2026-12-01T00:00:00Z".into()),
            columns: vec![CatalogColumn {
                name: "sex".into(),
                ty: "utf8".into(),
                categorical: true,
                nullable: false,
                description: "Sex".into(),
                unit: None,
                allowed: Some(vec!["F".into(), "M".into()]),
            }],
        }
    }

    #[test]
    fn views_and_resources_cover_the_published_entries_only_each_named_once() {
        let c = Catalog {
            pipeline_version: "0.1.0".into(),
            run_id: "r1".into(),
            entries: vec![
                entry("answers", "dataset", false),
                entry("answers", "indicator", false),
                entry("workforce", "dataset", true),
            ],
        };
        let sql = duckdb_views(&c);
        assert!(sql.contains("CREATE OR REPLACE VIEW \"answers_dataset\" AS SELECT * FROM read_parquet(['datasets/answers/source=a/part-0.parquet'], hive_partitioning = true, union_by_name = true);"), "{sql}");
        assert!(sql.contains("VIEW \"answers_indicator\""));
        assert!(!sql.contains("workforce"));
        let p = datapackage(&c);
        let r = p["resources"].as_array().unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0]["schema"]["fields"][0]["constraints"]["enum"],
            json!(["F", "M"])
        );
        assert_eq!(
            r[0]["schema"]["fields"][0]["constraints"]["required"],
            json!(true)
        );
        assert_eq!(
            r[1]["path"],
            json!(["indicators/answers/source=a/part-0.parquet"])
        );
        assert_eq!(lit("it's"), "'it''s'");
    }
}
