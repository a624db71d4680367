"""The batch asset ops/outbox through Dagster on silver Iceberg tables: its health checks (rule errors, unhandled
events, set-aside policy versions in ops.policy_set_aside, delivery backlog)."""
import datetime as dt
import functools
import json

import dagster as dg
import pyarrow as pa
import pytest

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import ensure_table, open_catalog
from safecity.lakehouse.views import publish_views
from safecity.orchestration.defs.rules import assets
from safecity.orchestration.resources import platform_resources
from safecity.rules import batch
from safecity.rules.executor import LEDGER_PATH, Ledger
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.worker import CrashDrill, evaluate_supervised

CST = dt.timezone(dt.timedelta(hours=8))
REPAIR = "security.camera_repair_deadline"
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)

HEALTH = pa.schema([("camera_id", pa.string()), ("status", pa.string()), ("offline_minutes", pa.int64()),
                    ("grid_id", pa.string()), ("point_level", pa.string()), ("division_code", pa.string()),
                    ("reason_code", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                    ("network_caused", pa.bool_()), ("_batch_id", pa.string()), ("_line", pa.int64())])


def camera_health(minute, line, camera, status, minutes, level, batch="health"):
    return {"camera_id": camera, "status": status, "offline_minutes": minutes, "grid_id": "G0712",
            "point_level": level, "division_code": "130302", "reason_code": None if status == "online" else "offline",
            "ts": T0 + dt.timedelta(minutes=minute), "network_caused": False, "_batch_id": batch, "_line": line}


def write_silver(settings, name, schema, rows):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, f"silver.{name}", schema)
    table.append(pa.Table.from_pylist(rows, schema=schema))
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))


def materialize(settings, **config):
    resources = platform_resources("local", str(settings.paths.home))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([assets.policy_outbox], resources=resources, instance=instance,
                                run_config={"ops": {"ops__outbox": {"config": config}}} if config else None)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    [materialization] = result.asset_materializations_for_node("ops__outbox")
    return materialization.metadata, checks


HEALTH_ROWS = [
    camera_health(0, 1, "13030200001320000001", "offline", 45, "key"),  # 4 h repair order
    camera_health(1, 2, "13030200001310000002", "offline", 180, "important"),  # 24 h
    camera_health(2, 3, "13030200001180000003", "offline", 180, "normal"),  # waits: unhandled
    camera_health(3, 4, "13030200001320000004", "degraded", 0, "key"),  # not offline: unhandled
    camera_health(4, 5, "13030200001320000005", "online", 0, "key"),  # unhandled
]


def test_health_checks_pass_on_a_clean_run_and_report_unhandled_events(settings):
    write_silver(settings, "camera_health", HEALTH, HEALTH_ROWS)
    metadata, checks = materialize(settings)
    assert metadata["actions_new"].value == 2
    # Each policy in plain words with the actions it fired in this run (issue 19): the repair table fired twice.
    page = metadata["policy/security.camera_repair_deadline"].value
    assert "**本次触发的动作 / Actions fired in this run: 2**" in page and "- create_work_order: 2" in page
    assert "Actions fired in this run: 0" in metadata["policy/emergency.incident_escalation"].value
    assert set(checks) == {"rule_errors", "unhandled_events", "policies_set_aside", "outbox_backlog"}
    assert checks["rule_errors"].passed and checks["policies_set_aside"].passed
    unhandled = checks["unhandled_events"]
    # Two policies read camera_health: the repair table has no order for three rows, and the key-point chart alerts
    # on none of the five (no key-point camera turns offline here: the offline key row is 45 minutes into it).
    assert unhandled.passed and unhandled.metadata["unhandled_by_type"].value == {"camera_health": 3 + 5}
    backlog = checks["outbox_backlog"]
    assert backlog.passed and backlog.metadata["undelivered"].value == -1  # no ledger: no executor here

    # One record delivered, the other not: a backlog of 1, above a threshold of 0.
    keys = open_catalog(settings).load_table("ops.outbox").scan().to_arrow().column("idempotency_key").to_pylist()
    Ledger(settings.paths.home / LEDGER_PATH).add("ops_center", keys[0])
    _, checks = materialize(settings, backlog_warn=0)
    backlog = checks["outbox_backlog"]
    assert not backlog.passed and backlog.severity == dg.AssetCheckSeverity.WARN
    assert backlog.metadata["undelivered"].value == 1 and backlog.metadata["outbox_records"].value == 2
    _, checks = materialize(settings, backlog_warn=1)
    assert checks["outbox_backlog"].passed


