"""Road traffic of the simulated city, as the bureau's traffic systems emit it.

* checkpoints (视频卡口, GA/T 1400 Tollgate) with one capture device (APE, type 119) per lane;
* vehicle passes (过车记录) as GA/T 1400 ``MotorVehicleListObject`` JSON files, one series of files per hour, and
  optionally the same objects one by one to a message sink (topic ``viid.motor_vehicles``);
* traffic-flow detectors: the traffic platform's detector registry and the vendor's 5-minute counts per lane, both
  as CSV exports with Chinese headers;
* traffic incidents from the traffic command platform, as JSON Lines with pinyin field names.

The output is deterministic: every random draw comes from a stream named after the component, the day and (for
passes) the hour, and everything is written in a fixed order with fixed formatting. The only notion of "now" is the
``now`` parameter of :func:`write_passes`, which defaults to the day after the simulated period.

Passes are generated per hour with numpy (counts, checkpoints, lanes, seconds, vehicles, speeds and faults are
vectorised draws); only the final rendering of each JSON object is a per-record string template.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import Scale
from safecity.simulator.world import KM_PER_DEGREE_LAT, World
from safecity.simulator.writers import csv_text, write_encoded

log = logging.getLogger(__name__)

PASS_TOPIC = "viid.motor_vehicles"
BEIDAIHE = "130304"
Sink = Callable[[str, bytes, bytes], None]

# --------------------------------------------------------------------------------------------------------------------
# Roads of the city (plausible names of real streets and highways; medium confidence, used only for labels).
# --------------------------------------------------------------------------------------------------------------------
ROADS: dict[str, tuple[str, ...]] = {
    "130302": ("河北大街", "文化路", "迎宾路", "秦皇西大街", "秦皇东大街", "建设大街", "民族路", "海阳路", "港城大街",
               "燕山大街", "和平大街", "友谊路", "西港路", "红旗路", "北环路", "白塔岭路"),
    "130303": ("南海西路", "关城南路", "南关大街", "龙海大道", "东环路", "西环路", "古城东路", "站前路"),
    "130304": ("海滨路", "联峰路", "东经路", "西经路", "保二路", "剑秋路", "石塘路", "戴河路"),
    "130306": ("骊城大街", "迎宾大街", "金山大街", "宁海大道", "兴华路", "台营大街"),
    "130321": ("燕山路", "青龙大街", "滨河路", "朝阳路", "振兴路"),
    "130322": ("碣石大街", "民生路", "滨河路", "金龙路", "新华路", "汇文路"),
    "130324": ("永平大街", "新华路", "孤竹路", "卢龙大街", "燕山路"),
}
HIGHWAYS = ("G1京哈高速", "G25长深高速", "G1N京秦高速")
NATIONAL_ROADS = ("G102国道", "G205国道", "G228国道", "S251省道", "S364省道")
SHORT_NAMES = {"130302": "海港", "130303": "山海关", "130304": "北戴河", "130306": "抚宁", "130321": "青龙",
               "130322": "昌黎", "130324": "卢龙"}

# road_class code → speed limit (km/h) of the urban road
ROAD_CLASS_SPEED = {"expressway": 100, "arterial": 60, "secondary_arterial": 50, "branch": 30}
RURAL_ROAD_LIMIT = 70  # national and provincial roads outside the urban districts (class arterial)

# GA/T 1400 HDirectionType pairs for a road's axis: (one way, the other way).
AXES = (("1", "2"), ("3", "4"), ("5", "6"), ("7", "8"))
APPROACHES = (("东进口", "2"), ("西进口", "1"), ("南进口", "4"), ("北进口", "3"))

# --------------------------------------------------------------------------------------------------------------------
# Vehicles: class (GA 24.4), plate class (GA 24.7), plate colour (GA/T 1400 ColorType), plate kind, speed factor,
# share of the vehicles (the last element of a row is its weight for _pick).
# --------------------------------------------------------------------------------------------------------------------
ORD, NEV_S, NEV_L, SCHOOL, POLICE, NONE = range(6)
VEHICLE_CATEGORIES = (
    ("K33", "02", "5", ORD, 1.00, 0.500),
    ("K31", "02", "5", ORD, 1.00, 0.160),
    ("K32", "02", "5", ORD, 1.00, 0.050),
    ("K39", "02", "5", ORD, 0.95, 0.030),
    ("K43", "02", "5", ORD, 0.95, 0.010),
    ("K33", "52", "9", NEV_S, 1.00, 0.046),
    ("K31", "52", "9", NEV_S, 1.00, 0.010),
    ("H31", "02", "5", ORD, 0.90, 0.045),
    ("H41", "02", "5", ORD, 0.90, 0.010),
    ("H21", "01", "6", ORD, 0.85, 0.010),
    ("H11", "01", "6", ORD, 0.80, 0.025),
    ("Q11", "01", "6", ORD, 0.80, 0.012),
    ("K11", "01", "6", ORD, 0.85, 0.008),
    ("K11", "51", "9", NEV_L, 0.85, 0.005),
    ("K21", "01", "6", ORD, 0.85, 0.006),
    ("K33", "16", "6", SCHOOL, 0.80, 0.004),
    ("K33", "23", "2", POLICE, 1.05, 0.002),
    ("M21", "07", "6", ORD, 0.80, 0.006),
    ("K33", "41", "", NONE, 1.00, 0.003),
)
# Body colours (GA/T 1400 ColorType) and their shares; silver counts as grey.
BODY_COLOURS = (("2", 0.35), ("1", 0.22), ("3", 0.16), ("4", 0.06), ("5", 0.07), ("8", 0.03), ("6", 0.02),
                ("9", 0.02), ("7", 0.01), ("10", 0.005), ("11", 0.005), ("12", 0.005), ("99", 0.015))
# Plates from elsewhere: province abbreviation, issuing-authority letters, share of the visiting vehicles.
VISITOR_PLATES = (("冀", "ABDEFGHJRT", 0.40), ("京", "ABCEFGHJKLMNPQ", 0.16), ("津", "ABCDEFGHJKLMNQR", 0.10),
                  ("辽", "ABCDEFGHJKLMNP", 0.09), ("蒙", "ABCDEFGHJKLM", 0.04), ("黑", "ABCDEFGHJKLMNP", 0.03),
                  ("吉", "ABCDEFGHJK", 0.03), ("鲁", "ABCDEFGHJKLMNPQRS", 0.04), ("晋", "ABCDEFHJKLM", 0.03),
                  ("豫", "ABCDEFGHJKLMNPQRS", 0.03), ("苏", "ABCDEFGHJKLMN", 0.02), ("沪", "ABCDEFGHJKLMN", 0.01),
                  ("浙", "ABCDEFGHJKL", 0.01), ("粤", "ABCDEFGHJKLMNPQRS", 0.01))
SERIAL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O (GA 36)
# Bad plates as a recogniser produces them: I/O in the serial, a character short, a province it cannot read.
BAD_PROVINCES = ("X", "0", "W")

PASS_TEMPLATE = ('{"MotorVehicleID":"%s","InfoKind":1,"SourceID":"%s",%s"PassTime":"%s",%s%s","VehicleColor":"%s",'
                 '"Speed":%d,"StorageUrl1":"%s%s.jpg"}')
FILE_HEAD = '{"MotorVehicleListObject":{"MotorVehicleObject":['
FILE_TAIL = "]}}\n"
FAULT_KINDS = {1: ("bad_plate", "E_FORMAT", "plate_no"), 2: ("future_time", "E_FUTURE_TIME", "pass_time"),
               3: ("duplicate", "E_DUPLICATE_ROW", None), 4: ("late", None, None)}
DUPLICATE_WITHIN = 2_000  # a re-sent object follows its first copy within this many objects
RENDER_CHUNK = 10_000  # objects rendered and written at a time (bounds the memory of the strings)

# --------------------------------------------------------------------------------------------------------------------
# Detectors and incidents
# --------------------------------------------------------------------------------------------------------------------
DETECTOR_TYPES = (("loop", 0.45), ("microwave", 0.25), ("video", 0.20), ("geomagnetic", 0.10))
# Every line ends in a comma, as the vendor's export (and many real ones) writes it: a trailing empty column.
DETECTOR_HEADER = "检测器编号,统计开始时间,统计周期(分钟),车道号,流量,占有率(%),平均速度(km/h),\n"
REGISTRY_HEADER = ["检测器编号", "检测器名称", "检测器类型", "路段编号", "道路名称", "道路等级", "检测方向", "检测车道数",
                   "经度", "纬度", "行政区划代码", "安装日期"]
# The traffic platform's registry shows type and road class as their display names, not the standard's codes.
DETECTOR_TYPE_LABELS = {"loop": "线圈", "microwave": "微波", "video": "视频", "geomagnetic": "地磁"}
ROAD_CLASS_LABELS = {"expressway": "快速路", "arterial": "主干路", "secondary_arterial": "次干路", "branch": "支路"}
# Injected detector faults (PeMS-style diagnostics) → (reason in detector_fault_reason, expected verdict).
DETECTOR_FAULTS = {
    "stuck": ("constant_value", "faulty"),
    "zeros": ("zero_volume", "faulty"),
    "impossible_occupancy": ("occupancy_out_of_range", "faulty"),
    "intermittent": ("no_data", "suspect"),
    "feed_down": ("no_data", "faulty"),
}
VEHICLE_LENGTH_M = 6.0  # effective vehicle + loop length for occupancy
FLOW_BLOCK = 100  # detectors rendered at a time

# incident type → (share, median minutes from report to clearance, log-normal sigma of that time)
INCIDENT_TYPES = {
    "accident": (0.34, 40, 0.6),
    "breakdown": (0.20, 30, 0.6),
    "congestion": (0.16, 45, 0.5),
    "stopped_vehicle": (0.08, 15, 0.6),
    "obstacle": (0.06, 25, 0.6),
    "road_works": (0.05, 240, 0.5),
    "wrong_way": (0.03, 8, 0.5),
    "road_closure": (0.03, 120, 0.6),
    "weather": (0.02, 180, 0.5),
    "large_event": (0.01, 180, 0.4),
    "other": (0.02, 30, 0.7),
}
INCIDENT_SOURCES = (("110", 0.45), ("视频巡查", 0.25), ("路面巡逻", 0.18), ("检测器", 0.07), ("群众上报", 0.05))
HOTSPOT_SHARE = 0.7  # of incidents within about 100 m of a junction or key place


def _pick(rng: np.random.Generator, table: tuple, size: int | None = None):
    """Index draws from a table whose last element of each row is its weight."""
    weights = np.array([row[-1] for row in table], dtype=float)
    return rng.choice(len(table), size=size, p=weights / weights.sum())


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    km_per_lon = KM_PER_DEGREE_LAT * math.cos(math.radians(lat))
    return round(lon + east_m / 1000 / km_per_lon, 6), round(lat + north_m / 1000 / KM_PER_DEGREE_LAT, 6)


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest-remainder allocation of `total` over the keys, deterministic (ties by key)."""
    norm = sum(weights.values())
    exact = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(math.floor(v)) for k, v in exact.items()}
    rest = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), k))[:rest]:
        counts[k] += 1
    return counts


