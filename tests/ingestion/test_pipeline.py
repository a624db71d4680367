"""Guarantees of file ingestion, on the sample export and on broken files: nothing lost, nothing doubled."""

import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.exactly_once import BATCH_PROPERTY, append_once
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import FileIngestor, ingest_source
from safecity.config.yamlfile import YamlFileError
from tests.conftest import SAMPLE_EXPORT, write_gb18030

EXPECTED_REASONS = {"E_CODE": 3, "E_FORMAT": 2, "E_OUT_OF_AREA": 2, "E_COLUMNS": 1, "E_REQUIRED": 1,
                    "E_DUPLICATE_KEY": 1}


@pytest.fixture
def ingestor(settings, catalogue):
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    return FileIngestor(open_catalog(settings), catalogue, loaded, settings.paths.landing)


def rows(ingestor, name):
    return ingestor.tables[name].refresh().scan().to_arrow()


def test_sample_export_splits_exactly(ingestor):
    report = ingestor.ingest(SAMPLE_EXPORT)
    assert (report.received, report.silver, report.quarantined) == (40, 30, 10)
    assert dict(report.reasons) == EXPECTED_REASONS
    quarantine = rows(ingestor, "quarantine")
    by_line = {r["_line"]: r for r in quarantine.to_pylist()}
    assert by_line[22]["primary_reason"] == "E_COLUMNS"
    assert "卢龙县截断的行" in by_line[22]["record"]
    assert by_line[19]["reasons"][0]["field"] == "division_code" and by_line[19]["reasons"][0]["value"] == "130402"
    silver = rows(ingestor, "silver")
    assert silver.num_rows == 30 and len(set(silver.column("device_id").to_pylist())) == 30
    bronze = rows(ingestor, "bronze")
    assert sorted(bronze.column("_line").to_pylist()) == list(range(2, 42))
    assert set(silver.column("_line").to_pylist()) | set(quarantine.column("_line").to_pylist()) == set(range(2, 42))


def test_reingesting_the_same_file_adds_nothing(ingestor):
    ingestor.ingest(SAMPLE_EXPORT)
    snapshots = {name: len(t.refresh().snapshots()) for name, t in ingestor.tables.items()}
    again = ingestor.ingest(SAMPLE_EXPORT)
    assert again.skipped
    assert {name: len(t.refresh().snapshots()) for name, t in ingestor.tables.items()} == snapshots
    assert rows(ingestor, "bronze").num_rows == 40


def test_a_run_killed_after_bronze_completes_without_doubling(ingestor, settings, catalogue, monkeypatch):
    from safecity.lakehouse import exactly_once

    calls = []

    def crash_after_bronze(table, data, batch_id, properties=None):
        calls.append(table.name())
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between commits")
        return append_once(table, data, batch_id, properties)

    monkeypatch.setattr(exactly_once, "append_once", crash_after_bronze)
    with pytest.raises(KeyboardInterrupt):
        ingestor.ingest(SAMPLE_EXPORT)
    assert rows(ingestor, "bronze").num_rows == 40 and rows(ingestor, "silver").num_rows == 0
    monkeypatch.setattr(exactly_once, "append_once", append_once)
    report = ingestor.ingest(SAMPLE_EXPORT)
    assert [c.skipped for c in report.commits] == [True, False, False]
    assert (rows(ingestor, "bronze").num_rows, rows(ingestor, "silver").num_rows,
            rows(ingestor, "quarantine").num_rows) == (40, 30, 10)


def test_batch_id_is_stored_in_the_commit(ingestor):
    report = ingestor.ingest(SAMPLE_EXPORT)
    summary = ingestor.tables["silver"].refresh().current_snapshot().summary
    assert summary.additional_properties[BATCH_PROPERTY] == report.batch_id


def test_unreadable_file_is_kept_as_one_quarantined_record(ingestor, settings):
    path = settings.paths.landing / "cameras" / "broken.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes("设备编码,设备名称\n".encode("gb18030") + b"1,ok\n2,\xff\n")
    report = ingestor.ingest(path)
    assert (report.received, report.silver, report.quarantined) == (1, 0, 1)
    [record] = rows(ingestor, "quarantine").to_pylist()
    assert record["primary_reason"] == "E_ENCODING" and record["_line"] == 3
    assert "cameras/broken.csv" in record["reasons"][0]["message_en"]


def test_empty_file_is_a_result_not_an_error(ingestor, settings):
    path = write_gb18030(settings.paths.landing / "cameras" / "empty.csv", "")
    report = ingestor.ingest(path)
    assert (report.received, report.silver, report.quarantined, report.skipped) == (0, 0, 0, False)
    assert ingestor.ingest(path).skipped


def test_ingest_source_walks_the_landing_folder_in_order(settings, catalogue):
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    header = SAMPLE_EXPORT.read_bytes().decode("gb18030").splitlines()[0]
    write_gb18030(settings.paths.landing / "cameras" / "b.csv",
                  header + "\n13030300001320000001,山海关区老龙头,,,,119.79,39.97,1,3,ON\n")
    write_gb18030(settings.paths.landing / "cameras" / "a.csv", header + "\n")
    report = ingest_source(open_catalog(settings), catalogue, loaded, settings.paths.landing)
    assert [f.file for f in report.files] == ["cameras/a.csv", "cameras/b.csv"]
    assert (report.received, report.silver, report.conformance_rate) == (1, 1, 1.0)


def test_mapping_errors_name_file_line_and_key(tmp_path, catalogue):
    text = mapping_path("video_platform_catalog_csv").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("设备名称: name", "设备名称: nmae").replace("  经度: longitude\n", ""),
                      encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_mapping(broken, catalogue)
    found = {(p.code, p.pointer, p.hint) for p in info.value.problems}
    assert ("E_UNKNOWN_FIELD", "/columns/设备名称", "did you mean 'name'?") in found
    assert any(code == "E_REQUIRED" and "longitude" in str(info.value) for code, _, _ in found)
    line = next(i for i, l in enumerate(broken.read_text(encoding="utf-8").splitlines(), 1) if "nmae" in l)
    assert f"broken.yaml:{line}: E_UNKNOWN_FIELD" in str(info.value)
