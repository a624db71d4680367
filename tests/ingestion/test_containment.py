"""Containment: one file that cannot be read or judged is quarantined whole (reason, error, bytes kept) and the
rest of the batch goes on; a fixed mapping reads it again, from landing or from the kept bytes."""
import pytest

from safecity.ingestion import mapping as mapping_module, pipeline
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.reprocess import reprocess_quarantine
from safecity.ingestion.tables import REJECTED_FILES_TABLE
from safecity.lakehouse.catalog import open_catalog
from tests.ingestion.test_reprocess import MAPPING

HEADER = "编号,报警时间,级别,状态"


def write_calls(folder, name, rows, encoding="utf-8"):
    path = folder / "calls" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def table(catalog, name):
    return catalog.load_table(name).scan().to_arrow()


@pytest.fixture
def source(tmp_path, catalogue):
    mapping = tmp_path / "vendor_calls.yaml"

    def load(encoding="utf-8"):
        declared = MAPPING.replace("format: csv\n", f"format: csv\nencoding: {encoding}\n")
        mapping.write_text(declared, encoding="utf-8")
        return load_mapping(mapping, catalogue)
    return load


def test_a_year_0001_timestamp_is_a_range_error_of_its_row_and_the_file_goes_on(tmp_path, settings, catalogue,
                                                                                  source):
    # It used to crash after bronze was committed, and every retry again: the good rows never reached silver.
    write_calls(tmp_path, "b.csv", ["J2,2026-07-01 08:01:00,1,closed", "J3,0001-01-01 00:00:00,1,closed"])
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, source(), LocalLanding(tmp_path))
    assert [(f.rejected_whole, f.silver, f.quarantined) for f in report.files] == [(None, 1, 1)]
    assert table(catalog, "silver.alarm_call").column("call_id").to_pylist() == ["J2"]
    [record] = table(catalog, "quarantine.alarm_call").to_pylist()
    assert (record["primary_reason"], record["reasons"][0]["field"]) == ("E_RANGE", "received_at")


def test_a_file_that_breaks_judging_is_quarantined_whole_and_the_batch_goes_on(tmp_path, settings, catalogue,
                                                                                source, monkeypatch):
    write_calls(tmp_path, "a.csv", ["J1,2026-07-01 08:00:00,1,closed"])
    bad = write_calls(tmp_path, "b.csv", ["J2,2026-07-01 08:01:00,1,closed", "J3,2026-07-01 08:01:30,1,closed"])
    write_calls(tmp_path, "c.csv", ["J4,2026-07-01 08:02:00,2,closed"])
    judge = pipeline.BatchIngestor._judge

    def judging_with_a_bug(self, batch, now, raw, rejected):
        # Only its rows break the judge; the whole-file record the containment then judges does not.
        if batch.origin == "calls/b.csv" and raw is not None:
            raise OverflowError("date value out of range")
        return judge(self, batch, now, raw, rejected)

    monkeypatch.setattr(pipeline.BatchIngestor, "_judge", judging_with_a_bug)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, source(), LocalLanding(tmp_path))
    by_file = {f.file: f for f in report.files}
    assert [by_file[f"calls/{n}.csv"].rejected_whole for n in "abc"] == [None, "E_FILE", None]
    assert by_file["calls/b.csv"].error == "OverflowError: date value out of range"
    assert sorted(table(catalog, "silver.alarm_call").column("call_id").to_pylist()) == ["J1", "J4"]
    [kept] = table(catalog, REJECTED_FILES_TABLE).to_pylist()
    assert (kept["_file"], kept["reason"], kept["content"]) == ("calls/b.csv", "E_FILE", bad.read_bytes())
    [record] = table(catalog, "quarantine.alarm_call").to_pylist()
    assert record["primary_reason"] == "E_FILE" and record["_file"] == "calls/b.csv"
    assert all(f.reconciled for f in report.files)
    # Nothing half-done is left: the next run finds every file done and stages nothing.
    again = ingest_source(catalog, catalogue, source(), LocalLanding(tmp_path))
    assert all(f.skipped for f in again.files)
    assert not list((settings.paths.warehouse / "_pending").glob("*/complete"))


