"""The condition grammar (rules/expressions.py) and the new conditions running on the real engine."""
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.rules.compiler import compile_policy
from safecity.rules.expressions import ExpressionError, Test, alternatives, parse, text_of
from safecity.rules.loader import load_policy
from safecity.rules.policy import Condition
from safecity.rules.testing import run_policy_tests


def _alternatives(text):
    return [[t.text() for t in conjunction] for conjunction in alternatives(parse(text))]


@pytest.mark.parametrize("text, expected", [
    ("deaths >= 30", [["deaths >= 30"]]),
    ("category in [010000, 040000]", [["category in [010000, 040000]"]]),
    ("text contains 火", [["text contains 火"]]),
    ("a == 1 or b != x and c < 2", [["a == 1"], ["b != x", "c < 2"]]),
    ("(a == 1 or b == 2) and c > 3", [["a == 1", "c > 3"], ["b == 2", "c > 3"]]),
    ("not (a >= 3 and b in [1, 2])", [["a < 3"], ["b not in [1, 2]"]]),
    ("not not a = 1", [["a == 1"]]),
    ("a not in [x, y]", [["a not in [x, y]"]]),
])
def test_alternatives_in_written_order(text, expected):
    assert _alternatives(text) == expected


def test_values_are_typed_by_how_they_are_written():
    values = [t.value for t in parse('a == 010000 or a == 12 or a == 1.5 or a == "12" or a == true or a == 火')
              .items]
    assert values == ["010000", 12, 1.5, "12", True, "火"]


@pytest.mark.parametrize("text, code, column", [
    ("deaths >=", "E_EXPR_SYNTAX", 10),
    ("deaths >= 3 3", "E_EXPR_SYNTAX", 13),
    ("(a == 1", "E_EXPR_SYNTAX", 8),
    ("a in [1 2]", "E_EXPR_SYNTAX", 9),
    ("a ~ 1", "E_EXPR_SYNTAX", 3),
])
def test_syntax_errors_carry_the_column(text, code, column):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert (caught.value.code, caught.value.column) == (code, column)


def test_not_contains_has_no_engine_form():
    with pytest.raises(ExpressionError) as caught:
        alternatives(parse("a == 1 and not b contains 火"))
    assert (caught.value.code, caught.value.column) == ("E_EXPR_NOT", 16)


def test_text_round_trip():
    tree = parse("not (a >= 3 and b in [1, 2]) or c contains 火")
    assert text_of(parse(text_of(tree))) == text_of(tree)
    assert isinstance(parse("a == 1"), Test)


def test_condition_merges_where_and_expressions():
    condition = Condition.model_validate({"event": "e", "where": {"x": 1}, "any": ["y >= 2", "y != 1 and y != 4"]})
    assert [{f: c.operators() for f, c in alt.items()} for alt in condition.alternatives()] == [
        {"x": [("eq", 1)], "y": [("gte", 2)]}, {"x": [("eq", 1)], "y": [("not_in", [1, 4])]}]


POLICY = """\
id: command.fire_keyword
version: 1
title: 警情内容含火情且非测试类别时告警
owner: 指挥中心
priority: 3
partition_by: call_id
when:
  event: alarm_received
  any: [content contains 火, content contains 烟]
  not: "category in [010000, 020000]"
actions:
  - { action: raise_alert, params: { level: warning, channel: ops_center, message: "警情 {{ m.call_id }} 疑似火情" } }
tests:
  - name: 含火字 (content mentions fire)
    given: [ { event: alarm_received, call_id: C1, content: 小区三楼起火, category: "050000", received_at: "2025-03-01T08:00:00+08:00" } ]
    expect: [ { action: raise_alert, params: { message: 警情 C1 疑似火情 } } ]
  - name: 含烟字 (content mentions smoke)
    given: [ { event: alarm_received, call_id: C2, content: 楼道冒烟, category: "050000", received_at: "2025-03-01T08:00:00+08:00" } ]
    expect: [ { action: raise_alert } ]
  - name: 排除的类别 (excluded category)
    given: [ { event: alarm_received, call_id: C3, content: 起火, category: "010000", received_at: "2025-03-01T08:00:00+08:00" } ]
    expect: []
  - name: 无关内容 (unrelated content)
    given: [ { event: alarm_received, call_id: C4, content: 噪音扰民, category: "050000", received_at: "2025-03-01T08:00:00+08:00" } ]
    expect: []
"""


