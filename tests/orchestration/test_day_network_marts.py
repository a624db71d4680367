"""The network marts of the main job's simulated day against the raw landing files and the simulator's manifest:
the faults mart finds each planted outage (element, level, operator, span) with the cameras below it that went
offline; utilisation per level and operator equals a pandas computation over the raw SNMP counters; the networking
rate counts the cameras with keepalives in the raw heartbeat file and a path to the city core in the raw network
registry; the camera KPIs' offline split agrees with the root-cause table."""
import datetime as dt
import json

import pandas as pd
import pytest

from safecity.lakehouse.warehouse import connect
from safecity.standards.catalogue import load_catalogue
from tests.network_paths import access_node, nodes_reaching_core, path_elements
from tests.orchestration.landing import manifest_and_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOLERANCE = dt.timedelta(minutes=2)     # the state machine's hysteresis: a probe interval or two


@pytest.fixture(scope="module")
def day(main_day):
    settings, _ = main_day
    manifest, files = manifest_and_files(settings)
    codes = load_catalogue(settings.city.id).code_tables
    zh = {t: {c.name_zh: c.code for c in codes[t].codes} for t in ("network_level", "network_operator")}
    links = pd.read_csv(files["network_links_csv"], dtype=str)
    links.columns = ["link_id", "upstream", "upstream_if", "downstream", "level", "capacity", "medium", "operator",
                     "contractor", "division"]
    links["level"] = links["level"].map(zh["network_level"])
    links["operator"] = links["operator"].map(zh["network_operator"])
    links["capacity"] = links["capacity"].astype(float)
    nodes = pd.read_csv(files["network_nodes_csv"], dtype=str).iloc[:, [0, 3]]
    nodes.columns = ["node_id", "level"]
    attachments = pd.read_csv(files["network_attachments_csv"], dtype=str).iloc[:, [0, 1]]
    attachments.columns = ["device_id", "node_id"]
    catalog = json.loads(files["catalog_json"].read_text(encoding="utf-8"))["DeviceList"]
    cameras = {d["DeviceID"]: d for d in catalog if d["DeviceID"][10:13] in ("131", "132")}
    heartbeats = pd.read_json(files["heartbeats_jsonl"], lines=True, dtype={"DeviceID": str})
    heartbeats["Time"] = pd.to_datetime(heartbeats["Time"])
    uplinks = dict(zip(links["downstream"], links["upstream"]))
    city = set(nodes.loc[nodes["level"] == "市局", "node_id"])
    return {"settings": settings, "manifest": manifest, "files": files, "links": links, "cameras": cameras,
            "attached": dict(zip(attachments["device_id"], attachments["node_id"])), "uplinks": uplinks,
            "core": nodes_reaching_core(uplinks, city), "heartbeats": heartbeats,
            "by_downstream": dict(zip(links["downstream"], links["link_id"]))}


def query(day, sql):
    with connect(day["settings"], read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=None)   # the manifest's +08:00 is the city's local time


def test_each_planted_outage_is_one_fault_row_with_its_element_level_operator_and_span(day):
    planted = [f for f in day["manifest"]["network_faults"] if f["kind"] != "link_saturation"]
    rows = {r["element_id"]: r for r in query(day, "SELECT * FROM marts.mart_network_faults")}
    assert set(rows) == {f["element_id"] for f in planted}
    for fault in planted:
        row = rows[fault["element_id"]]
        assert (row["element_type"], row["level"], row["operator"], row["division_code"]) == (
            fault["element_type"], fault["level"], fault["operator"], fault["division_code"]), fault["kind"]
        assert abs(row["since"] - local(fault["from"])) <= TOLERANCE, fault["kind"]
        assert row["until"] is not None and abs(row["until"] - local(fault["to"])) <= TOLERANCE, fault["kind"]
        assert row["minutes"] == pytest.approx((row["until"] - row["since"]).total_seconds() / 60)
    # The flapping port is one fault of several down stays, the others one stay each.
    flapping = next(f for f in planted if f["kind"] == "flapping_port")
    assert rows[flapping["element_id"]]["down_stays"] > 1
    assert rows[flapping["element_id"]]["down_minutes"] < rows[flapping["element_id"]]["minutes"]


