"""The network layer on the simulated day, through the main job (issue 21's proof): every planted network fault is
found on its own link, with the right root cause, and no camera outage a link caused is a camera fault.

Independent readings: the raw network management exports (linkDown/linkUp traps, the link and attachment registries
as CSV), the raw GB/T 28181 status feed (each device's OFF/ON), the camera catalog and the manifest's
`network_faults`, read here with pandas; the platform's silver.link_state, camera_outage_cause and network_outage
must agree with them. The root-cause rule is the issue's: a camera's outage is the failed element's when the element
above the camera was down for more than half of it."""
import datetime as dt
import json

import pandas as pd
import pytest

from safecity.lakehouse.warehouse import connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CST = dt.timezone(dt.timedelta(hours=8))
RECORDERS, CAMERAS = ("118",), ("131", "132")


def at(text: str) -> pd.Timestamp:
    moment = dt.datetime.fromisoformat(text)
    return pd.Timestamp(moment if moment.tzinfo else moment.replace(tzinfo=CST)).tz_convert("UTC")


@pytest.fixture(scope="module")
def network_day(main_day):
    settings, _ = main_day
    landing = settings.paths.landing
    manifest = json.loads((landing / "manifest.json").read_text(encoding="utf-8"))
    files = {f["kind"]: landing / name for name, f in manifest["files"].items()}
    with connect(settings, read_only=True) as con:
        tables = {name: con.execute(f"SELECT * FROM silver.{name}").df()
                  for name in ("link_state", "camera_outage_cause", "network_outage")}
    for frame in tables.values():  # the state tables hold local wall time (as silver.camera_state does)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC")
            elif pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].dt.tz_localize(CST).dt.tz_convert("UTC")
    return manifest, files, tables, settings


