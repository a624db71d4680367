"""Table maintenance: compaction keeps every row, expiry never forgets a batch id (exactly-once survives it)."""
import datetime as dt

import pyarrow as pa
import pytest

from safecity.lakehouse import maintenance
from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import ensure_table, open_catalog
from safecity.lakehouse.exactly_once import BATCH_PROPERTY, LEDGER_TABLE, append_once, committed_batches, committed_properties
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.maintenance import MAINTENANCE_PROPERTY, TableMaintenance, compact, format_report, maintain

SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("name", pa.string()), pa.field("n", pa.int64())])
UTC = dt.timezone.utc


def _batch(i: int) -> list[dict]:
    return [{"id": f"{i}-{j}", "name": ["海港区", None, "北戴河区"][j % 3], "n": i * 10 + j} for j in range(i + 1)]


def _fill(catalog, identifier: str, batches: int) -> tuple[list[dict], list[int]]:
    """`batches` appends of distinct rows; the rows written and the snapshot id of each append."""
    table = ensure_table(catalog, identifier, SCHEMA)
    rows, snapshots = [], []
    for i in range(batches):
        append_once(table, pa.Table.from_pylist(_batch(i), schema=SCHEMA), f"batch-{i}",
                    {"safecity.kafka-offsets": f'{{"partition": 0, "first": {i * 10}, "last": {i * 10 + 9}}}',
                     "other.property": "not ours"})
        table = catalog.load_table(identifier)
        rows += _batch(i)
        snapshots.append(table.current_snapshot().snapshot_id)
    return rows, snapshots


def _content(table) -> list[dict]:
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])


def _data_files(table) -> list[str]:
    return sorted(table.inspect.files().column("file_path").to_pylist())


def _summary_batches(table) -> set[str]:
    return {s.summary.additional_properties[BATCH_PROPERTY] for s in table.snapshots()
            if BATCH_PROPERTY in s.summary.additional_properties}


def _soon() -> dt.datetime:
    # A cutoff just after now, so that every snapshot written so far counts as old, whatever the clock's grain.
    return dt.datetime.now(UTC) + dt.timedelta(seconds=1)


def test_compaction_keeps_every_row_and_reduces_files(settings):
    catalog = open_catalog(settings)
    written, _ = _fill(catalog, "silver.t", 5)
    table = catalog.load_table("silver.t")
    assert len(_data_files(table)) == 5
    assert compact(table) == (5, 1)
    table = catalog.load_table("silver.t")
    assert _content(table) == sorted(written, key=lambda r: r["id"])
    assert len(_data_files(table)) == 1
    summary = table.current_snapshot().summary.additional_properties
    assert summary[MAINTENANCE_PROPERTY] == "compaction" and BATCH_PROPERTY not in summary
    assert committed_batches(table) == {f"batch-{i}" for i in range(5)}
    # Nothing left to compact: no new commit.
    assert compact(table) == (1, 1)
    assert catalog.load_table("silver.t").current_snapshot().snapshot_id == table.current_snapshot().snapshot_id


