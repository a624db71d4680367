"""The rules of a policy in one normal form (规则范式), whatever the file's kind, for the compiler and the engine.

A plain rule is one Rule; a decision table is one Rule per row (first matching row wins); a statechart is one Rule
per transition, remembering its source and target state. The index of a Rule in `policy_rules` is the number in
its action reference (`<policy id>#<index>`), so the engine finds a firing's actions without searching.
"""
from __future__ import annotations

from dataclasses import dataclass

from safecity.rules.policy import ActionCall, Comparison, Condition, Correlation, Pattern, Policy, Window

DISCARD = "discard"  # action reference suffix of the catch-all rules that keep unmatched events from pending


@dataclass(frozen=True)
class Match:
    alias: str
    type: str
    is_fact: bool
    where: dict[str, Comparison]


@dataclass(frozen=True)
class Rule:
    matches: tuple[Match, ...]
    actions: tuple[ActionCall, ...]
    priority: int
    window: Window | None = None
    source: str | None = None  # statechart state the transition leaves
    target: str | None = None
    origin: str = ""  # where it was written: a JSON pointer, or `<table file>:<line>` for a decision-table row


def condition_matches(condition: Condition, alias: str = "m") -> list[Match]:
    """One match per alternative of the condition's expressions (an `or` is several engine rules)."""
    return [Match(alias, condition.event, False, where) for where in condition.alternatives()]


def pattern_match(pattern: Pattern) -> Match:
    return Match(pattern.as_, pattern.type, pattern.fact is not None, dict(pattern.where))


def policy_rules(policy: Policy, table_rows: tuple[Rule, ...] = ()) -> tuple[Rule, ...]:
    if policy.is_chart:
        rules = []
        for state_name, state in policy.chart_states.items():
            for index, transition in enumerate(state.transitions):
                rules.extend(Rule((match,), tuple(transition.actions), transition.priority or policy.priority,
                                  source=state_name, target=transition.to,
                                  origin=f"/states/{state_name}/transitions/{index}")
                             for match in condition_matches(transition.when))
        return tuple(rules)
    if policy.kind == "decision_table":
        return table_rows
    if isinstance(policy.when, Correlation):
        return (Rule(tuple(pattern_match(p) for p in policy.when.all), tuple(policy.actions), policy.priority,
                     origin="/when"),)
    assert isinstance(policy.when, Condition)
    return tuple(Rule((match,), tuple(policy.actions), policy.priority, window=policy.when.window, origin="/when")
                 for match in condition_matches(policy.when))


def bound_aliases(rule: Rule) -> tuple[str, ...]:
    """Names a template may use: each alias; for a window also first/last (m is the last event)."""
    if rule.window:
        return ("m", "first", "last")
    return tuple(m.alias for m in rule.matches)
