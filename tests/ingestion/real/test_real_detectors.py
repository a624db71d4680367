"""Real detector exports onboarded with a mapping file only, each figure checked against the raw rows.

Taiwan TDCS M05A: three header-less 5-minute files. MnDOT ATR 301: six years of hourly volumes, where an hour with
several weather conditions is on several rows. Every row ends in silver or in quarantine with its reason."""
import csv
from collections import Counter, defaultdict

from zoneinfo import ZoneInfo

import pyarrow.compute as pc
import pytest

from safecity.ingestion.landing import LocalLanding
from safecity.ingestion import pipeline
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse.catalog import open_catalog
from tests.ingestion.real.conftest import MAPPINGS, landing_with


def _within(actual: float, expected: float, share: float = 0.01) -> bool:
    return abs(actual - expected) <= share * abs(expected)


def _quarantine_reasons(catalog, entity: str) -> Counter:
    table = catalog.load_table(f"quarantine.{entity}").scan().to_arrow()
    return Counter(table.column("primary_reason").to_pylist())


def test_taiwan_headerless_five_minute_files(tmp_path, settings, catalogue, real_data):
    files = sorted((real_data / "detectors").glob("taiwan_freeway_TDCS_M05A_*.csv"))
    raw = [row for f in files for row in csv.reader(f.read_text(encoding="ascii").splitlines())]
    landing = landing_with(tmp_path, "detectors", *files)
    mapping = load_mapping(MAPPINGS / "taiwan_tdcs_m05a.yaml", catalogue)
    report = ingest_source(open_catalog(settings), catalogue, mapping, LocalLanding(landing))

    assert len(files) == 3 and report.received == len(raw) == 3 * 2105
    assert report.silver + report.quarantined == report.received
    silver = open_catalog(settings).load_table("silver.detector_flow").scan().to_arrow()
    # Independently: volume per interval start, from the raw sixth column.
    expected = defaultdict(int)
    for row in raw:
        expected[row[0]] += int(row[5])
    got = defaultdict(int)
    for start, volume in zip(silver.column("interval_start").to_pylist(), silver.column("volume").to_pylist()):
        got[start.astimezone(ZoneInfo("Asia/Taipei")).strftime("%Y/%m/%d %H:%M")] += volume
    assert set(got) == set(expected) == {"2024/04/16 08:00", "2024/04/16 08:05", "2024/04/16 08:10"}
    assert all(_within(got[k], expected[k]) for k in expected), (got, expected)
    # A pair and class per detector: 421 pairs x 5 classes, each in every file.
    assert pc.count_distinct(silver.column("detector_id")).as_py() == len({(r[1], r[2], r[3]) for r in raw}) == 2105
    assert set(silver.column("interval_minutes").to_pylist()) == {5}


# Judged whole, and in parts of 5,000 lines (pipeline.PART_LINES): an hour's repeated rows then fall in different
# parts, and must still be found as duplicates of the hour's first row.
@pytest.mark.parametrize("part_lines", [pipeline.PART_LINES, 5_000])
def test_hourly_volumes_count_each_hour_once(tmp_path, settings, catalogue, real_data, monkeypatch, part_lines):
    monkeypatch.setattr(pipeline, "PART_LINES", part_lines)
    path = real_data / "detectors" / "minnesota_i94_atr301_Metro_Interstate_Traffic_Volume.csv"
    with path.open(encoding="ascii", newline="") as f:
        rows = list(csv.DictReader(f))
    landing = landing_with(tmp_path, "detectors", path)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, load_mapping(MAPPINGS / "mndot_atr301_hourly.yaml", catalogue),
                           LocalLanding(landing))

    hours: dict[str, int] = {}
    for row in rows:
        hours.setdefault(row["date_time"], int(row["traffic_volume"]))
    assert report.received == len(rows) == 48204
    # One row per hour in silver; the other rows of an hour are its duplicates, quarantined as such.
    assert report.silver == len(hours) == 40575
    # The weather columns are not mapped: a later row of an hour with the same volume is an exact copy of the
    # record (E_DUPLICATE_ROW); another volume for a taken hour would be a key collision.
    repeats, seen = Counter(), set()
    for row in rows:
        if row["date_time"] in seen:
            repeats["E_DUPLICATE_ROW" if int(row["traffic_volume"]) == hours[row["date_time"]] else "E_DUPLICATE_KEY"] += 1
        seen.add(row["date_time"])
    assert sum(repeats.values()) == len(rows) - len(hours)
    assert _quarantine_reasons(catalog, "detector_flow") == repeats
    silver = catalog.load_table("silver.detector_flow").scan().to_arrow()
    local = [s.astimezone(ZoneInfo("America/Chicago")) for s in silver.column("interval_start").to_pylist()]
    daily = defaultdict(int)
    for start, volume in zip(local, silver.column("volume").to_pylist()):
        daily[start.date().isoformat()] += volume
    expected_daily, reported = defaultdict(int), defaultdict(int)
    for hour, volume in hours.items():
        expected_daily[hour[:10]] += volume
        reported[hour[:10]] += 1
    assert set(daily) == set(expected_daily)
    assert all(_within(daily[d], expected_daily[d]) for d in expected_daily)
    # Completeness counts the hours a day should have (24), not 288 five-minute intervals.
    got_reported = Counter(s.date().isoformat() for s in local)
    assert {d: n / 24 for d, n in got_reported.items()} == {d: n / 24 for d, n in reported.items()}