def _unique_name(name: str, used: set[str]) -> str:
    if name not in used:
        used.add(name)
        return name
    k = 2
    while f"{name}{k}" in used:
        k += 1
    used.add(f"{name}{k}")
    return f"{name}{k}"


# ====================================================================================================================
# Checkpoints
# ====================================================================================================================

def build_checkpoints(world: World, scale: Scale) -> list[dict]:
    """The city's checkpoints (视频卡口), in a fixed order.

    Each is a dict: ``tollgate_id`` (20-digit GB/T 28181: division + "00" + industry "05" + type "121" + network
    "0" + serial), ``name``, ``lon``, ``lat``, ``division`` (= ``place_code``), ``lane_count`` (2–6), ``road``,
    ``road_class``, ``speed_limit``, ``junction_id`` and ``place_id`` (the profile's junction or key place it watches,
    else None), ``tollgate_cat``, ``tollgate_usage``, ``status``, ``weight`` (relative daily volume), ``image_server``
    and ``lanes`` (``lane_no``, ``device_id`` of the lane's capture device, type 119, and ``direction``
    HDirectionType).

    About 30% stand at the profile's junctions (one per approach, up to four) and key places (up to two); the rest are
    scattered around the division centres by the divisions' camera shares, so they are densest in the urban districts.
    """
    rng = world.rng("traffic.checkpoints")
    profile = world.profile
    n = scale.checkpoints
    anchors: list[tuple[str, object, int]] = [("junction", j, 4) for j in
                                              sorted(profile.junctions, key=lambda j: (-j.peak_index, j.id))]
    anchors += [("place", p, 2) for p in sorted(profile.key_places, key=lambda p: (-p.weight, p.id))]
    anchored_target = min(sum(cap for *_, cap in anchors), max(1, round(n * 0.3)))
    placements: list[tuple[str, object, int]] = []  # (kind, anchor, approach index)
    round_no = 0
    while len(placements) < anchored_target:
        for kind, anchor, cap in anchors:
            if round_no < cap and len(placements) < anchored_target:
                placements.append((kind, anchor, round_no))
        round_no += 1

    serials: dict[str, int] = {}
    used_names: set[str] = set()
    checkpoints: list[dict] = []

    def add(division: str, lon: float, lat: float, name: str, road: str, road_class: str, limit: int,
            lane_count: int, weight: float, axis: tuple[str, str], cat: str, usage: str,
            junction_id: str | None = None, place_id: str | None = None) -> None:
        serial = serials.get(division, 0) + 1
        serials[division] = serial
        tollgate_id = f"{division}00051210{serial:06d}"
        half = (lane_count + 1) // 2
        lanes = [{"lane_no": k + 1, "device_id": f"{division}00051190{serial * 10 + k + 1:06d}",
                  "direction": axis[0] if k < half else axis[1]} for k in range(lane_count)]
        division_index = sorted(world.divisions).index(division)
        checkpoints.append({
            "tollgate_id": tollgate_id, "name": _unique_name(name, used_names), "lon": lon, "lat": lat,
            "division": division, "place_code": division, "lane_count": lane_count, "road": road,
            "road_class": road_class, "speed_limit": limit, "junction_id": junction_id, "place_id": place_id,
            "tollgate_cat": cat, "tollgate_usage": usage, "status": "1", "weight": round(weight, 4),
            "image_server": f"http://10.13.{division_index + 1}.{10 + serial % 200}:6120/pic/", "lanes": lanes})

    for kind, anchor, k in placements:
        roads = ROADS[anchor.division]
        if kind == "junction":
            label, direction = APPROACHES[k]
            east, north = {0: (60, 0), 1: (-60, 0), 2: (0, -60), 3: (0, 60)}[k]
            lon, lat = _offset(anchor.lon, anchor.lat, east + rng.normal(0, 8), north + rng.normal(0, 8))
            road = anchor.name_zh.split("与")[0] if k < 2 else anchor.name_zh.split("与")[-1].replace("交叉口", "")
            lanes = int(rng.integers(3, 6))
            opposite = {"1": "2", "2": "1", "3": "4", "4": "3"}[direction]
            weight = lanes * (1 + anchor.peak_index / 10)
            add(anchor.division, lon, lat, f"{anchor.name_zh}{label}卡口", road, "arterial", 60, lanes, weight,
                (direction, opposite), "31", "81", junction_id=anchor.id)
        else:
            lon, lat = _offset(anchor.lon, anchor.lat, rng.normal(0, 150), rng.normal(0, 150))
            road = roads[int(rng.integers(len(roads)))]
            lanes = int(rng.integers(2, 5))
            weight = lanes * (0.8 + anchor.weight / 5)
            add(anchor.division, lon, lat, f"{anchor.name_zh}{road}卡口", road, "secondary_arterial", 50, lanes,
                weight, AXES[int(rng.integers(2))], "31", "80", place_id=anchor.id)

    shares = {d.code: d.camera_share for d in profile.divisions}
    counts = _allocate(n - len(checkpoints), shares)
    for code in sorted(counts):
        centre = world.divisions[code].centre
        spread = world.shares[code].spread_km
        for _ in range(counts[code]):
            lon, lat = world.point_near(rng, centre[0], centre[1], spread)
            division = world.division_of(lon, lat)  # the division of the location (nearest centre)
            urban = world.is_urban(division)
            roads = ROADS[division]
            u = rng.random()
            axis = AXES[int(rng.integers(len(AXES)))] if not urban else AXES[int(rng.integers(2))]
            if urban:
                i, j = rng.choice(len(roads), size=2, replace=False)
                road, cross = roads[int(i)], roads[int(j)]
                road_class = "arterial" if u < 0.45 else "secondary_arterial" if u < 0.85 else "branch"
                lanes = int(rng.integers(4, 7)) if road_class == "arterial" else int(
                    rng.integers(2, 5)) if road_class == "secondary_arterial" else 2
                weight = lanes * (1.0 if road_class != "branch" else 0.6)
                add(division, lon, lat, f"{road}与{cross}交叉口卡口", road, road_class, ROAD_CLASS_SPEED[road_class],
                    lanes, weight, axis, "31", "81" if u < 0.7 else "80")
            elif u < 0.25:
                road = HIGHWAYS[int(rng.integers(len(HIGHWAYS)))]
                lanes = int(rng.choice([4, 6]))
                add(division, lon, lat, f"{road}{SHORT_NAMES[division]}段K{int(rng.integers(20, 400))}卡口", road,
                    "expressway", 100, lanes, lanes * 0.9, axis, "30", "80")
            elif u < 0.70:
                road = NATIONAL_ROADS[int(rng.integers(len(NATIONAL_ROADS)))]
                lanes = int(rng.choice([2, 4]))
                add(division, lon, lat, f"{road}{SHORT_NAMES[division]}段K{int(rng.integers(20, 400))}卡口", road,
                    "arterial", RURAL_ROAD_LIMIT, lanes, lanes * 0.7, axis, "40", "81")
            else:
                i, j = rng.choice(len(roads), size=2, replace=False)
                road, cross = roads[int(i)], roads[int(j)]
                lanes = int(rng.integers(2, 5))
                add(division, lon, lat, f"{SHORT_NAMES[division]}{road}与{cross}交叉口卡口", road, "secondary_arterial", 50,
                    lanes, lanes * 0.6, axis, "41", "81")
    return checkpoints


