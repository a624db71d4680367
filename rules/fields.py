"""Does a value fit an event field of the standards catalogue? Shared by the policy loader and the engine's ingest.

durable-rules coerces between text and numbers (a rule `use_type == "3"` matches the integer 3, `v > 10` matches
'abc'), so a value of the wrong type would silently change what a policy means. Types are therefore checked
before anything reaches the engine: strictly (type, pattern, length, range, code table) for values that authors
write into policy files, and by type only for live events, whose content the silver validator has already checked.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from safecity.standards.catalogue import CodeTable, Element

TYPE_ZH = {"string": "文本", "integer": "整数", "number": "数值", "boolean": "布尔值 true/false",
           "timestamp": "带时区的 ISO 8601 时间文本"}
NUMERIC = frozenset({"integer", "number"})


def _fits_type(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind in ("string", "timestamp"):
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return False


def value_problem(element: Element, value: Any, code_tables: Mapping[str, CodeTable], *,
                  full: bool = True) -> str | None:
    """A bilingual description of why `value` cannot be a value of `element`, or None when it fits."""
    label = f"{element.id}（{element.name_zh}）"
    if not _fits_type(element.type, value):
        hint_zh = "；代码请加引号" if element.type == "string" and isinstance(value, (int, float)) else ""
        return (f"{label} 应为{TYPE_ZH[element.type]}，实际为 {value!r}{hint_zh} / "
                f"{element.id} must be a {element.type}, got {value!r}")
    if not full:
        return None
    if element.type == "timestamp":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return (f"{label} 应为带时区的 ISO 8601 时间，实际为 {value!r} / "
                    f"{element.id} must be an ISO 8601 time with a zone offset, got {value!r}")
    if element.type == "string":
        if element.pattern and not re.fullmatch(element.pattern, value):
            return (f"{label} 不符合格式 {element.pattern}：{value!r} / "
                    f"{value!r} does not match {element.id}'s pattern {element.pattern}")
        if element.max_length and len(value) > element.max_length:
            return (f"{label} 超过最大长度 {element.max_length} / "
                    f"{element.id} is longer than {element.max_length} characters")
        if element.code_table:
            table = code_tables[element.code_table]
            if value not in table.codes_set():
                listing = "，".join(f"{c.code} {c.name_zh}" for c in table.codes[:12])
                more = " …" if len(table.codes) > 12 else ""
                return (f"{value!r} 不是代码表 {table.id}（{table.name_zh}）中的代码：{listing}{more} / "
                        f"{value!r} is not a code of {table.id}")
    if element.type in NUMERIC:
        if element.minimum is not None and value < element.minimum or \
                element.maximum is not None and value > element.maximum:
            return (f"{label} 超出取值范围 [{element.minimum}, {element.maximum}]：{value!r} / "
                    f"{value!r} is outside {element.id}'s range [{element.minimum}, {element.maximum}]")
    return None
