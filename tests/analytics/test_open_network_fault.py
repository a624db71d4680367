"""Issue 21's promise on a morning whose network fault is still open when the run ends (the simulated day's faults
all end within the day): the station uplink LNKS1 goes down at 09:00 and stays down, its three key-point cameras
go silent with it; a key-point camera elsewhere goes silent on its own at 09:40. Silver is written here, the
platform's steps run in their order (network state, camera health, the network events) and the shipped policies
read what they left: the cameras below the link have camera_health events whose cause is the link, and no camera
repair order (the network policy sends the link's contractor a network order); the camera down on its own gets its
repair order, addressed to its maintainer.

Topology: core C → station S1 (LNKS1) → access A1 (LNKA1) with the key cameras; C → S2 (LNKS2) → A2 (LNKA2) with
OWN and ALIVE. Times are local (Asia/Shanghai); the morning is 08:00-12:00."""
import datetime as dt

import pytest

from safecity.analytics.camera_health import refresh_camera_health
from safecity.analytics.network_health import refresh_network_state
from safecity.analytics.policy_events import PRODUCERS, refresh_policy_events
from safecity.lakehouse.catalog import open_catalog, replace_rows
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.rules.engine import EVENT_TIME
from safecity.rules.events import fact_types, silver_events
from safecity.rules.loader import load_policies
from safecity.rules.worker import evaluate_supervised
from tests.network_silver import silver_table

TZ = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 7, 1, 8, 0, tzinfo=TZ)
MINUTES, LINK_DOWN, OWN_DOWN = 240, 60, 100        # the link down from 09:00, OWN silent from 09:40, to the end
DIV = "130302"
CORE, S1, S2, A1, A2 = (f"NET{DIV}{n}" for n in ("C0001", "S0001", "S0002", "A0001", "A0002"))
KEY = [f"{DIV}0100132{n:07d}" for n in range(1, 4)]                 # use_type 3: key points, below LNKS1
OWN = f"{DIV}0200132{1:07d}"                                        # key point below LNKS2, down on its own
ALIVE = f"{DIV}0200132{2:07d}"                  # below LNKS2, heard all morning: the status feed runs to the end
LINKS = [("LNKS1", CORE, "GE1/0/1", S1, "station", "china_unicom", "联通政企运维部"),
         ("LNKS2", CORE, "GE1/0/2", S2, "station", "china_unicom", "联通政企运维部"),
         ("LNKA1", S1, "GE1/0/1", A1, "access", "self_built", "接入维护1组"),
         ("LNKA2", S2, "GE1/0/1", A2, "access", "self_built", "接入维护2组")]
REPAIR, NETWORK = "security.camera_repair_deadline", "network.uplink_down_key_points"


def at(minute: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


def write_silver(settings) -> None:
    below_s1 = (S1, A1)
    silent = {**{c: LINK_DOWN for c in KEY}, OWN: OWN_DOWN, ALIVE: MINUTES}
    rows = {
        "network_node": [{"node_id": n, "node_name": n, "node_type": "switch", "level": lv, "division_code": DIV,
                          "network": "video_private"}
                         for n, lv in ((CORE, "city"), (S1, "station"), (S2, "station"), (A1, "access"),
                                       (A2, "access"))],
        "network_link": [{"link_id": l, "upstream_node_id": u, "upstream_if": i, "downstream_node_id": d,
                          "level": lv, "capacity_mbps": 1000.0, "medium": "fibre", "operator": o,
                          "contractor": c, "division_code": DIV} for l, u, i, d, lv, o, c in LINKS],
        "network_attachment": [{"device_id": d, "node_id": A1, "port": "1"} for d in KEY] +
                              [{"device_id": d, "node_id": A2, "port": "1"} for d in (OWN, ALIVE)],
        # linkDown on the station uplink and never a linkUp: the outage is open at the end of the run.
        "interface_status": [{"node_id": CORE, "if_name": "GE1/0/1", "status": "down",
                              "changed_at": at(LINK_DOWN)}],
        "interface_counter": [],
        "link_probe": [{"target_node_id": n, "interval_start": at(m), "sent": 5,
                        "received": 0 if n in below_s1 and m >= LINK_DOWN else 5,
                        "rtt_avg_ms": 2.0, "rtt_max_ms": 4.0}
                       for n in (S1, S2, A1, A2) for m in range(MINUTES)],
        "camera": [{"device_id": d, "parent_id": None, "status": "ON", "longitude": 119.6, "latitude": 39.93,
                    "use_type": "3", "position_type": None} for d in (*KEY, OWN, ALIVE)],
        "device_status": [{"cmd_type": "Keepalive", "device_id": d, "status": "OK", "reported_at": at(m)}
                          for d in (*KEY, OWN, ALIVE) for m in range(MINUTES) if m < silent[d]],
        "maintenance_work_order": [{"device_id": OWN, "opened_at": at(-1000), "contractor": "海港视频运维"}],
    }
    catalog = open_catalog(settings)
    for name, table_rows in rows.items():
        replace_rows(catalog, f"silver.{name}", silver_table(name, table_rows, at(-60)))


@pytest.fixture(scope="module")
def morning(tmp_path_factory, catalogue):
    from safecity.config.profiles import load_settings
    settings = load_settings("local", tmp_path_factory.mktemp("open_fault") / "home")
    write_silver(settings)
    refresh_network_state(settings)
    refresh_camera_health(settings, catalogue)
    refresh_policy_events(settings, as_of=at(MINUTES),
                          producers=tuple(p for p in PRODUCERS if p.name == "network_outage"))
    con = connect(settings, ":memory:")
    publish_views(con, open_catalog(settings), ("silver",))
    policies = load_policies()
    events = silver_events(con, catalogue, facts=fact_types(policies))
    result, set_aside = evaluate_supervised(policies, events, clock=EVENT_TIME)
    assert set_aside == [] and result.errors == [] and result.rejected == []
    link_state = con.execute("SELECT state, until FROM silver.link_state WHERE link_id = 'LNKS1' "
                             "ORDER BY since").fetchall()
    health = con.execute("SELECT camera_id, cause_element_type, cause_element_id, cause_contractor, network_caused "
                         "FROM silver.camera_health WHERE status = 'offline'").fetchall()
    con.close()
    return {"link_state": link_state, "health": health, "outbox": result.outbox}


def test_the_link_is_still_down_at_the_end_of_the_run(morning):
    assert morning["link_state"][-1] == ("down", None)


def test_the_cameras_below_the_open_link_have_health_events_naming_the_link(morning):
    causes = {}
    for camera, *cause in morning["health"]:
        causes.setdefault(camera, set()).add(tuple(cause))
    for camera in KEY:
        assert causes[camera] == {("link", "LNKS1", "联通政企运维部", True)}
    assert causes[OWN] == {("camera", OWN, "海港视频运维", False)}


def test_only_the_camera_down_on_its_own_gets_a_camera_repair_order(morning):
    repairs = [r.params for r in morning["outbox"] if r.policy_id == REPAIR]
    # OWN offline from 09:42 (three keepalives missed after 09:39) to the feed's last message at 11:59.
    assert repairs == [{"category": "camera_repair", "device_id": OWN, "assignee": "海港视频运维", "sla_hours": 4,
                        "description": f"重点点位摄像机 {OWN} 离线 137 分钟，4 小时内修复"}]
    # The link's outage is the network policy's: one network order to the link's contractor.
    network = [r.params for r in morning["outbox"] if r.policy_id == NETWORK and r.action == "create_work_order"]
    assert [(p["device_id"], p["assignee"]) for p in network] == [("LNKS1", "联通政企运维部")]
