"""Camera state machine: hysteresis on missed keepalives, recorders taking their channels down, degraded pictures,
never-streamed and decommissioned devices, and the simulator's labelled outages found where the manifest says."""
import datetime as dt
import json

import pyarrow as pa
import pytest

from safecity.analytics.camera_state import camera_states, read_catalog, read_heartbeats
from safecity.simulator.run import simulate

NVR = "13030200001180000001"           # type 118 in positions 11-13
CHANNEL = "13030200001320000002"
CAMERA = "13030200001320000003"
T0 = dt.datetime(2026, 7, 1)


def keepalives(device: str, minutes, status: str = "OK") -> list[dict]:
    return [{"CmdType": "Keepalive", "DeviceID": device, "Status": status, "Time": T0 + dt.timedelta(minutes=m)}
            for m in minutes]


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([("CmdType", pa.string()), ("DeviceID", pa.string()),
                                                        ("Status", pa.string()), ("Time", pa.timestamp("us"))]))


def catalog(*pairs) -> pa.Table:
    return pa.table({"DeviceID": [d for d, _ in pairs], "ParentID": [p for _, p in pairs],
                     "Status": ["ON"] * len(pairs)})


def changes_of(states, device: str) -> list[tuple]:
    return [(r["changed_at"], r["to_state"], r["reason"]) for r in states.changes.to_pylist()
            if r["device_id"] == device]


def current_of(states, device: str) -> dict:
    return next(r for r in states.current.to_pylist() if r["device_id"] == device)


def test_one_or_two_missed_keepalives_do_not_flip_three_do():
    minutes = [m for m in range(0, 120) if m not in (10, 30, 31, 60, 61, 62)]     # one, two, then three missed
    states = camera_states(table(keepalives(CAMERA, minutes)), catalog((CAMERA, None)))
    assert changes_of(states, CAMERA) == [
        (T0, "online", "first_keepalive"),
        (T0 + dt.timedelta(minutes=59 + 3), "offline", "keepalive_timeout"),     # last heard 00:59, + 3 x 60 s
        (T0 + dt.timedelta(minutes=63), "online", "keepalive_resumed")]
    now = current_of(states, CAMERA)
    assert (now["state"], now["state_zh"], now["since"]) == ("online", "在线正常", T0 + dt.timedelta(minutes=63))
    assert now["last_evidence"] == T0 + dt.timedelta(minutes=119)


def test_a_silent_recorder_takes_its_channels_offline_while_their_own_keepalives_go_on():
    rows = keepalives(NVR, range(0, 600)) + keepalives(CHANNEL, range(0, 720)) + keepalives(CAMERA, range(0, 720))
    states = camera_states(table(rows), catalog((NVR, None), (CHANNEL, NVR), (CAMERA, None)))
    down = T0 + dt.timedelta(minutes=599 + 3)
    assert changes_of(states, NVR)[-1] == (down, "offline", "keepalive_timeout")
    assert changes_of(states, CHANNEL)[-1] == (down, "offline", "parent_offline")
    channel = current_of(states, CHANNEL)
    assert (channel["state"], channel["reason_zh"], channel["fault_type"]) == ("offline", "所属录像设备离线", "offline")
    assert channel["parent_id"] == NVR and current_of(states, NVR)["is_recorder"]
    assert current_of(states, CAMERA)["state"] == "online"


def test_a_defective_picture_degrades_an_online_camera_until_a_healthy_one(catalogue):
    vqd = pa.table({"device_id": [CAMERA, CAMERA], "captured_at": [T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=4)],
                    "defect": ["blur", None]})
    states = camera_states(table(keepalives(CAMERA, range(0, 360))), catalog((CAMERA, None)), vqd)
    assert changes_of(states, CAMERA)[1:] == [(T0 + dt.timedelta(hours=2), "degraded", "blur"),
                                              (T0 + dt.timedelta(hours=4), "online", "picture_ok")]
    # Defects are named as the standards' vqd_item code table names them.
    names = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["vqd_item"].codes}
    half = camera_states(table(keepalives(CAMERA, range(0, 180))), catalog((CAMERA, None)), vqd.slice(0, 1),
                         defect_names=names)
    now = current_of(half, CAMERA)
    assert (now["state"], now["reason"], now["fault_type"], now["reason_zh"]) == ("degraded", "blur", "blur",
                                                                                   "画面异常：模糊/虚焦")


def test_never_heard_is_never_streamed_and_gone_from_the_catalog_is_decommissioned():
    first = camera_states(table(keepalives(CAMERA, range(10))), catalog((CAMERA, None), (CHANNEL, None)))
    assert (current_of(first, CHANNEL)["state"], current_of(first, CHANNEL)["reason"]) == ("never_streamed",
                                                                                          "no_keepalive")
    later = camera_states(table(keepalives(CAMERA, range(10))), catalog((CAMERA, None)), previous=first.current)
    assert current_of(later, CHANNEL)["state"] == "decommissioned"
    assert changes_of(later, CHANNEL)[0][1:] == ("decommissioned", "removed_from_catalog")


