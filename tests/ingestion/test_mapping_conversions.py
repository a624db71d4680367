"""Declarative conversions in a source mapping: time formats and zones, vendor codes, units, GCJ-02 positions —
and the errors a policy engineer sees for a wrong mapping file."""
import datetime as dt
import json
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.config.yamlfile import YamlFileError
from safecity.ingestion.coordinates import gcj02_to_wgs84, wgs84_to_gcj02
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source

MAPPING = """\
id: vendor_incidents
name_zh: 某厂商交通事件
entity: traffic_incident
format: jsonl
landing: vendor
columns:
  id: incident_id
  kind: { element: incident_type, codes: { "1": accident, "2": congestion } }
  start: { element: occurred_at, time_format: "%Y%m%d%H%M%S", time_zone: UTC }
  report: { element: reported_at, time_format: epoch_ms }
  clear: { element: cleared_at, time_format: "%Y/%m/%d %H:%M" }
  lng: longitude
  lat: latitude
  blocked_m: { element: lanes_blocked, scale: 0.5 }
coordinates: { system: gcj02 }
"""
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ingest(tmp_path, catalogue, settings, records, mapping=MAPPING):
    (tmp_path / "vendor").mkdir(exist_ok=True)
    (tmp_path / "vendor" / "day.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records),
                                                   encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
    loaded = load_mapping(tmp_path / "mapping.yaml", catalogue)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, loaded, LocalLanding(tmp_path))
    silver = catalog.load_table("silver.traffic_incident").scan().to_arrow().to_pylist()
    quarantine = catalog.load_table("quarantine.traffic_incident").scan().to_arrow().to_pylist()
    return report, {r["incident_id"]: r for r in silver}, quarantine


def test_times_codes_units_and_positions_are_converted(tmp_path, catalogue, settings):
    wgs = (119.600628, 39.936510)
    gcj_lon, gcj_lat = wgs84_to_gcj02(*wgs)
    reported = dt.datetime(2026, 7, 1, 0, 30, tzinfo=dt.timezone.utc)
    record = {"id": "JTSJ1", "kind": "2", "start": "20260701002030", "report": int(reported.timestamp() * 1000),
              "clear": "2026/07/01 09:05", "lng": float(gcj_lon), "lat": float(gcj_lat), "blocked_m": 4}
    report, silver, _ = ingest(tmp_path, catalogue, settings, [record])
    assert report.silver == 1
    row = silver["JTSJ1"]
    assert row["incident_type"] == "congestion"
    assert row["occurred_at"] == dt.datetime(2026, 7, 1, 0, 20, 30, tzinfo=dt.timezone.utc)
    assert row["reported_at"] == reported
    assert row["cleared_at"] == dt.datetime(2026, 7, 1, 9, 5, tzinfo=SHANGHAI)
    assert row["lanes_blocked"] == 2
    assert math.isclose(row["longitude"], wgs[0], abs_tol=2e-7) and math.isclose(row["latitude"], wgs[1], abs_tol=2e-7)


def test_values_that_do_not_convert_are_rejected_with_what_the_source_sent(tmp_path, catalogue, settings):
    records = [{"id": "JTSJ2", "kind": "7", "start": "20260701002030", "report": 1782865800000, "lng": "x", "lat": 39.9},
               {"id": "JTSJ3", "kind": "1", "start": "2026-07-01 00:20", "report": "yesterday"}]
    report, _, quarantine = ingest(tmp_path, catalogue, settings, records)
    assert report.quarantined == 2
    by_field = {(reason["field"], reason["code"], reason["value"]) for q in quarantine for reason in q["reasons"]}
    assert by_field == {("incident_type", "E_CODE", "7"), ("longitude", "E_TYPE", "x"),
                        ("reported_at", "E_TYPE", "yesterday")}


@pytest.mark.parametrize("change, pointer, code", [
    (("  lat: latitude\n", "  lat: latitud\n"), "/columns/lat", "E_UNKNOWN_FIELD"),
    (("blocked_m: { element: lanes_blocked, scale: 0.5 }", "blocked_m: { element: incident_id, scale: 0.5 }"),
     "/columns/blocked_m/scale", "E_TYPE"),
    (("time_zone: UTC", "time_zone: Mars/Olympus"), "/columns/start/time_zone", None),
    (("coordinates: { system: gcj02 }", "coordinates: { system: mars }"), "/coordinates/system", None),
    (("coordinates: { system: gcj02 }", "coordinates: { system: \"EPSG:999999\" }"), "/coordinates/system", None),
    (("format: jsonl", "format: csv\nrecords: a.b"), "", None),
])
def test_mapping_errors_name_the_file_line_and_key(tmp_path, catalogue, change, pointer, code):
    path = tmp_path / "bad.yaml"
    path.write_text(MAPPING.replace(*change), encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_mapping(path, catalogue)
    problem = info.value.problems[0]
    assert problem.file == str(path) and problem.line >= 1
    assert problem.pointer == pointer or (not pointer and problem.pointer in ("", "/"))
    if code:
        assert problem.code == code
    assert str(path) in str(info.value)


def test_gcj02_inverse_is_exact_to_the_millimetre_and_shifts_hundreds_of_metres():
    rng = np.random.default_rng(3)
    lon = rng.uniform(118.5, 119.9, 1000)
    lat = rng.uniform(39.3, 40.4, 1000)
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    metres_per_degree = 111_320.0
    error = np.hypot((back_lon - lon) * metres_per_degree * np.cos(np.radians(lat)), (back_lat - lat) * metres_per_degree)
    assert error.max() < 0.001
    shift = np.hypot((gcj_lon - lon) * metres_per_degree * np.cos(np.radians(lat)), (gcj_lat - lat) * metres_per_degree)
    assert 100 < shift.min() and shift.max() < 1000
    # Outside China nothing is shifted.
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)



def test_the_documented_example_mapping_is_valid(tmp_path, catalogue):
    from pathlib import Path
    doc = (Path(__file__).parents[2] / "docs" / "source-mappings.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    mapping = load_mapping(tmp_path / "example.yaml", catalogue).mapping
    assert mapping.topic == "vendor.incidents" and mapping.coordinates.system == "gcj02"
    assert mapping.targets["kind"].codes == {"1": "accident", "2": "congestion"}
