"""Reading the bureau's export files into Arrow, as received: every value text, every record accounted for.

Each reader takes the file's bytes (from a local folder or a bucket) and the name to show in messages, and returns
the records with their position: the physical line for CSV and JSON Lines, the record number for a JSON document,
the sheet row for Excel — what a person opens the file at to find the record.
"""
from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from safecity.ingestion.dialect import RFC4180, CsvDialect, delimiter_hint
from safecity.ingestion.json_documents import read_records

# The raw table's position column. Its name starts with a control character, so that no export column (a header
# cell, a JSON key) can be named like it: such names are refused by check_header.
LINE_COLUMN = "\x1fline"
# The position's name once the export's columns are mapped onto elements (element ids never start with "_").
POSITION = "_line"
UTF8_BOM = b"\xef\xbb\xbf"
# Nested JSON objects are flattened to dotted column names ("Info.PTZType") that a mapping can refer to.
NESTING = "."
# How much of a rejected line or record is kept as its text.
MAX_KEPT_TEXT = 100_000
# JSON and YAML nest no deeper than this (a record of a GA/T 1400 list is 4 deep); deeper text is refused
# before the recursive parsers see it.
MAX_JSON_DEPTH = 64


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


# Text encodings an export may declare (codec names as codecs.lookup spells them). Codecs that transform text
# rather than decode it (unicode_escape, rot13, base64 ...) would rewrite the data, so they are not allowed.
TEXT_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "big5", "ascii", "latin-1", "cp1252", "utf-16",
                  "utf-16-le", "utf-16-be")
GB_FAMILY = ("gb18030", "gbk", "gb2312")


def text_encoding(name: str) -> str:
    """The codec name of an allowed text encoding; ValueError names the allowed ones."""
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, TypeError, ValueError):
        canonical = None
    allowed = {codecs.lookup(e).name: e for e in TEXT_ENCODINGS}
    if canonical not in allowed:
        raise ValueError(f"{name!r} is not an allowed text encoding; one of {', '.join(TEXT_ENCODINGS)}")
    return canonical


def _valid(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, str]:
    """The file's text. UTF-8 Chinese declared GB18030 decodes without error, into mojibake: valid UTF-8 with
    non-ASCII bytes under a GB declaration is an encoding mismatch, as is GB18030 text declared UTF-8."""
    # Exports from the same system arrive both as GB18030 and as UTF-8 with a BOM; the BOM is unambiguous.
    if data.startswith(UTF8_BOM):
        encoding = "utf-8-sig"
    try:
        encoding = text_encoding(encoding)
    except ValueError as exc:
        raise UnreadableFile(path, "E_ENCODING", str(exc)) from None
    if encoding in GB_FAMILY and not data.isascii() and _valid(data, "utf-8"):
        raise UnreadableFile(path, "E_ENCODING_MISMATCH", f"declared {encoding} but the bytes are UTF-8 text; "
                             f"declare encoding: utf-8 in the source mapping", 1)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if encoding.startswith("utf-8") and _valid(data, "gb18030"):
            raise UnreadableFile(path, "E_ENCODING_MISMATCH", f"declared {encoding} but the bytes are GB18030 text "
                                 f"(not valid {encoding} at byte {exc.start}); declare encoding: gb18030 in the "
                                 f"source mapping", line) from None
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


def read_csv(source: Path | str | bytes, encoding: str, where: str | None = None,
             dialect: CsvDialect = RFC4180) -> RawBatch:
    """RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks; lines end in LF, CRLF or CR.
    Another `dialect` (delimiter, quoting, no header, leading rows to skip) is declared in the mapping.

    Plain files without a field that spans lines (the usual export) go through Arrow's parser; the others through
    Python's csv module, which follows the quotes and tells each record's first physical line."""
    text, used, path = _text(source, encoding, where)
    if not dialect.plain:
        return _read_csv_records(text, used, path, dialect)
    first_line = text.split("\n", 1)[0].split("\r", 1)[0]
    if not first_line.strip():
        empty = pa.table({LINE_COLUMN: pa.array([], pa.int64())})
        return RawBatch(empty, [], used)
    if _spans_lines(text):
        return _read_csv_records(text, used, path, dialect)
    header = next(csv.reader(io.StringIO(first_line)))
    _check_delimiter(path, header, dialect, 1)
    check_header(path, header[:_named_width(header)])
    if "\n" not in text.rstrip("\n"):
        return _read_csv_records(text, used, path, dialect)
    try:
        return _read_csv_arrow(text, used, header)
    except pa.ArrowInvalid:
        # Whatever Arrow cannot parse, the strict parser reads or rejects line by line.
        return _read_csv_records(text, used, path, dialect)


