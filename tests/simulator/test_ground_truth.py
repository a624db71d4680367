"""The manifest's ground truth of the shipped policies (simulator/ground_truth.py), without the platform: every
shipped policy has expected actions on the simulated day, the faulty records the simulator injects have none, the
rare situations it plants are among them, and the window rules count as the policy files say."""
import csv
import datetime as dt
import json

import pytest

from safecity.simulator.ground_truth import junction_congestion, sensitive_data_access
from safecity.simulator.run import simulate

DAY = dt.date(2026, 7, 15)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    out = tmp_path_factory.mktemp("truth")
    simulate("qinhuangdao", DAY, 1, "small", 1, out)
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_every_shipped_policy_has_expected_actions(manifest):
    from safecity.rules.loader import POLICIES_DIR, load_policy

    _, document = manifest
    shipped = {load_policy(path).policy.id for path in POLICIES_DIR.rglob("*.yaml")}
    truth = document["expected_actions"]
    assert set(truth) == shipped and len(shipped) >= 10
    counts = {policy: len(entry["actions"]) for policy, entry in truth.items() if entry["predictable"]}
    print("expected actions per policy:", counts)
    assert set(counts) == shipped and all(n > 0 for n in counts.values()), counts


def test_faulty_calls_are_not_dispatched_and_every_other_call_is(manifest):
    out, document = manifest
    [name] = [n for n, f in document["files"].items() if f["kind"] == "calls_csv"]
    with open(out / name, encoding="gb18030", newline="") as handle:
        calls = [row["jjdbh"] for row in csv.DictReader(handle)]
    rejected = {f["key"] for f in document["faults"] if f["file"] == name and f["reason"]}
    assert rejected and rejected < set(calls)
    dispatched = [a["key"] for a in document["expected_actions"]["command.alarm_dispatch"]["actions"]]
    assert sorted(dispatched) == sorted(set(calls) - rejected)


def test_the_planted_situations_are_in_the_truth(manifest):
    _, document = manifest
    truth = document["expected_actions"]

    def keys(policy: str, action: str, **params) -> set[str]:
        return {a["key"] for a in truth[policy]["actions"]
                if a["action"] == action and all(a["params"].get(k) == v for k, v in params.items())}

    planted = {s["kind"]: s for s in document["situations"]}
    assert keys("emergency.incident_escalation", "activate_emergency_plan", level="III") == {
        planted["level_iii_accident"]["key"]}
    assert planted["over_budget_district"]["division_code"] in keys("security.maintenance_budget", "audit_flag")
    assert planted["overdue_key_repair"]["key"] in keys("security.repair_overdue", "audit_flag")
    assert keys("security.sensitive_data_access", "restrict_data_access") == {planted["bulk_sensitive_access"]["key"]}
    assert keys("command.junction_congestion", "adjust_signal_plan") == {planted["severe_congestion"]["junction_id"]}
    assert {"special_police", "fire_rescue"} <= {a["params"]["unit_type"] for a in truth[
        "command.alarm_dispatch"]["actions"]}  # a level-1 or -2 criminal call and a fire


def test_bulk_reads_count_three_within_an_hour_then_start_again():
    t0 = dt.datetime(2026, 7, 15, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    def read(user, minutes, rows=5000, sensitive=2):
        return {"user_id": user, "table_name": "fct_alarm_calls", "sensitive_columns": sensitive, "rows": rows,
                "accessed_at": (t0 + dt.timedelta(minutes=minutes)).isoformat()}

    actions = sensitive_data_access(
        [read("a", m) for m in (0, 20, 50, 55, 60, 70)]  # two runs of three within an hour
        + [read("b", m) for m in (0, 40, 80)]  # spread over 80 minutes
        + [read("c", 0), read("c", 10, rows=999), read("c", 20), read("c", 30, sensitive=0)])  # small or plain
    fired = [(a["key"], a["at"]) for a in actions if a["action"] == "audit_flag"]
    assert fired == [("a", (t0 + dt.timedelta(minutes=m)).isoformat()) for m in (50, 70)]


def test_a_jam_fires_once_per_three_severe_readings():
    start = dt.datetime(2026, 7, 15, 17, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    def jam(minutes):
        return {"kind": "severe_congestion", "junction_id": "J1", "from": start.isoformat(),
                "to": (start + dt.timedelta(minutes=minutes)).isoformat()}

    for minutes, runs in ((20, 1), (25, 1), (30, 2)):
        actions = junction_congestion([jam(minutes)])
        assert [a["at"] for a in actions if a["action"] == "dispatch_order"] == [
            (start + dt.timedelta(minutes=10 + 15 * n)).isoformat() for n in range(runs)]


def test_an_outage_under_a_network_fault_still_open_gets_no_camera_repair_order(catalogue):
    """The simulated day's planted faults all end within the day; here one is still open at the end of the feed.
    Its key-point camera is offline because of the link: neither the ground truth nor the shipped repair-deadline
    policy sends a camera repair order. A camera down on its own beside it, and one only briefly under a fault
    (less than half of its outage), each still get one."""
    from types import SimpleNamespace

    from safecity.rules.engine import EVENT_TIME, evaluate
    from safecity.rules.loader import POLICIES_DIR, load_policy
    from safecity.simulator.cameras import Camera
    from safecity.simulator.ground_truth import camera_repair_deadline

    start, now = dt.datetime(2026, 7, 15, 8, 0), dt.datetime(2026, 7, 15, 12, 0)
    ids = {"link": "13030200001320000101", "own": "13030200001320000102", "brief": "13030200001320000103"}
    cameras = [Camera(device_id, "", "130302", 119.6, 39.93, "132", "3", "1", "1", "", "", "",
                      outages=[(start, now + dt.timedelta(hours=6))]) for device_id in ids.values()]

    def fault(device: str, until: dt.datetime) -> dict:
        return {"cameras_affected": [device], "nvrs_affected": [],
                "spans": [{"from": f"{start.isoformat()}+08:00", "to": f"{until.isoformat()}+08:00"}]}
    faults = [fault(ids["link"], now + dt.timedelta(hours=6)),             # open at `now`: the whole outage
              fault(ids["brief"], start + dt.timedelta(minutes=30))]       # 30 of its 240 minutes
    world = SimpleNamespace(city=SimpleNamespace(id="qinhuangdao"))
    truth = camera_repair_deadline(world, cameras, now, faults)
    assert sorted(a["key"] for a in truth) == sorted([ids["own"], ids["brief"]])
    assert len(camera_repair_deadline(world, cameras, now)) == 3          # without the faults, all three

    # The platform's events for the same three outages (analytics/camera_events: the cause from the root-cause rule).
    causes = {ids["link"]: ("link", "LNKS1", True), ids["own"]: ("camera", ids["own"], False),
              ids["brief"]: ("camera", ids["brief"], False)}
    events = [{"type": "camera_health", "id": f"camera_state:{device}", "camera_id": device, "status": "offline",
               "offline_minutes": 240, "point_level": "key", "cause_element_type": kind, "cause_element_id": element,
               "network_caused": network, "ts": f"{now.isoformat()}+08:00"}
              for device, (kind, element, network) in causes.items()]
    repair = load_policy(POLICIES_DIR / "security" / "camera_repair_deadline.yaml")
    result = evaluate([repair], events, clock=EVENT_TIME, catalogue=catalogue)
    assert result.errors == []
    assert sorted(r.params["device_id"] for r in result.outbox) == sorted(a["key"] for a in truth)
