"""Analysts' readers open eqpipe's Parquet outputs with the right types.

Run after `eqpipe demo --out <dir>`; the folder comes from EQPIPE_DEMO_OUT.
"""
import json
import os
import pathlib

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

OUT = pathlib.Path(os.environ.get("EQPIPE_DEMO_OUT", "eqpipe-demo"))
CENSUS = OUT / "datasets" / "census_counts"
PROFILE = OUT / "indicators" / "community_profile"


def manifest():
    runs = sorted((OUT / "runs").glob("*.json"))
    assert runs, "no run manifest: run `eqpipe demo` first"
    return json.loads(runs[-1].read_text())


def test_pyarrow_reads_the_contract_types():
    t = pq.read_table(CENSUS / "source=census" / "part-0.parquet")
    assert t.schema.field("count").type == pa.int64()
    assert t.schema.field("census_year").type == pa.int16()
    assert t.schema.field("category_level").type == pa.uint8()
    for c in ["area_code", "table_code", "category_label", "parent_label"]:
        assert pa.types.is_dictionary(t.schema.field(c).type), c
    md = pq.read_metadata(CENSUS / "source=census" / "part-0.parquet").metadata
    assert md[b"eqpipe.plugin"] == b"ons-census"
    assert b"Open Government Licence" in md[b"eqpipe.licence"]
    m = manifest()
    assert t.num_rows == m["sources"][0]["datasets"]["census_counts"]["rows"]


def test_pyarrow_dataset_reads_hive_partitions():
    d = ds.dataset(CENSUS, format="parquet", partitioning="hive")
    t = d.to_table()
    assert "source" in t.column_names
    assert set(t.column("source").to_pylist()) == {"census"}


def test_pandas_sees_categories_and_integers():
    df = pd.read_parquet(PROFILE)
    assert str(df["area_code"].dtype) == "category"
    assert str(df["count"].dtype) == "int64"
    assert str(df["percent"].dtype) == "float64"
    ward = df[(df.geography_level == "wd") & (df.comparator_code == "K04000001")]
    assert len(ward) > 0
    # percent is count / total x 100, and the difference is against the comparator.
    assert ((ward["count"] * 100 / ward["total"] - ward["percent"]).abs() < 1e-9).all()
    assert ((ward["percent"] - ward["comparator_percent"] - ward["difference_pp"]).abs() < 1e-9).all()


def test_polars_scans_with_hive_partitioning():
    lf = pl.scan_parquet(str(CENSUS / "**" / "*.parquet"), hive_partitioning=True)
    df = lf.collect()
    assert df.schema["count"] == pl.Int64
    assert df.schema["area_code"] in (pl.Categorical, pl.Enum) or isinstance(df.schema["area_code"], (pl.Categorical, pl.Enum))
    assert df.height == manifest()["sources"][0]["datasets"]["census_counts"]["rows"]


def test_duckdb_reads_types_and_sums_hold():
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{CENSUS}/**/*.parquet', hive_partitioning=1)")
    types = dict(zip(rel.columns, [str(t) for t in rel.types]))
    assert types["count"] == "BIGINT"
    assert types["census_year"] == "SMALLINT"
    assert types["category_level"] == "UTINYINT"
    assert types["source"] == "VARCHAR"
    # Broad groups add up to the total in every area and table.
    bad = con.execute(
        f"""
        WITH c AS (SELECT * FROM read_parquet('{CENSUS}/**/*.parquet'))
        SELECT t.area_code, t.table_code, t.count, SUM(b.count) AS s
        FROM c t JOIN c b ON b.area_code = t.area_code AND b.table_code = t.table_code
        WHERE t.category_level = 0 AND b.category_level = 1
        GROUP BY ALL HAVING SUM(b.count) <> t.count
        """
    ).fetchall()
    assert bad == []
    n = con.execute(f"SELECT count(*) FROM read_parquet('{PROFILE}/*.parquet')").fetchall()[0][0]
    assert n == manifest()["indicators"][0]["datasets"]["community_profile"]["rows"]


