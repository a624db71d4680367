"""The rule engine benchmark's check of actions: it passes for the engine as it is and fails the run when the engine
under test fires differently from the reference engine (issue 22: a faster path must keep every action)."""
import pytest

from benchmarks.rules import check_actions, main, setup_engine, workload
from safecity.rules.engine import EVENT_TIME, PolicyEngine


def test_the_engine_the_worker_and_the_reference_agree():
    checked = check_actions(3000)
    assert checked["events"] == 3000 and checked["outbox_records"] > 100 and len(checked["sha256"]) == 64


def test_an_engine_that_fires_differently_fails_the_check():
    with PolicyEngine(setup_engine(), clock=EVENT_TIME) as engine:
        engine.post_many(workload(3000))
        lost = engine.result().outbox[-1].matched_event_ids[-1]

    class DropsOneFiring(PolicyEngine):
        """An engine whose 'shortcut' loses one event's firing: what the check is there to catch."""

        def _record(self, policy_id, rule_index, c):
            if lost in {m.get("id") for m in dict(getattr(c, "_m", {})).values() if isinstance(m, dict)}:
                return
            super()._record(policy_id, rule_index, c)

    with pytest.raises(RuntimeError, match="results differ"):
        check_actions(3000, engine_class=DropsOneFiring)


def test_only_throughput_measures_and_checks(tmp_path):
    summary = main(["--events", "500", "--repeat", "1", "--only-throughput", "--out", str(tmp_path)])
    assert set(summary) == {"baseline", "engine", "supervised", "ratios", "actions"}
    assert summary["actions"]["events"] == 500 and (tmp_path / "rules.json").exists()
