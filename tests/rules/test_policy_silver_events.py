"""Derived events and facts from silver (camera_health, camera_down, incident_reported): read with their row ids,
in event-time order, facts asserted, and the camera policies fire on them. Expectations come from SQL over the
same tables, not from the engine."""
import datetime as dt

import duckdb
import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.events import fact_types, silver_events
from safecity.rules.loader import load_policies

BLIND_SPOT = "command.blind_spot_incident"
REPAIR = "security.camera_repair_deadline"
# The repair table (camera_repair_deadline.xlsx) written out again as SQL: point level -> (minutes, SLA hours).
REPAIR_SQL = """
    SELECT _batch_id || ':' || _line AS id, camera_id,
           CASE point_level WHEN 'key' THEN 4 WHEN 'important' THEN 24 ELSE 72 END AS sla_hours
    FROM silver.camera_health
    WHERE status = 'offline' AND NOT network_caused
      AND offline_minutes >= CASE point_level WHEN 'key' THEN 30 WHEN 'important' THEN 120 WHEN 'normal' THEN 1440 END"""
# An incident joins the camera_down facts of its cell that were true when it was reported.
BLIND_SPOT_SQL = """
    SELECT i._batch_id || ':' || i._line AS incident, d._batch_id || ':' || d._line AS fact
    FROM silver.incident_reported i JOIN silver.camera_down d USING (grid_id)
    WHERE d.since <= i.ts AND i.category IN ('010000', '020000', '030000')"""


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA silver")
    con.execute("""CREATE TABLE silver.camera_health (camera_id VARCHAR, status VARCHAR, offline_minutes BIGINT,
                   grid_id VARCHAR, point_level VARCHAR, division_code VARCHAR, reason_code VARCHAR,
                   ts TIMESTAMPTZ, cause_element_type VARCHAR, cause_element_id VARCHAR, cause_contractor VARCHAR,
                   network_caused BOOLEAN, _batch_id VARCHAR, _line BIGINT)""")
    # Camera 1 offline on its own (its contractor known), 2 because the link above is down, 5 of unknown cause.
    con.execute("""INSERT INTO silver.camera_health VALUES
        ('13030200001320000001', 'offline', 45, 'G0712', 'key', '130302', 'offline',
         '2025-03-01 08:10:00+08', 'camera', '13030200001320000001', '海港视频运维', false,
         'camera_state:13030200001320000001', 1740787800),
        ('13030200001320000002', 'offline', 180, 'G0713', 'important', '130302', 'offline',
         '2025-03-01 08:05:00+08', 'link', 'LNKS1', '联通政企运维部', true,
         'camera_state:13030200001320000002', 1740787500),
        ('13030200001320000005', 'offline', 150, 'G0713', 'important', '130302', 'offline',
         '2025-03-01 08:05:00+08', NULL, NULL, NULL, false, 'camera_state:13030200001320000005', 1740787500),
        ('13030200001320000003', 'offline', 180, 'G0714', 'normal', '130302', 'offline',
         '2025-03-01 08:00:00+08', NULL, NULL, NULL, false, 'camera_state:13030200001320000003', 1740787200),
        ('13030200001320000004', 'degraded', 0, 'G0712', 'key', '130302', 'blur',
         '2025-03-01 07:30:00+08', NULL, NULL, NULL, false,
         'camera_state_change:13030200001320000004', 1740785400),
        ('13030200001320000001', 'offline', 0, 'G0712', 'key', '130302', 'offline',
         '2025-03-01 07:25:00+08', 'camera', '13030200001320000001', '海港视频运维', false,
         'camera_state_change:13030200001320000001', 1740785100)""")
    con.execute("""CREATE TABLE silver.camera_down (camera_id VARCHAR, grid_id VARCHAR, point_level VARCHAR,
                   division_code VARCHAR, since TIMESTAMPTZ, reason_code VARCHAR, _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.camera_down VALUES
        ('13030200001320000001', 'G0712', 'key', '130302', '2025-03-01 07:25:00+08', 'offline',
         'camera_down:13030200001320000001', 1740785100)""")
    con.execute("""CREATE TABLE silver.incident_reported (incident_id VARCHAR, category VARCHAR, grid_id VARCHAR,
                   ts TIMESTAMPTZ, _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.incident_reported VALUES
        ('I1', '010000', 'G0712', '2025-03-01 09:00:00+08', 'inc', 1),
        ('I2', '010000', 'G0713', '2025-03-01 09:00:00+08', 'inc', 2),
        ('I3', '020000', 'G0712', '2025-03-01 06:00:00+08', 'inc', 3),
        ('I4', '050000', 'G0712', '2025-03-01 09:30:00+08', 'inc', 4)""")
    return con


