"""Table maintenance for the lakehouse, run as a scheduled job: compaction, then snapshot expiry, table by table.

Every ingested file and every Kafka batch is its own commit, so tables collect many small data files (slow scans)
and many snapshots (large metadata). Compaction rewrites the small files of each partition into few, keeping the
rows exactly; expiry drops old snapshots from the metadata.

Exactly-once depends on the batch ids kept in snapshot summaries (lakehouse/). Expiring a snapshot would
forget its batch id (and the Kafka offsets stored beside it) and a re-sent file would be ingested twice, so expiry
first copies the batch id and safecity.* properties of each snapshot it is about to remove into the ledger table
ops.batch_ledger, in its own commit, and expires only after that commit. `committed_batches` and
`committed_properties` read summaries and ledger. A crash between the two commits is harmless: the batch
ids are then in both places, and the next run adds no duplicate ledger rows before it expires. Compaction's own
commit carries no batch id.

Expiry removes snapshots from the table metadata only; data files no longer referenced stay in storage (pyiceberg
0.12 has no orphan-file removal).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import Table, TableProperties

from safecity.lakehouse.catalog import NAMESPACES, data_files, ensure_table, table_name
from safecity.lakehouse.exactly_once import BATCH_PROPERTY, LEDGER_SCHEMA, LEDGER_TABLE, batch_properties, ledger_entries

# Marks maintenance commits in snapshot summaries, so that history shows why a snapshot exists.
MAINTENANCE_PROPERTY = "safecity.maintenance"


@dataclass(frozen=True)
class TableMaintenance:
    table: str
    rows: int
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int
    snapshots_expired: int
    batches_ledgered: int  # batch ids of expired snapshots newly written to ops.batch_ledger
    note: str = ""  # why a step was skipped (a concurrent commit): it runs again next time

    @property
    def summary(self) -> str:
        text = (f"{self.table}: {self.rows} rows; data files {self.files_before} → {self.files_after}; snapshots "
                f"{self.snapshots_before} → {self.snapshots_after} ({self.snapshots_expired} expired); "
                f"{self.batches_ledgered} batch ids kept in the ledger")
        return f"{text}; {self.note}" if self.note else text


def format_report(results: list[TableMaintenance]) -> str:
    lines = [r.summary for r in results]
    lines.append(f"{len(results)} tables; data files {sum(r.files_before for r in results)} → "
                 f"{sum(r.files_after for r in results)}; {sum(r.snapshots_expired for r in results)} snapshots "
                 f"expired; {sum(r.batches_ledgered for r in results)} batch ids moved to {LEDGER_TABLE}")
    return "\n".join(lines)


def _data_files(table: Table) -> int:
    return sum(1 for _ in table.scan().plan_files()) if table.current_snapshot() else 0


def compact(table: Table, min_files: int = 2) -> tuple[int, int]:
    """Rewrite each partition's small data files into as few files as the target size allows, in one commit.

    Returns (data files before, after). The rows are read and written unchanged. A concurrent commit that added
    rows where this one rewrites makes it fail (pyiceberg's conflict check, ValidationException) rather than lose
    those rows; commits elsewhere in the table are kept and this one is retried on top of them.
    """
    if table.current_snapshot() is None:
        return 0, 0
    tasks = list(table.scan().plan_files())
    target = int(table.properties.get(TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
                                      TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT))
    groups = defaultdict(list)
    for task in tasks:
        # Files with row deletes are left alone: rewriting them would have to carry the delete files along.
        if task.file.file_size_in_bytes < target and not task.delete_files:
            groups[(task.file.spec_id, task.file.partition)].append(task)
    groups = [group for group in groups.values() if len(group) >= min_files]
    if not groups:
        return len(tasks), len(tasks)
    commit_uuid = uuid.uuid4()
    counter = itertools.count(0)  # shared, so that file names stay unique across the partitions written
    reader = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    removed = added = 0
    with table.transaction() as tx:
        rewrite = tx.update_snapshot(snapshot_properties={MAINTENANCE_PROPERTY: "compaction"}).overwrite(commit_uuid)
        with rewrite:
            for group in groups:
                rows = reader.to_table(group)
                expected = sum(task.file.record_count for task in group)
                if rows.num_rows != expected:
                    raise RuntimeError(f"compaction of {table_name(table)} read {rows.num_rows} rows from files "
                                       f"that record {expected}; nothing was committed")
                new_files = list(data_files(table.metadata, rows, table.io, commit_uuid, counter))
                if sum(f.record_count for f in new_files) != expected:
                    raise RuntimeError(f"compaction of {table_name(table)} wrote a different row count; "
                                       f"nothing was committed")
                for task in group:
                    rewrite.delete_data_file(task.file)
                for data_file in new_files:
                    rewrite.append_data_file(data_file)
                removed += len(group)
                added += len(new_files)
    return len(tasks), len(tasks) - removed + added


def _expirable(table: Table, cutoff: dt.datetime, keep_last: int) -> list:
    newest_first = sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0), reverse=True)
    # Branch and tag heads are never expired (pyiceberg refuses too); the current snapshot is main's head.
    keep = {s.snapshot_id for s in newest_first[:keep_last]} | {ref.snapshot_id for ref in table.metadata.refs.values()}
    cutoff_ms = int(cutoff.timestamp() * 1000)
    return [s for s in newest_first if s.snapshot_id not in keep and s.timestamp_ms < cutoff_ms]


def record_batches(catalog: Catalog, table: Table, snapshots: list) -> int:
    """Write to the ledger the batch ids of `snapshots` it does not hold yet; the number of rows written."""
    name = table_name(table)
    known = set(ledger_entries(catalog, name))
    rows = []
    for snapshot in snapshots:
        properties = batch_properties(snapshot.summary)
        batch = properties.get(BATCH_PROPERTY)
        if batch and batch not in known:
            known.add(batch)
            rows.append({"table_name": name, "batch_id": batch, "snapshot_id": snapshot.snapshot_id,
                         "committed_at": dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.timezone.utc),
                         "properties": json.dumps(properties, ensure_ascii=False, sort_keys=True)})
    if rows:
        ledger = ensure_table(catalog, LEDGER_TABLE, LEDGER_SCHEMA)
        ledger.append(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA),
                      snapshot_properties={MAINTENANCE_PROPERTY: f"ledger:{name}"})
    return len(rows)


def expire(catalog: Catalog, table: Table, *, cutoff: dt.datetime, keep_last: int) -> tuple[int, int]:
    """Expire the snapshots older than `cutoff` beyond the newest `keep_last`, after recording their batch ids.

    Returns (snapshots expired, batch ids newly written to the ledger).
    """
    doomed = _expirable(table, cutoff, keep_last)
    if not doomed:
        return 0, 0
    ledgered = record_batches(catalog, table, doomed)
    # Only after the ledger commit: from here on the batch ids survive the snapshots that carried them.
    _expire_ids(table, [s.snapshot_id for s in doomed])
    return len(doomed), ledgered


def _expire_ids(table: Table, snapshot_ids: list[int]) -> None:
    table.maintenance.expire_snapshots().by_ids(snapshot_ids).commit()


def maintain(catalog: Catalog, *, older_than: dt.timedelta, keep_last: int,
             namespaces: tuple[str, ...] = NAMESPACES, now: dt.datetime | None = None) -> list[TableMaintenance]:
    """Compact, then expire snapshots older than `older_than` (keeping at least the newest `keep_last`), per table.

    Safe to run while ingestion writes: a table whose commit races another writer is reported with a note and
    done on the next run. Re-running is harmless.
    """
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1 (the current snapshot), got {keep_last}")
    if older_than < dt.timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}")
    cutoff = (now or dt.datetime.now(dt.timezone.utc)) - older_than
    names = [".".join(identifier[-2:]) for namespace in namespaces for identifier in catalog.list_tables(namespace)]
    # The ledger last, even when this run created it: the other tables' expiry appends to it (small files to
    # compact), and its own snapshots carry no batch ids.
    names = [n for n in names if n != LEDGER_TABLE]
    if LEDGER_TABLE.split(".")[0] in namespaces:
        names.append(LEDGER_TABLE)
    results = []
    for name in names:
        if name == LEDGER_TABLE and not catalog.table_exists(name):
            continue
        table = catalog.load_table(name)
        snapshots_before = len(table.snapshots())
        note = ""
        try:
            files_before, files_after = compact(table)
        except (CommitFailedException, ValidationException) as exc:
            files_before = files_after = _data_files(table)
            note = f"compaction deferred: another commit came first ({exc})"
        table = catalog.load_table(name)
        expired, ledgered = expire(catalog, table, cutoff=cutoff, keep_last=keep_last)
        table = catalog.load_table(name)
        current = table.current_snapshot()
        rows = int(current.summary["total-records"] or 0) if current and current.summary else 0
        results.append(TableMaintenance(name, rows, files_before, files_after, snapshots_before,
                                        len(table.snapshots()), expired, ledgered, note))
    return results
