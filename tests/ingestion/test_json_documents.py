"""A JSON document parsed by DuckDB (ingestion/json_documents.py) reads to exactly the table the record-by-record
reading in Python gives, and every document the two parsers judge differently is left to Python: each case is read
both ways through read_json (the DuckDB path forced with a threshold of 0 characters) and compared whole — rows,
header, rejections, or the error message."""
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecity.ingestion import readers
from safecity.ingestion.json_documents import read_records
from safecity.ingestion.readers import LINE_COLUMN, UnreadableFile, read_json

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "exports" / "gat1400"
PATH = "MotorVehicleListObject.MotorVehicleObject"


def read_both(monkeypatch, text: str, records: str | None = PATH):
    """(DuckDB allowed, Python only): each a RawBatch's (rows, header, rejections), or the error's text."""
    def one(threshold):
        monkeypatch.setattr(readers, "DUCKDB_DOCUMENT_CHARS", threshold)
        try:
            batch = read_json(text.encode("utf-8"), "utf-8", "doc.json", records)
        except UnreadableFile as exc:
            return str(exc)
        return batch.table.to_pylist(), batch.header, batch.table.schema, batch.rejected
    return one(0), one(10**12)


def wrapped(records_text: str) -> str:
    return '{"MotorVehicleListObject": {"MotorVehicleObject": ' + records_text + "}}"


def test_the_real_capture_reads_the_same_and_its_pictures_send_it_to_python(monkeypatch):
    """A real platform's document nests each record's pictures (SubImageList, a list in an object): Python flattens
    those, so the document is left to it, and reads the same."""
    text = (REAL / "viid_motorvehicles_community_capture.json").read_text("utf-8")
    fast, plain = read_both(monkeypatch, text)
    assert fast == plain
    assert read_records(text, PATH, LINE_COLUMN) is None


def test_the_real_capture_without_its_pictures_is_parsed_by_duckdb(monkeypatch):
    """The same real records (CRLF, indented, empty strings, false booleans, "HasPlate": "1") without the nested
    pictures: taken by DuckDB, and the same table."""
    raw = (REAL / "viid_motorvehicles_community_capture.json").read_text("utf-8")
    document = json.loads(raw)
    for record in document["MotorVehicleListObject"]["MotorVehicleObject"]:
        record.pop("SubImageList")
    text = json.dumps(document, ensure_ascii=False, indent=2).replace("\n", "\r\n")
    fast, plain = read_both(monkeypatch, text)
    assert fast == plain and len(plain[0]) == len(document["MotorVehicleListObject"]["MotorVehicleObject"])
    table, header = read_records(text, PATH, LINE_COLUMN)
    assert header == plain[1] and table.to_pylist() == plain[0]


# Documents DuckDB reads as Python does: taken by the DuckDB path, and equal.
TAKEN = {
    "text, whole numbers, booleans, nulls": '[{"a": "x", "b": 1, "c": true, "d": null}, {"b": -0, "c": false}]',
    "columns in order of first appearance": '[{"b": 1}, {"a": 2, "b": 3}, {"c": 4, "a": 5}]',
    "64-bit edges": '[{"a": 18446744073709551615, "b": -9223372036854775808}]',
    "escapes": r'[{"a": "x\ny\t\"q\" \/ \u4e1c \ud83d\ude00 \u0000"}]',
    "an escaped name": r'[{"\u0041": 1}]',
    "Chinese names and text": '[{"车牌号": "冀C12345", "速度": 60}]',
    "empty list": "[]",
    "records with no fields": "[{}, {}]",
    "whitespace everywhere": ' \r\n[ \t{ "a" : 1 } ,\n { "a" : 2 } ] \n',
}

