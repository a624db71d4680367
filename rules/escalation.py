"""Escalation ladders (分级升级) → the statechart the engine already runs.

Staff write the levels from the most severe down, each with the conditions that reach it; this module draws the
chart anyone would draw by hand: a `monitoring` state, one `level_<X>` state per level and a final `closed` state.
From `monitoring` and from each level every more severe level can be entered directly (every other level when
`only_up` is false), and `close` ends the chart from anywhere. A more severe level has the smaller priority
number, so when one report crosses several thresholds the most severe level wins; `close` comes last.

The order of the generated transitions is fixed (sources from `monitoring` up to the most severe level; targets
from the most severe down; one transition per alternative of a condition) because a transition's position is
part of each action's idempotency key: the same ladder must always produce the same keys.
"""
from __future__ import annotations

from safecity.rules.policy import (ESCALATION_END, ESCALATION_START, ActionCall, Condition, Level, Policy, State,
                                   Transition)


def entry_actions(level: Level) -> list[ActionCall]:
    """What entering a level does: its actions, then its notification."""
    actions = list(level.actions)
    if level.notify is not None:
        actions.append(ActionCall(action="notify_leadership",
                                  params={"audience": level.notify.audience, "message": level.notify.message}))
    return actions


def _transitions(target: Level, priority: int) -> list[Transition]:
    actions = entry_actions(target)
    return [Transition(to=target.state, when=condition, priority=priority, actions=actions)
            for condition in target.when]


def ladder_states(policy: Policy) -> dict[str, State]:
    levels = list(policy.levels or [])
    close_priority = len(levels) + 1
    closing = [Transition(to=ESCALATION_END, when=policy.close, priority=close_priority)] \
        if isinstance(policy.close, Condition) else []
    states: dict[str, State] = {}
    sources: list[tuple[str, int]] = [(ESCALATION_START, len(levels))]
    sources += [(level.state, rank) for rank, level in reversed(list(enumerate(levels)))]
    for source, rank in sources:
        transitions: list[Transition] = []
        for target_rank, target in enumerate(levels):
            if target_rank == rank or policy.only_up and target_rank > rank:
                continue
            transitions.extend(_transitions(target, target_rank + 1))
        states[source] = State(transitions=transitions + closing)
    states[ESCALATION_END] = State()
    return states
