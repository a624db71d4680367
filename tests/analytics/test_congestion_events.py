"""The congestion readings' producer on a handful of silver rows written here: which detectors read for which of the
shipped Qinhuangdao junctions (config/cities/qinhuangdao/junctions.yaml), the volume-weighted speed of an approach,
the junction read as its worst approach, and intervals without traffic reading nothing. The whole simulated day is
checked against the landing files in tests/orchestration/test_congestion_events.py."""
import datetime as dt

import pytest

from safecity.analytics.congestion_events import congestion_events
from safecity.config.junctions import load_junctions
from safecity.lakehouse.warehouse import connect

M_PER_DEGREE_LAT = 111_320.0
T0 = dt.datetime(2026, 7, 15, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def north_of(junction, metres):
    return junction.lon, junction.lat + metres / M_PER_DEGREE_LAT


@pytest.fixture
def readings(settings):
    junctions = {j.id: j for j in load_junctions(settings.city)}
    j1, j4 = junctions["J001"], junctions["J004"]
    registry = [  # detector, segment, class, position, ingested (the latest row of a detector counts)
        ("A1", "SA", "arterial", north_of(j1, 100), 1),
        ("A2", "SA", "arterial", north_of(j1, 120), 1),
        ("B1", "SB", "secondary_arterial", north_of(j1, -150), 1),
        ("C1", "SC", "arterial", north_of(j1, -j1.approach_m - 300), 1),  # beyond every junction's reach
        ("D1", "SD", "arterial", north_of(j1, -j1.approach_m - 300), 1),  # moved: its newer row is at J004
        ("D1", "SD", "arterial", north_of(j4, 50), 2),
    ]
    flows = [  # detector, minutes after 08:00, lane, volume, speed
        ("A1", 0, 1, 10, 30.0), ("A2", 0, 1, 30, 10.0), ("B1", 0, 1, 20, 26.0), ("C1", 0, 1, 40, 5.0),
        ("D1", 0, 1, 12, 50.0),
        ("A1", 5, 1, 0, None), ("A2", 5, 1, 0, None), ("B1", 5, 1, 15, 12.0), ("B1", 5, 2, 5, 12.0),
        ("A1", 10, 1, 0, None), ("B1", 10, 1, 0, None),
    ]
    with connect(settings, ":memory:") as con:
        con.execute("CREATE SCHEMA silver")
        con.execute("CREATE TABLE silver.detector (detector_id VARCHAR, road_segment_id VARCHAR, road_class VARCHAR, "
                    "longitude DOUBLE, latitude DOUBLE, _ingested_at TIMESTAMPTZ, _batch_id VARCHAR, _line BIGINT)")
        con.executemany("INSERT INTO silver.detector VALUES (?, ?, ?, ?, ?, ?, 'b', 1)",
                        [(d, s, c, lon, lat, T0 + dt.timedelta(hours=h)) for d, s, c, (lon, lat), h in registry])
        con.execute("CREATE TABLE silver.detector_flow (detector_id VARCHAR, interval_start TIMESTAMPTZ, "
                    "interval_minutes INTEGER, lane_no INTEGER, volume BIGINT, occupancy DOUBLE, mean_speed DOUBLE)")
        con.executemany("INSERT INTO silver.detector_flow VALUES (?, ?, 5, ?, ?, 10.0, ?)",
                        [(d, T0 + dt.timedelta(minutes=m), lane, v, s) for d, m, lane, v, s in flows])
        table = congestion_events(con, settings.city, T0)["congestion_reading"]
    return {(r["junction_id"], r["ts"]): r for r in table.to_pylist()}


def test_a_junction_reads_as_its_worst_approach_from_the_detectors_within_its_reach(readings):
    assert set(readings) == {("J001", T0), ("J001", T0 + dt.timedelta(minutes=5)), ("J004", T0)}
    first = readings[("J001", T0)]
    # SA: (10·30 + 30·10) / 40 = 15 km/h, on the arterial's last threshold: index 8, severe; SB: 26 km/h on a
    # secondary arterial, 2 + 2·(35 − 26)/(35 − 25) = 3.8. The worst approach is the junction's reading.
    assert (first["segment_id"], first["division_code"], first["grade"]) == ("SA", "130302", "severe")
    assert first["congestion_index"] == pytest.approx(8.0)
    assert (first["_batch_id"], first["_line"]) == ("congestion_reading:J001", int(T0.timestamp()))


def test_an_approach_without_vehicles_in_an_interval_leaves_the_reading_to_the_others(readings):
    second = readings[("J001", T0 + dt.timedelta(minutes=5))]
    # SA saw nothing; SB's two lanes at 12 km/h: 6 + 2·(15 − 12)/(15 − 10) = 7.2, moderate.
    assert (second["segment_id"], second["grade"]) == ("SB", "moderate")
    assert second["congestion_index"] == pytest.approx(7.2)
    assert ("J001", T0 + dt.timedelta(minutes=10)) not in readings  # no vehicle anywhere: no reading


def test_a_detector_counts_where_the_registry_last_puts_it_and_nowhere_beyond_reach(readings):
    moved = readings[("J004", T0)]
    assert (moved["segment_id"], moved["grade"]) == ("SD", "free_flow")
    assert moved["congestion_index"] == pytest.approx(2 * (80 - 50) / 40)
    assert not any(r["segment_id"] == "SC" for r in readings.values())
