"""The supervised worker process, sharding beyond durable's 1024 partitions, and hot reload."""
import datetime as dt
import os

import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.worker import CrashDrill, SupervisedEngine, evaluate_supervised

CST = dt.timezone(dt.timedelta(hours=8))
CONGESTION = POLICIES_DIR / "command" / "junction_congestion.yaml"
BLIND_SPOT = POLICIES_DIR / "command" / "blind_spot_incident.yaml"


def reading(event_id, junction, minute, index=9.0):
    ts = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=minute)
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": index,
            "ts": ts.isoformat()}


def incident(n, grid="G1"):
    return {"type": "incident_reported", "id": f"i{n}", "incident_id": f"I{n}", "grid_id": grid,
            "category": "010000", "ts": "2025-03-01T08:00:00+08:00"}


DOWN = {"type": "camera_down", "id": "down-C7", "camera_id": "13030200001320000007", "grid_id": "G1",
        "since": "2025-03-01T07:00:00+08:00"}


@pytest.fixture(scope="module")
def policies():
    return [load_policy(CONGESTION), load_policy(BLIND_SPOT)]


def keys(result):
    return sorted(r.idempotency_key for r in result.outbox)


def test_a_native_crash_restarts_the_worker_and_the_evaluation_is_complete(policies):
    events = [reading("r1", "J1", 0), reading("r2", "J1", 5), DOWN, incident(1), reading("r3", "J1", 9)]
    expected = evaluate(policies, events, clock=EVENT_TIME)
    drill = CrashDrill("command.blind_spot_incident", "i1", times=1)
    result, set_aside = evaluate_supervised(policies, events, clock=EVENT_TIME, drill=drill)
    assert keys(result) == keys(expected) and len(expected.outbox) == 4
    assert [(e.code, e.policy_id, e.event_ids) for e in result.errors] == [
        ("E_WORKER_CRASH", "command.blind_spot_incident", ["i1"])]
    assert "-11" in result.errors[0].message  # SIGSEGV, a real native crash
    assert set_aside == []


def test_a_policy_version_that_keeps_crashing_is_set_aside_and_the_others_go_on(policies):
    events = [reading("r1", "J1", 0), DOWN, incident(1), reading("r2", "J1", 5), reading("r3", "J1", 9)]
    result, set_aside = evaluate_supervised(policies, events, clock=EVENT_TIME,
                                            drill=CrashDrill("command.blind_spot_incident", "i1"))
    [record] = set_aside
    assert (record.policy_id, record.policy_version, record.crashes, record.exit_code, record.event_id) == (
        "command.blind_spot_incident", 1, 2, -11, "i1")
    assert record.policy_file_sha256 == policies[1].sha256
    expected = evaluate(policies[:1], events, clock=EVENT_TIME)
    assert keys(result) == keys(expected) and {r.policy_id for r in result.outbox} == {"command.junction_congestion"}
    assert [e.code for e in result.errors] == ["E_WORKER_CRASH", "E_WORKER_CRASH"]


def test_streaming_supervisor_keeps_facts_across_a_crash(policies):
    with SupervisedEngine(policies, clock=EVENT_TIME, drill=CrashDrill("command.junction_congestion", "x1",
                                                                       times=1)) as engine:
        first_pid = engine.pid
        assert engine.post([DOWN]).outbox == []
        crashed = engine.post([reading("x1", "J9", 0), incident(2)])
        assert engine.pid != first_pid and engine.restarts == 1
        assert [e.code for e in crashed.errors] == ["E_WORKER_CRASH"]
        # The fact asserted before the crash still holds in the new worker process.
        assert [r.params["incident_id"] for r in crashed.outbox if r.action == "dispatch_order"] == ["I2"]
        assert os.getpid() != engine.pid


