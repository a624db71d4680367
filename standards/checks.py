"""The checks an entity's elements demand, planned once from the catalogue.

`plan(catalogue, entity)` turns the element specifications into a list of checks in a fixed order of precedence.
`conform.py` renders the plan as one DuckDB statement, the only implementation of the checks: whole batches in
ingestion, one row at a time (`single.py`) for policy literals and pydantic models.

One reason per field, the first that applies: E_REQUIRED, E_TYPE, E_FORMAT, E_CODE, E_RANGE, E_FUTURE_TIME.
Then the entity's own checks: E_OUT_OF_AREA, E_ORDER (and E_DUPLICATE_KEY, which needs the whole batch).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from safecity.standards.catalogue import Catalogue, Element, Entity

# Text forms accepted for typed values; anything else is E_TYPE.
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


# Degrees: about a metre; a position this close to a placeholder is that placeholder.
PLACEHOLDER_TOLERANCE = 1e-5


@dataclass(frozen=True)
class EntityPlan:
    entity: Entity
    timezone: str
    elements: tuple[ElementPlan, ...]
    area: tuple[str, str, tuple[float, float, float, float]] | None = None  # lon id, lat id, extent
    sequences: tuple[tuple[str, ...], ...] = ()
    # Positions that are placeholders, not places (0/0 and the city's division centres, which systems put in as a
    # default); judged only where the entity flags E_PLACEHOLDER_POSITION. Matched within PLACEHOLDER_TOLERANCE.
    placeholders: tuple[tuple[float, float], ...] = ()

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


def plan(catalogue: Catalogue, entity: str | Entity) -> EntityPlan:
    """The plan of a catalogue entity (by name), or of an entity built for the occasion (a lone element)."""
    entity = catalogue.entities[entity] if isinstance(entity, str) else entity
    covered: dict[str, set[str]] = {}
    for element in entity.elements:
        if element.derive and element.derive.part:
            covered.setdefault(element.derive.from_, set()).add(element.derive.part)
    plans = tuple(element_plan(catalogue, e, entity, frozenset(covered.get(e.id, ()))) for e in entity.elements)
    area, placeholders = None, ()
    if entity.in_area:
        e = catalogue.city.extent
        area = (entity.in_area["longitude"], entity.in_area["latitude"], (e.min_lon, e.max_lon, e.min_lat, e.max_lat))
        if "E_PLACEHOLDER_POSITION" in entity.flags:
            placeholders = ((0.0, 0.0),) + tuple(tuple(d.centre) for d in catalogue.city.divisions)
    return EntityPlan(entity, catalogue.city.timezone, plans, area, entity.sequences, placeholders)
