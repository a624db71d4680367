"""Policy → durable-rules JSON ruleset (编译器). A pure function of the policy; no engine is needed to test it.

Shape, for version 1 of `camera.key_point_offline` (one camera_registered pattern; tests/rules/policies):
    {"camera_key_point_offline": {"r0": {"all": [{"m": {"$and": [{"type": "camera_registered"}, {"use_type": "3"},
     ...]}}], "pri": 5, "run": "camera.key_point_offline#0"}}}
`run` is not a function but a reference that the engine's Host.get_action resolves to a dispatcher running all
of the rule's actions: durable fires at most one rule per event in a ruleset, so the actions must not be separate
rules. Field tests are conjuncts after the event type, in file order, operators in OPERATORS order.

The other shapes (shared/reference/rule-engine-notes.md §4.2, each behaviour checked against the engine):
- window {count N, within W}: a sequence m_0..m_{N-1}, each later event strictly after the one before and no later
  than m_0's TS_END (= TS + W), on the event-time fields that the engine adds to every event.
- every ruleset gets a catch-all rule of lowest priority for each event type it subscribes to, so that durable
  never answers "not handled". Two reasons: in a correlation, an incident reported while no camera is down would
  otherwise stay pending and fire when a camera goes down hours later; and a partition whose only event was not
  handled occupies one of the 1024 sid slots for good, while `delete_state` on it crashes the process (SIGSEGV,
  reproduced with a one-rule ruleset). For a window the catch-all takes only events that fail the window's test.
- `delete_state` also crashes on a partition in which no action has run yet (e.g. one holding only window events
  still waiting for their match), so every ruleset has a rule for an eviction marker that the engine posts first.
- correlation: one alias per pattern (facts and the event join on the sid = partition key).
- decision table: one rule per row, `pri` = row number, so the first matching row wins.
- statechart: `<name>$state` with a synthetic start state that moves on at once to `initial` (durable takes the
  only state without incoming edges as its start), and in every non-final state a lowest-priority transition to
  itself that consumes any event, so that an early `closed` does not wait and close the next level at once.
  `initial` also gets a first-priority transition to each other open state on a resume marker naming it: the
  engine keeps an open chart as its state's name instead of a ~750 KB durable partition and resumes it there when
  the chart's next event arrives.
"""
from __future__ import annotations

from typing import Any, Iterable

from safecity.rules.charts import START
from safecity.rules.policy import Comparison, Condition, Policy
from safecity.rules.shape import DISCARD, Match, Rule, policy_rules

