"""Every output the catalogue lists opens in every reader with the catalogue's
columns, types and row counts; spreadsheet exports match the published
Parquet.

Run after `eqpipe demo --out <dir>`; the folder comes from EQPIPE_DEMO_OUT.
"""
import json
import os
import pathlib

import duckdb
import openpyxl
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

OUT = pathlib.Path(os.environ.get("EQPIPE_DEMO_OUT", "eqpipe-demo"))
CATALOG = json.loads((OUT / "catalog.json").read_text())

ARROW = {
    "utf8": lambda t: pa.types.is_string(t) or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)),
    "int16": pa.types.is_int16,
    "int32": pa.types.is_int32,
    "int64": pa.types.is_int64,
    "uint8": pa.types.is_uint8,
    "float64": pa.types.is_float64,
    "boolean": pa.types.is_boolean,
    "date": pa.types.is_date32,
    "binary32": lambda t: pa.types.is_fixed_size_binary(t) and t.byte_width == 32,
    "geometry": lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t),
}


def entries():
    return [pytest.param(e, id=e["name"]) for e in CATALOG["entries"]]


@pytest.mark.parametrize("entry", entries())
def test_every_output_matches_its_catalogue_entry(entry):
    files = [str(OUT / f) for f in entry["files"]]
    table = ds.dataset(files, format="parquet").to_table()
    assert table.num_rows == entry["rows"]
    names = [c["name"] for c in entry["columns"]]
    assert table.column_names[: len(names)] == names
    for col in entry["columns"]:
        t = table.schema.field(col["name"]).type
        assert ARROW[col["type"]](t), (col["name"], t)
        assert pa.types.is_dictionary(t) == col["categorical"], col["name"]
        if not col["nullable"]:
            assert table.column(col["name"]).null_count == 0, col["name"]
    # pandas, polars and DuckDB read the same rows.
    assert len(pd.read_parquet(files[0])) == pq_rows(files[0])
    assert pl.read_parquet(files[0]).height == pq_rows(files[0])
    n = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet({files!r})").fetchone()[0]
    assert n == entry["rows"]


def pq_rows(f):
    return ds.dataset(f, format="parquet").count_rows()


def test_published_indicators_are_not_restricted_and_personal_data_is():
    kinds = {e["name"]: e for e in CATALOG["entries"]}
    for name in ["workforce", "recruitment", "service_usage"]:
        assert kinds[name]["restricted"] is True
        assert all(f.startswith("restricted/") for f in kinds[name]["files"])
    for name in ["pay_gap", "workforce_representation", "service_equity", "community_profile"]:
        assert kinds[name]["restricted"] is False
        assert not any(f.startswith("restricted/") for f in kinds[name]["files"])


@pytest.mark.parametrize("name", ["pay_gap", "workforce_representation"])
def test_csv_and_xlsx_exports_match_the_published_parquet(name):
    parquet = pd.read_parquet(OUT / "indicators" / name / "part-0.parquet")
    csv = pd.read_csv(OUT / "exports" / f"{name}.csv", encoding="utf-8-sig")
    assert list(csv.columns) == list(parquet.columns)
    assert len(csv) == len(parquet)
    for col in ["value", "share_pct", "count"]:
        if col in parquet:
            a = pd.to_numeric(csv[col]).to_numpy()
            b = parquet[col].astype("float64").to_numpy()
            assert ((pd.isna(a) & pd.isna(b)) | (abs(a - b) < 1e-9)).all(), col
    wb = openpyxl.load_workbook(OUT / "exports" / f"{name}.xlsx", read_only=True)
    assert wb.sheetnames == [name[:31], "notes"]
    rows = list(wb[name[:31]].iter_rows(values_only=True))
    assert list(rows[0]) == list(parquet.columns)
    assert len(rows) - 1 == len(parquet)
    notes = {r[0]: r[1] for r in wb["notes"].iter_rows(values_only=True) if r[0]}
    assert "suppressed" in notes and "Blank cells" in notes
    # Suppressed rows are blank in the workbook too.
    sup = parquet.columns.get_loc("suppressed")
    val = parquet.columns.get_loc("value" if "value" in parquet else "share_pct")
    for r in rows[1:]:
        if r[sup] is True or r[sup] == "true":
            assert r[val] is None


