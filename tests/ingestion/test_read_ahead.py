"""Reading the next file in a worker process while the current one is judged (ingestion/read_ahead.py): the tables
and reports are those of reading every file in process, a bad file is rejected with the reader's own error, and a
worker that dies leaves the run to read in process."""
import datetime as dt
import os
import signal

import pytest

from safecity.ingestion import read_ahead
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse.catalog import open_catalog

NOW = dt.datetime(2026, 7, 16, 8, 0, tzinfo=dt.timezone.utc)
HEADER = "检测器编号,统计开始时间,统计周期(分钟),车道号,流量,占有率(%),平均速度(km/h),"
CLOCKS = {"_received_at", "_ingested_at", "_quarantined_at", "_batch_id"}


def _write_day(landing, hours: int = 4):
    folder = landing / "detectors"
    folder.mkdir(parents=True)
    for hour in range(hours):
        rows = [f"DET1303020000{d},2026-07-15 {hour:02d}:{m:02d}:00,5,1,{d + m},1.5,50.0,"
                for d in range(1, 4) for m in range(0, 60, 5)]
        rows[3] = rows[3].replace(",50.0,", ",-1,")  # a speed out of range in every file
        (folder / f"flows_{hour:02d}.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    # Not UTF-8: the file is rejected whole, by the reader.
    (folder / "flows_02b.csv").write_bytes((HEADER + "\n").encode() + b"\xff\xfe bad\n")


def _run(settings, catalogue):
    landing = settings.paths.landing
    loaded = load_mapping(mapping_path("detector_flows_csv"), catalogue)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, loaded, LocalLanding(landing), as_of=NOW)
    tables = {}
    for name in ("bronze.detector_flows_csv", "silver.detector_flow", "quarantine.detector_flow", "ops.rejected_files"):
        table = catalog.load_table(name).scan().to_arrow()
        table = table.drop_columns([c for c in table.column_names if c in CLOCKS])
        tables[name] = sorted(table.to_pylist(), key=repr)
    files = [(f.file, f.received, f.silver, f.quarantined, f.rejected_whole, f.error, dict(f.reasons))
             for f in report.files]
    return files, tables


@pytest.fixture
def taken(monkeypatch):
    """The files whose read the worker started, in the order they were taken."""
    names = []
    original = read_ahead.ReadAhead.take

    def noting(self, name):
        started = original(self, name)
        if started is not None:
            names.append(name)
        return started
    monkeypatch.setattr(read_ahead.ReadAhead, "take", noting)
    return names


def test_read_ahead_gives_what_reading_in_process_gives(tmp_path, catalogue, monkeypatch, taken):
    import shutil

    from safecity.config.profiles import load_settings

    results = {}
    for mode, threshold in (("in process", 10**12), ("ahead", 0)):
        # The same home path for both runs: an error names the file by its path, and is hashed with its record.
        shutil.rmtree(tmp_path / "home", ignore_errors=True)
        settings = load_settings("local", tmp_path / "home")
        _write_day(settings.paths.landing)
        monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", threshold)
        results[mode] = _run(settings, catalogue)
    # Every file but the first was read by the worker (the first is read while the worker starts).
    assert taken == ["detectors/flows_01.csv", "detectors/flows_02.csv", "detectors/flows_02b.csv",
                     "detectors/flows_03.csv"]
    assert results["ahead"] == results["in process"]
    files, tables = results["ahead"]
    rejected = [f for f in files if f[4]]
    assert [(f[0], f[4]) for f in rejected] == [("detectors/flows_02b.csv", "E_ENCODING")]
    assert "flows_02b.csv" in rejected[0][5]
    assert len(tables["silver.detector_flow"]) == 4 * 35 and len(tables["ops.rejected_files"]) == 1


def test_a_worker_that_dies_leaves_the_files_to_be_read_in_process(settings, catalogue, monkeypatch):
    _write_day(settings.paths.landing)
    loaded = load_mapping(mapping_path("detector_flows_csv"), catalogue)
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0)
    landing = LocalLanding(settings.paths.landing)
    names = [f"detectors/flows_{hour:02d}.csv" for hour in range(4)]
    with read_ahead.ReadAhead(loaded.mapping, landing, lambda name, data: True, names) as ahead:
        assert ahead.take(names[0]) is None     # the first is read in process; the worker starts on the second
        ahead._worker.process.kill()
        data, read = ahead.take(names[1])
        assert data == (settings.paths.landing / names[1]).read_bytes()
        assert read().table.num_rows == 36      # read again in process
        assert ahead.take(names[2]) is None     # no worker any more: every file is read in turn, in process
        assert ahead.take(names[3]) is None


SCRIPT = """
import datetime as dt
from safecity.config.profiles import load_settings
from safecity.ingestion import read_ahead
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse.catalog import open_catalog
from safecity.standards.catalogue import load_catalogue

read_ahead.READ_AHEAD_BYTES = 0
taken = []
original = read_ahead.ReadAhead.take
read_ahead.ReadAhead.take = lambda self, name: (r := original(self, name), r is not None and taken.append(name))[0]
settings = load_settings("local", {home!r})
catalogue = load_catalogue("qinhuangdao")
report = ingest_source(open_catalog(settings), catalogue, load_mapping(mapping_path("detector_flows_csv"), catalogue),
                       LocalLanding(settings.paths.landing), as_of=dt.datetime(2026, 7, 16, tzinfo=dt.timezone.utc))
print("RESULT", len(taken), report.received, report.silver, flush=True)
"""


def test_a_script_without_a_main_guard_ingests_once(tmp_path, monkeypatch):
    """A data engineer's script calling ingest_source at top level: the worker must not run it again (a spawned
    multiprocessing child imports the parent's main script first, and would have ingested the day a second time)."""
    import subprocess
    import sys

    from safecity.config.profiles import load_settings

    home = tmp_path / "home"
    _write_day(load_settings("local", home).paths.landing)
    script = tmp_path / "ingest_day.py"
    script.write_text(SCRIPT.format(home=str(home)), encoding="utf-8")
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert [line for line in completed.stdout.splitlines() if line.startswith("RESULT")] == ["RESULT 4 145 140"]
    assert "read-ahead worker stopped" not in completed.stderr


def test_files_already_ingested_are_not_read_again(settings, catalogue, monkeypatch, taken):
    _write_day(settings.paths.landing, hours=3)
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0)
    first, _ = _run(settings, catalogue)
    assert len(taken) == 3  # flows_01, flows_02, flows_02b: all but the first
    taken.clear()
    again, _ = _run(settings, catalogue)
    assert taken == []      # every file is done: none was handed to the worker
    assert [f[:4] for f in again] == [f[:4] for f in first]
