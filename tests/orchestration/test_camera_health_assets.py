"""Camera health through Dagster on a simulated day: diagnoses equal the simulator's labels, and the state machine
finds its outages, reading only what ingestion put in silver."""
import datetime as dt

import pytest

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.ingestion.video_quality.batch import SCENE_DEPENDENT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def day(camera_day):
    return camera_day


def query(day, sql):
    settings = day["settings"]
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver",))
        return con.execute(sql).fetchall()


def test_every_snapshot_is_judged_as_the_simulator_labelled_it(day):
    labels = {name: (entry["label"] if entry["label"] != "clean" else None)
              for name, entry in day["manifest"]["files"].items() if entry["kind"] == "snapshot"}
    found = dict(query(day, "SELECT file, any_value(defect) FROM silver.snapshot_diagnosis GROUP BY file"))
    assert found == labels
    assert len({v for v in labels.values() if v}) >= 9
    # The small city's cameras deliver 640x360 pictures (not HD); the size is read from each JPEG.
    assert query(day, "SELECT DISTINCT width, height FROM silver.snapshot_diagnosis") == [(640, 360)]


def test_outages_of_the_manifest_are_offline_changes_near_their_start(day):
    changes = query(day, "SELECT device_id, changed_at, to_state FROM silver.camera_state_change ORDER BY changed_at")
    history = {}
    for device, when, state in changes:
        history.setdefault(device, []).append((when, state))
    interval = day["result"].asset_materializations_for_node("camera_state")[0].metadata["keepalive_seconds"].value
    outages = [f for f in day["manifest"]["faults"] if f["kind"] in ("camera_outage", "nvr_outage")]
    assert outages
    for outage in outages:
        start = dt.datetime.fromisoformat(outage["start"])
        seen = history.get(outage["key"], [])
        went_off = any(start <= t <= start + dt.timedelta(seconds=3 * interval + 1) and state == "offline"
                       for t, state in seen)
        # A device already down (a network fault above it, or an earlier outage of its own) stays offline through
        # this outage's start instead of changing again.
        before = [state for t, state in seen if t <= start]
        assert went_off or (before and before[-1] == "offline"), outage


def test_current_state_covers_the_catalog_and_names_states_in_chinese(day):
    catalog_devices = query(day, "SELECT count(DISTINCT device_id) FROM silver.camera")[0][0]
    rows = query(day, "SELECT state, state_zh, count(*) FROM silver.camera_state GROUP BY ALL")
    assert sum(n for _, _, n in rows) >= catalog_devices
    names = {s: zh for s, zh, _ in rows}
    assert names.get("online") == "在线正常"
    assert set(names) <= {"online", "degraded", "offline", "never_streamed", "decommissioned"}
    degraded = query(day, "SELECT count(*) FROM silver.camera_state WHERE state = 'degraded'")[0][0]
    assert degraded > 0


def test_rule_engine_events_follow_the_states(day):
    from safecity.standards.catalogue import load_catalogue
    down = query(day, "SELECT camera_id, grid_id, since FROM silver.camera_down ORDER BY camera_id")
    offline_now = query(day, "SELECT device_id FROM silver.camera_state WHERE state = 'offline' ORDER BY device_id")
    assert [d[0] for d in down] == [o[0] for o in offline_now]
    assert all(g is not None and g.startswith("G") for _, g, _ in down)
    changes = query(day, "SELECT count(*) FROM silver.camera_state_change")[0][0]
    cameras = query(day, "SELECT count(*) FROM silver.camera_state")[0][0]
    assert query(day, "SELECT count(*) FROM silver.camera_health")[0][0] == changes + cameras
    codes = {c.code for c in load_catalogue("qinhuangdao").code_tables["device_fault_type"].codes}
    used = {r[0] for r in query(day, "SELECT DISTINCT reason_code FROM silver.camera_health WHERE reason_code IS NOT NULL")}
    assert used and used <= codes
    levels = {r[0] for r in query(day, "SELECT DISTINCT point_level FROM silver.camera_health")}
    assert levels <= {"key", "important", "normal"} and "key" in levels
    minutes = query(day, "SELECT max(offline_minutes) FROM silver.camera_health WHERE status = 'offline'")[0][0]
    assert minutes > 0


def test_an_ongoing_state_keeps_its_event_id_across_runs(day):
    ids = query(day, "SELECT _batch_id || ':' || _line, ts FROM silver.camera_health "
                     "WHERE _batch_id LIKE 'camera_state:%'")
    since = dict(query(day, "SELECT device_id, epoch(coalesce(since, as_of))::BIGINT FROM silver.camera_state"))
    assert ids and all(int(i.rsplit(":", 1)[1]) == since[i.split(":")[1]] for i, _ in ids)


def test_the_diagnosis_metadata_explains_each_flagged_camera_and_baselines_are_kept(day):
    materialized = {m.asset_key.path[-1]: m.metadata
                    for m in day["result"].asset_materializations_for_node("silver__snapshot_diagnosis")}
    assert set(materialized) == {"snapshot_diagnosis", "camera_baseline"}
    metadata = materialized["snapshot_diagnosis"]
    flagged = query(day, "SELECT DISTINCT device_id, defect FROM silver.snapshot_diagnosis WHERE defect IS NOT NULL")
    table = metadata["flagged"].value
    assert "| 摄像机 camera | 快照 snapshot | 诊断项 check | 度量 measure | 值 value | 常态 normal | 门限 limit |" in table
    for device, defect in flagged[:20]:
        assert f"| {device} |" in table and f"| {defect} " in table
    assert metadata["flagged_cameras"].value == len({device for device, _ in flagged})
    # Every camera with a snapshot it may learn from starts its baseline: a healthy one, or (no baseline yet) one
    # whose only defects are scene-dependent; signal loss, darkness, noise and the like teach it nothing.
    scene = ", ".join(f"'{c}'" for c in sorted(SCENE_DEPENDENT))
    learnable = query(day, "SELECT count(DISTINCT device_id) FROM (SELECT device_id, file FROM "
                           "silver.snapshot_diagnosis WHERE error IS NULL GROUP BY ALL "
                           f"HAVING bool_and(verdict <> 'defect' OR \"check\" IN ({scene})))")[0][0]
    assert query(day, "SELECT count(DISTINCT device_id) FROM silver.camera_baseline")[0][0] == learnable > 0
    assert materialized["camera_baseline"]["cameras"].value == learnable
