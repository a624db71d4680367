"""The engine's shortcuts (issue 22) keep what they skip: a swallowed exception is still reported though the state is
no longer read after every post, and the same events give the same results as before the shortcuts."""
import datetime as dt
from pathlib import Path

import pytest
from rules_testkit import T0, camera, fixed_clock

from safecity.rules.engine import EVENT_TIME, PolicyEngine
from safecity.rules.loader import load_policy

POLICIES = Path(__file__).resolve().parents[2] / "rules" / "policies"
CST = dt.timezone(dt.timedelta(hours=8))


class RaisingEngine(PolicyEngine):
    """Raises inside durable's action (where durable swallows it into the partition's state) for the events named,
    or, with `in_context`, leaves an exception in the action's context as a chart's transition step does when the
    step itself fails."""

    def __init__(self, *args, raise_for=(), in_context=False, **kwargs):
        self.raise_for, self.in_context = set(raise_for), in_context
        super().__init__(*args, **kwargs)

    def _record(self, policy_id, rule_index, c):
        super()._record(policy_id, rule_index, c)
        ids = {m.get("id") for m in dict(getattr(c, "_m", {})).values() if isinstance(m, dict)}
        if ids & self.raise_for:
            if self.in_context:
                c.s.exception = "exception caught transition failed, traceback []"
            else:
                raise RuntimeError("boom inside durable")


def run(engine_class, policies, events, **kwargs):
    with engine_class(policies, **kwargs) as engine:
        engine.post_many(events)
        return engine.result()


def test_exception_swallowed_by_durable_in_a_stateless_policy_is_reported(shipped):
    events = [camera("e1", "13030200001320000001"), camera("e2", "13030200001320000001")]
    result = run(RaisingEngine, [shipped], events, clock=fixed_clock(T0), raise_for={"e1"})
    assert [(e.code, e.partition_key, e.event_ids) for e in result.errors] == [
        ("E_ACTION_EXCEPTION", "13030200001320000001", ["e1"])]
    assert "boom inside durable" in result.errors[0].message
    assert len(result.outbox) == 2  # the firing was recorded before the raise; e2 fires as usual


def assessed(event_id, incident, deaths, minute):
    return {"type": "incident_assessed", "id": event_id, "incident_id": incident, "casualties": deaths,
            "deaths": deaths, "serious_injuries": 0,
            "ts": (T0.astimezone(CST) + dt.timedelta(minutes=minute)).isoformat()}


@pytest.mark.parametrize("in_context", [False, True])
def test_exception_in_a_chart_transition_is_reported_once(in_context):
    chart = load_policy(POLICIES / "emergency" / "incident_escalation.yaml")
    events = [assessed("a1", "E1", 1, 0), assessed("a2", "E1", 4, 10), assessed("a3", "E2", 1, 20)]
    result = run(RaisingEngine, [chart], events, clock=EVENT_TIME, raise_for={"a2"}, in_context=in_context)
    assert [(e.code, e.partition_key, e.event_ids) for e in result.errors] == [("E_ACTION_EXCEPTION", "E1", ["a2"])]
    clean = run(PolicyEngine, [chart], events, clock=EVENT_TIME)
    assert clean.errors == [] and len(clean.outbox) == len(result.outbox)


def test_exception_in_a_window_is_reported_and_cleared():
    window = load_policy(POLICIES / "command" / "junction_congestion.yaml")
    readings = [{"type": "congestion_reading", "id": f"r{i}", "junction_id": "J1", "congestion_index": 9.0,
                 "ts": (T0.astimezone(CST) + dt.timedelta(minutes=i)).isoformat()} for i in range(9)]
    clean = run(PolicyEngine, [window], readings, clock=EVENT_TIME)
    assert clean.outbox and clean.errors == []
    fired = clean.outbox[0].matched_event_ids
    result = run(RaisingEngine, [window], readings, clock=EVENT_TIME, raise_for={fired[-1]})
    assert [(e.code, e.event_ids) for e in result.errors] == [("E_ACTION_EXCEPTION", [fired[-1]])]
    # Once reported the exception is cleared: no later post reports it again.
    assert len(result.errors) == 1 and len(result.outbox) == len(clean.outbox)


def reading(event_id, junction, minute):
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": 9.0,
            "ts": (T0.astimezone(CST) + dt.timedelta(minutes=minute)).isoformat()}


