"""The small, safe template language of action parameters (no eval):

    {{ call_id }}              a field of the matched event (`m`), by its name in the event catalogue
    {{ first.time }}           an alias's field; `time` is the event's own time field, whatever it is called
    {{ count }}                a policy variable: the number of events a window counted
    {{ first.time | 日期 }}    a filter: 日期 / date_zh (2025年3月1日 08:00), 时长 / duration_zh (minutes → 2小时5分钟)

Policy authors write messages such as "重点点位摄像机 {{ camera_id }} 离线"; the loader checks every name and filter
at check time, and the engine fills them from the matched events. A parameter that is exactly one placeholder
without a filter keeps the field's type (a number stays a number), so the action's model can check it as a number.
An optional parameter (one the action does not require, e.g. a work order's assignee) that is exactly one
placeholder is left out when the matched event lacks the field: "send it to the contractor, when known" needs no
second rule, and the parameter's default applies. Anywhere else a missing field is an error (RenderError).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Collection, Iterator, Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*"
                         r"(?:\|\s*([^\s{}|]+)\s*)?\}\}")
TIME = "time"  # `alias.time`: the event type's time field
VARIABLES = ("count",)  # names that are not event fields


class RenderError(ValueError):
    """A placeholder that cannot be filled from the matched events."""


class MissingValue(RenderError):
    """The matched event has no value for the placeholder's field (the others are caught at check time)."""


@dataclass(frozen=True)
class Placeholder:
    alias: str | None  # None for a policy variable
    field: str
    filter: str | None


def _date_zh(value: Any) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise RenderError(f"{value!r} 不是时间 / not a time") from None
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"


def _duration_zh(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RenderError(f"{value!r} 不是分钟数 / not a number of minutes")
    minutes = int(round(value))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{minutes}分钟" if minutes else ""]
    return "".join(parts) or "0分钟"


FILTERS: dict[str, Callable[[Any], str]] = {"日期": _date_zh, "date_zh": _date_zh, "时长": _duration_zh,
                                            "duration_zh": _duration_zh}
FILTER_NEEDS = {"日期": "timestamp", "date_zh": "timestamp", "时长": "number", "duration_zh": "number"}


def _placeholder(match: re.Match) -> Placeholder:
    first, second, filter_name = match.group(1), match.group(2), match.group(3)
    if second is not None:
        return Placeholder(first, second, filter_name)
    if first in VARIABLES:
        return Placeholder(None, first, filter_name)
    return Placeholder("m", first, filter_name)  # a bare name is a field of the matched event


def placeholders(text: str) -> list[Placeholder]:
    return [_placeholder(m) for m in PLACEHOLDER.finditer(text)]


def is_whole_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.fullmatch(value.strip()) is not None


def leftover_braces(text: str) -> bool:
    """`{{ m.name | upper | x }}`, `{{ 1 + 2 }}` and stray braces would otherwise reach an alert verbatim."""
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


def _lookup(bindings: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any], place: Placeholder) -> Any:
    if place.alias is None:
        if place.field not in variables:
            raise RenderError(f"模板变量 {place.field} 在此策略中不可用 / {place.field!r} is not available here")
        value = variables[place.field]
    elif place.alias not in bindings:
        raise RenderError(f"模板引用了未绑定的别名 {place.alias} / unbound alias {place.alias!r}")
    else:
        value = bindings[place.alias].get(place.field)
    if value is None:
        raise MissingValue(f"匹配事件缺少字段 {place.alias}.{place.field} / matched event has no value for "
                          f"{place.alias}.{place.field}")
    return FILTERS[place.filter](value) if place.filter else value


def render(value: Any, bindings: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any] | None = None,
           optional: Collection[str] = ()) -> Any:
    """A copy of `value` with every placeholder filled; raises RenderError naming the first unfillable one.
    `optional`: the names of `value`'s (a parameter dict's) optional parameters, left out when unfillable."""
    variables = variables or {}
    if isinstance(value, dict):
        rendered = {}
        for key, item in value.items():
            try:
                rendered[key] = render(item, bindings, variables)
            except MissingValue:
                if key not in optional or not is_whole_placeholder(item):
                    raise
        return rendered
    if isinstance(value, list):
        return [render(item, bindings, variables) for item in value]
    if not isinstance(value, str):
        return value
    whole, parts = _parsed(value)
    if whole is not None:
        return _lookup(bindings, variables, whole)
    return "".join(part if isinstance(part, str) else str(_lookup(bindings, variables, part)) for part in parts)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Placeholder | None, tuple[str | Placeholder, ...]]:
    """The text as one whole placeholder, or as literal pieces and placeholders in order. Cached: the engine renders
    the same few policy texts on every firing, and matching them was most of rendering's cost."""
    whole = PLACEHOLDER.fullmatch(text.strip())
    if whole:
        return _placeholder(whole), ()
    parts: list[str | Placeholder] = []
    at = 0
    for match in PLACEHOLDER.finditer(text):
        parts += [text[at:match.start()], _placeholder(match)]
        at = match.end()
    parts.append(text[at:])
    return None, tuple(parts)
