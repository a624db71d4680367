"""Running the scenario tests written inside a policy file (策略自带测试).

Each test gets a fresh engine holding only its policy and a fixed clock, so a test's outcome depends on nothing
but the file. Expected actions must fire in the listed order; expected parameters must be a subset of the fired
ones. Rule errors and rejected events fail a test even when the expected actions fired.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from safecity.rules.worker import evaluate_supervised
from safecity.rules.loader import LoadedPolicy
from safecity.rules.policy import PolicyTest
from safecity.standards.catalogue import Catalogue

TEST_CLOCK_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    policy_id: str
    name: str
    passed: bool
    failures: list[str]
    fired: list[tuple[str, dict[str, Any]]]


def _test_clock() -> dt.datetime:
    return TEST_CLOCK_TIME


def scenario_events(test: PolicyTest, test_index: int) -> list[dict[str, Any]]:
    events = []
    for index, given in enumerate(test.given):
        event = {**given.fields(), "type": given.type, "id": given.id or _default_id(given, test_index, index)}
        if given.retract:
            event["op"] = "retract"
        events.append(event)
    return events


def _default_id(given: Any, test_index: int, index: int) -> str:
    if given.fact is None:
        return f"test{test_index}-event{index}"
    # A fact's default id comes from its content, so a retraction written with the same fields finds it.
    return f"{given.fact}:" + json.dumps(given.fields(), sort_keys=True, ensure_ascii=False)


def run_policy_tests(loaded: LoadedPolicy, *, catalogue: Catalogue | None = None) -> list[TestResult]:
    results = []
    for test_index, test in enumerate(loaded.policy.tests):
        # In a child process: durable-rules can crash natively (worker.py); a crash reruns the test there.
        outcome, _ = evaluate_supervised([loaded], scenario_events(test, test_index), clock=_test_clock)
        fired = [(record.action, record.params) for record in outcome.outbox]
        failures = [f"{e.code}: {e.message}" for e in outcome.errors]
        failures += [f"rejected event {r.event_id}: {r.reason}" for r in outcome.rejected]
        failures += _compare(test, fired)
        results.append(TestResult(loaded.id, test.name, not failures, failures, fired))
    return results


def _compare(test: PolicyTest, fired: list[tuple[str, dict[str, Any]]]) -> list[str]:
    expected = [(e.action, e.params) for e in test.expect]
    if [name for name, _ in fired] != [name for name, _ in expected]:
        return [f"期望动作 {[n for n, _ in expected]}，实际触发 {[n for n, _ in fired]} / expected actions "
                f"{[n for n, _ in expected]}, fired {[n for n, _ in fired]}"]
    failures = []
    for index, ((name, actual), (_, wanted)) in enumerate(zip(fired, expected)):
        for key, value in wanted.items():
            if actual.get(key) != value:
                failures.append(f"动作 {index}（{name}）参数 {key} 期望 {value!r}，实际 {actual.get(key)!r} / "
                                f"action {index} ({name}) param {key!r}: expected {value!r}, got "
                                f"{actual.get(key)!r}")
    return failures