def test_derived_tables_are_read_with_row_ids_in_event_time_order(con, catalogue):
    events = silver_events(con, catalogue)
    expected = con.execute("""
        SELECT id, type FROM (
          SELECT _batch_id || ':' || _line AS id, 'camera_health' AS type, ts AS t FROM silver.camera_health
          UNION ALL SELECT _batch_id || ':' || _line, 'camera_down', since FROM silver.camera_down
          UNION ALL SELECT _batch_id || ':' || _line, 'incident_reported', ts FROM silver.incident_reported)
        ORDER BY t, type""").fetchall()
    assert [(e["id"], e["type"]) for e in events] == expected
    assert not any(k.startswith("_") for e in events for k in e)
    first = next(e for e in events if e["id"] == "camera_state:13030200001320000002:1740787500")
    assert first == {"type": "camera_health", "id": "camera_state:13030200001320000002:1740787500",
                     "camera_id": "13030200001320000002", "status": "offline", "offline_minutes": 180,
                     "grid_id": "G0713", "point_level": "important", "division_code": "130302",
                     "reason_code": "offline", "cause_element_type": "link", "cause_element_id": "LNKS1",
                     "cause_contractor": "联通政企运维部", "network_caused": True, "ts": first["ts"]}
    # The text's zone is the session's; the instant is what windows and ordering use.
    assert dt.datetime.fromisoformat(first["ts"]) == dt.datetime.fromisoformat("2025-03-01T08:05:00+08:00")


def test_a_fact_before_the_period_is_still_read_and_events_before_it_are_not(con, catalogue):
    start = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    events = silver_events(con, catalogue, start=start, facts={"camera_down"})
    ids = [e["id"] for e in events]
    assert "camera_down:13030200001320000001:1740785100" == ids[0]  # since 07:25, before the period
    assert "inc:3" not in ids and "camera_state_change:13030200001320000004:1740785400" not in ids
    assert "camera_down:13030200001320000001:1740785100" not in [e["id"] for e in silver_events(con, catalogue,
                                                                                                start=start)]


def test_camera_policies_fire_on_silver_events_and_facts(con, catalogue):
    policies = load_policies()
    assert "camera_down" in fact_types(policies)
    events = silver_events(con, catalogue, facts=fact_types(policies))
    result = evaluate(policies, events, clock=EVENT_TIME, catalogue=catalogue)
    assert result.errors == [] and result.rejected == []
    repairs = sorted((r.matched_event_ids[0], r.params["device_id"], r.params["sla_hours"])
                     for r in result.outbox if r.policy_id == REPAIR)
    assert repairs == sorted(con.execute(REPAIR_SQL).fetchall()) and len(repairs) == 2
    # The link's outage is the network's order; the device's own names its contractor, an unknown cause nobody.
    assert {r.params["device_id"]: r.params.get("assignee") for r in result.outbox if r.policy_id == REPAIR} == {
        "13030200001320000001": "海港视频运维", "13030200001320000005": None}
    fired = sorted(tuple(sorted(r.matched_event_ids)) for r in result.outbox
                   if r.policy_id == BLIND_SPOT and r.action == "dispatch_order")
    assert fired == sorted(tuple(sorted(pair)) for pair in con.execute(BLIND_SPOT_SQL).fetchall())
    assert fired == [("camera_down:13030200001320000001:1740785100", "inc:1")]


def test_a_table_without_row_ids_is_not_read(con, catalogue):
    con.execute("CREATE TABLE silver.incident_closed (incident_id VARCHAR, ts TIMESTAMPTZ)")
    con.execute("INSERT INTO silver.incident_closed VALUES ('I1', '2025-03-01 10:00:00+08')")
    assert not [e for e in silver_events(con, catalogue) if e["type"] == "incident_closed"]


def test_a_call_delivered_again_is_one_received_event_named_by_its_call_number(catalogue):
    """The call-taking system delivers a call when received and again when closed (two versions in silver): the
    dispatch table sees it received once, with the id a live system would give it, whichever delivery came first."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA silver")
    con.execute("""CREATE TABLE silver.alarm_call (call_id VARCHAR, received_at TIMESTAMPTZ, category VARCHAR,
                   alarm_priority VARCHAR, status VARCHAR, closed_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
                   address VARCHAR, _ingested_at TIMESTAMPTZ, _batch_id VARCHAR, _line BIGINT)""")
    con.execute("""INSERT INTO silver.alarm_call VALUES
        ('J1', '2025-03-01 08:00:00+08', '010000', '1', 'closed', '2025-03-01 09:00:00+08', '2025-03-01 09:00:00+08',
         '文化路1号', '2025-03-01 09:05:00+08', 'late-delivery', 1),
        ('J1', '2025-03-01 08:00:00+08', '010000', '2', 'received', NULL, '2025-03-01 08:00:10+08',
         '文化路1号', '2025-03-01 09:05:00+08', 'late-delivery', 2),
        ('J2', '2025-03-01 08:30:00+08', '010000', '3', 'dispatched', NULL, '2025-03-01 08:35:00+08',
         '文化路2号', '2025-03-01 08:40:00+08', 'early', 7)""")
    events = list(silver_events(con, catalogue, only={"alarm_received"}))
    assert [(e["id"], e["status"], e["alarm_priority"], "closed_at" in e) for e in events] == [
        ("alarm_received:J1", "received", "2", False), ("alarm_received:J2", "received", "3", False)]
    dispatch = [p for p in load_policies() if p.id == "command.alarm_dispatch"]
    result = evaluate(dispatch, events, clock=EVENT_TIME)
    assert sorted(r.matched_event_ids for r in result.outbox) == [["alarm_received:J1"], ["alarm_received:J2"]]