def _named_width(header: list[str]) -> int:
    """How many columns are named once empty cells at the header's end are left off."""
    width = len(header)
    while width > 1 and not header[width - 1].strip():
        width -= 1
    return width


def _check_delimiter(path: str, first: list[str], dialect: CsvDialect, line: int) -> None:
    """A file read with the wrong delimiter has one column per line: say so once, instead of rejecting every row."""
    expected = len(dialect.names) if dialect.names else 2
    hint = delimiter_hint(first, dialect.delimiter) if expected > 1 else None
    if hint is not None:
        shown = {"\t": "\\t"}.get(hint, hint)
        raise UnreadableFile(path, "E_DELIMITER", f"the {'header' if dialect.header else 'first record'} is one "
                             f"column {first[0][:80]!r} but splits at {hint!r}: declare csv: {{delimiter: "
                             f"\"{shown}\"}} in the source mapping", line)


def _spans_lines(text: str) -> bool:
    """Whether Arrow's line-per-record parser cannot be used: a line with an odd number of quotes (a quoted field
    goes on, or a quote is unbalanced), a line ended by CR alone, or quoting Arrow would read leniently (`"a"b`
    becomes `ab`) — a quote that opens a field not at its start, or closes one not at its end. Found without a
    Python loop over lines."""
    if text.count("\r") != text.count("\r\n"):
        return True
    if '"' not in text:
        return False
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    at = np.flatnonzero(data == 34)
    # Quotes before each line end, and in all: every line's count must be even.
    before_each_end = np.searchsorted(at, np.flatnonzero(data == 10))
    if bool((np.diff(before_each_end, prepend=0) % 2).any()) or (len(at) - int(before_each_end[-1:].sum())) % 2:
        return True
    # Every line holds an even number of quotes, so they pair up in order: each first one opens, each second closes.
    opening, closing = at[0::2], at[1::2]
    before = np.where(opening > 0, data[np.maximum(opening - 1, 0)], 10)
    after = np.where(closing + 1 < len(data), data[np.minimum(closing + 1, len(data) - 1)], 10)
    # Opened after a delimiter, a line start or a quote (a doubled one); closed before a delimiter, CR, LF or a quote.
    return bool((~np.isin(before, (44, 10, 34))).any() or (~np.isin(after, (44, 13, 10, 34))).any())


def _read_csv_arrow(text: str, used: str, full_header: list[str]) -> RawBatch:
    """Line per record with Arrow. A header with empty trailing cells (a delimiter ending every line) names fewer
    columns than it has: a row with values there is rejected, rows without the trailing cells are read as well."""
    header = full_header[:_named_width(full_header)]
    width = len(full_header)
    utf8 = text.encode("utf-8")
    empty = _empty_lines(utf8)
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    # The parser numbers rows among the non-empty lines only; this maps its numbers back to physical lines.
    nonempty = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), np.array(empty, dtype=np.int64))
    invalid: list[tuple[int, str, str]] = []
    whitespace_lines: list[int] = []

    short: list[tuple[int, list[str]]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        line = int(nonempty[row.number - 1])
        if not row.text.strip():
            whitespace_lines.append(line)
        elif width > len(header) and row.actual_columns == len(header):
            short.append((line, next(csv.reader([row.text]))))
        else:
            invalid.append((line, row.text, f"expected {row.expected_columns} columns, found {row.actual_columns}"))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(utf8),
        # Single-threaded parsing is what gives each skipped row its line number.
        # A block must hold the longest row: the file is in memory already, so one block for all is no extra cost.
        read_options=pacsv.ReadOptions(use_threads=False, block_size=max(1 << 24, min(len(utf8) + 1, (1 << 31) - 1)),
                                       column_names=[f"c{i}" for i in range(width)], skip_rows=1),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(width)},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    rejected = [RejectedLine(line, row_text, "E_COLUMNS", message) for line, row_text, message in invalid]
    # Valid rows fill the non-empty data lines that were not skipped, in order (no field spans lines here).
    skipped = np.array(sorted([r.line for r in rejected] + whitespace_lines + [n for n, _ in short]), dtype=np.int64)
    lines = np.setdiff1d(nonempty[1:], skipped)
    table = table.append_column(LINE_COLUMN, pa.array(lines, pa.int64()))
    if width > len(header):
        table, rejected = _trailing_cells_empty(table, utf8, header, width, short, rejected)
    table = table.rename_columns(header + [LINE_COLUMN])
    return RawBatch(table, header, used, rejected, len(empty) + len(whitespace_lines))