def test_without_any_keepalive_feed_the_registry_status_decides():
    """A registry export with its own online status and no keepalive feed: ON is online and OFF offline, instead of
    every camera being never_streamed (which made the online rate 0.0 while the registry said 0.72)."""
    registry = pa.table({"DeviceID": [CAMERA, CHANNEL, NVR], "ParentID": [None, None, None],
                         "Status": ["ON", "OFF", "on"]})
    states = camera_states(table([]), registry, as_of=T0)
    assert [(current_of(states, d)["state"], current_of(states, d)["reason"]) for d in (CAMERA, CHANNEL, NVR)] == \
        [("online", "registry_on"), ("offline", "registry_off"), ("online", "registry_on")]
    assert current_of(states, CHANNEL)["fault_type"] == "offline" and current_of(states, CAMERA)["fault_type"] is None
    # With a feed, a device never heard from is still never_streamed, whatever its registry row says.
    fed = camera_states(table(keepalives(CAMERA, range(3))), registry, as_of=T0 + dt.timedelta(minutes=3))
    assert current_of(fed, CHANNEL)["state"] == "never_streamed" and current_of(fed, NVR)["state"] == "never_streamed"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate("qinhuangdao", dt.date(2026, 7, 1), 1, "small", 7, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return (read_heartbeats(out / "heartbeats" / "status_20260701.jsonl"),
            read_catalog(out / "catalog" / "catalog_20260701.json"), manifest)


def test_the_simulators_outages_are_found_where_the_manifest_puts_them(city):
    heartbeats, devices, manifest = city
    outages = [f for f in manifest["faults"] if f["kind"] in ("camera_outage", "nvr_outage")]
    assert any(f["kind"] == "camera_outage" for f in outages)
    states = camera_states(heartbeats, devices, interval_seconds=15 * 60)
    as_of = max(heartbeats["Time"].to_pylist())
    offline = {(r["device_id"], r["changed_at"]) for r in states.changes.to_pylist() if r["to_state"] == "offline"}
    back = {(r["device_id"], r["changed_at"]) for r in states.changes.to_pylist() if r["reason"] == "keepalive_resumed"}
    children = {}
    for r in devices.to_pylist():
        children.setdefault(r["ParentID"], []).append(r["DeviceID"])
    expected_down, expected_up = set(), set()
    for f in outages:
        start, end = dt.datetime.fromisoformat(f["start"]), dt.datetime.fromisoformat(f["end"])
        for device in [f["key"]] + (children.get(f["key"], []) if f["kind"] == "nvr_outage" else []):
            expected_down.add((device, start))
            if end <= as_of:
                expected_up.add((device, end))
    # A network fault takes the devices below its link offline for each of its spans (not camera faults, but the
    # feed is silent all the same).
    for fault in manifest["network_faults"]:
        for span in fault["spans"]:
            start, end = (dt.datetime.fromisoformat(span[k]).replace(tzinfo=None) for k in ("from", "to"))
            for device in fault["cameras_affected"] + fault["nvrs_affected"]:
                expected_down.add((device, start))
                if end <= as_of:
                    expected_up.add((device, end))
    # Overlapping outages of one device merge into one offline spell: every spell starts at some outage's start.
    assert offline <= expected_down and {d for d, _ in offline} == {d for d, _ in expected_down}
    assert back <= expected_up
    for f in outages:
        start = dt.datetime.fromisoformat(f["start"])
        inside = [r for r in states.changes.to_pylist() if r["device_id"] == f["key"] and r["changed_at"] <= start]
        assert inside and inside[-1]["to_state"] == "offline", f    # offline by the outage's start


def test_without_status_messages_only_outages_of_three_missed_keepalives_are_offline(city):
    heartbeats, devices, manifest = city
    step = dt.timedelta(minutes=15)             # the simulator's summary step at small scale
    only_keepalives = heartbeats.filter(pa.compute.equal(heartbeats["CmdType"], "Keepalive"))
    states = camera_states(only_keepalives, devices, interval_seconds=int(step.total_seconds()))
    as_of = max(only_keepalives["Time"].to_pylist())
    down = {}
    for r in states.changes.to_pylist():
        if r["to_state"] == "offline":
            down.setdefault(r["device_id"], []).append(r["changed_at"])
    nvrs = {f["key"] for f in manifest["faults"] if f["kind"] == "nvr_outage"}
    parents = {r["DeviceID"]: r["ParentID"] for r in devices.to_pylist()}
    # Devices below a failed link also miss keepalives for the link's spans: this test is about their own outages.
    below_network = {d for f in manifest["network_faults"] for d in f["cameras_affected"] + f["nvrs_affected"]}
    for f in manifest["faults"]:
        if f["kind"] != "camera_outage" or parents.get(f["key"]) in nvrs or f["key"] in below_network:
            continue
        start, end = dt.datetime.fromisoformat(f["start"]), dt.datetime.fromisoformat(f["end"])
        last_heard = T0 + step * ((start - T0) // step)              # the keepalive grid point at or before start
        if last_heard == start:
            last_heard -= step
        missed = (min(end, as_of + step) - last_heard) // step - (0 if (end - T0) % step else 1)
        if missed >= 3:
            assert last_heard + 3 * step in down.get(f["key"], []), f
        else:
            assert not down.get(f["key"]), f
