"""The policy catalogue (策略目录): each policy's plain-language text, a diagram of its states or levels, its tests
and their results, and the actions it fired in a run, as one HTML page (`safecity rules docs`) or as markdown per
policy (the Dagster outbox asset's `policy/<id>` metadata).

The diagram is drawn here as plain SVG (no graph library): states left to right in the chart's own order (an
escalation's monitoring → least severe … most severe → closed), each distinct move an arc, above the row when it
goes right and below when it goes back, so that a ladder reads as a ladder.
"""
from __future__ import annotations

import html
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from safecity.rules.explain import explain
from safecity.rules.loader import LoadedPolicy
from safecity.rules.policy import ESCALATION_END, ESCALATION_START, Policy
from safecity.rules.testing import TestResult

Fired = Mapping[str, Any]  # an outbox record as delivered: policy_id, action, message, partition_key, fired_at
_BOX_W, _BOX_H, _GAP = 120, 36, 50
_KIND_ZH = {"rule": "规则", "escalation": "分级升级", "statechart": "状态图", "decision_table": "决策表"}


def _state_order(policy: Policy) -> list[str]:
    states = list(policy.chart_states)
    if policy.kind != "escalation":
        return states
    levels = [level.state for level in reversed(policy.levels or [])]
    return [ESCALATION_START, *levels, ESCALATION_END]


def ladder_svg(policy: Policy, conditions: Sequence[str]) -> str:
    """An escalation as a ladder: the most severe level on top, `monitoring` at the foot, each level with what
    reaches it written beside it; `closed` at the side, reachable from every step."""
    levels = list(policy.levels or [])
    rows = [(f"{lv.level} {lv.name or ''}".strip(), text) for lv, text in zip(levels, conditions)]
    rows.append((ESCALATION_START, ""))
    width, step = 900, _BOX_H + 24
    height = len(rows) * step + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>']
    for row, (label, text) in enumerate(rows):
        y = 12 + row * step
        parts.append(f'<rect x="12" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="8" fill="#f4f7fb" stroke="#333"/>'
                     f'<text x="{12 + _BOX_W / 2:.0f}" y="{y + _BOX_H / 2 + 4:.0f}" text-anchor="middle">'
                     f"{html.escape(label)}</text>"
                     f'<text x="{24 + _BOX_W}" y="{y + _BOX_H / 2 + 4:.0f}">{html.escape(text[:70])}</text>')
        if row:
            parts.append(f'<path d="M {12 + _BOX_W / 2:.0f} {y} L {12 + _BOX_W / 2:.0f} {y - step + _BOX_H}" '
                         f'stroke="#555" marker-end="url(#arrow)"/>')
    parts.append(f'<rect x="{width - _BOX_W - 12}" y="12" width="{_BOX_W}" height="{_BOX_H}" rx="8" fill="#eee" '
                 f'stroke="#333" stroke-width="3"/><text x="{width - _BOX_W / 2 - 12:.0f}" '
                 f'y="{12 + _BOX_H / 2 + 4:.0f}" text-anchor="middle">{ESCALATION_END}</text>'
                 f'<text x="{width - 12}" y="{24 + _BOX_H + 12}" font-size="11" text-anchor="end">任一级别遇结束条件 / '
                 f"close from any step</text></svg>")
    return "".join(parts)


def chart_svg(policy: Policy, conditions: Sequence[str] = ()) -> str:
    """An SVG of the chart's states and moves (a ladder for an escalation, given the sentence of each level's
    conditions); for a rule or table, its event(s) and actions."""
    if policy.kind == "escalation":
        return ladder_svg(policy, conditions or [""] * len(policy.levels or []))
    if not policy.is_chart:
        events = sorted(policy.subscribed_events | policy.fact_types)
        return _boxes_svg([("事件 " + ", ".join(events), None), ("动作", None)], [(0, 1, "")])
    order = _state_order(policy)
    index = {name: i for i, name in enumerate(order)}
    moves = sorted({(index[source], index[t.to], "")
                    for source, state in policy.chart_states.items() for t in state.transitions})
    labels = [(name, "final" if not policy.chart_states[name].transitions else None) for name in order]
    return _boxes_svg(labels, moves)