def test_a_policy_that_crashes_the_worker_is_set_aside_recorded_and_fails_its_check(settings, monkeypatch):
    write_silver(settings, "camera_health", HEALTH, HEALTH_ROWS)
    drill = CrashDrill(REPAIR, "health:2")  # a real SIGSEGV whenever the repair table is about to see this event
    monkeypatch.setattr(batch, "evaluate_supervised", functools.partial(evaluate_supervised, drill=drill))
    metadata, checks = materialize(settings)
    assert metadata["actions_new"].value == 0
    failed = checks["policies_set_aside"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    errors = checks["rule_errors"]
    assert not errors.passed and errors.severity == dg.AssetCheckSeverity.WARN
    assert errors.metadata["by_code"].value == {"E_WORKER_CRASH": 2}
    shipped = load_policy(POLICIES_DIR / "security" / "camera_repair_deadline.yaml")
    rows = open_catalog(settings).load_table("ops.policy_set_aside").scan().to_arrow().to_pylist()
    assert [(r["policy_id"], r["policy_version"], r["policy_file_sha256"], r["crashes"], r["exit_code"],
             r["event_id"]) for r in rows] == [(REPAIR, shipped.version, shipped.sha256, 2, -11, "health:2")]
    assert json.loads(json.dumps(failed.metadata["set_aside"].value))[0]["policy_id"] == REPAIR



PASSES = pa.schema([("motor_vehicle_id", pa.string()), ("plate_no", pa.string()),
                    ("pass_time", pa.timestamp("us", tz="UTC")), ("_batch_id", pa.string()), ("_line", pa.int64())])


def test_types_no_policy_reads_are_counted_as_unrouted_and_never_fetched(settings, monkeypatch):
    from safecity.rules import events as events_module

    fetched: set[str] = set()
    reader = events_module.SilverType.rows

    def spy(self, *args, **kwargs):
        fetched.add(self.name)
        return reader(self, *args, **kwargs)
    monkeypatch.setattr(events_module.SilverType, "rows", spy)
    write_silver(settings, "camera_health", HEALTH, HEALTH_ROWS)
    write_silver(settings, "vehicle_pass", PASSES, [
        {"motor_vehicle_id": f"V{i}", "plate_no": f"冀C1000{i}", "pass_time": T0 + dt.timedelta(minutes=10 * i),
         "_batch_id": "passes", "_line": i} for i in range(3)])
    metadata, checks = materialize(settings)
    assert "vehicle_passed" not in fetched and "camera_health" in fetched
    assert metadata["events_by_type"].value == {"camera_health": len(HEALTH_ROWS)}
    assert metadata["events_counted_not_evaluated"].value == {"vehicle_passed": 3}
    assert checks["unhandled_events"].metadata["unrouted_by_type"].value == {"vehicle_passed": 3}
    # Counted events still move the watermark: the next run counts from there on (its start is inclusive).
    assert metadata["watermark"].value == (T0 + dt.timedelta(minutes=20)).isoformat()
    again, _ = materialize(settings)
    assert again["events_counted_not_evaluated"].value == {"vehicle_passed": 1}

# -- watermark: two runs over growing silver against one run over everything -------------------------------------
DOWN = pa.schema([("camera_id", pa.string()), ("grid_id", pa.string()), ("since", pa.timestamp("us", tz="UTC")),
                  ("_batch_id", pa.string()), ("_line", pa.int64())])
INCIDENT = pa.schema([("incident_id", pa.string()), ("category", pa.string()), ("grid_id", pa.string()),
                      ("ts", pa.timestamp("us", tz="UTC")), ("_batch_id", pa.string()), ("_line", pa.int64())])
READING = pa.schema([("junction_id", pa.string()), ("congestion_index", pa.float64()),
                     ("ts", pa.timestamp("us", tz="UTC")), ("_batch_id", pa.string()), ("_line", pa.int64())])


def at(hour, minute):
    return dt.datetime(2025, 3, 1, hour, minute, tzinfo=CST)


def reading(junction, when, line, batch):
    return {"junction_id": junction, "congestion_index": 9.0, "ts": when, "_batch_id": batch, "_line": line}


FIRST = {
    "camera_health": (HEALTH, HEALTH_ROWS),
    "camera_down": (DOWN, [{"camera_id": "13030200001320000001", "grid_id": "G0712", "since": at(7, 0),
                            "_batch_id": "down", "_line": 1}]),
    "incident_reported": (INCIDENT, [{"incident_id": "I1", "category": "010000", "grid_id": "G0712",
                                      "ts": at(8, 30), "_batch_id": "inc1", "_line": 1}]),
    # J2 fires in the first run; J1's first two readings wait for a third that arrives with the second run.
    "congestion_reading": (READING, [reading("J2", at(8, 10), 1, "r1"), reading("J2", at(8, 12), 2, "r1"),
                                     reading("J2", at(8, 14), 3, "r1"), reading("J1", at(8, 50), 4, "r1"),
                                     reading("J1", at(8, 55), 5, "r1"),
                                     # J3 fires with 08:38-08:44 and leaves 08:47 waiting; the second run reads it
                                     # from 08:40 and pairs 08:41-08:47, an action before the watermark that one
                                     # run over everything never takes: it must not be written.
                                     reading("J3", at(8, 38), 6, "r1"), reading("J3", at(8, 41), 7, "r1"),
                                     reading("J3", at(8, 44), 8, "r1"), reading("J3", at(8, 47), 9, "r1")]),
}
SECOND = {
    "camera_health": (HEALTH, [camera_health(70, 1, "13030200001320000009", "offline", 40, "key", "health2"),
                               camera_health(71, 2, "13030200001320000010", "online", 0, "key", "health2")]),
    "incident_reported": (INCIDENT, [{"incident_id": "I2", "category": "010000", "grid_id": "G0712",
                                      "ts": at(9, 30), "_batch_id": "inc2", "_line": 1}]),
    "congestion_reading": (READING, [reading("J1", at(9, 2), 1, "r2")]),
}


def outbox_keys(settings):
    rows = open_catalog(settings).load_table("ops.outbox").scan().to_arrow().to_pylist()
    return [r["idempotency_key"] for r in rows], rows


def test_second_run_evaluates_fewer_events_and_both_runs_equal_one_run_over_everything(settings, tmp_path):
    from safecity.config.profiles import load_settings
    from safecity.rules.batch import WATERMARK_PROPERTY

    for name, (schema, rows) in FIRST.items():
        write_silver(settings, name, schema, rows)
    first, _ = materialize(settings)
    first_keys, _ = outbox_keys(settings)
    assert first["watermark"].value == at(8, 55).isoformat() and first["previous_watermark"].value == ""
    for name, (schema, rows) in SECOND.items():
        write_silver(settings, name, schema, rows)
    second, _ = materialize(settings)
    keys, rows = outbox_keys(settings)

    everything = load_settings("local", tmp_path / "everything")
    for name in FIRST:
        write_silver(everything, name, FIRST[name][0], FIRST[name][1] + SECOND.get(name, (None, []))[1])
    once, _ = materialize(everything)
    once_keys, once_rows = outbox_keys(everything)

    total = sum(len(rows) for _, rows in FIRST.values()) + sum(len(rows) for _, rows in SECOND.values())
    assert once["events_evaluated"].value == total
    # The second run reads the new rows, the camera_down fact, the readings within 15 minutes (the window) of
    # 08:40 (the watermark 08:55 less the allowed lateness, 15 minutes): J1's three, J3's four; and both incidents
    # (the escalation chart reads incident_reported over its idle time, 7 days).
    assert second["events_by_type"].value == {"camera_health": 2, "camera_down": 1, "incident_reported": 2,
                                              "congestion_reading": 7}
    assert second["events_evaluated"].value == 12 < total
    assert second["late_events_by_type"].value == {} and second["late_arrivals_known"].value is True
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(once_keys)
    assert len(first_keys) < len(keys)  # the second run wrote something: the J1 window, I2, the new camera
    fired = {(r["policy_id"], tuple(r["matched_event_ids"])) for r in rows}
    assert ("command.junction_congestion", ("r1:4", "r1:5", "r2:1")) in fired
    assert ("command.blind_spot_incident", ("down:1", "inc2:1")) in fired
    assert ("command.junction_congestion", ("r1:6", "r1:7", "r1:8")) in fired
    assert not any(ids == ("r1:7", "r1:8", "r1:9") for _, ids in fired)
    assert fired == {(r["policy_id"], tuple(r["matched_event_ids"])) for r in once_rows}

    # The watermark is in the outbox commit that wrote the actions: the latest event time in silver.
    outbox = open_catalog(settings).load_table("ops.outbox")
    assert outbox.current_snapshot().summary[WATERMARK_PROPERTY] == at(9, 30).isoformat()
    third, _ = materialize(settings)  # nothing new: no commit, nothing written
    assert third["actions_new"].value == 0
    assert open_catalog(settings).load_table("ops.outbox").current_snapshot().snapshot_id == \
        outbox.current_snapshot().snapshot_id


# -- allowed lateness (issue 18): events reaching silver after the watermark passed them ---------------------------
def test_late_event_within_the_allowed_lateness_fires_once_one_beyond_is_counted_and_kept(settings):
    from safecity.rules.lateness import LATE_EVENTS_TABLE

    # The last row (11:00, online) moves the watermark to 11:00.
    write_silver(settings, "camera_health", HEALTH, HEALTH_ROWS + [
        camera_health(180, 6, "13030200001320000006", "online", 0, "key")])
    first, _ = materialize(settings)
    assert first["watermark"].value == (T0 + dt.timedelta(minutes=180)).isoformat()
    before, _ = outbox_keys(settings)
    # Two key cameras offline for 45 minutes reach silver now: one 5 minutes before the watermark (within the site's
    # allowed lateness, 15 minutes by default), one 2 hours before it (beyond).
    write_silver(settings, "camera_health", HEALTH, [
        camera_health(175, 1, "13030200001320000011", "offline", 45, "key", "late"),
        camera_health(60, 2, "13030200001320000012", "offline", 45, "key", "late")])
    second, _ = materialize(settings)
    keys, rows = outbox_keys(settings)
    repairs = [r for r in rows if r["policy_id"] == REPAIR]
    assert [r["matched_event_ids"] for r in repairs if "late:1" in r["matched_event_ids"]] == [["late:1"]]
    assert not any("late:2" in r["matched_event_ids"] for r in rows)
    assert second["actions_new"].value == len(keys) - len(before) >= 1
    assert second["late_events_evaluated_by_type"].value == {"camera_health": 1}
    assert second["late_events_by_type"].value == {"camera_health": 1}
    assert second["allowed_lateness_seconds"].value == 900 and second["late_arrivals_known"].value is True
    kept = open_catalog(settings).load_table(LATE_EVENTS_TABLE).scan().to_arrow().to_pylist()
    assert [(r["event_type"], r["event_id"], r["event_time"], r["clock"], r["lateness_seconds"], r["mode"])
            for r in kept] == [("camera_health", "late:2", T0 + dt.timedelta(minutes=60),
                                T0 + dt.timedelta(minutes=180), 900, "batch")]
    assert "7200 s before the clock" in kept[0]["reason"] and "未评估" in kept[0]["reason"]
    assert second["watermark"].value == first["watermark"].value  # late events never move it back or forth

    third, _ = materialize(settings)  # nothing arrived since: nothing fires again, nothing is judged late again
    assert third["actions_new"].value == 0 and third["late_events_by_type"].value == {}
    assert third["late_events_evaluated_by_type"].value == {}
    assert outbox_keys(settings)[0] == keys
    assert open_catalog(settings).load_table(LATE_EVENTS_TABLE).scan().to_arrow().num_rows == 1


def test_an_event_beyond_the_lateness_takes_no_part_in_windows_then_or_in_later_runs(settings):
    from safecity.rules.lateness import LATE_EVENTS_TABLE

    # J9 has one reading at 10:40; J8's at 11:00 moves the watermark there.
    write_silver(settings, "congestion_reading", READING, [reading("J9", at(10, 40), 1, "r1"),
                                                           reading("J8", at(11, 0), 2, "r1")])
    materialize(settings)
    # 10:42 is 18 minutes behind the watermark (beyond 15), 10:50 is 10 minutes behind (within): with 10:42 the
    # window would hold three readings in 10 minutes and fire.
    write_silver(settings, "congestion_reading", READING, [reading("J9", at(10, 42), 1, "late"),
                                                           reading("J9", at(10, 50), 2, "late")])
    second, _ = materialize(settings)
    assert second["late_events_by_type"].value == {"congestion_reading": 1}
    assert second["late_events_evaluated_by_type"].value == {"congestion_reading": 1}
    assert not [r for r in outbox_keys(settings)[1] if r["policy_id"] == "command.junction_congestion"]
    # 10:55 arrives within the lateness: 10:40, 10:50, 10:55 fire; the kept 10:42 stays out of this run too.
    write_silver(settings, "congestion_reading", READING, [reading("J9", at(10, 55), 1, "late3")])
    third, _ = materialize(settings)
    fired = [r["matched_event_ids"] for r in outbox_keys(settings)[1] if r["policy_id"] == "command.junction_congestion"]
    assert fired and all(ids == ["late3:1", "late:2", "r1:1"] for ids in fired)
    assert third["late_events_by_type"].value == {}
    kept = open_catalog(settings).load_table(LATE_EVENTS_TABLE).scan().to_arrow().column("event_id").to_pylist()
    assert kept == ["late:1"]


CALLS = pa.schema([("call_id", pa.string()), ("received_at", pa.timestamp("us", tz="UTC")),
                   ("category", pa.string()), ("alarm_priority", pa.string()), ("status", pa.string()),
                   ("address", pa.string()), ("updated_at", pa.timestamp("us", tz="UTC")), ("_ingested_at", pa.timestamp("us", tz="UTC")),
                   ("_batch_id", pa.string()), ("_line", pa.int64())])


def call(call_id, status, updated_minute, batch, line):
    return {"call_id": call_id, "received_at": T0, "category": "010000", "alarm_priority": "1", "status": status,
            "address": "海港区文化路1号",
            "updated_at": T0 + dt.timedelta(minutes=updated_minute), "_ingested_at": T0 + dt.timedelta(hours=4),
            "_batch_id": batch, "_line": line}


def test_a_new_version_of_a_call_already_read_is_no_late_arrival_a_new_call_is(settings):
    """The call-taking system re-exports J1 once closed (a new silver row of a call the last run read): the event is
    the call's receipt, already evaluated, so nothing is judged late and nothing fires; J2, a call never seen before
    with the same old receipt time, is an arrival beyond the lateness, kept under its subject id."""
    from safecity.rules.lateness import LATE_EVENTS_TABLE

    write_silver(settings, "camera_health", HEALTH, HEALTH_ROWS + [
        camera_health(180, 6, "13030200001320000006", "online", 0, "key")])
    write_silver(settings, "alarm_call", CALLS, [call("J1", "received", 0, "calls1", 1)])
    first, _ = materialize(settings)
    keys, rows = outbox_keys(settings)
    assert [r["matched_event_ids"] for r in rows if r["policy_id"] == "command.alarm_dispatch"] == [
        ["alarm_received:J1"]]
    write_silver(settings, "alarm_call", CALLS, [call("J1", "closed", 90, "calls2", 1),
                                                 call("J2", "closed", 90, "calls2", 2)])
    second, _ = materialize(settings)
    assert second["late_events_by_type"].value == {"alarm_received": 1}
    assert second["actions_new"].value == 0 and outbox_keys(settings)[0] == keys
    kept = open_catalog(settings).load_table(LATE_EVENTS_TABLE).scan().to_arrow().to_pylist()
    assert [(r["event_type"], r["event_id"]) for r in kept] == [("alarm_received", "alarm_received:J2")]
