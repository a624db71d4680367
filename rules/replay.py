"""Replay and diff (回放与差异): history through a chosen policy set on an event-time clock, and the actions a
changed policy set would add or drop compared with the live one.

Both run in the supervised worker (a native crash neither stops them nor changes their result) with the clock set
to event time, so the same events and policies always give the same records, whenever they are replayed. Actions
are compared by what they do — policy, action, parameters and the events that matched — not by idempotency key,
which also depends on the policy version and so differs for every changed policy.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from safecity.rules.engine import EVENT_TIME, EvaluationResult
from safecity.rules.loader import LoadedPolicy
from safecity.rules.outbox import OutboxRecord
from safecity.rules.worker import SetAside, evaluate_supervised, reiterable


@dataclass
class Replay:
    result: EvaluationResult
    set_aside: list[SetAside]
    events: int

    def by_policy_action(self) -> dict[tuple[str, str], int]:
        return dict(sorted(Counter((r.policy_id, r.action) for r in self.result.outbox).items()))


class _Counted:
    """The events, counted as the worker consumes them (a period of silver is streamed, never a list)."""

    def __init__(self, events: Iterable[Mapping[str, Any]]):
        self._events = reiterable(events)
        self.count = 0

    def __iter__(self):
        self.count = 0  # a pass after a worker crash starts over
        for event in self._events:
            self.count += 1
            yield event


def replay(policies: Sequence[LoadedPolicy], events: Iterable[Mapping[str, Any]], *,
           start_method: str = "fork") -> Replay:
    counted = _Counted(events)
    result, set_aside = evaluate_supervised(policies, counted, clock=EVENT_TIME, start_method=start_method)
    return Replay(result, set_aside, counted.count)


def decision(record: OutboxRecord) -> tuple[str, str, str, tuple[str, ...]]:
    return (record.policy_id, record.action, json.dumps(record.params, ensure_ascii=False, sort_keys=True),
            tuple(sorted(record.matched_event_ids)))


@dataclass
class PolicyDiff:
    added: list[OutboxRecord] = field(default_factory=list)  # the candidate set would do these, the live set not
    dropped: list[OutboxRecord] = field(default_factory=list)  # the live set does these, the candidate set not
    unchanged: int = 0
    live: Replay | None = None
    candidate: Replay | None = None


def diff(live: Sequence[LoadedPolicy], candidate: Sequence[LoadedPolicy], events: Iterable[Mapping[str, Any]], *,
         start_method: str = "fork") -> PolicyDiff:
    events = reiterable(events)  # read twice, once per policy set
    before = replay(live, events, start_method=start_method)
    after = replay(candidate, events, start_method=start_method)
    old = Counter(decision(r) for r in before.result.outbox)
    new = Counter(decision(r) for r in after.result.outbox)
    result = PolicyDiff(live=before, candidate=after)
    for record in after.result.outbox:
        key = decision(record)
        if new[key] > old[key]:
            result.added.append(record)
            new[key] -= 1
    new = Counter(decision(r) for r in after.result.outbox)
    for record in before.result.outbox:
        key = decision(record)
        if old[key] > new[key]:
            result.dropped.append(record)
            old[key] -= 1
    result.unchanged = len(before.result.outbox) - len(result.dropped)
    return result