def test_an_unexpected_reader_failure_is_contained(tmp_path, settings, catalogue, source, monkeypatch):
    write_calls(tmp_path, "a.csv", ["J1,2026-07-01 08:00:00,1,closed"])
    write_calls(tmp_path, "b.csv", ["J2,2026-07-01 08:01:00,1,closed"])
    # The mapping reads its files (SourceMapping.read); a bug there must be contained like any reader's.
    real_read = mapping_module.read

    def reader_with_a_bug(data, *args):
        if b"J2" in data:
            raise RecursionError("maximum recursion depth exceeded")
        return real_read(data, *args)

    monkeypatch.setattr(mapping_module, "read", reader_with_a_bug)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, source(), LocalLanding(tmp_path))
    assert [(f.file, f.rejected_whole, f.silver) for f in report.files] == \
        [("calls/a.csv", None, 1), ("calls/b.csv", "E_FILE", 0)]
    assert report.files[1].error == "RecursionError: maximum recursion depth exceeded"


def test_a_fixed_mapping_reads_again_a_file_it_rejected_whole(tmp_path, settings, catalogue, source):
    write_calls(tmp_path, "a.csv", ["J1,2026-07-01 08:00:00,1,已结束", "J2,2026-07-01 08:01:00,1,closed"],
                encoding="gb18030")
    catalog = open_catalog(settings)
    first = ingest_source(catalog, catalogue, source("utf-8"), LocalLanding(tmp_path))
    assert first.files[0].rejected_whole == "E_ENCODING_MISMATCH"
    # The same wrong mapping finds the file done; the fixed one reads it again and its result replaces the rejection.
    assert ingest_source(catalog, catalogue, source("utf-8"), LocalLanding(tmp_path)).files[0].skipped
    fixed = ingest_source(catalog, catalogue, source("gb18030"), LocalLanding(tmp_path))
    assert (fixed.files[0].rejected_whole, fixed.files[0].received) == (None, 2)
    quarantine = table(catalog, "quarantine.alarm_call")
    assert not any(r.startswith("E_ENCODING") for r in quarantine.column("primary_reason").to_pylist())
    assert table(catalog, "bronze.vendor_calls").num_rows == 2
    assert table(catalog, "silver.alarm_call").num_rows + quarantine.num_rows == 2
    # A third mapping version (a comment added) does not read a file that was read.
    again = ingest_source(catalog, catalogue, source("gb18030  # fixed"), LocalLanding(tmp_path))
    assert again.files[0].skipped and table(catalog, "bronze.vendor_calls").num_rows == 2


def test_reprocess_reads_a_rejected_file_from_its_kept_bytes(tmp_path, settings, catalogue, source):
    path = write_calls(tmp_path, "a.csv", ["J1,2026-07-01 08:00:00,1,closed", "J2,2026-07-01 08:01:00,1,closed",
                                           "J3,2026-07-01 08:02:00,1,结束"], encoding="gb18030")
    catalog = open_catalog(settings)
    assert ingest_source(catalog, catalogue, source("utf-8"), LocalLanding(tmp_path)).files[0].rejected_whole
    path.unlink()  # landing was cleaned up: only the kept bytes remain
    same = reprocess_quarantine(catalog, catalogue, source("utf-8"))
    assert (same.files_reread, same.files_still_rejected) == (0, 1)
    report = reprocess_quarantine(catalog, catalogue, source("gb18030"))
    assert (report.files_reread, report.files_still_rejected) == (1, 0)
    bronze = table(catalog, "bronze.vendor_calls")
    silver = table(catalog, "silver.alarm_call")
    quarantine = table(catalog, "quarantine.alarm_call")
    assert bronze.num_rows == 3 == silver.num_rows + quarantine.num_rows
    assert {"J1", "J2"} <= set(silver.column("call_id").to_pylist())
    # Once read, it is not read again.
    assert reprocess_quarantine(catalog, catalogue, source("gb18030")).files_reread == 0
