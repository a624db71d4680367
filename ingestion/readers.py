"""Reading the bureau's export files into Arrow, as received: every value text, every record accounted for.

Each reader takes the file's bytes (from a local folder or a bucket) and the name to show in messages, and returns
the records with their position: the physical line for CSV and JSON Lines, the record number for a JSON document,
the sheet row for Excel — what a person opens the file at to find the record.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

LINE_COLUMN = "_line"
UTF8_BOM = b"\xef\xbb\xbf"
# Nested JSON objects are flattened to dotted column names ("Info.PTZType") that a mapping can refer to.
NESTING = "."


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the message names the file and where reading stopped."""

    def __init__(self, path: Path | str, code: str, message: str, line: int | None = None):
        self.path, self.code, self.line = path, code, line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {code}: {message}")


@dataclass(frozen=True)
class RejectedLine:
    line: int
    text: str
    code: str
    message: str


@dataclass
class RawBatch:
    """The rows of one file: `table` has the file's own columns (all text) and the physical line of each row."""

    table: pa.Table
    header: list[str]
    encoding: str
    rejected: list[RejectedLine] = field(default_factory=list)
    blank_lines: int = 0


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, str]:
    # Exports from the same system arrive both as GB18030 and as UTF-8 with a BOM; the BOM is unambiguous.
    if data.startswith(UTF8_BOM):
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(path, "E_ENCODING",
                             f"not valid {encoding} text at byte {exc.start} ({exc.reason}); "
                             f"check the encoding declared in the source mapping", line) from None


def _empty_lines(utf8: bytes) -> list[int]:
    """Physical numbers of the empty lines, which the CSV parser skips without telling (found without a Python loop)."""
    data = np.frombuffer(utf8, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.array([], dtype=np.int64)
    lengths = ends - starts
    carriage_return_only = (lengths == 1) & (data[np.minimum(starts, max(len(data) - 1, 0))] == 13)
    return (np.flatnonzero((lengths == 0) | carriage_return_only) + 1).tolist()


def _load(source: Path | str | bytes, where: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, where or "<bytes>"
    path = Path(source)
    try:
        return path.read_bytes(), where or str(path)
    except OSError as exc:
        raise UnreadableFile(where or path, "E_FILE", exc.strerror or str(exc)) from None


def _text(source: Path | str | bytes, encoding: str, where: str | None) -> tuple[str, str, str]:
    data, where = _load(source, where)
    text, used = _decode(where, data, encoding)
    if "\x00" in text:
        raise UnreadableFile(where, "E_BINARY", "contains NUL bytes: this is not a text export",
                             text[: text.index("\x00")].count("\n") + 1)
    return text, used, where


def read_csv(source: Path | str | bytes, encoding: str, where: str | None = None) -> RawBatch:
    text, used, path = _text(source, encoding, where)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        empty = pa.table({LINE_COLUMN: pa.array([], pa.int64())})
        return RawBatch(empty, [], used)
    header = next(csv.reader(io.StringIO(first_line)))
    if len(set(header)) != len(header):
        duplicated = sorted({h for h in header if header.count(h) > 1})
        raise UnreadableFile(path, "E_HEADER", f"duplicate column names {duplicated}", 1)

    utf8 = text.encode("utf-8")
    empty = _empty_lines(utf8)
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    # The parser numbers rows among the non-empty lines only; this maps its numbers back to physical lines.
    nonempty = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), np.array(empty, dtype=np.int64))
    invalid: list[tuple[int, str, str]] = []
    whitespace_lines: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        line = int(nonempty[row.number - 1])
        if not row.text.strip():
            whitespace_lines.append(line)
        else:
            invalid.append((line, row.text, f"expected {row.expected_columns} columns, found {row.actual_columns}"))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(utf8),
        # Single-threaded parsing is what gives each skipped row its line number.
        # A block must hold the longest row: the file is in memory already, so one block for all is no extra cost.
        read_options=pacsv.ReadOptions(use_threads=False, block_size=max(1 << 24, min(len(utf8) + 1, (1 << 31) - 1))),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    rejected = [RejectedLine(line, row_text, "E_COLUMNS", message) for line, row_text, message in invalid]
    # Valid rows fill the non-empty data lines that were not skipped, in order (fields with embedded newlines
    # would shift this; the bureau's exports quote none).
    skipped = np.array(sorted([r.line for r in rejected] + whitespace_lines), dtype=np.int64)
    lines = np.setdiff1d(nonempty[1:], skipped)
    table = table.append_column(LINE_COLUMN, pa.array(lines, pa.int64()))
    blank_lines = empty + whitespace_lines
    return RawBatch(table, header, used, rejected, len(blank_lines))


