"""Wrong policies written with the authoring constructs (expressions, windows in one line, escalation ladders):
each must be rejected with the expected code at the expected line and, inside an expression, column."""
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.rules.loader import load_policy

RULE = """\
id: test.authoring_case
version: 1
title: 测试策略
owner: 测试处
priority: 5
partition_by: incident_id
when:
  event: incident_assessed
  any: [{expr}]
actions:
  - {{ action: raise_alert, params: {{ level: warning, channel: ops_center, message: "警情 {{{{ m.incident_id }}}}" }} }}
"""

WINDOW = """\
id: test.window_case
version: 1
title: 测试窗口
owner: 测试处
priority: 5
partition_by: junction_id
when:
  event: congestion_reading
  window: {window}
  {extra}
actions:
  - {{ action: raise_alert, params: {{ level: warning, channel: ops_center, message: "路口 {{{{ m.junction_id }}}}" }} }}
"""

LADDER = """\
id: test.ladder_case
version: 1
kind: escalation
title: 测试升级
owner: 测试处
priority: 4
partition_by: incident_id
levels:
  - level: II
    when: { event: incident_assessed, any: [deaths >= 10] }
    actions: [ { action: activate_emergency_plan, params: { level: II, incident_id: "{{ m.incident_id }}" } } ]
    notify: { audience: bureau_leader, message: "警情 {{ m.incident_id }} 重大" }
  - level: III
    when: { event: incident_assessed, any: [deaths >= 3] }
    actions: [ { action: activate_emergency_plan, params: { level: III, incident_id: "{{ m.incident_id }}" } } ]
close: { event: incident_closed }
"""

WIDE = " and ".join(f"(deaths >= {i} or casualties >= {i})" for i in range(1, 6))  # 2**5 = 32 alternatives

# (case id, policy text, expected code, line, column or None). The expression of RULE starts at line 9, column 9.
EXPRESSION_CASES = [
    ("operator_without_value", "deaths >=", "E_EXPR_SYNTAX", 9, 18),
    ("arrow_instead_of_gte", "deaths => 3", "E_EXPR_SYNTAX", 9, 17),
    ("dangling_and", "deaths >= 3 and", "E_EXPR_SYNTAX", 9, 24),
    ("unclosed_parenthesis", "(deaths >= 3", "E_EXPR_SYNTAX", 9, 21),
    ("extra_parenthesis", "deaths >= 3)", "E_EXPR_SYNTAX", 9, 20),
    ("missing_operator", "deaths 3", "E_EXPR_SYNTAX", 9, 16),
    ("leading_keyword", "and deaths >= 3", "E_EXPR_SYNTAX", 9, 9),
    ("stray_word", "deaths >= 1 @ 2", "E_EXPR_SYNTAX", 9, 21),
    ("in_without_brackets", "casualties in 1, 2", "E_EXPR_SYNTAX", 9, 23),
    ("in_unclosed_list", '"casualties in [1, 2"', "E_EXPR_SYNTAX", 9, 29),
    ("contains_number", "deaths contains 3", "E_EXPR_SYNTAX", 9, 16),
    ("unknown_field", "deathz >= 3", "E_UNKNOWN_FIELD", 9, 9),
    ("unknown_field_second", "deaths >= 3 or injuries >= 1", "E_UNKNOWN_FIELD", 9, 24),
    ("text_for_number", "deaths >= abc", "E_TYPE", 9, 9),
    ("fraction_for_integer", "deaths >= 3.5", "E_TYPE", 9, 9),
    ("ordering_on_text", "incident_id > 3", "E_TYPE", 9, 9),
    ("list_item_wrong_type", '"casualties in [1, x]"', "E_TYPE", 9, 10),
    ("contains_on_number", "deaths contains x", "E_TYPE", 9, 9),
    ("not_contains", "not incident_id contains 火", "E_EXPR_NOT", 9, 13),
    ("contains_regex_text", "incident_id contains a.b", "E_EXPR_VALUE", 9, 9),
    ("same_test_twice", "deaths >= 3 and deaths >= 4", "E_EXPR_TWICE", 9, 25),
    ("too_many_alternatives", WIDE, "E_EXPR_WIDE", 9, 9),
    ("quoted_expression", '"deaths >= x"', "E_TYPE", 9, 10),
    ("empty_expression", '""', "E_EXPR_SYNTAX", 9, 10),
    ("nested_not_group", '{ not: "deaths >= x" }', "E_TYPE", 9, 17),
    ("nested_group_unknown_key", "{ oops: deaths >= 1 }", "E_UNKNOWN_KEY", 9, None),
]

WINDOW_CASES = [
    ("window_by_other_field", "count >= 3 within 30m by segment_id", "", "E_WINDOW", 9, None),
    ("window_count_too_large", "count >= 9 within 30m", "", "E_TYPE", 9, None),
    ("window_not_a_window", "three within 30m", "", "E_TYPE", 9, None),
    ("window_duration_in_words", "count >= 3 within 30 minutes", "", "E_TYPE", 9, None),
    ("window_with_alternatives", "count >= 3 within 30m", "any: [congestion_index >= 8, congestion_index < 1]",
     "E_WINDOW", 9, None),
    ("window_with_contains", "count >= 3 within 30m", "all: [segment_id contains x]", "E_WINDOW", 9, None),
    ("window_bad_field", "count >= 3 within 30m", "all: [speed >= 3]", "E_UNKNOWN_FIELD", 10, 9),
]


def _ladder(old: str, new: str) -> str:
    assert old in LADDER
    return LADDER.replace(old, new, 1)


