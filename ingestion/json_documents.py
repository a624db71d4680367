"""A JSON document's list of records parsed by DuckDB, when the document is one that the record-by-record reading in
Python (readers.read_json) would read to the same table: every record a flat object of text, whole numbers, booleans
and nulls, no repeated or clashing field names, nothing that Python's json and DuckDB's parser judge differently.
Any other document gives None and is read in Python, which keeps every per-record rejection and error message.

Why: parsing a day's GA/T 1400 pass files in Python was the day's largest cost in CPU (2.2 s per 100,000 passes,
a core of the two in the read-ahead worker); DuckDB parses and splits the same file in about a third of it.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

# JSON's own whitespace (Python's json and the standard); DuckDB's parser also skips a form feed.
_WS = r"[ \t\n\r]*"
# What DuckDB's parser accepts and Python's json refuses: a comma before a closing bracket, and control characters
# (other than JSON's whitespace) between values or inside strings. A match inside a string only sends the document
# to the Python reading, which is always right. (Two checks over bytes: one regular expression with both took 0.45 s
# of a 52 MB file, these 0.06 s.)
_TRAILING_COMMA = re.compile(rb",[ \t\n\r]*[}\]]")
_NOT_CONTROL = bytes(range(0x20, 0x100)) + b"\t\n\r"
# Value types read as the Python reading writes them (readers._cell): text as is, whole numbers in decimal, booleans
# lower case. A float (its text differs: 1.0 against 1), a nested object or list, NaN and inf go to Python.
_PLAIN_TYPES = {"VARCHAR", "BIGINT", "UBIGINT", "BOOLEAN", "NULL", None}
# Field names used in DuckDB's JSON paths ($."name"): word characters only, so that no name is read as a path
# operator (a "*" is a wildcard, a "." a step).
_PLAIN_NAME = re.compile(r"\w+")


def _array_text(text: str, records: str | None) -> str | None:
    """The text of the list of records: the document must be exactly the objects of the dotted path `records` around
    one list, with nothing else in them (other keys, escapes in the path's names)."""
    steps = records.split(".") if records else []
    opening = re.compile(_WS + "".join(r"\{" + _WS + re.escape(f'"{step}"') + _WS + ":" + _WS for step in steps))
    found = opening.match(text)
    if found is None or text[found.end():found.end() + 1] != "[":
        return None
    closing = re.search(r"\]" + _WS + (r"\}" + _WS) * len(steps) + r"\Z", text[-(4096 + 8 * len(steps)):])
    if closing is None:
        return None
    end = len(text) - len(closing.group(0)) + 1
    return text[found.end():end] if end > found.end() else None


def _plain_header(con) -> list[str] | None:
    """The field names in order of first appearance, if every record is an object with plain names, each once, and
    no two names differ only in case (Python rejects such records one by one)."""
    sets = con.execute("SELECT json_type(rec) AS kind, json_keys(rec) AS names, min(rowid) AS first FROM records "
                       "GROUP BY ALL ORDER BY first").fetchall()
    header: dict[str, None] = {}
    for kind, names, _ in sets:
        if kind != "OBJECT" or len(set(names)) != len(names):
            return None
        header.update(dict.fromkeys(names))
    names = list(header)
    if not all(_PLAIN_NAME.fullmatch(name) for name in names) or len({n.casefold() for n in names}) != len(names):
        return None
    return names


def read_records(text: str, records: str | None, position: str) -> tuple[pa.Table, list[str]] | None:
    """The records at the dotted path `records` of the JSON document `text` as an all-text table with each record's
    number in the list in `position`, and the field names; None if the document must be read in Python."""
    array = _array_text(text, records)
    if array is None:
        return None
    try:
        data = array.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if _TRAILING_COMMA.search(data) or data.translate(None, _NOT_CONTROL):
        return None
    with tempfile.TemporaryDirectory(prefix="safecity-json-") as folder:
        path = Path(folder) / "records.json"
        path.write_bytes(data)
        del data
        con = duckdb.connect(":memory:")
        try:
            # In the list's order (insertion order is kept), so that rowid + 1 is each record's number.
            con.execute("CREATE TABLE records AS SELECT json AS rec FROM read_json_objects(?, format = 'array')",
                        [str(path)])
            header = _plain_header(con)
            if header is None:
                return None
            if not header:
                count, = con.execute("SELECT count(*) FROM records").fetchone()
                return pa.table({position: pa.array(range(1, count + 1), pa.int64())}), []
            paths = "[" + ", ".join(f"'$.\"{name}\"'" for name in header) + "]"
            types = {kind for kind, in con.execute(f"SELECT DISTINCT unnest(json_type(rec, {paths})) FROM records")
                     .fetchall()}
            if not types <= _PLAIN_TYPES:
                return None
            columns = ", ".join(f"v[{i}] AS \"{name}\"" for i, name in enumerate(header, 1))
            table = con.execute(f"SELECT {columns}, rowid + 1 AS \"{position}\" FROM (SELECT rowid, "
                                f"json_extract_string(rec, {paths}) AS v FROM records) ORDER BY rowid").arrow()
        except duckdb.Error:
            return None  # not JSON as DuckDB reads it, or too large a record for it: Python says what is wrong
        finally:
            con.close()
    table = table.read_all() if isinstance(table, pa.RecordBatchReader) else table
    schema = pa.schema([pa.field(name, pa.string()) for name in header] + [pa.field(position, pa.int64())])
    return table.cast(schema), header