# Documents the parsers judge differently, or that Python rejects record by record: left to Python, and equal.
LEFT = {
    "a trailing comma in a record (DuckDB accepts it)": '[{"a": 1,}]',
    "a trailing comma in the list": '[{"a": 1},]',
    "a form feed between records (DuckDB accepts it)": '[\x0c{"a": 1}]',
    "NaN (both accept it; Python writes nan)": '[{"a": NaN}]',
    "inf (DuckDB accepts it)": '[{"a": inf}]',
    "a float": '[{"a": 1.0}, {"a": 2.5}]',
    "a huge integer": '[{"a": 123456789012345678901234567890}]',
    "a nested object": '[{"a": {"b": 1}}]',
    "an empty object as a value": '[{"a": {}}]',
    "a list as a value": '[{"a": [1, 2]}]',
    "a repeated name": '[{"a": 1, "a": 2}]',
    "names differing in case": '[{"ID": 1}, {"id": 2}]',
    "a dotted name": '[{"a.b": 1}]',
    "a wildcard name": '[{"*": 1}]',
    "a name with a control character": r'[{"a\u0001": 1}]',
    "a record that is not an object": '[1, {"a": 2}]',
    "a list inside the list": '[[{"a": 1}]]',
    "a lone surrogate": r'[{"a": "\ud800"}]',
    "a control character in a string": '[{"a": "x\x01y"}]',
    "two lists": '[{"a": 1}] [{"a": 2}]',
    "a missing comma": '[{"a": 1} {"a": 2}]',
    "not closed": '[{"a": 1}',
    "a comment": '[{"a": 1} /* c */]',
}


@pytest.mark.parametrize("records", list(TAKEN.values()), ids=list(TAKEN))
def test_documents_duckdb_reads_like_python(monkeypatch, records):
    fast, plain = read_both(monkeypatch, wrapped(records))
    assert fast == plain
    assert read_records(wrapped(records), PATH, LINE_COLUMN) is not None


@pytest.mark.parametrize("records", list(LEFT.values()), ids=list(LEFT))
def test_documents_read_differently_are_left_to_python(monkeypatch, records):
    fast, plain = read_both(monkeypatch, wrapped(records))
    assert fast == plain
    assert read_records(wrapped(records), PATH, LINE_COLUMN) is None


@pytest.mark.parametrize("document", [
    '{"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}], "Extra": 1}}',
    '{"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}], "MotorVehicleObject": [{"a": 2}]}}',
    '{"MotorVehicleListObject": {"Other": [{"a": 1}]}}',
    '{"MotorVehicleListObject": {"MotorVehicleObject": {"a": 1}}}',
    '{"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}]}}}',
    '{"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}]]}}',
    '\ufeff{"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}]}}',
    'callback({"MotorVehicleListObject": {"MotorVehicleObject": [{"a": 1}]}});',
], ids=["another key", "the path twice", "no path", "an object, not a list", "one brace too many",
        "one bracket too many", "a byte order mark", "JSONP"])
def test_the_wrapper_around_the_list_is_checked(monkeypatch, document):
    fast, plain = read_both(monkeypatch, document)
    assert fast == plain


def test_a_top_level_list_without_a_path(monkeypatch):
    fast, plain = read_both(monkeypatch, '[{"a": 1}, {"b": true}]', records=None)
    assert fast == plain and plain[1] == ["a", "b"]
    assert read_records('[{"a": 1}]', None, LINE_COLUMN) is not None


NAMES = st.sampled_from(["a", "b", "A", "id", "ID", "车牌", "a.b", "x y"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(string.printable + "东经路冀\u2028", max_size=8),
                   st.dictionaries(st.sampled_from(["b", "c"]), st.integers(), max_size=2),
                   st.lists(st.integers(), max_size=2))
RECORDS = st.lists(st.one_of(st.dictionaries(NAMES, VALUES, max_size=4), st.integers()), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=RECORDS, indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_any_written_document_reads_the_same_both_ways(monkeypatch, records, indent, ascii_only):
    written_reads_the_same(monkeypatch, records, indent, ascii_only)


def written_reads_the_same(monkeypatch, records, indent, ascii_only) -> str:
    """`records` written as a document (json.dumps), read both ways: the same; the document's text."""
    text = wrapped(json.dumps(records, indent=indent, ensure_ascii=ascii_only))
    fast, plain = read_both(monkeypatch, text)
    assert fast == plain
    return text


# No comma in the texts: a comma before a closing bracket, even inside a text, rightly sends a document to Python,
# and the test below asserts the DuckDB path.
PLAIN_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**64 - 1),
                         st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=","), max_size=8))
PLAIN_RECORDS = st.lists(st.dictionaries(st.sampled_from(["a", "b", "PlateNo", "车牌", "x_1"]), PLAIN_VALUES, max_size=5),
                         max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=PLAIN_RECORDS, indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_any_plain_document_is_parsed_by_duckdb_to_the_same_table(monkeypatch, records, indent, ascii_only):
    text = written_reads_the_same(monkeypatch, records, indent, ascii_only)
    assert read_records(text, PATH, LINE_COLUMN) is not None