def test_compaction_skips_only_partitions_whose_events_are_all_inside_the_window():
    window = load_policy(POLICIES / "command" / "junction_congestion.yaml")
    pending = {}
    with PolicyEngine([window], clock=EVENT_TIME, sweep_every=10_000) as engine:
        for event in (reading("a0", "J0", 0), reading("a1", "J0", 25), reading("a2", "J0", 28),
                      reading("b0", "J1", 27), reading("now", "J9", 36)):
            engine.post(event)
        engine.sweep()  # window floor at minute 21: J0's a0 goes, J1 and J9 hold nothing stale
        pending["first"] = {j: sorted(e["id"] for e in engine.pending_events(window.id, j)) for j in ("J0", "J1")}
        engine.post(reading("later", "J9", 41))
        engine.sweep()  # floor at minute 26: the re-posted a1 (25) is stale now, a2 (28) and b0 (27) are not
        pending["second"] = {j: sorted(e["id"] for e in engine.pending_events(window.id, j)) for j in ("J0", "J1")}
    assert pending == {"first": {"J0": ["a1", "a2"], "J1": ["b0"]}, "second": {"J0": ["a2"], "J1": ["b0"]}}


class DeletionLog(PolicyEngine):
    def __init__(self, *args, **kwargs):
        self.deletions = []
        super().__init__(*args, **kwargs)

    def _delete_partition(self, name, sid, acted=False):
        self.deletions.append((sid, acted))
        super()._delete_partition(name, sid, acted)


def test_a_chart_partition_is_deleted_after_each_event_without_the_marker_post():
    """The marker post before a deletion exists for partitions in which no action ran (durable crashes deleting
    those); every chart event runs a transition, so a chart's partition is deleted straight away, and is gone."""
    chart = load_policy(POLICIES / "emergency" / "incident_escalation.yaml")
    events = [assessed("a1", "E1", 1, 0), assessed("a2", "E1", 4, 10), assessed("a3", "E1", 4, 11),
              {"type": "incident_closed", "id": "c1", "incident_id": "E1", "ts": "2025-03-01T09:00:00+08:00"},
              assessed("a4", "E2", 0, 20)]
    with DeletionLog([chart], clock=EVENT_TIME) as engine:
        engine.post_many(events)
        for sid in ("E1", "E2"):
            with pytest.raises(Exception, match="error code: 309"):  # no such partition in durable
                engine._host.get_state(engine._slots[chart.id].ruleset(sid), sid)
        result = engine.result()
    # one deletion per event, each after an action ran in the partition
    assert engine.deletions == [("E1", True)] * 4 + [("E2", True)]
    assert [(r.params["incident_id"], r.params["level"]) for r in result.outbox
            if r.action == "activate_emergency_plan"] == [("E1", "IV"), ("E1", "III")]
    assert result.errors == []


def test_a_window_partition_skips_the_marker_only_once_an_action_ran_in_it():
    window = load_policy(POLICIES / "command" / "junction_congestion.yaml")
    calm = {**reading("c0", "J1", 0), "congestion_index": 4.0}  # fails the test: the catch-all rule runs on it
    with DeletionLog([window], clock=EVENT_TIME, sweep_every=10_000) as engine:
        for event in (reading("a0", "J0", 0), calm, reading("b0", "J2", 0), reading("b1", "J2", 1),
                      reading("b2", "J2", 2), reading("now", "J9", 40)):
            engine.post(event)
        engine.sweep()  # J0, J1, J2 idle for more than 30 minutes
        for sid in ("J0", "J1", "J2"):
            with pytest.raises(Exception, match="error code: 309"):
                engine._host.get_state(engine._slots[window.id].ruleset(sid), sid)
        assert engine._slots[window.id].acted == set()  # J9 holds a pending reading and ran nothing
        result = engine.result()
    # J0 holds one pending reading and ran nothing: the marker goes first; J1 ran the catch-all, J2 fired.
    assert sorted(engine.deletions) == [("J0", False), ("J1", True), ("J2", True)]
    assert [r.matched_event_ids for r in result.outbox if r.action == "dispatch_order"] == [["b0", "b1", "b2"]]
    assert result.evicted[window.id] == 3


def test_events_of_the_wrong_type_are_rejected_with_the_catalogue_check_message():
    from safecity.rules.fields import value_problem
    window = load_policy(POLICIES / "command" / "junction_congestion.yaml")
    bad = [{**reading("t1", "J1", 0), "congestion_index": "9"},  # text for a number
           {**reading("t2", "J1", 1), "congestion_index": True},  # a bool is no number
           {**reading("t3", "J1", 2), "junction_id": 7}]  # a number for text
    with PolicyEngine([window], clock=EVENT_TIME) as engine:
        engine.post_many([*bad, reading("ok", "J1", 3)])
        result = engine.result()
        fields = {e.id: e for e in engine._catalogue.event_fields("congestion_reading")}
        expected = [value_problem(fields[name], event[name], engine._catalogue, full=False)
                    for event, name in zip(bad, ("congestion_index", "congestion_index", "junction_id"))]
    assert [(r.event_id, r.reason) for r in result.rejected] == list(zip(("t1", "t2", "t3"), expected))
    assert all(expected) and result.unhandled == {} and result.outbox == []