def test_a_partitioned_table_is_compacted_partition_by_partition(settings):
    catalog = open_catalog(settings)
    # Identity partitions: writing through a transform such as day() needs the optional pyiceberg-core package.
    schema = pa.schema([pa.field("id", pa.string()), pa.field("district", pa.string()),
                        pa.field("day", pa.date32()), pa.field("n", pa.int64())])
    table = ensure_table(catalog, "silver.passes", schema)
    with table.update_spec() as spec:
        spec.add_identity("district")
        spec.add_identity("day")
    table = catalog.load_table("silver.passes")
    written = []
    base = dt.date(2026, 11, 25)
    for i in range(4):
        rows = [{"id": f"{i}-{j}", "district": ["130302", "130303", "130304"][j % 3],
                 "day": base + dt.timedelta(days=j // 3), "n": j} for j in range(6)]
        append_once(table, pa.Table.from_pylist(rows, schema=schema), f"b{i}")
        table = catalog.load_table("silver.passes")
        written += rows
    # A partition written once has one file: compaction must leave that file alone.
    lone = [{"id": "lone", "district": "130321", "day": base, "n": 0}]
    append_once(table, pa.Table.from_pylist(lone, schema=schema), "b-lone")
    written += lone
    table = catalog.load_table("silver.passes")
    partitions = {(r["district"], r["day"]) for r in written}
    lone_file = [p for p in _data_files(table) if "district=130321" in p]
    files_before = len(_data_files(table))
    assert files_before > len(partitions)

    assert compact(table) == (files_before, len(partitions))
    table = catalog.load_table("silver.passes")
    assert _content(table) == sorted(written, key=lambda r: r["id"])
    files = table.inspect.files().to_pylist()
    assert len(files) == len(partitions)
    assert {(f["partition"]["district"], f["partition"]["day"]) for f in files} == partitions
    assert [p for p in _data_files(table) if "district=130321" in p] == lone_file
    assert sum(f["record_count"] for f in files) == len(written)


def test_expired_snapshots_leave_their_batch_ids_in_the_ledger(settings):
    catalog = open_catalog(settings)
    written, snapshot_ids = _fill(catalog, "silver.t", 3)
    results = maintain(catalog, older_than=dt.timedelta(0), keep_last=1, now=_soon())

    table = catalog.load_table("silver.t")
    # The trap is real: the summaries alone have forgotten every batch...
    assert len(table.snapshots()) == 1 and _summary_batches(table) == set()
    # ...and the ledger remembers each one, with the snapshot that committed it.
    ledger = catalog.load_table(LEDGER_TABLE).scan().to_arrow().to_pylist()
    assert sorted((r["table_name"], r["batch_id"], r["snapshot_id"]) for r in ledger) == \
        [("silver.t", f"batch-{i}", snapshot_ids[i]) for i in range(3)]
    assert committed_batches(table) == {"batch-0", "batch-1", "batch-2"}
    # Stream offsets stored beside a batch id survive with it; properties of other writers are not kept.
    assert committed_properties(table)["batch-2"] == {
        BATCH_PROPERTY: "batch-2", "safecity.kafka-offsets": '{"partition": 0, "first": 20, "last": 29}'}

    again = append_once(table, pa.Table.from_pylist(_batch(1), schema=SCHEMA), "batch-1")
    assert again.skipped and again.rows == 0
    assert _content(catalog.load_table("silver.t")) == sorted(written, key=lambda r: r["id"])
    fresh = append_once(catalog.load_table("silver.t"), pa.Table.from_pylist(_batch(7), schema=SCHEMA), "batch-7")
    assert not fresh.skipped and fresh.rows == 8

    by_table = {r.table: r for r in results}
    assert by_table["silver.t"] == TableMaintenance("silver.t", len(written), 3, 1, 3, 1, 3, 3)
    assert "silver.t: 6 rows; data files 3 → 1; snapshots 3 → 1 (3 expired); 3 batch ids kept" in format_report(results)


def test_a_crash_between_ledger_and_expiry_is_harmless(settings, monkeypatch):
    catalog = open_catalog(settings)
    _fill(catalog, "silver.t", 3)

    def crash(table, snapshot_ids):
        raise KeyboardInterrupt("killed after the ledger commit")

    monkeypatch.setattr(maintenance, "_expire_ids", crash)
    with pytest.raises(KeyboardInterrupt):
        maintain(catalog, older_than=dt.timedelta(0), keep_last=1, now=_soon())
    table = catalog.load_table("silver.t")
    assert len(table.snapshots()) == 4  # three appends and the compaction, none expired
    assert committed_batches(table) == {"batch-0", "batch-1", "batch-2"}

    monkeypatch.undo()
    results = {r.table: r for r in maintain(catalog, older_than=dt.timedelta(0), keep_last=1, now=_soon())}
    assert (results["silver.t"].snapshots_expired, results["silver.t"].batches_ledgered) == (3, 0)
    ledger = catalog.load_table(LEDGER_TABLE).scan().to_arrow()
    assert sorted(ledger.column("batch_id").to_pylist()) == ["batch-0", "batch-1", "batch-2"]  # no duplicates
    assert committed_batches(catalog.load_table("silver.t")) == {"batch-0", "batch-1", "batch-2"}


def test_recent_snapshots_and_the_newest_ones_are_kept(settings):
    catalog = open_catalog(settings)
    _fill(catalog, "silver.t", 4)
    recent = {r.table: r for r in maintain(catalog, older_than=dt.timedelta(hours=1), keep_last=1)}
    assert recent["silver.t"].snapshots_expired == 0
    assert len(catalog.load_table("silver.t").snapshots()) == 5  # four appends and the compaction

    kept = {r.table: r for r in maintain(catalog, older_than=dt.timedelta(0), keep_last=2, now=_soon())}
    table = catalog.load_table("silver.t")
    assert kept["silver.t"].snapshots_expired == 3
    assert [s.summary.additional_properties.get(BATCH_PROPERTY) for s in table.snapshots()] == ["batch-3", None]
    assert committed_batches(table) == {f"batch-{i}" for i in range(4)}
    with pytest.raises(ValueError, match="keep_last"):
        maintain(catalog, older_than=dt.timedelta(0), keep_last=0)


def test_maintenance_on_the_production_profile(production_settings):
    catalog = open_catalog(production_settings)
    written, _ = _fill(catalog, "silver.t", 4)
    _fill(catalog, "bronze.raw", 2)
    results = {r.table: r for r in maintain(catalog, older_than=dt.timedelta(0), keep_last=1, now=_soon())}
    assert (results["silver.t"].files_after, results["silver.t"].batches_ledgered) == (1, 4)
    assert (results["bronze.raw"].files_after, results["bronze.raw"].batches_ledgered) == (1, 2)
    assert results[LEDGER_TABLE].batches_ledgered == 0

    reopened = open_catalog(production_settings)  # a new PostgreSQL session sees the ledger
    assert append_once(reopened.load_table("silver.t"), pa.table({"id": ["x"], "name": ["x"], "n": [0]}),
                       "batch-2").skipped
    with connect(production_settings) as con:
        publish_views(con, reopened)
        got = con.execute("SELECT id, name, n FROM silver.t ORDER BY id").fetchall()
        assert got == [(r["id"], r["name"], r["n"]) for r in sorted(written, key=lambda r: r["id"])]
        assert con.execute("SELECT count(*) FROM ops.batch_ledger").fetchone()[0] == 6


def test_compaction_racing_an_append_fails_instead_of_losing_the_append(settings):
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    catalog = open_catalog(settings)
    written, _ = _fill(catalog, "silver.t", 3)
    stale = catalog.load_table("silver.t")  # compaction plans from this metadata...
    append_once(catalog.load_table("silver.t"), pa.Table.from_pylist(_batch(5), schema=SCHEMA), "batch-5")
    with pytest.raises((CommitFailedException, ValidationException)):  # ...and must not drop the append
        compact(stale)
    # The next run plans from the current metadata, append included, and goes through.
    result = {r.table: r for r in maintain(catalog, older_than=dt.timedelta(hours=1), keep_last=1)}["silver.t"]
    assert (result.files_before, result.files_after, result.note) == (4, 1, "")
    assert _content(catalog.load_table("silver.t")) == sorted(written + _batch(5), key=lambda r: r["id"])
    assert _content(catalog.load_table("silver.t")) == sorted(written + _batch(5), key=lambda r: r["id"])
