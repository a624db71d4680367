"""DuckDB from the wheels and the Iceberg commit helper, on the embedded profile."""
import pyarrow as pa

from safecity.lakehouse.warehouse import EXTENSIONS, connect, prepare_extension_directory
from safecity.lakehouse import catalog as catalog_module
from safecity.lakehouse.catalog import append_in_files, ensure_table, open_catalog, overwrite_batches
from safecity.lakehouse.exactly_once import BATCH_PROPERTY, append_once, committed_batches
from safecity.lakehouse.views import publish_views


def test_extensions_load_without_any_download(settings):
    with connect(settings, ":memory:") as con:
        loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
        assert loaded["iceberg"] and loaded["spatial"] and loaded["avro"]
        distance = con.execute("SELECT ST_Distance(ST_Point(0, 0), ST_Point(3, 4))").fetchone()[0]
        assert distance == 5.0
        assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False


def test_extension_directory_links_every_wheel(settings, tmp_path):
    directory = prepare_extension_directory(tmp_path / "ext")
    links = sorted(p.name for p in directory.rglob("*.duckdb_extension"))
    assert links == sorted(f"{name}.duckdb_extension" for name in EXTENSIONS)
    assert prepare_extension_directory(tmp_path / "ext") == directory  # idempotent


SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.int64())])


def test_append_once_records_the_batch_and_skips_a_repeat(settings):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.t", SCHEMA)
    data = pa.table({"id": ["a", "b"], "n": [1, 2]}, schema=SCHEMA)
    first = append_once(table, data, "batch-1", {"extra": "x"})
    second = append_once(catalog.load_table("silver.t"), data, "batch-1")
    assert (first.rows, first.skipped, second.skipped) == (2, False, True)
    table = catalog.load_table("silver.t")
    assert committed_batches(table) == {"batch-1"}
    assert table.current_snapshot().summary.additional_properties[BATCH_PROPERTY] == "batch-1"
    assert table.scan().to_arrow().num_rows == 2


def test_views_show_the_latest_snapshot(settings):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.t", SCHEMA)
    append_once(table, pa.table({"id": ["a"], "n": [1]}, schema=SCHEMA), "b1")
    with connect(settings) as con:
        assert "silver.t" in publish_views(con, catalog)
        assert con.execute("SELECT count(*) FROM silver.t").fetchone()[0] == 1
        append_once(table, pa.table({"id": ["b"], "n": [2]}, schema=SCHEMA), "b2")
        publish_views(con, catalog)
        assert con.execute("SELECT sum(n) FROM silver.t").fetchone()[0] == 3


def test_a_table_gains_the_columns_a_standard_adds(settings):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.t", SCHEMA)
    append_once(table, pa.table({"id": ["a"], "n": [1]}, schema=SCHEMA), "b1")
    wider = pa.schema(list(SCHEMA) + [pa.field("edition", pa.string())])
    table = ensure_table(catalog, "silver.t", wider)
    assert table.schema().find_field("edition").name == "edition"
    append_once(table, pa.table({"id": ["b"], "n": [2], "edition": ["2022"]}, schema=wider), "b2")
    rows = sorted(catalog.load_table("silver.t").scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": "a", "n": 1, "edition": None}, {"id": "b", "n": 2, "edition": "2022"}]


def _reader(batches: list[pa.RecordBatch], pulled: list[int]) -> pa.RecordBatchReader:
    """The batches as a one-pass reader that notes how many have been pulled."""
    def stream():
        for batch in batches:
            pulled.append(1)
            yield batch
    return pa.RecordBatchReader.from_batches(SCHEMA, stream())


def test_overwrite_in_batches_replaces_every_row_in_one_commit_holding_one_file_at_a_time(settings, monkeypatch):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "gold.t", SCHEMA)
    table.append(pa.table({"id": ["old"], "n": [0]}, schema=SCHEMA))
    before = table.current_snapshot().snapshot_id
    batches = [pa.record_batch({"id": [f"r{i}", f"s{i}"], "n": [i, -i]}, schema=SCHEMA) for i in range(4)]
    pulled, pulled_at_each_file = [], []
    original = catalog_module._dataframe_to_data_files

    def noting(*args, **kwargs):
        pulled_at_each_file.append(len(pulled))
        return original(*args, **kwargs)
    monkeypatch.setattr(catalog_module, "_dataframe_to_data_files", noting)
    table = overwrite_batches(table, _reader(batches, pulled), {"safecity.source": "marts.t"}, file_bytes=1)
    # A file per batch (each passes one byte), written before the next batch is read.
    assert pulled_at_each_file == [1, 2, 3, 4]
    table = catalog.load_table("gold.t")
    assert sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == sorted(
        (r for b in batches for r in b.to_pylist()), key=lambda r: r["id"])
    snapshot = table.current_snapshot()
    assert snapshot.parent_snapshot_id == before                      # one commit after the old rows
    assert snapshot.summary.additional_properties["safecity.source"] == "marts.t"
    assert table.scan(snapshot_id=before).to_arrow()["id"].to_pylist() == ["old"]
    # No rows at all: the table is emptied, not left as it was.
    table = overwrite_batches(table, _reader([], []), {})
    assert catalog.load_table("gold.t").scan().to_arrow().num_rows == 0


