"""The tiny, safe template language of action parameters: `{{ alias.field }}` and nothing else (no eval, no filters).

Policy authors write messages such as "重点点位摄像机 {{ m.name }} 离线"; the loader checks every placeholder against
the event catalogue and the engine fills it from the matched event. A parameter that is exactly one placeholder
keeps the field's type (a number stays a number) so the action's parameter model can check it as a number.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class RenderError(ValueError):
    """A placeholder that cannot be filled from the matched events."""


def placeholders(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text)]


def is_whole_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.fullmatch(value.strip()) is not None


def leftover_braces(text: str) -> bool:
    """`{{ name }}`, `{{ m.name | upper }}` and stray braces would otherwise reach an alert verbatim."""
    rest = PLACEHOLDER.sub("", text)
    return "{{" in rest or "}}" in rest


def walk_strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(pointer, text) of every string inside nested dicts and lists."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{pointer}/{index}")


def _lookup(bindings: Mapping[str, Mapping[str, Any]], alias: str, field: str) -> Any:
    if alias not in bindings:
        raise RenderError(f"模板引用了未绑定的别名 {alias} / unbound alias {alias!r}")
    value = bindings[alias].get(field)
    if value is None:
        raise RenderError(f"匹配事件缺少字段 {alias}.{field} / matched event has no value for {alias}.{field}")
    return value


def render(value: Any, bindings: Mapping[str, Mapping[str, Any]]) -> Any:
    """A copy of `value` with every placeholder filled; raises RenderError naming the first unfillable one."""
    if isinstance(value, dict):
        return {key: render(item, bindings) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, bindings) for item in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return _lookup(bindings, whole.group(1), whole.group(2))
    return PLACEHOLDER.sub(lambda m: str(_lookup(bindings, m.group(1), m.group(2))), value)
