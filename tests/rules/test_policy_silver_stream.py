"""Silver events streamed (issue #9): per-type ordered cursors merged on event time give exactly the events, and the
order, of the list the engine was fed before (every row loaded, then one stable sort by time), and the types no
policy reads are counted in SQL without a row of them being fetched."""
import datetime as dt

import duckdb
import pytest

from benchmarks.rules import listed_silver_events  # the reader before issue #9: the reference order
from safecity.rules import events as events_module
from safecity.rules.events import read_types, silver_events
from safecity.rules.loader import load_policies

CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def con():
    """Every ordering hazard at once: a timeless type loaded in two batches out of order, equal instants written in
    different zones, ties within a type (broken by batch and line) and across types (broken by type name), rows
    without a time, a fact older than any start, and a type whose time is text (ordered in Python)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("CREATE SCHEMA silver")
    con.execute("""CREATE TABLE silver.camera (device_id VARCHAR, name VARCHAR, use_type VARCHAR, status VARCHAR,
                   _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.camera VALUES
        ('13030200001320000002', '二号', '3', 'OFF', 'json', 2), ('13030200001320000001', '一号', '3', 'ON', 'csv', 3),
        ('13030200001320000001', '一号', '3', 'OFF', 'json', 1), ('13030200001320000003', '三号', '1', 'OFF', 'csv', 1)""")
    con.execute("""CREATE TABLE silver.camera_health (camera_id VARCHAR, status VARCHAR, offline_minutes BIGINT,
                   point_level VARCHAR, ts TIMESTAMPTZ, _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.camera_health VALUES
        ('13030200001320000001', 'offline', 0, 'key', '2025-03-01 08:00:00+08', 'change', 7),
        ('13030200001320000002', 'offline', 0, 'key', '2025-03-01 00:00:00+00', 'change', 3),
        ('13030200001320000003', 'online', 0, 'normal', '2025-03-01 08:00:00+08', 'state', 1),
        ('13030200001320000001', 'offline', 30, 'key', '2025-03-01 08:30:00.000001+08', 'state', 2),
        ('13030200001320000004', 'offline', 9, 'key', NULL, 'state', 3),
        ('13030200001320000005', 'degraded', 0, 'important', '2025-02-28 23:00:00+08', 'change', 1)""")
    con.execute("""CREATE TABLE silver.camera_down (camera_id VARCHAR, grid_id VARCHAR, since TIMESTAMPTZ,
                   _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.camera_down VALUES
        ('13030200001320000001', 'G1', '2025-03-01 08:00:00+08', 'down', 1),
        ('13030200001320000009', 'G1', '2025-02-27 08:00:00+08', 'down', 2)""")
    con.execute("""CREATE TABLE silver.incident_reported (incident_id VARCHAR, category VARCHAR, grid_id VARCHAR,
                   ts TIMESTAMPTZ, _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.incident_reported VALUES
        ('I2', '010000', 'G1', '2025-03-01 08:00:00+08', 'inc', 2), ('I1', '010000', 'G1', '2025-03-01 08:00:00+08', 'inc', 1),
        ('I3', '020000', 'G1', '2025-03-01 09:00:00+08', 'inc', 3)""")
    con.execute("""CREATE TABLE silver.vehicle_pass (motor_vehicle_id VARCHAR, plate_no VARCHAR, pass_time TIMESTAMPTZ,
                   _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.vehicle_pass
        SELECT 'V' || i, '冀C' || lpad(i::VARCHAR, 5, '0'), TIMESTAMPTZ '2025-03-01 07:59:00+08' + i * INTERVAL 20 SECOND,
               'passes' || (i % 3), i FROM range(40) t(i)""")
    # received_at as text: with a zone, as a naive local time (never an event time), and unreadable.
    con.execute("""CREATE TABLE silver.alarm_call (call_id VARCHAR, received_at VARCHAR, category VARCHAR,
                   _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.alarm_call VALUES
        ('K1', '2025-03-01T08:00:00+08:00', '010000', 'calls', 1), ('K2', '2025-03-01T00:00:00+00:00', '010000', 'calls', 2),
        ('K3', '2025-03-01T07:00:00+00:00', '010000', 'calls', 3), ('K4', '2025-03-01 08:05:00', '010000', 'calls', 4),
        ('K5', 'soon', '010000', 'calls', 5)""")
    return con


START = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)
PERIODS = [
    {},
    {"start": START},
    {"start": START, "facts": {"camera_down"}},
    {"start": START, "end": START + dt.timedelta(minutes=30), "keep_timeless": True},
    {"start": START, "facts": {"camera_down"}, "keep_timeless": True,
     "starts": {"camera_health": START - dt.timedelta(hours=12), "incident_reported": None}},
]


@pytest.mark.parametrize("chunk", [1, 2, 5000])
@pytest.mark.parametrize("period", PERIODS, ids=lambda p: ",".join(sorted(p)) or "all")
def test_streamed_events_are_the_sorted_list_event_for_event(con, catalogue, chunk, period):
    expected = listed_silver_events(con, catalogue, **period)
    assert len({e["type"] for e in expected}) >= 5 and len(expected) > 40
    streamed = silver_events(con, catalogue, chunk=chunk, **period)
    assert list(streamed) == expected
    assert list(streamed) == expected  # a second pass (the worker's restart after a crash) starts over
    assert sum(streamed.by_type.values()) == len(expected)


def test_types_no_policy_reads_are_counted_in_sql_and_never_fetched(con, catalogue, monkeypatch):
    fetched: list[str] = []
    reader = events_module.SilverType.rows

    def spy(self, *args, **kwargs):
        for moment, event in reader(self, *args, **kwargs):
            fetched.append(event["type"])
            yield moment, event
    monkeypatch.setattr(events_module.SilverType, "rows", spy)
    read = read_types(load_policies())
    assert "vehicle_passed" not in read
    everything = listed_silver_events(con, catalogue, start=START, keep_timeless=True)
    streamed = silver_events(con, catalogue, start=START, keep_timeless=True, only=read)
    evaluated = list(streamed)
    assert evaluated == [e for e in everything if e["type"] in read]
    assert set(fetched) <= read and len(fetched) == len(evaluated)
    counted = streamed.count_skipped()
    others = {e["type"] for e in everything} - read
    assert {name: n for name, (n, _) in counted.items()} == {
        t: sum(1 for e in everything if e["type"] == t) for t in others}
    assert counted["vehicle_passed"] == (37, dt.datetime(2025, 3, 1, 8, 12, tzinfo=CST))
    assert set(fetched) <= read  # counting fetched no row


def test_cli_times_without_a_zone_are_the_city_profile_s_local_time(monkeypatch):
    from types import SimpleNamespace

    from safecity.orchestration import rules_cli

    profile = SimpleNamespace(city=SimpleNamespace(timezone="Asia/Kashgar"))  # UTC+6: not the Shanghai default
    monkeypatch.setattr(rules_cli, "_settings", lambda env, home: profile)
    start, end = rules_cli._period("2025-03-01T08:00", "2025-03-01T09:00+08:00", None, None)
    assert start.utcoffset() == dt.timedelta(hours=6) and start.tzinfo.key == "Asia/Kashgar"
    assert end.utcoffset() == dt.timedelta(hours=8)
