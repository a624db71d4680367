"""The communication network: the video private network's topology drawn from the camera registry, its telemetry
over the days as the bureau's network management system (网管) exports it, and the network faults planted in it.

Topology (docs/architecture.md, the issue-21 contract): the city core and the video platform's gateway; one
aggregation node per division (the branch, 分局); one node per police station (digits 7–8 of a device ID); one
access node per recorder (NVR) with its channels below it. Links run from each node up to its parent; a link's
telemetry is its upstream node's interface (linkDown/linkUp traps, per-minute octet counters) and the per-minute
ping of its downstream node from the core.

Planted on the first day (the manifest's `network_faults`, the ground truth of root cause): a fibre cut (an access
link down about 2 h), a station uplink down (about 45 min, key-point cameras below it), the evening saturation of a
branch uplink (18:00–19:30) and an access port flapping for an hour. Devices below a failed link lose their
keepalives for its spans: the spans join their outage plan (cameras.add_outages) without being camera faults.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from safecity.config.point_levels import load_point_levels
from safecity.simulator.cameras import Camera, add_outages
from safecity.simulator.ground_truth import point_level
from safecity.simulator.manifest import Manifest
from safecity.simulator.world import World
from safecity.simulator.writers import csv_text, relative, write_encoded

log = logging.getLogger(__name__)

STATUS_TOPIC = "safecity.network.telemetry.status"
COUNTERS_TOPIC = "safecity.network.telemetry.counters"
PROBES_TOPIC = "safecity.network.telemetry.probes"
TOPICS = (STATUS_TOPIC, COUNTERS_TOPIC, PROBES_TOPIC)

MINUTE = dt.timedelta(minutes=1)
# What one camera sends up the network at the day's busiest hour (its sub-stream forwarded to the platform).
CAMERA_MBPS = 2.0
# Link sizes a bureau buys; a link gets the smallest that keeps its normal peak at or below PEAK_UTILISATION.
CAPACITIES_MBPS = (100, 1000, 2000, 10000, 20000, 40000, 100000)
PEAK_UTILISATION = 0.6
PROBES_PER_MINUTE = 20  # one ping every 3 s
SATURATION = (dt.time(18), dt.time(19, 30))
LEVEL_LETTER = {"city": "C", "branch": "B", "station": "S", "access": "A"}
LEVEL_ZH = {"city": "市局", "branch": "分局", "station": "派出所", "access": "接入点"}
TYPE_ZH = {"core_switch": "核心交换机", "aggregation_switch": "汇聚交换机", "access_switch": "接入交换机",
           "optical_transceiver": "光端机", "video_gateway": "视频网关"}
MEDIUM_ZH = {"fibre": "光纤", "copper": "双绞线", "microwave": "微波", "leased_line": "租用专线", "wireless": "无线"}
OPERATOR_ZH = {"china_telecom": "中国电信", "china_unicom": "中国联通", "china_mobile": "中国移动",
               "china_broadnet": "中国广电", "self_built": "自建"}
DOMAIN_ZH = {"video_private": "视频专网", "ps_information": "公安信息网"}
MODELS = {"core_switch": ("华为", "CE12808"), "video_gateway": ("海康威视", "iVMS-8700-VGW"),
          "aggregation_switch": ("华为", "S7706"), "access_switch": ("新华三", "S5560X-30C-EI"),
          "optical_transceiver": ("瑞斯康达", "RC512-FE-S1")}
# Access links: how they are carried (share) and whether a carrier provides them.
ACCESS_MEDIA = (("fibre", 0.7), ("copper", 0.1), ("wireless", 0.1), ("microwave", 0.05), ("leased_line", 0.05))
CARRIERS = ("china_telecom", "china_unicom", "china_mobile", "china_broadnet")
# Round-trip time from the core (ms): median per level of the target.
RTT_MS = {"city": 0.4, "branch": 1.0, "station": 2.0, "access": 3.5}

COUNTER_FILE, PROBE_FILE, STATUS_FILE = "counters_{:%Y%m%d}.jsonl", "probes_{:%Y%m%d}.jsonl", "traps_{:%Y%m%d}.jsonl"


@dataclass
class Node:
    node_id: str
    name: str
    node_type: str
    level: str
    division: str
    network: str
    lon: float
    lat: float
    parent: str | None = None          # the upstream node
    devices: list[Camera] = field(default_factory=list)  # access nodes: the devices attached to it


@dataclass
class Link:
    link_id: str
    upstream: str
    upstream_if: str
    downstream: str
    level: str
    capacity_mbps: int
    medium: str
    operator: str
    contractor: str
    division: str
    # Spans the link is down (begin, end), and minutes where it carries a load of its own (saturation).
    down: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    extra_load: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)


@dataclass
class Network:
    nodes: dict[str, Node]
    links: dict[str, Link]                 # by link id
    uplink: dict[str, str]                 # node id -> the link above it
    attachments: list[tuple[str, str, str]]  # (device id, node id, port)

    def path(self, node_id: str) -> list[str]:
        """The links from a node up to the core, nearest first."""
        links = []
        while node_id in self.uplink:
            link = self.links[self.uplink[node_id]]
            links.append(link.link_id)
            node_id = link.upstream
        return links

    def devices_below(self, link_id: str) -> list[Camera]:
        """Every device (camera or NVR) whose access node's path to the core runs over the link."""
        return [d for node in self.nodes.values() if node.devices and link_id in self.path(node.node_id)
                for d in node.devices]


