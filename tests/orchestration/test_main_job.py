"""The main job end to end on a simulated day, in a temporary SAFECITY_HOME: every layer checked against the
simulator's manifest and silver, and a second run (through the CLI) that changes nothing."""
import json
import os
from collections import Counter
import subprocess
import sys
from pathlib import Path

import pytest

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.ingestion.mapping import SOURCES_DIR
from safecity.orchestration.summary import render_text
from tests.orchestration.fingerprint import GOLDEN, differences, fingerprint
from tests.orchestration.ui_server import running_ui

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SAFECITY = str(Path(sys.executable).with_name("safecity"))


@pytest.fixture(scope="module")
def first_run(main_day):
    return main_day


def query(settings, sql):
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def snapshot_counts(settings):
    catalog = open_catalog(settings)
    return {".".join(t): len(catalog.load_table(t).snapshots())
            for ns in ("bronze", "silver", "quarantine", "ops") for t in catalog.list_tables(ns)}


def test_the_day_leaves_the_same_rows_reasons_marts_and_actions_as_the_golden_run(first_run):
    """Restructuring code must not change what the simulated day leaves: every bronze, silver, quarantine, ops and
    mart table's rows (an order-free digest without wall-clock columns), the quarantine's reasons and the outbox's
    actions equal tests/data/golden/main_day.json. A change meant to alter them regenerates it with
    `python -m tests.orchestration.fingerprint` and says in its commit which tables changed and why."""
    settings, _ = first_run
    changed = differences(json.loads(GOLDEN.read_text(encoding="utf-8")), fingerprint(settings))
    assert not changed, "the day's results changed:\n" + "\n".join(f"  {k}: {a} -> {b}" for k, (a, b) in changed.items())


def test_run_succeeds_with_every_check_passing_and_the_unassigned_calls_as_warnings(first_run):
    settings, summary = first_run
    assert summary.success, summary.failed_steps
    # The simulator's calls without a division or station warn (the "unassigned" bucket), and nothing else fails.
    assert any(f["kind"] == "unassigned" for f in manifest(settings)["faults"])
    assert summary.check_warnings == ["marts/fct_alarm_calls · assigned_fct_alarm_calls_branch_code",
                                      "marts/fct_alarm_calls · assigned_fct_alarm_calls_station_code"]
    assert summary.checks and all(passed for name, passed in summary.checks.items()
                                  if name not in summary.check_warnings)
    assert "silver/camera · reconciliation" in summary.checks
    assert "2 警告 / warnings" in render_text(summary)


# Which export kind of the simulator's manifest each source mapping reads.
KINDS = {"video_platform_catalog_csv": "catalog_csv", "video_platform_catalog_json": "catalog_json",
         "viid_motor_vehicles": "passes_json", "detector_registry_csv": "detector_registry_csv",
         "detector_flows_csv": "detector_flows_csv",
         "traffic_incidents_jsonl": "incidents_jsonl", "alarm_calls_csv": "calls_csv", "cases_csv": "cases_csv",
         "call_units_csv": "call_units_csv",
         "gb28181_device_status": "heartbeats_jsonl", "duty_rosters_csv": "duty_roster_csv",
         "maintenance_work_orders_csv": "work_orders_csv", "maintenance_budgets_csv": "budgets_csv",
         "data_access_logs_jsonl": "access_log_jsonl", "network_nodes_csv": "network_nodes_csv",
         "network_links_csv": "network_links_csv", "network_attachments_csv": "network_attachments_csv",
         "network_interface_status": "interface_status_jsonl", "network_interface_counters": "interface_counters_jsonl",
         "network_link_probes": "link_probes_jsonl"}


def manifest(settings) -> dict:
    return json.loads((settings.paths.landing / "manifest.json").read_text(encoding="utf-8"))


def test_the_simulated_day_lands_whole_in_bronze(first_run):
    settings, summary = first_run
    truth = manifest(settings)
    assert truth["start"] == "2026-07-15" and truth["clock"]
    received = {source: sum(f["records"] for f in truth["files"].values() if f["kind"] == kind)
                for source, kind in KINDS.items()}
    assert {s: summary.layers["bronze"][s] for s in KINDS} == received
    # Every source's tables exist from the first run on, empty until its data lands.
    assert set(summary.layers["bronze"]) == {p.stem for p in SOURCES_DIR.glob("*.yaml")}
    assert summary.layers["bronze"]["community_cameras_xlsx"] == 0