def _boxes_svg(boxes: Sequence[tuple[str, str | None]], moves: Iterable[tuple[int, int, str]]) -> str:
    width = len(boxes) * (_BOX_W + _GAP) + _GAP
    height = (2 + len(boxes)) * _BOX_H + 2 * _GAP
    middle = height / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>']
    centre = [_GAP + i * (_BOX_W + _GAP) + _BOX_W / 2 for i in range(len(boxes))]
    for source, target, _ in moves:
        if source == target:
            continue
        forward = target > source
        y = middle - _BOX_H / 2 if forward else middle + _BOX_H / 2
        bend = (y - _BOX_H * (1 + abs(target - source) / 2)) if forward else \
            (y + _BOX_H * (1 + abs(target - source) / 2))
        x1, x2 = centre[source], centre[target]
        parts.append(f'<path d="M {x1:.0f} {y:.0f} Q {(x1 + x2) / 2:.0f} {bend:.0f} {x2:.0f} {y:.0f}" fill="none" '
                     f'stroke="#555" marker-end="url(#arrow)"/>')
    for (label, style), x in zip(boxes, centre):
        stroke = 'stroke-width="3"' if style == "final" else 'stroke-width="1"'
        parts.append(f'<rect x="{x - _BOX_W / 2:.0f}" y="{middle - _BOX_H / 2:.0f}" width="{_BOX_W}" '
                     f'height="{_BOX_H}" rx="8" fill="#f4f7fb" stroke="#333" {stroke}/>')
        parts.append(f'<text x="{x:.0f}" y="{middle + 4:.0f}" text-anchor="middle">{html.escape(label[:18])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def level_conditions(loaded: LoadedPolicy) -> list[str]:
    """What reaches each level of an escalation, in words (the ladder diagram's labels)."""
    sentences = explain(loaded)
    return [s.zh.split("：当", 1)[-1].split("时进入")[0] for s in sentences if "时进入" in s.zh]


def fired_summary(fired: Iterable[Fired]) -> list[tuple[str, int]]:
    """(action, count) in the order first fired."""
    return list(Counter(str(f["action"]) for f in fired).items())


def policy_markdown(loaded: LoadedPolicy, fired: Sequence[Fired] = (),
                    results: Sequence[TestResult] | None = None, throttled: int = 0) -> str:
    policy = loaded.policy
    sentences = explain(loaded)
    lines = [f"### {policy.title}", f"`{policy.id}` v{policy.version} · {_KIND_ZH[policy.kind]} ({policy.kind}) · "
             f"{policy.owner}", "", *[f"- {s.zh}" for s in sentences], "", *[f"- {s.en}" for s in sentences], "",
             "**测试 / Tests**"]
    for index, test in enumerate(policy.tests):
        outcome = "" if results is None else (" ✅" if results[index].passed else " ❌ " + "; ".join(
            results[index].failures))
        lines.append(f"- {test.name}{outcome}")
    lines += ["", f"**本次触发的动作 / Actions fired in this run: {len(fired)}**"]
    lines += [f"- {action}: {count}" for action, count in fired_summary(fired)]
    if loaded.policy.throttle is not None:
        lines.append(f"- 限频未触发 / kept silent by the throttle: {throttled}")
    return "\n".join(lines)


def catalogue_html(policies: Sequence[LoadedPolicy], results: Mapping[str, Sequence[TestResult]],
                   fired: Sequence[Fired], run_label: str = "") -> str:
    """One self-contained page for all policies (no scripts, no external files)."""
    by_policy: dict[str, list[Fired]] = {}
    for record in fired:
        by_policy.setdefault(str(record["policy_id"]), []).append(record)
    body = [f"<h1>策略目录 / Policy catalogue</h1><p>{len(policies)} 条策略 / policies"
            f"{' · 最近一次运行 / last run: ' + html.escape(run_label) if run_label else ''}</p>",
            "<ul>" + "".join(f'<li><a href="#{html.escape(p.id)}">{html.escape(p.policy.title)}</a> '
                             f'<code>{html.escape(p.id)}</code></li>' for p in policies) + "</ul>"]
    for loaded in policies:
        body.append(_policy_section(loaded, results.get(loaded.id, []), by_policy.get(loaded.id, [])))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}section{border-top:1px solid "
             "#ccc;margin-top:2em}.pass{color:#070}.fail{color:#a00}td,th{padding:2px 8px;text-align:left}")
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>策略目录 / Policy catalogue'
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _policy_section(loaded: LoadedPolicy, results: Sequence[TestResult], fired: Sequence[Fired]) -> str:
    policy = loaded.policy
    sentences = explain(loaded)
    tests = "".join(
        f'<tr><td>{html.escape(r.name)}</td><td class="{"pass" if r.passed else "fail"}">'
        f'{"通过 / passed" if r.passed else "失败 / failed: " + html.escape("; ".join(r.failures))}</td></tr>'
        for r in results)
    actions = "".join(f"<tr><td>{html.escape(action)}</td><td>{count}</td></tr>"
                      for action, count in fired_summary(fired))
    return (f'<section id="{html.escape(policy.id)}"><h2>{html.escape(policy.title)}</h2>'
            f"<p><code>{html.escape(policy.id)}</code> v{policy.version} · {_KIND_ZH[policy.kind]} · "
            f"{html.escape(policy.owner)} · <code>{html.escape(loaded.path.name)}</code></p>"
            f'<div lang="zh">{"".join(f"<p>{html.escape(s.zh)}</p>" for s in sentences)}</div>'
            f'<div lang="en">{"".join(f"<p>{html.escape(s.en)}</p>" for s in sentences)}</div>'
            f"<h3>图 / Diagram</h3>{chart_svg(policy, level_conditions(loaded))}"
            f"<h3>测试 / Tests</h3><table>{tests}</table>"
            f"<h3>最近一次运行触发的动作 / Actions fired in the last run: {len(fired)}</h3>"
            f"<table>{actions}</table></section>")
