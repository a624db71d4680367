"""A batch's records are checked against silver by reading back only the keys of the time ranges the batch covers
(pipeline._time_ranges_filter): a record from a camera whose clock is far behind still finds its earlier copy, and
the silver files of the days between are not read."""
import datetime as dt

from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import FileIngestor
from safecity.lakehouse.catalog import open_catalog

NOW = dt.datetime(2026, 7, 16, 8, 0, tzinfo=dt.timezone.utc)
HEADER = "检测器编号,统计开始时间,统计周期(分钟),车道号,流量,占有率(%),平均速度(km/h),"


def _flow(day: str, minute: int, lane: int = 1, volume: int = 10) -> str:
    return f"DET13030200001,{day} 08:{minute:02d}:00,5,{lane},{volume},1.5,50.0,"


def _csv(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def test_only_the_batchs_time_ranges_are_read_back_and_an_old_copy_is_still_found(settings, catalogue, monkeypatch):
    loaded = load_mapping(mapping_path("detector_flows_csv"), catalogue)
    ingestor = FileIngestor(open_catalog(settings), catalogue, loaded, settings.paths.landing, as_of=NOW)
    # Four earlier batches, one a day: January, March, 14 and 15 July.
    for day in ("2026-01-05", "2026-03-10", "2026-07-14", "2026-07-15"):
        ingestor.ingest_bytes(f"detectors/{day}.csv", _csv(_flow(day, 0), _flow(day, 5)))
    silver = ingestor.tables["silver"]
    filters = []
    scan = type(silver).scan

    def noting(table, row_filter=None, **kwargs):
        filters.append(row_filter)
        return scan(table, row_filter=row_filter, **kwargs)
    monkeypatch.setattr(type(silver), "scan", noting)
    # This morning's records, and January's first record sent again by a detector whose clock is months behind.
    report = ingestor.ingest_bytes("detectors/today.csv", _csv(_flow("2026-07-15", 10), _flow("2026-07-15", 15),
                                                                _flow("2026-01-05", 0)))
    assert report.reasons == {"E_DUPLICATE_ROW": 1} and report.silver == 2
    [lookup] = [f for f in filters if f is not None]
    monkeypatch.undo()
    silver = silver.refresh()
    read = [task.file.record_count for task in silver.scan(row_filter=lookup).plan_files()]
    # January's file and today's own (committed since); not March's, 14 July's, nor the earlier 15 July file
    # (08:00-08:05), which one range from January to today would all have read.
    assert read == [2, 2]
    assert len(list(silver.scan().plan_files())) == 5


def test_time_ranges_split_at_gaps_over_an_hour_and_many_fall_back_to_one(monkeypatch):
    import duckdb

    from safecity.ingestion import pipeline

    def ranges(values, kind="TIMESTAMPTZ"):
        con = duckdb.connect()
        con.execute(f"CREATE TABLE conformed AS SELECT CAST(v AS {kind}) AS t, len(v) AS n FROM (SELECT unnest(?) v)",
                    [values])
        found = pipeline._time_ranges_filter(con, "t", "n > 0")
        terms, stack = [], [found]
        while stack:  # the Or tree's ranges, as (low, high) texts
            node = stack.pop()
            if hasattr(node, "left") and type(node).__name__ == "Or":
                stack += [node.left, node.right]
            elif node is not None:
                terms.append((str(node.left.literal.value), str(node.right.literal.value)))
        return sorted(terms)

    hour = ["2026-07-15 08:00:00+00", "2026-07-15 08:40:00+00", "2026-07-15 09:40:00+00"]  # gaps of 40 and 60 min
    assert len(ranges(hour)) == 1
    assert len(ranges([*hour, "2026-07-15 10:40:01+00"])) == 2                          # 61 minutes later
    assert len(ranges(["2026-07-15", "2026-07-16", "2026-01-01"], "DATE")) == 3            # dates: a day apart
    many = [f"2026-07-{day:02d} 00:00:00+00" for day in range(1, 31)] + [f"2026-06-{day:02d} 00:00:00+00"
                                                                        for day in range(1, 11)]
    assert len(ranges(many)) == 1 and len(many) > pipeline.MAX_TIME_RANGES