def test_append_in_files_partitions_a_slice_at_a_time_in_one_commit(settings, monkeypatch):
    import datetime as dt

    schema = pa.schema([pa.field("id", pa.string()), pa.field("at", pa.timestamp("us", tz="UTC"))])
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.t", schema, day_partition="at")
    before = len(table.snapshots())
    days = [dt.datetime(2026, 7, d, 12, tzinfo=dt.timezone.utc) for d in (14, 15, 15, 14, 16, 15)]
    data = pa.table({"id": [f"r{i}" for i in range(len(days))], "at": days}, schema=schema)
    sizes = []
    original = catalog_module._dataframe_to_data_files

    def noting(metadata, df, *args):
        sizes.append(df.num_rows)
        return original(metadata, df, *args)
    monkeypatch.setattr(catalog_module, "_dataframe_to_data_files", noting)
    # Two rows' worth of Arrow per file: three slices, each split by day on its own.
    table = append_in_files(table, data, {"safecity.batch-id": "b1"}, file_bytes=data.nbytes // 3)
    assert sizes == [2, 2, 2]
    table = catalog.load_table("silver.t")
    assert len(table.snapshots()) == before + 1
    assert table.current_snapshot().summary.additional_properties["safecity.batch-id"] == "b1"
    assert sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == data.to_pylist()
    files = [task.file for task in table.scan().plan_files()]
    # Slices of days (14, 15), (15, 14), (16, 15): each split by day into two files; pyiceberg's own append would
    # have written one file per day (three) from one sorted copy of the whole input.
    assert sorted(f.record_count for f in files) == [1] * 6
    # No rows: still one commit, so the batch is recorded as done.
    append_in_files(table, data.slice(0, 0), {"safecity.batch-id": "b2"})
    assert catalog.load_table("silver.t").current_snapshot().summary.additional_properties["safecity.batch-id"] == "b2"


def test_rows_of_one_day_are_written_without_pyiceberg_splitting_them_and_land_in_that_day(settings, monkeypatch):
    """data_files writes a slice whose rows all fall in one partition straight to it (pyiceberg's writer copies
    the slice once per partition): the same partition, the same rows, and a day's filter still prunes the file."""
    import datetime as dt

    from pyiceberg.expressions import GreaterThanOrEqual

    schema = pa.schema([pa.field("id", pa.string()), pa.field("at", pa.timestamp("us", tz="UTC"))])
    catalog = open_catalog(settings)
    ours = ensure_table(catalog, "silver.one_day", schema, day_partition="at")
    theirs = ensure_table(catalog, "silver.one_day_pyiceberg", schema, day_partition="at")
    day = [dt.datetime(2026, 7, 15, h, tzinfo=dt.timezone.utc) for h in (0, 5, 23)]
    data = pa.table({"id": ["a", "b", "c"], "at": day}, schema=schema)
    split = []
    original = catalog_module._dataframe_to_data_files
    monkeypatch.setattr(catalog_module, "_dataframe_to_data_files",
                        lambda *args: split.append(args[1].num_rows) or original(*args))
    append_in_files(ours, data, {"safecity.batch-id": "b1"})
    assert split == []                           # not through pyiceberg's split
    monkeypatch.undo()
    theirs.append(data)
    ours, theirs = catalog.load_table("silver.one_day"), catalog.load_table("silver.one_day_pyiceberg")
    [mine] = [task.file for task in ours.scan().plan_files()]
    [reference] = [task.file for task in theirs.scan().plan_files()]
    assert mine.partition == reference.partition and mine.record_count == 3
    assert "at_day=2026-07-15" in mine.file_path
    assert ours.scan().to_arrow().sort_by("id").equals(data)
    later = GreaterThanOrEqual("at", "2026-07-16T00:00:00+00:00")
    assert list(ours.scan(row_filter=later).plan_files()) == []
    # A slice of two days still goes through pyiceberg's split, into two files.
    two = pa.table({"id": ["d", "e"], "at": [day[0], day[0] + dt.timedelta(days=1)]}, schema=schema)
    append_in_files(ours, two, {"safecity.batch-id": "b2"})
    theirs.append(two)

    def partitions(name):
        return sorted(tuple(t.file.partition) for t in catalog.load_table(name).scan().plan_files())
    assert partitions("silver.one_day") == partitions("silver.one_day_pyiceberg")
    assert len(set(partitions("silver.one_day"))) == 2