def test_cameras_affected_are_the_cameras_below_the_element_whose_status_went_off_during_the_fault(day):
    """Per the raw registry (a camera's attachment, else its NVR's, and the uplinks above) and the raw heartbeat
    file's Status OFF messages inside the fault's span; key points per the city's rule (UseType 3 or PositionType
    1–4, config/cities/qinhuangdao/point_levels.yaml)."""
    rows = {r["element_id"]: r for r in query(day, "SELECT * FROM marts.mart_network_faults")}
    status = day["heartbeats"][(day["heartbeats"]["CmdType"] == "Status") & (day["heartbeats"]["Status"] == "OFF")]
    for fault in (f for f in day["manifest"]["network_faults"] if f["kind"] != "link_saturation"):
        below = {cam for cam, d in day["cameras"].items()
                 if (node := access_node(cam, d.get("ParentID"), day["attached"]))
                 and ("link", fault["element_id"]) in path_elements(node, day["uplinks"], day["by_downstream"])}
        inside = status[(status["Time"] >= local(fault["from"]) - TOLERANCE)
                        & (status["Time"] <= local(fault["to"]) + TOLERANCE)]
        off = below & set(inside["DeviceID"])
        key = {c for c in off if day["cameras"][c]["Info"].get("UseType") == "3"
               or day["cameras"][c]["Info"].get("PositionType") in ("1", "2", "3", "4")}
        row = rows[fault["element_id"]]
        found = (row["cameras_affected"], row["key_point_cameras_affected"])
        assert off and found == (len(off), len(key)), fault["kind"]
        assert off == set(fault["cameras_affected"]), fault["kind"]


def raw_utilisation(day) -> pd.DataFrame:
    """Per link and counter sample from the raw SNMP file: the larger of in/out bits per second since the sample
    before over the link's capacity; a lower counter (a reset) leaves the sample without a reading."""
    counters = pd.read_json(day["files"]["interface_counters_jsonl"], lines=True)
    counters["time"] = pd.to_datetime(counters["time"])
    frame = counters.merge(day["links"], left_on=["agent", "ifName"], right_on=["upstream", "upstream_if"])
    frame = frame.sort_values(["link_id", "time"])
    grouped = frame.groupby("link_id")
    seconds = grouped["time"].diff().dt.total_seconds()
    d_in, d_out = grouped["ifHCInOctets"].diff(), grouped["ifHCOutOctets"].diff()
    ok = (d_in >= 0) & (d_out >= 0) & (seconds > 0)
    frame["utilisation"] = (pd.concat([d_in, d_out], axis=1).max(axis=1) * 8 / seconds / 1e6 / frame["capacity"])
    frame = frame[ok]
    frame["day"] = frame["time"].dt.date
    return frame


def test_utilisation_per_level_and_operator_equals_the_raw_counters(day):
    frame = raw_utilisation(day)
    mart = {(r["day"], r["level"], r["operator"]): r
            for r in query(day, "SELECT * FROM marts.mart_network_availability_daily")}
    expected = {}
    for keys, group in [*frame.groupby(["day", "level", "operator"]),
                        *((k + ("all",), g) for k, g in frame.groupby(["day", "level"])),
                        *(((k[0], "all", k[1]), g) for k, g in frame.groupby(["day", "operator"]))]:
        expected[keys] = (group["utilisation"].mean(), group["utilisation"].quantile(0.95),
                          group["utilisation"].max())
    assert set(expected) <= set(mart)
    for keys, (mean, p95, peak) in expected.items():
        row = mart[keys]
        assert (row["mean_utilisation"], row["p95_utilisation"], row["peak_utilisation"]) == pytest.approx(
            (mean, p95, peak), rel=1e-9), keys
    # Every level has its links counted, per the raw registry.
    for (level, operator), group in day["links"].groupby(["level", "operator"]):
        assert {r["links"] for k, r in mart.items() if k[1:] == (level, operator)} == {len(group)}


