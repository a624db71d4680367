"""Commits that happen exactly once per batch.

Every write names its batch (a file's content hash, a range of Kafka offsets). The batch id travels inside the
Iceberg snapshot summary of the commit that wrote the data, so "was this batch written?" and the data itself are
one atomic fact: a crash before the commit leaves nothing, a crash after it is recognised on restart, and a re-run
adds nothing.

Snapshot expiry (lakehouse/maintenance.py) would forget those batch ids, so before it removes a snapshot it copies
the snapshot's batch id and safecity.* properties (Kafka offsets) into the ledger table ops.batch_ledger;
"was this batch written?" (committed_batches, committed_properties) reads both.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

from safecity.lakehouse.catalog import table_name

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