LADDER_CASES = [
    ("level_twice", _ladder("  - level: III", "  - level: II"), "E_LEVEL", 13, None),
    ("level_bad_name", _ladder("level: III", 'level: "III-b"'), "E_TYPE", 13, None),
    ("one_level_only", LADDER.split("  - level: III")[0] + "close: { event: incident_closed }\n", "E_TYPE", 8, None),
    ("no_close", _ladder("close: { event: incident_closed }\n", ""), "E_REQUIRED", 1, None),
    ("close_unknown_event", _ladder("incident_closed }", "incident_close }"), "E_UNKNOWN_EVENT", 16, None),
    ("notify_unknown_audience", _ladder("audience: bureau_leader", "audience: mayor"), "E_TYPE", 12, None),
    ("notify_unknown_field", _ladder("警情 {{ m.incident_id }} 重大", "警情 {{ m.incident }} 重大"), "E_TEMPLATE",
     12, None),
    ("level_unknown_event", _ladder("{ event: incident_assessed, any: [deaths >= 3] }",
                                    "{ event: incident_assesed, any: [deaths >= 3] }"), "E_UNKNOWN_EVENT", 14, None),
    ("level_with_window", _ladder("any: [deaths >= 3] }", "any: [deaths >= 3], window: count >= 2 within 1h }"),
     "E_WINDOW", 14, None),
    ("level_expression_type", _ladder("any: [deaths >= 3]", "any: [deaths >= x]"), "E_TYPE", 14, 45),
    ("level_unknown_key", _ladder("    notify:", "    notfy:"), "E_UNKNOWN_KEY", 12, None),
    ("level_action_param", _ladder("params: { level: III,", "params: { level: V,"), "E_ACTION_PARAM", 15, None),
    ("ladder_with_states", LADDER + "states: { a: {} }\n", "E_KIND", 17, None),
    ("where_contains_regex", RULE.format(expr="deaths >= 1").replace(
        "  any: [deaths >= 1]", "  where: { incident_id: { contains: \"a*\" } }"), "E_TYPE", 9, None),
    ("where_contains_number_field", RULE.format(expr="deaths >= 1").replace(
        "  any: [deaths >= 1]", "  where: { deaths: { contains: x } }"), "E_TYPE", 9, None),
]

def _message(template: str) -> str:
    """RULE with its alert message replaced (line 11)."""
    return RULE.format(expr="deaths >= 1").replace("警情 {{ m.incident_id }}", template)


TEMPLATE_CASES = [
    ("template_unknown_bare_name", _message("警情 {{ incident }}"), "E_TEMPLATE", 11, None),
    ("template_count_without_window", _message("{{ count }} 次"), "E_TEMPLATE", 11, None),
    ("template_unknown_filter", _message("{{ ts | 日其 }}"), "E_TEMPLATE", 11, None),
    ("template_date_of_a_number", _message("{{ deaths | 日期 }}"), "E_TEMPLATE", 11, None),
    ("template_duration_of_text", _message("{{ incident_id | 时长 }}"), "E_TEMPLATE", 11, None),
    ("template_two_filters", _message("{{ ts | 日期 | 时长 }}"), "E_TEMPLATE", 11, None),
    ("template_unknown_alias_time", _message("{{ first.time }}"), "E_TEMPLATE", 11, None),
]

CASES = [(name, RULE.format(expr=expr), code, line, column) for name, expr, code, line, column in EXPRESSION_CASES]
CASES += TEMPLATE_CASES
CASES += [(name, WINDOW.format(window=window, extra=extra), code, line, column)
          for name, window, extra, code, line, column in WINDOW_CASES]
CASES += LADDER_CASES


def test_at_least_forty_wrong_policies():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name, text, code, line, column", CASES, ids=[c[0] for c in CASES])
def test_wrong_policy_is_rejected_at_its_place(tmp_path, name, text, code, line, column):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as caught:
        load_policy(path)
    found = [(p.code, p.line, p.column) for p in caught.value.problems]
    assert (code, line, column) in found, f"{found}\n{caught.value}"
    assert all("/" in p.message for p in caught.value.problems)  # Chinese / English


@pytest.mark.parametrize("expr", ["deaths >= 30", '"casualties in [1, 2]"', "incident_id contains 火",
                                  "not (deaths >= 3 and casualties < 10)"])
def test_the_base_policies_are_valid(tmp_path, expr):
    for text in (RULE.format(expr=expr), WINDOW.format(window="count >= 3 within 30m by junction_id", extra=""),
                 LADDER):
        path = tmp_path / "ok.yaml"
        path.write_text(text, encoding="utf-8")
        load_policy(path)


def test_formula_cells_in_a_decision_table_are_rejected(write_policy, tmp_path):
    (tmp_path / "t.csv").write_text(
        "casualties >,action,level,channel,message\n"
        "-1,raise_alert,info,ops,负数阈值不是公式\n"
        "=1+1,raise_alert,info,ops,x\n"
        "3,raise_alert,info,ops,@SUM(A1)\n"
        "4,raise_alert,info,ops,+86 电话\n", encoding="utf-8")
    path = write_policy("""
        id: command.table_formulas
        version: 1
        kind: decision_table
        title: 决策表公式
        owner: 指挥中心
        priority: 2
        partition_by: call_id
        table: t.csv
        when: { event: alarm_received }
    """)
    with pytest.raises(YamlFileError) as caught:
        load_policy(path)
    formulas = [(p.line, p.column, p.pointer) for p in caught.value.problems if p.code == "E_TABLE_FORMULA"]
    assert formulas == [(3, 1, "/rows/1/0"), (4, 5, "/rows/2/4"), (5, 5, "/rows/3/4")]
