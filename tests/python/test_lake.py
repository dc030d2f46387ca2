"""The demo's lake (`eqpipe demo --lake DIR`): every published output is a
Delta table that the deltalake package, polars and DuckDB (through
deltalake's Arrow dataset) read with the catalogue's rows and columns;
nothing restricted is in it.

Run after `eqpipe demo --out <dir> --lake <lake>`; the folders come from
EQPIPE_DEMO_OUT and EQPIPE_DEMO_LAKE (the test is skipped without the latter).
The lake may be on object storage (`s3://bucket/prefix`, tests/run.sh's Ceph
RGW): then the readers are given the endpoint and keys as storage options,
from the EQPIPE_TEST_S3_* variables.
"""
import json
import os
import pathlib

import duckdb
import polars as pl
import pytest

OUT = pathlib.Path(os.environ.get("EQPIPE_DEMO_OUT", "eqpipe-demo"))
LAKE = os.environ.get("EQPIPE_DEMO_LAKE")
if LAKE:
    import deltalake  # required when there is a lake to read
pytestmark = pytest.mark.skipif(not LAKE, reason="EQPIPE_DEMO_LAKE not set")
REMOTE = bool(LAKE) and "://" in LAKE
OPTIONS = (
    {
        "AWS_ENDPOINT_URL": os.environ["EQPIPE_TEST_S3_ENDPOINT"],
        "AWS_ACCESS_KEY_ID": os.environ["EQPIPE_TEST_S3_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["EQPIPE_TEST_S3_SECRET_ACCESS_KEY"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
    }
    if REMOTE
    else None
)


def table_uri(rel):
    return f"{LAKE}/{rel}" if REMOTE else str(pathlib.Path(LAKE) / rel)
CATALOG = json.loads((OUT / "catalog.json").read_text())
PUBLISHED = [e for e in CATALOG["entries"] if not e["restricted"]]


@pytest.mark.parametrize("entry", PUBLISHED, ids=lambda e: e["path"])
def test_every_published_output_is_a_delta_table_with_its_rows(entry):
    path = table_uri(entry["path"])
    dt = deltalake.DeltaTable(path, storage_options=OPTIONS)
    table = dt.to_pyarrow_table()
    assert table.num_rows == entry["rows"]
    names = [c["name"] for c in entry["columns"]]
    assert [n for n in table.column_names if n in names] == names
    assert pl.read_delta(path, storage_options=OPTIONS).height == entry["rows"]
    ds = dt.to_pyarrow_dataset()
    n = duckdb.connect().execute("SELECT count(*) FROM ds").fetchone()[0]
    assert n == entry["rows"]
    # The commit says which run made it.
    assert dt.history(1)[0].get("eqpipe_run_id") == CATALOG["run_id"]


def test_nothing_restricted_is_in_the_lake():
    if REMOTE:
        for e in CATALOG["entries"]:
            if e["restricted"]:
                for rel in (e["path"], e["path"].removeprefix("restricted/")):
                    with pytest.raises(deltalake.exceptions.TableNotFoundError):
                        deltalake.DeltaTable(table_uri(rel), storage_options=OPTIONS)
        return
    lake = pathlib.Path(LAKE)
    for e in CATALOG["entries"]:
        if e["restricted"]:
            assert not (lake / e["path"]).exists(), e["path"]
            assert not (lake / e["path"].removeprefix("restricted/")).exists(), e["path"]


def test_the_readme_sends_analysts_to_delta_aware_readers():
    """A plain Parquet read of a table's folder would count the files an
    earlier version replaced (they stay until a vacuum): the README's lake
    section must show Delta-aware readers only."""
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### A lake of Delta tables", 1)[1].split("\n### ", 1)[0]
    assert "read_delta" in section and "DeltaTable" in section and "delta_scan" in section
    assert "read_parquet" not in section
    assert "never as a plain Parquet folder" in section
