"""Derived columns and the row filter of a source mapping: new export columns computed from the file's own, in SQL
over the raw table, before the columns are mapped onto elements.

    derive:
      occurred: { concat: [Date, Time], sep: " " }        # date and time columns into one
      beat:     { split: location, sep: "-", index: 2 }   # the 2nd part (1-based)
      km:       { regex: "(\\d+\\.\\d)", from: name }       # the first group of a regular expression
      lat:      { point: Location, part: lat }            # "(41.9, -87.6)" (lat, lon) or WKT POINT (lon lat)
      casualties: { expression: "{killed} + {injured}" }  # arithmetic over columns in braces
    keep: { column: opStatus, in: [OK, COMM_FAILURE] }    # rows failing it are quarantined as E_FILTERED

A derived column is named like an export column, and mapped like one under `columns:`.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.standards.conform import literal, quote

_OPERATIONS = ("concat", "split", "regex", "point", "expression")
# Expressions: column references in braces, numbers, + - * / and parentheses; nothing else reaches SQL.
_TOKEN = re.compile(r"\s*(?:(\{[^{}]+\})|(\d+(?:\.\d+)?)|([-+*/()]))")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_WKT_POINT = rf"^\s*POINT\s*(?:Z\s*)?\(\s*{_NUMBER}\s+{_NUMBER}"
_PAIR = rf"^\s*\(?\s*{_NUMBER}\s*[,\s]\s*{_NUMBER}\s*\)?\s*$"


class DerivedColumn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    concat: list[str] | None = Field(None, min_length=2)
    split: str | None = None
    regex: str | None = None
    from_: str | None = Field(None, alias="from")
    group: int = Field(1, ge=0)
    point: str | None = None
    part: Literal["lon", "lat"] | None = None
    # The order of a bare pair "(a, b)": lat_lon (Socrata, most open-data portals) or lon_lat.
    order: Literal["lat_lon", "lon_lat"] = "lat_lon"
    expression: str | None = None
    sep: str = " "
    index: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one_operation(self) -> "DerivedColumn":
        chosen = [op for op in _OPERATIONS if getattr(self, op) is not None]
        if len(chosen) != 1:
            raise ValueError(f"give exactly one of {', '.join(_OPERATIONS)} (found {chosen or 'none'})")
        if self.regex is not None:
            if self.from_ is None:
                raise ValueError("regex needs `from`, the column it reads")
            try:
                groups = re.compile(self.regex).groups
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} is not a regular expression: {exc}") from None
            if self.group > groups:
                raise ValueError(f"regex {self.regex!r} has {groups} groups; group {self.group} does not exist")
        if self.point is not None and self.part is None:
            raise ValueError("point needs `part`: lon or lat")
        if self.expression is not None:
            expression_sql(self.expression, {})
        return self

    def columns(self) -> list[str]:
        """The export columns this one is computed from."""
        if self.concat:
            return list(self.concat)
        if self.expression is not None:
            return [m[1:-1] for m in re.findall(r"\{[^{}]+\}", self.expression)]
        return [self.split or self.from_ or self.point]


class RowFilter(BaseModel):
    """Which rows of the export belong to this entity; the others are quarantined with E_FILTERED."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    column: str
    in_: list[str] | None = Field(None, alias="in", min_length=1)
    not_in: list[str] | None = Field(None, min_length=1)
    matches: str | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_test(self) -> "RowFilter":
        if all(v is None for v in (self.in_, self.not_in, self.matches, self.min, self.max)):
            raise ValueError("keep needs a test: in, not_in, matches, min or max")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"matches {self.matches!r} is not a regular expression: {exc}") from None
        return self

    def sql(self, decimal_comma: bool = False) -> str:
        value = f"trim({quote(self.column)})"
        tests = []
        if self.in_ is not None:
            tests.append(f"{value} IN ({', '.join(literal(v) for v in self.in_)})")
        if self.not_in is not None:
            tests.append(f"{value} NOT IN ({', '.join(literal(v) for v in self.not_in)})")
        if self.matches is not None:
            tests.append(f"regexp_matches({value}, {literal(self.matches)})")
        number = _number(quote(self.column), decimal_comma)
        if self.min is not None:
            tests.append(f"{number} >= {self.min!r}")
        if self.max is not None:
            tests.append(f"{number} <= {self.max!r}")
        return "coalesce(" + " AND ".join(tests) + ", FALSE)"


def _number(column_sql: str, decimal_comma: bool) -> str:
    text = f"trim({column_sql})"
    if decimal_comma:
        text = f"replace({text}, ',', '.')"
    return f"TRY_CAST({text} AS DOUBLE)"