def test_availability_counts_the_planted_down_time_and_the_evening_saturation(day):
    """Down minutes per level are the planted outages' spans (within the hysteresis per down stay); the saturated
    branch link of the evening peak gives its level and operator saturated minutes close to the planted 90."""
    the_day = local(day["manifest"]["network_faults"][0]["from"]).date()   # the next day has a midnight sample only
    mart = {(r["level"], r["operator"]): r
            for r in query(day, "SELECT * FROM marts.mart_network_availability_daily") if r["day"] == the_day}
    faults = query(day, "SELECT * FROM marts.mart_network_faults")
    for level in ("city", "branch", "station", "access"):
        planted = [f for f in day["manifest"]["network_faults"]
                   if f["kind"] != "link_saturation" and f["level"] == level]
        spans = sum((local(s["to"]) - local(s["from"])).total_seconds() / 60 for f in planted for s in f["spans"])
        stays = sum(f["down_stays"] for f in faults if f["level"] == level)
        row = mart[(level, "all")]
        slack = 2 * TOLERANCE.total_seconds() / 60 * max(stays, 1)
        assert row["down_minutes"] == pytest.approx(spans, abs=slack), level
        assert row["availability"] == pytest.approx(1 - row["down_minutes"] / row["link_minutes"])
    saturation = next(f for f in day["manifest"]["network_faults"] if f["kind"] == "link_saturation")
    planted = (local(saturation["to"]) - local(saturation["from"])).total_seconds() / 60
    hot = mart[(saturation["level"], saturation["operator"])]
    assert planted - 15 <= hot["saturated_minutes"] <= planted + 5
    assert hot["peak_utilisation"] >= 0.9


def test_networking_rate_counts_keepalives_and_a_registry_path_to_the_core(day):
    """networked per level = cameras in service with a keepalive in the raw heartbeat file and an access path in the
    raw registry that reaches a city node; the rate divides by cameras in service."""
    keepalive = set(day["heartbeats"].loc[day["heartbeats"]["CmdType"] == "Keepalive", "DeviceID"])
    in_service = {r["device_id"] for r in query(day, "SELECT device_id FROM intermediate.int_cameras__health "
                                                     "WHERE in_denominator")}
    assert in_service <= set(day["cameras"])
    networked = {c for c in in_service if c in keepalive
                 and access_node(c, day["cameras"][c].get("ParentID"), day["attached"]) in day["core"]}
    rows = {(r["level"], r["unit_code"]): r for r in query(day, "SELECT * FROM marts.mart_camera_kpis_by_level")}
    city = next(k for k in rows if k[0] == "city")
    assert rows[city]["networked"] == len(networked)
    assert rows[city]["networking_rate"] == pytest.approx(len(networked) / len(in_service))
    for division in {c[:6] for c in in_service}:
        mine = {c for c in in_service if day["cameras"][c]["CivilCode"] == division}
        assert rows[("branch", division)]["networked"] == len(mine & networked), division
    scorecard = {r["division_code"]: r["value"] for r in query(
        day, "SELECT division_code, value FROM marts.mart_scorecard_district WHERE indicator = 'networking_rate'")}
    kpis = {r["division_code"]: r["networking_rate"] for r in query(
        day, "SELECT division_code, networking_rate FROM marts.mart_camera_kpis_by_district")}
    assert scorecard and all(scorecard[d] == pytest.approx(kpis[d]) for d in scorecard if kpis.get(d) is not None)


def test_offline_cameras_are_split_by_the_cause_of_their_open_outage(day):
    causes = {r["camera_id"]: r["cause_element_type"] for r in query(
        day, "SELECT camera_id, cause_element_type FROM silver.camera_outage_cause WHERE until IS NULL")}
    cameras = query(day, "SELECT device_id, in_denominator, is_online FROM intermediate.int_cameras__health")
    offline = [c for c in cameras if c["in_denominator"] and not c["is_online"]]
    network = sum(causes.get(c["device_id"]) in ("link", "node") for c in offline)
    rows = {(r["level"], r["unit_code"]): r for r in query(day, "SELECT * FROM marts.mart_camera_kpis_by_level")}
    city = next(k for k in rows if k[0] == "city")
    assert (rows[city]["offline_by_network"], rows[city]["offline_by_device"]) == (network, len(offline) - network)
    assert rows[city]["offline_by_network"] + rows[city]["offline_by_device"] == \
        rows[city]["cameras_in_service"] - rows[city]["online"]