def _capacity(peak_mbps: float) -> int:
    return next((c for c in CAPACITIES_MBPS if peak_mbps <= c * PEAK_UTILISATION), CAPACITIES_MBPS[-1])


def _contractor(world: World, operator: str) -> str:
    if operator == "self_built":
        return f"{world.city.name_zh}天网工程运维有限公司"
    return f"{OPERATOR_ZH[operator]}{world.city.name_zh}分公司"


def build_network(world: World, cameras: list[Camera]) -> Network:
    """The topology for the registry: every camera and NVR attached to an access node, each NVR with its channels
    on one access node (a channel's path runs through its recorder)."""
    rng = world.rng("network")
    city = world.city.code
    urban = [d for d in world.city.divisions if d.urban] or world.city.divisions
    centre = urban[0].centre
    nodes: dict[str, Node] = {}
    links: dict[str, Link] = {}

    def node(node_id: str, name: str, node_type: str, level: str, division: str, network: str, lon: float,
             lat: float, parent: str | None) -> Node:
        nodes[node_id] = Node(node_id, name, node_type, level, division, network, lon, lat, parent)
        return nodes[node_id]

    core = node(f"NET{city}C0001", f"{world.city.name_zh}公安局视频专网核心交换机", "core_switch", "city", city,
                "video_private", centre[0], centre[1], None)
    node(f"NET{city}C0002", f"{world.city.name_zh}公安局视频网关", "video_gateway", "city", city, "ps_information",
         centre[0], centre[1], core.node_id)
    access_of: dict[str, Node] = {}  # NVR id -> its access node
    serials: dict[str, int] = {}
    for device in cameras:
        division = device.division
        branch_id = f"NET{division}B0001"
        if branch_id not in nodes:
            d = world.divisions[division]
            node(branch_id, f"{d.name_zh}分局汇聚交换机", "aggregation_switch", "branch", division, "video_private",
                 d.centre[0], d.centre[1], core.node_id)
        station = int(device.device_id[6:8])
        station_id = f"NET{division}S{station:04d}"
        if station_id not in nodes:
            d = world.divisions[division]
            lon, lat = world.point_near(rng, d.centre[0], d.centre[1], world.shares[division].spread_km / 3)
            node(station_id, f"{d.name_zh}第{station}派出所接入交换机", "access_switch", "station", division,
                 "video_private", lon, lat, branch_id)
        recorder = device.device_id if device.type_code == "118" else device.parent_id
        if recorder not in access_of:
            serials[division] = serials.get(division, 0) + 1
            kind = "optical_transceiver" if rng.random() < 0.7 else "access_switch"
            access_of[recorder] = node(f"NET{division}A{serials[division]:04d}",
                                       f"{world.divisions[division].name_zh}第{station}派出所接入点{serials[division]}",
                                       kind, "access", division, "video_private", device.lon, device.lat, station_id)
        access_of[recorder].devices.append(device)
    for access in (n for n in nodes.values() if n.devices):  # placed amid its devices
        access.lon = round(float(np.mean([d.lon for d in access.devices])), 6)
        access.lat = round(float(np.mean([d.lat for d in access.devices])), 6)

    cameras_below: dict[str, int] = {}
    for access in (n for n in nodes.values() if n.devices):
        count, up = sum(d.type_code != "118" for d in access.devices), access.node_id
        while up is not None:
            cameras_below[up] = cameras_below.get(up, 0) + count
            up = nodes[up].parent
    ports: dict[str, int] = {}
    for child in nodes.values():
        if child.parent is None:
            continue
        parent = nodes[child.parent]
        ports[parent.node_id] = ports.get(parent.node_id, 0) + 1
        if child.level == "access":
            medium = str(rng.choice([m for m, _ in ACCESS_MEDIA], p=[s for _, s in ACCESS_MEDIA]))
            carried = medium in ("fibre", "leased_line") and rng.random() < 0.8
            operator = str(rng.choice(CARRIERS[:3])) if carried else "self_built"
            interface = f"GE1/0/{ports[parent.node_id]}"
        elif child.node_type == "video_gateway":
            medium, operator, interface = "fibre", "self_built", f"XGE1/0/{ports[parent.node_id]}"
        else:
            medium = "fibre" if child.level == "station" or rng.random() < 0.5 else "leased_line"
            operator = str(rng.choice(CARRIERS[:2] if child.level == "branch" else CARRIERS[:3]))
            interface = f"{'XGE' if child.level == 'branch' else 'GE'}1/0/{ports[parent.node_id]}"
        peak = CAMERA_MBPS * cameras_below.get(child.node_id, 0) if child.node_type != "video_gateway" else \
            CAMERA_MBPS * cameras_below.get(core.node_id, 0) * 0.25  # what users pull through the gateway
        link = Link(f"LNK{child.node_id}", parent.node_id, interface, child.node_id, child.level,
                    _capacity(peak), medium, operator, _contractor(world, operator), child.division)
        links[link.link_id] = link
    uplink = {link.downstream: link.link_id for link in links.values()}
    attachments = []
    for access in (n for n in nodes.values() if n.devices):
        for port, device in enumerate(sorted(access.devices, key=lambda d: (d.type_code != "118", d.device_id))):
            attachments.append((device.device_id, access.node_id, f"{'GE' if port == 0 else 'FE'}0/0/{port + 1}"))
    return Network(nodes, links, uplink, attachments)


