"""Reading the bureau's export files into Arrow, as received: every value text, every line accounted for."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

LINE_COLUMN = "_line"
UTF8_BOM = b"\xef\xbb\xbf"


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the message names the file and where reading stopped."""

    def __init__(self, path: Path, code: str, message: str, line: int | None = None):
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


def read_csv(path: str | Path, encoding: str) -> RawBatch:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, "E_FILE", exc.strerror or str(exc)) from None
    text, used = _decode(path, data, encoding)
    if "\x00" in text:
        raise UnreadableFile(path, "E_BINARY", "contains NUL bytes: this is not a text export", text[: text.index("\x00")].count("\n") + 1)
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
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24),
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
