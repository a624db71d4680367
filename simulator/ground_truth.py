"""The ground truth of the shipped policies (rules/policies/): per policy, the actions the simulated days must
produce, written down from what the simulator generated (the records its generators kept in the manifest, the
cameras' outage plan, the situations it planted) and the policy files read as a person reads them. Nothing here
runs platform code (no safecity.rules, analytics or ingestion): it is the reading a third party would make, so a
test can hold the platform's outbox against it.

An expected action is {"action", "key": the policy's partition key, "params": the parameters it must carry (a
subset), "at": the event time it is due at (ISO with offset; the moment a camera went offline, a shift's start, the
reading or access that completed a window, the repair that crossed a budget line), where the subject has one}.
An action expected twice is listed twice (a unit short on both shifts, a camera offline twice). Records the
simulator made faulty on purpose (quarantined: a fault with a reason) produce none.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterable
from zoneinfo import ZoneInfo

from safecity.config.grid import cell_id
from safecity.config.point_levels import PointLevels, load_point_levels
from safecity.simulator.cameras import islands
from safecity.simulator.manifest import Manifest
from safecity.simulator.world import World

TIME = "%Y-%m-%d %H:%M:%S"
BLIND_SPOT_CATEGORIES = ("010000", "020000", "030000")  # criminal, public order, traffic
TRAFFIC_CATEGORY = "030000"  # a traffic incident is reported as a traffic incident
REPAIR_DEADLINES = {"key": (30, 4), "important": (120, 24), "normal": (1440, 72)}  # minutes offline, sla hours
CONGESTION_RUN, CONGESTION_STEP = 3, dt.timedelta(minutes=5)  # 3 severe readings; readings every 5 minutes


def _action(action: str, key: str, at: dt.datetime | None = None, **params) -> dict:
    entry = {"action": action, "key": key, "params": params}
    if at is not None:
        entry["at"] = at.isoformat()
    return entry


def alarm_dispatch(calls: Iterable[dict]) -> list[dict]:
    """command.alarm_dispatch (alarm_dispatch.csv, first matching row): every call received gets one dispatch
    order; a level-1 or -2 criminal call (010000) special police, another criminal call a patrol, a fire (040000)
    fire rescue, a traffic call (030000) traffic police, anything else a patrol."""
    def unit(category: str, priority: str) -> str:
        if category == "010000":
            return "special_police" if priority in ("1", "2") else "patrol_police"
        return {"040000": "fire_rescue", "030000": "traffic_police"}.get(category, "patrol_police")
    return [_action("dispatch_order", c["jjdbh"], unit_type=unit(c["jqlbdm"], c["jqjbdm"])) for c in calls]


def incident_escalation(incidents: Iterable[dict]) -> list[dict]:
    """emergency.incident_escalation: an incident with casualties starts the level IV plan; deaths grade it up
    (3 or more: III to the duty leader, 10: II to the bureau leader, 30: I to the city leader; levels only go up,
    a level entered directly). The traffic export counts the injured, not the seriously injured, so only deaths
    grade; 110 calls carry no casualties."""
    actions = []
    ladder = ((30, "I", "city_leader"), (10, "II", "bureau_leader"), (3, "III", "duty_leader"))
    for incident in incidents:
        if incident["shrs"] >= 1 or incident["swrs"] >= 1:
            actions.append(_action("activate_emergency_plan", incident["sjbh"], level="IV"))
        for deaths, level, audience in ladder:
            if incident["swrs"] >= deaths:
                actions.append(_action("activate_emergency_plan", incident["sjbh"], level=level))
                actions.append(_action("notify_leadership", incident["sjbh"], audience=audience))
                break
    return actions


def _down_at(cameras, now: dt.datetime) -> list[tuple[object, dt.datetime]]:
    """(camera, since) of every device down at `now` (the last message of the status feed)."""
    down = []
    for camera in cameras:
        for begin, stop in islands(camera.outages):
            if begin <= now < stop:
                down.append((camera, begin))
    return down


def point_level(levels: PointLevels, use_type: str, position_type: str) -> str:
    """The site's point-level rule (point_levels.yaml): the first level whose use or position type matches."""
    for name in ("key", "important"):
        rule = getattr(levels, name)
        if use_type in rule.use_type or position_type in rule.position_type:
            return name
    return "normal"