def test_any_not_contains_run_on_the_engine(write_policy):
    loaded = load_policy(write_policy(POLICY))
    assert len(loaded.rules) == 2  # one engine rule per alternative of `any`
    results = run_policy_tests(loaded)
    assert [(r.name, r.failures) for r in results if not r.passed] == []
    assert [len(r.fired) for r in results] == [1, 1, 0, 0]
    ruleset = compile_policy(loaded.policy)["command_fire_keyword"]
    assert {"$mt": {"content": ".*火.*"}} in ruleset["r0"]["all"][0]["m"]["$and"]
    assert {"$neq": {"category": "010000"}} in ruleset["r0"]["all"][0]["m"]["$and"]


def test_wrong_expectation_fails_on_the_engine(write_policy):
    loaded = load_policy(write_policy(POLICY.replace("category: \"050000\", received_at", "category: \"020000\", "
                                                     "received_at", 1)))
    assert [r.passed for r in run_policy_tests(loaded)] == [False, True, True, True]


WINDOW_POLICY = """\
id: command.congestion_wording
version: 1
title: 路口拥堵文字测试
owner: 交警支队指挥中心
priority: 3
partition_by: junction_id
when:
  event: congestion_reading
  all: [congestion_index >= 8]
  window: count >= 2 within 2h by junction_id
actions:
  - action: raise_alert
    params: { level: warning, channel: ops, message: "{{ junction_id }} 自 {{ first.time | 日期 }} 起 {{ count }} 次拥堵，指数 {{ last.congestion_index }}，持续 {{ span | 时长 }}" }
tests:
  - name: 两次拥堵 (twice)
    given:
      - { event: congestion_reading, junction_id: J1, congestion_index: 8.5, ts: "2025-03-01T08:00:00+08:00" }
      - { event: congestion_reading, junction_id: J1, congestion_index: 9.5, ts: "2025-03-01T09:35:00+08:00" }
    expect:
      - { action: raise_alert, params: { message: "J1 自 2025年3月1日 08:00 起 2 次拥堵，指数 9.5，持续 1小时35分钟" } }
  - name: 一次不够 (once is not enough)
    given: [ { event: congestion_reading, junction_id: J2, congestion_index: 9.0, ts: "2025-03-01T08:00:00+08:00" } ]
    expect: []
"""


def test_templates_use_policy_names_and_chinese_filters(write_policy):
    with pytest.raises(YamlFileError) as caught:  # `span` is no name of the policy: an error at check time
        load_policy(write_policy(WINDOW_POLICY))
    assert "E_TEMPLATE" in str(caught.value) and "span" in str(caught.value)


def test_templates_render_on_the_engine(write_policy):
    text = WINDOW_POLICY.replace("持续 {{ span | 时长 }}", "").replace("，持续 1小时35分钟", "，")
    loaded = load_policy(write_policy(text))
    results = run_policy_tests(loaded)
    assert [(r.name, r.failures) for r in results if not r.passed] == []
    assert results[0].fired[0][1]["message"] == "J1 自 2025年3月1日 08:00 起 2 次拥堵，指数 9.5，"


@pytest.mark.parametrize("minutes, text", [(0, "0分钟"), (45, "45分钟"), (95, "1小时35分钟"), (1500, "1天1小时")])
def test_duration_filter(minutes, text):
    from safecity.rules.templates import render
    assert render("{{ m.offline_minutes | 时长 }}", {"m": {"offline_minutes": minutes}}) == text


def test_complete_examples_of_the_format_document_load(tmp_path):
    import re
    from pathlib import Path
    doc = (Path(__file__).parents[2] / "docs" / "policy-format.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("id:")]
    assert len(blocks) >= 2
    for index, block in enumerate(blocks):
        path = tmp_path / f"example{index}.yaml"
        path.write_text(block, encoding="utf-8")
        loaded = load_policy(path)
        assert all(r.passed for r in run_policy_tests(loaded))
