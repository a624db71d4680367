"""Does a value fit an event field of the standards catalogue? Shared by the policy loader and the engine's ingest.

durable-rules coerces between text and numbers (a rule `use_type == "3"` matches the integer 3, `v > 10` matches
'abc'), so a value of the wrong type would silently change what a policy means. Types are therefore checked
before anything reaches the engine: strictly (type, pattern, length, range, code table) for values that authors
write into policy files, and by type only for live events, whose content the silver validator has already checked.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from safecity.standards.catalogue import Catalogue, Element
from safecity.standards.single import check_value

REASON_TEXT = {"E_FUTURE_TIME": ("晚于当前时间", "in the future"), "E_TYPE": ("类型不符", "wrong type")}
TYPE_ZH = {"string": "文本", "integer": "整数", "number": "数值", "boolean": "布尔值 true/false",
           "timestamp": "带时区的 ISO 8601 时间文本"}
NUMERIC = frozenset({"integer", "number"})


def fits_type(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind in ("string", "timestamp"):
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return False


def value_problem(element: Element, value: Any, catalogue: Catalogue, *, full: bool = True) -> str | None:
    """A bilingual description of why `value` cannot be a value of `element`, or None when it fits."""
    if not fits_type(element.type, value):
        hint_zh = "；代码请加引号" if element.type == "string" and isinstance(value, (int, float)) else ""
        return (f"{element.id}（{element.name_zh}） 应为{TYPE_ZH[element.type]}，实际为 {value!r}{hint_zh} / "
                f"{element.id} must be a {element.type}, got {value!r}")
    if not full:
        return None
    # Built only past the type test: the engine asks about every field of every live event, nearly all fitting.
    label = f"{element.id}（{element.name_zh}）"
    if element.type == "timestamp":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return (f"{label} 应为带时区的 ISO 8601 时间，实际为 {value!r} / "
                    f"{element.id} must be an ISO 8601 time with a zone offset, got {value!r}")
    # Pattern, format, length, code table and range: the standards' own check of the value, so a policy threshold
    # is judged exactly as the data it will be compared with.
    reason = check_value(catalogue, element, value if not isinstance(value, bool) else str(value).lower())
    if reason is None:
        return None
    if reason.code == "E_CODE" and element.code_table:
        table = catalogue.code_tables[element.code_table]
        listing = "，".join(f"{c.code} {c.name_zh}" for c in table.codes[:12])
        more = " …" if len(table.codes) > 12 else ""
        return (f"{value!r} 不是代码表 {table.id}（{table.name_zh}）中的代码：{listing}{more} / "
                f"{value!r} is not a code of {table.id}")
    if reason.code == "E_RANGE":
        return (f"{label} 超出取值范围 [{element.minimum}, {element.maximum}]：{value!r} / "
                f"{value!r} is outside {element.id}'s range [{element.minimum}, {element.maximum}]")
    if reason.code == "E_FORMAT":
        pattern = catalogue.pattern_of(element)
        return (f"{label} 不符合格式 {element.format or pattern}：{value!r} / "
                f"{value!r} does not match {element.id}'s format {element.format or pattern}")
    zh, en = REASON_TEXT.get(reason.code, ("不符合标准", "does not conform"))
    return f"{label}：{zh}：{value!r} / {element.id}: {en}: {value!r}"
    return None
