"""The simulated network (simulator/network.py), read back from the files it wrote with pandas: the topology is a
tree every camera climbs to the core, every planted fault shows in the telemetry for its span, the devices below a
failed link are silent in the heartbeats for it, and the manifest's affected cameras are exactly those below the
failed element as the written registries say. Nothing here calls the simulator's own helpers for the answers."""
import datetime as dt
import json

import pandas as pd
import pytest

from safecity.simulator.run import simulate

DAY = dt.date(2026, 7, 15)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("network")
    simulate("qinhuangdao", DAY, 1, "small", 1, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    def table(kind: str) -> pd.DataFrame:
        [name] = [n for n, f in manifest["files"].items() if f["kind"] == kind]
        if name.endswith(".csv"):
            return pd.read_csv(out / name, dtype=str)
        return pd.read_json(out / name, lines=True, dtype=False)

    return {"out": out, "manifest": manifest, "nodes": table("network_nodes_csv"), "links": table("network_links_csv"),
            "attachments": table("network_attachments_csv"), "status": table("interface_status_jsonl"),
            "counters": table("interface_counters_jsonl"), "probes": table("link_probes_jsonl"),
            "heartbeats": table("heartbeats_jsonl")}


def local(iso: str) -> pd.Timestamp:
    """A manifest time (ISO with offset) as the exports write it (local time, no zone)."""
    return pd.Timestamp(iso).tz_localize(None)


def parents(links: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Downstream node -> (upstream node, link id)."""
    return {r.下联设备: (r.上联设备, r.链路编号) for r in links.itertuples()}


def path_links(node: str, up: dict[str, tuple[str, str]]) -> list[str]:
    seen = []
    while node in up:
        node, link = up[node]
        assert link not in seen, f"cycle at {link}"
        seen.append(link)
    return seen


def full_minutes(spans: list[dict]) -> list[pd.Timestamp]:
    """The minutes wholly inside the spans."""
    minutes = []
    for span in spans:
        begin, end = local(span["from"]).ceil("min"), local(span["to"]).floor("min")
        minutes += list(pd.date_range(begin, end, freq="min", inclusive="left"))
    return minutes


def test_topology_is_a_tree_and_every_device_reaches_the_core(day):
    nodes, links, attachments = day["nodes"], day["links"], day["attachments"]
    assert nodes.设备编号.is_unique and links.链路编号.is_unique
    assert links.下联设备.is_unique  # one uplink per node: a tree
    [core] = nodes[nodes.设备类型 == "核心交换机"].设备编号
    assert set(links.上联设备) | set(links.下联设备) <= set(nodes.设备编号)
    assert set(nodes.设备编号) - set(links.下联设备) == {core}
    up = parents(links)
    level = dict(zip(nodes.设备编号, nodes.网络层级))
    for node in nodes.设备编号:
        route = path_links(node, up)
        top = node
        for _ in route:
            top = up[top][0]
        assert top == core, node
        assert len(route) == {"市局": 0 if node == core else 1, "分局": 1, "派出所": 2, "接入点": 3}[level[node]]
    # Every camera and recorder of the catalog hangs off an access node, and a camera's station is its ID's digits.
    [catalog] = [n for n, f in day["manifest"]["files"].items() if f["kind"] == "catalog_json"]
    devices = {d["DeviceID"] for d in json.loads((day["out"] / catalog).read_text(encoding="utf-8"))["DeviceList"]}
    assert set(attachments.设备编码) == devices and attachments.设备编码.is_unique
    assert set(level[n] for n in attachments.接入设备) == {"接入点"}
    for row in attachments.itertuples():
        station = up[row.接入设备][0]
        assert station == f"NET{row.设备编码[:6]}S00{row.设备编码[6:8]}"
    # Channels sit on their recorder's access node (their path runs through it).
    parent = {d["DeviceID"]: d["ParentID"] for d in json.loads((day["out"] / catalog).read_text(
        encoding="utf-8"))["DeviceList"] if d["ParentID"]}
    node_of = dict(zip(attachments.设备编码, attachments.接入设备))
    assert all(node_of[c] == node_of[p] for c, p in parent.items())


def test_the_four_faults_are_planted(day):
    kinds = {f["kind"]: f for f in day["manifest"]["network_faults"]}
    assert set(kinds) == {"fibre_cut", "station_uplink_down", "link_saturation", "flapping_port"}
    levels = dict(zip(day["links"].链路编号, day["links"].链路层级))
    assert [levels[kinds[k]["element_id"]] for k in ("fibre_cut", "station_uplink_down", "link_saturation",
                                                     "flapping_port")] == ["接入点", "派出所", "分局", "接入点"]
    span = lambda f: local(f["to"]) - local(f["from"])  # noqa: E731
    assert dt.timedelta(minutes=100) <= span(kinds["fibre_cut"]) <= dt.timedelta(minutes=140)
    assert dt.timedelta(minutes=35) <= span(kinds["station_uplink_down"]) <= dt.timedelta(minutes=55)
    assert kinds["station_uplink_down"]["key_point_cameras"]
    assert len(kinds["flapping_port"]["spans"]) >= 5
    assert (local(kinds["link_saturation"]["from"]).time(), local(kinds["link_saturation"]["to"]).time()) == (
        dt.time(18), dt.time(19, 30))
    assert all(f["root_cause"] == {"element_type": "link", "element_id": f["element_id"]} for f in kinds.values())


def test_affected_cameras_are_exactly_those_below_the_failed_link(day):
    links, attachments = day["links"], day["attachments"]
    up = parents(links)
    below: dict[str, set[str]] = {}
    for row in attachments.itertuples():
        for link in path_links(row.接入设备, up):
            below.setdefault(link, set()).add(row.设备编码)
    for fault in day["manifest"]["network_faults"]:
        devices = below[fault["element_id"]]
        cameras = {d for d in devices if d[10:13] != "118"}
        if fault["kind"] == "link_saturation":
            assert fault["cameras_affected"] == [] and fault["cameras_carried"] == len(cameras)
        else:
            assert set(fault["cameras_affected"]) == cameras and cameras
            assert set(fault["nvrs_affected"]) == devices - cameras
            assert set(fault["key_point_cameras"]) <= cameras


def test_devices_below_a_failed_link_are_silent_for_its_spans_and_not_camera_faults(day):
    beats = day["heartbeats"]
    beats["t"] = pd.to_datetime(beats.Time)
    keepalive = beats[beats.CmdType == "Keepalive"]
    recorded = {f["key"] for f in day["manifest"]["faults"] if f["kind"] in ("camera_outage", "nvr_outage")}
    for fault in (f for f in day["manifest"]["network_faults"] if f["cameras_affected"]):
        devices = set(fault["cameras_affected"]) | set(fault["nvrs_affected"])
        for span in fault["spans"]:
            inside = keepalive[(keepalive.t >= local(span["from"])) & (keepalive.t < local(span["to"]))]
            assert not set(inside.DeviceID) & devices, (fault["kind"], span)
            offs = beats[(beats.CmdType == "Status") & (beats.Status == "OFF") & (beats.t == local(span["from"]))]
            assert devices <= set(offs.DeviceID) | _down_already(beats, devices, local(span["from"]))
        # The network's outages are not the devices' own faults.
        own = [f for f in day["manifest"]["faults"] if f["kind"] in ("camera_outage", "nvr_outage")
               and f["key"] in devices and f["start"] in {s["from"][:19] for s in fault["spans"]}]
        assert not own
    assert recorded  # the cameras' own faults are still there


def _down_already(beats: pd.DataFrame, devices: set[str], at: pd.Timestamp) -> set[str]:
    """Devices whose last status before `at` was OFF (an own outage already running)."""
    status = beats[(beats.CmdType == "Status") & (beats.t < at) & beats.DeviceID.isin(devices)]
    last = status.sort_values("t").groupby("DeviceID").Status.last()
    return set(last[last == "OFF"].index)


def test_down_faults_show_in_traps_probes_and_counters(day):
    links = day["links"].set_index("链路编号")
    status, probes, counters = day["status"], day["probes"], day["counters"]
    probes["t"] = pd.to_datetime(probes.start)
    counters["t"] = pd.to_datetime(counters.time)
    counters = counters.sort_values(["agent", "ifName", "t"])
    counters["delta_in"] = counters.groupby(["agent", "ifName"]).ifHCInOctets.diff()
    for fault in (f for f in day["manifest"]["network_faults"] if f["kind"] != "link_saturation"):
        link = links.loc[fault["element_id"]]
        traps = status[(status.agent == link.上联设备) & (status.ifName == link.上联端口)]
        expected = sorted([(local(s["from"]), "linkDown") for s in fault["spans"]] +
                          [(local(s["to"]), "linkUp") for s in fault["spans"]])
        assert sorted(zip(pd.to_datetime(traps.time), traps.trap)) == expected
        minutes = full_minutes(fault["spans"])
        assert minutes
        lost = probes[(probes.target == link.下联设备) & probes.t.isin(minutes)]
        assert len(lost) == len(minutes) and (lost.received == 0).all() and lost.rttAvg.isna().all()
        # A counter sample at the end of a wholly-down minute counts no traffic.
        samples = counters[(counters.agent == link.上联设备) & (counters.ifName == link.上联端口)]
        flat = samples[samples.t.isin([m + pd.Timedelta(minutes=1) for m in minutes])]
        assert len(flat) == len(minutes) and (flat.delta_in == 0).all()
        # Outside the fault the node answers.
        outside = probes[(probes.target == link.下联设备) & ~probes.t.isin(full_minutes(
            [{"from": fault["from"], "to": fault["to"]}]))]
        assert (outside.received > 0).mean() > 0.99
    station = next(f for f in day["manifest"]["network_faults"] if f["kind"] == "station_uplink_down")
    below = set(day["links"][day["links"].上联设备 == links.loc[station["element_id"]].下联设备].下联设备)
    minutes = full_minutes(station["spans"])
    assert (probes[probes.target.isin(below) & probes.t.isin(minutes)].received == 0).all()


def test_the_saturated_link_is_above_ninety_percent_only_in_its_span(day):
    fault = next(f for f in day["manifest"]["network_faults"] if f["kind"] == "link_saturation")
    link = day["links"].set_index("链路编号").loc[fault["element_id"]]
    samples = day["counters"][(day["counters"].agent == link.上联设备) & (day["counters"].ifName == link.上联端口)]
    samples = samples.assign(t=pd.to_datetime(samples.time)).sort_values("t")
    bits = samples[["ifHCInOctets", "ifHCOutOctets"]].diff().max(axis=1) * 8
    seconds = samples.t.diff().dt.total_seconds()
    utilisation = (bits / seconds / 1e6 / float(link["带宽(Mbps)"])).set_axis(samples.t)
    inside = (utilisation.index > local(fault["from"])) & (utilisation.index <= local(fault["to"]))
    assert (utilisation[inside] >= 0.9).all() and inside.sum() == 90
    assert (utilisation[~inside].dropna() < 0.7).all()


def test_the_counter_reset_is_a_negative_difference_at_its_moment(day):
    [reset] = [s for s in day["manifest"]["situations"] if s["kind"] == "counter_reset"]
    counters = day["counters"].assign(t=lambda d: pd.to_datetime(d.time)).sort_values(["agent", "ifName", "t"])
    counters["delta"] = counters.groupby(["agent", "ifName"]).ifHCInOctets.diff()
    negative = counters[counters.delta < 0]
    assert set(zip(negative.agent, negative.ifName)) == {(reset["key"], i) for i in reset["interfaces"]}
    assert set(negative.t) == {local(reset["at"]) + pd.Timedelta(minutes=1)}
