"""The traffic simulator: checkpoints, passes (GA/T 1400 JSON), detector flows and incidents, at the small scale."""
from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from safecity.simulator import traffic
from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import SCALES
from safecity.simulator.world import World
from safecity.standards.catalogue import load_catalogue

SEED = 20261126
DAY = date(2026, 11, 26)       # not a summer month
SUMMER_DAY = date(2026, 7, 15)
SCALE = SCALES["small"]
CAT = load_catalogue("qinhuangdao")
PLATE = re.compile(CAT.formats["plate_no"].pattern)
CONTENT_ID = re.compile(CAT.formats["gat1400_image_content_id"].pattern)
DEVICE_ID = re.compile(CAT.formats["gb28181_id"].pattern)


def codes(table: str) -> set[str]:
    return {c.code for c in CAT.code_tables[table].codes}


def generate(out: Path, day: date = DAY, scale=SCALE) -> dict:
    world = World.load("qinhuangdao", SEED)
    manifest = Manifest(SEED, scale.name, day.isoformat(), 1)
    sent: list[tuple[str, bytes, bytes]] = []
    checkpoints = traffic.build_checkpoints(world, scale)
    detectors = traffic.build_detectors(world, scale)
    passes = traffic.write_passes(world, scale, checkpoints, day, 1, out, manifest,
                                  sink=lambda topic, key, value: sent.append((topic, key, value)))
    registry = traffic.write_detector_registry(detectors, out, manifest, day)
    flows = traffic.write_detector_flows(world, scale, detectors, day, 1, out, manifest)
    incidents = traffic.write_incidents(world, scale, day, 1, out, manifest)
    manifest.write(out)
    return {"world": world, "manifest": manifest, "checkpoints": checkpoints, "detectors": detectors,
            "passes": passes, "registry": registry, "flows": flows, "incidents": incidents, "sent": sent, "out": out}


def read_passes(out: Path) -> list[tuple[str, list[dict]]]:
    files = sorted((out / "passes").rglob("*.json"))
    return [(p.relative_to(out).as_posix(),
             json.loads(p.read_text(encoding="utf-8"))["MotorVehicleListObject"]["MotorVehicleObject"]) for p in files]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    result = generate(tmp_path_factory.mktemp("traffic"))
    result["files"] = read_passes(result["out"])
    result["records"] = [r for _, records in result["files"] for r in records]
    result["faults"] = defaultdict(list)
    for f in result["manifest"].faults:
        result["faults"][f["kind"]].append(f)
    return result


