"""Network state, root cause and the network events on a small city network written to silver here (Iceberg tables
with the contract's columns, pyarrow schemas of their own: the network entities are another branch's), a morning of
08:00-12:00 with one fault per scenario. Camera state comes from the camera health step over keepalives written
here, so the outages the root cause judges are the ones silver sees. Every figure is checked against a plain Python
computation from the raw rows written.

Topology: core C → branch B (LNKB) → stations S1 (LNKS1), S2 (LNKS2) → access nodes A1 (under S1), A2..A8 (under S2);
A8 stops answering pings while its uplink is up (a node outage).
"""
import datetime as dt

import dagster as dg
import pytest

from safecity.analytics.camera_health import refresh_camera_health
from safecity.analytics.network_health import CAUSE_TABLE, SCHEMAS, TABLES, refresh_network_state
from safecity.analytics.policy_events import PRODUCERS, refresh_policy_events
from safecity.lakehouse.catalog import open_catalog, replace_rows
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.orchestration.defs.cameras.health import network_state
from safecity.orchestration.resources import platform_resources
from tests.network_silver import silver_table

T0 = dt.datetime(2026, 7, 1, 8, 0)                  # local (Asia/Shanghai) naive, as silver.camera_state has it
TZ = dt.timezone(dt.timedelta(hours=8))
MINUTES = 240
DIV = "130302"
CORE, BRANCH = f"NET{DIV}C0001", f"NET{DIV}B0001"
S1, S2 = f"NET{DIV}S0001", f"NET{DIV}S0002"
ACCESS = {n: f"NET{DIV}A{n:04d}" for n in range(1, 9)}
CAMERAS_S1 = [f"{DIV}0100132{n:07d}" for n in range(1, 13)]    # 12 cameras below station 1's uplink
KEY_S1 = CAMERAS_S1[:3]                                          # use_type 3: key points
OWN = f"{DIV}0200132{1:07d}"             # under A2, down on its own
NVR = f"{DIV}0200118{1:07d}"             # under A2, down on its own
CHANNEL = f"{DIV}0200132{2:07d}"         # records through NVR
FIBRE = f"{DIV}0200132{3:07d}"           # under A5, whose access link's interface goes down for 40 min
LOADED = f"{DIV}0200132{4:07d}"          # key point under A7 (counter reset, saturation)
NODE_CAM = f"{DIV}0200132{5:07d}"        # under A8, whose node stops answering while its uplink is up
CAPACITY = 100.0


