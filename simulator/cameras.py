"""Cameras: the registry, the video platform's GB/T 28181 catalog export, and heartbeats and status changes.

The catalog export is written as the platform writes it — one CSV per district sub-platform, GB18030 or UTF-8
with a BOM, vendor column names — plus the same catalog as JSON with GB/T 28181 field names. Cameras cluster in
the urban districts and around key places; recording devices (NVRs) carry channels that go down with them.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import Scale
from safecity.simulator.world import World
from safecity.simulator.writers import csv_text, relative, write_encoded, write_json, write_jsonl

log = logging.getLogger(__name__)

CATALOG_HEADER = ["设备编码", "设备名称", "生产厂商", "设备型号", "安装地址", "经度", "纬度", "摄像机类型", "用途",
                  "在线状态", "父设备编码", "位置类型"]
VENDORS = [("海康威视", "DS-2CD3T46WD"), ("大华", "DH-IPC-HFW4443M"), ("宇视", "IPC2124LB"), ("华为", "M2141-10-EI"),
           ("天地伟业", "TC-C34WS")]
NVR_MODELS = [("海康威视", "DS-9632N-I16"), ("大华", "DHI-NVR5464-4KS2")]
STREETS = ["人民路", "文化路", "河北大街", "迎宾路", "建设大街", "海阳路", "燕山大街", "西港路", "民族路", "红旗路",
           "东港路", "秦皇东大街", "联峰路", "海滨路", "关城南路", "碣石大街"]
POSITION_BY_KIND = {"railway_station": "3", "beach": "4", "scenic_area": "4", "school": "8", "hospital": "9",
                    "square": "4"}
OTHER_CITY_DIVISIONS = ["130402", "130102", "110101", "120101", "210202"]
# Police stations per division: the basic access unit (digits 7–8 of the ID) a recorder and its channels are
# registered under, numbered like the handling units of the simulated calls (01–08).
STATIONS_PER_DIVISION = 8


@dataclass
class Camera:
    device_id: str
    name: str
    division: str
    lon: float
    lat: float
    type_code: str
    use_type: str
    ptz_type: str
    position_type: str
    vendor: str
    model: str
    address: str
    parent_id: str | None = None
    place: str | None = None
    status: str = "ON"
    outages: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)


def _allocate(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole numbers per key in proportion to the shares, summing to `total` (largest remainders)."""
    weight = sum(shares.values())
    exact = {k: total * v / weight for k, v in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for key in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def build_registry(world: World, scale: Scale) -> list[Camera]:
    """Cameras and their NVRs; a quarter of the cameras stand at key places (key points, 重点)."""
    rng = world.rng("cameras")
    channels = scale.cameras
    per_division = _allocate(channels, {s.code: s.camera_share for s in world.profile.divisions})
    places = world.profile.key_places
    place_weights = np.array([p.weight for p in places]) / sum(p.weight for p in places)
    cameras: list[Camera] = []
    serials: dict[str, int] = {}

    def next_id(division: str, unit: int, industry: str, type_code: str) -> str:
        serials[division] = serials.get(division, 0) + 1
        return f"{division}{unit:02d}{industry}{type_code}0{serials[division]:06d}"

    for division in sorted(per_division):
        share = world.shares[division]
        centre = world.divisions[division].centre
        count = per_division[division]
        division_places = [i for i, p in enumerate(places) if p.division == division]
        nvr: Camera | None = None
        for index in range(count):
            if index % scale.nvr_channels == 0:
                vendor, model = NVR_MODELS[int(rng.integers(len(NVR_MODELS)))]
                lon, lat = world.point_near(rng, centre[0], centre[1], share.spread_km / 3)
                unit = index // scale.nvr_channels % STATIONS_PER_DIVISION + 1
                nvr_id = next_id(division, unit, "00", "118")
                nvr = Camera(nvr_id, f"{world.divisions[division].name_zh}NVR{len(serials)}-{index // scale.nvr_channels + 1:03d}",
                             division, lon, lat, "118", "1", "", "", vendor, model,
                             f"河北省秦皇岛市{world.divisions[division].name_zh}监控机房")
                cameras.append(nvr)
            at_place = division_places and rng.random() < 0.25
            if at_place:
                weights = place_weights[division_places] / place_weights[division_places].sum()
                place = places[division_places[int(rng.choice(len(division_places), p=weights))]]
                lon, lat = world.point_near(rng, place.lon, place.lat, 0.6)
                use_type, position, where = "3", POSITION_BY_KIND.get(place.kind, "4"), place.name_zh
            else:
                lon, lat = world.point_near(rng, centre[0], centre[1], share.spread_km)
                use_type = "2" if rng.random() < 0.2 else "1"
                position, where = ("10" if use_type == "2" else str(int(rng.choice([6, 9, 4])))), None
                place = None
            street = STREETS[int(rng.integers(len(STREETS)))]
            vendor, model = VENDORS[int(rng.integers(len(VENDORS)))]
            industry = "04" if use_type == "2" else "00"
            device_id = next_id(division, int(nvr.device_id[6:8]) if nvr else 0, industry,
                                "132" if rng.random() < 0.85 else "131")
            name = f"{world.divisions[division].name_zh}{where or street}{index + 1:04d}"
            cameras.append(Camera(device_id, name, division, lon, lat, device_id[10:13], use_type,
                                  str(int(rng.choice([1, 2, 3], p=[0.3, 0.2, 0.5]))), position, vendor, model,
                                  f"河北省秦皇岛市{world.divisions[division].name_zh}{where or street}",
                                  parent_id=nvr.device_id if nvr else None, place=place.id if place else None))
    return cameras


def simulate_outages(world: World, cameras: list[Camera], start: dt.datetime, days: int, manifest: Manifest,
                     heartbeat_file: str) -> None:
    """Outages with realistic durations (log-normal, median about 2 h, a tail of multi-day failures); an NVR that
    goes down takes all its channels with it."""
    rng = world.rng("outages")
    end = start + dt.timedelta(days=days)
    seconds = days * 86400
    children: dict[str, list[Camera]] = {}
    for camera in cameras:
        if camera.parent_id:
            children.setdefault(camera.parent_id, []).append(camera)
    for camera in cameras:
        is_nvr = camera.type_code == "118"
        rate = 0.03 if is_nvr else 0.08  # outages per device per day
        for _ in range(int(rng.poisson(rate * days))):
            begin = start + dt.timedelta(seconds=int(rng.integers(seconds)))
            duration = dt.timedelta(seconds=int(min(rng.lognormal(np.log(7200), 1.3), 5 * 86400)))
            stop = min(begin + duration, end + dt.timedelta(days=5))
            camera.outages.append((begin, stop))
            manifest.fault("nvr_outage" if is_nvr else "camera_outage", heartbeat_file, key=camera.device_id,
                           reason="offline", start=begin.isoformat(), end=stop.isoformat())
            for child in children.get(camera.device_id, []) if is_nvr else []:
                child.outages.append((begin, stop))
    _settle(cameras, end)


def _settle(cameras: list[Camera], end: dt.datetime) -> None:
    """Outages in order, and the status the catalog reports at the end of the days."""
    for camera in cameras:
        camera.outages.sort()
        camera.status = "OFF" if any(b <= end <= e for b, e in camera.outages) else "ON"


def add_outages(devices: list[Camera], spans: list[tuple[dt.datetime, dt.datetime]]) -> None:
    """Spans the devices are cut off for something above them (a network fault): they join the outage plan, so
    the heartbeats fall silent, but they are not the devices' own faults (the manifest records them elsewhere)."""
    for device in devices:
        device.outages.extend(spans)
        device.outages.sort()


def islands(outages: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """A device's outages (its own, its recorder's, the network's above it) merged where they overlap: the spans it
    was down, each reported once by the status feed (OFF at its start, ON at its end)."""
    merged: list[list[dt.datetime]] = []
    for begin, stop in sorted(outages):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([begin, stop])
    return [(b, e) for b, e in merged]


def write_catalog(world: World, cameras: list[Camera], out: Path, manifest: Manifest, day: dt.date) -> dict:
    """One CSV per district sub-platform (GB18030 or UTF-8 with BOM) and the whole catalog as JSON."""
    rng = world.rng("catalog")
    rates = world.faults.catalog
    stats = {"files": 0, "rows": 0}
    by_division: dict[str, list[Camera]] = {}
    for camera in cameras:
        by_division.setdefault(camera.division, []).append(camera)
    for division in sorted(by_division):
        encoding = "utf-8-bom" if rng.random() < world.faults.encoding.utf8_bom_share else "gb18030"
        # Where config/sources/video_platform_catalog_csv.yaml reads them (its `landing:`).
        path = out / "cameras" / f"catalog_{division}_{day:%Y%m%d}.csv"
        name = relative(path, out)
        lines: list[list[str]] = []
        truncated: set[int] = set()
        for camera in by_division[division]:
            row = [camera.device_id, camera.name, camera.vendor, camera.model, camera.address, f"{camera.lon:.6f}",
                   f"{camera.lat:.6f}", camera.ptz_type, camera.use_type, camera.status, camera.parent_id or "",
                   camera.position_type]
            line = len(lines) + 2
            kind = _catalog_fault(rng, rates)
            if kind == "malformed_id":
                row[0] = row[0][:-1] if rng.random() < 0.5 else row[0][:14] + "A" + row[0][15:]
                manifest.fault(kind, name, key=row[0], reason="E_FORMAT", field_name="device_id", line=line)
            elif kind == "wrong_division_id":
                row[0] = OTHER_CITY_DIVISIONS[int(rng.integers(len(OTHER_CITY_DIVISIONS)))] + row[0][6:]
                manifest.fault(kind, name, key=row[0], reason="E_CODE", field_name="division_code", line=line)
            elif kind == "unknown_type_code":
                row[0] = row[0][:10] + "999" + row[0][13:]
                manifest.fault(kind, name, key=row[0], reason="E_CODE", field_name="type_code", line=line)
            elif kind == "outside_city":
                row[5], row[6] = "116.397128", "39.916527"
                manifest.fault(kind, name, key=row[0], reason="E_OUT_OF_AREA", field_name="longitude", line=line)
            elif kind == "zero_coordinates":
                row[5], row[6] = "0", "0"
                manifest.fault(kind, name, key=row[0], reason="E_OUT_OF_AREA", field_name="longitude", line=line)
            elif kind == "missing_name":
                row[1] = ""
                manifest.fault(kind, name, key=row[0], reason="E_REQUIRED", field_name="name", line=line)
            elif kind == "truncated_line":
                truncated.add(len(lines))
                manifest.fault(kind, name, key=row[0], reason="E_COLUMNS", line=line)
            lines.append(row)
            if kind == "duplicate":
                lines.append(list(row))
                manifest.fault(kind, name, key=row[0], reason="E_DUPLICATE_ROW", field_name="device_id",
                               line=line + 1)
        rendered = [row[:3] if i in truncated else row for i, row in enumerate(lines)]
        write_encoded(path, csv_text(CATALOG_HEADER, rendered), encoding)
        manifest.file(name, "catalog_csv", len(lines), encoding=encoding, division=division)
        stats["files"] += 1
        stats["rows"] += len(lines)
    items = [{"DeviceID": c.device_id, "Name": c.name, "Manufacturer": c.vendor, "Model": c.model,
              "Owner": "秦皇岛市公安局", "CivilCode": c.division, "Address": c.address, "Parental": 0,
              "ParentID": c.parent_id or "", "Status": c.status, "Longitude": c.lon, "Latitude": c.lat,
              "Info": {"PTZType": c.ptz_type, "PositionType": c.position_type, "UseType": c.use_type}}
             for c in cameras]
    json_path = out / "catalog" / f"catalog_{day:%Y%m%d}.json"
    write_json(json_path, {"CmdType": "Catalog", "SumNum": len(items), "DeviceList": items})
    manifest.file(relative(json_path, out), "catalog_json", len(items))
    return stats


def _catalog_fault(rng: np.random.Generator, rates) -> str | None:
    draw = rng.random()
    for kind in ("malformed_id", "wrong_division_id", "unknown_type_code", "outside_city", "zero_coordinates",
                 "missing_name", "duplicate", "truncated_line"):
        rate = getattr(rates, kind)
        if draw < rate:
            return kind
        draw -= rate
    return None


def write_heartbeats(cameras: list[Camera], scale: Scale, start: dt.datetime, days: int, out: Path,
                     manifest: Manifest, sink=None) -> dict:
    """GB/T 28181 keepalives (summarised every `heartbeat_minutes`) and status changes, as JSON messages."""
    stats = {"keepalive": 0, "status": 0}
    step = dt.timedelta(minutes=scale.heartbeat_minutes)
    for day in range(days):
        day_start = start + dt.timedelta(days=day)
        day_end = day_start + dt.timedelta(days=1)
        path = out / "heartbeats" / f"status_{day_start:%Y%m%d}.jsonl"
        messages = []
        for camera in cameras:
            down = islands(camera.outages)
            for begin, stop in down:
                if day_start <= begin < day_end:
                    messages.append((begin, camera.device_id, {"CmdType": "Status", "DeviceID": camera.device_id,
                                                               "Status": "OFF", "Time": begin.isoformat()}))
                if day_start <= stop < day_end:
                    messages.append((stop, camera.device_id, {"CmdType": "Status", "DeviceID": camera.device_id,
                                                              "Status": "ON", "Time": stop.isoformat()}))
            moment = day_start
            while moment < day_end:
                if not any(b <= moment < e for b, e in down):
                    messages.append((moment, camera.device_id, {"CmdType": "Keepalive", "DeviceID": camera.device_id,
                                                                "Status": "OK", "Time": moment.isoformat()}))
                moment += step
        messages.sort(key=lambda m: (m[0], m[1], m[2]["CmdType"]))
        write_jsonl(path, [m[2] for m in messages])
        if messages:  # the camera state machine's "now": the feed's last message
            manifest.keep("heartbeat_ends", [{"file": relative(path, out), "last": messages[-1][0]}])
        if sink is not None:
            from safecity.simulator.run import STATUS_TOPIC
            for _, device_id, message in messages:
                sink(STATUS_TOPIC, device_id.encode(), json.dumps(message, ensure_ascii=False).encode())
        manifest.file(relative(path, out), "heartbeats_jsonl", len(messages))
        stats["keepalive"] += sum(1 for m in messages if m[2]["CmdType"] == "Keepalive")
        stats["status"] += sum(1 for m in messages if m[2]["CmdType"] == "Status")
        log.info("heartbeats %s: %d messages", day_start.date(), len(messages))
    return stats
