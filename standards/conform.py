"""Vectorised conformance: the check plan of an entity (checks.py) rendered as one DuckDB statement.

A whole batch is judged column-at-a-time; nothing loops over rows in Python. Each row comes back with its values
cast to the standard's types and the list of its reasons — code, field, offending value and bilingual message.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from safecity.standards.catalogue import Catalogue
from safecity.standards.checks import BLANKS, FUTURE_SKEW, OFFSET_SUFFIX, TEXT_FORMS, TRUE_TEXTS, ElementPlan, EntityPlan, plan

SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
             "timestamp": "TIMESTAMPTZ"}
REASONS_COLUMN = "_reasons"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(codes) -> str:
    return ", ".join(literal(c) for c in sorted(codes))


def _trimmed(column: str) -> str:
    blanks = BLANKS.replace("\t", "' || chr(9) || '").replace("\r", "' || chr(13) || '").replace("\n", "' || chr(10) || '")
    return f"NULLIF(trim(CAST({quote(column)} AS VARCHAR), '{blanks}'), '')"


@dataclass(frozen=True)
class ConformSql:
    sql: str
    typed_columns: tuple[str, ...]


class Conformer:
    def __init__(self, catalogue: Catalogue, entity: str, now: dt.datetime | None = None):
        self.catalogue = catalogue
        self.plan: EntityPlan = plan(catalogue, entity)
        self.entity = self.plan.entity
        self.now = now
        self._messages = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["reasons"].codes}

    # -- values -------------------------------------------------------------------------------------------
    def text(self, p: ElementPlan) -> str:
        """The element's text: trimmed, empty as NULL, derived values cut from their source."""
        if p.derive_from is None:
            if p.element.default is not None:
                return f"coalesce({_trimmed(p.element.id)}, {literal(p.element.default)})"
            return _trimmed(p.element.id)
        source = _trimmed(p.derive_from)
        if p.derive_slice:
            start, length = p.derive_slice
            return f"NULLIF(substr({source}, {start}, {length}), '')"
        return f"NULLIF(regexp_extract({source}, {literal(p.derive_pattern)}, {p.derive_group}), '')"

    def typed(self, p: ElementPlan) -> str:
        v, kind = self.text(p), p.element.type
        if kind == "string":
            return v
        form = f"regexp_full_match({v}, {literal(TEXT_FORMS[kind])})"
        if kind == "integer":
            return f"CASE WHEN {form} THEN TRY_CAST({v} AS BIGINT) END"
        if kind == "number":
            number = f"TRY_CAST({v} AS DOUBLE)"
            return f"CASE WHEN {form} AND isfinite({number}) THEN {number} END"
        if kind == "boolean":
            return f"CASE WHEN {form} THEN lower({v}) IN ({_in_list(TRUE_TEXTS)}) END"
        # Timestamps without an offset are local time of the city.
        return (f"CASE WHEN NOT {form} THEN NULL "
                f"WHEN regexp_matches({v}, {literal(OFFSET_SUFFIX)}) THEN TRY_CAST({v} AS TIMESTAMPTZ) "
                f"ELSE timezone({literal(self.plan.timezone)}, TRY_CAST({v} AS TIMESTAMP)) END")

    # -- reasons ------------------------------------------------------------------------------------------
    def _struct(self, code: str, field: str, value_sql: str) -> str:
        zh, en = self._messages[code]
        element = self.entity.element(field)
        return (f"{{'code': {literal(code)}, 'field': {literal(field)}, 'value': CAST({value_sql} AS VARCHAR), "
                f"'message_zh': {literal(f'{element.name_zh}：{zh}')}, "
                f"'message_en': {literal(f'{element.name_en}: {en}')}}}")

    def _well_formed(self, p: ElementPlan) -> str:
        v = self.text(p)
        return f"({v} IS NOT NULL" + (f" AND regexp_full_match({v}, {literal(p.pattern)}))" if p.pattern else ")")

    def element_reason(self, p: ElementPlan) -> str | None:
        """One CASE: the first check that fails gives the element's reason (PRECEDENCE in checks.py)."""
        element, v = p.element, self.text(p)
        guard = "TRUE" if p.derive_from is None else self._well_formed(self.plan.element(p.derive_from))
        whens: list[tuple[str, str]] = []
        if element.required:
            whens.append((f"{guard} AND {v} IS NULL", "E_REQUIRED"))
        whens.append((f"{v} IS NULL", None))
        if element.type != "string":
            whens.append((f"{self.typed(p)} IS NULL", "E_TYPE"))
        if p.pattern:
            whens.append((f"NOT regexp_full_match({v}, {literal(p.pattern)})", "E_FORMAT"))
        if element.max_length:
            whens.append((f"length({v}) > {element.max_length}", "E_FORMAT"))
        for part in p.part_checks:
            if part.timestamp_format:
                piece = f"regexp_extract({v}, {literal(p.pattern)}, {part.group})"
                whens.append((f"try_strptime({piece}, {literal(part.timestamp_format)}) IS NULL", "E_FORMAT"))
        if p.codes is not None:
            allowed = f"{v} IN ({_in_list(p.codes[None])})"
            if p.edition_from:
                edition = self.text(self.plan.element(p.edition_from))
                cases = " ".join(f"WHEN {literal(ed)} THEN {v} IN ({_in_list(codes)})"
                                 for ed, codes in p.codes.items() if ed is not None)
                allowed = f"(CASE {edition} {cases} ELSE {allowed} END)" if cases else allowed
            whens.append((f"{guard} AND NOT {allowed}", "E_CODE"))
        for part in p.part_checks:
            if part.codes is not None:
                piece = f"regexp_extract({v}, {literal(p.pattern)}, {part.group})"
                whens.append((f"{piece} NOT IN ({_in_list(part.codes)})", "E_CODE"))
        if element.type in ("integer", "number"):
            bounds = []
            if element.minimum is not None:
                bounds.append(f"{self.typed(p)} < {element.minimum}")
            if element.maximum is not None:
                bounds.append(f"{self.typed(p)} > {element.maximum}")
            if bounds:
                whens.append((" OR ".join(bounds), "E_RANGE"))
        if element.type == "timestamp" and element.not_future:
            now = self.now or dt.datetime.now(dt.timezone.utc)
            limit = (now + FUTURE_SKEW).isoformat()
            whens.append((f"{self.typed(p)} > TIMESTAMPTZ {literal(limit)}", "E_FUTURE_TIME"))
        if not any(code for _, code in whens):
            return None
        branches = " ".join(f"WHEN {cond} THEN " + (self._struct(code, element.id, v) if code else "NULL")
                            for cond, code in whens)
        return f"CASE {branches} END"

    def sql(self, relation: str, carry: tuple[str, ...], order_by: str) -> ConformSql:
        """SELECT over `relation` (text columns named by element id): typed columns, carried columns, reasons.

        `carry` pass through unchanged (lineage); `order_by` decides which of two rows with the same key is first.
        """
        r = {p.element.id: f"__r_{p.element.id}" for p in self.plan.elements}
        checked = []
        for p in self.plan.elements:
            reason = self.element_reason(p)
            checked.append(f"{reason or 'NULL'} AS {quote(r[p.element.id])}")
        typed = [f"{self.typed(p)} AS {quote(p.element.id)}" for p in self.plan.elements]
        carried = [quote(c) for c in carry]
        entity_level = self._area() + self._order() + self._duplicates(order_by)
        element_reasons = [quote(r[p.element.id]) for p in self.plan.elements]
        reasons = (f"list_filter([{', '.join(element_reasons + entity_level)}], x -> x IS NOT NULL) "
                   f"AS {REASONS_COLUMN}")
        inner = (f"SELECT *, {', '.join(checked)}, {', '.join(f'{t}' for t in self._typed_helpers())} "
                 f"FROM {relation}")
        sql = (f"SELECT {', '.join(typed + carried)}, {reasons} FROM ({inner}) AS checked")
        return ConformSql(sql, tuple(p.element.id for p in self.plan.elements))

    def _typed_helpers(self) -> list[str]:
        # Typed values under helper names, so entity-level checks compare them without recomputing.
        return [f"{self.typed(p)} AS {quote('__t_' + p.element.id)}" for p in self.plan.elements]

    def _ok(self, element_id: str) -> str:
        return f"{quote('__r_' + element_id)} IS NULL"

    def _area(self) -> list[str]:
        if not self.plan.area:
            return []
        lon_id, lat_id, (min_lon, max_lon, min_lat, max_lat) = self.plan.area
        lon, lat = quote("__t_" + lon_id), quote("__t_" + lat_id)
        outside = (f"{self._ok(lon_id)} AND {self._ok(lat_id)} AND {lon} IS NOT NULL AND {lat} IS NOT NULL AND "
                   f"NOT ({lon} BETWEEN {min_lon} AND {max_lon} AND {lat} BETWEEN {min_lat} AND {max_lat})")
        value = (f"concat_ws(',', {self.text(self.plan.element(lon_id))}, "
                 f"{self.text(self.plan.element(lat_id))})")
        return [f"CASE WHEN {outside} THEN {self._struct('E_OUT_OF_AREA', lon_id, value)} END"]

    def _order(self) -> list[str]:
        checks = []
        for sequence in self.plan.sequences:
            for index, later in enumerate(sequence):
                if index == 0:
                    continue
                t_later = quote("__t_" + later)
                earlier = " OR ".join(f"({self._ok(e)} AND {t_later} < {quote('__t_' + e)})" for e in sequence[:index])
                condition = f"{self._ok(later)} AND {t_later} IS NOT NULL AND ({earlier})"
                checks.append(f"CASE WHEN {condition} THEN "
                              f"{self._struct('E_ORDER', later, self.text(self.plan.element(later)))} END")
        return checks

    def _duplicates(self, order_by: str) -> list[str]:
        keys = [self.plan.element(k) for k in self.entity.key]
        values = ", ".join(self.text(k) for k in keys)
        present = " AND ".join(f"{self.text(k)} IS NOT NULL" for k in keys)
        later = f"row_number() OVER (PARTITION BY {values} ORDER BY {order_by}) > 1"
        return [f"CASE WHEN {present} AND {later} THEN "
                f"{self._struct('E_DUPLICATE_KEY', keys[0].element.id, f'concat_ws(chr(124), {values})')} END"]

    def source_columns(self) -> tuple[str, ...]:
        """The elements a source must supply (derived ones are computed)."""
        return tuple(p.element.id for p in self.plan.elements if p.derive_from is None)


def conform(con: duckdb.DuckDBPyConnection, relation: str, catalogue: Catalogue, entity: str,
            carry: tuple[str, ...] = (), order_by: str = "1", now: dt.datetime | None = None) -> duckdb.DuckDBPyRelation:
    return con.sql(Conformer(catalogue, entity, now).sql(relation, carry, order_by).sql)