def blind_spot_incident(world: World, cameras, calls: Iterable[dict], incidents: Iterable[dict],
                        now: dt.datetime) -> list[dict]:
    """command.blind_spot_incident: a criminal, public-order or traffic incident (a 110 call of those categories, or
    a traffic incident) reported in a grid cell where a device is down (since its outage began, and still down at
    the end of the day's status feed) sends a drone and alerts the ops centre: one pair of actions per device down
    in the cell and incident."""
    city = world.city
    reported = [(c["jjdbh"], cell_id(city, float(c["xzb"]), float(c["yzb"])), dt.datetime.strptime(c["bjsj"], TIME))
                for c in calls if c["jqlbdm"] in BLIND_SPOT_CATEGORIES]
    reported += [(i["sjbh"], cell_id(city, i["jd"], i["wd"]), dt.datetime.strptime(i["bjsj"], TIME))
                 for i in incidents]
    down_in: dict[str, list[dt.datetime]] = defaultdict(list)
    for camera, since in _down_at(cameras, now):
        down_in[cell_id(city, camera.lon, camera.lat)].append(since)
    actions = []
    for incident_id, cell, at in reported:
        for since in down_in.get(cell, []) if cell else []:
            if since <= at:
                actions.append(_action("dispatch_order", cell, incident_id=incident_id, unit_type="drone"))
                actions.append(_action("raise_alert", cell))
    return actions


def key_point_offline(world: World, cameras, now: dt.datetime) -> list[dict]:
    """camera.key_point_offline: an alert each time a key-point camera goes offline (each outage that began by the
    end of the status feed), at the moment it went offline."""
    levels, zone = load_point_levels(world.city.id), ZoneInfo(world.city.timezone)
    return [_action("raise_alert", camera.device_id, at=begin.replace(tzinfo=zone))
            for camera in cameras if point_level(levels, camera.use_type, camera.position_type) == "key"
            for begin, _ in islands(camera.outages) if begin <= now]


def camera_repair_deadline(world: World, cameras, now: dt.datetime, faults: Iterable[dict] = ()) -> list[dict]:
    """security.camera_repair_deadline (camera_repair_deadline.xlsx): a device offline at the end of the status
    feed for at least its point level's minutes (key 30, important 120, normal 1440) gets a repair order with the
    level's deadline (4, 24, 72 hours), unless the outage is the network's: mostly inside the down spans of a planted
    link fault above the device (`faults`, the manifest's network_faults), as of `now`. That one is the network
    policy's order, not the camera contractor's."""
    levels = load_point_levels(world.city.id)
    above: dict[str, list[list[tuple[dt.datetime, dt.datetime]]]] = defaultdict(list)
    for fault in faults:
        for device in (*fault["cameras_affected"], *fault.get("nvrs_affected", ())):
            above[device].append(_down_spans(fault))
    actions = []
    for camera, since in _down_at(cameras, now):
        if any(_network_down_most_of((since, now), spans) for spans in above[camera.device_id]):
            continue
        minutes, sla = REPAIR_DEADLINES[point_level(levels, camera.use_type, camera.position_type)]
        if now - since >= dt.timedelta(minutes=minutes):
            actions.append(_action("create_work_order", camera.device_id, device_id=camera.device_id, sla_hours=sla))
    return actions