def test_engines_submitted_together_evaluate_at_once_and_a_crash_in_flight_is_recovered(policies):
    """serve sends a poll's batches to every partition's engine before it waits for any (submit, then collect): the
    results are those of one post each, also when one engine crashes while the others are still evaluating."""
    first = [reading("a1", "J1", 0), reading("a2", "J1", 5), DOWN, incident(4), reading("a3", "J1", 9)]
    second = [DOWN, reading("b1", "J2", 0), incident(5, grid="G1"), reading("b2", "J2", 5), reading("b3", "J2", 9)]
    expected = [keys(evaluate(policies, batch, clock=EVENT_TIME)) for batch in (first, second)]
    with SupervisedEngine(policies, clock=EVENT_TIME) as calm, SupervisedEngine(
            policies, clock=EVENT_TIME, drill=CrashDrill("command.blind_spot_incident", "i5", times=1)) as crashing:
        pid = crashing.pid
        calm.submit(first)
        crashing.submit(second)
        with pytest.raises(RuntimeError, match="collected"):
            calm.submit(first)  # one batch in flight per engine: a second would mix up whose result is whose
        results = [calm.collect(), crashing.collect()]
        assert crashing.pid != pid and crashing.restarts == 1 and calm.restarts == 0
    assert [keys(r) for r in results] == expected and all(expected)
    assert [e.code for e in results[1].errors] == ["E_WORKER_CRASH"] and results[0].errors == []


def test_hot_reload_replaces_one_policy_and_keeps_the_state_of_the_others(policies, tmp_path):
    changed = tmp_path / "blind_spot_incident.yaml"
    changed.write_text(BLIND_SPOT.read_text(encoding="utf-8").replace("version: 1", "version: 2")
                       .replace("urgency: urgent", "urgency: emergency"), encoding="utf-8")
    new = load_policy(changed)
    with SupervisedEngine(policies, clock=EVENT_TIME) as engine:
        pid = engine.pid
        engine.post([reading("r1", "J1", 0), reading("r2", "J1", 5), DOWN])
        assert engine.replace(new) is True
        after = engine.post([reading("r3", "J1", 9), incident(3)])
        assert engine.pid == pid  # no restart
    window = [r for r in after.outbox if r.policy_id == "command.junction_congestion"]
    assert [r.matched_event_ids for r in window][:1] == [["r1", "r2", "r3"]]  # window state survived the reload
    blind = [r for r in after.outbox if r.action == "dispatch_order" and r.policy_id == "command.blind_spot_incident"]
    assert [(r.policy_version, r.params["urgency"], r.policy_file_sha256) for r in blind] == [
        (2, "emergency", new.sha256)]  # the new version, and the fact asserted before the reload still holds


@pytest.mark.parametrize("shards, limited", [(4, 0), (1, 3000 - 1024)])
def test_more_live_partitions_than_one_ruleset_holds(policies, shards, limited):
    # 3000 junctions each waiting in a window at once: eviction cannot help, only shards can.
    events = [reading(f"r{i}", f"J{i}", i // 1000) for i in range(3000)]
    result = evaluate(policies[:1], events, clock=EVENT_TIME, shards=shards)
    assert sum(e.code == "E_PARTITION_LIMIT" for e in result.errors) == limited
    assert len(result.errors) == limited


def test_engine_children_of_a_killed_worker_exit_on_their_own(tmp_path):
    """A serve worker SIGKILLed holds several engine children (one per partition); each notices its worker is gone
    and exits instead of running on without a parent (found after the crash test left 26 of them behind)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time\n"
        "from safecity.rules.loader import POLICIES_DIR, load_policy\n"
        "from safecity.rules.worker import SupervisedEngine\n"
        "policy = [load_policy(POLICIES_DIR / 'command' / 'junction_congestion.yaml')]\n"
        "engines = [SupervisedEngine(policy, start_method='fork') for _ in range(3)]\n"
        "print(' '.join(str(e.pid) for e in engines), flush=True)\n"
        "time.sleep(600)\n", encoding="utf-8")
    worker = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    children = [int(pid) for pid in worker.stdout.readline().split()]
    assert len(children) == 3 and all(_alive(pid) for pid in children)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.5)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"  # a zombie has exited; only its parent's wait is missing
    except FileNotFoundError:
        return False
