"""Vectorised conformance: one SQL statement checks a whole batch against an entity of the catalogue.

The checks are generated from the element specifications (required, type, pattern, length, code table, range, the
city's extent, key uniqueness), so no check is written twice by hand. Each row comes back with the list of its
reasons — code, field, offending value and bilingual message — and with its values cast to the standard's types.
DuckDB evaluates all of it column-at-a-time; nothing loops over rows in Python.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from safecity.standards.catalogue import Catalogue, Element, Entity

SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
             "timestamp": "TIMESTAMPTZ"}
REASONS_COLUMN = "_reasons"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class ConformSql:
    """The statement and the names it produces, for callers that build on it."""

    sql: str
    typed_columns: tuple[str, ...]


class Conformer:
    def __init__(self, catalogue: Catalogue, entity: str):
        self.catalogue = catalogue
        self.entity: Entity = catalogue.entities[entity]
        self._messages = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["reasons"].codes}

    def _reason(self, code: str, element: Element, condition: str, value_sql: str) -> str:
        zh, en = self._messages[code]
        return (f"CASE WHEN {condition} THEN {{'code': {_literal(code)}, 'field': {_literal(element.id)}, "
                f"'value': CAST({value_sql} AS VARCHAR), "
                f"'message_zh': {_literal(f'{element.name_zh}：{zh}')}, "
                f"'message_en': {_literal(f'{element.name_en}: {en}')}}} END")

    def _value(self, element: Element) -> str:
        """The element's text value: trimmed, empty as NULL, derived elements cut from their source."""
        if element.derive:
            source = f"NULLIF(trim({_quote(element.derive.from_)}), '')"
            return f"substr({source}, {element.derive.start}, {element.derive.length})"
        return f"NULLIF(trim({_quote(element.id)}), '')"

    def _element_checks(self, element: Element) -> list[str]:
        v = self._value(element)
        checks = []
        guard = "TRUE"
        if element.derive:
            # A derived value is only judged when its source is itself well-formed; otherwise the source's
            # own reason says everything and the derived ones would be noise.
            guard = self._well_formed(self.entity.element(element.derive.from_))
        if element.required:
            checks.append(self._reason("E_REQUIRED", element, f"({guard}) AND {v} IS NULL", v))
        if element.type != "string":
            cast = f"TRY_CAST({v} AS {SQL_TYPES[element.type]})"
            checks.append(self._reason("E_TYPE", element, f"{v} IS NOT NULL AND {cast} IS NULL", v))
        if element.pattern:
            checks.append(self._reason("E_FORMAT", element,
                                       f"{v} IS NOT NULL AND NOT regexp_full_match({v}, {_literal(element.pattern)})", v))
        if element.max_length:
            checks.append(self._reason("E_FORMAT", element, f"length({v}) > {element.max_length}", v))
        if element.code_table:
            codes = sorted(self.catalogue.code_tables[element.code_table].codes_set())
            listed = ", ".join(_literal(c) for c in codes)
            checks.append(self._reason("E_CODE", element, f"({guard}) AND {v} IS NOT NULL AND {v} NOT IN ({listed})", v))
        bounds = []
        number = f"TRY_CAST({v} AS DOUBLE)"
        if element.minimum is not None:
            bounds.append(f"{number} < {element.minimum}")
        if element.maximum is not None:
            bounds.append(f"{number} > {element.maximum}")
        if bounds:
            checks.append(self._reason("E_RANGE", element, " OR ".join(bounds), v))
        return checks

    def _well_formed(self, element: Element) -> str:
        v = self._value(element)
        parts = [f"{v} IS NOT NULL"]
        if element.pattern:
            parts.append(f"regexp_full_match({v}, {_literal(element.pattern)})")
        return " AND ".join(parts)

    def _area_check(self) -> list[str]:
        if not self.entity.in_area:
            return []
        extent = self.catalogue.city.extent
        lon_el = self.entity.element(self.entity.in_area["longitude"])
        lat_el = self.entity.element(self.entity.in_area["latitude"])
        lon, lat = (f"TRY_CAST({self._value(e)} AS DOUBLE)" for e in (lon_el, lat_el))
        # A coordinate outside its own valid range already has E_RANGE; the area check judges only real places.
        valid = [f"{lon} IS NOT NULL", f"{lat} IS NOT NULL"]
        for value, element in ((lon, lon_el), (lat, lat_el)):
            if element.minimum is not None:
                valid.append(f"{value} >= {element.minimum}")
            if element.maximum is not None:
                valid.append(f"{value} <= {element.maximum}")
        outside = (f"{' AND '.join(valid)} AND NOT ({lon} BETWEEN {extent.min_lon} AND "
                   f"{extent.max_lon} AND {lat} BETWEEN {extent.min_lat} AND {extent.max_lat})")
        value = f"concat_ws(',', {self._value(lon_el)}, {self._value(lat_el)})"
        return [self._reason("E_OUT_OF_AREA", lon_el, outside, value)]

    def _key_check(self, order_by: str) -> list[str]:
        keys = [self.entity.element(k) for k in self.entity.key]
        values = ", ".join(self._value(k) for k in keys)
        present = " AND ".join(f"{self._value(k)} IS NOT NULL" for k in keys)
        later = f"row_number() OVER (PARTITION BY {values} ORDER BY {order_by}) > 1"
        return [self._reason("E_DUPLICATE_KEY", keys[0], f"{present} AND {later}", f"concat_ws('|', {values})")]

    def sql(self, relation: str, carry: tuple[str, ...], order_by: str) -> ConformSql:
        """SELECT over `relation` (text columns named by element id) giving typed columns, carried columns and reasons.

        `carry` are passed through unchanged (lineage); `order_by` decides which of two rows with the same key is the
        first (the later ones are duplicates).
        """
        checks: list[str] = []
        typed: list[str] = []
        for element in self.entity.elements:
            checks.extend(self._element_checks(element))
            value = self._value(element)
            cast = value if element.type == "string" else f"TRY_CAST({value} AS {SQL_TYPES[element.type]})"
            typed.append(f"{cast} AS {_quote(element.id)}")
        checks.extend(self._area_check())
        checks.extend(self._key_check(order_by))
        carried = [_quote(c) for c in carry]
        reasons = f"list_filter([{', '.join(checks)}], r -> r IS NOT NULL) AS {REASONS_COLUMN}"
        sql = f"SELECT {', '.join(typed + carried)}, {reasons} FROM {relation}"
        return ConformSql(sql, tuple(e.id for e in self.entity.elements))

    def source_columns(self) -> tuple[str, ...]:
        """The elements a source must supply (derived ones are computed)."""
        return tuple(e.id for e in self.entity.elements if not e.derive)


def conform(con: duckdb.DuckDBPyConnection, relation: str, catalogue: Catalogue, entity: str,
            carry: tuple[str, ...] = (), order_by: str = "1") -> duckdb.DuckDBPyRelation:
    return con.sql(Conformer(catalogue, entity).sql(relation, carry, order_by).sql)
