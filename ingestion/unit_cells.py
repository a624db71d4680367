"""Cells that pack a call's responding units as `UNIT=hh:mm:ss, UNIT=hh:mm:ss` (CAD exports with one row per call and
one cell per stage of the chain), exploded into one row per unit: the `unit_cells` block of a source mapping.

The times carry no date and can pass midnight: each is placed on the call's date relative to an anchor, the first
time of the first cell listed (the dispatch cell). A time up to `early_minutes` before the anchor stays before it (a
clock error the checks judge, e.g. an arrival before dispatch); any other earlier clock time is on the next day.

A unit listed twice in one cell with the same time is one response written twice: both rows come out identical,
so the conformer counts the copy as an exact duplicate row. The same unit with a later time is a second response
(`response_no` 2, 3, ...), paired across the cells by order of time.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.standards.conform import literal, quote

# One packed entry: the unit designator, then the clock time.
ENTRY = r"^\s*([^=]*[^=\s])\s*=\s*([0-9]{1,2}):([0-9]{2}):([0-9]{2})\s*$"
DAY_SECONDS = 86_400
# The column with the unit's rank within its call row (0 for a row that lists no unit at all).
PART = "_part"


class UnitCells(BaseModel):
    """The mapping block `unit_cells:` (see the module's docstring)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The column with the call's date and its strptime format ("%m/%d/%y %I:%M %p" for `1/1/10 12:00 AM`).
    date_column: str
    date_format: str
    # The packed columns, the anchor (dispatch) first; map each in `columns` onto its timestamp element.
    cells: list[str] = Field(min_length=1)
    # The names the unit designator and its response number come out under; map them in `columns`.
    unit_column: str = "unit"
    response_column: str = "response_no"
    # Cell texts that mean "no unit" (the literal NULL of SQL Server exports).
    missing: list[str] = Field(default_factory=lambda: ["NULL"])
    early_minutes: int = Field(60, ge=0, le=720)

    @field_validator("date_format")
    @classmethod
    def _strptime(cls, value: str) -> str:
        if "%" not in value:
            raise ValueError(f"date_format {value!r} must be a strptime format (with %)")
        return value

    @field_validator("cells")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("cells must not list a column twice")
        return value

    @property
    def added_columns(self) -> list[str]:
        return [self.unit_column, self.response_column]


def _entries(spec: UnitCells, relation: str, line: str) -> str:
    """One row per packed entry: line, cell index, position in the cell, unit and seconds of the day (NULL when
    the entry is not `UNIT=hh:mm:ss`, its text kept in `raw_time` so the conformer rejects it as received)."""
    missing = ", ".join(literal(m) for m in spec.missing)
    parts = []
    for index, cell in enumerate(spec.cells):
        text = f"NULLIF(trim({quote(cell)}), '')"
        parts.append(f"SELECT {quote(line)} AS line, {index} AS cell, "
                     f"CASE WHEN {text} IS NULL OR {text} IN ({missing}) THEN [] "
                     f"ELSE string_split({quote(cell)}, ',') END AS items FROM {relation}")
    matched = f"regexp_extract(item, {literal(ENTRY)}, ['unit', 'h', 'm', 's'])"
    return (f"SELECT line, cell, pos, item, {matched} AS e FROM ("
            f"SELECT line, cell, unnest(items) AS item, generate_subscripts(items, 1) AS pos "
            f"FROM ({' UNION ALL '.join(parts)})) WHERE trim(item) <> ''")


def exploded_sql(spec: UnitCells, relation: str, line: str, header: list[str]) -> str:
    """SELECT over `relation` (the export's text columns and `line`): one row per unit of each row, the packed
    cells replaced by the unit's ISO local timestamp text, plus the unit, its response number and PART. A row
    that lists no unit comes out once, with PART 0 and no unit."""
    fmt = literal(spec.date_format)
    early = DAY_SECONDS - spec.early_minutes * 60
    seconds = "(TRY_CAST(e.h AS INTEGER) * 3600 + TRY_CAST(e.m AS INTEGER) * 60 + TRY_CAST(e.s AS INTEGER))"
    unit = "coalesce(NULLIF(e.unit, ''), trim(split_part(item, '=', 1)))"
    entries = (f"SELECT line, cell, pos, {unit} AS unit, CASE WHEN e.unit <> '' THEN {seconds} END AS secs, "
               f"CASE WHEN e.unit = '' THEN trim(item) END AS bad FROM ({_entries(spec, relation, line)})")
    anchored = (f"SELECT x.*, arg_min(secs, cell * 1000000 + pos) FILTER (WHERE secs IS NOT NULL) "
                f"OVER (PARTITION BY line) AS anchor FROM ({entries}) x")
    offset = "(((secs - anchor) % 86400) + 86400) % 86400"
    placed = (f"SELECT *, CASE WHEN {offset} > {early} THEN {offset} - 86400 ELSE {offset} END AS delta "
              f"FROM ({anchored})")
    # Same unit and same time in one cell: one response written `copies` times.
    counted = (f"SELECT line, cell, unit, delta, bad, count(*) AS copies, min(pos) AS pos, any_value(anchor) AS anchor "
               f"FROM ({placed}) GROUP BY line, cell, unit, delta, bad")
    ranked = (f"SELECT *, row_number() OVER (PARTITION BY line, cell, unit ORDER BY delta NULLS LAST, pos) AS k "
              f"FROM ({counted})")
    stamp = (f"coalesce(bad, strftime(try_strptime(trim(d.{quote(spec.date_column)}), {fmt}) + "
             f"to_seconds(anchor + delta), '%Y-%m-%d %H:%M:%S'))")
    pivots = ", ".join(f"max(CASE WHEN cell = {i} THEN {stamp} END) AS {quote('__c' + str(i))}"
                       for i in range(len(spec.cells)))
    # Units are ranked by their dispatch (the first cell), then by their earliest time in any cell.
    units = (f"SELECT r.line, r.unit, r.k, max(copies) AS copies, "
             f"coalesce(min(delta) FILTER (WHERE cell = 0), min(delta)) AS first_delta, min(r.pos) AS pos, "
             f"{pivots} FROM ({ranked}) r JOIN {relation} d ON d.{quote(line)} = r.line GROUP BY r.line, r.unit, r.k")
    numbered = (f"SELECT *, row_number() OVER (PARTITION BY line ORDER BY first_delta NULLS LAST, pos, unit, k) "
                f"AS {PART} FROM ({units}), range(copies)")
    kept = [c for c in header if c not in spec.cells]
    cells = ", ".join(f"u.{quote('__c' + str(i))} AS {quote(c)}" for i, c in enumerate(spec.cells))
    nulls = ", ".join(f"NULL::VARCHAR AS {quote(c)}" for c in spec.cells)
    carried = ", ".join(f"d.{quote(c)}" for c in kept)
    carried = carried + ", " if carried else ""
    unit_col, response_col = quote(spec.unit_column), quote(spec.response_column)
    return (f"SELECT {carried}{cells}, u.unit AS {unit_col}, CAST(u.k AS VARCHAR) AS {response_col}, "
            f"d.{quote(line)}, u.{PART} FROM {relation} d JOIN ({numbered}) u ON u.line = d.{quote(line)} "
            f"UNION ALL SELECT {carried}{nulls}, NULL::VARCHAR, NULL::VARCHAR, d.{quote(line)}, 0 AS {PART} "
            f"FROM {relation} d WHERE d.{quote(line)} NOT IN (SELECT line FROM ({numbered}))")


def explode(con, spec: UnitCells | None, relation: str, line: str, header: list[str]) -> tuple[str, list[str]]:
    """The relation to map and its columns: `relation` itself without `spec`, else the temp table `units` of one row
    per unit (exploded_sql) with the unit and response columns added to the header."""
    if spec is None or not header:
        return relation, header
    con.execute(f"CREATE OR REPLACE TEMP TABLE units AS {exploded_sql(spec, relation, line, header)}")
    return "units", header + spec.added_columns