def test_the_evidence_pack_workbook_holds_every_characteristic_and_the_published_figures():
    wb = openpyxl.load_workbook(OUT / "exports" / "evidence-library-opening-hours.xlsx", read_only=True)
    assert wb.sheetnames == ["Evidence", "About"]
    rows = list(wb["Evidence"].iter_rows(values_only=True))
    header, rows = rows[0], rows[1:]
    assert header[:5] == ("Characteristic", "Evidence", "Area or scope", "Group", "Figure")
    nine = [
        "Age", "Disability", "Gender reassignment", "Marriage and civil partnership",
        "Pregnancy and maternity", "Race", "Religion or belief", "Sex", "Sexual orientation",
    ]
    for ch in nine + ["Deprivation"]:
        kinds = {r[1] for r in rows if r[0] == ch}
        # Population, service users and workforce: each held or said not to be.
        assert kinds == {"Population", "Service users", "Workforce"}, (ch, kinds)
    none = [r for r in rows if r[3] == "No data held"]
    assert all(r[9] for r in none), "every 'No data held' gives its reason"
    assert all(r[4] is None for r in none)
    # Libraries' users by ethnic group, as the published service_equity file.
    se = pd.read_parquet(OUT / "indicators" / "service_equity" / "part-0.parquet")
    se = se[(se.service == "Libraries") & (se.dimension == "ethnic_group_broad") & (se.measure == "share_pct")]
    got = {r[3]: r[4] for r in rows if r[0] == "Race" and r[1] == "Service users"}
    assert len(got) == len(se) > 0
    for _, r in se.iterrows():
        if r.suppressed:
            assert got[r.group] is None
        else:
            assert abs(got[r.group] - r.value) < 1e-9, r.group


def test_eqpipe_sql_gives_duckdb_a_view_of_every_published_output_with_its_rows():
    """`eqpipe.sql`, run from the output folder, makes a view per published
    catalogue entry holding exactly its rows; nothing restricted is named."""
    published = [e for e in CATALOG["entries"] if not e["restricted"]]
    sql = (OUT / "eqpipe.sql").read_text()
    for e in CATALOG["entries"]:
        if e["restricted"]:
            for f in e["files"]:
                assert f not in sql, f
    cwd = os.getcwd()
    os.chdir(OUT)
    try:
        con = duckdb.connect()
        con.execute(sql)
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        names = [e["name"] for e in published]
        assert len(views) == len(published)
        for e in published:
            name = e["name"] if names.count(e["name"]) == 1 else f'{e["name"]}_{e["kind"]}'
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            assert n == e["rows"], name
            cols = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
            assert [c["name"] for c in e["columns"]] == cols[: len(e["columns"])], name
    finally:
        os.chdir(cwd)


def test_datapackage_describes_every_published_output_as_the_catalogue_does():
    """`datapackage.json` is a Frictionless Data Package: a resource per
    published entry, its files as paths, each column a field with its type,
    meaning, allowed values and whether it may be empty."""
    pkg = json.loads((OUT / "datapackage.json").read_text())
    assert pkg["profile"] == "data-package"
    published = [e for e in CATALOG["entries"] if not e["restricted"]]
    assert len(pkg["resources"]) == len(published)
    types = {"utf8": "string", "int16": "integer", "int32": "integer", "int64": "integer",
             "uint8": "integer", "float64": "number", "boolean": "boolean", "date": "date",
             "binary32": "any", "geometry": "any"}
    for r, e in zip(pkg["resources"], published):
        assert r["title"] == e["name"] and r["path"] == e["files"]
        assert r["format"] == "parquet" and r["eqpipe"]["rows"] == e["rows"]
        for path in r["path"]:
            assert (OUT / path).exists(), path
        for f, c in zip(r["schema"]["fields"], e["columns"], strict=True):
            assert f["name"] == c["name"] and f["type"] == types[c["type"]]
            assert f["constraints"]["required"] == (not c["nullable"])
            assert f["constraints"].get("enum") == c.get("allowed")
