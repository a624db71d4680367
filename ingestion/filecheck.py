"""Checking one file against an entity of the standards, without writing to the lakehouse.

For an engineer with an export in hand: which rows would be rejected and why. Columns are matched to elements
by English identifier or Chinese name; the rejected rows are written beside the file with their reasons.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from safecity.ingestion.derive import create_derived_view
from safecity.ingestion.id_allocation import preview_allocation
from safecity.ingestion.mapping import ColumnSpec, SourceMapping, create_mapped_view
from safecity.ingestion.readers import LINE_COLUMN, POSITION, UnreadableFile, read
from safecity.ingestion.unit_cells import PART, explode
from safecity.standards.catalogue import Catalogue
from safecity.standards.conform import FLAGS_COLUMN, REASONS_COLUMN, Conformer, quote


@dataclass
class FileCheck:
    file: str
    entity: str
    encoding: str
    total: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    # Soft checks: fields flagged (left out) in accepted records, by reason code; they do not reject the record.
    flags: Counter = field(default_factory=Counter)
    unmatched_columns: list[str] = field(default_factory=list)
    rejected_rows: pa.Table | None = None


def _read(path: Path, encoding: str | None, mapping: SourceMapping | None):
    format_ = mapping.format if mapping else {".json": "json", ".jsonl": "jsonl", ".xlsx": "xlsx"}.get(
        path.suffix.lower(), "csv")

    def read_as(used: str):
        return mapping.read(path, encoding=used) if mapping else read(path, format_, used)

    if encoding:
        return read_as(encoding)
    try:
        return read_as("utf-8")
    except UnreadableFile as exc:
        if exc.code not in ("E_ENCODING", "E_ENCODING_MISMATCH"):
            raise
        # The bureau's systems export GB18030 when they do not export UTF-8.
        return read_as("gb18030")


def check_file(catalogue: Catalogue, path: str | Path, entity: str, encoding: str | None = None,
               now: dt.datetime | None = None, mapping: SourceMapping | None = None) -> FileCheck:
    """Columns are read through `mapping` when given, else matched by element id or Chinese name.

    Raises UnreadableFile (naming the file and line) when the file cannot be read at all."""
    path = Path(path)
    raw = _read(path, encoding or (mapping.encoding if mapping else None), mapping)
    conformer = Conformer(catalogue, entity, now)
    if mapping is not None:
        names, defaults, coordinates = mapping.targets, dict(mapping.defaults), mapping.coordinates
    else:
        elements = catalogue.entities[entity].elements
        names = {e.id: ColumnSpec(element=e.id) for e in elements}
        names |= {e.name_zh: ColumnSpec(element=e.id) for e in elements}
        defaults, coordinates = {}, None
    result = FileCheck(str(path), entity, raw.encoding,
                       unmatched_columns=[h for h in raw.header if h not in names])
    con = duckdb.connect(":memory:")
    con.register("raw", raw.table)
    # Derived columns and the row filter first; a line packing several records (unit_cells) is then judged as
    # its records, and totals count records.
    derived, columns = raw_relation(con, raw.header, mapping, catalogue, str(path))
    relation, columns = explode(con, mapping.unit_cells if mapping else None, derived, LINE_COLUMN, columns)
    decimal_comma = mapping.dialect.decimal_comma if mapping else False
    create_mapped_view(con, relation, columns, names, defaults, coordinates, conformer, LINE_COLUMN,
                       part=relation != derived, decimal_comma=decimal_comma)
    mapped = "mapped"
    if mapping is not None and mapping.allocate_ids is not None:
        mapped = preview_allocation(con, mapped, mapping.allocate_ids, catalogue.city)
    order = f"({quote(POSITION)} * 1000000 + {PART})"
    con.execute(f"CREATE TEMP TABLE conformed AS {conformer.sql(mapped, (POSITION, PART), order).sql}")
    if catalogue.entities[entity].flags:
        result.flags.update(dict(con.execute(
            f"SELECT f.code, count(*) FROM (SELECT unnest({FLAGS_COLUMN}) AS f FROM conformed "
            f"WHERE len({REASONS_COLUMN}) = 0) GROUP BY 1").fetchall()))
    rejected = con.execute(f"""
        SELECT {POSITION} AS line,
               list_transform({REASONS_COLUMN}, r -> r.code) AS codes,
               array_to_string(list_transform({REASONS_COLUMN}, r -> r.code), ';') AS reason_codes,
               array_to_string(list_transform({REASONS_COLUMN}, r -> r.field), ';') AS fields,
               array_to_string(list_transform({REASONS_COLUMN}, r -> coalesce(r.value, '')), ';') AS "values",
               array_to_string(list_transform({REASONS_COLUMN}, r -> r.message_zh), '；') AS message_zh,
               array_to_string(list_transform({REASONS_COLUMN}, r -> r.message_en), '; ') AS message_en
        FROM conformed WHERE len({REASONS_COLUMN}) > 0
        UNION ALL SELECT _line, list_transform(reasons, r -> r.code), 'E_FILTERED', reasons[1].field,
               reasons[1].value, reasons[1].message_zh, reasons[1].message_en FROM filtered
        ORDER BY line""").to_arrow_table()
    bad_lines = pa.table({
        "line": pa.array([r.line for r in raw.rejected], pa.int64()),
        "codes": pa.array([[r.code] for r in raw.rejected], pa.list_(pa.string())),
        "reason_codes": [r.code for r in raw.rejected], "fields": ["_line"] * len(raw.rejected),
        "values": [r.text for r in raw.rejected], "message_zh": [r.message for r in raw.rejected],
        "message_en": [r.message for r in raw.rejected]})
    rejected = pa.concat_tables([rejected, bad_lines.cast(rejected.schema)])
    # The rejected rows as they were in the file, beside their reasons.
    con.register("rejected_reasons", rejected)
    originals = ", ".join(f"raw.{quote(h)}" for h in raw.header)
    rejected = con.execute(
        f"SELECT r.*{', ' + originals if originals else ''} FROM rejected_reasons r "
        f"LEFT JOIN raw ON raw.{quote(LINE_COLUMN)} = r.line ORDER BY r.line").to_arrow_table()
    result.total = con.execute("SELECT count(*) FROM conformed").fetchone()[0] + len(raw.rejected)
    result.rejected = rejected.num_rows
    result.accepted = result.total - result.rejected
    for codes in rejected.column("codes").to_pylist():
        result.reasons.update(set(codes))
    result.rejected_rows = rejected.drop_columns(["codes"])
    return result


def raw_relation(con, header: list[str], mapping: SourceMapping | None, catalogue: Catalogue, where: str):
    """The relation to map: the raw rows with the mapping's derived columns, those its filter keeps."""
    reasons = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["reasons"].codes}
    derive, keep = (mapping.derive, mapping.keep) if mapping else ({}, None)
    decimal_comma = mapping.dialect.decimal_comma if mapping else False
    return create_derived_view(con, "raw", header, derive, keep, LINE_COLUMN, reasons["E_FILTERED"], where,
                               decimal_comma)


# A cell a spreadsheet would run as a formula (OWASP CSV injection): it starts with one of these characters and is
# not a plain number. Such cells get a leading apostrophe, which Excel and WPS show as text and do not evaluate.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Every text cell that a spreadsheet would evaluate, prefixed with an apostrophe (vectorised per column)."""
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            starts = pc.utf8_slice_codeunits(column, 0, 1)
            risky = pc.and_(pc.is_in(starts, value_set=pa.array(FORMULA_START)),
                            pc.invert(pc.match_substring_regex(column, PLAIN_NUMBER)))
            column = pc.if_else(pc.fill_null(risky, False), pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_rejected(check: FileCheck, target: Path) -> Path:
    """The rejected rows with their reasons, as CSV with a BOM so that Excel opens the Chinese text correctly, and
    with formula cells neutralised: the file is made to be opened in a spreadsheet."""
    with open(target, "wb") as out:
        out.write(b"\xef\xbb\xbf")
        pacsv.write_csv(neutralise_formulas(check.rejected_rows), out)
    return target
