"""Decision tables (决策表): a CSV or XLSX sheet where one row = thresholds → one action, for staff who think in
tables. The YAML policy beside it names the event, the partition key, common conditions and the tests.

Header: condition columns, then a column `action`, then that action's parameters. A condition header is a field
name with an optional operator: `category`, `casualties >=`, `alarm_priority in` (cells of `in` list values split
by `|`). An empty cell places no condition or gives no parameter. Rows are tried top to bottom and the first row
that matches fires (durable's `pri` is the row number), which is how staff read such a table.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safecity.config.yamlfile import Located, did_you_mean

HEADER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|!=|>=|<=|>|<|in)?\s*$")
SYMBOL_OPERATOR = {"=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "in": "in"}
ACTION_COLUMN = "action"


@dataclass(frozen=True)
class Sheet:
    path: Path
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]]  # (line or spreadsheet row number, cells)


def read_sheet(path: Path) -> Sheet:
    """The cells as text; raises a Located-bearing ValueError when the file cannot be read at all."""
    if path.suffix == ".xlsx":
        return _read_xlsx(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TableError([Located(str(path), None, "", "E_FILE", "决策表文件不存在 / table file not found")]) from None
    except UnicodeDecodeError:
        raise TableError([Located(str(path), None, "", "E_ENCODING",
                                  "决策表应为 UTF-8 编码 / the table must be UTF-8 text")]) from None
    reader = csv.reader(text.splitlines())
    lines = [(reader.line_num, [c.strip() for c in row]) for row in reader]
    lines = [(n, row) for n, row in lines if any(row) and not row[0].startswith("#")]
    if not lines:
        raise TableError([Located(str(path), 1, "", "E_TABLE", "决策表为空 / the table is empty")])
    (header_line, header), rows = lines[0], lines[1:]
    return Sheet(path, header, header_line, rows)


def _read_xlsx(path: Path) -> Sheet:
    import openpyxl  # only decision tables in XLSX need it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise TableError([Located(str(path), None, "", "E_FILE", "决策表文件不存在 / table file not found")]) from None
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise TableError([Located(str(path), None, "", "E_TABLE",
                                  f"无法读取 XLSX 决策表 / cannot read the XLSX table: {exc}")]) from None
    sheet = book.worksheets[0]
    lines = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if v is None else _cell_text(v) for v in values]
        if any(cells) and not cells[0].startswith("#"):
            lines.append((number, cells))
    book.close()
    if not lines:
        raise TableError([Located(str(path), 1, "", "E_TABLE", "决策表为空 / the table is empty")])
    (header_line, header), rows = lines[0], lines[1:]
    return Sheet(path, header, header_line, rows)


def _cell_text(value: Any) -> str:
    # Spreadsheets store 3 as 3.0; the catalogue decides the type later, from the text.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class TableError(ValueError):
    def __init__(self, problems: list[Located]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Column:
    index: int
    name: str
    field: str
    operator: str | None  # None for parameter columns


def columns(sheet: Sheet, problems: list[Located]) -> tuple[list[Column], list[Column]]:
    """(condition columns, parameter columns); problems with the header are appended to `problems`."""
    names = [h.strip() for h in sheet.header]
    if ACTION_COLUMN not in names:
        problems.append(Located(str(sheet.path), sheet.header_line, "/header", "E_TABLE",
                                f"表头缺少 {ACTION_COLUMN} 列（条件列在前，动作参数列在后）/ the header needs an "
                                f"{ACTION_COLUMN!r} column between the conditions and the action's parameters",
                                did_you_mean(ACTION_COLUMN, names)))
        return [], []
    split = names.index(ACTION_COLUMN)
    conditions, params = [], []
    for index, name in enumerate(names):
        if index == split:
            continue
        match = HEADER.match(name)
        if index > split:
            if not match or match.group(2):
                problems.append(Located(str(sheet.path), sheet.header_line, f"/header/{index}", "E_TABLE",
                                        f"动作参数列名无效：{name!r} / bad parameter column {name!r}"))
                continue
            params.append(Column(index, name, match.group(1), None))
        elif not match:
            problems.append(Located(str(sheet.path), sheet.header_line, f"/header/{index}", "E_TABLE",
                                    f"条件列名应为“字段 运算符”，如 casualties >=：{name!r} / a condition column is "
                                    f"'field [operator]' with operator one of = != > >= < <= in, got {name!r}"))
        else:
            conditions.append(Column(index, name, match.group(1), SYMBOL_OPERATOR[match.group(2) or "="]))
    return conditions, params


def typed(kind: str, text: str) -> Any:
    """A cell's text as the catalogue type of its field; the text itself when it does not parse (the value check
    then reports it in the author's words)."""
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    except ValueError:
        return text
    return text


_FORMULA_START = ("=", "+", "-", "@")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def formula_cells(sheet: Sheet) -> list[Located]:
    """Cells a spreadsheet would run as a formula when staff open the table (=, +, -, @ at the start of a cell
    that is not a number): a table is data, and a formula in it could run on the reviewer's machine."""
    problems = []
    for row_number, (line, cells) in enumerate([(sheet.header_line, sheet.header)] + list(sheet.rows)):
        for index, cell in enumerate(cells):
            if cell.startswith(_FORMULA_START) and not _NUMBER.match(cell):
                where = f"/header/{index}" if row_number == 0 else f"/rows/{row_number - 1}/{index}"
                problems.append(Located(str(sheet.path), line, where, "E_TABLE_FORMULA",
                                        f"单元格 {cell[:20]!r} 以 {cell[0]} 开头，会被电子表格当作公式执行，请删除该符号或改写 / "
                                        f"a cell starting with {cell[0]!r} is a spreadsheet formula; remove it", None,
                                        index + 1))
    return problems
