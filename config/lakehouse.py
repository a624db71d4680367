"""The Iceberg lakehouse: one catalog per environment, and commits that happen exactly once per batch.

Every write names its batch (a file's content hash, a range of Kafka offsets). The batch id travels inside the
Iceberg snapshot summary of the commit that wrote the data, so "was this batch written?" and the data itself are
one atomic fact: a crash before the commit leaves nothing, a crash after it is recognised on restart, and a re-run
adds nothing.

Snapshot expiry (config/maintenance.py) would forget those batch ids, so before it removes a snapshot it copies
the snapshot's batch id and safecity.* properties (Kafka offsets) into the ledger table ops.batch_ledger;
"was this batch written?" (committed_batches, committed_properties) reads both.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform

from safecity.config.profiles import S3Storage, Settings

BATCH_PROPERTY = "safecity.batch-id"
# Batch ids of expired snapshots, one row per (table, batch); written by maintenance only, before it expires.
LEDGER_TABLE = "ops.batch_ledger"
LEDGER_SCHEMA = pa.schema([
    pa.field("table_name", pa.string()),
    pa.field("batch_id", pa.string()),
    pa.field("snapshot_id", pa.int64()),
    pa.field("committed_at", pa.timestamp("us", tz="UTC")),
    pa.field("properties", pa.string()),  # JSON: the commit's safecity.* properties (Kafka offsets, file)
])
NAMESPACES = ("bronze", "silver", "quarantine", "gold", "ops")


def open_catalog(settings: Settings) -> Catalog:
    properties = {"uri": settings.catalog_uri, "warehouse": settings.warehouse_uri}
    if isinstance(settings.environment.storage, S3Storage):
        storage = settings.environment.storage
        scheme = "https" if storage.secure else "http"
        properties |= {
            "s3.endpoint": f"{scheme}://{settings.secret('/storage/endpoint_env')}",
            "s3.access-key-id": settings.secret("/storage/access_key_env"),
            "s3.secret-access-key": settings.secret("/storage/secret_key_env"),
            # PyArrow's S3 file system addresses a bucket path-style only when told, as MinIO needs.
            "s3.force-virtual-addressing": "false",
            # Without a region pyiceberg asks AWS where the bucket lives, which MinIO and an offline site cannot
            # answer; MinIO accepts any region and defaults to this one.
            "s3.region": "us-east-1",
        }
    else:
        settings.paths.warehouse.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog("safecity", **properties)
    for namespace in NAMESPACES:
        try:
            catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
    return catalog


def ensure_table(catalog: Catalog, identifier: str, schema: pa.Schema, day_partition: str | None = None) -> Table:
    """The table, created if missing; columns the schema has gained since (a standard's new element) are added.

    Iceberg adds columns without rewriting data: older rows read the new column as null. `day_partition` names a
    timestamp column whose day partitions the table (high-volume facts): a reader of one day opens that day's
    files only, and maintenance compacts day by day. An existing table gains the partitioning for new data.
    """
    table = catalog.create_table_if_not_exists(identifier, schema=schema)
    existing = {field.name for field in table.schema().fields}
    if any(name not in existing for name in schema.names):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(identifier)
    if day_partition and not any(f.name == f"{day_partition}_day" for f in table.spec().fields):
        with table.update_spec() as spec:
            spec.add_field(day_partition, DayTransform(), f"{day_partition}_day")
        table = catalog.load_table(identifier)
    return table


def table_name(table: Table) -> str:
    return ".".join(table.name()[-2:])


def batch_properties(summary) -> dict[str, str]:
    """The safecity.* properties of a snapshot summary (batch id, file, Kafka offsets): what expiry must keep."""
    extra = summary.additional_properties if summary else {}
    return {key: value for key, value in extra.items() if key.startswith("safecity.")}


def ledger_entries(catalog: Catalog, name: str) -> dict[str, dict[str, str]]:
    """Batch id -> commit properties, for the batches of `name` ("namespace.table") whose snapshots were expired."""
    try:
        ledger = catalog.load_table(LEDGER_TABLE)
    except NoSuchTableError:
        return {}
    if ledger.current_snapshot() is None:
        return {}
    rows = ledger.scan(row_filter=EqualTo("table_name", name), selected_fields=("batch_id", "properties")).to_arrow()
    return {row["batch_id"]: json.loads(row["properties"] or "{}") for row in rows.to_pylist()}


def committed_properties(table: Table) -> dict[str, dict[str, str]]:
    """Batch id -> the safecity.* properties of the commit that wrote it, for every batch ever committed to `table`:
    those in its snapshots and those of expired snapshots (the ledger). Stream offsets are read from here."""
    found = {}
    for snapshot in table.snapshots():
        properties = batch_properties(snapshot.summary)
        if properties.get(BATCH_PROPERTY):
            found[properties[BATCH_PROPERTY]] = properties
    name = table_name(table)
    if name == LEDGER_TABLE:
        return found
    # The ledger is read after the table's metadata, never before: maintenance writes the ledger before it expires,
    # so a batch missing from this (possibly older) metadata's snapshots is already in the ledger read now.
    return ledger_entries(table.catalog, name) | found


def committed_batches(table: Table) -> set[str]:
    """Batch ids recorded in the table's snapshot history, and those of its expired snapshots (the ledger)."""
    return set(committed_properties(table))


@dataclass(frozen=True)
class CommitResult:
    table: str
    batch_id: str
    rows: int
    skipped: bool


def append_once(table: Table, data: pa.Table, batch_id: str, properties: dict[str, str] | None = None) -> CommitResult:
    """Append `data` unless `batch_id` was already committed to this table; the batch id is in the same commit."""
    name = table_name(table)
    if batch_id in committed_batches(table):
        return CommitResult(name, batch_id, 0, skipped=True)
    summary = {BATCH_PROPERTY: batch_id, **(properties or {})}
    # An empty batch still commits, so that the batch is recorded as done (a file with no valid rows is a result).
    data = data.cast(table.schema().as_arrow()) if data.schema != table.schema().as_arrow() else data
    table.append(data, snapshot_properties=summary)
    return CommitResult(name, batch_id, data.num_rows, skipped=False)


def publish_views(con, catalog: Catalog, namespaces: tuple[str, ...] = NAMESPACES) -> list[str]:
    """Expose every Iceberg table to the DuckDB warehouse as `namespace.table`, at its current snapshot.

    The SQL catalog is not readable by DuckDB itself, so each view pins a metadata file; it is refreshed after
    every commit that downstream readers (dbt, the rule engine, reports) should see.
    """
    published = []
    for namespace in namespaces:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {namespace}")
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier[-2:])
            location = catalog.load_table(identifier).metadata_location.replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM iceberg_scan('{location}')")
            published.append(name)
    return published