def _trailing_cells_empty(table: pa.Table, utf8: bytes, header: list[str], width: int,
                          short: list[tuple[int, list[str]]], rejected: list[RejectedLine]):
    """The named columns of rows whose unnamed trailing cells are empty, the short rows added in line order; rows
    with a value under an unnamed column rejected."""
    import pyarrow.compute as pc

    extra = [f"c{i}" for i in range(len(header), width)]
    filled = functools.reduce(pc.or_, [pc.not_equal(pc.utf8_trim_whitespace(table[c]), "") for c in extra])
    lines = utf8.decode("utf-8").split("\n")
    for line in pc.filter(table[LINE_COLUMN], filled).to_pylist():
        rejected.append(RejectedLine(line, lines[line - 1][:MAX_KEPT_TEXT], "E_COLUMNS",
                                     f"expected {len(header)} columns, found {width} with values past the header"))
    kept = table.filter(pc.invert(filled)).select([f"c{i}" for i in range(len(header))] + [LINE_COLUMN])
    if short:
        rows = pa.table({f"c{i}": pa.array([cells[i] for _, cells in short], pa.string())
                         for i in range(len(header))} | {LINE_COLUMN: pa.array([n for n, _ in short], pa.int64())})
        kept = pa.concat_tables([kept, rows]).sort_by(LINE_COLUMN)
    return kept, sorted(rejected, key=lambda r: r.line)


def _csv_reader(lines: Iterable[str], dialect: CsvDialect):
    quoting = csv.QUOTE_NONE if dialect.quote is None else csv.QUOTE_MINIMAL
    return csv.reader(lines, strict=True, delimiter=dialect.delimiter, quotechar=dialect.quote or '"',
                      escapechar=dialect.escape, doublequote=dialect.escape is None, quoting=quoting)


def _read_csv_records(text: str, used: str, path: str, dialect: CsvDialect = RFC4180) -> RawBatch:
    """Record by record, following quotes across lines. Bad quoting rejects the line its record starts on (E_QUOTE)
    with its text, and reading goes on at the next line, so one stray quote costs one record."""
    csv.field_size_limit(min(sys.maxsize, (1 << 31) - 1))
    lines = io.StringIO(text, newline="").readlines()
    header: list[str] | None = None if dialect.header else list(dialect.names or [])
    if header is not None:
        check_header(path, header, None)
    width = len(header) if header is not None else 0
    rows: list[tuple[int, list[str]]] = []
    rejected: list[RejectedLine] = []
    blank, start = 0, min(dialect.skip_rows, len(lines))
    while start < len(lines):
        reader = _csv_reader((lines[i] for i in range(start, len(lines))), dialect)
        done = start
        while True:
            try:
                record = next(reader)
            except StopIteration:
                start = len(lines)
                break
            except csv.Error as exc:
                first, consumed = done + 1, start + reader.line_num
                if header is None:
                    raise UnreadableFile(path, "E_QUOTE", f"header: {exc}", first) from None
                rejected.append(RejectedLine(first, lines[first - 1][:MAX_KEPT_TEXT], "E_QUOTE",
                                             f"malformed quoting: {exc}"))
                if consumed > first:
                    # The quote ran on into later lines: they are read again as records of their own.
                    start = first
                    break
                done = consumed
                continue
            first, done = done + 1, start + reader.line_num
            # A line of blanks is empty where it lacks the columns; in a one-column file it is a record of blanks,
            # as the line-per-record path reads it.
            if not "".join(lines[first - 1:done]).strip("\r\n" if width == 1 else None):
                blank += 1
                continue
            if not rows and not rejected and (header is None or not dialect.header):
                _check_delimiter(path, record, dialect, first)
            if header is None:
                width = len(record)
                header = record[:_named_width(record)]
                check_header(path, header, first)
            elif _fits(record, header, width):
                rows.append((first, record[:len(header)]))
            else:
                rejected.append(RejectedLine(first, "".join(lines[first - 1:done])[:MAX_KEPT_TEXT], "E_COLUMNS",
                                             f"expected {len(header)} columns, found {len(record)}"))
    if header is None:
        return RawBatch(pa.table({LINE_COLUMN: pa.array([], pa.int64())}), [], used)
    columns = {f"c{i}": pa.array([r[i] for _, r in rows], pa.string()) for i in range(len(header))}
    table = pa.table(columns | {LINE_COLUMN: pa.array([n for n, _ in rows], pa.int64())})
    table = table.rename_columns(header + [LINE_COLUMN])
    return RawBatch(table, header, used, rejected, blank)


