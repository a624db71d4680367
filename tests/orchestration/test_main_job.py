"""The thin slice end to end, in a temporary SAFECITY_HOME: exact counts in every layer, and a second run
(through the CLI) that changes nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import open_catalog
from safecity.config.profiles import load_settings
from safecity.ingestion.mapping import SOURCES_DIR
from safecity.orchestration.main_job import run_main_job

pytestmark = pytest.mark.integration
SAFECITY = str(Path(sys.executable).with_name("safecity"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    settings = load_settings("local", tmp_path_factory.mktemp("slice") / "home")
    summary = run_main_job(settings)
    return settings, summary


def query(settings, sql):
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def snapshot_counts(settings):
    catalog = open_catalog(settings)
    return {".".join(t): len(catalog.load_table(t).snapshots())
            for ns in ("bronze", "silver", "quarantine", "ops") for t in catalog.list_tables(ns)}


def test_run_succeeds_with_every_check_passing(first_run):
    _, summary = first_run
    assert summary.success, summary.failed_steps
    assert summary.checks and all(summary.checks.values())
    assert "silver/camera · reconciliation" in summary.checks


def test_layers_hold_the_exact_rows(first_run):
    settings, summary = first_run
    filled = {layer: {t: n for t, n in tables.items() if n} for layer, tables in summary.layers.items()}
    assert filled == {"bronze": {"video_platform_catalog_csv": 40}, "silver": {"camera": 30},
                      "quarantine": {"camera": 10}}
    # Every source's tables exist from the first run on, empty until its data lands.
    assert set(summary.layers["bronze"]) == {p.stem for p in SOURCES_DIR.glob("*.yaml")}
    reasons = dict(query(settings, "SELECT primary_reason, count(*) FROM quarantine.camera GROUP BY 1"))
    assert reasons == {"E_CODE": 3, "E_FORMAT": 2, "E_OUT_OF_AREA": 2, "E_COLUMNS": 1, "E_REQUIRED": 1,
                       "E_DUPLICATE_KEY": 1}
    assert summary.quarantine_by_reason["E_OUT_OF_AREA"] == {"rows": 2, "name_zh": "不在本市辖区范围内"}


def test_inventory_mart_counts_match_silver(first_run):
    settings, summary = first_run
    assert summary.marts == {"mart_camera_inventory": 15}
    per_district = dict(query(settings, "SELECT division_code, sum(cameras) FROM marts.mart_camera_inventory GROUP BY 1"))
    assert per_district == {"130302": 8, "130303": 4, "130304": 5, "130306": 4, "130321": 3, "130322": 3, "130324": 3}
    haigang_ipc = query(settings, "SELECT division_name_zh, type_name_zh, cameras, online, key_points FROM "
                                  "marts.mart_camera_inventory WHERE division_code = '130302' AND type_code = '132'")
    independent = query(settings, "SELECT count(*), count(*) FILTER (WHERE status = 'ON'), "
                                  "count(*) FILTER (WHERE use_type = '3') FROM silver.camera "
                                  "WHERE device_id LIKE '130302____132%'")
    assert haigang_ipc[0][:2] == ("海港区", "网络摄像机（IPC）") and haigang_ipc[0][2:] == independent[0]


def test_outbox_holds_the_policy_actions_with_their_matched_rows(first_run):
    settings, summary = first_run
    assert summary.actions_by_policy == {"camera.key_point_offline": 2}
    rows = query(settings, "SELECT policy_id, policy_version, action, partition_key, matched_event_ids, message "
                           "FROM ops.outbox ORDER BY partition_key")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("camera.key_point_offline", 1, "raise_alert", "13030200001320000001"),
        ("camera.key_point_offline", 1, "raise_alert", "13030400001320000013"),
    ]
    # The matched events name the silver rows (batch and line) that fired the policy.
    lines = [int(r[4][0].rsplit(":", 1)[1]) for r in rows]
    assert lines == [2, 14]
    assert "海港区" in rows[0][5] and "离线" in rows[0][5]


def test_second_run_through_the_cli_changes_nothing(first_run):
    settings, _ = first_run
    before = snapshot_counts(settings)
    env = {**os.environ, "SAFECITY_HOME": str(settings.paths.home)}
    completed = subprocess.run([SAFECITY, "run", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout)
    assert summary["success"] is True
    assert summary["layers"]["silver"]["camera"] == 30 and summary["layers"]["quarantine"]["camera"] == 10
    assert sum(summary["layers"]["silver"].values()) == 30
    assert summary["actions_by_policy"] == {"camera.key_point_offline": 2}
    assert snapshot_counts(settings) == before


def test_dbt_unit_tests_pass_against_the_built_warehouse(first_run):
    settings, _ = first_run
    from safecity.orchestration.resources import dbt_resource, prepare_dbt
    prepare_dbt(settings)
    invocation = dbt_resource().cli(["test", "--select", "test_type:unit"], raise_on_error=False,
                                    target_path=settings.paths.dbt_target)
    assert invocation.wait().is_successful()
    results = json.loads((settings.paths.dbt_target / "run_results.json").read_text())["results"]
    assert [r["status"] for r in results] == ["pass"]


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_serves_the_graph_and_the_runs_of_the_main_job(first_run):
    import time
    import urllib.request

    settings, summary = first_run
    port = _free_port()
    env = {**os.environ, "SAFECITY_HOME": str(settings.paths.home)}
    # A session of its own, so that stopping it also stops the webserver and code-server children.
    ui = subprocess.Popen([SAFECITY, "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and ui.poll() is None, "the UI did not come up"
                time.sleep(1)

        def graphql(query):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
                                             {"Content-Type": "application/json"})
            return json.loads(urllib.request.urlopen(request, timeout=30).read())["data"]

        assets = {"/".join(n["assetKey"]["path"]) for n in graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]}
        assert {"bronze/video_platform_catalog_csv", "silver/camera", "quarantine/camera",
                "marts/mart_camera_inventory", "ops/outbox"} <= assets
        runs = graphql("{ runsOrError { ... on Runs { results { runId status } } } }")["runsOrError"]["results"]
        assert {"runId": summary.run_id, "status": "SUCCESS"} in runs
    finally:
        import signal
        os.killpg(ui.pid, signal.SIGINT)  # what Ctrl-C sends: dagster dev stops the webserver and code server
        try:
            ui.wait(timeout=60)
        finally:
            try:
                os.killpg(ui.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