def trap_spans(files) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Each link's down spans from the raw traps: linkDown on the upstream node's interface to the next linkUp."""
    links = pd.read_csv(files["network_links_csv"], dtype=str)
    by_interface = {(r["上联设备"], r["上联端口"]): r["链路编号"] for _, r in links.iterrows()}
    # As the NMS exports them: {"agent": node, "ifName": interface, "trap": "linkDown" | "linkUp", "time": local}
    traps = pd.read_json(files["interface_status_jsonl"], lines=True, dtype=str, convert_dates=False)
    spans: dict[str, list] = {}
    opened: dict[str, pd.Timestamp] = {}
    for _, trap in traps.assign(_at=traps["time"].map(at)).sort_values("_at").iterrows():
        link = by_interface[(trap["agent"], trap["ifName"])]
        if trap["trap"] == "linkDown":
            opened.setdefault(link, trap["_at"])
        elif link in opened:
            spans.setdefault(link, []).append((opened.pop(link), trap["_at"]))
    return spans


def devices_below(files) -> dict[str, set[str]]:
    """Every device (camera or recorder) below each link: the link's downstream node, the nodes below it, and what
    the attachment registry hangs on any of them."""
    links = pd.read_csv(files["network_links_csv"], dtype=str)
    attachments = pd.read_csv(files["network_attachments_csv"], dtype=str)
    children: dict[str, list[str]] = {}
    for _, link in links.iterrows():
        children.setdefault(link["上联设备"], []).append(link["下联设备"])
    hung: dict[str, set[str]] = {}
    for _, row in attachments.iterrows():
        hung.setdefault(row["接入设备"], set()).add(row["设备编码"])
    below = {}
    for _, link in links.iterrows():
        nodes, stack = set(), [link["下联设备"]]
        while stack:
            node = stack.pop()
            nodes.add(node)
            stack.extend(children.get(node, []))
        below[link["链路编号"]] = set().union(*(hung.get(n, set()) for n in nodes))
    return below


def device_stays(files) -> pd.DataFrame:
    """Each device's offline stays from the raw status feed: Status OFF to the next ON (open: to the feed's end)."""
    feed = pd.read_json(files["heartbeats_jsonl"], lines=True, dtype={"DeviceID": str}, convert_dates=False)
    feed["at"] = feed.Time.map(at)
    end = feed["at"].max()
    stays = []
    for device, rows in feed[feed.CmdType == "Status"].sort_values("at").groupby("DeviceID"):
        since = None
        for _, row in rows.iterrows():
            if row.Status == "OFF" and since is None:
                since = row["at"]
            elif row.Status == "ON" and since is not None:
                stays.append((device, since, row["at"]))
                since = None
        if since is not None:
            stays.append((device, since, end))
    return pd.DataFrame(stays, columns=["device_id", "since", "until"])


def expected_causes(files) -> dict[tuple[str, pd.Timestamp], str]:
    """(device, since) -> the link its outage is attributed to, for the stays a failed link was down most of."""
    spans, below = trap_spans(files), devices_below(files)
    causes = {}
    for stay in device_stays(files).itertuples():
        for link, down in spans.items():
            if stay.device_id not in below[link]:
                continue
            covered = sum(max(0.0, (min(stay.until, e) - max(stay.since, b)).total_seconds()) for b, e in down)
            if covered * 2 > (stay.until - stay.since).total_seconds():
                causes[(stay.device_id, stay.since)] = link
    return causes


def test_every_planted_link_fault_is_found_on_its_link_and_nowhere_else(network_day):
    manifest, files, tables, _ = network_day
    spans = trap_spans(files)
    offline = {f["element_id"]: f for f in manifest["network_faults"] if f["kind"] != "link_saturation"}
    assert set(spans) == set(offline) and len(offline) == 3  # the raw traps tell the same story as the manifest
    states = tables["link_state"]
    down = states[states.state == "down"]
    assert set(down.link_id) == set(offline)  # no link down that the day did not break
    for link, fault in offline.items():
        stays = down[down.link_id == link]
        start, stop = at(fault["from"]), at(fault["to"])
        # Every raw down span lies in one of the platform's down stays (the hysteresis may join flaps) ...
        for begin, end in spans[link]:
            assert ((stays.since <= begin + pd.Timedelta(minutes=1)) & (stays.until >= end)).any(), (link, begin)
        # ... and the stays claim no time the link was up, beyond the clean probe minute that confirms recovery.
        assert stays.since.min() >= start - pd.Timedelta(minutes=1)
        assert stays.until.max() <= stop + pd.Timedelta(minutes=3)


def test_the_evening_saturation_is_found_on_the_branch_link_it_was_planted_on(network_day):
    manifest, _, tables, _ = network_day
    [fault] = [f for f in manifest["network_faults"] if f["kind"] == "link_saturation"]
    states = tables["link_state"]
    saturated = states[states.state == "saturated"]
    assert set(saturated.link_id) == {fault["element_id"]}
    start, stop = at(fault["from"]), at(fault["to"])
    # Five samples at 90 % or more saturate the link, five below 70 % clear it (one sample a minute).
    assert start <= saturated.since.min() <= start + pd.Timedelta(minutes=6)
    assert stop <= saturated.until.max() <= stop + pd.Timedelta(minutes=6)


def test_camera_outages_under_a_failed_link_are_the_links_and_the_others_stay_device_faults(network_day):
    manifest, files, tables, _ = network_day
    expected = expected_causes(files)
    links = pd.read_csv(files["network_links_csv"], dtype=str).set_index("链路编号")
    causes = tables["camera_outage_cause"]
    found = {(r.camera_id, r.since): r for r in causes.itertuples()}
    by_network = {key: r.cause_element_id for key, r in found.items() if r.cause_element_type in ("link", "node")}
    assert by_network == expected and len(expected) >= 3 * 16  # three faults, each at least one NVR's channels
    for key, link in expected.items():
        assert found[key].contractor == links.loc[link, "维护单位"], key
    # What no network element explains is the device's own (or its recorder's): never a link's.
    assert set(causes[~causes.cause_element_type.isin(["link", "node"])].cause_element_type) <= {"camera", "nvr"}


def test_each_link_outage_is_one_event_with_the_key_point_cameras_it_took(network_day):
    manifest, files, tables, settings = network_day
    from safecity.config.point_levels import load_point_levels
    from safecity.simulator.ground_truth import point_level

    catalog = json.loads(files["catalog_json"].read_text(encoding="utf-8"))["DeviceList"]
    levels = load_point_levels(settings.city.id)
    point = {d["DeviceID"]: point_level(levels, d["Info"]["UseType"], d["Info"]["PositionType"]) for d in catalog}
    taken: dict[str, set[str]] = {}
    for (device, _), link in expected_causes(files).items():
        if device[10:13] in CAMERAS:
            taken.setdefault(link, set()).add(device)
    events = tables["network_outage"]
    assert sorted(events.element_id) == sorted(taken)  # one outage per failed link, the flaps of a port included
    for event in events.itertuples():
        assert event.element_type == "link"
        assert event.cameras_affected == len(taken[event.element_id])
        assert event.key_point_cameras_affected == sum(point[d] == "key" for d in taken[event.element_id]) > 0