_DURABLE_OP = {"ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_NEGATED = {"gt": "$lte", "gte": "$lt", "lt": "$gte", "lte": "$gt"}
TS = "_ts"  # event time in epoch seconds, added by the engine from the event type's time field
TS_END = "_ts_end"  # TS + the policy's window, added by the engine for windowed policies
DISCARD_PRI = 100  # after every author rule (authors use 1..9, table rows their row number)
START_REF = "start"
EVICT = "_evict"  # event type of the marker the engine posts before deleting a partition (see engine.py)
RESUME = "_resume"  # event type of the marker that puts a fresh chart partition into a named state


def ruleset_name(policy_id: str) -> str:
    # durable reserves `$` suffixes and joins names with dots internally; underscores are safe.
    return policy_id.replace(".", "_")


def action_ref(policy_id: str, rule_index: int | str) -> str:
    return f"{policy_id}#{rule_index}"


def parse_action_ref(ref: str) -> tuple[str, int | str]:
    policy_id, _, index = ref.rpartition("#")
    if not policy_id or not (index.isdigit() or index in (DISCARD, START_REF, EVICT, RESUME)):
        raise ValueError(f"not a policy action reference: {ref!r}")
    return policy_id, int(index) if index.isdigit() else index


def _terms(event: str, where: dict[str, Comparison]) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = [{"type": event}]
    for field, comparison in where.items():
        for op, value in comparison.operators():
            if op == "eq":
                terms.append({field: value})
            elif op == "in":
                terms.append({"$or": [{field: item} for item in value]})
            elif op == "not_in":
                terms.extend({"$neq": {field: item}} for item in value)
            elif op == "contains":
                terms.append({"$mt": {field: f".*{value}.*"}})  # CONTAINS_PATTERN keeps regex characters out
            else:
                terms.append({_DURABLE_OP[op]: {field: value}})
    return terms


def compile_condition(condition: Condition | Match) -> dict[str, Any]:
    return {"$and": _terms(condition.event if isinstance(condition, Condition) else condition.type,
                           dict(condition.where))}


def _window(match: Match, count: int, seconds: int) -> list[dict[str, Any]]:
    patterns = []
    for i in range(count):
        terms = _terms(match.type, match.where)
        if i:
            terms.append({"$gt": {TS: {f"m_{i - 1}": TS}}})
            # Not durable's `$add` arithmetic: with it, float times crashed the process in our tests (SIGSEGV);
            # the engine adds the window's end to each event instead.
            terms.append({"$lte": {TS: {"m_0": TS_END}}})
        patterns.append({f"m_{i}": {"$and": terms}})
    return patterns


def _rule_body(policy_id: str, index: int, rule: Rule) -> dict[str, Any]:
    if rule.window:
        patterns = _window(rule.matches[0], rule.window.count, rule.window.seconds)
    else:
        patterns = [{m.alias: {"$and": _terms(m.type, m.where)}} for m in rule.matches]
    return {"all": patterns, "pri": rule.priority, "run": action_ref(policy_id, index)}


def compile_policy(policy: Policy, rules: tuple[Rule, ...] | None = None) -> dict[str, dict[str, Any]]:
    rules = policy_rules(policy) if rules is None else rules
    name = ruleset_name(policy.id)
    if policy.is_chart:
        return {f"{name}$state": _chart(policy, rules)}
    ruleset = {f"r{index}": _rule_body(policy.id, index, rule) for index, rule in enumerate(rules)}
    ruleset["r_evict"] = {"all": [{"m": {"type": EVICT}}], "pri": 0, "run": action_ref(policy.id, EVICT)}
    windows = {rule.matches[0].type: rule.matches[0] for rule in rules if rule.window}
    triggers = sorted({m.type for rule in rules for m in rule.matches if not m.is_fact})
    for trigger in triggers:
        # Events a window still waits for must stay pending, so its catch-all takes only those that fail the test.
        expression = _negation(windows[trigger]) if trigger in windows else {"type": trigger}
        if expression is None:
            continue
        ruleset[f"r_{DISCARD}_{trigger}"] = {"all": [{"m": expression}], "pri": DISCARD_PRI,
                                             "run": action_ref(policy.id, DISCARD)}
    return {name: ruleset}


def _negation(match: Match) -> dict[str, Any] | None:
    """Events of the match's type that fail its field tests (a missing field fails every test)."""
    alternatives: list[dict[str, Any]] = []
    for field, comparison in match.where.items():
        for op, value in comparison.operators():
            if op == "eq":
                alternatives.append({"$neq": {field: value}})
            elif op == "ne":
                alternatives.append({field: value})
            elif op == "in":
                alternatives.append({"$and": [{"$neq": {field: item}} for item in value]})
            elif op == "not_in":
                alternatives.append({"$or": [{field: item} for item in value]})
            elif op == "contains":
                raise ValueError("a windowed condition cannot use contains")  # rejected by the loader first
            else:
                alternatives.append({_NEGATED[op]: {field: value}})
        alternatives.append({"$nex": {field: 1}})
    if not alternatives:
        return None  # every event of the type counts towards the window
    return {"$and": [{"type": match.type}, {"$or": alternatives}]}


def _chart(policy: Policy, rules: tuple[Rule, ...]) -> dict[str, Any]:
    initial = policy.chart_initial
    assert initial is not None
    chart: dict[str, Any] = {START: {"t_0": {"to": initial, "run": action_ref(policy.id, START_REF)}}}
    for state_name, state in policy.chart_states.items():
        if not state.transitions:
            chart[state_name] = {}
            continue
        transitions = {}
        for index, rule in enumerate(rules):
            if rule.source == state_name:
                body = _rule_body(policy.id, index, rule)
                transitions[f"t_{len(transitions)}"] = {**body, "to": rule.target}
        transitions[f"t_{DISCARD}"] = {"all": [{"m": {"$ex": {"type": 1}}}], "to": state_name, "pri": DISCARD_PRI,
                                       "run": action_ref(policy.id, DISCARD)}
        if state_name == initial:
            for target in resumable_states(policy):
                transitions[f"t_resume_{target}"] = {
                    "all": [{"m": {"$and": [{"type": RESUME}, {"state": target}]}}], "to": target, "pri": 0,
                    "run": action_ref(policy.id, RESUME)}
        chart[state_name] = transitions
    return chart


def resumable_states(policy: Policy) -> list[str]:
    """States an open chart can rest in: neither the initial state (a fresh partition is there) nor a final one."""
    return [n for n, s in policy.chart_states.items() if s.transitions and n != policy.chart_initial]


def compile_policies(policies: Iterable[Policy]) -> dict[str, dict[str, Any]]:
    rulesets: dict[str, dict[str, Any]] = {}
    for policy in policies:
        for name, ruleset in compile_policy(policy).items():
            if name.split("$")[0] in {n.split("$")[0] for n in rulesets}:
                raise ValueError(f"two policies compile to the ruleset name {name!r}")
            rulesets[name] = ruleset
    return rulesets
