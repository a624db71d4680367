"""The shipped policies on the simulated day, through the main job: what each policy acted on (ops.outbox) equals
what a reading of the day's raw exports in pandas says it must act on (precision and recall 100 %), and the day's
rare situations (the simulator's manifest) are among them; and what each policy acted on equals the manifest's
ground truth (`expected_actions`, which the simulator wrote down from what it generated), action for action. Three
readings that agree: the platform's outbox, the pandas reading of the raw exports, the simulator's own. Nothing here
reads the platform's event tables."""
import datetime as dt
import json
from collections import Counter

import pandas as pd
import pytest

from safecity.config.grid import cell_id
from safecity.lakehouse.warehouse import connect
from tests.orchestration.landing import manifest_and_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def day(main_day):
    settings, _ = main_day
    manifest, files = manifest_and_files(settings)
    quarantined = {f["key"] for f in manifest["faults"] if f.get("reason")}
    with connect(settings, read_only=True) as con:
        outbox = con.execute("SELECT policy_id, action, partition_key, params FROM ops.outbox").df()
        down = con.execute("SELECT grid_id, since FROM silver.camera_down").df()
    outbox["params"] = outbox["params"].map(json.loads)
    return settings, manifest, files, quarantined, outbox, down


def acted_on(outbox: pd.DataFrame, policy: str, action: str) -> set[str]:
    rows = outbox[(outbox.policy_id == policy) & (outbox.action == action)]
    return set(rows.partition_key)


def truth(manifest: dict, policy: str, action: str, param: str | None = None):
    """The manifest's expected subjects of one policy's action: the keys, or {key: that parameter}."""
    actions = [a for a in manifest["expected_actions"][policy]["actions"] if a["action"] == action]
    if param is None:
        return {a["key"] for a in actions}
    return {a["key"]: a["params"][param] for a in actions}


def expected_shape(action: dict) -> tuple:
    return action["action"], action["key"], tuple(sorted(action["params"].items()))


def fired_shape(row, params: tuple[str, ...]) -> tuple:
    """An outbox row in the shape of the manifest's actions of its kind: action, partition key, the same parameters.
    (Not the time: the batch mode's fired_at is the wall clock; the pandas tests check the manifest's times.)"""
    return row.action, row.partition_key, tuple(sorted((k, row.params.get(k)) for k in params))


