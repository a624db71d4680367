"""The production profile end to end against real servers: Iceberg catalog in PostgreSQL, warehouse in an S3 bucket
(moto standing in for MinIO), written by pyiceberg and read back by pyiceberg and by DuckDB.

Only the profile differs from the embedded default: the same open_catalog / ensure_table / append_once /
publish_views / connect are used as in tests/config/test_storage.py.
"""
import pyarrow as pa
import sqlalchemy

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import ensure_table, open_catalog
from safecity.lakehouse.exactly_once import BATCH_PROPERTY, append_once, committed_batches
from safecity.lakehouse.views import publish_views

SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("name", pa.string()), pa.field("n", pa.int64())])
ROWS = [{"id": "13030200001320000001", "name": "海港区 文化路口", "n": 1},
        {"id": "13030200001320000002", "name": "北戴河 东经路", "n": 2},
        {"id": "13030200001320000003", "name": None, "n": 3}]


def test_catalog_in_postgres_and_data_in_the_bucket(production_settings, s3_server):
    assert production_settings.warehouse_uri == "s3://safecity/lakehouse"
    catalog = open_catalog(production_settings)
    table = ensure_table(catalog, "silver.cameras", SCHEMA)
    first = append_once(table, pa.Table.from_pylist(ROWS, schema=SCHEMA), "file:abc", {"safecity.file": "a.csv"})
    again = append_once(catalog.load_table("silver.cameras"), pa.Table.from_pylist(ROWS, schema=SCHEMA), "file:abc")
    assert (first.rows, first.skipped, again.rows, again.skipped) == (3, False, 0, True)

    # The catalog rows are in PostgreSQL, not in a local SQLite file.
    engine = sqlalchemy.create_engine(production_settings.catalog_uri)
    with engine.connect() as con:
        location = con.execute(sqlalchemy.text(
            "SELECT metadata_location FROM iceberg_tables WHERE table_namespace = 'silver' "
            "AND table_name = 'cameras'")).scalar_one()
    engine.dispose()
    assert location.startswith("s3://safecity/lakehouse/silver")
    assert not production_settings.paths.catalog_db.exists()

    # The files are in the bucket, seen by an independent S3 client.
    keys = [o.object_name for o in s3_server.client().list_objects("safecity", prefix="lakehouse/", recursive=True)]
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith(".metadata.json") for k in keys)
    assert location.removeprefix("s3://safecity/") in keys

    reloaded = open_catalog(production_settings).load_table("silver.cameras")  # a new catalog connection
    assert len(reloaded.snapshots()) == 1
    assert reloaded.current_snapshot().summary.additional_properties[BATCH_PROPERTY] == "file:abc"
    assert committed_batches(reloaded) == {"file:abc"}
    assert sorted(reloaded.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == ROWS


def test_duckdb_reads_the_iceberg_tables_from_the_bucket(production_settings):
    catalog = open_catalog(production_settings)
    table = ensure_table(catalog, "silver.cameras", SCHEMA)
    append_once(table, pa.Table.from_pylist(ROWS[:2], schema=SCHEMA), "b1")
    with connect(production_settings) as con:
        assert "silver.cameras" in publish_views(con, catalog)
        got = con.execute("SELECT id, name, n FROM silver.cameras ORDER BY id").fetchall()
        assert got == [tuple(r.values()) for r in ROWS[:2]]
        append_once(catalog.load_table("silver.cameras"), pa.Table.from_pylist(ROWS[2:], schema=SCHEMA), "b2")
        publish_views(con, catalog)
        assert con.execute("SELECT count(*), sum(n) FROM silver.cameras").fetchone() == (3, 6)
        secret = con.execute("SELECT type, scope FROM duckdb_secrets() WHERE name = 'safecity_s3'").fetchone()
        assert secret[0] == "s3"