def at(minute: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


def utc(minute: float) -> dt.datetime:
    return at(minute).replace(tzinfo=TZ)


LINKS = [  # link id, upstream, upstream_if, downstream, level, operator, contractor
    ("LNKB", CORE, "GE1/0/1", BRANCH, "branch", "china_telecom", "电信城域网维护中心"),
    ("LNKS1", BRANCH, "GE1/0/1", S1, "station", "china_unicom", "联通政企运维部"),
    ("LNKS2", BRANCH, "GE1/0/2", S2, "station", "china_unicom", "联通政企运维部"),
    ("LNKA1", S1, "GE1/0/1", ACCESS[1], "access", "self_built", "光纤施工队"),
    *[(f"LNKA{n}", S2, f"GE1/0/{n}", ACCESS[n], "access", "self_built", f"接入维护{n}组") for n in range(2, 9)],
]
# Interface traps: (node, interface, status, minute)
STATION_UPLINK_DOWN = (60, 105)        # LNKS1, 45 min
FIBRE_DOWN = (30, 70)                  # LNKA5, 40 min
FLAPS = [(180 + 3 * k, 180 + 3 * k + 1.5) for k in range(10)]   # LNKA6: down 90 s, up 90 s, ten times
TRAPS = [(BRANCH, "GE1/0/1", "down", STATION_UPLINK_DOWN[0]), (BRANCH, "GE1/0/1", "up", STATION_UPLINK_DOWN[1]),
         (S2, "GE1/0/5", "down", FIBRE_DOWN[0]), (S2, "GE1/0/5", "up", FIBRE_DOWN[1])]
TRAPS += [(S2, "GE1/0/6", status, m) for down, up in FLAPS for status, m in (("down", down), ("up", up))]
TRAPS += [(S2, "GE1/0/8", "up", 0)]    # A8's uplink known up: its probe loss is the node's
NODE_DOWN = (220, 225)                 # A8 answers no probe, cameras below silent until 228
# Intervals with 100 % loss, no trap; A3 loses pings again 7 minutes after it came back.
PROBE_ONLY = {ACCESS[3]: (100, 101, 102, 110, 111, 112), ACCESS[4]: (100, 101)}
OWN_DOWN, NVR_DOWN = (120, 150), (130, 170)
RESET_AT = 150                         # LNKA7's counters restart from zero
HOT = {"LNKA7": range(200, 206), "LNKA8": range(200, 204)}         # minutes at 95 Mbps in
CONGESTED = range(201, 209)            # pings through LNKA7 lose one of five while it is hot (from 201)


def down_during(minute: float, spans) -> bool:
    return any(s <= minute < e for s, e in spans)


def probe_rows() -> list[dict]:
    rows = []
    for node in (BRANCH, S1, S2, *ACCESS.values()):
        for m in range(MINUTES):
            sent, received = 5, 5
            below_s1 = node in (S1, ACCESS[1])
            if below_s1 and down_during(m, [STATION_UPLINK_DOWN]) or node == ACCESS[5] and down_during(m, [FIBRE_DOWN]):
                received = 0
            if node == ACCESS[6]:   # an interval fully inside a down phase loses all, one cut by it some
                phases = [(d, u) for d, u in FLAPS]
                if down_during(m, phases) and down_during(m + 0.99, phases):
                    received = 0
                elif down_during(m, phases) or down_during(m + 0.99, phases):
                    received = 2
            if node == ACCESS[7] and m in CONGESTED:
                received = 4
            if m in PROBE_ONLY.get(node, ()) or node == ACCESS[8] and down_during(m, [NODE_DOWN]):
                received = 0
            rows.append({"target_node_id": node, "interval_start": utc(m), "sent": sent, "received": received,
                         "rtt_avg_ms": 2.0 if received else None, "rtt_max_ms": 4.0 if received else None})
    return rows


def rate_mbps(link: str, minute: int) -> tuple[float, float]:
    return (95.0 if minute in HOT.get(link, ()) else 10.0), 5.0


def counter_rows() -> list[dict]:
    """Cumulative octets: each sample adds the traffic of the minute before it; LNKA7's counters reset."""
    rows = []
    for link, node, if_name in (("LNKA7", S2, "GE1/0/7"), ("LNKA8", S2, "GE1/0/8")):
        total_in = total_out = 10 ** 9
        for m in range(MINUTES):
            if m:
                mb_in, mb_out = rate_mbps(link, m)
                total_in += int(mb_in * 1e6 / 8 * 60)
                total_out += int(mb_out * 1e6 / 8 * 60)
            if link == "LNKA7" and m == RESET_AT:
                total_in, total_out = 1000, 500    # rebooted during the minute: a fraction of its traffic counted
            rows.append({"node_id": node, "if_name": if_name, "sampled_at": utc(m), "in_octets": total_in,
                         "out_octets": total_out})
    return rows


def keepalive_rows() -> list[dict]:
    silent = {c: [STATION_UPLINK_DOWN] for c in CAMERAS_S1} | {OWN: [OWN_DOWN], NVR: [NVR_DOWN], FIBRE: [FIBRE_DOWN],
                                                                NODE_CAM: [(NODE_DOWN[0], NODE_DOWN[1] + 3)]}
    devices = [*CAMERAS_S1, OWN, NVR, CHANNEL, FIBRE, LOADED, NODE_CAM]
    return [{"cmd_type": "Keepalive", "device_id": d, "status": "OK", "reported_at": utc(m)}
            for d in devices for m in range(MINUTES) if not down_during(m, silent.get(d, []))]


def write_silver(settings) -> None:
    catalog = open_catalog(settings)
    nodes = [(CORE, "city"), (BRANCH, "branch"), (S1, "station"), (S2, "station")] + \
            [(a, "access") for a in ACCESS.values()]
    attachments = [(c, ACCESS[1]) for c in CAMERAS_S1] + [(OWN, ACCESS[2]), (NVR, ACCESS[2]), (FIBRE, ACCESS[5]),
                                                          (LOADED, ACCESS[7]), (NODE_CAM, ACCESS[8])]
    registry = [(c, None, "3" if c in KEY_S1 else "1") for c in CAMERAS_S1] + \
               [(OWN, None, "1"), (NVR, None, "1"), (CHANNEL, NVR, "1"), (FIBRE, None, "1"), (LOADED, None, "3"),
                (NODE_CAM, None, "1")]
    rows = {
        "network_node": [{"node_id": n, "node_name": n, "node_type": "access_switch", "level": lv,
                          "division_code": DIV, "network": "video_private"} for n, lv in nodes],
        "network_link": [{"link_id": l, "upstream_node_id": u, "upstream_if": i, "downstream_node_id": d,
                          "level": lv, "capacity_mbps": CAPACITY, "medium": "fibre", "operator": o,
                          "contractor": c, "division_code": DIV} for l, u, i, d, lv, o, c in LINKS],
        "network_attachment": [{"device_id": d, "node_id": n, "port": "1"} for d, n in attachments],
        "interface_status": [{"node_id": n, "if_name": i, "status": s, "changed_at": utc(m)}
                             for n, i, s, m in TRAPS],
        "interface_counter": counter_rows(),
        "link_probe": probe_rows(),
        "camera": [{"device_id": d, "parent_id": p, "status": "ON", "longitude": 119.6, "latitude": 39.93,
                    "use_type": u, "position_type": None} for d, p, u in registry],
        "device_status": keepalive_rows(),
        "maintenance_work_order": [{"device_id": OWN, "opened_at": utc(-3000), "contractor": "旧运维公司"},
                                   {"device_id": OWN, "opened_at": utc(-1000), "contractor": "海港视频运维"},
                                   {"device_id": NVR, "opened_at": utc(-1000), "contractor": "录像设备运维"}],
    }
    for name, table_rows in rows.items():
        replace_rows(catalog, f"silver.{name}", silver_table(name, table_rows, utc(-60)))


@pytest.fixture(scope="module")
def network(tmp_path_factory, catalogue):
    from safecity.config.profiles import load_settings
    settings = load_settings("local", tmp_path_factory.mktemp("network") / "home")
    write_silver(settings)
    # The platform's order: the network's state first, then camera health, which derives the outage causes from it.
    report = refresh_network_state(settings)
    refresh_camera_health(settings, catalogue)
    network_producers = tuple(p for p in PRODUCERS if p.name in ("network_outage", "link_load"))
    events = refresh_policy_events(settings, as_of=utc(MINUTES), producers=network_producers)
    catalog = open_catalog(settings)
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        read = {name: con.execute(f"FROM silver.{name}").to_arrow_table().to_pylist()
                for name in ("link_state", "node_state", "link_utilisation", "camera_outage_cause",
                             "network_outage", "link_load", "camera_health")}
    return {"report": report, "events": events, "settings": settings, **read}


def stays(network, link: str) -> list[tuple]:
    return [(r["state"], r["since"], r["until"], r["reason"]) for r in network["link_state"] if r["link_id"] == link]


def test_an_interface_down_for_40_minutes_is_one_down_stay_until_a_clean_interval_after_link_up(network):
    # Down at the linkDown trap; up at the end of the first clean probe interval starting at the linkUp (70-71).
    assert stays(network, "LNKA5") == [
        ("up", at(0), at(FIBRE_DOWN[0]), "first_evidence"),
        ("down", at(FIBRE_DOWN[0]), at(FIBRE_DOWN[1] + 1), "interface_down"),
        ("up", at(FIBRE_DOWN[1] + 1), None, "interface_up")]
    down = next(r for r in network["link_state"] if r["link_id"] == "LNKA5" and r["state"] == "down")
    assert (down["reason_zh"], down["state_zh"]) == ("上联接口报告中断（linkDown）", "中断")
    assert down["evidence"] == f"interface_status {S2} GE1/0/5 down"
    assert down["last_evidence_at"] == at(FIBRE_DOWN[1])     # the last probe interval inside the stay starts 70


def test_probe_loss_alone_takes_a_link_down_after_three_intervals_and_not_after_two(network):
    # 3 lost (100-102): degraded from the end of the first, down at the end of the third, up after 3 clean.
    assert [s[:3] for s in stays(network, "LNKA3")] == [
        ("up", at(0), at(101)), ("degraded", at(101), at(103)), ("down", at(103), at(106)), ("up", at(106), at(111)),
        ("degraded", at(111), at(113)), ("down", at(113), at(116)), ("up", at(116), None)]
    assert stays(network, "LNKA3")[2][3] == "probe_loss"
    # 2 lost (100-101): degraded, never down, clean after 3 clean intervals (102-104).
    assert [s[:3] for s in stays(network, "LNKA4")] == [
        ("up", at(0), at(101)), ("degraded", at(101), at(105)), ("up", at(105), None)]


def test_a_flapping_port_is_one_down_stay_while_it_flaps(network):
    # Each up phase (90 s) ends before a whole clean interval after it has ended: the down at the same instant wins.
    # After the last linkUp (208.5) the interval 209-210 is clean: up at 210.
    assert [s[:3] for s in stays(network, "LNKA6")] == [
        ("up", at(0), at(180)), ("down", at(180), at(210)), ("up", at(210), None)]


def test_utilisation_skips_the_counter_reset_and_matches_the_raw_counters(network):
    rows = {(r["link_id"], r["minute"]): r for r in network["link_utilisation"]}
    raw = {}
    for link in ("LNKA7", "LNKA8"):
        samples = [r for r in counter_rows() if r["if_name"] == f"GE1/0/{link[-1]}"]
        for before, now in zip(samples, samples[1:]):
            d_in, d_out = now["in_octets"] - before["in_octets"], now["out_octets"] - before["out_octets"]
            key = (link, T0 + (now["sampled_at"] - utc(0)))
            raw[key] = None if d_in < 0 or d_out < 0 else max(d_in, d_out) * 8 / 60 / 1e6 / CAPACITY
    assert set(rows) == set(raw)
    for key, expected in raw.items():
        if expected is None:
            assert rows[key]["utilisation"] is None and rows[key]["in_mbps"] is None
        else:
            assert rows[key]["utilisation"] == pytest.approx(expected)
    assert rows[("LNKA7", at(RESET_AT))]["utilisation"] is None          # reset: unknown, not negative
    assert all(r["in_mbps"] is None or r["in_mbps"] >= 0 for r in network["link_utilisation"])


def test_saturation_needs_five_samples_at_90_percent_and_five_below_70_to_clear(network):
    # Six hot samples (200-205): saturated at the fifth (204), cleared at the fifth cool one (210).
    assert [s[:3] for s in stays(network, "LNKA7")] == [
        ("up", at(0), at(204)), ("saturated", at(204), at(210)), ("up", at(210), None)]
    assert stays(network, "LNKA7")[1][3] == "saturation"
    # The pings lost to congestion (201-208: hot samples close 201-204, saturated from 204) are the load's: no
    # degraded stay before the saturation or once it clears.
    assert [s[0] for s in stays(network, "LNKA8")] == ["up"]           # four hot samples: never saturated


def test_a_station_uplink_down_is_the_cause_of_its_twelve_cameras_outages_with_its_contractor(network):
    causes = {r["camera_id"]: r for r in network["camera_outage_cause"]}
    for camera in CAMERAS_S1:
        cause = causes[camera]
        assert (cause["cause_element_type"], cause["cause_element_id"], cause["contractor"]) == \
            ("link", "LNKS1", "联通政企运维部")
        # Silent from 60: offline 3 missed keepalives after the last one (59), back with the keepalive at 105.
        assert (cause["since"], cause["until"]) == (at(59 + 3), at(STATION_UPLINK_DOWN[1]))
        assert cause["reason_en"] == "network link down above the device: LNKS1"
    # The access link and node below the station are masked: no outage of their own.
    assert [s[0] for s in stays(network, "LNKA1")] == ["up"]
    assert not [r for r in network["node_state"] if r["state"] == "down" and r["node_id"] != ACCESS[8]]
    assert causes[FIBRE]["cause_element_id"] == "LNKA5" and causes[FIBRE]["contractor"] == "接入维护5组"


def test_a_node_silent_while_its_uplink_is_up_is_down_itself_and_the_cause_below_it(network):
    # Lost 220-224 with the uplink's last trap linkUp: down at the end of the third (223), up after 3 clean (228).
    node = [(r["state"], r["since"], r["until"], r["reason"]) for r in network["node_state"]
            if r["node_id"] == ACCESS[8]]
    assert node == [("up", at(0), at(223), "first_evidence"), ("down", at(223), at(228), "probe_loss_uplink_up"),
                    ("up", at(228), None, "probe_clean")]
    cause = next(r for r in network["camera_outage_cause"] if r["camera_id"] == NODE_CAM)
    # Offline 222-228 (silent from 220), the node down 223-228: 5 of 6 minutes, more than half.
    assert (cause["since"], cause["until"]) == (at(222), at(228))
    assert (cause["cause_element_type"], cause["cause_element_id"], cause["contractor"]) == \
        ("node", ACCESS[8], "接入维护8组")


def test_a_camera_down_on_its_own_is_its_own_fault_and_an_nvr_down_takes_its_channel(network):
    causes = {r["camera_id"]: r for r in network["camera_outage_cause"]}
    own = causes[OWN]
    assert (own["cause_element_type"], own["cause_element_id"], own["contractor"]) == ("camera", OWN, "海港视频运维")
    assert own["reason_zh"].startswith("设备自身故障")
    assert (causes[CHANNEL]["cause_element_type"], causes[CHANNEL]["cause_element_id"],
            causes[CHANNEL]["contractor"]) == ("nvr", NVR, "录像设备运维")
    assert (causes[NVR]["cause_element_type"], causes[NVR]["cause_element_id"]) == ("nvr", NVR)
    assert len(network["camera_outage_cause"]) == len(CAMERAS_S1) + 5      # every offline stay, once


def test_camera_health_events_of_an_offline_stay_name_its_cause_and_its_contractor(network):
    offline = {}
    for r in network["camera_health"]:
        if r["status"] == "offline" and r["_batch_id"].startswith("camera_state_change:"):
            offline.setdefault(r["camera_id"], []).append(
                (r["cause_element_type"], r["cause_element_id"], r["cause_contractor"], r["network_caused"]))
    for camera in CAMERAS_S1:
        assert offline[camera] == [("link", "LNKS1", "联通政企运维部", True)]
    assert offline[NODE_CAM] == [("node", ACCESS[8], "接入维护8组", True)]
    assert offline[OWN] == [("camera", OWN, "海港视频运维", False)]
    assert offline[CHANNEL] == [("nvr", NVR, "录像设备运维", False)]
    # Not offline: no cause, and never the network's.
    others = [r for r in network["camera_health"] if r["status"] != "offline"]
    assert others and all(r["cause_element_type"] is None and r["network_caused"] is False for r in others)


def test_network_outage_events_count_the_cameras_attributed_and_the_key_points(network):
    events = {r["element_id"]: r for r in network["network_outage"]}
    assert set(events) == {"LNKS1", "LNKA5", "LNKA3", "LNKA6", ACCESS[8]}
    uplink = events["LNKS1"]
    assert (uplink["cameras_affected"], uplink["key_point_cameras_affected"]) == (12, len(KEY_S1))
    assert (uplink["level"], uplink["operator"], uplink["contractor"]) == ("station", "china_unicom", "联通政企运维部")
    assert uplink["since"] == uplink["ts"] == utc(STATION_UPLINK_DOWN[0])
    assert uplink["outage_id"] == "LNKS1:2026-07-01T09:00:00"
    assert (events["LNKA5"]["cameras_affected"], events["LNKA5"]["key_point_cameras_affected"]) == (1, 0)
    # LNKA3's second down stay (113) starts 7 minutes after its first ended (106): the same outage, since 103.
    assert (events["LNKA3"]["since"], events["LNKA3"]["cameras_affected"]) == (utc(103), 0)
    node = events[ACCESS[8]]
    assert (node["element_type"], node["level"], node["contractor"], node["cameras_affected"]) == \
        ("node", "access", "接入维护8组", 1)
    assert network["events"].rows == {"network_outage": 5, "link_load": len(network["link_load"])}


def test_link_load_reads_the_five_minute_mean_on_links_carrying_key_point_video(network):
    loads = {(r["link_id"], r["ts"]): r for r in network["link_load"]}
    assert {link for link, _ in loads} == {"LNKA7"}                  # LNKA8 carries no key point; others no counters
    per_minute = {r["minute"]: r["utilisation"] for r in network["link_utilisation"] if r["link_id"] == "LNKA7"}
    for start in range(0, MINUTES, 5):
        values = [per_minute[at(m)] for m in range(start, start + 5) if per_minute.get(at(m)) is not None]
        key = ("LNKA7", utc(start + 5))
        if values:
            assert loads[key]["utilisation"] == pytest.approx(min(1.0, sum(values) / len(values)))
            assert loads[key]["key_point_cameras"] == 1
        else:
            assert key not in loads
    assert loads[("LNKA7", utc(205))]["utilisation"] == pytest.approx(0.95)


def test_a_rerun_over_the_same_silver_writes_no_new_snapshot(network, catalogue):
    catalog = open_catalog(network["settings"])
    before = {t: catalog.load_table(t).current_snapshot().snapshot_id for t in (*TABLES, CAUSE_TABLE)}
    refresh_network_state(network["settings"])
    refresh_camera_health(network["settings"], catalogue)
    assert {t: catalog.load_table(t).current_snapshot().snapshot_id for t in (*TABLES, CAUSE_TABLE)} == before


def test_a_site_without_network_registries_is_skipped_by_the_asset_with_a_log_line_and_empty_tables(settings):
    """Skipped, but the four tables (the step's three and the outage causes) exist empty (dbt's sources name them)
    and the step's are materialized as such, so the dbt models downstream of them still run on a site without a
    network."""
    report = refresh_network_state(settings)
    assert report.skipped == ("silver.network_node", "silver.network_link", "silver.network_attachment")
    assert report.rows == {}
    catalog = open_catalog(settings)
    for name in SCHEMAS:
        table = catalog.load_table(name)
        assert table.scan().to_arrow().num_rows == 0, name
        assert table.schema().as_arrow().names == SCHEMAS[name].names, name
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([network_state], instance=instance,
                                resources=platform_resources("local", str(settings.paths.home)))
        assert result.success
        materialized = {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()}
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert materialized == {name.replace(".", "/") for name in TABLES}
    assert any(m.startswith("network state skipped: this site has no network registries") for m in messages)


def test_the_empty_tables_of_a_site_without_a_network_have_the_derived_tables_columns_and_types(network, settings):
    refresh_network_state(settings)
    empty, derived = open_catalog(settings), open_catalog(network["settings"])
    for name in SCHEMAS:
        columns = [[(f.name, str(f.field_type)) for f in c.load_table(name).schema().fields] for c in (empty, derived)]
        assert columns[0] == columns[1], name