def local(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def calls(files, quarantined) -> pd.DataFrame:
    frame = pd.read_csv(files["calls_csv"], encoding="gb18030", dtype=str)
    return frame[~frame.jjdbh.isin(quarantined)]


def incidents(files, quarantined) -> pd.DataFrame:
    frame = pd.read_json(files["incidents_jsonl"], lines=True, dtype={"sjbh": str, "xzqh": str})
    return frame[~frame.sjbh.isin(quarantined)]


def test_every_call_received_gets_the_unit_its_category_and_priority_call_for(day):
    _, manifest, files, quarantined, outbox, _ = day
    frame = calls(files, quarantined)

    def unit(category: str, priority: str) -> str:  # the decision table alarm_dispatch.csv, read as a person would
        if category == "010000":
            return "special_police" if priority in ("1", "2") else "patrol_police"
        if category == "040000":
            return "fire_rescue"
        if category == "030000":
            return "traffic_police"
        return "patrol_police"

    expected = {row.jjdbh: unit(row.jqlbdm, row.jqjbdm) for row in frame.itertuples()}
    orders = outbox[outbox.policy_id == "command.alarm_dispatch"]
    assert set(orders.action) == {"dispatch_order"}
    assert dict(zip(orders.partition_key, orders.params.map(lambda p: p["unit_type"]))) == expected
    assert truth(manifest, "command.alarm_dispatch", "dispatch_order", "unit_type") == expected
    assert len(orders) == len(expected) > 100
    assert {"special_police", "fire_rescue"} <= set(expected.values())  # a level-1 criminal call and a fire


def test_incidents_with_casualties_escalate_to_the_level_their_deaths_set(day):
    _, manifest, files, quarantined, outbox, _ = day
    frame = incidents(files, quarantined)
    hurt = frame[frame.shrs >= 1]
    level_iii = frame[frame.swrs >= 3]
    plans = outbox[outbox.policy_id == "emergency.incident_escalation"]
    by_level = {level: set(plans[(plans.action == "activate_emergency_plan")
                                 & (plans.params.map(lambda p: p.get("level")) == level)].partition_key)
                for level in ("IV", "III", "II", "I")}
    assert by_level == {"IV": set(hurt.sjbh), "III": set(level_iii.sjbh), "II": set(), "I": set()}
    levels = [(a["key"], a["params"]["level"]) for a in manifest["expected_actions"]["emergency.incident_escalation"][
        "actions"] if a["action"] == "activate_emergency_plan"]
    assert {level: {k for k, v in levels if v == level} for level in by_level} == by_level
    assert acted_on(outbox, "emergency.incident_escalation", "notify_leadership") == set(level_iii.sjbh)
    [accident] = [s for s in manifest["situations"] if s["kind"] == "level_iii_accident"]
    assert by_level["III"] == {accident["key"]}


def test_blind_spots_are_the_incidents_in_a_cell_whose_camera_was_down(day):
    settings, manifest, files, quarantined, outbox, down = day
    city = settings.city
    call_rows = calls(files, quarantined)
    reported = [(cell_id(city, float(r.xzb), float(r.yzb)), local(r.bjsj))
                for r in call_rows.itertuples() if r.jqlbdm in ("010000", "020000", "030000")]
    reported += [(cell_id(city, r.jd, r.wd), local(r.bjsj)) for r in incidents(files, quarantined).itertuples()]
    since = {}
    for row in down.itertuples():
        since[row.grid_id] = min(since.get(row.grid_id, row.since), row.since)
    expected = {cell for cell, at in reported if cell in since and at >= since[cell]}
    assert expected
    assert acted_on(outbox, "command.blind_spot_incident", "dispatch_order") == expected
    assert acted_on(outbox, "command.blind_spot_incident", "raise_alert") == expected
    assert truth(manifest, "command.blind_spot_incident", "dispatch_order") == expected


def test_duty_gaps_warn_and_empty_shifts_reach_the_duty_leader(day):
    _, manifest, files, _, outbox, _ = day
    roster = pd.read_csv(files["duty_roster_csv"], dtype={"unit_code": str})
    empty = roster[roster.officers_on_duty == 0]
    short = roster[(roster.officers_on_duty > 0) & (roster.officers_on_duty < roster.officers_required)]
    assert acted_on(outbox, "security.duty_coverage", "notify_leadership") == set(empty.unit_code)
    assert acted_on(outbox, "security.duty_coverage", "raise_alert") == set(short.unit_code)
    expected = manifest["expected_actions"]["security.duty_coverage"]["actions"]

    def shifts(frame: pd.DataFrame) -> set:
        return {(r.unit_code, dt.datetime.fromisoformat(r.shift_start)) for r in frame.itertuples()}
    assert {(a["action"], a["key"], dt.datetime.fromisoformat(a["at"])) for a in expected} == {
        ("notify_leadership", *s) for s in shifts(empty)} | {("raise_alert", *s) for s in shifts(short)}
    assert len(short) > 0


def test_late_repairs_of_key_and_important_cameras_are_reported_and_audited(day):
    _, manifest, files, _, outbox, _ = day
    orders = pd.read_csv(files["work_orders_csv"], dtype=str)
    clock = dt.datetime.fromisoformat(manifest["clock"])
    finished = orders.closed_at.map(lambda t: dt.datetime.fromisoformat(t) if isinstance(t, str) else clock)
    late = orders[(finished > orders.due_at.map(dt.datetime.fromisoformat))
                  & orders.point_level.isin(["key", "important"])]
    assert acted_on(outbox, "security.repair_overdue", "notify_leadership") == set(late.work_order_id)
    assert acted_on(outbox, "security.repair_overdue", "audit_flag") == set(late.work_order_id)
    assert truth(manifest, "security.repair_overdue", "notify_leadership") == set(late.work_order_id)
    [situation] = [s for s in manifest["situations"] if s["kind"] == "overdue_key_repair"]
    assert situation["key"] in set(late.work_order_id)


def test_districts_near_and_over_their_budget_are_reported_and_audited(day):
    _, manifest, files, _, outbox, _ = day
    orders = pd.read_csv(files["work_orders_csv"], dtype={"division_code": str, "work_order_id": str})
    budgets = pd.read_csv(files["budgets_csv"], dtype={"division_code": str})
    paid = orders.dropna(subset=["cost"]).assign(closed=lambda f: f.closed_at.map(dt.datetime.fromisoformat))
    paid = paid.sort_values(["closed", "work_order_id"])
    paid["spent"] = paid.groupby("division_code").cost.cumsum()
    paid = paid.merge(budgets, on="division_code")
    ratio = (paid.spent / paid.budget_amount).round(4)
    assert acted_on(outbox, "security.maintenance_budget", "audit_flag") == set(paid[ratio >= 1].division_code)
    assert acted_on(outbox, "security.maintenance_budget", "notify_leadership") == set(
        paid[(ratio >= 0.9) & (ratio < 1)].division_code)
    flagged = manifest["expected_actions"]["security.maintenance_budget"]["actions"]
    assert Counter((a["action"], a["key"]) for a in flagged) == Counter(
        [("audit_flag", d) for d in paid[ratio >= 1].division_code]
        + [("notify_leadership", d) for d in paid[(ratio >= 0.9) & (ratio < 1)].division_code])
    [over] = {s["division_code"] for s in manifest["situations"] if s["kind"] == "over_budget_district"}
    assert over in set(paid[ratio >= 1].division_code) & set(paid[(ratio >= 0.9) & (ratio < 1)].division_code)


def test_bulk_reads_of_sensitive_data_flag_and_restrict_the_account(day):
    _, manifest, files, _, outbox, _ = day
    log = pd.read_json(files["access_log_jsonl"], lines=True, dtype={"user_id": str}, convert_dates=False)
    bulk = log[(log.sensitive_columns >= 1) & (log.rows >= 1000)].copy()
    bulk["moment"] = bulk.accessed_at.map(dt.datetime.fromisoformat)
    flagged = set()
    for user, reads in bulk.sort_values("moment").groupby("user_id"):
        times = list(reads.moment)
        if any(times[i + 2] - times[i] <= dt.timedelta(hours=1) for i in range(len(times) - 2)):
            flagged.add(user)
    assert acted_on(outbox, "security.sensitive_data_access", "audit_flag") == flagged
    assert acted_on(outbox, "security.sensitive_data_access", "restrict_data_access") == flagged
    assert truth(manifest, "security.sensitive_data_access", "audit_flag") == flagged
    assert flagged == {s["key"] for s in manifest["situations"] if s["kind"] == "bulk_sensitive_access"}


def test_key_point_cameras_alert_when_they_go_offline_and_long_outages_get_repair_orders(day):
    """From the raw status feed and catalog: an alert per Status OFF of a key-point device (the site's
    point_levels.yaml applied to the catalog's use and position types), and a repair order for every device whose
    last status message is OFF, sent at least its level's minutes before the feed's last message."""
    from safecity.config.point_levels import load_point_levels

    settings, manifest, files, _, outbox, _ = day
    levels = load_point_levels(settings.city.id)
    catalog = json.loads(files["catalog_json"].read_text(encoding="utf-8"))["DeviceList"]

    def level(info: dict) -> str:
        for name in ("key", "important"):
            rule = getattr(levels, name)
            if info["UseType"] in rule.use_type or info["PositionType"] in rule.position_type:
                return name
        return "normal"

    point = {d["DeviceID"]: level(d["Info"]) for d in catalog}
    feed = pd.read_json(files["heartbeats_jsonl"], lines=True, dtype={"DeviceID": str}, convert_dates=False)
    feed["at"] = feed.Time.map(lambda t: dt.datetime.fromisoformat(t).replace(tzinfo=CST))
    status = feed[feed.CmdType == "Status"].sort_values("at")
    went_off = status[(status.Status == "OFF") & (status.DeviceID.map(point) == "key")]
    alerts = outbox[outbox.policy_id == "camera.key_point_offline"]
    assert set(alerts.action) == {"raise_alert"}
    assert sorted(alerts.partition_key) == sorted(went_off.DeviceID) != []
    assert sorted(a["key"] for a in manifest["expected_actions"]["camera.key_point_offline"]["actions"]) == sorted(
        went_off.DeviceID)

    end, minutes = feed["at"].max(), {"key": 30, "important": 120, "normal": 1440}
    last = status.groupby("DeviceID").last()
    still_off = last[(last.Status == "OFF")
                     & (end - last["at"] >= last.index.map(lambda d: dt.timedelta(minutes=minutes[point[d]])))]
    orders = outbox[outbox.policy_id == "security.camera_repair_deadline"]
    assert set(orders.partition_key) == set(still_off.index) != set()
    assert {a["key"] for a in manifest["expected_actions"]["security.camera_repair_deadline"]["actions"]} == set(
        still_off.index)


def test_every_policy_acts_exactly_on_the_manifests_ground_truth(day):
    """Precision and recall 100 % per policy: the outbox's actions, in the shape of the manifest's (the action, the
    partition key, the parameters the manifest names), equal the manifest's expected actions as a multiset (a unit
    short on two shifts, a camera offline twice: two actions); and every shipped policy has some."""
    from safecity.rules.loader import POLICIES_DIR, load_policy

    _, manifest, _, _, outbox, _ = day
    shipped = {load_policy(path).policy.id for path in POLICIES_DIR.rglob("*.yaml")}
    expected_all = manifest["expected_actions"]
    assert set(expected_all) == shipped
    counts = {}
    for policy in sorted(shipped):
        entry = expected_all[policy]
        assert entry["predictable"], f"{policy}: {entry.get('why')}"
        expected = Counter(expected_shape(a) for a in entry["actions"])
        params = {a["action"]: tuple(sorted(a["params"])) for a in entry["actions"]}
        rows = outbox[outbox.policy_id == policy]
        fired = Counter(fired_shape(r, params.get(r.action, ())) for r in rows.itertuples())
        assert fired == expected, (f"{policy}: fired but not expected {fired - expected}; "
                                   f"expected but not fired {expected - fired}")
        counts[policy] = len(rows)
    print("actions per policy:", counts)
    assert all(n > 0 for n in counts.values()), counts


def test_every_shipped_policy_acts_on_the_day(day):
    from safecity.rules.loader import POLICIES_DIR, load_policy

    _, _, _, _, outbox, _ = day
    shipped = {load_policy(path).policy.id for path in POLICIES_DIR.rglob("*.yaml")}
    assert set(outbox.policy_id) == shipped and len(shipped) >= 10
