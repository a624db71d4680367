"""Checkpoint round trips: an engine's open charts, facts and window events, saved, stored as a file and loaded
into a fresh engine in another worker process, go on exactly as the uninterrupted engine would."""
import datetime as dt
import json

import pytest

from safecity.rules.checkpoint import Checkpoint, CheckpointError, DirectoryCheckpoints
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.worker import SupervisedEngine

CST = dt.timezone(dt.timedelta(hours=8))


def at(minute: int) -> str:
    return (dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=minute)).isoformat()


def reading(n: int, junction: str, minute: int, index: float = 9.0) -> dict:
    return {"type": "congestion_reading", "id": f"r{n}", "junction_id": junction, "congestion_index": index,
            "ts": at(minute)}


def escalation_day() -> tuple[list[dict], list[dict]]:
    """(before the crash, after it): I1 opens at level IV before, is assessed at IV again and then at III after."""
    before = [{"type": "incident_reported", "id": "rep1", "incident_id": "I1", "grid_id": "G1", "category": "010000",
               "casualties": 2, "ts": at(0)}]
    after = [{"type": "incident_assessed", "id": "ass1", "incident_id": "I1", "casualties": 2, "deaths": 0,
              "serious_injuries": 0, "ts": at(20)},
             {"type": "incident_assessed", "id": "ass2", "incident_id": "I1", "casualties": 6, "deaths": 3,
              "serious_injuries": 1, "ts": at(40)}]
    return before, after


@pytest.fixture(scope="module")
def congestion():
    return [load_policy(POLICIES_DIR / "command" / "junction_congestion.yaml")]


@pytest.fixture(scope="module")
def escalation():
    return [load_policy(POLICIES_DIR / "emergency" / "incident_escalation.yaml")]


@pytest.fixture(scope="module")
def blind_spot():
    return [load_policy(POLICIES_DIR / "command" / "blind_spot_incident.yaml")]


def crash_between(policies, before, after, tmp_path, restore=True):
    """Run `before` in one worker, checkpoint it to a file, load it into a new worker and run `after` there; the
    idempotency keys written by both."""
    store = DirectoryCheckpoints(tmp_path)
    with SupervisedEngine(policies, clock=EVENT_TIME) as first:
        keys = [r.idempotency_key for r in first.post(before).outbox]
        store.save(Checkpoint.now("g", "t.by.k", 0, len(before), first.export_state()))
    loaded = store.load("g", "t.by.k", 0)
    assert loaded.offset == len(before)
    with SupervisedEngine(policies, clock=EVENT_TIME) as second:
        if restore:
            second.restore(loaded.state)
        keys += [r.idempotency_key for r in second.post(after).outbox]
    return keys


def uninterrupted(policies, events):
    return sorted(r.idempotency_key for r in evaluate(policies, events, clock=EVENT_TIME).outbox)


def test_a_window_straddling_the_checkpoint_fires_once_after_the_restore(congestion, tmp_path):
    before = [reading(1, "J1", 0), reading(2, "J2", 1), reading(3, "J1", 5)]
    after = [reading(4, "J1", 10), reading(5, "J2", 30)]
    keys = crash_between(congestion, before, after, tmp_path)
    expected = uninterrupted(congestion, before + after)
    assert len(expected) == 2  # dispatch + signal plan for J1 (r1, r3, r4); J2's two readings are 29 minutes apart
    assert sorted(keys) == expected
    # Without the restore the window's first two readings are lost and nothing fires.
    assert crash_between(congestion, before, after, tmp_path, restore=False) == []


def test_an_open_escalation_continues_at_its_level_after_the_restore(escalation, tmp_path):
    before, after = escalation_day()
    keys = crash_between(escalation, before, after, tmp_path)
    expected = uninterrupted(escalation, before + after)
    assert sorted(keys) == expected and len(keys) == len(set(keys)) == 3  # IV, then III + its notice
    # A lost chart starts over: ass1 opens IV a second time and the III step is a different transition.
    lost = crash_between(escalation, before, after, tmp_path, restore=False)
    assert sorted(lost) != expected


def test_facts_survive_the_restore(blind_spot, tmp_path):
    before = [{"type": "camera_down", "id": "down1", "camera_id": "13030200001320000007", "grid_id": "G1",
               "since": "2025-03-01T07:00:00+08:00"}]
    after = [{"type": "incident_reported", "id": "rep1", "incident_id": "I1", "grid_id": "G1", "category": "010000",
              "casualties": 1, "ts": at(30)}]
    keys = crash_between(blind_spot, before, after, tmp_path)
    expected = uninterrupted(blind_spot, before + after)
    assert expected and sorted(keys) == expected
    assert crash_between(blind_spot, before, after, tmp_path, restore=False) == []


def test_restoring_writes_no_action_again(congestion, tmp_path):
    events = [reading(1, "J1", 0), reading(2, "J1", 2), reading(3, "J1", 4), reading(4, "J1", 6)]
    with SupervisedEngine(congestion, clock=EVENT_TIME) as first:
        assert len(first.post(events).outbox) == 2
        state = json.loads(json.dumps(first.export_state()))  # what the file holds
    assert [e["id"] for e in state["policies"]["command.junction_congestion"]["pending"]["J1"]] == ["r4"]
    with SupervisedEngine(congestion, clock=EVENT_TIME) as second:
        second.restore(state)
        assert second.post([]).outbox == []
        fired = second.post([reading(5, "J1", 7), reading(6, "J1", 8)]).outbox
    assert sorted(r.matched_event_ids for r in fired)[0] == ["r4", "r5", "r6"]


def test_an_unreadable_checkpoint_names_its_file(tmp_path):
    store = DirectoryCheckpoints(tmp_path)
    store.path("g", "t", 0).write_text("{", encoding="utf-8")
    with pytest.raises(CheckpointError, match="g__t__0.json"):
        store.load("g", "t", 0)
    assert store.load("g", "t", 1) is None


@pytest.mark.parametrize("keep_state", [True, False])
def test_a_native_crash_of_the_engine_child_keeps_open_charts_and_windows(escalation, congestion, keep_state):
    """A partition's engine child dies (a real SIGSEGV) on I1's second assessment, two batches after the last
    checkpoint: with keep_state the supervisor restarts it from that checkpoint and the batch since, so I1 still
    escalates from IV to III and J1's window still completes; without it (batch mode) both are lost."""
    from safecity.rules.worker import CrashDrill

    policies = escalation + congestion
    before, after = escalation_day()
    batches = [before + [reading(1, "J1", 0)], [after[0], reading(2, "J1", 3)], [after[1], reading(3, "J1", 6)]]
    drill = CrashDrill("emergency.incident_escalation", "ass2", times=1)
    with SupervisedEngine(policies, clock=EVENT_TIME, drill=drill, keep_state=keep_state) as engine:
        keys = [r.idempotency_key for r in engine.post(batches[0]).outbox]
        engine.export_state()  # the checkpoint serve writes after the batch
        keys += [r.idempotency_key for r in engine.post(batches[1]).outbox]
        result = engine.post(batches[2])
        keys += [r.idempotency_key for r in result.outbox]
    assert [e.code for e in result.errors] == ["E_WORKER_CRASH"]
    expected = uninterrupted(policies, [e for batch in batches for e in batch])
    assert len(expected) == 5  # IV, III + notice, J1's dispatch + signal plan
    assert (sorted(keys) == expected) is keep_state
