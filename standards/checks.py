"""The checks an entity's elements demand, planned once from the catalogue and run two ways.

`plan(catalogue, entity)` turns the element specifications into a list of checks in a fixed order of precedence.
`conform.py` renders the plan as one DuckDB statement for whole batches; `RowChecker` here runs the same plan on
one row in Python (for pydantic models, APIs and small inputs). Both read the text forms below, so a value is
judged the same way by both; a property test holds them to it.

One reason per field, the first that applies: E_REQUIRED, E_TYPE, E_FORMAT, E_CODE, E_RANGE, E_FUTURE_TIME.
Then the entity's own checks: E_OUT_OF_AREA, E_ORDER (and E_DUPLICATE_KEY, which needs the whole batch).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache

from safecity.standards.catalogue import Catalogue, Element, Entity

# Text forms accepted for typed values; anything else is E_TYPE. Shared by SQL and Python.
TEXT_FORMS = {
    "integer": r"^[+-]?[0-9]{1,18}$",
    "number": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$",
    "boolean": r"^(true|false|TRUE|FALSE|True|False|1|0)$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?(Z|[+-][0-9]{2}:[0-9]{2})?$",
}
OFFSET_SUFFIX = r"(Z|[+-][0-9]{2}:[0-9]{2})$"
# A timestamp in the accepted text form whose clock cannot be: hour 24 and beyond, minute or second 60 and beyond,
# an offset beyond ±14:00 (the widest in use) or with 60 minutes or more. A range error, not a type error.
OFF_THE_CLOCK = (r"[ T](2[4-9]|[3-9][0-9]):|[ T][0-9]{2}:[6-9][0-9]|[ T][0-9]{2}:[0-9]{2}:[6-9][0-9]"
                 r"|[+-](1[5-9]|[2-9][0-9]):[0-9]{2}$|[+-]14:(0[1-9]|[1-5][0-9])$|[+-][0-9]{2}:[6-9][0-9]$")
TRUE_TEXTS = {"true", "1"}
# Clocks at the bureau's sources drift; a timestamp this far ahead of the checking time is still accepted.
FUTURE_SKEW = dt.timedelta(minutes=5)
# Blanks trimmed around every value: the Unicode space separators (category Zs: the space, no-break space,
# ideographic space U+3000 ...), exactly what DuckDB's trim() takes. Python's str.strip() would also take tabs and
# line breaks; line breaks never reach a value (the CSV reader splits lines on them), and trimming a custom set in
# DuckDB costs twice as much on every cell of every batch.
BLANKS = " \u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"
PRECEDENCE = ("E_REQUIRED", "E_TYPE", "E_FORMAT", "E_CODE", "E_RANGE", "E_FUTURE_TIME")


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern:
    # ASCII: `\d` and `\w` mean what they mean in RE2 (DuckDB), not every script's digits.
    return re.compile(pattern, re.ASCII)


class _VariableWidth(Exception):
    pass


@lru_cache(maxsize=512)
def fixed_offsets(pattern: str) -> dict[int, tuple[int, int]] | None:
    """Where each group of a fixed-width pattern sits: {group: (1-based start, length)}, or None.

    An ID whose parts have fixed widths (GB/T 28181, GA/T 1400) needs no regex to cut out a part once the whole
    value is known to match: a substring does it, at a fraction of the cost over millions of rows.
    """
    from re import _parser as sre  # the stdlib's own regex parser; stable across 3.11 and 3.12

    tree = sre.parse(pattern)
    offsets: dict[int, tuple[int, int]] = {}

    def walk(items, position: int) -> int:
        for op, av in items:
            if op is sre.AT:
                continue
            low, high = sre.SubPattern(tree.state, [(op, av)]).getwidth()
            if low != high:
                raise _VariableWidth
            if op is sre.SUBPATTERN:
                group, sub = av[0], av[-1]
                if group:
                    offsets[group] = (position + 1, low)
                walk(sub, position)
            position += low
        return position

    try:
        walk(tree, 0)
    except _VariableWidth:
        return None
    return offsets


@dataclass(frozen=True)
class PartCheck:
    """A part of a formatted value that is itself checked (a code in an ID, a time inside an ID)."""

    part: str
    group: int
    codes: frozenset[str] | None = None
    timestamp_format: str | None = None


@dataclass(frozen=True)
class ElementPlan:
    element: Element
    pattern: str | None
    # Derived values: (source element id, regex of the source, group index) or (source id, None, (start, length)).
    derive_from: str | None = None
    derive_pattern: str | None = None
    derive_group: int | None = None
    derive_slice: tuple[int, int] | None = None
    # Codes per edition (key None: no edition dependence, or unknown edition).
    codes: dict[str | None, frozenset[str]] | None = None
    edition_from: str | None = None
    part_checks: tuple[PartCheck, ...] = ()


@dataclass(frozen=True)
class EntityPlan:
    entity: Entity
    timezone: str
    elements: tuple[ElementPlan, ...]
    area: tuple[str, str, tuple[float, float, float, float]] | None = None  # lon id, lat id, extent
    sequences: tuple[tuple[str, ...], ...] = ()

    def element(self, element_id: str) -> ElementPlan:
        return next(p for p in self.elements if p.element.id == element_id)


def _codes(catalogue: Catalogue, table_id: str, edition_aware: bool) -> dict[str | None, frozenset[str]]:
    table = catalogue.code_tables[table_id]
    codes: dict[str | None, frozenset[str]] = {None: table.codes_set()}
    if edition_aware:
        codes |= {edition: table.codes_set(edition) for edition in table.editions}
    return codes


def element_plan(catalogue: Catalogue, element: Element, entity: Entity | None = None,
                 covered: frozenset[str] = frozenset()) -> ElementPlan:
    """The checks of one element; `covered` are parts of its format that derived elements check instead."""
    derive: dict = {}
    if element.derive:
        source = entity.element(element.derive.from_)
        derive["derive_from"] = source.id
        if element.derive.part:
            source_format = catalogue.formats[source.format]
            derive |= {"derive_pattern": source_format.pattern,
                       "derive_group": source_format.group_index(element.derive.part)}
        else:
            derive["derive_slice"] = (element.derive.start, element.derive.length)
    parts = []
    if element.format:
        fmt = catalogue.formats[element.format]
        for name, part in fmt.parts.items():
            if name not in covered and (part.code_table or part.timestamp_format):
                parts.append(PartCheck(name, fmt.group_index(name),
                                       catalogue.code_tables[part.code_table].codes_set() if part.code_table else None,
                                       part.timestamp_format))
    codes = _codes(catalogue, element.code_table, element.edition_from is not None) if element.code_table else None
    return ElementPlan(element, catalogue.pattern_of(element), codes=codes, edition_from=element.edition_from,
                       part_checks=tuple(parts), **derive)


def plan(catalogue: Catalogue, entity_name: str) -> EntityPlan:
    entity = catalogue.entities[entity_name]
    covered: dict[str, set[str]] = {}
    for element in entity.elements:
        if element.derive and element.derive.part:
            covered.setdefault(element.derive.from_, set()).add(element.derive.part)
    plans = tuple(element_plan(catalogue, e, entity, frozenset(covered.get(e.id, ()))) for e in entity.elements)
    area = None
    if entity.in_area:
        e = catalogue.city.extent
        area = (entity.in_area["longitude"], entity.in_area["latitude"], (e.min_lon, e.max_lon, e.min_lat, e.max_lat))
    return EntityPlan(entity, catalogue.city.timezone, plans, area, entity.sequences)


def check_value(catalogue: Catalogue, element: Element, value: object,
                now: dt.datetime | None = None) -> "Reason | None":
    """The reason a single value (of an event field, of a policy threshold) fails its element, or None."""
    single = element_plan(catalogue, element.model_copy(update={"derive": None, "edition_from": None}))
    entity_plan = EntityPlan(entity=None, timezone=catalogue.city.timezone, elements=(single,))
    checker = RowChecker(entity_plan, now) if now else RowChecker(entity_plan)
    return checker.element_reason({element.id: value}, single)


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    value: str | None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip(BLANKS)
    return text or None


def _strptime(text: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


@dataclass
class RowChecker:
    """The plan run on one row of text values (a dict keyed by element id)."""

    plan: EntityPlan
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def __post_init__(self) -> None:
        self._zone = zoneinfo.ZoneInfo(self.plan.timezone)
        # A single value checked without its entity (check_value) has the standards' default floor.
        floor = self.plan.entity.time_floor if self.plan.entity is not None else Entity.model_fields["time_floor"].default
        self._floor = dt.datetime.fromisoformat(floor).replace(tzinfo=self._zone)

    def value(self, row: dict, p: ElementPlan) -> str | None:
        if p.derive_from is None:
            text = _text(row.get(p.element.id))
            return p.element.default if text is None else text
        source = _text(row.get(p.derive_from))
        if source is None:
            return None
        if p.derive_slice:
            start, length = p.derive_slice
            return source[start - 1:start - 1 + length] or None
        match = compiled(p.derive_pattern).search(source)
        return (match.group(p.derive_group) or None) if match else None

    def _source_well_formed(self, row: dict, p: ElementPlan) -> bool:
        source = self.plan.element(p.derive_from)
        text = self.value(row, source)
        return text is not None and (source.pattern is None or compiled(source.pattern).search(text) is not None)

    def parse_timestamp(self, text: str) -> dt.datetime | None:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self._zone)

    def typed(self, p: ElementPlan, text: str | None):
        """The value in the standard's type (None where the text does not convert)."""
        if text is None:
            return None
        kind = p.element.type
        if kind != "string" and not compiled(TEXT_FORMS[kind]).search(text):
            return None
        if kind == "integer":
            number = int(text)
            return number if -2 ** 63 <= number < 2 ** 63 else None
        if kind == "number":
            number = float(text)
            return number if math.isfinite(number) else None
        if kind == "boolean":
            return text.lower() in TRUE_TEXTS
        if kind == "timestamp":
            return self.parse_timestamp(text)
        return text

    def element_reason(self, row: dict, p: ElementPlan) -> Reason | None:
        element, text = p.element, self.value(row, p)
        guard = p.derive_from is None or self._source_well_formed(row, p)

        def reason(code: str) -> Reason:
            return Reason(code, element.id, text)

        if element.required and guard and text is None:
            return reason("E_REQUIRED")
        if text is None:
            return None
        if element.type == "timestamp" and compiled(TEXT_FORMS["timestamp"]).search(text) \
                and compiled(OFF_THE_CLOCK).search(text):
            return reason("E_RANGE")
        typed = self.typed(p, text)
        if element.type != "string" and typed is None:
            return reason("E_TYPE")
        if p.pattern and not compiled(p.pattern).search(text):
            return reason("E_FORMAT")
        if element.max_length and len(text) > element.max_length:
            return reason("E_FORMAT")
        match = compiled(p.pattern).search(text) if p.pattern else None
        for part in p.part_checks:
            piece = match.group(part.group) if match else None
            if part.timestamp_format and piece is not None and not _strptime(piece, part.timestamp_format):
                return reason("E_FORMAT")
        if p.codes is not None and guard:
            edition = self.value(row, self.plan.element(p.edition_from)) if p.edition_from else None
            allowed = p.codes.get(edition, p.codes[None])
            if text not in allowed:
                return reason("E_CODE")
        for part in p.part_checks:
            piece = match.group(part.group) if match else None
            if part.codes is not None and piece is not None and piece not in part.codes:
                return reason("E_CODE")
        if element.type in ("integer", "number"):
            if element.minimum is not None and typed < element.minimum or \
                    element.maximum is not None and typed > element.maximum:
                return reason("E_RANGE")
        if element.type == "timestamp" and typed < self._floor:
            return reason("E_RANGE")
        if element.type == "timestamp" and element.not_future and typed > self.now + FUTURE_SKEW:
            return reason("E_FUTURE_TIME")
        return None

    def reasons(self, row: dict) -> list[Reason]:
        """Every reason of the row except E_DUPLICATE_KEY (which needs the other rows of the batch)."""
        found = [r for r in (self.element_reason(row, p) for p in self.plan.elements) if r]
        failed = {r.field for r in found}
        if self.plan.area:
            lon_id, lat_id, (min_lon, max_lon, min_lat, max_lat) = self.plan.area
            if lon_id not in failed and lat_id not in failed:
                lon = self.typed(self.plan.element(lon_id), self.value(row, self.plan.element(lon_id)))
                lat = self.typed(self.plan.element(lat_id), self.value(row, self.plan.element(lat_id)))
                if lon is not None and lat is not None and not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
                    found.append(Reason("E_OUT_OF_AREA", lon_id, f"{self.value(row, self.plan.element(lon_id))},"
                                                                 f"{self.value(row, self.plan.element(lat_id))}"))
        for sequence in self.plan.sequences:
            times = {f: self.typed(self.plan.element(f), self.value(row, self.plan.element(f)))
                     for f in sequence if f not in failed}
            for index, later in enumerate(sequence):
                # A step earlier than any step before it (a missing step in between does not hide that).
                if times.get(later) is not None and any(
                        times.get(earlier) is not None and times[later] < times[earlier] for earlier in sequence[:index]):
                    found.append(Reason("E_ORDER", later, self.value(row, self.plan.element(later))))
        return found
