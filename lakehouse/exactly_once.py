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

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

from safecity.lakehouse.catalog import append_in_files, table_name

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
    append_in_files(table, data, summary)
    return CommitResult(name, batch_id, data.num_rows, skipped=False)


def _pending_folder(table: Table, batch_id: str) -> str:
    # Beside the namespaces of the warehouse, not inside a table's folder: no table's metadata ever lists it.
    warehouse = table.location().rstrip("/").rsplit("/", 2)[0]
    return f"{warehouse}/_pending/{hashlib.sha256(batch_id.encode()).hexdigest()[:40]}"


def check_storable(data: pa.Table) -> None:
    """Raise ValueError if a value of `data` cannot be committed: pyiceberg turns each column's min and max into
    Python values for the file statistics, and a timestamp before year 1 or after 9999 (UTC) overflows there,
    after the data file was written."""
    for name, column in zip(data.column_names, data.columns):
        if not (pa.types.is_temporal(column.type)) or column.null_count == len(column):
            continue
        bounds = pc.min_max(column)
        try:
            bounds["min"].as_py(), bounds["max"].as_py()
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"column {name}: a value outside the years 1–9999 cannot be stored ({exc})") from None


def _write_parquet(io, location: str, data: pa.Table) -> None:
    with io.new_output(location).create(overwrite=True) as stream:
        pq.write_table(data, stream)


def _read_parquet(io, location: str) -> pa.Table:
    with io.new_input(location).open() as stream:
        return pq.read_table(pa.BufferReader(stream.read()))


def _staged_count(io, folder: str) -> int | None:
    """How many tables a batch's complete stage holds (the marker is written after every file), or None."""
    marker = io.new_input(f"{folder}/complete")
    return _read_parquet(io, marker.location).column("files")[0].as_py() if marker.exists() else None


def discard_stage(table: Table, batch_id: str) -> None:
    """Remove a batch's stage, kept beside `table` (the batch's first table); the marker first: a stage without
    its marker is never read."""
    io, folder = table.io, _pending_folder(table, batch_id)
    count = _staged_count(io, folder)
    if count is None:
        return
    io.delete(f"{folder}/complete")
    for number in range(count):
        io.delete(f"{folder}/{number}.parquet")


def commit_batch(writes: list[tuple[Table, pa.Table]], batch_id: str, properties: dict[str, str] | None = None
                 ) -> list[CommitResult]:
    """Commit `writes` (table, rows), in order, as one batch: all of them, or the next call finishes exactly them.

    Iceberg commits one table at a time, so a crash can fall between two commits. The rows are first staged as
    Parquet in the warehouse; a later call with the same batch id commits the staged rows (not rows judged again,
    which a moving clock or a changed table could make differ) to the tables still missing the batch, then removes
    the stage. Rows are cast and checked against each table before anything is staged, so a value a table cannot
    hold fails before the first commit, not after it.
    """
    if not writes:
        return []
    io, folder = writes[0][0].io, _pending_folder(writes[0][0], batch_id)
    count = _staged_count(io, folder)
    if count == len(writes):
        staged = [_read_parquet(io, f"{folder}/{number}.parquet") for number in range(count)]
    else:
        staged = [data.cast(table.schema().as_arrow()) for table, data in writes]
        for data in staged:
            check_storable(data)
        for number, data in enumerate(staged):
            _write_parquet(io, f"{folder}/{number}.parquet", data)
        _write_parquet(io, f"{folder}/complete", pa.table({"batch_id": [batch_id], "files": [len(staged)]}))
    results = [append_once(table, data, batch_id, properties) for (table, _), data in zip(writes, staged)]
    discard_stage(writes[0][0], batch_id)
    return results
