"""A policy in plain sentences (策略的白话说明), Chinese and English, for `safecity rules explain`, the HTML catalogue
and the Dagster asset: what staff would say when asked what the policy does.

Fields, events and actions are named by their catalogue names (死亡人数, 警情评估, 启动应急预案), never by the engine's
aliases; the sentences are built from the same models the engine compiles, so they cannot describe another policy.
"""
from __future__ import annotations

from dataclasses import dataclass


from safecity.rules.actions import ACTIONS
from safecity.rules.escalation import entry_actions
from safecity.rules.loader import LoadedPolicy
from safecity.rules.policy import ActionCall, Comparison, Condition, Correlation
from safecity.rules.shape import Match
from safecity.standards.catalogue import Catalogue, load_catalogue

_OP_ZH = {"eq": "为", "ne": "不为", "gt": "大于", "gte": "不少于", "lt": "小于", "lte": "不超过", "in": "为以下之一：",
          "not_in": "不为以下任何一个：", "contains": "包含"}
_OP_EN = {"eq": "is", "ne": "is not", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "is one of",
          "not_in": "is none of", "contains": "contains"}
_AUDIENCE_ZH = {"duty_leader": "值班领导", "bureau_leader": "局领导", "city_leader": "市领导"}


@dataclass(frozen=True)
class Sentence:
    zh: str
    en: str


class _Words:
    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue

    def event(self, name: str) -> tuple[str, str]:
        event = self.catalogue.events.get(name)
        return (f"「{event.name_zh}」", f"'{event.name_en}'") if event else (name, name)

    def field(self, event: str, name: str) -> tuple[str, str]:
        fields = {e.id: e for e in self.catalogue.event_fields(event)} if event in self.catalogue.events else {}
        element = fields.get(name)
        return (element.name_zh, element.name_en.lower()) if element else (name, name)

    def tests(self, event: str, where: dict[str, Comparison]) -> tuple[str, str]:
        zh, en = [], []
        for field, comparison in where.items():
            name_zh, name_en = self.field(event, field)
            for op, value in comparison.operators():
                shown = "、".join(map(str, value)) if isinstance(value, list) else str(value)
                zh.append(f"{name_zh}{_OP_ZH[op]}{'“' + shown + '”' if op == 'contains' else shown}")
                en.append(f"{name_en} {_OP_EN[op]} {', '.join(map(str, value)) if isinstance(value, list) else value}")
        return "且".join(zh), " and ".join(en)

    def condition(self, condition: Condition | Match) -> tuple[str, str]:
        event = condition.event if isinstance(condition, Condition) else condition.type
        options = condition.alternatives() if isinstance(condition, Condition) else [condition.where]
        event_zh, event_en = self.event(event)
        parts = [self.tests(event, where) for where in options]
        parts = [p for p in parts if p[0]]
        if not parts:
            return f"收到{event_zh}", f"an event {event_en} arrives"
        return (f"收到{event_zh}且{'，或'.join(p[0] for p in parts)}",
                f"an event {event_en} arrives with {' or '.join(p[1] for p in parts)}")

    def actions(self, calls: list[ActionCall] | tuple[ActionCall, ...]) -> tuple[str, str]:
        if not calls:
            return "不执行动作", "no action"
        zh, en = [], []
        for call in calls:
            spec = ACTIONS.get(call.action)
            text = call.params.get("message") or call.params.get("reason") or call.params.get("description")
            level = f" {call.params['level']} 级" if call.action == "activate_emergency_plan" else ""
            audience = f"（{_AUDIENCE_ZH.get(call.params.get('audience'), '')}）" if "audience" in call.params else ""
            zh.append(f"{spec.name_zh if spec else call.action}{level}{audience}" + (f"：{text}" if text else ""))
            en.append(call.action.replace("_", " ") + (f" {call.params['level']}" if level else "")
                      + (f" to {call.params['audience'].replace('_', ' ')}" if audience else ""))
        return "；".join(zh), "; ".join(en)


def explain(loaded: LoadedPolicy, catalogue: Catalogue | None = None) -> list[Sentence]:
    words = _Words(catalogue or load_catalogue())
    policy = loaded.policy
    event = next(iter(sorted(policy.subscribed_events)), "")
    key_zh, key_en = words.field(event, policy.partition_by)
    sentences = [Sentence(f"{policy.title}（{policy.id}，第 {policy.version} 版，{policy.owner}）。",
                          f"Policy {policy.id} version {policy.version}, owned by {policy.owner}."),
                 Sentence(f"按{key_zh}分别判断。", f"Each {key_en} is judged on its own.")]
    body = {"escalation": _ladder, "statechart": _chart, "decision_table": _table}.get(policy.kind, _rule)
    sentences += body(loaded, words)
    if policy.throttle is not None:
        by_zh, by_en = words.field(event, policy.throttle_key or "")
        span_zh, span_en = _duration(policy.throttle.within)
        sentences.append(Sentence(f"同一{by_zh}在 {span_zh}内（按事件时间）只触发一次。",
                                  f"At most once per {by_en} within {span_en} (event time)."))
    return sentences


