"""The batch asset ops/outbox through Dagster on silver Iceberg tables: its health checks (rule errors, unhandled
events, set-aside policy versions in ops.policy_set_aside, delivery backlog)."""
import datetime as dt
import functools
import json

import dagster as dg
import pyarrow as pa
import pytest

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import ensure_table, open_catalog, publish_views
from safecity.orchestration.defs.rules import assets
from safecity.orchestration.resources import SafeCityResource
from safecity.rules.executor import LEDGER_PATH, Ledger
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.worker import CrashDrill, evaluate_supervised

CST = dt.timezone(dt.timedelta(hours=8))
REPAIR = "security.camera_repair_deadline"
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)

HEALTH = pa.schema([("camera_id", pa.string()), ("status", pa.string()), ("offline_minutes", pa.int64()),
                    ("grid_id", pa.string()), ("point_level", pa.string()), ("division_code", pa.string()),
                    ("reason_code", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                    ("_batch_id", pa.string()), ("_line", pa.int64())])


def camera_health(minute, line, camera, status, minutes, level, batch="health"):
    return {"camera_id": camera, "status": status, "offline_minutes": minutes, "grid_id": "G0712",
            "point_level": level, "division_code": "130302", "reason_code": None if status == "online" else "offline",
            "ts": T0 + dt.timedelta(minutes=minute), "_batch_id": batch, "_line": line}


def write_silver(settings, name, schema, rows):
    catalog = open_catalog(settings)
    table = ensure_table(catalog, f"silver.{name}", schema)
    table.append(pa.Table.from_pylist(rows, schema=schema))
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))


def materialize(settings, **config):
    resources = {"safecity": SafeCityResource(environment="local", home=str(settings.paths.home))}
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
    assert set(checks) == {"rule_errors", "unhandled_events", "policies_set_aside", "outbox_backlog"}
    assert checks["rule_errors"].passed and checks["policies_set_aside"].passed
    unhandled = checks["unhandled_events"]
    # Only the repair table reads camera_health; the three rows it has no order for are unhandled.
    assert unhandled.passed and unhandled.metadata["unhandled_by_type"].value == {"camera_health": 3}
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
    monkeypatch.setattr(assets, "evaluate_supervised", functools.partial(evaluate_supervised, drill=drill))
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