def junction_congestion(situations: Iterable[dict]) -> list[dict]:
    """command.junction_congestion: 3 severe readings (index >= 8) of a junction within 15 minutes dispatch traffic
    police and switch its signals, then the count starts again: the planted evening jam (every reading of it
    severe) fires once per 3 of its 5-minute readings, at the third. Ordinary traffic is never severe three times."""
    actions = []
    for jam in (s for s in situations if s["kind"] == "severe_congestion"):
        start, end = dt.datetime.fromisoformat(jam["from"]), dt.datetime.fromisoformat(jam["to"])
        for run in range((end - start) // CONGESTION_STEP // CONGESTION_RUN):
            third = start + CONGESTION_STEP * (CONGESTION_RUN * run + CONGESTION_RUN - 1)
            actions.append(_action("dispatch_order", jam["junction_id"], at=third, unit_type="traffic_police"))
            actions.append(_action("adjust_signal_plan", jam["junction_id"], at=third,
                                   junction_id=jam["junction_id"]))
    return actions


def duty_coverage(rosters: Iterable[dict]) -> list[dict]:
    """security.duty_coverage (duty_coverage.csv): a shift with nobody of those it requires on duty goes to the duty
    leader, a shift short of officers raises an alert, at the shift's start."""
    actions = []
    for shift in rosters:
        on_duty, required = int(shift["officers_on_duty"]), int(shift["officers_required"])
        if required >= 1 and on_duty < required:
            actions.append(_action("notify_leadership" if on_duty == 0 else "raise_alert", shift["unit_code"],
                                   at=dt.datetime.fromisoformat(shift["shift_start"])))
    return actions


def repair_overdue(orders: Iterable[dict], clock: dt.datetime) -> list[dict]:
    """security.repair_overdue: a work order of a key or important point finished after its deadline (or still open
    past it at the data's clock) is reported to the duty leader and flagged for audit."""
    actions = []
    for order in orders:
        if order["point_level"] not in ("key", "important"):
            continue
        finished = dt.datetime.fromisoformat(order["closed_at"]) if order["closed_at"] else clock
        if finished > dt.datetime.fromisoformat(order["due_at"]):
            actions.append(_action("notify_leadership", order["work_order_id"], audience="duty_leader"))
            actions.append(_action("audit_flag", order["work_order_id"], subject=order["work_order_id"]))
    return actions


def maintenance_budget(orders: Iterable[dict], budgets: Iterable[dict], zone: ZoneInfo) -> list[dict]:
    """security.maintenance_budget (maintenance_budget.csv): after each paid repair the district's spending of the
    year against its budget; at 100 % or more an audit flag, from 90 % a report to the bureau leader, at the
    repair's closing."""
    budget = {(b["division_code"], int(b["year"])): float(b["budget_amount"]) for b in budgets}
    paid = sorted(((dt.datetime.fromisoformat(o["closed_at"]), o["work_order_id"], o) for o in orders
                   if o["closed_at"] and o["cost"]), key=lambda p: (p[0], p[1]))
    spent: dict[tuple[str, int], float] = defaultdict(float)
    actions = []
    for closed, _, order in paid:
        district = (order["division_code"], closed.astimezone(zone).year)
        spent[district] += float(order["cost"])
        if budget.get(district, 0) <= 0:
            continue
        ratio = round(spent[district] / budget[district], 4)
        if ratio >= 1.0:
            actions.append(_action("audit_flag", district[0], at=closed, severity="high"))
        elif ratio >= 0.9:
            actions.append(_action("notify_leadership", district[0], at=closed, audience="bureau_leader"))
    return actions


def sensitive_data_access(accesses: Iterable[dict]) -> list[dict]:
    """security.sensitive_data_access: an account's third read of sensitive columns in bulk (1,000 rows or more)
    within an hour flags it for audit and restricts its access, then the count starts again."""
    reads: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for access in accesses:
        if access["sensitive_columns"] >= 1 and access["rows"] >= 1000:
            reads[access["user_id"]].append((dt.datetime.fromisoformat(access["accessed_at"]), access["table_name"]))
    actions = []
    for user, times in sorted(reads.items()):
        times.sort()
        i = 0
        while i + 2 < len(times):
            if times[i + 2][0] - times[i][0] <= dt.timedelta(hours=1):
                at, table = times[i + 2]
                actions.append(_action("audit_flag", user, at=at, subject=user, severity="high"))
                actions.append(_action("restrict_data_access", user, at=at, subject=user, scope=table))
                i += 3
            else:
                i += 1
    return actions


def _network_down_most_of(island: tuple[dt.datetime, dt.datetime], spans: list[tuple[dt.datetime, dt.datetime]]
                          ) -> bool:
    """The root-cause rule a camera's outage follows: it is the network's when the failed element above the camera
    was down for more than half of it."""
    begin, end = island
    covered = sum(max(0.0, (min(end, e) - max(begin, b)).total_seconds()) for b, e in spans)
    return covered * 2 > (end - begin).total_seconds()


def _down_spans(fault: dict) -> list[tuple[dt.datetime, dt.datetime]]:
    """A planted fault's down spans in naive local time, as the cameras' outages are."""
    return [(dt.datetime.fromisoformat(s["from"]).replace(tzinfo=None),
             dt.datetime.fromisoformat(s["to"]).replace(tzinfo=None)) for s in fault["spans"]]


def uplink_down_key_points(faults: Iterable[dict], cameras) -> list[dict]:
    """network.uplink_down_key_points: a planted link outage that took a key-point camera offline (an outage of the
    camera mostly inside the link's down spans: the network's, not the camera's) sends the link's contractor one
    network repair order and tells the duty leader, once per link (the flaps of one port are one outage)."""
    by_id = {camera.device_id: camera for camera in cameras}
    actions = []
    for fault in faults:
        spans = _down_spans(fault)
        taken = [device for device in fault["key_point_cameras"] if device in by_id and any(
            _network_down_most_of(island, spans) for island in islands(by_id[device].outages)
            if island[0] < spans[-1][1] and spans[0][0] < island[1])]
        if taken:
            actions.append(_action("create_work_order", fault["element_id"], category="network_repair",
                                   device_id=fault["element_id"], assignee=fault["contractor"], sla_hours=4))
            actions.append(_action("notify_leadership", fault["element_id"], audience="duty_leader"))
    return actions


def link_saturation(faults: Iterable[dict]) -> list[dict]:
    """network.link_saturation: a planted saturation of at least 15 minutes (three 5-minute readings) on a link
    carrying key-point video asks the link's operator for capacity, once (a day's peak is one request)."""
    actions = []
    for fault in faults:
        span = dt.datetime.fromisoformat(fault["to"]) - dt.datetime.fromisoformat(fault["from"])
        if fault["kind"] == "link_saturation" and fault["key_point_cameras_carried"] and span >= 3 * CONGESTION_STEP:
            actions.append(_action("create_work_order", fault["element_id"], category="capacity_expansion",
                                   device_id=fault["element_id"], assignee=fault["operator"], sla_hours=72))
    return actions


def _kept(manifest: Manifest, kind: str, key: str) -> list[dict]:
    """The records of a kind the simulator kept, less those it made faulty on purpose (quarantined)."""
    rejected = {(f["file"], f["key"]) for f in manifest.faults if f.get("reason")}
    return [r for r in manifest.records.get(kind, []) if (r["file"], r[key]) not in rejected]


def expected_actions(world: World, manifest: Manifest, cameras) -> dict[str, dict]:
    """Every shipped policy's expected actions for the days the manifest describes, sorted."""
    zone = ZoneInfo(world.city.timezone)
    calls = _kept(manifest, "calls", "jjdbh")
    incidents = _kept(manifest, "incidents", "sjbh")
    orders = _kept(manifest, "work_orders_csv", "work_order_id")
    # The camera state machine judges the devices as of the status feed's last message (naive local time).
    feed_end = max(r["last"] for r in manifest.records.get("heartbeat_ends", []))
    truth = {
        "command.alarm_dispatch": alarm_dispatch(calls),
        "emergency.incident_escalation": incident_escalation(incidents),
        "command.blind_spot_incident": blind_spot_incident(world, cameras, calls, incidents, feed_end),
        "camera.key_point_offline": key_point_offline(world, cameras, feed_end),
        "security.camera_repair_deadline": camera_repair_deadline(
            world, cameras, feed_end, manifest.network_faults),
        "command.junction_congestion": junction_congestion(manifest.situations),
        "security.duty_coverage": duty_coverage(_kept(manifest, "duty_roster_csv", "unit_code")),
        "security.repair_overdue": repair_overdue(orders, dt.datetime.fromisoformat(manifest.clock)),
        "security.maintenance_budget": maintenance_budget(orders, _kept(manifest, "budgets_csv", "division_code"),
                                                          zone),
        "security.sensitive_data_access": sensitive_data_access(_kept(manifest, "accesses", "user_id")),
        "network.uplink_down_key_points": uplink_down_key_points(
            [f for f in manifest.network_faults if f["cameras_affected"]], cameras),
        "network.link_saturation": link_saturation(manifest.network_faults),
    }
    return {policy: {"predictable": True, "actions": sorted(actions, key=lambda a: (
        a["action"], a["key"], a.get("at", ""), sorted(a["params"].items())))} for policy, actions in truth.items()}