def test_quarantine_holds_exactly_the_injected_faults(first_run):
    settings, summary = first_run
    truth = manifest(settings)
    injected = Counter(f["reason"] for f in truth["faults"] if (f.get("reason") or "").startswith("E_"))
    # Detector faults are recorded per detector in the manifest; their rows are the E_RANGE occupancy rejections.
    faulty = {f["key"] for f in truth["faults"] if f.get("signature") == "impossible_occupancy"}
    detectors = query(settings, "SELECT DISTINCT json_extract_string(record, '$.\"检测器编号\"'), primary_reason "
                                "FROM quarantine.detector_flow")
    assert set(detectors) == {(d, "E_RANGE") for d in faulty}
    stored = Counter({code: entry["rows"] for code, entry in summary.quarantine_by_reason.items()})
    stored["E_RANGE"] -= summary.layers["quarantine"]["detector_flow"]
    assert +stored == injected
    assert summary.quarantine_by_reason["E_OUT_OF_AREA"]["name_zh"] == "不在本市辖区范围内"


def test_every_mart_of_the_project_is_built_and_the_inventory_matches_silver(first_run):
    settings, summary = first_run
    from safecity.transforms import PROJECT_DIR
    assert set(summary.marts) == {p.stem for p in (PROJECT_DIR / "models" / "marts").glob("*.sql")}
    inventory = query(settings, "SELECT sum(cameras) FROM marts.mart_camera_inventory")[0][0]
    latest = query(settings, "SELECT count(DISTINCT device_id) FROM silver.camera")[0][0]
    assert inventory == latest


def key_point_outages(settings) -> Counter:
    """How often each key-point camera went offline, from what the simulator injected (its manifest's outages, the
    camera's own, its recorder's and the network faults' above it, overlapping ones merged) and its exported catalog:
    nothing from silver."""
    from safecity.config.point_levels import load_point_levels
    truth = manifest(settings)
    [catalog] = [json.loads((settings.paths.landing / name).read_text(encoding="utf-8"))
                 for name, f in truth["files"].items() if f["kind"] == "catalog_json"]
    key = load_point_levels(settings.city.id).key
    outages: dict[str, list] = {}
    for fault in truth["faults"]:
        if fault["kind"] in ("camera_outage", "nvr_outage"):
            outages.setdefault(fault["key"], []).append((fault["start"], fault["end"]))
    for fault in truth["network_faults"]:  # not camera faults, but the cameras below were offline all the same
        for device in fault["cameras_affected"]:
            outages.setdefault(device, []).extend((s["from"][:19], s["to"][:19]) for s in fault["spans"])
    counts: Counter = Counter()
    for device in catalog["DeviceList"]:
        info = device.get("Info") or {}
        if info.get("UseType") not in key.use_type and info.get("PositionType") not in key.position_type:
            continue
        end = None
        for start, stop in sorted(outages.get(device["DeviceID"], []) + outages.get(device.get("ParentID"), [])):
            if end is None or start > end:
                counts[device["DeviceID"]] += 1
            end = stop if end is None else max(end, stop)
    return counts


def test_outbox_holds_the_policy_actions_with_their_matched_rows(first_run):
    settings, summary = first_run
    went_offline = key_point_outages(settings)
    assert summary.actions_by_policy.get("camera.key_point_offline") == sum(went_offline.values()) > 0
    rows = query(settings, "SELECT partition_key, matched_event_ids, message FROM ops.outbox "
                           "WHERE policy_id = 'camera.key_point_offline'")
    assert Counter(r[0] for r in rows) == went_offline
    # The matched event names the camera_health row (batch and line) that fired the policy.
    health = {r[0] for r in query(settings, "SELECT _batch_id || ':' || _line FROM silver.camera_health")}
    assert all(len(r[1]) == 1 and r[1][0] in health for r in rows)
    assert all("离线" in r[2] for r in rows)