# ====================================================================================================================
# Detectors
# ====================================================================================================================

def build_detectors(world: World, scale: Scale) -> list[dict]:
    """Traffic-flow detectors, in pairs on road segments (one per direction: each is the other's neighbour).

    Each is a dict: ``detector_id`` ("DET" + division + 5-digit serial), ``name``, ``detector_type``
    (detector_type codes), ``road_segment_id``, ``road_name``, ``road_class``, ``direction`` (HDirectionType),
    ``lane_count`` (2–4), ``lon``, ``lat``, ``division``, ``installed_at`` (YYYY-MM-DD), ``lane_daily_volume``
    (vehicles per lane on an ordinary day) and ``free_speed`` (km/h). About 40% sit on junction approaches.
    """
    rng = world.rng("traffic.detectors")
    profile = world.profile
    n = scale.detectors
    n_segments = (n + 1) // 2
    junctions = sorted(profile.junctions, key=lambda j: j.id)
    at_junctions = min(n_segments, round(n_segments * 0.4))
    weights = {d.code: d.camera_share * (2.0 if world.is_urban(d.code) else 0.5) for d in profile.divisions}
    scattered = _allocate(n_segments - at_junctions, weights)
    sites: list[tuple[str, float, float, str, str]] = []  # (division, lon, lat, road, road_class)
    for k in range(at_junctions):
        j = junctions[k % len(junctions)]
        east, north = rng.normal(0, 250), rng.normal(0, 250)
        lon, lat = _offset(j.lon, j.lat, east, north)
        road = j.name_zh.split("与")[0] if abs(east) > abs(north) else j.name_zh.split("与")[-1].replace("交叉口", "")
        sites.append((j.division, lon, lat, road, "arterial"))
    for code in sorted(scattered):
        centre = world.divisions[code].centre
        for _ in range(scattered[code]):
            lon, lat = world.point_near(rng, centre[0], centre[1], world.shares[code].spread_km)
            division = world.division_of(lon, lat)
            roads = ROADS[division]
            if world.is_urban(division):
                road = roads[int(rng.integers(len(roads)))]
                road_class = "arterial" if rng.random() < 0.6 else "secondary_arterial"
            elif rng.random() < 0.5:
                road, road_class = NATIONAL_ROADS[int(rng.integers(len(NATIONAL_ROADS)))], "arterial"
            else:
                road, road_class = roads[int(rng.integers(len(roads)))], "secondary_arterial"
            sites.append((division, lon, lat, road, road_class))

    serials: dict[str, int] = {}
    detectors: list[dict] = []
    for s, (division, lon, lat, road, road_class) in enumerate(sites):
        axis = AXES[int(rng.integers(2))]
        lanes = int(rng.integers(2, 5)) if road_class == "arterial" else int(rng.integers(2, 4))
        dtype = DETECTOR_TYPES[int(_pick(rng, DETECTOR_TYPES))][0]
        installed = date(2012, 1, 1) + timedelta(days=int(rng.integers(0, 12 * 365)))
        urban = world.is_urban(division)
        limit = ROAD_CLASS_SPEED[road_class] if urban else RURAL_ROAD_LIMIT
        base_volume = (9000 if road_class == "arterial" else 6000) * (1.0 if urban else 0.5)
        segment = f"RS{division}{s + 1:05d}"
        for direction in axis:
            if len(detectors) == n:
                break
            serial = serials.get(division, 0) + 1
            serials[division] = serial
            d_lon, d_lat = _offset(lon, lat, rng.normal(0, 10), rng.normal(0, 10))
            detectors.append({
                "detector_id": f"DET{division}{serial:05d}",
                "name": f"{SHORT_NAMES[division]}{road}{_direction_label(direction)}检测器{serial:03d}",
                "detector_type": dtype, "road_segment_id": segment, "road_name": road, "road_class": road_class,
                "direction": direction, "lane_count": lanes, "lon": d_lon, "lat": d_lat, "division": division,
                "installed_at": installed.isoformat(),
                "lane_daily_volume": int(base_volume * float(rng.lognormal(0, 0.25))),
                "free_speed": round(limit * float(rng.uniform(0.8, 0.95)), 1)})
    return detectors


def write_detector_registry(detectors: list[dict], out: Path, manifest: Manifest, day: date) -> dict:
    """The traffic platform's detector registry as of ``day``, ``out/detector_registry/detectors_<YYYYMMDD>.csv``
    (UTF-8, Chinese header, one row per detector in ``detectors``' order): ID, name, type and road class as display
    names (线圈, 主干路 …), road segment, road, HDirectionType, lanes, WGS-84 position, division and installation date.

    No faults, and no random draws: the registry is what ``build_detectors`` built. Returns ``{"files", "rows"}``.
    """
    rows = [[d["detector_id"], d["name"], DETECTOR_TYPE_LABELS[d["detector_type"]], d["road_segment_id"],
             d["road_name"], ROAD_CLASS_LABELS[d["road_class"]], d["direction"], str(d["lane_count"]),
             f"{d['lon']:.6f}", f"{d['lat']:.6f}", d["division"], d["installed_at"]] for d in detectors]
    relpath = f"detector_registry/detectors_{day:%Y%m%d}.csv"
    write_encoded(Path(out) / relpath, csv_text(REGISTRY_HEADER, rows), "utf-8")
    manifest.file(relpath, "detector_registry_csv", len(rows))
    return {"files": 1, "rows": len(rows)}