def _fits(record: list[str], header: list[str], width: int) -> bool:
    """A record as wide as the named columns, or as the header with its empty trailing cells, those cells empty."""
    if len(record) == len(header):
        return True
    return len(record) == width and not any(cell.strip() for cell in record[len(header):])


def check_header(where: str | Path, header: list[str], line: int | None = 1) -> None:
    """Column names a table can hold: none empty, none twice, none equal to another but for case (SQL names
    ignore case), none starting with the reserved internal prefix."""
    problems = []
    empty = [i for i, h in enumerate(header, 1) if not h.strip()]
    if empty:
        problems.append(f"empty column names at positions {empty}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        problems.append(f"duplicate column names {duplicated}")
    folded: dict[str, set[str]] = {}
    for h in header:
        folded.setdefault(h.casefold(), set()).add(h)
    clashing = sorted(sorted(names) for names in folded.values() if len(names) > 1)
    if clashing:
        problems.append(f"column names that differ only in case {clashing}")
    control = sorted(h for h in header if any(ord(c) < 32 or ord(c) == 127 for c in h))
    if control:
        problems.append(f"column names with control characters {control}")
    if problems:
        raise UnreadableFile(where, "E_HEADER", "; ".join(problems), line)


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


class FieldClash(ValueError):
    """A record whose keys repeat, or meet once flattened ({"a.b": 1, "a": {"b": 2}}) or once case is folded."""


def _flatten(record: dict, prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    if into is None and _flat_and_checked(record):
        return record
    flat: dict[str, Any] = {} if into is None else into
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, name + NESTING, flat)
        elif name in flat:
            raise FieldClash(f"field {name!r} appears twice once nested keys are joined with {NESTING!r}")
        else:
            flat[name] = value
    if into is None:
        folded: dict[str, str] = {}
        for name in flat:
            other = folded.setdefault(name.casefold(), name)
            if other != name:
                raise FieldClash(f"fields {other!r} and {name!r} differ only in case")
        if flat.keys() == record.keys():
            _CHECKED_KEYS[tuple(record)] = None  # flat (no key was nested) and no case clash
    return flat


# Key tuples of flat records found free of case clashes: an export's records repeat a handful of key sets, and
# walking and case-folding every record's keys was a fifth of reading a GA/T 1400 file. Bounded: full, it starts
# over, so a hostile file of ever-new key sets costs no memory (its records are walked, as before).
_CHECKED_KEYS: dict[tuple[str, ...], None] = {}
_CHECKED_KEYS_MAX = 10_000


def _flat_and_checked(record: dict) -> bool:
    keys = tuple(record)
    if keys not in _CHECKED_KEYS:
        if len(_CHECKED_KEYS) >= _CHECKED_KEYS_MAX:
            _CHECKED_KEYS.clear()
        return False
    for value in record.values():
        if isinstance(value, dict) and value:
            return False
    return True


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise FieldClash(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def _loads(text: str) -> Any:
    """json.loads with duplicate keys refused and nesting bounded before parsing (json recurses per level)."""
    # No text nests deeper than it has opening brackets: counting them (C speed) spares the exact, vectorised
    # depth for texts that could exceed the limit. Per JSON Lines line or stream message the exact depth's numpy
    # setup was half an ingest's time (network telemetry: one flat object per line, a million lines a day).
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = _max_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise TooDeep(f"nested {depth} levels deep; at most {MAX_JSON_DEPTH} are read")
    if text.startswith("\ufeff"):
        return json.loads(text, object_pairs_hook=_object_pairs)  # json's own error for a BOM inside the text
    # One decoder for every text: json.loads builds a new one per call when given a hook.
    return _DECODER.decode(text)


_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs)


class TooDeep(ValueError):
    pass


def _max_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, found without a Python loop over characters."""
    if "[" not in text and "{" not in text:
        return 0
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # Only quotes, backslashes and brackets decide the depth: the rest is dropped first (one table lookup), so the
    # work below runs over a fraction of the text (a GA/T 1400 file: 0.39 s of its 1.3 s read was this on all bytes).
    where = np.flatnonzero(_DEPTH_BYTES[data])
    chars = data[where]
    # Characters inside strings do not count: a quote not escaped toggles; a backslash escapes the character right
    # after it (by position in the text), the even ones of a run of backslashes being those that escape.
    backslash = where[chars == 92]
    escaped = np.zeros(len(chars), dtype=bool)
    if len(backslash):
        run_start = np.ones(len(backslash), dtype=bool)
        run_start[1:] = backslash[1:] != backslash[:-1] + 1
        run_id = np.cumsum(run_start) - 1
        position_in_run = np.arange(len(backslash)) - np.flatnonzero(run_start)[run_id]
        escaped = np.isin(where, backslash[position_in_run % 2 == 0] + 1)
    quote = (chars == 34) & ~escaped
    inside = (np.cumsum(quote) % 2 == 1) & ~quote
    step = np.where(inside, 0, ((chars == 91) | (chars == 123)).astype(np.int64) - ((chars == 93) | (chars == 125)))
    return int(np.cumsum(step).max(initial=0))


_DEPTH_BYTES = np.zeros(256, dtype=bool)
_DEPTH_BYTES[[34, 92, 91, 93, 123, 125]] = True  # " \ [ ] { }


def records_table(records: Iterable[tuple[int, dict]], header: list[str] | None = None) -> tuple[pa.Table, list[str]]:
    """Rows (position, flat record) as an all-text table; columns in order of first appearance."""
    rows = list(records)
    columns: dict[str, None] = dict.fromkeys(header or [])
    for _, record in rows:
        columns.update(dict.fromkeys(record))
    names = list(columns)
    table = pa.table({name: _text_column([r.get(name) for _, r in rows]) for name in names}
                     | {LINE_COLUMN: pa.array([line for line, _ in rows], pa.int64())})
    return table, names


def _text_table(records: list[tuple[int, dict]], rejected: list[RejectedLine]) -> tuple[pa.Table, list[str]]:
    """records_table, rejecting alone (E_ENCODING, with its field) a record holding text that is not Unicode: Python's
    json reads an escaped lone surrogate ("\\ud800") into a str that Arrow cannot store, which failed the whole file."""
    try:
        return records_table(records)
    except UnicodeEncodeError:
        pass
    kept = []
    for position, record in records:
        field = next((name for name, value in record.items() if not _unicode(_cell(value))), None)
        if field is None:
            kept.append((position, record))
            continue
        text = json.dumps(record, default=str)[:MAX_KEPT_TEXT]  # ASCII escapes: the surrogate kept as written
        rejected.append(RejectedLine(position, text, "E_ENCODING",
                                     f"field {field!r} holds a lone surrogate (an escape such as \\ud800 that is "
                                     f"half of a character): not Unicode text"))
    return records_table(kept)


def _unicode(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_column(values: list[Any]) -> pa.Array:
    """Values as the conformer's text; Arrow takes a column of only text and nulls as it is (C speed), and refuses
    any other value, which then goes through `_cell` one by one."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_cell(v) for v in values], pa.string())


def _keyed_records(good: list[tuple[int, dict]], rejected: list[RejectedLine],
                   names: tuple[dict[str, str], set[str]] | None = None) -> list[tuple[int, dict]]:
    """Records whose field names fit one table: a name spelled differently in case from the same name in an
    earlier record ("ID" then "id"), or with control characters, rejects its record (SQL names ignore case).
    `names`: the names met so far, when a file's records come in several parts."""
    # first: each name's first spelling by its case fold; fits: names that passed once pass again, checked once
    first, fits = names if names is not None else ({}, set())
    kept = []
    for position, record in good:
        clash = next((name for name in record if name not in fits and _clashes(name, first, fits)), None)
        if clash is None:
            kept.append((position, record))
            continue
        text = json.dumps(record, ensure_ascii=False, default=str)[:MAX_KEPT_TEXT]
        rejected.append(RejectedLine(position, text, "E_FIELDS",
                                     f"field {clash!r} clashes with {first[clash.casefold()]!r} of an earlier record "
                                     f"or holds control characters"))
    return kept


def _clashes(name: str, first: dict[str, str], fits: set[str]) -> bool:
    if first.setdefault(name.casefold(), name) != name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return True
    fits.add(name)
    return False


def _json_error(where: str, exc: json.JSONDecodeError, line_offset: int = 0) -> UnreadableFile:
    return UnreadableFile(where, "E_JSON", f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno + line_offset)


# Documents of this many characters or more are parsed by DuckDB when they allow it (json_documents); below it the
# parser's start (a connection, a temporary file) costs more than it saves.
DUCKDB_DOCUMENT_CHARS = 1_000_000


def read_json(source: Path | str | bytes, encoding: str, where: str | None = None,
              records: str | None = None) -> RawBatch:
    """A JSON document holding a list of records, at the dotted path `records` (GA/T 1400 wraps its lists:
    MotorVehicleListObject.MotorVehicleObject); `_line` is the record's number in that list."""
    text, used, where = _text(source, encoding, where)
    if not text.strip():
        return RawBatch(pa.table({LINE_COLUMN: pa.array([], pa.int64())}), [], used)
    text = _unwrap_callback(text)
    if len(text) >= DUCKDB_DOCUMENT_CHARS:
        parsed = read_records(text, records, LINE_COLUMN)
        if parsed is not None:
            return RawBatch(*parsed, used)
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(where, exc) from None
    except TooDeep as exc:
        raise UnreadableFile(where, "E_LIMIT", str(exc)) from None
    except FieldClash as exc:
        raise UnreadableFile(where, "E_FIELDS", str(exc)) from None
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
            _keep_flat(number, item, None, good, rejected)
        else:
            rejected.append(RejectedLine(number, json.dumps(item, ensure_ascii=False)[:MAX_KEPT_TEXT], "E_RECORD",
                                         f"record {number} is a {type(item).__name__}, not an object"))
    table, header = _text_table(_keyed_records(good, rejected), rejected)
    return RawBatch(table, header, used, rejected)


# JSONP: a JSON document passed to a callback, `Ext.data.JsonP.callback6({...});` (JSON never starts with a name).
_CALLBACK = re.compile(r"^\s*[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\s*\((.*)\)\s*;?\s*$", re.DOTALL)


def _unwrap_callback(text: str) -> str:
    match = _CALLBACK.match(text)
    return match.group(1) if match and match.group(0).lstrip()[:4] not in ("true", "fals", "null") else text


def _keep_flat(position: int, item: dict, text: str | None, good: list, rejected: list) -> None:
    """`text`: the record as received, when there is one (a line, a message); None: written from `item` only if it
    is rejected (a record of a document: writing every record out cost a tenth of a GA/T 1400 file's read)."""
    try:
        good.append((position, _flatten(item)))
    except FieldClash as exc:
        kept = json.dumps(item, ensure_ascii=False) if text is None else text
        rejected.append(RejectedLine(position, kept[:MAX_KEPT_TEXT], "E_FIELDS", str(exc)))


def _judge_object(position: int, text: str, good: list, rejected: list) -> None:
    """One JSON text that should be one object (a JSON Lines line, a stream message): flattened into `good`, or
    rejected alone with its position."""
    try:
        item = _loads(text)
    except json.JSONDecodeError as exc:
        rejected.append(RejectedLine(position, text[:MAX_KEPT_TEXT], "E_JSON",
                                     f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return
    except TooDeep as exc:
        rejected.append(RejectedLine(position, text[:MAX_KEPT_TEXT], "E_LIMIT", str(exc)))
        return
    except FieldClash as exc:
        rejected.append(RejectedLine(position, text[:MAX_KEPT_TEXT], "E_FIELDS", str(exc)))
        return
    if isinstance(item, dict):
        _keep_flat(position, item, text, good, rejected)
    else:
        rejected.append(RejectedLine(position, text[:MAX_KEPT_TEXT], "E_RECORD", f"a {type(item).__name__}, not an object"))


# JSON Lines records parsed into Python objects at a time before they go to Arrow: a day of network telemetry
# (a million lines, 133 MB) held as dicts took 1.5 GB.
JSONL_PART_LINES = 50_000


def read_jsonl(source: Path | str | bytes, encoding: str, where: str | None = None) -> RawBatch:
    """JSON Lines: one object per line, lines split at line feeds only (U+2028 or a lone CR inside a string is
    data, as JSON allows); a line that is not an object is rejected alone. Read in parts of JSONL_PART_LINES records,
    each turned into Arrow before the next is parsed; the table is the one a single part would give."""
    text, used, where = _text(source, encoding, where)
    rejected: list[RejectedLine] = []
    clashes: list[RejectedLine] = []  # after the lines rejected alone, as when the file was judged in one part
    blank = 0
    names: tuple[dict[str, str], set[str]] = ({}, set())
    parts: list[pa.Table] = []
    good: list[tuple[int, dict]] = []
    for number, line in enumerate(_lines(text), 1):
        if not line.strip():
            blank += 1
            continue
        _judge_object(number, line, good, rejected)
        if len(good) >= JSONL_PART_LINES:
            parts.append(_text_table(_keyed_records(good, clashes, names), rejected)[0])
            good = []
    if good or not parts:
        parts.append(_text_table(_keyed_records(good, clashes, names), rejected)[0])
    table, header = _joined_parts(parts)
    return RawBatch(table, header, used, rejected + clashes, blank)


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` split at line feeds, as text.split("\n") without a last empty line, one at a time."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            yield text[start:]
            return
        yield text[start:stop]
        start = stop + 1


def _joined_parts(parts: list[pa.Table]) -> tuple[pa.Table, list[str]]:
    """Tables of records_table, one after the other: columns in order of first appearance across them, a column a
    part lacks null in its rows."""
    header = list(dict.fromkeys(name for part in parts for name in part.column_names if name != LINE_COLUMN))
    if len(parts) == 1:
        return parts[0], header  # records_table's own order: the header, then the line
    aligned = [pa.table({name: part.column(name) if name in part.column_names else pa.nulls(part.num_rows, pa.string())
                         for name in header} | {LINE_COLUMN: part.column(LINE_COLUMN)}) for part in parts]
    return pa.concat_tables(aligned), header


def read_xlsx(source: Path | str | bytes, where: str | None = None, sheet: str | None = None,
              fill_down: tuple[str, ...] = ()) -> RawBatch:
    """The first (or the named) sheet; row 1 is the header; `_line` is the sheet row number. Columns in `fill_down`
    take the value above where a cell is empty: a merged cell keeps its value in its first row only."""
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
        check_header(where, header)
        missing = [c for c in fill_down if c not in header]
        if missing:
            raise UnreadableFile(where, "E_HEADER", f"fill_down names columns the sheet lacks: {missing}", 1)
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
        table, _ = records_table(_filled(good, fill_down), header)
        return RawBatch(table, header, "xlsx", rejected, blank)
    finally:
        book.close()


def _filled(rows: list[tuple[int, dict]], columns: tuple[str, ...]) -> list[tuple[int, dict]]:
    above: dict[str, Any] = {}
    for _, row in rows:
        for column in columns:
            if row.get(column) is None or (isinstance(row[column], str) and not row[column].strip()):
                row[column] = above.get(column)
            else:
                above[column] = row[column]
    return rows


FORMATS = ("csv", "json", "jsonl", "xlsx", "xml")


def read(source: Path | str | bytes, format: str, encoding: str = "utf-8", where: str | None = None,
         records: str | None = None, sheet: str | None = None, dialect: CsvDialect = RFC4180,
         fill_down: tuple[str, ...] = ()) -> RawBatch:
    """One file in any of the FORMATS."""
    if format == "csv":
        return read_csv(source, encoding, where, dialect)
    if format == "xml":
        from safecity.ingestion.xml_records import read_xml

        return read_xml(source, encoding, where, records)
    if format == "json":
        return read_json(source, encoding, where, records)
    if format == "jsonl":
        return read_jsonl(source, encoding, where)
    if format == "xlsx":
        return read_xlsx(source, where, sheet, fill_down)
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
    table, header = _text_table(_keyed_records(good, rejected), rejected)
    return RawBatch(table, header, encoding, rejected)