def test_second_run_through_the_cli_changes_nothing(first_run):
    settings, first = first_run
    before = snapshot_counts(settings)
    env = {**os.environ, "SAFECITY_HOME": str(settings.paths.home)}
    completed = subprocess.run([SAFECITY, "run", "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout)
    assert summary["success"] is True
    for layer in ("bronze", "silver", "quarantine"):
        stored = {t: n for t, n in first.layers[layer].items() if not t.startswith("camera_")}
        assert {t: summary["layers"][layer][t] for t in stored} == stored
    assert summary["actions_by_policy"] == first.actions_by_policy
    # Ingestion adds no snapshot; only the derived camera-state tables are recomputed.
    after = snapshot_counts(settings)
    changed = {t for t in before if after[t] != before[t]}
    assert changed <= {"silver.camera_state", "silver.camera_state_change", "silver.camera_health",
                       "silver.camera_down"}


def test_dbt_unit_tests_pass_against_the_built_warehouse(first_run):
    settings, _ = first_run
    from safecity.orchestration.resources import dbt_project, dbt_resource
    from safecity.transforms.dbt_vars import dbt_vars
    # With the safecity vars, as every dbt invocation gets them: the congestion mart's unit tests grade with the
    # rendered index and grade expressions (standards/congestion.py), which no unit test should carry a copy of.
    invocation = dbt_resource(dbt_project(settings)).cli(
        ["test", "--select", "test_type:unit", "--vars", json.dumps(dbt_vars(settings), ensure_ascii=False)],
        raise_on_error=False, target_path=settings.paths.dbt_target)
    assert invocation.wait().is_successful()
    results = json.loads((settings.paths.dbt_target / "run_results.json").read_text())["results"]
    assert results and all(r["status"] == "pass" for r in results)


def test_ui_serves_the_graph_and_the_runs_of_the_main_job(first_run):
    settings, summary = first_run
    with running_ui(settings.paths.home) as ui:
        nodes = ui.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
        assets = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert {"bronze/video_platform_catalog_csv", "silver/camera", "quarantine/camera", "silver/vehicle_pass",
                "silver/camera_state", "marts/mart_camera_inventory", "ops/outbox"} <= assets
        runs = ui.graphql("{ runsOrError { ... on Runs { results { runId status } } } }")["runsOrError"]["results"]
        assert {"runId": summary.run_id, "status": "SUCCESS"} in runs


def test_html_report_draws_every_camera_hotspot_and_district(first_run):
    settings, summary = first_run
    assert summary.where_next["report"].startswith(str(settings.paths.reports / "main_job.html"))
    page = (settings.paths.reports / "main_job.html").read_text(encoding="utf-8")
    cameras = query(settings, "SELECT count(*) FROM silver.camera_state s JOIN (SELECT DISTINCT device_id FROM "
                              "silver.camera WHERE longitude IS NOT NULL) USING (device_id)")[0][0]
    hotspots = query(settings, "SELECT count(*) FROM (SELECT DISTINCT centre_longitude, centre_latitude "
                               "FROM marts.mart_alarm_hotspots)")[0][0]
    assert page.count('r="2.6"') == cameras > 0
    assert page.count("起警情 calls</title>") == hotspots > 0
    # Every key place of the city profile, coloured by its coverage as the mart says.
    from safecity.transforms.dbt_vars import load_key_places
    places = load_key_places(settings.city)
    marked = query(settings, "SELECT place_name_zh, is_covered, is_covered_online FROM marts.mart_key_place_coverage")
    assert page.count("<title>重点场所 ") == len(places) == len(marked) > 0
    for name, covered, online in marked:
        label = "在线覆盖" if online else "覆盖摄像机离线" if covered else "未覆盖"
        assert f"<title>重点场所 {name}: {label} " in page
    districts = query(settings, "SELECT count(DISTINCT division_code) FROM marts.mart_scorecard_district "
                                   "WHERE NOT is_unassigned")[0][0]
    assert page.count(" 分</text>") == districts == len(settings.city.divisions)
    unassigned = query(settings, "SELECT max(calls) FROM marts.mart_scorecard_district WHERE is_unassigned")[0][0]
    assert unassigned and f"未分配区县的警情 {unassigned} 起" in page
    for name in ("城市概览", "交通拥堵指数", "信息化建设评分", "隔离原因", "策略动作"):
        assert name in page
