"""Families of hostile export files, generated: each case is the bytes, how they are declared, and the exact
outcome — the file refused whole with a reason code, or its rows and its rejected lines with theirs.

A family is one class of input (a quoted line break, a stray quote, a clashing header ...) crossed with where it
sits in the file and how the file is otherwise written, so a class is closed for every place it can occur.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

NAMES = ["海港区点位", "北戴河\"海滨\"", "山海关, 老龙头", "昌黎县"]


@dataclass(frozen=True)
class Outcome:
    """`file_code`: the whole file is refused with it. Otherwise `rows` records are read and `rejected` lists
    (line, code) of the records refused alone; `values` are the expected values of column `column`."""
    file_code: str | None = None
    rows: int = 0
    rejected: tuple[tuple[int, str], ...] = ()
    column: str | None = None
    values: tuple[str, ...] | None = None
    lines: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FileCase:
    format: str
    encoding: str
    data: bytes
    outcome: Outcome
    records: str | None = None
    extra: dict = field(default_factory=dict)


def case(id_: str, format_: str, encoding: str, data: bytes, outcome: Outcome, records: str | None = None):
    return pytest.param(FileCase(format_, encoding, data, outcome, records), id=id_)


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


def csv_text(rows: list[list[str]], end: str = "\n") -> str:
    return "".join(",".join(_csv_field(v) for v in row) + end for row in rows)


def quoted_line_breaks():
    """RFC 4180: a quoted field holds a line break (LF, CRLF or CR) — in any column, in any row, with any line end."""
    for end_name, end in (("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")):
        for brk_name, brk in (("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r"), ("two", "\n\n")):
            for row in range(3):
                for column in (0, 1):
                    values = [[f"{n}", NAMES[n]] for n in range(3)]
                    values[row][column] = f"第一行{brk}第二行"
                    text = csv_text([["编号", "名称"]] + values, end)
                    first_lines = []
                    line = 2
                    for n in range(3):
                        first_lines.append(line)
                        line += 1 + (brk.count("\n") + brk.replace("\r\n", "").count("\r") if n == row else 0)
                    yield case(f"csv-quoted-break-{brk_name}-in-col{column}-row{row}-ends-{end_name}", "csv",
                               "gb18030", text.encode("gb18030"),
                               Outcome(rows=3, column=["编号", "名称"][column],
                                       values=tuple(v[column] for v in values), lines=tuple(first_lines)))


def doubled_quotes():
    for count in range(1, 5):
        for place in ("start", "middle", "end", "only"):
            inner = '"' * count
            value = {"start": inner + "秦皇岛", "middle": "秦" + inner + "皇岛", "end": "秦皇岛" + inner,
                     "only": inner}[place]
            text = csv_text([["编号", "名称"], ["1", value], ["2", "抚宁区"]])
            yield case(f"csv-doubled-quotes-{count}-{place}", "csv", "utf-8", text.encode(),
                       Outcome(rows=2, column="名称", values=(value, "抚宁区"), lines=(2, 3)))


def stray_quotes():
    """A quote opened and never closed, or text after a closing quote: that line alone is rejected (E_QUOTE) with
    its text, and the lines after it are read."""
    for total in (2, 3, 5):
        for bad in range(total):
            rows = [f"{n},名称{n}" for n in range(total)]
            rows[bad] = f'{bad},"未闭合的引号{bad}'
            text = "编号,名称\n" + "\n".join(rows) + "\n"
            yield case(f"csv-unclosed-quote-row{bad}-of-{total}", "csv", "utf-8", text.encode(),
                       Outcome(rows=total - 1, rejected=((bad + 2, "E_QUOTE"),)))
            rows = [f"{n},名称{n}" for n in range(total)]
            rows[bad] = f'{bad},"引号"后有文字'
            text = "编号,名称\n" + "\n".join(rows) + "\n"
            yield case(f"csv-text-after-quote-row{bad}-of-{total}", "csv", "utf-8", text.encode(),
                       Outcome(rows=total - 1, rejected=((bad + 2, "E_QUOTE"),)))


def wrong_widths():
    for end_name, end in (("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")):
        for quoted in (False, True):
            for bad in range(3):
                for width in (1, 3, 5):
                    rows = [["1", "甲"], ["2", "乙"], ["3", "丙"]]
                    rows[bad] = [str(bad + 1)] + ["x"] * (width - 1)
                    if quoted:
                        rows[(bad + 1) % 3][1] = "含\n换行"
                    text = csv_text([["编号", "名称"]] + rows, end)
                    line = 2 + bad + (1 if quoted and (bad + 1) % 3 < bad else 0)
                    yield case(f"csv-width-{width}-row{bad}-{'quoted' if quoted else 'plain'}-{end_name}", "csv",
                               "utf-8", text.encode(), Outcome(rows=2, rejected=((line, "E_COLUMNS"),)))


def bad_headers():
    headers = {
        "empty-first": ["", "名称"], "empty-middle": ["编号", "", "名称"],
        "duplicate": ["编号", "编号"], "case": ["DeviceID", "deviceid"], "case-upper": ["NAME", "Name"],
        "control": ["编号", "名\x01称"], "control-del": ["编\x7f号", "名称"], "line-column-lookalike": ["\x1fline", "名称"],
    }
    for name, header in headers.items():
        for quoted in (False, True):
            rows = [header, ["1", "甲\n乙" if quoted else "甲"]]
            text = csv_text(rows)
            yield case(f"csv-header-{name}-{'quoted' if quoted else 'plain'}", "csv", "utf-8",
                       text.encode(), Outcome(file_code="E_HEADER"))
    # An empty last header cell is a trailing delimiter: a value under it makes its row a field too long.
    for name, header in {"empty-last": ["编号", ""], "blank-last": ["编号", "  "]}.items():
        for quoted in (False, True):
            text = csv_text([header, ["1", "甲\n乙" if quoted else "甲"]])
            yield case(f"csv-header-{name}-{'quoted' if quoted else 'plain'}", "csv", "utf-8", text.encode(),
                       Outcome(rows=0, rejected=((2, "E_COLUMNS"),)))
    for internal in ("_line", "_file", "_batch_id", "_source", "_reasons", "__input", "record"):
        text = csv_text([["编号", internal], ["1", "值"]])
        yield case(f"csv-internal-like-column-{internal}", "csv", "utf-8", text.encode(),
                   Outcome(rows=1, column=internal, values=("值",), lines=(2,)))


def encodings():
    utf8 = csv_text([["编号", "名称"], ["1", "秦皇岛"]]).encode("utf-8")
    gb = csv_text([["编号", "名称"], ["1", "秦皇岛"]]).encode("gb18030")
    for declared in ("gb18030", "gbk", "GB2312", "GB18030"):
        for fmt, data in (("csv", utf8), ("jsonl", '{"名称": "秦皇岛"}\n'.encode()),
                          ("json", '[{"名称": "秦皇岛"}]'.encode())):
            yield case(f"{fmt}-utf8-declared-{declared}", fmt, declared, data, Outcome(file_code="E_ENCODING_MISMATCH"))
    for declared in ("utf-8", "utf8", "UTF-8"):
        for fmt, data in (("csv", gb), ("jsonl", '{"名称": "秦皇岛"}\n'.encode("gb18030"))):
            yield case(f"{fmt}-gb18030-declared-{declared}", fmt, declared, data,
                       Outcome(file_code="E_ENCODING_MISMATCH"))
    for codec in ("unicode_escape", "raw_unicode_escape", "rot13", "base64", "hex", "zlib", "punycode", "idna",
                  "no-such-codec", "", "utf-7", "uu"):
        yield case(f"csv-codec-{codec or 'empty'}", "csv", codec, utf8, Outcome(file_code="E_ENCODING"))
    for fmt in ("csv", "json", "jsonl"):
        yield case(f"{fmt}-nul-bytes", fmt, "utf-8", b"a,b\n1,\x00\n", Outcome(file_code="E_BINARY"))
        yield case(f"{fmt}-not-text", fmt, "utf-8", b"\xff\xfe\x00\xd8" * 40, Outcome(file_code="E_ENCODING"))
    yield case("csv-bom-declared-gb18030", "csv", "gb18030", b"\xef\xbb\xbf" + utf8,
               Outcome(rows=1, column="名称", values=("秦皇岛",), lines=(2,)))


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a": ' * depth + leaf + "}" * depth


def json_documents():
    for depth in (65, 100, 1000, 10_000, 100_000):
        yield case(f"json-nested-{depth}", "json", "utf-8", f"[{nested(depth)}]".encode(), Outcome(file_code="E_LIMIT"))
        yield case(f"json-array-nested-{depth}", "json", "utf-8", ("[" * depth + "]" * depth).encode(),
                   Outcome(file_code="E_LIMIT"))
    for depth in (1, 10, 60):
        yield case(f"json-nested-ok-{depth}", "json", "utf-8", f"[{nested(depth)}]".encode(),
                   Outcome(rows=1, column="a" + ".a" * (depth - 1), values=("1",), lines=(1,)))
    # Brackets inside strings are data, not nesting.
    text = json.dumps([{"名称": "[" * 500 + "\\\"{" * 300}])
    yield case("json-brackets-in-strings", "json", "utf-8", text.encode(), Outcome(rows=1))
    yield case("json-duplicate-key", "json", "utf-8", b'[{"a": 1, "a": 2}]', Outcome(file_code="E_FIELDS"))
    yield case("json-duplicate-nested-key", "json", "utf-8", b'[{"a": {"b": 1, "b": 2}}]', Outcome(file_code="E_FIELDS"))
    clashes = {
        "dotted-vs-nested": '{"a.b": 1, "a": {"b": 2}}', "nested-vs-dotted": '{"a": {"b": 2}, "a.b": 1}',
        "case": '{"ID": 1, "id": 2}', "case-nested": '{"Info": {"X": 1}, "info.x": 2}',
    }
    for name, record in clashes.items():
        for position in range(3):
            records = ['{"ok": 1}'] * 3
            records[position] = record
            yield case(f"json-clash-{name}-record{position + 1}", "json", "utf-8",
                       ("[" + ",".join(records) + "]").encode(),
                       Outcome(rows=2, rejected=((position + 1, "E_FIELDS"),)))
            yield case(f"jsonl-clash-{name}-line{position + 1}", "jsonl", "utf-8",
                       ("\n".join(records) + "\n").encode(), Outcome(rows=2, rejected=((position + 1, "E_FIELDS"),)))
    yield case("json-case-across-records", "json", "utf-8", b'[{"ID": 1}, {"id": 2}, {"ID": 3}]',
               Outcome(rows=2, rejected=((2, "E_FIELDS"),)))
    for name, item in (("number", "1"), ("string", '"x"'), ("null", "null"), ("list", "[1]"), ("bool", "true")):
        yield case(f"json-record-is-{name}", "json", "utf-8", f'[{{"a": 1}}, {item}]'.encode(),
                   Outcome(rows=1, rejected=((2, "E_RECORD"),)))
    for name, text in (("truncated", '[{"a": 1}'), ("trailing-comma", '[{"a": 1},]'), ("single-quotes", "[{'a': 1}]"),
                       ("nan", '[{"a": NaN'), ("garbage", "<xml/>")):
        yield case(f"json-invalid-{name}", "json", "utf-8", text.encode(), Outcome(file_code="E_JSON"))


def json_lines():
    """JSON Lines are split at line feeds only: other Unicode line breaks inside a string are data."""
    for name, brk in (("u2028", "\u2028"), ("u2029", "\u2029"), ("nel", "\u0085"), ("vt", "\x0b"), ("ff", "\x0c"),
                      ("fs", "\x1c")):
        for position in range(3):
            values = ["甲", "乙", "丙"]
            values[position] = f"前{brk}后"
            lines = [json.dumps({"名称": v}, ensure_ascii=False) for v in values]
            expected = tuple(values)
            yield case(f"jsonl-{name}-in-string-line{position + 1}", "jsonl", "utf-8",
                       ("\n".join(lines) + "\n").encode(),
                       Outcome(rows=3, column="名称", values=expected, lines=(1, 2, 3)))
    for position in range(3):
        # A raw CR inside a string is not JSON, but it is one line: one record rejected, not two.
        for name, bad, code in (("raw-cr-in-string", '{"a": "x\ry"}', "E_JSON"), ("invalid", "{oops", "E_JSON"),
                                ("array", "[1, 2]", "E_RECORD"),
                                ("deep", nested(200), "E_LIMIT"), ("dup", '{"a": 1, "a": 2}', "E_FIELDS")):
            lines = ['{"a": 1}'] * 3
            lines[position] = bad
            yield case(f"jsonl-{name}-line{position + 1}", "jsonl", "utf-8", ("\n".join(lines) + "\n").encode(),
                       Outcome(rows=2, rejected=((position + 1, code),)))
    yield case("jsonl-crlf", "jsonl", "utf-8", b'{"a": 1}\r\n{"a": 2}\r\n',
               Outcome(rows=2, column="a", values=("1", "2"), lines=(1, 2)))


def all_cases():
    families = (quoted_line_breaks, doubled_quotes, stray_quotes, wrong_widths, bad_headers, encodings,
                json_documents, json_lines)
    return [c for family in families for c in family()]
