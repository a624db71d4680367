"""The shipped packs rewritten in the authoring constructs fire exactly the actions they fired before: the same
compiled ruleset, and the same outbox (idempotency keys, actions, parameters) on the rules benchmark workload.
tests/rules/fixtures/before/ holds the files as they were before the rewrite (issue 19)."""
from pathlib import Path

import pytest

from benchmarks.rules import workload
from safecity.rules.compiler import compile_policy
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy

BEFORE = Path(__file__).parent / "fixtures" / "before"
REWRITTEN = sorted(p.relative_to(BEFORE) for p in BEFORE.rglob("*.yaml"))
SHIPPED = {p.name: p for p in POLICIES_DIR.rglob("*.yaml")}


def _pair(name: Path):
    return load_policy(BEFORE / name), load_policy(SHIPPED[name.name])


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_compiles_to_the_same_ruleset(name):
    before, after = _pair(name)
    assert after.policy.kind != before.policy.kind  # it was really rewritten in another kind
    assert (after.id, after.version) == (before.id, before.version)
    assert compile_policy(after.policy) == compile_policy(before.policy)


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_is_shorter(name):
    before, after = _pair(name)
    assert len(after.path.read_text(encoding="utf-8").splitlines()) < \
        len(before.path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_fires_the_same_actions_on_the_benchmark_workload(name):
    before, after = _pair(name)
    events = workload(20_000)
    outcomes = [evaluate([loaded], events, clock=EVENT_TIME) for loaded in (before, after)]
    fired = [[(r.idempotency_key, r.action, r.params, r.partition_key) for r in o.outbox] for o in outcomes]
    assert len(fired[0]) > 100  # the workload does escalate incidents, so the comparison says something
    assert fired[1] == fired[0]
    assert outcomes[1].errors == outcomes[0].errors == []