def _cell(value: Any) -> str | None:
    """A JSON or Excel value as the text the conformer reads (booleans lower-case, whole floats without '.0')."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + NESTING))
        else:
            flat[name] = value
    return flat


def records_table(records: Iterable[tuple[int, dict]], header: list[str] | None = None) -> tuple[pa.Table, list[str]]:
    """Rows (position, flat record) as an all-text table; columns in order of first appearance."""
    rows = list(records)
    columns: dict[str, None] = dict.fromkeys(header or [])
    for _, record in rows:
        columns.update(dict.fromkeys(record))
    names = list(columns)
    table = pa.table({name: pa.array([_cell(r.get(name)) for _, r in rows], pa.string()) for name in names}
                     | {LINE_COLUMN: pa.array([line for line, _ in rows], pa.int64())})
    return table, names


def _json_error(where: str, exc: json.JSONDecodeError, line_offset: int = 0) -> UnreadableFile:
    return UnreadableFile(where, "E_JSON", f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno + line_offset)


def read_json(source: Path | str | bytes, encoding: str, where: str | None = None,
              records: str | None = None) -> RawBatch:
    """A JSON document holding a list of records, at the dotted path `records` (GA/T 1400 wraps its lists:
    MotorVehicleListObject.MotorVehicleObject); `_line` is the record's number in that list."""
    text, used, where = _text(source, encoding, where)
    if not text.strip():
        return RawBatch(pa.table({LINE_COLUMN: pa.array([], pa.int64())}), [], used)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(where, exc) from None
    found: Any = document
    for step in (records.split(NESTING) if records else []):
        if not isinstance(found, dict) or step not in found:
            raise UnreadableFile(where, "E_JSON", f"no list of records at {records!r} (missing {step!r})")
        found = found[step]
    if isinstance(found, dict) and not records:
        found = [found]
    if not isinstance(found, list):
        raise UnreadableFile(where, "E_JSON", f"expected a list of records at {records or 'the top level'!r}, "
                                              f"found {type(found).__name__}")
    good, rejected = [], []
    for number, item in enumerate(found, 1):
        if isinstance(item, dict):
            good.append((number, _flatten(item)))
        else:
            rejected.append(RejectedLine(number, json.dumps(item, ensure_ascii=False)[:1000], "E_RECORD",
                                         f"record {number} is a {type(item).__name__}, not an object"))
    table, header = records_table(good)
    return RawBatch(table, header, used, rejected)


def _judge_object(position: int, text: str, good: list, rejected: list) -> None:
    """One JSON text that should be one object (a JSON Lines line, a stream message): flattened into `good`, or
    rejected alone with its position."""
    try:
        item = json.loads(text)
    except json.JSONDecodeError as exc:
        rejected.append(RejectedLine(position, text[:1000], "E_JSON", f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return
    if isinstance(item, dict):
        good.append((position, _flatten(item)))
    else:
        rejected.append(RejectedLine(position, text[:1000], "E_RECORD", f"a {type(item).__name__}, not an object"))


def read_jsonl(source: Path | str | bytes, encoding: str, where: str | None = None) -> RawBatch:
    """JSON Lines: one object per physical line; a line that is not an object is rejected alone."""
    text, used, where = _text(source, encoding, where)
    good, rejected, blank = [], [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            blank += 1
            continue
        _judge_object(number, line, good, rejected)
    table, header = records_table(good)
    return RawBatch(table, header, used, rejected, blank)


def read_xlsx(source: Path | str | bytes, where: str | None = None, sheet: str | None = None) -> RawBatch:
    """The first (or the named) sheet; row 1 is the header; `_line` is the sheet row number."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException
    from zipfile import BadZipFile

    data, where = _load(source, where)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError) as exc:
        raise UnreadableFile(where, "E_FILE", f"not an Excel (.xlsx) workbook: {exc}") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise UnreadableFile(where, "E_FILE", f"no sheet {sheet!r}; the workbook has {book.sheetnames}")
        rows = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
        first = next(rows, None)
        if first is None or all(v is None for v in first):
            return RawBatch(pa.table({LINE_COLUMN: pa.array([], pa.int64())}), [], "xlsx")
        # A sheet's rows are as wide as its widest row: the header ends at its last named cell.
        width = max(i for i, v in enumerate(first, 1) if v is not None)
        header = [_cell(v) or f"column_{i}" for i, v in enumerate(first[:width], 1)]
        if len(set(header)) != len(header):
            duplicated = sorted({h for h in header if header.count(h) > 1})
            raise UnreadableFile(where, "E_HEADER", f"duplicate column names {duplicated}", 1)
        good, rejected, blank = [], [], 0
        for number, values in enumerate(rows, 2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                blank += 1
                continue
            extra = [v for v in values[len(header):] if v is not None]
            if extra:
                text = ",".join(_cell(v) or "" for v in values)
                rejected.append(RejectedLine(number, text[:1000], "E_COLUMNS",
                                             f"expected {len(header)} columns, found {len(header) + len(extra)}"))
                continue
            good.append((number, dict(zip(header, values))))
        table, _ = records_table(good, header)
        return RawBatch(table, header, "xlsx", rejected, blank)
    finally:
        book.close()


FORMATS = ("csv", "json", "jsonl", "xlsx")


def read(source: Path | str | bytes, format: str, encoding: str = "utf-8", where: str | None = None,
         records: str | None = None, sheet: str | None = None) -> RawBatch:
    """One file in any of the FORMATS."""
    if format == "csv":
        return read_csv(source, encoding, where)
    if format == "json":
        return read_json(source, encoding, where, records)
    if format == "jsonl":
        return read_jsonl(source, encoding, where)
    if format == "xlsx":
        return read_xlsx(source, where, sheet)
    raise ValueError(f"unknown format {format!r}; one of {FORMATS}")


def read_messages(messages: Iterable[tuple[int, bytes | None]], encoding: str = "utf-8") -> RawBatch:
    """Stream messages (offset, value), one JSON object each; `_line` is the offset. A message that is not
    text, not JSON or not an object is rejected alone, with its offset."""
    good, rejected = [], []
    for offset, value in messages:
        try:
            text = (value or b"").decode(encoding)
        except UnicodeDecodeError as exc:
            rejected.append(RejectedLine(offset, repr(value[:200]), "E_ENCODING", f"not {encoding} text ({exc.reason})"))
            continue
        _judge_object(offset, text, good, rejected)
    table, header = records_table(good)
    return RawBatch(table, header, encoding, rejected)
