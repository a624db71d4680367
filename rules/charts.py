"""Statechart checks (状态图检查): every target exists, every state can be reached, escalation can end.

durable-rules infers a chart's start state as the only state without incoming transitions and fails with a bare
error otherwise; the compiler therefore adds a synthetic start state, and this module makes sure the author's
chart is one the compiler can rely on: a missing target or an unreachable state is an error at its line.
"""
from __future__ import annotations

from typing import Any, Callable

from safecity.config.yamlfile import did_you_mean

START = "init"  # the synthetic start state the compiler adds; authors cannot use the name

Report = Callable[[str, str, str, "str | None"], None]


def check_chart(initial: Any, states: Any, report: Report) -> None:
    if not isinstance(states, dict) or not states:
        return
    names = [n for n in states if isinstance(n, str)]
    if START in states:
        report(f"/states/{START}", "E_CHART_STATE", f"状态名 {START} 由系统保留 / the state name {START!r} is "
               f"reserved for the engine's start state", None)
    edges: dict[str, list[str]] = {name: [] for name in names}
    for name, state in states.items():
        transitions = state.get("transitions") if isinstance(state, dict) else None
        for index, transition in enumerate(transitions if isinstance(transitions, list) else []):
            target = transition.get("to") if isinstance(transition, dict) else None
            if not isinstance(target, str):
                continue
            if target not in states:
                report(f"/states/{name}/transitions/{index}/to", "E_CHART_MISSING_STATE",
                       f"迁移目标状态 {target} 不存在 / unknown target state {target!r}", did_you_mean(target, names))
            else:
                edges[name].append(target)
    if not isinstance(initial, str):
        return
    if initial not in states:
        report("/initial", "E_CHART_MISSING_STATE", f"初始状态 {initial} 不存在 / unknown initial state {initial!r}",
               did_you_mean(initial, names))
        return
    reached, frontier = {initial}, [initial]
    while frontier:
        for target in edges.get(frontier.pop(), []):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    for name in names:
        if name not in reached:
            report(f"/states/{name}", "E_CHART_UNREACHABLE",
                   f"状态 {name} 从初始状态 {initial} 无法到达 / state {name!r} cannot be reached from {initial!r}",
                   None)
    if not any(not edges[name] for name in reached):
        report("/states", "E_CHART_NO_FINAL", "状态图没有可到达的终止状态（无迁移的状态），事件将永远滞留 / no final "
               "state (one without transitions) can be reached, so partitions never end", None)
