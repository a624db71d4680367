"""Properties of the readers and the mapping conversions over arbitrary input: bytes never crash a reader (a file
is read or refused with a reason code), what a CSV or JSON Lines writer wrote is read back exactly, and a
conversion never fails in DuckDB whatever text arrives."""
import json

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings, strategies as st

from safecity.ingestion.mapping import ColumnSpec, mapped_select
from safecity.ingestion.readers import LINE_COLUMN, TEXT_ENCODINGS, UnreadableFile, read
from safecity.standards.catalogue import load_catalogue
from tests.ingestion.hostile.files import csv_text

REASONS = {c.code for c in load_catalogue().code_tables["reasons"].codes}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text as exports carry it: any character but NUL and the surrogates no encoder writes.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
NAME = st.text(st.characters(whitelist_categories=("L", "N"), max_codepoint=0x9FFF), min_size=1, max_size=8)


def accounted(batch) -> None:
    positions = batch.table.column(LINE_COLUMN).to_pylist() + [r.line for r in batch.rejected]
    assert len(set(positions)) == len(positions)
    assert all(pa.types.is_string(f.type) for f in batch.table.schema if f.name != LINE_COLUMN)
    assert {r.code for r in batch.rejected} <= REASONS


@PROPERTY
@given(data=st.binary(max_size=400), format_=st.sampled_from(["csv", "json", "jsonl", "xlsx"]),
       encoding=st.sampled_from(TEXT_ENCODINGS))
def test_arbitrary_bytes_are_read_or_refused_with_a_code(data, format_, encoding):
    try:
        batch = read(data, format_, encoding, "fuzz")
    except UnreadableFile as exc:
        assert exc.code in REASONS and str(exc).startswith("fuzz")
        return
    accounted(batch)


@PROPERTY
@given(text=st.text(st.sampled_from('ab,"\r\n 甲'), max_size=60))
def test_csv_made_of_quotes_commas_and_line_breaks(text):
    try:
        batch = read(("h1,h2\n" + text).encode(), "csv", "utf-8", "fuzz.csv")
    except UnreadableFile as exc:
        assert exc.code in REASONS
        return
    accounted(batch)


@PROPERTY
@given(header=st.lists(NAME, min_size=1, max_size=4, unique_by=str.casefold),
       rows=st.lists(st.lists(TEXT, min_size=4, max_size=4), min_size=1, max_size=6),
       terminator=st.sampled_from(["\n", "\r\n", "\r"]))
# Found by the search: CR line ends take the record-by-record path, which read a one-column record of blanks as an
# empty line (the line-per-record path keeps it).
@example(header=["h"], rows=[["\x0c", "", "", ""], ["x", "", "", ""]], terminator="\r")
@example(header=["h"], rows=[["   ", "", "", ""]], terminator="\r")
def test_what_an_rfc_4180_writer_writes_is_read_back(header, rows, terminator):
    rows = [row[:len(header)] for row in rows]
    text = csv_text([header] + rows, terminator)
    # A line of nothing but blanks is an empty line, not a record, where it lacks the header's columns; in a
    # one-column file it has exactly the columns expected and is a record of blanks (the reader cannot tell
    # it from `"   "` written unquoted). A line with nothing at all is empty either way.
    records = [row for row in rows
               if csv_text([row], terminator).strip("\r\n" if len(header) == 1 else None)]
    batch = read(text.encode("utf-8"), "csv", "utf-8", "fuzz.csv")
    assert batch.rejected == []
    assert [[batch.table.column(h)[i].as_py() for h in header] for i in range(batch.table.num_rows)] == records


@PROPERTY
@given(records=st.lists(st.dictionaries(NAME, TEXT, max_size=4), min_size=1, max_size=6))
def test_what_a_json_lines_writer_writes_is_read_back(records):
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    batch = read(text.encode("utf-8"), "jsonl", "utf-8", "fuzz.jsonl")
    clashing = set()
    first: dict[str, str] = {}
    for number, record in enumerate(records, 1):
        if any(first.setdefault(k.casefold(), k) != k for k in record):
            clashing.add(number)
    assert {r.line for r in batch.rejected} == clashing
    kept = [r for n, r in enumerate(records, 1) if n not in clashing]
    assert batch.table.num_rows == len(kept)
    for i, record in enumerate(kept):
        assert {k: batch.table.column(k)[i].as_py() for k in record} == record


SPECS = st.builds(
    ColumnSpec, element=st.just("x"),
    time_format=st.sampled_from([None, "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M", "%d/%m/%Y", "epoch_s", "epoch_ms"]),
    time_zone=st.sampled_from([None, "UTC", "Asia/Shanghai"]),
    codes=st.one_of(st.none(), st.dictionaries(TEXT, TEXT, max_size=3)),
    scale=st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e6)))


@PROPERTY
@given(spec=SPECS, kind=st.sampled_from(["string", "integer", "number", "timestamp"]),
       values=st.lists(st.one_of(st.none(), TEXT, st.integers().map(str), st.floats().map(str)), min_size=1,
                       max_size=8))
def test_conversions_never_fail_in_duckdb(spec, kind, values):
    if kind != "timestamp" and (spec.time_format or spec.time_zone):
        spec = spec.model_copy(update={"time_format": None, "time_zone": None})
    if kind not in ("integer", "number"):
        spec = spec.model_copy(update={"scale": None})
    con = duckdb.connect()
    con.register("raw", pa.table({"c": pa.array(values, pa.string())}))
    items = mapped_select({"c": spec}, {}, ("x",), ["c"], {"x": kind})
    out = con.execute(f"SELECT {', '.join(items)} FROM raw").fetchall()
    assert len(out) == len(values)
    # A value that does not convert passes through as received: nothing silently becomes null.
    assert all(o[0] is not None for o, v in zip(out, values) if v is not None)
