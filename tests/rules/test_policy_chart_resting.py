"""Open statecharts rest outside durable (their state's name, not a ~750 KB partition) and resume in that state:
levels only go up, a same-level assessment does not start the plan again, a hot reload keeps the level."""
import datetime as dt

from safecity.rules.engine import EVENT_TIME, PolicyEngine
from safecity.rules.loader import POLICIES_DIR, load_policy

CST = dt.timezone(dt.timedelta(hours=8))
CHART = POLICIES_DIR / "emergency" / "incident_escalation.yaml"
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)


def reported(n, incident, casualties):
    return {"type": "incident_reported", "id": f"e{n}", "incident_id": incident, "grid_id": "G1",
            "category": "010000", "casualties": casualties, "ts": (T0 + dt.timedelta(minutes=n)).isoformat()}


def assessed(n, incident, deaths):
    return {"type": "incident_assessed", "id": f"e{n}", "incident_id": incident, "casualties": deaths + 1,
            "deaths": deaths, "serious_injuries": 0, "ts": (T0 + dt.timedelta(minutes=n)).isoformat()}


def closed(n, incident):
    return {"type": "incident_closed", "id": f"e{n}", "incident_id": incident,
            "ts": (T0 + dt.timedelta(minutes=n)).isoformat()}


def levels(result):
    return [(r.params["incident_id"], r.params["level"]) for r in result.outbox
            if r.action == "activate_emergency_plan"]


def test_charts_rest_between_events_and_resume_where_they_were():
    chart = load_policy(CHART)
    with PolicyEngine([chart], clock=EVENT_TIME) as engine:
        engine.post_many([reported(0, "E1", 2), reported(1, "E2", 1), assessed(2, "E1", 4)])
        slot = engine._slots[chart.id]
        assert {sid: state for sid, (state, _) in slot.resting.items()} == {"E1": "level_III", "E2": "level_IV"}
        assert slot.last_seen == {}  # no durable partition is held between events
        assert engine.live_partitions() == {chart.id: 2}
        engine.post_many([assessed(3, "E1", 5),  # still level III: no plan again
                          assessed(4, "E2", 0),  # still level IV
                          assessed(5, "E1", 12),  # III -> II
                          closed(6, "E2"),
                          assessed(7, "E2", 40),  # closed: nothing
                          assessed(8, "E1", 11)])  # still level II
        result = engine.result()
        assert {sid: state for sid, (state, _) in slot.resting.items()} == {"E1": "level_II"}
        assert set(slot.finished) == {"E2"}
    assert levels(result) == [("E1", "IV"), ("E2", "IV"), ("E1", "III"), ("E1", "II")]
    assert result.errors == [] and result.rejected == []


def test_a_new_chart_version_takes_over_resting_charts(tmp_path):
    chart = load_policy(CHART)
    changed = tmp_path / "incident_escalation.yaml"
    changed.write_text(CHART.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    with PolicyEngine([chart], clock=EVENT_TIME) as engine:
        engine.post_many([reported(0, "E1", 2), assessed(1, "E1", 4)])
        engine.replace(load_policy(changed))
        engine.post_many([assessed(2, "E1", 5), assessed(3, "E1", 31)])
        result = engine.result()
    assert levels(result) == [("E1", "IV"), ("E1", "III"), ("E1", "I")]
    assert [r.policy_version for r in result.outbox if r.action == "activate_emergency_plan"] == [1, 1, 2]


def test_idle_resting_charts_are_evicted_on_the_event_time_clock():
    chart = load_policy(CHART)
    with PolicyEngine([chart], clock=EVENT_TIME) as engine:
        engine.post_many([reported(0, "E1", 2), reported(1, "E2", 2)])
        later = T0 + dt.timedelta(days=7, minutes=30)
        engine.post({**reported(2, "E3", 2), "ts": later.isoformat()})
        engine.sweep()
        slot = engine._slots[chart.id]
        assert set(slot.resting) == {"E3"} and engine.result().evicted[chart.id] == 2