def test_the_binary_pseudonym_reads_alike_in_every_reader():
    """workforce v2 stores employee_key as the HMAC's 32 bytes
    (FixedSizeBinary(32), Parquet FIXED_LEN_BYTE_ARRAY): every reader gets
    the same bytes, and its hex form is version 1's key (linkage kept)."""
    files = sorted((OUT / "restricted" / "datasets" / "workforce").glob("*/part-0.parquet"))
    assert files, "the demo writes a workforce dataset"
    f = str(files[0])
    t = pq.read_table(f, columns=["employee_key", "snapshot_date"])
    # A standard Arrow type, which R's arrow package reads as
    # fixed_size_binary (a list of raw vectors).
    assert t.schema.field("employee_key").type == pa.binary(32)
    physical = pq.read_metadata(f).schema.column(
        pq.read_metadata(f).schema.names.index("employee_key")
    )
    assert physical.physical_type == "FIXED_LEN_BYTE_ARRAY" and physical.length == 32
    hexes = [k.hex() for k in t.column("employee_key").to_pylist()]
    assert t.num_rows > 0 and all(len(h) == 64 for h in hexes)
    # One row per employee and snapshot, as the contract's unique key says.
    assert len(set(zip(hexes, t.column("snapshot_date").to_pylist()))) == t.num_rows
    pdf = pd.read_parquet(f, columns=["employee_key"])
    assert [k.hex() for k in pdf["employee_key"]] == hexes
    pl_hex = pl.read_parquet(f, columns=["employee_key"])["employee_key"].bin.encode("hex").to_list()
    assert pl_hex == hexes
    con = duckdb.connect()
    got = con.execute(f"SELECT lower(hex(employee_key)) FROM read_parquet('{f}')").fetchall()
    assert [r[0] for r in got] == hexes
    # A version 1 key (64 hex digits) converts to version 2 by hex-decoding.
    assert bytes.fromhex(hexes[0]) == t.column("employee_key")[0].as_py()


def test_every_stored_pseudonym_is_32_bytes():
    """recruitment, service_usage and the engagement datasets (v2) store
    their keys as the HMAC's 32 bytes too (their sources emit hex text, which the host reads as the same
    bytes); anonymous service contacts stay null."""
    for dataset, column in [
        ("recruitment", "applicant_key"),
        ("service_usage", "person_key"),
        ("engagement_respondents", "respondent_key"),
        ("engagement_answers", "respondent_key"),
    ]:
        files = sorted((OUT / "restricted" / "datasets" / dataset).glob("*/part-0.parquet"))
        assert files, f"the demo writes {dataset}"
        for f in files:
            t = pq.read_table(str(f), columns=[column])
            assert t.schema.field(column).type == pa.binary(32), (dataset, t.schema)
            keys = [k for k in t.column(column).to_pylist() if k is not None]
            assert keys and all(len(k) == 32 for k in keys), dataset
            got = duckdb.connect().execute(
                f"SELECT count(DISTINCT {column}) FROM read_parquet('{f}')"
            ).fetchall()[0][0]
            assert got == len(set(keys))


def test_boundaries_are_geoparquet_that_pyarrow_reads_with_their_geometry():
    """The `geo` metadata GeoPandas, DuckDB spatial and QGIS look for, where
    GeoPandas looks (pyarrow's schema metadata), and WKB polygons whose
    coordinates lie in each row's bounding box."""
    import json
    import struct

    import pyarrow.parquet as pq

    [part] = (OUT / "datasets" / "boundaries").glob("source=*/part-0.parquet")
    table = pq.read_table(part)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and col["geometry_types"] == ["Polygon"]
    assert pa.types.is_binary(table.schema.field("geometry").type)
    xmin, ymin, xmax, ymax = col["bbox"]
    rows = table.to_pylist()
    assert len(rows) == 24
    for r in rows:
        wkb = r["geometry"]
        order, kind, rings = struct.unpack_from("<BII", wkb)
        assert (order, kind, rings) == (1, 3, 1)
        (n,) = struct.unpack_from("<I", wkb, 9)
        pts = [struct.unpack_from("<dd", wkb, 13 + 16 * k) for k in range(n)]
        assert pts[0] == pts[-1], "a closed ring"
        assert min(p[0] for p in pts) == r["bbox_xmin"] and max(p[1] for p in pts) == r["bbox_ymax"]
        assert xmin <= r["bbox_xmin"] and r["bbox_xmax"] <= xmax
        assert ymin <= r["bbox_ymin"] and r["bbox_ymax"] <= ymax


def test_geopandas_reads_the_boundaries_as_geometry_in_lon_lat():
    import geopandas as gpd

    [part] = (OUT / "datasets" / "boundaries").glob("source=*/part-0.parquet")
    g = gpd.read_parquet(part)
    assert len(g) == 24
    assert g.crs.to_string() == "OGC:CRS84"
    assert set(g.geometry.geom_type) == {"Polygon"}
    # Areas in square metres on the British National Grid.
    assert (g.to_crs("EPSG:27700").geometry.area > 1e6).all() and g.geometry.is_valid.all()
    # The wards tile the city: their union's box is the file's.
    geo = json.loads(pq.read_schema(part).metadata[b"geo"])
    assert list(g.total_bounds) == geo["columns"]["geometry"]["bbox"]
    assert g.loc[g.area_code == "E05999001", "area_name"].item() == "Ashworth"
