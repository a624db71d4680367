"""A large file is judged in parts under its one batch id (pipeline.PART_LINES): every table must hold exactly what
judging it whole gives, duplicates across parts and reader-rejected lines included."""
import datetime as dt

import pytest

from safecity.ingestion import pipeline
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import Batch, FileIngestor, _part_bounds
from safecity.lakehouse.catalog import open_catalog
from tests.conftest import SAMPLE_EXPORT

NOW = dt.datetime(2026, 7, 16, 8, 0, tzinfo=dt.timezone.utc)
HEADER = "检测器编号,统计开始时间,统计周期(分钟),车道号,流量,占有率(%),平均速度(km/h),"
# Judged by the time in these columns, so they are left out of the comparison.
CLOCKS = {"_received_at", "_ingested_at", "_quarantined_at"}


def _flow(detector: int, minute: int, lane: int, volume: int = 10) -> str:
    return f"DET1303020000{detector},2026-07-15 00:{minute:02d}:00,5,{lane},{volume},1.5,50.0,"


def _split(ingestor: FileIngestor, name: str, data: bytes):
    """The batch's bronze, silver and quarantine rows as judged (nothing written), comparable across runs."""
    batches = ingestor.batches
    file_sha, batch_id = pipeline._file_batch(ingestor.mapping.id, data, batches.loaded.sha256)
    tables = batches.split(Batch(batch_id, name, file_sha, raw=data), lambda: ingestor.mapping.read(data, name), NOW)
    return [t.drop_columns([c for c in t.column_names if c in CLOCKS]).to_pylist() for t in tables]


def _whole_and_in_parts(ingestor, name, data, monkeypatch, part_lines):
    whole = _split(ingestor, name, data)
    monkeypatch.setattr(pipeline, "PART_LINES", part_lines)
    parts = _split(ingestor, name, data)
    return whole, parts


@pytest.fixture
def flows(settings, catalogue):
    loaded = load_mapping(mapping_path("detector_flows_csv"), catalogue)
    return FileIngestor(open_catalog(settings), catalogue, loaded, settings.paths.landing, as_of=NOW)


def test_event_file_in_parts_equals_whole(flows, settings, monkeypatch):
    # An earlier batch put two of the records in silver: one is sent again as it was, one with other content.
    earlier = "\n".join([HEADER, _flow(2, 0, 1), _flow(2, 5, 1)]) + "\n"
    (settings.paths.landing / "detectors").mkdir(parents=True, exist_ok=True)
    flows.ingest_bytes("detectors/earlier.csv", earlier.encode())
    lines = [_flow(1, minute, lane) for minute in range(0, 60, 5) for lane in (1, 2)]   # 24 records, lines 2-25
    lines[1] = _flow(1, 0, 2, volume=-3)                       # E_RANGE, in the first part
    lines[4] = "DET13030200001,2026-07-15 00:10:00,5"          # too few cells: rejected by the reader
    lines += [_flow(2, 0, 1),                                  # again as in silver: E_DUPLICATE_ROW from silver
              _flow(2, 5, 1, volume=99),                       # other content under a silver key: E_DUPLICATE_KEY
              _flow(1, 55, 2),                                 # exact copy of line 25, three parts earlier
              _flow(1, 20, 1, volume=7)]                       # key of line 10, other content
    data = ("\n".join([HEADER, *lines]) + "\n").encode()
    whole, parts = _whole_and_in_parts(flows, "detectors/flows.csv", data, monkeypatch, part_lines=5)

    bounds = _part_bounds(flows.mapping.read(data, "flows.csv").table["\x1fline"])
    assert len(bounds) == 6  # 27 read lines (one more was rejected by the reader) in parts of 5
    assert parts == whole
    bronze, silver, quarantine = whole
    assert sorted(r["_line"] for r in bronze) == list(range(2, 30))
    reasons = {r["_line"]: r["primary_reason"] for r in quarantine}
    assert reasons == {3: "E_RANGE", 6: "E_COLUMNS", 26: "E_DUPLICATE_ROW", 27: "E_DUPLICATE_KEY",
                       28: "E_DUPLICATE_ROW", 29: "E_DUPLICATE_KEY"}
    assert len(silver) == 28 - len(reasons)


def test_registry_file_in_parts_equals_whole(settings, catalogue, monkeypatch):
    """The sample camera export: a key collision, a short line, codes and areas out of range, in parts of 7 lines."""
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    ingestor = FileIngestor(open_catalog(settings), catalogue, loaded, settings.paths.landing, as_of=NOW)
    data = SAMPLE_EXPORT.read_bytes()
    whole, parts = _whole_and_in_parts(ingestor, SAMPLE_EXPORT.name, data, monkeypatch, part_lines=7)
    assert parts == whole
    bronze, silver, quarantine = whole
    assert (len(bronze), len(silver), len(quarantine)) == (40, 30, 10)
    collision = [r["_line"] for r in quarantine if r["primary_reason"] == "E_DUPLICATE_KEY"]
    assert len(collision) == 1


def test_part_bounds_cover_every_line_once(monkeypatch):
    import pyarrow as pa

    monkeypatch.setattr(pipeline, "PART_LINES", 3)
    lines = pa.chunked_array([[9, 2, 5, 7], [3, 11, 4]])
    bounds = _part_bounds(lines)
    assert bounds == [(None, 5), (5, 11), (11, None)]
    for line in [-1, *lines.to_pylist(), 100]:
        assert sum((low is None or line >= low) and (high is None or line < high) for low, high in bounds) == 1
    assert _part_bounds(pa.chunked_array([[1, 2, 3]])) == [(None, None)]
