"""Vectorised conformance: the check plan of an entity (checks.py) rendered as one DuckDB statement.

The only implementation of the checks: ingestion runs it on whole batches, `single.py` on one row at a time.

A whole batch is judged column-at-a-time; nothing loops over rows in Python. Each row comes back with its values
cast to the standard's types and the list of its reasons — code, field, offending value and bilingual message.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from safecity.standards.catalogue import Catalogue, Entity
from safecity.standards.checks import FUTURE_SKEW, OFF_THE_CLOCK, PLACEHOLDER_TOLERANCE, compiled, fixed_offsets, OFFSET_SUFFIX, TEXT_FORMS, TRUE_TEXTS, ElementPlan, EntityPlan, plan

SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
             "timestamp": "TIMESTAMPTZ"}
REASONS_COLUMN = "_reasons"
# Soft checks: reasons that flag a field (left out of silver's value) while the record itself conforms.
FLAGS_COLUMN = "_flags"
PLACEHOLDER = "E_PLACEHOLDER_POSITION"
INPUT_ALIAS = "__input"
REASON_TYPE = "STRUCT(code VARCHAR, field VARCHAR, value VARCHAR, message_zh VARCHAR, message_en VARCHAR)"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(codes) -> str:
    return ", ".join(literal(c) for c in sorted(codes))


def _member(value: str, codes) -> str:
    # Not `IN (...)`: DuckDB turns a long IN list into a join of its own against every row (one per coded field and
    # part); looking the value up in a constant list costs a third of that, and is NULL for NULL alike.
    return f"list_contains([{_in_list(codes)}], {value})"


def _trimmed(column: str, batch: bool = True) -> str:
    # DuckDB's trim() takes exactly the BLANKS of checks.py (Unicode space separators). It decodes every character
    # of every cell, the costliest step of a batch; a cell of ASCII only (as many characters as bytes), whose one
    # possible blank is the space, with none at either end, is what trim would return unchanged, at a third of the
    # cost. One row (batch=False) keeps the plain trim: its statement is parsed anew for each row, and the longer
    # text costs more than the test saves.
    text = f"CAST({quote(column)} AS VARCHAR)"
    if not batch:
        return f"NULLIF(trim({text}), '')"
    unchanged = f"NOT prefix({text}, ' ') AND NOT suffix({text}, ' ') AND length({text}) = strlen({text})"
    return f"NULLIF(CASE WHEN {unchanged} THEN {text} ELSE trim({text}) END, '')"


def _listed(columns: list[str], name: str) -> str:
    """The non-NULL reasons of `columns` as a list; most rows have none, so test for NULL before building one."""
    if not columns:
        return f"[]::{REASON_TYPE}[] AS {name}"
    return (f"CASE WHEN {' AND '.join(f'{r} IS NULL' for r in columns)} THEN []::{REASON_TYPE}[] "
            f"ELSE list_filter([{', '.join(columns)}], x -> x IS NOT NULL) END AS {name}")


@dataclass(frozen=True)
class ConformSql:
    sql: str
    typed_columns: tuple[str, ...]


class Conformer:
    """Renders the plan in layers, so that each value is trimmed, matched and typed once per row:

    1. `__v_<id>`  the text of each source element (trimmed, empty as NULL, default applied);
    2. `__ok_<id>` whether it matches its pattern, `__g_<id>` the pattern's groups (for parts and derivations),
       and the derived elements' `__v_`;
    3. `__t_<id>`  each element's value in the standard's type;
    4. `__r_<id>`  each element's reason (the first failing check), then the entity's own checks.
    """

    def __init__(self, catalogue: Catalogue, entity: str | Entity, now: dt.datetime | None = None, *,
                 now_parameter: bool = False):
        """`now_parameter`: the checking time is the statement's `$now` parameter, not a literal fixed at rendering
        (one prepared text serves every call of the single-row checks)."""
        self.catalogue = catalogue
        self.plan: EntityPlan = plan(catalogue, entity)
        self.entity = self.plan.entity
        self.now = now
        self.now_parameter = now_parameter
        self._messages = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["reasons"].codes}
        with_parts = {p.derive_from for p in self.plan.elements if p.derive_pattern}
        with_parts |= {p.element.id for p in self.plan.elements if p.part_checks}
        # Parts of fixed-width formats are substrings of a matching value; only the others need regex groups.
        self._grouped = {e for e in with_parts if fixed_offsets(self.plan.element(e).pattern) is None}

    @staticmethod
    def _col(prefix: str, element_id: str) -> str:
        return quote(f"__{prefix}_{element_id}")

    def v(self, element_id: str) -> str:
        return self._col("v", element_id)

    # -- layer 1 and 2: text, pattern match, groups, derived text ------------------------------------------
    def _source_text(self, p: ElementPlan, batch: bool = True) -> str:
        if p.element.default is not None:
            return f"coalesce({_trimmed(p.element.id, batch)}, {literal(p.element.default)})"
        return _trimmed(p.element.id, batch)

    def _groups(self, element_id: str) -> str:
        """The pattern's groups as a struct (g1, g2, ...), plus `whole`: the full match, '' when there is none.

        Wrapping the pattern in one more group gives the match and its parts from a single regex evaluation.
        """
        pattern = self.plan.element(element_id).pattern
        count = compiled(pattern).groups
        names = ", ".join([literal("whole")] + [literal(f"g{i}") for i in range(1, count + 1)])
        return f"regexp_extract({self.v(element_id)}, {literal('(' + pattern + ')')}, [{names}])"

    def part(self, element_id: str, group: int) -> str:
        """Group `group` of the element's (matching) value."""
        offsets = fixed_offsets(self.plan.element(element_id).pattern)
        if offsets is not None:
            start, length = offsets[group]
            return f"substr({self.v(element_id)}, {start}, {length})"
        return f"{self._col('g', element_id)}.g{group}"

    def _derived_text(self, p: ElementPlan) -> str:
        if p.derive_slice:
            start, length = p.derive_slice
            return f"NULLIF(substr({self.v(p.derive_from)}, {start}, {length}), '')"
        return (f"CASE WHEN {self._col('ok', p.derive_from)} THEN "
                f"NULLIF({self.part(p.derive_from, p.derive_group)}, '') END")

    # -- layer 3: typed values ----------------------------------------------------------------------------
    def typed_from(self, p: ElementPlan, v: str) -> str:
        kind = p.element.type
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

    # -- layer 4: reasons ---------------------------------------------------------------------------------
    def _struct(self, code: str, field: str, value_sql: str) -> str:
        zh, en = self._messages[code]
        element = self.entity.element(field)
        return (f"{{'code': {literal(code)}, 'field': {literal(field)}, 'value': CAST({value_sql} AS VARCHAR), "
                f"'message_zh': {literal(f'{element.name_zh}：{zh}')}, "
                f"'message_en': {literal(f'{element.name_en}: {en}')}}}")

    def _matches(self, p: ElementPlan) -> str:
        if p.derive_from is None and p.pattern:
            return self._col("ok", p.element.id)
        return f"regexp_full_match({self.v(p.element.id)}, {literal(p.pattern)})"

    def element_reason(self, p: ElementPlan) -> str | None:
        """One CASE: the first check that fails gives the element's reason (PRECEDENCE in checks.py)."""
        element, v, t = p.element, self.v(p.element.id), self._col("t", p.element.id)
        guard = "TRUE" if p.derive_from is None else \
            f"coalesce({self._col('ok', p.derive_from)}, {self.v(p.derive_from)} IS NOT NULL)"
        source = self.plan.element(p.derive_from) if p.derive_from else None
        if source is not None and not source.pattern:
            guard = f"{self.v(p.derive_from)} IS NOT NULL"
        whens: list[tuple[str, str | None]] = []
        if element.required:
            whens.append((f"{guard} AND {v} IS NULL", "E_REQUIRED"))
        whens.append((f"{v} IS NULL", None))
        if element.type == "timestamp":
            form = f"regexp_full_match({v}, {literal(TEXT_FORMS['timestamp'])})"
            whens.append((f"{form} AND regexp_matches({v}, {literal(OFF_THE_CLOCK)})", "E_RANGE"))
        if element.type != "string":
            whens.append((f"{t} IS NULL", "E_TYPE"))
        if p.pattern:
            whens.append((f"NOT {self._matches(p)}", "E_FORMAT"))
        if element.max_length:
            whens.append((f"length({v}) > {element.max_length}", "E_FORMAT"))
        for part in p.part_checks:
            if part.timestamp_format:
                piece = self.part(element.id, part.group)
                whens.append((f"try_strptime({piece}, {literal(part.timestamp_format)}) IS NULL", "E_FORMAT"))
        if p.codes is not None:
            allowed = _member(v, p.codes[None])
            if p.edition_from:
                cases = " ".join(f"WHEN {literal(ed)} THEN {_member(v, codes)}"
                                 for ed, codes in p.codes.items() if ed is not None)
                if cases:
                    allowed = f"(CASE {self.v(p.edition_from)} {cases} ELSE {allowed} END)"
            whens.append((f"{guard} AND NOT {allowed}", "E_CODE"))
        for part in p.part_checks:
            if part.codes is not None:
                piece = self.part(element.id, part.group)
                whens.append((f"NOT {_member(piece, part.codes)}", "E_CODE"))
        if element.type in ("integer", "number"):
            bounds = []
            if element.minimum is not None:
                bounds.append(f"{t} < {element.minimum}")
            if element.maximum is not None:
                bounds.append(f"{t} > {element.maximum}")
            if bounds:
                whens.append((" OR ".join(bounds), "E_RANGE"))
        if element.type == "timestamp":
            floor = f"timezone({literal(self.plan.timezone)}, TIMESTAMP {literal(self.entity.time_floor)})"
            whens.append((f"{t} < {floor}", "E_RANGE"))
        if element.type == "timestamp" and element.not_future:
            whens.append((f"{t} > {self._future_limit()}", "E_FUTURE_TIME"))
        if not any(code for _, code in whens):
            return None
        branches = " ".join(f"WHEN {cond} THEN " + (self._struct(code, element.id, v) if code else "NULL")
                            for cond, code in whens)
        return f"CASE {branches} END"

    def _future_limit(self) -> str:
        if self.now_parameter:
            skew = int(FUTURE_SKEW.total_seconds() * 1_000_000)
            return f"(CAST($now AS TIMESTAMPTZ) + to_microseconds({skew}))"
        limit = ((self.now or dt.datetime.now(dt.timezone.utc)) + FUTURE_SKEW).isoformat()
        return f"TIMESTAMPTZ {literal(limit)}"

    def sql(self, relation: str, carry: tuple[str, ...], order_by: str, batch: bool = True,
            repeats: str | None = None) -> ConformSql:
        """SELECT over `relation` (text columns named by element id): typed columns, carried columns, reasons.

        `carry` pass through unchanged (lineage); `order_by` decides which of two rows with the same key is first.
        `batch=False` (a single row, which has no other row to repeat its key) leaves out the duplicate check.
        `repeats` names a table of `repeats_sql` over the whole batch when `relation` is one part of it, so that a
        key repeated across parts is found as it is within one.
        """
        sources = [p for p in self.plan.elements if p.derive_from is None]
        derived = [p for p in self.plan.elements if p.derive_from is not None]
        layer1 = [f"{self._source_text(p, batch)} AS {self.v(p.element.id)}" for p in sources]
        layer2 = [f"{self._groups(e)} AS {self._col('g', e)}" for e in sorted(self._grouped)]
        layer2b = [f"regexp_full_match({self.v(p.element.id)}, {literal(p.pattern)}) AS {self._col('ok', p.element.id)}"
                   for p in sources if p.pattern and p.element.id not in self._grouped]
        layer2b += [f"CASE WHEN {self.v(e)} IS NOT NULL THEN {self._col('g', e)}.whole <> '' END "
                    f"AS {self._col('ok', e)}" for e in sorted(self._grouped)]
        layer3 = [f"{self._derived_text(p)} AS {self.v(p.element.id)}" for p in derived]
        layer4 = [f"{self.typed_from(p, self.v(p.element.id))} AS {self._col('t', p.element.id)}"
                  for p in self.plan.elements]
        layer5 = [f"{self.element_reason(p) or 'NULL'} AS {self._col('r', p.element.id)}" for p in self.plan.elements]
        join, repeated = "", []
        if batch:
            first_rows = repeats or f"({self.repeats_sql(relation, order_by)})"
            first, join, repeated = self._repeated_keys(first_rows, order_by)
            layer1.append(first)
        query = f"SELECT {INPUT_ALIAS}.*, {', '.join(layer1)} FROM {relation} AS {INPUT_ALIAS}{join}"
        for layer in (repeated, layer2, layer2b, layer3, layer4, layer5):
            if layer:
                query = f"SELECT *, {', '.join(layer)} FROM ({query})"
        carried = [quote(c) for c in carry]
        entity_level = self._area() + self._order() + (self._duplicates(order_by) if batch else [])
        entity_columns = [f"__e{i}" for i in range(len(entity_level))]
        # Checks the entity declares as flags keep the record: the flagged fields are left out (NULL) instead.
        flagged = [(n, fields) for n, (code, fields, _) in zip(entity_columns, entity_level) if code in self.entity.flags]
        typed = [self._typed_unless_flagged(p.element.id, flagged) for p in self.plan.elements]
        element_reasons = [self._col("r", p.element.id) for p in self.plan.elements]
        all_reasons = element_reasons + [n for n in entity_columns if n not in dict(flagged)]
        outputs = [_listed(all_reasons, REASONS_COLUMN)]
        if self.entity.flags:
            outputs.append(_listed([n for n, _ in flagged], FLAGS_COLUMN))
        query = f"SELECT *, {', '.join(f'{e} AS {n}' for (_, _, e), n in zip(entity_level, entity_columns))} " \
                f"FROM ({query})" if entity_level else query
        sql = f"SELECT {', '.join(typed + carried + outputs)} FROM ({query}) AS checked"
        return ConformSql(sql, tuple(p.element.id for p in self.plan.elements))

    def _typed_unless_flagged(self, element_id: str, flagged: list[tuple[str, tuple[str, ...]]]) -> str:
        typed = self._col("t", element_id)
        hits = [n for n, fields in flagged if element_id in fields]
        if hits:
            typed = f"CASE WHEN {' OR '.join(f'{n} IS NOT NULL' for n in hits)} THEN NULL ELSE {typed} END"
        return f"{typed} AS {quote(element_id)}"

    def _key_texts(self) -> tuple[list[str], list[str]]:
        """The key elements' source texts (SQL) and the names they have in `repeats_sql`."""
        keys = [self._source_text(self.plan.element(k)) for k in self.entity.key]
        return keys, [f"__k{i}" for i in range(len(keys))]

    def _repeated_keys(self, first_rows: str, order_by: str) -> tuple[str, str, list[str]]:
        """Whether a row repeats an earlier row's key and whether it is an exact copy of the first row with that key
        (every source element's text the same): the layer-1 item, the join to `first_rows` (`repeats_sql`) and the
        items of the layer after it.

        The row's own content hash is taken from its layer-1 text, and only where it repeats a key (most rows do not;
        hashing every row's trimmed text again had cost as much as all the element checks)."""
        keys, key_names = self._key_texts()
        sources = [p for p in self.plan.elements if p.derive_from is None]
        joined = " AND ".join(f"{k} = __dups.{n}" for k, n in zip(keys, key_names))
        version = self.v(self.entity.version_field) if self.entity.version_field else "NULL::VARCHAR"
        return (f"(__dups.__first IS NOT NULL AND {order_by} > __dups.__first) AS __is_duplicate, "
                f"__dups.__first_content AS __first_content, __dups.__first_version AS __first_version",
                f" LEFT JOIN {first_rows} AS __dups ON {joined}",
                [f"CASE WHEN __is_duplicate THEN {self._content_hash([self.v(p.element.id) for p in sources])} "
                 f"= __first_content END AS __is_copy",
                 f"coalesce({version} <> __first_version, FALSE) AS __is_version"])

    def repeats_sql(self, relation: str, order_by: str) -> str:
        """The keys that occur more than once in `relation`, with their first row, its content hash and version: a
        narrow aggregate joined back (a window over the wide rows costs several times the whole check). A count of
        the keys alone finds them first, so that only their rows are trimmed whole and hashed."""
        keys, key_names = self._key_texts()
        named = ", ".join(f"{k} AS {n}" for k, n in zip(keys, key_names))
        content = self._content_hash([self._source_text(p) for p in self.plan.elements if p.derive_from is None])
        version_field = self.entity.version_field
        version = self._source_text(self.plan.element(version_field)) if version_field else "NULL::VARCHAR"
        repeated = f"SELECT {named} FROM {relation} GROUP BY ALL HAVING count(*) > 1"
        on = " AND ".join(f"{k} = __repeated.{n}" for k, n in zip(keys, key_names))
        return (f"SELECT {named}, min({order_by}) AS __first, arg_min({content}, {order_by}) AS __first_content, "
                f"arg_min({version}, {order_by}) AS __first_version "
                f"FROM {relation} SEMI JOIN ({repeated}) AS __repeated ON {on} GROUP BY ALL")

    @staticmethod
    def _content_hash(texts: list[str]) -> str:
        return f"hash([{', '.join(texts)}])"

    def _ok(self, element_id: str) -> str:
        return f"{self._col('r', element_id)} IS NULL"

    def _area(self) -> list[tuple[str, tuple[str, ...], str]]:
        """The position checks as (code, fields, CASE): a placeholder (0/0 or a division centre, where the entity
        flags E_PLACEHOLDER_POSITION) and a position outside the city."""
        if not self.plan.area:
            return []
        lon_id, lat_id, (min_lon, max_lon, min_lat, max_lat) = self.plan.area
        lon, lat = self._col("t", lon_id), self._col("t", lat_id)
        value = f"concat_ws(',', {self.v(lon_id)}, {self.v(lat_id)})"
        both = f"{self._ok(lon_id)} AND {self._ok(lat_id)} AND {lon} IS NOT NULL AND {lat} IS NOT NULL"
        checks = []
        placeholder = "FALSE"
        if self.plan.placeholders:
            placeholder = "(" + " OR ".join(
                f"(abs({lon} - ({x})) < {PLACEHOLDER_TOLERANCE} AND abs({lat} - ({y})) < {PLACEHOLDER_TOLERANCE})"
                for x, y in self.plan.placeholders) + ")"
            checks.append((PLACEHOLDER, (lon_id, lat_id),
                           f"CASE WHEN {both} AND {placeholder} THEN {self._struct(PLACEHOLDER, lon_id, value)} END"))
        outside = (f"{both} AND NOT {placeholder} AND "
                   f"NOT ({lon} BETWEEN {min_lon} AND {max_lon} AND {lat} BETWEEN {min_lat} AND {max_lat})")
        checks.append(("E_OUT_OF_AREA", (lon_id, lat_id),
                       f"CASE WHEN {outside} THEN {self._struct('E_OUT_OF_AREA', lon_id, value)} END"))
        return checks

    def _order(self) -> list[tuple[str, tuple[str, ...], str]]:
        checks = []
        for sequence in self.plan.sequences:
            for index, later in enumerate(sequence):
                if index == 0:
                    continue
                t_later = self._col("t", later)
                earlier = " OR ".join(f"({self._ok(e)} AND {t_later} < {self._col('t', e)})" for e in sequence[:index])
                condition = f"{self._ok(later)} AND {t_later} IS NOT NULL AND ({earlier})"
                checks.append(("E_ORDER", (later,),
                               f"CASE WHEN {condition} THEN {self._struct('E_ORDER', later, self.v(later))} END"))
        return checks

    def _duplicates(self, order_by: str) -> list[tuple[str, tuple[str, ...], str]]:
        """A later row with an earlier row's key: an exact copy is E_DUPLICATE_ROW (counted, kept out of silver);
        a row of a record that `updates` with another `version_field` value is a new version (kept, the latest wins
        downstream); any other row is a true key collision, E_DUPLICATE_KEY."""
        keys = [self.v(k) for k in self.entity.key]
        values = ", ".join(keys)
        present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        value = f"concat_ws(chr(124), {values})"
        copy = f"WHEN {present} AND __is_duplicate AND __is_copy THEN " \
               f"{self._struct('E_DUPLICATE_ROW', self.entity.key[0], value)}"
        version = "WHEN __is_version THEN NULL " if self.entity.updates and self.entity.version_field else ""
        return [("E_DUPLICATE_ROW", (), f"CASE {copy} {version}WHEN {present} AND __is_duplicate THEN "
                 f"{self._struct('E_DUPLICATE_KEY', self.entity.key[0], value)} END")]

    def source_columns(self) -> tuple[str, ...]:
        """The elements a source must supply (derived ones are computed)."""
        return tuple(p.element.id for p in self.plan.elements if p.derive_from is None)


def conform(con: duckdb.DuckDBPyConnection, relation: str, catalogue: Catalogue, entity: str,
            carry: tuple[str, ...] = (), order_by: str = "1", now: dt.datetime | None = None) -> duckdb.DuckDBPyRelation:
    return con.sql(Conformer(catalogue, entity, now).sql(relation, carry, order_by).sql)