def test_same_seed_gives_identical_bytes(tmp_path, run):
    again = generate(tmp_path / "again")["out"]
    first = sorted(p.relative_to(run["out"]).as_posix() for p in run["out"].rglob("*") if p.is_file())
    second = sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (run["out"] / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_checkpoints_and_detectors_are_well_formed(run):
    world, checkpoints, detectors = run["world"], run["checkpoints"], run["detectors"]
    assert len(checkpoints) == SCALE.checkpoints
    ids = [c["tollgate_id"] for c in checkpoints]
    assert len(set(ids)) == len(ids) and len({c["name"] for c in checkpoints}) == len(checkpoints)
    for c in checkpoints:
        parts = DEVICE_ID.fullmatch(c["tollgate_id"]).groupdict()
        assert (parts["division"], parts["basic_unit"], parts["industry"], parts["type"], parts["network"]) == \
            (c["division"], "00", "05", "121", "0")
        assert c["division"] in world.divisions and 2 <= c["lane_count"] <= 6
        assert len(c["lanes"]) == c["lane_count"] and c["weight"] > 0 and "卡口" in c["name"]
        assert all(DEVICE_ID.fullmatch(lane["device_id"])["type"] == "119" for lane in c["lanes"])
        assert world.city.extent.contains(c["lon"], c["lat"])
    assert any(c["junction_id"] for c in checkpoints) and any(c["division"] == "130304" for c in checkpoints)

    assert len(detectors) == SCALE.detectors
    assert len({d["detector_id"] for d in detectors}) == len(detectors)
    for d in detectors:
        assert re.fullmatch(r"DET(\d{6})\d{5}", d["detector_id"])[1] == d["division"]
        assert d["detector_type"] in codes("detector_type") and d["road_class"] in codes("road_class")
        assert d["direction"] in codes("gat1400_h_direction") and 2 <= d["lane_count"] <= 4


def test_manifest_counts_match_the_files(run):
    manifest, out = run["manifest"], run["out"]
    for rel, records in run["files"]:
        assert manifest.files[rel] == {"kind": "passes_json", "records": len(records)}
    assert sum(1 for f in manifest.files.values() if f["kind"] == "passes_json") == len(run["files"]) == 24
    assert sum(len(r) for _, r in run["files"]) == run["passes"]["records"]
    for rel, entry in manifest.files.items():
        if entry["kind"] == "detector_flows_csv":
            with open(out / rel, encoding="utf-8") as fh:
                assert sum(1 for _ in csv.reader(fh)) - 1 == entry["records"]
        if entry["kind"] == "detector_registry_csv":
            assert rel == f"detector_registry/detectors_{DAY:%Y%m%d}.csv"
            with open(out / rel, encoding="utf-8", newline="") as fh:
                assert sum(1 for _ in csv.reader(fh)) - 1 == entry["records"] == run["registry"]["rows"]
        if entry["kind"] == "incidents_jsonl":
            assert len((out / rel).read_text(encoding="utf-8").splitlines()) == entry["records"]
    assert dict(run["passes"]["faults"]) == {k: len(run["faults"][k]) for k in
                                             ("bad_plate", "future_time", "duplicate", "late")}


def test_each_fault_kind_occurs_at_its_rate_and_is_real(run):
    rates = run["world"].faults.passes
    n = run["passes"]["passes"]
    for kind in ("bad_plate", "future_time", "duplicate", "late"):
        expected = getattr(rates, kind) * n
        assert abs(len(run["faults"][kind]) - expected) <= 4 * math.sqrt(expected) + 3, kind

    by_file = {rel: records for rel, records in run["files"]}
    now = datetime.fromisoformat(run["passes"]["now"])
    for f in run["faults"]["bad_plate"]:
        record = by_file[f["file"]][f["index"]]
        assert record["MotorVehicleID"] == f["key"] and f["reason"] == "E_FORMAT" and f["field"] == "plate_no"
        assert not PLATE.fullmatch(record["PlateNo"]), record["PlateNo"]
    for f in run["faults"]["future_time"]:
        record = by_file[f["file"]][f["index"]]
        assert record["MotorVehicleID"] == f["key"] and f["reason"] == "E_FUTURE_TIME"
        assert datetime.strptime(record["PassTime"], "%Y%m%d%H%M%S") > now + timedelta(days=1)
    positions = defaultdict(list)
    for rel, records in run["files"]:
        for i, r in enumerate(records):
            positions[r["MotorVehicleID"]].append((rel, i))
    for f in run["faults"]["duplicate"]:
        assert positions[f["key"]][1] == (f["file"], f["index"]) and len(positions[f["key"]]) == 2
        assert f["reason"] == "E_DUPLICATE_ROW"
    assert sum(len(p) == 2 for p in positions.values()) == len(run["faults"]["duplicate"])
    assert all(len(p) <= 2 for p in positions.values())
    for f in run["faults"]["late"]:
        record = by_file[f["file"]][f["index"]]
        file_hour = int(re.search(r"passes_(\d\d)_", f["file"])[1])
        assert f["reason"] is None and int(record["PassTime"][8:10]) < file_hour


def test_ids_and_times(run):
    future = {f["key"] for f in run["faults"]["future_time"]}
    checkpoint_of = {c["tollgate_id"]: c for c in run["checkpoints"]}
    for r in run["records"]:
        vid = r["MotorVehicleID"]
        assert len(vid) == 48 and vid.isdigit() and CONTENT_ID.fullmatch(vid)
        assert r["SourceID"] == vid[:41] and vid[:20] == r["DeviceID"] and vid[20:22] == "02" and vid[41:43] == "02"
        assert vid[22:36] == r["PassTime"] and r["InfoKind"] == 1
        lanes = checkpoint_of[r["TollgateID"]]["lanes"]
        assert lanes[r["LaneNo"] - 1]["device_id"] == r["DeviceID"]
        if vid not in future:
            assert r["PassTime"][:8] == DAY.strftime("%Y%m%d")
            assert datetime.strptime(r["PassTime"], "%Y%m%d%H%M%S")
        assert 3 <= r["Speed"] <= 180 and r["StorageUrl1"].endswith(r["SourceID"] + ".jpg")
    assert len({r["MotorVehicleID"] for r in run["records"]}) == run["passes"]["passes"]


def test_hourly_volume_has_morning_and_evening_peaks(run):
    hours = Counter(int(r["PassTime"][8:10]) for r in run["records"] if r["PassTime"].startswith("20261126"))
    night = max(hours[2], hours[3])
    assert min(hours[7], hours[8]) > 5 * night and min(hours[17], hours[18]) > 5 * night
    assert hours[8] > hours[12] and hours[18] > hours[14]


def test_summer_raises_beidaihe_share(tmp_path, run):
    summer = read_passes(generate(tmp_path / "summer", SUMMER_DAY)["out"])

    def share(records):
        return sum(r["TollgateID"].startswith("130304") for r in records) / len(records)

    winter_share = share(run["records"])
    summer_records = [r for _, records in summer for r in records]
    assert winter_share > 0 and share(summer_records) > 1.5 * winter_share
    assert len(summer_records) > len(run["records"])


def test_plates_and_codes(run):
    bad = {f["key"] for f in run["faults"]["bad_plate"]}
    plated = [r for r in run["records"] if r["HasPlate"] and r["MotorVehicleID"] not in bad]
    for r in plated:
        assert PLATE.fullmatch(r["PlateNo"]), r["PlateNo"]
    for r in run["records"]:
        assert r["PlateClass"] in codes("plate_class") and r["VehicleColor"] in codes("gat1400_color")
        assert r["Direction"] in codes("gat1400_h_direction") and r["VehicleClass"] in codes("vehicle_class")
        if r["HasPlate"]:
            assert r["PlateColor"] in codes("plate_color")
        else:
            assert "PlateNo" not in r and r["PlateClass"] == "41"
    new_energy = [r for r in plated if r["PlateClass"] in ("51", "52")]
    assert 0.05 <= len(new_energy) / len(plated) <= 0.09
    assert all(r["PlateColor"] == "9" and len(r["PlateNo"]) == 8 for r in new_energy)
    local = sum(r["PlateNo"].startswith("冀C") for r in plated) / len(plated)
    other_hebei = sum(r["PlateNo"].startswith("冀") and not r["PlateNo"].startswith("冀C") for r in plated)
    assert 0.7 <= local <= 0.95 and other_hebei > 0 and any(not r["PlateNo"].startswith("冀") for r in plated)
    assert Counter(r["VehicleClass"] for r in plated).most_common(1)[0][0] == "K33"


def test_sink_receives_exactly_the_records_of_the_files(run):
    assert len(run["sent"]) == len(run["records"])
    for (topic, key, value), record in zip(run["sent"], run["records"]):
        assert topic == "viid.motor_vehicles" and key == record["TollgateID"].encode()
        assert json.loads(value) == record


def test_detector_registry_lists_every_detector_with_its_segment_and_road_class(run):
    with open(run["out"] / "detector_registry" / f"detectors_{DAY:%Y%m%d}.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    types = {c.name_zh: c.code for c in CAT.code_tables["detector_type"].codes}
    classes = {c.name_zh: c.code for c in CAT.code_tables["road_class"].codes}
    exported = [(r["检测器编号"], types[r["检测器类型"]], r["路段编号"], r["道路名称"], classes[r["道路等级"]],
                 r["检测方向"], int(r["检测车道数"]), float(r["经度"]), float(r["纬度"]), r["行政区划代码"],
                 r["安装日期"]) for r in rows]
    assert exported == [(d["detector_id"], d["detector_type"], d["road_segment_id"], d["road_name"], d["road_class"],
                         d["direction"], d["lane_count"], d["lon"], d["lat"], d["division"], d["installed_at"])
                        for d in run["detectors"]]
    segments = defaultdict(list)
    for r in rows:
        segments[r["路段编号"]].append(r)
    # A pair per segment, one per direction of one road (the last segment may have one detector only).
    assert sum(len(members) == 1 for members in segments.values()) <= 1
    for members in segments.values():
        assert len({m["检测方向"] for m in members}) == len(members) <= 2
        assert len({(m["道路名称"], m["道路等级"], m["行政区划代码"]) for m in members}) == 1
    assert {classes[r["道路等级"]] for r in rows} >= {"arterial", "secondary_arterial"}


def test_detector_faults_show_their_signature(run):
    out, detectors = run["out"], {d["detector_id"]: d for d in run["detectors"]}
    rows = defaultdict(list)
    with open(out / f"detectors/flows_{DAY:%Y%m%d}.csv", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[:2] == ["检测器编号", "统计开始时间"] and "占有率(%)" in reader.fieldnames
        for row in reader:
            rows[row["检测器编号"]].append(row)
    faults = run["faults"]["detector_fault"]
    assert {f["signature"] for f in faults} == set(traffic.DETECTOR_FAULTS)
    assert {f["reason"] for f in faults} <= codes("detector_fault_reason")
    faulty = {f["key"] for f in faults}
    for f in faults:
        det = detectors[f["key"]]
        got = rows[f["key"]]
        full = 288 * det["lane_count"]
        mate = next(d for d in run["detectors"] if d["road_segment_id"] == det["road_segment_id"]
                    and d["detector_id"] != det["detector_id"])
        assert mate["detector_id"] not in faulty
        if f["signature"] == "stuck":
            assert len(got) == full and len({r["流量"] for r in got}) == 1 and got[0]["流量"] != "0"
            assert len({(r["占有率(%)"], r["平均速度(km/h)"]) for r in got}) == 1
        elif f["signature"] == "zeros":
            assert len(got) == full and all(r["流量"] == "0" and float(r["占有率(%)"]) == 0 for r in got)
            assert sum(int(r["流量"]) for r in rows[mate["detector_id"]]) > 0
        elif f["signature"] == "impossible_occupancy":
            assert any(float(r["占有率(%)"]) > 100 for r in got)
            assert sum(int(r["流量"]) > 0 and float(r["占有率(%)"]) == 0 for r in got) >= 12 * 4
        elif f["signature"] == "intermittent":
            assert 0.2 * full < len(got) < 0.8 * full
        elif f["signature"] == "feed_down":
            assert not got
    for did, d in detectors.items():
        if did not in faulty:
            assert len(rows[did]) == 288 * d["lane_count"]
            assert max(float(r["占有率(%)"]) for r in rows[did]) <= 100


def test_the_days_evening_jam_crawls_on_every_detector_near_its_junction_and_nowhere_else(run):
    [jam] = [s for s in run["manifest"].situations if s["kind"] == "severe_congestion"]
    junction = next(j for j in run["world"].profile.junctions if j.id == jam["junction_id"] == jam["key"])
    start, end = datetime.fromisoformat(jam["from"]), datetime.fromisoformat(jam["to"])
    assert timedelta(minutes=20) <= end - start <= timedelta(minutes=30) and 17 <= start.hour <= 18
    near = {d["detector_id"] for d in run["detectors"]
            if traffic._distance_m(junction.lon, junction.lat, d["lon"], d["lat"]) <= traffic.APPROACH_M}
    assert set(jam["detectors"]) == near and near
    assert not near & {f["key"] for f in run["faults"]["detector_fault"]}
    crawling = defaultdict(set)
    with open(run["out"] / f"detectors/flows_{DAY:%Y%m%d}.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            at = datetime.fromisoformat(row["统计开始时间"]).replace(tzinfo=start.tzinfo)
            if int(row["流量"]) > 0 and float(row["平均速度(km/h)"]) <= 8.0:
                crawling[row["检测器编号"]].add(at)
    window = {start + timedelta(minutes=5 * k) for k in range((end - start) // timedelta(minutes=5))}
    assert {d: crawling[d] for d in near} == {d: window for d in near}  # each interval of the jam, no other
    assert not any(times for d, times in crawling.items() if d not in near)  # ordinary traffic never crawls


def test_incidents_cluster_at_hotspots_and_peaks(tmp_path):
    scale = replace(SCALE, incidents_per_day=400)
    world = World.load("qinhuangdao", SEED)
    manifest = Manifest(SEED, scale.name, DAY.isoformat(), 1)
    traffic.write_incidents(world, scale, DAY, 1, tmp_path, manifest)
    lines = (tmp_path / f"incidents/incidents_{DAY:%Y%m%d}.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == manifest.files[f"incidents/incidents_{DAY:%Y%m%d}.jsonl"]["records"] > 300
    assert len({e["sjbh"] for e in events}) == len(events)
    fmt = "%Y-%m-%d %H:%M:%S"
    for e in events:
        assert e["sjlx"] in codes("incident_type_traffic") and e["xzqh"] in world.divisions
        occurred, reported, cleared = (datetime.strptime(e[k], fmt) for k in ("fssj", "bjsj", "qcsj"))
        assert occurred <= reported < cleared and reported.date() >= DAY
        assert e["shrs"] == e["swrs"] + e["ssrs"] and ("sglx" in e) == (e["sjlx"] == "accident")
        assert world.city.extent.contains(e["jd"], e["wd"])
    assert [e["bjsj"] for e in events] == sorted(e["bjsj"] for e in events)
    # a 500 m grid: the dozen busiest cells hold most incidents
    lat0 = world.city.extent.min_lat
    cells = Counter((int(e["jd"] * 111_320 * math.cos(math.radians(lat0)) // 500), int(e["wd"] * 111_320 // 500))
                    for e in events)
    assert sum(n for _, n in cells.most_common(12)) >= 0.5 * len(events)
    hours = Counter(int(e["fssj"][11:13]) for e in events)
    assert sum(hours[h] for h in (7, 8, 17, 18)) > 3 * sum(hours[h] for h in (1, 2, 3, 4))