def _key_points(world: World, devices: list[Camera]) -> list[str]:
    levels = load_point_levels(world.city.id)
    return sorted(d.device_id for d in devices
                  if d.type_code != "118" and point_level(levels, d.use_type, d.position_type) == "key")


def plant_faults(world: World, network: Network, day: dt.datetime, manifest: Manifest) -> None:
    """The four network faults of the first day, their spans on the links, the devices below them offline for
    those spans, and each fault in the manifest with its root cause and the cameras it took."""
    rng = world.rng("network_faults")
    links = network.links
    zone = ZoneInfo(world.city.timezone)
    below = {link_id: network.devices_below(link_id) for link_id in links}
    stations = [l for l in links.values() if l.level == "station" and _key_points(world, below[l.link_id])]
    station = stations[int(rng.integers(len(stations)))]
    spared = {d.device_id for d in below[station.link_id]}  # access links elsewhere: no camera under two faults
    access = [l for l in links.values() if l.level == "access"
              and not spared & {d.device_id for d in below[l.link_id]}]
    fibre = [l for l in access if l.medium == "fibre"] or access
    cut = fibre[int(rng.integers(len(fibre)))]
    flapping = [l for l in access if l.link_id != cut.link_id]
    flap = flapping[int(rng.integers(len(flapping)))]
    branches = [l for l in links.values() if l.level == "branch"]
    saturated = max(branches, key=lambda l: (len(_key_points(world, below[l.link_id])), l.link_id))

    def at(hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
        return day + dt.timedelta(hours=hour, minutes=minute, seconds=second)

    cut_start = at(10, int(rng.integers(0, 30)), int(rng.integers(60)))
    station_start = at(14, int(rng.integers(0, 20)), int(rng.integers(60)))
    flap_start = at(7, 30 + int(rng.integers(0, 15)), int(rng.integers(60)))
    planted = [
        ("fibre_cut", cut, [(cut_start, cut_start + dt.timedelta(minutes=int(rng.integers(110, 131))))],
         "光缆被挖断", "fibre cut by road works"),
        ("station_uplink_down", station,
         [(station_start, station_start + dt.timedelta(minutes=int(rng.integers(40, 51))))],
         "派出所上联链路中断", "station uplink down"),
        ("flapping_port", flap, _flaps(rng, flap_start, flap_start + dt.timedelta(hours=1)),
         "接入端口反复通断（光模块故障）", "access port flapping (failing transceiver)"),
    ]
    for kind, link, spans, reason_zh, reason_en in planted:
        link.down.extend(spans)
        devices = below[link.link_id]
        add_outages(devices, spans)
        _record(manifest, world, network, kind, link, spans, devices, reason_zh, reason_en, zone, offline=True)
    span = (datetime_at(day, SATURATION[0]), datetime_at(day, SATURATION[1]))
    saturated.extra_load.append(span)
    _record(manifest, world, network, "link_saturation", saturated, [span], below[saturated.link_id],
            "晚高峰视频调阅集中，分局上联带宽饱和", "evening peak of video viewing saturates the branch uplink", zone,
            offline=False)


def datetime_at(day: dt.datetime, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day.date(), time)


def _flaps(rng: np.random.Generator, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Down 1–3 minutes, up 3–7 minutes, for the hour."""
    spans, moment = [], start
    while moment < end:
        down = moment + dt.timedelta(seconds=int(rng.integers(60, 181)))
        spans.append((moment, min(down, end)))
        moment = down + dt.timedelta(seconds=int(rng.integers(180, 421)))
    return spans


def _record(manifest: Manifest, world: World, network: Network, kind: str, link: Link, spans, devices, reason_zh,
            reason_en, zone, offline: bool) -> None:
    cameras = sorted(d.device_id for d in devices if d.type_code != "118")
    nvrs = sorted(d.device_id for d in devices if d.type_code == "118")
    entry = {
        "kind": kind, "element_type": "link", "element_id": link.link_id, "level": link.level,
        "division_code": link.division, "operator": link.operator, "contractor": link.contractor,
        "upstream_node_id": link.upstream, "upstream_if": link.upstream_if, "downstream_node_id": link.downstream,
        "root_cause": {"element_type": "link", "element_id": link.link_id},
        "reason_zh": reason_zh, "reason_en": reason_en,
        "from": spans[0][0].replace(tzinfo=zone).isoformat(), "to": spans[-1][1].replace(tzinfo=zone).isoformat(),
        "spans": [{"from": b.replace(tzinfo=zone).isoformat(), "to": e.replace(tzinfo=zone).isoformat()}
                  for b, e in spans],
        # Offline faults: the devices below lose their keepalives; a saturated link carries them all the same.
        "cameras_affected": cameras if offline else [],
        "nvrs_affected": nvrs if offline else [],
        "key_point_cameras": _key_points(world, devices) if offline else [],
        "cameras_carried": len(cameras), "key_point_cameras_carried": len(_key_points(world, devices)),
    }
    manifest.network_faults.append(entry)


def _shape(world: World, minutes: int) -> np.ndarray:
    """How busy the network is per minute (0.4 at night .. 1.0 at the busiest hour): the city's hourly activity,
    interpolated between hour midpoints."""
    hourly = np.array(world.profile.traffic_hourly, dtype=float)
    level = 0.4 + 0.6 * hourly / hourly.max()
    x = (np.arange(minutes) % 1440) / 60.0
    return np.interp(x, np.arange(24) + 0.5, level, period=24)


def _up_fraction(spans, start: dt.datetime, minutes: int) -> np.ndarray:
    """Per minute from `start`, the share of the minute the link was up."""
    up = np.ones(minutes)
    for begin, end in spans:
        first = max(0, int((begin - start) // MINUTE))
        last = min(minutes - 1, int((end - start) // MINUTE))
        for m in range(first, last + 1):
            lo = max(begin, start + m * MINUTE)
            hi = min(end, start + (m + 1) * MINUTE)
            if hi > lo:
                up[m] -= (hi - lo) / MINUTE
    return np.clip(up, 0.0, 1.0)


def write_registry(network: Network, out: Path, manifest: Manifest, day: dt.date) -> dict:
    """The NMS's three registry exports (nodes, links, attachments) as CSV, the display names for codes."""
    folder = out / "network"
    nodes = [[n.node_id, n.name, TYPE_ZH[n.node_type], LEVEL_ZH[n.level], n.division, DOMAIN_ZH[n.network],
              f"{n.lon:.6f}", f"{n.lat:.6f}", *MODELS[n.node_type]] for n in network.nodes.values()]
    links = [[l.link_id, l.upstream, l.upstream_if, l.downstream, LEVEL_ZH[l.level], str(l.capacity_mbps),
              MEDIUM_ZH[l.medium], OPERATOR_ZH[l.operator], l.contractor, l.division] for l in network.links.values()]
    exports = [
        ("nodes", "network_nodes_csv", ["设备编号", "设备名称", "设备类型", "网络层级", "行政区划代码", "所属网络", "经度", "纬度",
                                        "厂商", "型号"], nodes),
        ("links", "network_links_csv", ["链路编号", "上联设备", "上联端口", "下联设备", "链路层级", "带宽(Mbps)", "传输介质",
                                        "运营商", "维护单位", "行政区划代码"], links),
        ("attachments", "network_attachments_csv", ["设备编码", "接入设备", "接入端口"],
         [list(a) for a in network.attachments]),
    ]
    stats = {}
    for name, kind, header, rows in exports:
        path = folder / f"{name}_{day:%Y%m%d}.csv"
        write_encoded(path, csv_text(header, rows), "utf-8")
        manifest.file(relative(path, out), kind, len(rows))
        stats[name] = len(rows)
    return stats


def write_telemetry(world: World, network: Network, start: dt.datetime, days: int, out: Path, manifest: Manifest,
                    sink=None) -> dict:
    """Per day: interface traps (JSONL), per-minute counters of every link's upstream interface and per-minute
    probes of every node but the core (JSONL), and the same messages on the Kafka topics when a sink is given."""
    rng = world.rng("network_telemetry")
    minutes = days * 1440
    shape = _shape(world, minutes)
    links = list(network.links.values())
    up = {l.link_id: _up_fraction(l.down, start, minutes) for l in links}
    # A node is reachable from the core as long as every link above it is up (faults never overlap on one path).
    reach = {n: np.min([up[l] for l in network.path(n)], axis=0) if network.path(n) else np.ones(minutes)
             for n in network.nodes}
    load = {}
    for link in links:
        if link.level == "city" and network.nodes[link.downstream].node_type == "video_gateway":
            cams = [sum(d.type_code != "118" for d in n.devices) * reach[n.node_id] for n in network.nodes.values()
                    if n.devices]
            carried = 0.25 * CAMERA_MBPS * np.sum(cams, axis=0) if cams else np.zeros(minutes)
        else:
            below = [n for n in network.nodes.values() if n.devices and link.link_id in network.path(n.node_id)]
            carried = CAMERA_MBPS * np.sum([sum(d.type_code != "118" for d in n.devices) * reach[n.node_id]
                                            for n in below], axis=0) if below else np.zeros(minutes)
        mbps = carried * shape * rng.normal(1.0, 0.03, minutes).clip(0.9, 1.1)
        for begin, end in link.extra_load:
            first, last = int((begin - start) // MINUTE), int((end - start) // MINUTE)
            mbps[first:last] = link.capacity_mbps * rng.uniform(0.92, 0.98, last - first)
        load[link.link_id] = mbps
    reset_node = sorted(l.upstream for l in links if l.level == "station")[int(rng.integers(
        sum(l.level == "station" for l in links)))]
    reset_minute = 3 * 60 + int(rng.integers(0, 60))
    zone = ZoneInfo(world.city.timezone)
    reset_at = start + reset_minute * MINUTE
    manifest.situation("counter_reset", reset_node, file=f"network_telemetry/{COUNTER_FILE.format(start)}",
                       at=reset_at.replace(tzinfo=zone).isoformat(),
                       interfaces=sorted(l.upstream_if for l in links if l.upstream == reset_node),
                       why="line card restart: the node's interface counters start again from 0, no traffic lost")
    counters = {}
    for link in links:
        octets_in = load[link.link_id] * 1e6 / 8 * 60
        octets_out = (0.03 * load[link.link_id] + 0.2) * up[link.link_id] * 1e6 / 8 * 60
        base = rng.integers(10**9, 10**13, 2)
        cumulative_in = base[0] + np.cumsum(octets_in.astype(np.int64))
        cumulative_out = base[1] + np.cumsum(octets_out.astype(np.int64))
        if link.upstream == reset_node:
            cumulative_in[reset_minute:] -= cumulative_in[reset_minute - 1]
            cumulative_out[reset_minute:] -= cumulative_out[reset_minute - 1]
        counters[link.link_id] = (cumulative_in, cumulative_out)

    stats = {"status": 0, "counters": 0, "probes": 0}
    folder = out / "network_telemetry"
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [n for n in network.nodes.values() if n.parent is not None]
    below_saturated = {n.node_id: [(b, e) for link in links for b, e in link.extra_load
                                   if link.link_id in network.path(n.node_id)] for n in nodes}
    for day in range(days):
        day_start = start + dt.timedelta(days=day)
        traps = sorted((b if edge == 0 else e, l.upstream, l.upstream_if, "linkDown" if edge == 0 else "linkUp")
                       for l in links for b, e in l.down for edge in (0, 1)
                       if day_start <= (b if edge == 0 else e) < day_start + dt.timedelta(days=1))
        status = [{"agent": n, "ifName": i, "trap": t, "time": at.isoformat()} for at, n, i, t in traps]
        counter_lines, probe_lines = [], []
        for m in range(day * 1440, (day + 1) * 1440):
            moment = (start + (m + 1) * MINUTE).isoformat()  # a poll at the end of the minute it counts
            for link in links:
                if reach[link.upstream][m] == 0:  # the poller cannot reach the node: no sample
                    continue
                cin, cout = counters[link.link_id]
                counter_lines.append({"agent": link.upstream, "ifName": link.upstream_if, "time": moment,
                                      "ifHCInOctets": int(cin[m]), "ifHCOutOctets": int(cout[m])})
            interval = (start + m * MINUTE).isoformat()
            for node in nodes:
                probe_lines.append(_probe(rng, node, interval, reach[node.node_id][m],
                                          any(b <= start + m * MINUTE < e for b, e in below_saturated[node.node_id])))
        for name, records, topic, kind in ((STATUS_FILE, status, STATUS_TOPIC, "interface_status_jsonl"),
                                           (COUNTER_FILE, counter_lines, COUNTERS_TOPIC, "interface_counters_jsonl"),
                                           (PROBE_FILE, probe_lines, PROBES_TOPIC, "link_probes_jsonl")):
            path = folder / name.format(day_start)
            lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            manifest.file(relative(path, out), kind, len(lines))
            if sink is not None:
                key = "target" if topic == PROBES_TOPIC else "agent"
                for record, line in zip(records, lines):
                    sink(topic, record[key].encode(), line.encode())
        stats["status"] += len(status)
        stats["counters"] += len(counter_lines)
        stats["probes"] += len(probe_lines)
        log.info("network telemetry %s: %d traps, %d counter samples, %d probes", day_start.date(), len(status),
                 len(counter_lines), len(probe_lines))
    return stats


def _probe(rng: np.random.Generator, node: Node, interval: str, reachable: float, congested: bool) -> dict:
    """One minute of pings to a node: those sent while its path was up come back; behind a saturated link they
    queue (tens of ms) and now and then one is dropped."""
    received = int(round(PROBES_PER_MINUTE * reachable))
    if congested and received:
        received -= int(rng.integers(0, 3))
    if not received:
        return {"target": node.node_id, "start": interval, "sent": PROBES_PER_MINUTE, "received": 0, "rttAvg": None,
                "rttMax": None}
    base = RTT_MS[node.level] + (float(rng.uniform(30, 90)) if congested else 0.0)
    average = round(base * float(rng.uniform(0.8, 1.3)), 2)
    return {"target": node.node_id, "start": interval, "sent": PROBES_PER_MINUTE, "received": received,
            "rttAvg": average, "rttMax": round(average * float(rng.uniform(1.2, 3.0)), 2)}
