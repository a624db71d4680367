"""Every source mapping on a simulated day: each record in exactly one place, and the quarantine is exactly the
simulator's injected faults (its manifest is the ground truth)."""
import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.reconcile import reconcile
from safecity.simulator.run import simulate

DAY = dt.date(2026, 7, 1)
# The simulator's clock: the morning after the simulated day (its future-time faults are future to it).
AS_OF = dt.datetime(2026, 7, 2, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
SOURCES = {  # mapping -> (folder in the simulator's output, file pattern)
    "viid_motor_vehicles": None, "detector_registry_csv": None, "detector_flows_csv": None,
    "traffic_incidents_jsonl": None,
    "alarm_calls_csv": None, "call_units_csv": None, "cases_csv": None, "gb28181_device_status": None,
    "video_platform_catalog_json": None, "video_platform_catalog_csv": None,
    "duty_rosters_csv": None, "maintenance_work_orders_csv": None, "maintenance_budgets_csv": None,
}


@pytest.fixture(scope="module")
def day(tmp_path_factory, catalogue):
    out = tmp_path_factory.mktemp("simulated")
    simulate("qinhuangdao", DAY, 1, "small", 11, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    settings = load_settings("local", tmp_path_factory.mktemp("home"))
    catalog = open_catalog(settings)
    landing = LocalLanding(out)
    reports = {}
    for source, place in SOURCES.items():
        loaded = load_mapping(mapping_path(source), catalogue)
        names = landing.files(*place) if place else None
        reports[source] = ingest_source(catalog, catalogue, loaded, landing, names, as_of=AS_OF)
    con = connect(settings)
    publish_views(con, catalog)
    yield {"out": out, "manifest": manifest, "reports": reports, "con": con, "catalog": catalog,
           "landing": landing, "settings": settings}
    con.close()


def expected_records(manifest, kinds) -> int:
    return sum(e["records"] for e in manifest["files"].values() if e["kind"] in kinds)


@pytest.mark.parametrize("source, kinds", [
    ("viid_motor_vehicles", {"passes_json"}), ("detector_registry_csv", {"detector_registry_csv"}),
    ("detector_flows_csv", {"detector_flows_csv"}),
    ("traffic_incidents_jsonl", {"incidents_jsonl"}), ("alarm_calls_csv", {"calls_csv"}),
    ("call_units_csv", {"call_units_csv"}), ("cases_csv", {"cases_csv"}), ("gb28181_device_status", {"heartbeats_jsonl"}),
    ("video_platform_catalog_csv", {"catalog_csv"}), ("duty_rosters_csv", {"duty_roster_csv"}),
    ("maintenance_work_orders_csv", {"work_orders_csv"}), ("maintenance_budgets_csv", {"budgets_csv"}),
])
def test_every_record_of_every_source_is_in_exactly_one_place(day, source, kinds):
    report = day["reports"][source]
    assert report.received == expected_records(day["manifest"], kinds)
    assert report.received == report.silver + report.quarantined
    entity = report.entity
    balances = reconcile(day["con"], f"bronze.{source}", f"silver.{entity}", f"quarantine.{entity}")
    assert balances and all(b.balanced for b in balances)
    mine = [b for b in balances if b.batch_id.startswith(source + ":")]
    assert sum(b.bronze for b in mine) == report.received


def test_pass_quarantine_is_exactly_the_injected_faults(day):
    quarantined = set(day["con"].execute(
        "SELECT _file, _line, primary_reason FROM quarantine.vehicle_pass").fetchall())
    # The manifest numbers records from 0; lineage numbers them as a person counts, from 1.
    injected = {(f["file"], f["index"] + 1, f["reason"]) for f in day["manifest"]["faults"]
                if f["file"].startswith("passes/") and f.get("reason")}
    assert quarantined == injected
    assert {r for _, _, r in injected} == {"E_FORMAT", "E_DUPLICATE_ROW", "E_FUTURE_TIME"}


def test_pass_times_are_read_in_the_city_zone_and_typed(day):
    first = json.loads((day["out"] / "passes/20260701/passes_00_001.json").read_text(encoding="utf-8"))
    record = first["MotorVehicleListObject"]["MotorVehicleObject"][0]
    row = day["con"].execute(
        "SELECT pass_time, speed, has_plate, lane_no FROM silver.vehicle_pass WHERE motor_vehicle_id = ?",
        [record["MotorVehicleID"]]).fetchone()
    expected = dt.datetime.strptime(record["PassTime"], "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert row[0] == expected
    assert (row[1], row[2], row[3]) == (record["Speed"], record["HasPlate"], record["LaneNo"])


def test_impossible_occupancy_is_quarantined_for_the_faulty_detector_only(day):
    faulty = {f["key"] for f in day["manifest"]["faults"] if f.get("signature") == "impossible_occupancy"}
    rows = day["con"].execute("SELECT DISTINCT json_extract_string(record, '$.\"检测器编号\"'), primary_reason, "
                              "reasons[1].field FROM quarantine.detector_flow").fetchall()
    assert {(d, r, f) for d, r, f in rows} == {(d, "E_RANGE", "occupancy") for d in faulty}


def test_detector_registry_conforms_whole_with_the_platforms_names_as_codes(day):
    import csv
    [name] = [n for n, f in day["manifest"]["files"].items() if f["kind"] == "detector_registry_csv"]
    with open(day["out"] / name, encoding="utf-8", newline="") as fh:
        exported = {r["检测器编号"]: r for r in csv.DictReader(fh)}
    stored = {r[0]: r[1:] for r in day["con"].execute(
        "SELECT detector_id, detector_type, road_segment_id, road_class, direction, lane_count, division_code, "
        "installed_at FROM silver.detector").fetchall()}
    assert day["reports"]["detector_registry_csv"].quarantined == 0 and set(stored) == set(exported)
    types = {"线圈": "loop", "微波": "microwave", "视频": "video", "地磁": "geomagnetic"}
    classes = {"快速路": "expressway", "主干路": "arterial", "次干路": "secondary_arterial", "支路": "branch"}
    for detector, row in exported.items():
        installed = dt.datetime.fromisoformat(row["安装日期"]).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        assert stored[detector] == (types[row["检测器类型"]], row["路段编号"], classes[row["道路等级"]], row["检测方向"],
                                    int(row["检测车道数"]), row["行政区划代码"], installed)


def test_heartbeats_and_catalog_keep_what_camera_health_needs(day):
    con = day["con"]
    statuses = dict(con.execute("SELECT cmd_type, count(*) FROM silver.device_status GROUP BY ALL").fetchall())
    lines = (day["out"] / "heartbeats" / f"status_{DAY:%Y%m%d}.jsonl").read_text(encoding="utf-8").splitlines()
    assert statuses == dict(Counter(json.loads(line)["CmdType"] for line in lines))
    catalog = json.loads((day["out"] / "catalog" / f"catalog_{DAY:%Y%m%d}.json").read_text(encoding="utf-8"))
    parents = {d["DeviceID"]: d["ParentID"] or None for d in catalog["DeviceList"]}
    stored = dict(con.execute("SELECT device_id, parent_id FROM silver.camera WHERE _source = "
                              "'video_platform_catalog_json'").fetchall())
    assert stored == parents


def test_units_quarantine_and_flags_are_the_injected_faults_of_their_calls(day):
    con = day["con"]
    units = [f for f in day["manifest"]["faults"] if f["file"].startswith("call_units/")]
    quarantined = set(con.execute("SELECT _file, _line, primary_reason FROM quarantine.dispatched_unit").fetchall())
    assert quarantined == {(f["file"], f["line"], f["reason"]) for f in units if f["reason"]}
    flagged = {(f["file"], f["line"], f["field"]) for f in units if f.get("flag") == "E_ORDER"}
    assert set(con.execute("SELECT _file, _line, field FROM ops.flags_dispatched_unit").fetchall()) == flagged


def test_calls_quarantine_is_the_injected_faults_and_the_chain_is_in_order(day):
    con = day["con"]
    quarantined = set(con.execute("SELECT _file, _line, primary_reason FROM quarantine.alarm_call").fetchall())
    calls = [f for f in day["manifest"]["faults"] if f["file"].startswith("calls/")]
    injected = {(f["file"], f["line"], f["reason"]) for f in calls if f["reason"]}
    assert quarantined == injected
    # An arrival before the dispatch is a soft check: the call is in silver, its arrival flagged and left out.
    flagged = {(f["file"], f["line"], f["field"]) for f in calls if f.get("flag") == "E_ORDER"}
    assert set(con.execute("SELECT _file, _line, field FROM ops.flags_alarm_call").fetchall()) == flagged
    total, ordered, unarrived = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE received_at <= dispatched_at AND dispatched_at <= arrived_at), "
        "count(*) FILTER (WHERE arrived_at IS NULL) FROM silver.alarm_call").fetchone()
    assert total == expected_records(day["manifest"], {"calls_csv"}) - len(injected)
    assert ordered + unarrived == total and unarrived == len(flagged)


def test_reingesting_the_whole_day_adds_nothing(day, catalogue):
    snapshots = {ident: len(day["catalog"].load_table(ident).snapshots())
                 for ns in ("bronze", "silver", "quarantine") for ident in day["catalog"].list_tables(ns)}
    loaded = load_mapping(mapping_path("viid_motor_vehicles"), catalogue)
    again = ingest_source(day["catalog"], catalogue, loaded, day["landing"], as_of=AS_OF)
    assert all(f.skipped for f in again.files)
    assert again.received == day["reports"]["viid_motor_vehicles"].received
    assert {ident: len(day["catalog"].load_table(ident).snapshots()) for ident in snapshots} == snapshots


def test_high_volume_facts_are_stored_in_daily_partitions(day):
    table = day["catalog"].load_table("silver.vehicle_pass")
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("pass_time_day", "day")]
    every_file = list(table.scan().plan_files())
    one_day = list(table.scan(row_filter="pass_time >= '2026-07-01T00:00:00+00:00' AND "
                                         "pass_time < '2026-07-02T00:00:00+00:00'").plan_files())
    # The simulated local day spans two UTC days: a one-day read opens only that day's files.
    assert 0 < len(one_day) < len(every_file)
    days = {task.file.partition[0] for task in one_day}
    assert days == {(dt.date(2026, 7, 1) - dt.date(1970, 1, 1)).days}
    assert day["catalog"].load_table("quarantine.vehicle_pass").spec().fields == ()


def test_cases_carry_no_fault_and_none_is_filed_after_the_clock(day):
    assert not [f for f in day["manifest"]["faults"] if f["file"].startswith("cases/")]
    assert day["reports"]["cases_csv"].quarantined == 0
    latest = day["con"].execute("SELECT max(filed_at) FROM silver.case").fetchone()[0]
    assert latest < dt.datetime.fromisoformat(day["manifest"]["clock"])


def test_pass_documents_are_parsed_by_duckdb_to_the_same_table(day, monkeypatch):
    """The day's GA/T 1400 pass files, faults and all, take the DuckDB parse (json_documents) and read to the table
    Python's record-by-record reading gives."""
    from safecity.ingestion.json_documents import read_records
    from safecity.ingestion.readers import LINE_COLUMN
    from tests.ingestion.test_json_documents import PATH, read_both

    files = sorted((day["out"] / "passes").rglob("*.json"))
    assert files
    for path in files:
        text = path.read_text("utf-8")
        assert read_records(text, PATH, LINE_COLUMN) is not None, path
        fast, plain = read_both(monkeypatch, text)
        assert not isinstance(plain, str), (path, plain)  # read, not refused
        assert fast == plain and plain[0], path