def _direction_label(direction: str) -> str:
    return {"1": "东向", "2": "西向", "3": "南向", "4": "北向", "5": "东北向", "6": "西南向", "7": "东南向",
            "8": "西北向"}.get(direction, "")


# ====================================================================================================================
# Vehicle passes
# ====================================================================================================================

def _cp(chars: str) -> np.ndarray:
    return np.array([ord(c) for c in chars], dtype="<u4")


@dataclass
class _Pool:
    """The vehicles that drive around: local (冀C) first, then visitors; plates unique within the pool."""
    plate: np.ndarray       # <U8 (an unplated vehicle's "plate" is its description 无牌)
    category: np.ndarray    # index into VEHICLE_CATEGORIES
    colour: np.ndarray      # index into BODY_COLOURS
    n_local: int
    local_cdf: np.ndarray   # cumulative activity weights of the local vehicles
    visitor_cdf: np.ndarray


def _plates(rng: np.random.Generator, province: np.ndarray, authority: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Plate numbers (GA 36) for the given province/authority code points and plate kinds, built as code points."""
    n = len(kind)
    letters, digits, alnum = _cp(SERIAL_LETTERS), _cp("0123456789"), _cp(SERIAL_LETTERS + "0123456789")
    cp = np.zeros((n, 8), dtype="<u4")
    cp[:, 0], cp[:, 1] = province, authority
    is_letter = rng.random((n, 5)) < np.array([0.30, 0.10, 0.03, 0.03, 0.03])
    ordinary = np.where(is_letter, letters[rng.integers(0, len(letters), (n, 5))], digits[rng.integers(0, 10, (n, 5))])
    nev_letter = np.where(rng.random(n) < 0.7, ord("D"), ord("F")).astype("<u4")
    nev_second = alnum[rng.integers(0, len(alnum), n)]
    number = digits[rng.integers(0, 10, (n, 5))]
    cp[:, 2:7] = ordinary
    m = kind == NEV_S
    cp[m, 2], cp[m, 3], cp[m, 4:8] = nev_letter[m], nev_second[m], number[m, :4]
    m = kind == NEV_L
    cp[m, 2:7], cp[m, 7] = number[m], nev_letter[m]
    cp[kind == SCHOOL, 6] = ord("学")
    m = kind == POLICE
    cp[m, 2:6], cp[m, 6] = number[m, :4], ord("警")
    m = kind == NONE
    cp[m] = 0
    cp[m, 0], cp[m, 1] = ord("无"), ord("牌")
    return cp.view("<U8").ravel()


def _vehicle_pool(world: World, scale: Scale) -> _Pool:
    rng = world.rng("traffic.vehicles")
    n_local = max(20_000, scale.passes_per_day // 10)
    n_visitor = max(8_000, scale.passes_per_day // 25)
    kinds = np.array([c[3] for c in VEHICLE_CATEGORIES])
    prefix = world.city.plate_prefix  # 冀C
    parts = []
    for n, local in ((n_local, True), (n_visitor, False)):
        category = _pick(rng, VEHICLE_CATEGORIES, n)
        if local:
            province = np.full(n, ord(prefix[0]), dtype="<u4")
            authority = np.full(n, ord(prefix[1]), dtype="<u4")
        else:
            pairs = [(p, a, w / len(letters)) for p, letters, w in VISITOR_PLATES for a in letters]
            chosen = _pick(rng, tuple(pairs), n)
            province = _cp("".join(p for p, _, _ in pairs))[chosen]
            authority = _cp("".join(a for _, a, _ in pairs))[chosen]
        kind = kinds[category]
        # police, driving-school and emergency plates are local
        category = np.where(~local & ((kind == POLICE) | (kind == SCHOOL)), 0, category)
        kind = kinds[category]
        plate = _plates(rng, province, authority, kind)
        colour = _pick(rng, BODY_COLOURS, n)
        colour = np.where(kind == POLICE, 1, colour)  # white
        activity = rng.lognormal(0, 1.0, n)
        # drop repeated plate numbers (keep the first): a plate seen on two vehicles would look like a cloned plate
        _, first = np.unique(plate, return_index=True)
        keep = np.zeros(n, dtype=bool)
        keep[first] = True
        keep |= kind == NONE
        parts.append((plate[keep], category[keep], colour[keep], activity[keep]))
    (lp, lc, lcol, la), (vp, vc, vcol, va) = parts
    visitor_keep = ~np.isin(vp, lp)
    vp, vc, vcol, va = vp[visitor_keep], vc[visitor_keep], vcol[visitor_keep], va[visitor_keep]
    return _Pool(np.concatenate([lp, vp]), np.concatenate([lc, vc]), np.concatenate([lcol, vcol]), len(lp),
                 np.cumsum(la), np.cumsum(va))


@dataclass
class _Batch:
    """Passes of one hour (plus the late ones carried over), as columns."""
    lane: np.ndarray    # index into the lane tables
    time: np.ndarray    # <U14 YYYYMMDDhhmmss
    serial: np.ndarray  # <U5
    vehicle: np.ndarray
    speed: np.ndarray
    plate: np.ndarray   # <U8 (a bad plate is at most 8 characters too)

    def take(self, index: np.ndarray) -> "_Batch":
        return _Batch(self.lane[index], self.time[index], self.serial[index], self.vehicle[index], self.speed[index],
                      self.plate[index])

    @staticmethod
    def concat(a: "_Batch", b: "_Batch") -> "_Batch":
        return _Batch(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                        ("lane", "time", "serial", "vehicle", "speed", "plate")))

    def __len__(self) -> int:
        return len(self.lane)


def _bad_plate(rng: np.random.Generator, plate: str) -> str:
    """A plate that fails the plate_no format: I/O in the serial, one character short, or an unreadable province."""
    variant = int(rng.integers(3))
    if variant == 0:
        pos = int(rng.integers(2, len(plate)))
        return plate[:pos] + ("I" if rng.random() < 0.5 else "O") + plate[pos + 1:]
    if variant == 1 and len(plate) == 7 and plate[-1] not in "学警":
        return plate[:-1]
    if variant == 1:  # new-energy and special plates: the last character misread as O
        return plate[:-1] + "O"
    return BAD_PROVINCES[int(rng.integers(len(BAD_PROVINCES)))] + plate[1:]


def _hour_shares(world: World) -> np.ndarray:
    shares = np.array(world.profile.traffic_hourly, dtype=float)
    return shares / shares.sum()


def _summer_factors(world: World, checkpoints: list[dict]) -> np.ndarray:
    """Factor on each checkpoint's volume in a summer month: Beidaihe's, or the watched place's own."""
    factors = {p.id: p.summer_factor for p in world.profile.key_places}
    factors.update({j.id: j.summer_factor for j in world.profile.junctions})
    return np.array([world.profile.summer_beidaihe_factor if c["division"] == BEIDAIHE else
                     factors.get(c["junction_id"] or c["place_id"] or "", 1.0) for c in checkpoints])


def write_passes(world: World, scale: Scale, checkpoints: list[dict], start: date, days: int, out: Path,
                 manifest: Manifest, sink: Sink | None = None, now: datetime | None = None,
                 hours: Sequence[int] | None = None) -> dict:
    """Write ``days`` days of vehicle passes from ``start`` as GA/T 1400 MotorVehicle JSON files.

    Files: ``out/passes/<YYYYMMDD>/passes_<HH>_<nnn>.json`` (HH = hour of arrival, nnn from 001), each a
    ``{"MotorVehicleListObject": {"MotorVehicleObject": [...]}}`` of at most ``scale.pass_file_records`` objects,
    compact UTF-8 JSON. With ``sink``, every object is also sent as ``sink("viid.motor_vehicles", TollgateID, json)``
    in file order. ``now`` (default: midnight of the day after the period) is what future times are future against.
    ``hours`` (default all 24) restricts each day to those hours, e.g. for a benchmark of one hour.

    Faults (rates from ``world.faults.passes``, disjoint, all in the manifest keyed by MotorVehicleID): bad_plate
    (E_FORMAT plate_no), future_time (E_FUTURE_TIME pass_time: the device clock is ahead, PassTime and the ID's time
    later than now + 1 day), duplicate (E_DUPLICATE_ROW: the same object again, later in the same or the next file;
    the manifest names the file of the second copy), late (reason None: written at the start of the next hour's files;
    none in the last hour of the period).

    Returns ``{"passes", "records", "files", "faults": {kind: n}, "now"}`` (passes: distinct objects; records:
    objects written, duplicates included).
    """
    out = Path(out)
    now = now or datetime.combine(start + timedelta(days=days + 1), datetime.min.time())
    rates = world.faults.passes
    pool = _vehicle_pool(world, scale)
    hour_shares = _hour_shares(world)
    peak = hour_shares.max()

    # lane tables
    lane_dev, lane_fixed, lane_img, lane_key = [], [], [], []
    lane_offset = np.zeros(len(checkpoints), dtype=np.int64)
    lane_count = np.zeros(len(checkpoints), dtype=np.int64)
    for i, c in enumerate(checkpoints):
        lane_offset[i], lane_count[i] = len(lane_dev), len(c["lanes"])
        for lane in c["lanes"]:
            lane_dev.append(lane["device_id"])
            lane_fixed.append(f'"TollgateID":"{c["tollgate_id"]}","DeviceID":"{lane["device_id"]}",'
                              f'"LaneNo":{lane["lane_no"]},"Direction":"{lane["direction"]}",'
                              f'"NameOfPassedRoad":"{c["road"]}",')
            lane_img.append(c["image_server"])
            lane_key.append(c["tollgate_id"].encode())
    lane_dev_arr = np.array(lane_dev, dtype="<U20")
    lane_fixed_arr = np.array(lane_fixed, dtype=object)

    base_weight = np.array([c["weight"] for c in checkpoints], dtype=float)
    summer_factor = _summer_factors(world, checkpoints)
    division = np.array([c["division"] for c in checkpoints])
    urban = np.array([world.is_urban(c["division"]) for c in checkpoints])
    free_speed = np.array([c["speed_limit"] * 0.85 for c in checkpoints], dtype=float)
    congestion = np.where(np.array([c["junction_id"] is not None for c in checkpoints]), 0.55,
                          np.where(np.array([c["road_class"] == "expressway" for c in checkpoints]), 0.10,
                                   np.where(urban, 0.40, 0.15)))
    visitor_base = np.where(division == BEIDAIHE, 0.20, np.where(urban, 0.12, 0.15))
    category_prefix = np.array([
        (f'"HasPlate":true,"PlateClass":"{pc}","PlateColor":"{col}","VehicleClass":"{vc}","PlateNo":"' if kind != NONE
         else f'"HasPlate":false,"PlateClass":"{pc}","VehicleClass":"{vc}","PlateDescribe":"')
        for vc, pc, col, kind, _, _ in VEHICLE_CATEGORIES], dtype=object)
    category_speed = np.array([c[4] for c in VEHICLE_CATEGORIES])
    category_plated = np.array([c[3] != NONE for c in VEHICLE_CATEGORIES])
    colour_codes = np.array([c for c, _ in BODY_COLOURS], dtype=object)
    serials = np.array([f"{i:05d}" for i in range(100_000)], dtype="<U5")
    mmss = np.array([f"{s // 60:02d}{s % 60:02d}" for s in range(3600)], dtype="<U4")
    clock_rng = world.rng("traffic.passes.clock")
    # a device whose clock is ahead is ahead by the same amount all along
    ahead_s = (now + timedelta(days=1) - datetime.combine(start, datetime.min.time())).total_seconds()
    clock_ahead = ahead_s + clock_rng.integers(3600, 400 * 86400, len(lane_dev))

    stats = {"passes": 0, "records": 0, "files": 0,
             "faults": {"bad_plate": 0, "future_time": 0, "duplicate": 0, "late": 0}, "now": now.isoformat()}
    carry: _Batch | None = None
    r_bad, r_future, r_dup, r_late = rates.bad_plate, rates.future_time, rates.duplicate, rates.late
    hours = sorted(set(range(24) if hours is None else hours))
    final = (days - 1, hours[-1])
    for d in range(days):
        day = start + timedelta(days=d)
        ymd = day.strftime("%Y%m%d")
        summer = world.summer(day.month)
        weight = base_weight * (summer_factor if summer else 1.0)
        day_total = scale.passes_per_day * weight.sum() / base_weight.sum()
        cp_p = weight / weight.sum()
        visitor_p = np.where(summer & (summer_factor > 1), np.minimum(0.6, visitor_base * 2.2), visitor_base)
        lane_img_day = np.array([f"{u}{ymd}/" for u in lane_img], dtype=object)
        day_index = 0
        for h in hours:
            began = time.perf_counter()
            rng = world.rng(f"traffic.passes.{ymd}.{h:02d}")
            n = int(rng.poisson(day_total * hour_shares[h]))
            secs = np.sort(rng.integers(0, 3600, n))
            cp = rng.choice(len(checkpoints), size=n, p=cp_p)
            lane = lane_offset[cp] + (rng.random(n) * lane_count[cp]).astype(np.int64)
            is_visitor = rng.random(n) < visitor_p[cp]
            local = np.searchsorted(pool.local_cdf, rng.random(n) * pool.local_cdf[-1], side="right")
            visitor = pool.n_local + np.searchsorted(pool.visitor_cdf, rng.random(n) * pool.visitor_cdf[-1],
                                                     side="right")
            vehicle = np.where(is_visitor, visitor, local)
            slow = 1 - congestion[cp] * (hour_shares[h] / peak) ** 2
            speed = free_speed[cp] * slow * category_speed[pool.category[vehicle]] * (1 + 0.12 * rng.standard_normal(n))
            speed = np.clip(np.rint(speed), 3, 180).astype(np.int64)
            times = np.char.add(f"{ymd}{h:02d}", mmss[secs]) if n else np.zeros(0, dtype="<U14")
            batch = _Batch(lane, times.astype("<U14"), serials[(day_index + np.arange(n)) % 100_000], vehicle, speed,
                           pool.plate[vehicle].astype("<U8"))
            day_index += n
            # faults: one uniform per pass, disjoint intervals
            u = rng.random(n)
            has_plate = category_plated[pool.category[vehicle]]
            bad = (u < r_bad) & has_plate
            future = (u >= r_bad) & (u < r_bad + r_future)
            dup = (u >= r_bad + r_future) & (u < r_bad + r_future + r_dup)
            last_hour = (d, h) == final
            late = (u >= r_bad + r_future + r_dup) & (u < r_bad + r_future + r_dup + r_late) & (not last_hour)
            fault_rng = world.rng(f"traffic.passes.faults.{ymd}.{h:02d}")
            for i in np.flatnonzero(bad):
                batch.plate[i] = _bad_plate(fault_rng, str(batch.plate[i]))
            for i in np.flatnonzero(future):
                t = datetime.strptime(str(batch.time[i]), "%Y%m%d%H%M%S") + timedelta(
                    seconds=int(clock_ahead[lane[i]]))
                batch.time[i] = t.strftime("%Y%m%d%H%M%S")
            kind = np.zeros(n, dtype=np.int8)
            kind[bad], kind[future], kind[dup] = 1, 2, 3
            stats["passes"] += n

            keep = np.flatnonzero(~late)
            current = batch.take(keep)
            current_kind = kind[keep]
            next_carry = batch.take(np.flatnonzero(late))
            carried = len(carry) if carry is not None else 0
            if carry is not None:
                current = _Batch.concat(carry, current)
                current_kind = np.concatenate([np.full(carried, 4, dtype=np.int8), current_kind])
            carry = next_carry if len(next_carry) else None

            # the order of writing, duplicates re-sent a little later (same or next file)
            m = len(current)
            dup_pos = np.flatnonzero(current_kind == 3)
            shift = rng.integers(1, min(scale.pass_file_records, DUPLICATE_WITHIN) + 1, len(dup_pos))
            keys = np.concatenate([2 * np.arange(m), 2 * np.minimum(dup_pos + shift, m - 1) + 1])
            sources = np.concatenate([np.arange(m), dup_pos])
            order_keys = np.argsort(keys, kind="stable")
            order = sources[order_keys]
            is_copy = order_keys >= m
            written = _write_hour(out, ymd, h, current, current_kind, order, is_copy, scale.pass_file_records,
                                  lane_dev_arr, lane_fixed_arr, lane_img_day, lane_key, category_prefix, colour_codes,
                                  pool, manifest, sink, stats)
            elapsed = time.perf_counter() - began
            log.info("passes %s %02d:00 — %d passes (%d late from the hour before, %d duplicates) in %d files, "
                     "%.1f s, %.0f records/s", ymd, h, n, carried, len(dup_pos), written, elapsed,
                     (m + len(dup_pos)) / elapsed if elapsed else 0.0)
    return stats


def _write_hour(out: Path, ymd: str, hour: int, batch: _Batch, kind: np.ndarray, order: np.ndarray,
                is_copy: np.ndarray, per_file: int, lane_dev: np.ndarray, lane_fixed: np.ndarray, lane_img: np.ndarray,
                lane_key: list[bytes], category_prefix: np.ndarray, colour_codes: np.ndarray, pool: _Pool,
                manifest: Manifest, sink: Sink | None, stats: dict) -> int:
    """Write one hour's objects in `order` into files of at most `per_file`, and record the file's faults."""
    directory = out / "passes" / ymd
    directory.mkdir(parents=True, exist_ok=True)
    files = 0
    for f, lo in enumerate(range(0, len(order), per_file)):
        file_idx = order[lo:lo + per_file]
        relpath = f"passes/{ymd}/passes_{hour:02d}_{f + 1:03d}.json"
        with open(out / relpath, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(FILE_HEAD)
            for c in range(0, len(file_idx), RENDER_CHUNK):
                idx = file_idx[c:c + RENDER_CHUNK]
                lane = batch.lane[idx]
                t = batch.time[idx]
                source_id = np.char.add(np.char.add(lane_dev[lane], "02"), np.char.add(t, batch.serial[idx]))
                vehicle = batch.vehicle[idx]
                source_ids = source_id.tolist()
                records = [PASS_TEMPLATE % args for args in zip(
                    np.char.add(source_id, "0200001").tolist(), source_ids, lane_fixed[lane].tolist(), t.tolist(),
                    category_prefix[pool.category[vehicle]].tolist(), batch.plate[idx].tolist(),
                    colour_codes[pool.colour[vehicle]].tolist(), batch.speed[idx].tolist(),
                    lane_img[lane].tolist(), source_ids)]
                if c:
                    fh.write(",")
                fh.write(",".join(records))
                if sink is not None:
                    for key, record in zip([lane_key[i] for i in lane.tolist()], records):
                        sink(PASS_TOPIC, key, record.encode("utf-8"))
                del records, source_ids
            fh.write(FILE_TAIL)
        manifest.file(relpath, "passes_json", len(file_idx))
        files += 1
        stats["files"] += 1
        stats["records"] += len(file_idx)
        # the ground truth of this file (a duplicate is the second copy; the first one is a valid record)
        file_kind = kind[file_idx]
        copies = is_copy[lo:lo + per_file]
        for k, (name, reason, field_name) in FAULT_KINDS.items():
            hits = np.flatnonzero((file_kind == k) & (copies if k == 3 else ~copies))
            if not len(hits):
                continue
            rows = file_idx[hits]
            ids = np.char.add(np.char.add(np.char.add(lane_dev[batch.lane[rows]], "02"),
                                          np.char.add(batch.time[rows], batch.serial[rows])), "0200001")
            for i, key in zip(hits.tolist(), ids.tolist()):
                manifest.fault(name, relpath, key=key, reason=reason, field_name=field_name, index=i)
            stats["faults"][name] += len(hits)
    return files


# ====================================================================================================================
# Detector flows
# ====================================================================================================================

# A severe congestion episode a day (an accident jamming a watched junction in the evening peak): the detectors
# within APPROACH_M of the junction crawl (a few vehicles per lane and interval at walking pace, the loops mostly
# occupied) for EPISODE_INTERVALS five-minute intervals starting in EPISODE_STARTS.
APPROACH_M = 300.0  # within the junctions' approach_m of config/cities/<city>/junctions.yaml
EPISODE_STARTS = (210, 222)  # 17:30 up to 18:25 (interval indexes of the day)
EPISODE_INTERVALS = (4, 5, 6)  # 20 to 30 minutes


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    east = (lon2 - lon1) * KM_PER_DEGREE_LAT * 1000 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(east, (lat2 - lat1) * KM_PER_DEGREE_LAT * 1000)


def _congestion_episode(world: World, detectors: list[dict], day: date, faulty: set[int], volume: np.ndarray,
                        occupancy: np.ndarray, speed: np.ndarray, present: np.ndarray, det_of_lane: np.ndarray,
                        manifest: Manifest) -> None:
    """Jam one junction of the profile for 20–30 minutes of the evening peak, in place: its own random stream,
    so the day's other flows do not change with it. The junction is drawn (weighted by its peak congestion) among
    those with detectors within APPROACH_M and none of them faulty that day; none drawn when no junction has."""
    rng = world.rng(f"traffic.congestion_episode.{day:%Y%m%d}")
    reach = {j.id: [i for i, d in enumerate(detectors) if _distance_m(j.lon, j.lat, d["lon"], d["lat"]) <= APPROACH_M]
             for j in world.profile.junctions}
    candidates = [j for j in sorted(world.profile.junctions, key=lambda j: j.id)
                  if reach[j.id] and not faulty.intersection(reach[j.id])]
    if not candidates:
        return
    weights = np.array([j.peak_index for j in candidates], dtype=float)
    junction = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
    first = int(rng.integers(*EPISODE_STARTS))
    block = slice(first, first + int(rng.choice(EPISODE_INTERVALS)))
    rows = np.flatnonzero(np.isin(det_of_lane, reach[junction.id]))
    shape = (len(rows), block.stop - block.start)
    volume[rows, block] = rng.integers(1, 7, shape)
    speed[rows, block] = np.round(rng.uniform(2.0, 8.0, shape), 1)
    occupancy[rows, block] = np.round(rng.uniform(70.0, 95.0, shape), 1)
    present[rows, block] = True
    zone = ZoneInfo(world.city.timezone)
    start = datetime.combine(day, datetime.min.time(), zone) + timedelta(minutes=5 * block.start)
    manifest.situation("severe_congestion", junction.id, junction_id=junction.id, date=day.isoformat(),
                       **{"from": start.isoformat(), "to": (start + timedelta(minutes=5 * shape[1])).isoformat()},
                       detectors=sorted(detectors[i]["detector_id"] for i in reach[junction.id]))


def _interval_profile(world: World) -> np.ndarray:
    """Share of a day's volume in each of the 288 five-minute intervals, interpolated between hour midpoints."""
    hourly = _hour_shares(world)
    x = np.arange(288) / 12.0
    centres = np.arange(24) + 0.5
    values = np.interp(x, np.concatenate([centres - 24, centres, centres + 24]),
                       np.concatenate([hourly, hourly, hourly]))
    return values / values.sum()


def write_detector_flows(world: World, scale: Scale, detectors: list[dict], start: date, days: int, out: Path,
                         manifest: Manifest) -> dict:
    """One vendor CSV a day, ``out/detectors/flows_<YYYYMMDD>.csv`` (UTF-8, Chinese header): a row per detector,
    5-minute interval and lane, with volume, occupancy (%) and mean speed (empty when no vehicle passed).

    On about 1% of the detectors (at least five) each day, one fault of the kinds PeMS diagnoses, each in the manifest
    as kind "detector_fault" keyed by detector_id, with the expected reason (detector_fault_reason) and verdict and the
    injected ``signature``: stuck (constant_value: one non-zero volume, occupancy and speed all day), zeros
    (zero_volume: all-zero volume and occupancy while the other direction of the segment flows),
    impossible_occupancy (occupancy_out_of_range: occupancy 0 with traffic 10:00–16:00 and above 100% at 08:00–08:30),
    intermittent (no_data, suspect: about half the intervals missing) and feed_down (no_data: no rows at all).
    Faulty detectors of a day are on distinct segments, so each has a healthy neighbour.

    Each day also holds one severe congestion episode at a junction of the profile (``_congestion_episode``: 20–30
    minutes of crawling traffic in the evening peak on the detectors within APPROACH_M of it), in the manifest's
    situations as kind "severe_congestion" keyed by junction_id, with its ``from``/``to`` and detectors.

    Returns ``{"files", "rows", "faults": {signature: [detector_id, ...]}}``.
    """
    out = Path(out)
    directory = out / "detectors"
    directory.mkdir(parents=True, exist_ok=True)
    profile = _interval_profile(world)
    n_det = len(detectors)
    lanes = np.array([d["lane_count"] for d in detectors])
    det_of_lane = np.repeat(np.arange(n_det), lanes)
    lane_no = np.concatenate([np.arange(1, k + 1) for k in lanes]) if n_det else np.zeros(0, dtype=int)
    daily = np.array([d["lane_daily_volume"] for d in detectors], dtype=float)[det_of_lane]
    free = np.array([d["free_speed"] for d in detectors], dtype=float)[det_of_lane]
    capacity = 1800.0 / 12  # vehicles per lane per 5 minutes at saturation
    beidaihe = np.array([d["division"] == BEIDAIHE for d in detectors])[det_of_lane]
    ids = [d["detector_id"] for d in detectors]
    ids_arr = np.array(ids, dtype=object)
    lane_start = np.concatenate([[0], np.cumsum(lanes)])
    segments: dict[str, list[int]] = {}
    for i, d in enumerate(detectors):
        segments.setdefault(d["road_segment_id"], []).append(i)
    segment_list = sorted(k for k, members in segments.items() if len(members) > 1)  # faults need a neighbour
    signatures = list(DETECTOR_FAULTS)
    result = {"files": 0, "rows": 0, "faults": {s: [] for s in signatures}}
    for dday in range(days):
        day = start + timedelta(days=dday)
        ymd = day.strftime("%Y%m%d")
        rng = world.rng(f"traffic.detector_flows.{ymd}")
        factor = np.where(beidaihe & world.summer(day.month), world.profile.summer_beidaihe_factor, 1.0)
        level = rng.lognormal(0, 0.1, n_det)[det_of_lane]
        expected = (daily * factor * level)[:, None] * profile[None, :]
        volume = rng.poisson(expected).astype(np.int64)
        ratio = np.minimum(volume / capacity, 1.2)
        speed = np.clip(free[:, None] * (1 - 0.55 * ratio ** 2) * (1 + 0.08 * rng.standard_normal(volume.shape)),
                        5, None)
        occupancy = np.minimum(volume * 12 * VEHICLE_LENGTH_M / (speed * 1000) * 100, 95.0)
        occupancy = np.round(occupancy, 1)
        speed = np.round(speed, 1)
        present = np.ones(volume.shape, dtype=bool)

        # faults: one detector on each of a few distinct segments
        n_faulty = min(len(segment_list), max(5, round(0.01 * n_det)))
        chosen_segments = rng.choice(len(segment_list), size=n_faulty, replace=False) if n_faulty else []
        relpath = f"detectors/flows_{ymd}.csv"
        faulty: set[int] = set()
        for k, s in enumerate(chosen_segments):
            members = segments[segment_list[int(s)]]
            det = members[int(rng.integers(len(members)))]
            signature = signatures[k % len(signatures)]
            rows = det_of_lane == det
            if signature == "stuck":
                volume[rows] = int(rng.integers(8, 40))
                occupancy[rows] = round(float(rng.uniform(4, 15)), 1)
                speed[rows] = round(float(rng.uniform(25, 50)), 1)
            elif signature == "zeros":
                volume[rows], occupancy[rows] = 0, 0.0
            elif signature == "impossible_occupancy":
                block = np.zeros(288, dtype=bool)
                block[120:192] = True  # 10:00–16:00
                sub = volume[rows]
                sub[:, block] = np.maximum(sub[:, block], 1)
                volume[rows] = sub
                occ = occupancy[rows]
                occ[:, block] = 0.0
                occ[:, 96:102] = np.round(rng.uniform(100.5, 250.0, (occ.shape[0], 6)), 1)  # 08:00–08:30
                occupancy[rows] = occ
            elif signature == "intermittent":
                missing = rng.random(288) < 0.5
                present[np.ix_(np.flatnonzero(rows), np.flatnonzero(missing))] = False
            elif signature == "feed_down":
                present[rows] = False
            reason, verdict = DETECTOR_FAULTS[signature]
            manifest.fault("detector_fault", relpath, key=ids[det], reason=reason, signature=signature,
                           verdict=verdict, date=day.isoformat())
            result["faults"][signature].append(ids[det])
            faulty.add(det)
        _congestion_episode(world, detectors, day, faulty, volume, occupancy, speed, present, det_of_lane, manifest)

        starts = np.array([f"{day.isoformat()} {m // 60:02d}:{m % 60:02d}:00" for m in range(0, 1440, 5)],
                          dtype=object)
        rows_written = 0
        # rows ordered by detector, interval, lane; rendered a block of detectors at a time
        with open(out / relpath, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(DETECTOR_HEADER)
            for first in range(0, n_det, FLOW_BLOCK):
                lo = int(lane_start[first])
                hi = int(lane_start[min(first + FLOW_BLOCK, n_det)])
                # (lane, interval) → (interval, lane) within each detector: sort by detector, then interval, then lane
                det = np.repeat(det_of_lane[lo:hi], 288)
                interval = np.tile(np.arange(288), hi - lo)
                lane_index = np.repeat(np.arange(lo, hi), 288)
                order = np.lexsort((lane_no[lane_index], interval, det))
                order = order[present[lo:hi].ravel()[order]]
                lanes_o, t_o = lane_index[order], interval[order]
                vol = volume[lanes_o, t_o]
                spd = np.where(vol > 0, np.char.mod("%.1f", speed[lanes_o, t_o]), "")
                rows = zip(ids_arr[det[order]].tolist(), starts[t_o].tolist(), lane_no[lanes_o].tolist(),
                           vol.tolist(), np.char.mod("%.1f", occupancy[lanes_o, t_o]).tolist(), spd.tolist())
                fh.write("".join([f"{d},{st},5,{ln},{v},{o},{sp},\n" for d, st, ln, v, o, sp in rows]))
                rows_written += len(order)
        manifest.file(relpath, "detector_flows_csv", rows_written)
        result["files"] += 1
        result["rows"] += rows_written
        log.info("detector flows %s — %d rows, %d faulty detectors", ymd, rows_written, len(chosen_segments))
    return result


# ====================================================================================================================
# Incidents
# ====================================================================================================================

def _serious_accident(world: World, day: date, label: str) -> dict:
    """The day's rare accident with deaths (a multi-vehicle crash at a busy junction in the evening peak): three
    dead make it a level III (较大) emergency by 《生产安全事故报告和调查处理条例》, which no ordinary accident of the
    day reaches. Its own random stream, so the day's other incidents stay as they were."""
    rng = world.rng(f"traffic.situations.{day:%Y%m%d}")
    junctions = sorted(world.profile.junctions, key=lambda j: (-j.peak_index, j.id))
    junction = junctions[int(rng.integers(min(3, len(junctions))))]
    occurred = datetime.combine(day, datetime.min.time()) + timedelta(hours=17, seconds=int(rng.integers(0, 7200)))
    reported = occurred + timedelta(seconds=int(rng.integers(60, 300)))
    cleared = reported + timedelta(seconds=int(rng.integers(3 * 3600, 5 * 3600)))
    lon, lat = _offset(junction.lon, junction.lat, rng.normal(0, 30), rng.normal(0, 30))
    deaths, injured = 3, int(rng.integers(4, 9))
    return {"bjsj": reported.strftime("%Y-%m-%d %H:%M:%S"), "sjlx": "accident", "sjlxmc": label,
            "fssj": occurred.strftime("%Y-%m-%d %H:%M:%S"), "qcsj": cleared.strftime("%Y-%m-%d %H:%M:%S"),
            "sjdd": f"{junction.name_zh}附近", "jd": lon, "wd": lat, "xzqh": junction.division,
            "dlmc": junction.name_zh.split("与")[0], "dldj": "arterial", "fx": AXES[0][0], "zycds": 3,
            "swrs": deaths, "ssrs": injured, "shrs": deaths + injured, "sjly": INCIDENT_SOURCES[0][0],
            "sglx": "fatal", "_situation": "level_iii_accident"}


def write_incidents(world: World, scale: Scale, start: date, days: int, out: Path, manifest: Manifest) -> dict:
    """Traffic incidents from the traffic command platform, ``out/incidents/incidents_<YYYYMMDD>.jsonl``.

    One JSON object a line, sorted by report time, with the platform's pinyin fields: ``sjbh`` (事件编号), ``sjlx``
    (incident_type_traffic code), ``sjlxmc``, ``fssj``/``bjsj``/``qcsj`` (发生/报告/清除时间, "YYYY-MM-DD HH:MM:SS",
    occurred ≤ reported < cleared), ``sjdd`` (location text), ``jd``/``wd`` (lon/lat), ``xzqh`` (division), ``dlmc``
    (road), ``dldj`` (road_class), ``fx`` (HDirectionType), ``zycds`` (lanes blocked), ``swrs``/``ssrs``/``shrs``
    (dead, injured, casualties), ``sglx`` (traffic_accident_type, accidents only) and ``sjly`` (source).

    70% of incidents happen within about 100 m of the profile's junctions and key places (weighted by congestion and
    place weight, key places by their summer factor in summer), the rest around division centres by call share; the
    hour follows the traffic profile, so peaks have more. Returns ``{"files", "incidents"}``.
    """
    out = Path(out)
    directory = out / "incidents"
    directory.mkdir(parents=True, exist_ok=True)
    profile = world.profile
    hours = _hour_shares(world)
    types = list(INCIDENT_TYPES)
    type_p = np.array([INCIDENT_TYPES[t][0] for t in types])
    type_p /= type_p.sum()
    labels = {"accident": "交通事故", "breakdown": "车辆故障", "congestion": "交通拥堵", "stopped_vehicle": "异常停车",
              "obstacle": "路面障碍物或遗撒", "road_works": "道路施工", "wrong_way": "逆行",
              "road_closure": "道路封闭或交通管制", "weather": "恶劣天气", "large_event": "大型活动", "other": "其他"}
    hotspots = [("junction", j) for j in sorted(profile.junctions, key=lambda j: j.id)]
    hotspots += [("place", p) for p in sorted(profile.key_places, key=lambda p: p.id)]
    call_share = {d.code: d.call_share for d in profile.divisions}
    codes = sorted(call_share)
    result = {"files": 0, "incidents": 0}
    for dday in range(days):
        day = start + timedelta(days=dday)
        ymd = day.strftime("%Y%m%d")
        summer = world.summer(day.month)
        rng = world.rng(f"traffic.incidents.{ymd}")
        hot_w = np.array([(1 + a.peak_index) if k == "junction" else 2 * a.weight for k, a in hotspots], dtype=float)
        if summer:
            hot_w *= np.array([a.summer_factor for _, a in hotspots])
        hot_w /= hot_w.sum()
        n = int(rng.poisson(scale.incidents_per_day * (1.15 if summer else 1.0)))
        events = []
        for _ in range(n):
            itype = types[int(rng.choice(len(types), p=type_p))]
            hour = int(rng.choice(24, p=hours))
            occurred = datetime.combine(day, datetime.min.time()) + timedelta(
                hours=hour, seconds=int(rng.integers(0, 3600)))
            reported = occurred + timedelta(seconds=int(rng.exponential(240)) + 30)
            _, median, sigma = INCIDENT_TYPES[itype]
            cleared = reported + timedelta(seconds=max(120, int(median * 60 * rng.lognormal(0, sigma))))
            if rng.random() < HOTSPOT_SHARE:
                kind, anchor = hotspots[int(rng.choice(len(hotspots), p=hot_w))]
                lon, lat = _offset(anchor.lon, anchor.lat, rng.normal(0, 60), rng.normal(0, 60))
                division = anchor.division
                if kind == "junction":
                    road = anchor.name_zh.split("与")[0]
                    where = f"{anchor.name_zh}附近"
                else:
                    road = ROADS[division][int(rng.integers(len(ROADS[division])))]
                    where = f"{anchor.name_zh}附近{road}"
                road_class = "arterial"
            else:
                division = codes[int(rng.choice(len(codes), p=np.array([call_share[c] for c in codes]) /
                                                sum(call_share.values())))]
                centre = world.divisions[division].centre
                lon, lat = world.point_near(rng, centre[0], centre[1], world.shares[division].spread_km)
                division = world.division_of(lon, lat)
                road = ROADS[division][int(rng.integers(len(ROADS[division])))]
                where = f"{world.divisions[division].name_zh}{road}{int(rng.integers(1, 400))}号附近"
                road_class = "arterial" if rng.random() < 0.5 else "secondary_arterial"
            deaths = injured = 0
            accident_type = None
            if itype == "accident":
                u = rng.random()
                injured = int(rng.integers(1, 4)) if u < 0.25 else 0
                deaths = 1 if u < 0.015 else 0
                accident_type = "fatal" if deaths else "injury" if injured else "property_damage"
            lanes_blocked = int(rng.integers(0, 3)) if itype != "road_closure" else int(rng.integers(2, 5))
            source = INCIDENT_SOURCES[int(_pick(rng, INCIDENT_SOURCES))][0]
            event = {"bjsj": reported.strftime("%Y-%m-%d %H:%M:%S"), "sjlx": itype, "sjlxmc": labels[itype],
                     "fssj": occurred.strftime("%Y-%m-%d %H:%M:%S"), "qcsj": cleared.strftime("%Y-%m-%d %H:%M:%S"),
                     "sjdd": where, "jd": lon, "wd": lat, "xzqh": division, "dlmc": road, "dldj": road_class,
                     "fx": AXES[int(rng.integers(2))][int(rng.integers(2))], "zycds": lanes_blocked,
                     "swrs": deaths, "ssrs": injured, "shrs": deaths + injured, "sjly": source}
            if accident_type:
                event["sglx"] = accident_type
            events.append(event)
        events.append(_serious_accident(world, day, labels["accident"]))
        events.sort(key=lambda e: (e["bjsj"], e["jd"], e["wd"]))
        lines = []
        relpath = f"incidents/incidents_{ymd}.jsonl"
        for i, event in enumerate(events):
            situation = event.pop("_situation", None)
            event = {"sjbh": f"JTSJ{ymd}{i + 1:05d}", **event}
            if situation:
                manifest.situation(situation, event["sjbh"], file=relpath, deaths=event["swrs"], injured=event["ssrs"])
            manifest.keep("incidents", [{**event, "file": relpath}])
            lines.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        (out / relpath).write_text("".join(lines), encoding="utf-8", newline="\n")
        manifest.file(relpath, "incidents_jsonl", len(lines))
        result["files"] += 1
        result["incidents"] += len(lines)
        log.info("incidents %s — %d", ymd, len(lines))
    return result