def expression_sql(expression: str, columns: dict[str, str], decimal_comma: bool = False) -> str:
    """Arithmetic over columns as SQL; ValueError for anything but column references, numbers and operators.
    `columns` maps a referenced name to its SQL (empty: only the syntax is checked)."""
    out, at = [], 0
    while at < len(expression.rstrip()):
        match = _TOKEN.match(expression, at)
        if match is None:
            raise ValueError(f"expression {expression!r}: unexpected text at {expression[at:at + 20]!r}; "
                             f"use {{column}} references, numbers, + - * / and parentheses")
        reference, number, operator = match.groups()
        if reference:
            name = reference[1:-1]
            out.append(_number(columns[name], decimal_comma) if columns else "1")
        else:
            out.append(number or operator)
        at = match.end()
    sql = " ".join(out)
    if not columns:
        import duckdb

        try:
            duckdb.connect(":memory:").execute(f"SELECT {sql}")
        except duckdb.Error:
            raise ValueError(f"expression {expression!r} is not well-formed arithmetic") from None
    return sql


def derived_sql(spec: DerivedColumn, decimal_comma: bool = False) -> str:
    """The SQL text value of one derived column (NULL where a column it uses is empty or does not parse)."""
    if spec.concat:
        sep = f" || {literal(spec.sep)} || "
        return "(" + sep.join(f"NULLIF(trim({quote(c)}), '')" for c in spec.concat) + ")"
    if spec.split is not None:
        return f"NULLIF(trim(split_part({quote(spec.split)}, {literal(spec.sep)}, {spec.index})), '')"
    if spec.regex is not None:
        return f"NULLIF(regexp_extract({quote(spec.from_)}, {literal(spec.regex)}, {spec.group}), '')"
    if spec.point is not None:
        value = quote(spec.point)
        wkt_group = 1 if spec.part == "lon" else 2
        pair_group = (2 if spec.part == "lon" else 1) if spec.order == "lat_lon" else wkt_group
        return (f"NULLIF(CASE WHEN regexp_matches({value}, {literal(_WKT_POINT)}, 'i') "
                f"THEN regexp_extract({value}, {literal(_WKT_POINT)}, {wkt_group}, 'i') "
                f"ELSE regexp_extract({value}, {literal(_PAIR)}, {pair_group}) END, '')")
    number = f"({expression_sql(spec.expression, {c: quote(c) for c in spec.columns()}, decimal_comma)})"
    return (f"CASE WHEN isfinite({number}) AND {number} = round({number}) AND abs({number}) < 1e15 "
            f"THEN CAST(CAST({number} AS BIGINT) AS VARCHAR) ELSE CAST({number} AS VARCHAR) END")


def missing_columns(derive: dict[str, DerivedColumn], keep: RowFilter | None, header: list[str]) -> list[str]:
    """Columns the derivations and the filter use that neither the file nor an earlier derivation has."""
    known, missing = set(header), []
    for name, spec in derive.items():
        missing += [c for c in spec.columns() if c not in known and c not in missing]
        known.add(name)
    if keep is not None and keep.column not in known and keep.column not in missing:
        missing.append(keep.column)
    return missing


def create_derived_view(con, raw: str, header: list[str], derive: dict[str, DerivedColumn], keep: RowFilter | None,
                        line_column: str, filter_reason: tuple[str, str], where: str,
                        decimal_comma: bool = False) -> tuple[str, list[str]]:
    """The relation to map (`raw` with the derived columns, the rows `keep` keeps) and its columns; the rows left out
    go to the table `filtered` (_line, reasons) with E_FILTERED and the bilingual `filter_reason`. A derivation or
    filter over a column the file lacks rejects the file (E_DERIVE), naming the column."""
    from safecity.ingestion.readers import UnreadableFile
    from safecity.standards.conform import REASON_TYPE

    con.execute(f"CREATE OR REPLACE TEMP TABLE filtered (_line BIGINT, reasons {REASON_TYPE}[])")
    if (not derive and keep is None) or not header:
        return raw, header
    missing = missing_columns(derive, keep, header)
    if missing:
        raise UnreadableFile(where, "E_DERIVE", f"the mapping's derive/keep use columns the file lacks: {missing}; "
                                                f"the file has {header}")
    relation, columns = raw, list(header)
    for number, (name, spec) in enumerate(derive.items()):
        if name in columns:
            raise UnreadableFile(where, "E_DERIVE", f"derived column {name!r} is already a column of the file")
        step = f"derived_{number}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {step} AS SELECT *, {derived_sql(spec, decimal_comma)} AS "
                    f"{quote(name)} FROM {relation}")
        relation, columns = step, columns + [name]
    if keep is None or not header:
        return relation, columns
    test = keep.sql(decimal_comma)
    zh, en = filter_reason
    con.execute(f"INSERT INTO filtered SELECT {quote(line_column)}, [{{'code': 'E_FILTERED', "
                f"'field': {literal(keep.column)}, 'value': CAST({quote(keep.column)} AS VARCHAR), "
                f"'message_zh': {literal(zh)}, 'message_en': {literal(en)}}}] FROM {relation} WHERE NOT {test}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW kept AS SELECT * FROM {relation} WHERE {test}")
    return "kept", columns