def _rule(loaded: LoadedPolicy, words: _Words) -> list[Sentence]:
    policy = loaded.policy
    actions = words.actions(policy.actions)
    if isinstance(policy.when, Correlation):
        trigger = policy.when.trigger
        event = words.condition(Condition(event=trigger.type, where=trigger.where))
        facts = [words.event(p.type) for p in policy.when.all if p.fact is not None]
        return [Sentence(f"当{event[0]}，而同一{'、'.join(f[0] for f in facts)}仍然成立时：{actions[0]}。",
                         f"When {event[1]} while {', '.join(f[1] for f in facts)} holds: {actions[1]}.")]
    assert isinstance(policy.when, Condition)
    condition = words.condition(policy.when)
    window = policy.when.window
    if window is not None:
        span_zh, span_en = _duration(window.within)
        return [Sentence(f"{span_zh}内（按事件时间）{window.count} 次{condition[0]}时：{actions[0]}。",
                         f"When {window.count} times within {span_en} (event time) {condition[1]}: {actions[1]}.")]
    return [Sentence(f"当{condition[0]}时：{actions[0]}。", f"When {condition[1]}: {actions[1]}.")]


def _ladder(loaded: LoadedPolicy, words: _Words) -> list[Sentence]:
    policy = loaded.policy
    levels = policy.levels or []
    names = "、".join(f"{lv.level}（{lv.name}）" if lv.name else lv.level for lv in levels)
    sentences = [Sentence(f"分 {len(levels)} 级，从重到轻为 {names}。",
                          f"{len(levels)} levels, most severe first: {', '.join(lv.level for lv in levels)}.")]
    for level in levels:
        reach = [words.condition(c) for c in level.when]
        actions = words.actions(entry_actions(level))
        sentences.append(Sentence(f"{level.level} 级{('（' + level.name + '）') if level.name else ''}：当"
                                  f"{'，或'.join(r[0] for r in reach)}时进入，进入时{actions[0]}。",
                                  f"Level {level.level} is entered when {' or '.join(r[1] for r in reach)}; on "
                                  f"entering: {actions[1]}."))
    sentences.append(Sentence("一次评估达到几个级别时进入最严重的级别；" + ("级别只升不降，同级不重复启动。" if policy.only_up
                                                           else "级别可升可降。"),
                              "When several levels are reached at once the most severe wins; " +
                              ("levels only go up." if policy.only_up else "levels may go down.")))
    if policy.close is not None:
        close = words.condition(policy.close)
        sentences.append(Sentence(f"当{close[0]}时结束。", f"It ends when {close[1]}."))
    return sentences


def _chart(loaded: LoadedPolicy, words: _Words) -> list[Sentence]:
    policy = loaded.policy
    sentences = [Sentence(f"开始时处于“{policy.chart_initial}”状态。", f"It starts in state {policy.chart_initial}.")]
    for name, state in policy.chart_states.items():
        if not state.transitions:
            sentences.append(Sentence(f"“{name}”是终止状态。", f"State {name} is final."))
        for transition in state.transitions:
            condition, actions = words.condition(transition.when), words.actions(transition.actions)
            sentences.append(Sentence(f"处于“{name}”时，若{condition[0]}，转到“{transition.to}”，{actions[0]}。",
                                      f"In {name}, when {condition[1]}: go to {transition.to}; {actions[1]}."))
    return sentences


def _table(loaded: LoadedPolicy, words: _Words) -> list[Sentence]:
    sentences = [Sentence(f"按决策表 {loaded.policy.table} 自上而下，第一条满足的行生效：",
                          f"Rows of {loaded.policy.table}, top to bottom; the first matching row fires:")]
    for rule in loaded.rules:
        condition, actions = words.condition(rule.matches[0]), words.actions(rule.actions)
        sentences.append(Sentence(f"第 {rule.priority} 行：当{condition[0]}时，{actions[0]}。",
                                  f"Row {rule.priority}: when {condition[1]}: {actions[1]}."))
    return sentences


def _duration(text: str) -> tuple[str, str]:
    number, unit = text[:-1], text[-1]
    return (f"{number} {dict(s='秒', m='分钟', h='小时', d='天')[unit]}",
            f"{number} {dict(s='seconds', m='minutes', h='hours', d='days')[unit]}")


def explain_text(loaded: LoadedPolicy, catalogue: Catalogue | None = None) -> str:
    """Chinese paragraph, then the English one."""
    sentences = explain(loaded, catalogue)
    return "\n".join(s.zh for s in sentences) + "\n\n" + "\n".join(s.en for s in sentences)
