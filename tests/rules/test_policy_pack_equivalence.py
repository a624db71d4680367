"""The shipped packs rewritten in the authoring constructs fire exactly the actions they fired before: the same
compiled ruleset, and the same outbox (idempotency keys, actions, rendered parameters) on the rules benchmark
workload. tests/rules/fixtures/before/ holds the files as they were before the rewrite (issue 19): the escalation
ladder that was a statechart, and the templates that now use policy names ({{ call_id }}, {{ count }},
{{ first.time }}) instead of the engine's aliases."""
import datetime as dt
from pathlib import Path

import pytest

from benchmarks.rules import workload
from safecity.rules.compiler import compile_policy
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.testing import scenario_events

BEFORE = Path(__file__).parent / "fixtures" / "before"
REWRITTEN = sorted(p.relative_to(BEFORE) for p in BEFORE.rglob("*.yaml"))
NEW_KIND = [Path("emergency/incident_escalation.yaml")]


def _pair(name: Path):
    return load_policy(BEFORE / name), load_policy(POLICIES_DIR / name)


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_compiles_to_the_same_ruleset(name):
    before, after = _pair(name)
    assert (after.id, after.version) == (before.id, before.version)
    assert after.sha256 != before.sha256  # it (or its decision table) was really rewritten
    assert compile_policy(after.policy, after.rules) == compile_policy(before.policy, before.rules)


@pytest.mark.parametrize("name", NEW_KIND, ids=str)
def test_rewritten_policy_is_shorter(name):
    before, after = _pair(name)
    assert after.policy.kind != before.policy.kind
    assert len(after.path.read_text(encoding="utf-8").splitlines()) < \
        len(before.path.read_text(encoding="utf-8").splitlines())


def _same_outbox(before, after, events, clock=EVENT_TIME) -> int:
    outcomes = [evaluate([loaded], events, clock=clock) for loaded in (before, after)]
    fired = [[(r.idempotency_key, r.action, r.params, r.partition_key) for r in o.outbox] for o in outcomes]
    assert fired[1] == fired[0]
    assert outcomes[1].errors == outcomes[0].errors == []
    return len(fired[0])


def _fixed_clock():
    return dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)  # some scenario events carry no event time


@pytest.fixture(scope="module")
def events():
    return workload(20_000)


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_fires_the_same_actions_on_the_benchmark_workload(name, events):
    before, after = _pair(name)
    fired = _same_outbox(before, after, events)
    # The workload has no budget events; that policy is compared on its own scenarios below.
    assert fired > 0 or name.name == "maintenance_budget.yaml"


@pytest.mark.parametrize("name", REWRITTEN, ids=str)
def test_rewritten_policy_fires_the_same_actions_on_its_scenarios(name):
    before, after = _pair(name)
    fired = sum(_same_outbox(before, after, scenario_events(test, index), clock=_fixed_clock)
                for index, test in enumerate(before.policy.tests))
    assert fired > 0
