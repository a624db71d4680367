"""Policy → durable-rules JSON ruleset (编译器). A pure function of the policy; no engine is needed to test it.

Shape, for `camera.key_point_offline`:
    {"camera_key_point_offline": {"r0": {"all": [{"m": {"$and": [{"type": "camera_registered"}, {"use_type": "3"},
     ...]}}], "pri": 5, "run": "camera.key_point_offline#0"}}}
`run` is not a function but a reference that the engine's Host.get_action resolves to a dispatcher running all
of the policy's actions: durable fires at most one rule per event in a ruleset, so the actions must not be
separate rules. Field tests are conjuncts after the event type, in file order, operators in OPERATORS order.
"""
from __future__ import annotations

from typing import Any, Iterable

from safecity.rules.policy import Condition, Policy

_DURABLE_OP = {"ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def ruleset_name(policy_id: str) -> str:
    # durable reserves `$` suffixes and joins names with dots internally; underscores are safe.
    return policy_id.replace(".", "_")


def action_ref(policy_id: str, rule_index: int) -> str:
    return f"{policy_id}#{rule_index}"


def parse_action_ref(ref: str) -> tuple[str, int]:
    policy_id, _, index = ref.rpartition("#")
    if not policy_id or not index.isdigit():
        raise ValueError(f"not a policy action reference: {ref!r}")
    return policy_id, int(index)


def compile_condition(condition: Condition) -> dict[str, Any]:
    terms: list[dict[str, Any]] = [{"type": condition.event}]
    for field, comparison in condition.where.items():
        for op, value in comparison.operators():
            if op == "eq":
                terms.append({field: value})
            elif op == "in":
                terms.append({"$or": [{field: item} for item in value]})
            else:
                terms.append({_DURABLE_OP[op]: {field: value}})
    return {"$and": terms}


def compile_policy(policy: Policy) -> dict[str, dict[str, Any]]:
    rule = {"all": [{"m": compile_condition(policy.when)}], "pri": policy.priority,
            "run": action_ref(policy.id, 0)}
    return {ruleset_name(policy.id): {"r0": rule}}


def compile_policies(policies: Iterable[Policy]) -> dict[str, dict[str, Any]]:
    rulesets: dict[str, dict[str, Any]] = {}
    for policy in policies:
        for name, ruleset in compile_policy(policy).items():
            if name in rulesets:
                raise ValueError(f"two policies compile to the ruleset name {name!r}")
            rulesets[name] = ruleset
    return rulesets
