"""The JSON Lines reader's shortcuts (the bracket count before the exact nesting depth, one shared decoder, each field
name checked once per file) keep every row and every rejection as a plain line-by-line reading decides them: an
independent oracle here (a character loop for the depth, json.loads with its own duplicate-key hook, the name
rules spelled out) reads the same lines."""
import json

import pytest

from safecity.ingestion import readers
from safecity.ingestion.readers import LINE_COLUMN, MAX_JSON_DEPTH, read_jsonl


def flat(record: dict, prefix: str = ""):
    """A parsed JSON record's (name, text) pairs by the reader's text rules, spelled out independently: nested
    objects by dotted names, booleans lower case, lists as JSON text, numbers as JSON writes them (a whole float
    without ".0": a real export has "milePost":0.0)."""
    for key, value in record.items():
        if isinstance(value, dict) and value:
            yield from flat(value, f"{prefix}{key}.")
        elif isinstance(value, bool):
            yield prefix + key, "true" if value else "false"
        elif isinstance(value, (list, dict)):
            yield prefix + key, json.dumps(value, ensure_ascii=False)
        elif isinstance(value, float):
            yield prefix + key, str(int(value)) if value.is_integer() else repr(value)
        else:
            yield prefix + key, None if value is None else str(value)


def oracle_depth(text: str) -> int:
    depth = deepest = 0
    inside = escaped = False
    for char in text:
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def oracle(lines: list[str]) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """(line, record) kept and (line, code) rejected, deciding each line from scratch."""
    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise KeyError("duplicate")
        return dict(items)

    kept, rejected, first = [], [], {}
    for number, line in enumerate(lines, 1):
        if oracle_depth(line) > MAX_JSON_DEPTH:
            rejected.append((number, "E_LIMIT"))
            continue
        try:
            item = json.loads(line, object_pairs_hook=pairs)
        except KeyError:
            rejected.append((number, "E_FIELDS"))
            continue
        except json.JSONDecodeError:
            rejected.append((number, "E_JSON"))
            continue
        if not isinstance(item, dict):
            rejected.append((number, "E_RECORD"))
            continue
        bad = False
        for name in item:  # flat records here: the first spelling of a name wins; control characters never pass
            if first.setdefault(name.casefold(), name) != name or any(ord(c) < 32 or ord(c) == 127 for c in name):
                bad = True
                break
        if bad:
            rejected.append((number, "E_FIELDS"))
        else:
            kept.append((number, item))
    return kept, rejected


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def hostile_lines() -> list[str]:
    brackets_in_strings = json.dumps({"text": "[{" * 80, "n": 1})  # 160 brackets, depth 1: read
    return [
        '{"agent": "NET130302S0001", "ifName": "GE1/0/1", "ifHCInOctets": 10}',
        nested(MAX_JSON_DEPTH).replace('"a"', '"b"'),            # exactly at the limit: read
        nested(MAX_JSON_DEPTH + 1),                               # one deeper: E_LIMIT
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),  # an array that deep: E_LIMIT
        brackets_in_strings,
        json.dumps({"text": '\\"[[[' * 30 + '"'}),                # escaped quotes between brackets: read
        '\ufeff{"agent": "x"}',                                   # a BOM inside the file: E_JSON
        '{"agent": "a", "agent": "b"}',                           # duplicate key: E_FIELDS
        '{"Agent": "other spelling"}',                            # "agent" came first: E_FIELDS
        '{"agent": "again", "ifName": "GE1/0/2"}',                # the first spelling, checked before: read
        '{"bad\\u0001name": 1}',                                  # control character in a name: E_FIELDS
        '{"bad\\u0001name": 2}',                                  # and again (never cached as fitting)
        "[1, 2]",                                                 # E_RECORD
        "{oops",                                                  # E_JSON
        '{"agent": "last", "ifHCOutOctets": 5}',
    ]


def test_jsonl_rows_and_rejections_match_a_plain_line_by_line_reading():
    lines = hostile_lines()
    kept, rejected = oracle(lines)
    batch = read_jsonl(("\n".join(lines) + "\n").encode(), "utf-8", "hostile.jsonl")
    assert sorted((r.line, r.code) for r in batch.rejected) == rejected
    assert batch.table.column(LINE_COLUMN).to_pylist() == [n for n, _ in kept]
    rows = {row[LINE_COLUMN]: row for row in batch.table.to_pylist()}
    assert (rows[10]["agent"], rows[10]["ifName"], rows[15]["ifHCOutOctets"]) == ("again", "GE1/0/2", "5")
    assert rows[2]["b" + ".b" * (MAX_JSON_DEPTH - 1)] == "1"
    assert [r for r, _ in kept] == [1, 2, 5, 6, 10, 15]
    assert [c for _, c in rejected] == ["E_LIMIT", "E_LIMIT", "E_JSON", "E_FIELDS", "E_FIELDS", "E_FIELDS",
                                        "E_FIELDS", "E_RECORD", "E_JSON"]


def test_a_telemetry_day_reads_as_the_oracle_reads_it(tmp_path):
    """Simulator-shaped counter and probe lines, with a few hostile ones among them."""
    lines = []
    for minute in range(300):
        lines.append(json.dumps({"agent": f"NET130302S{minute % 7:04d}", "ifName": f"GE1/0/{minute % 5}",
                                 "time": f"2026-07-01T{minute // 60:02d}:{minute % 60:02d}:00",
                                 "ifHCInOctets": 10**12 + minute, "ifHCOutOctets": 10**9 + minute}))
        lines.append(json.dumps({"target": f"NET130302A{minute % 11:04d}", "start": "2026-07-01T00:00:00",
                                 "sent": 20, "received": 20 if minute % 13 else 0,
                                 "rttAvg": None if minute % 13 == 0 else 3.5, "rttMax": None}))
        if minute % 97 == 0:
            lines.append(nested(MAX_JSON_DEPTH + 3))
    kept, rejected = oracle(lines)
    batch = read_jsonl(("\n".join(lines) + "\n").encode(), "utf-8", "telemetry.jsonl")
    assert sorted((r.line, r.code) for r in batch.rejected) == rejected and len(rejected) == 4
    got = batch.table.to_pylist()
    assert [r[LINE_COLUMN] for r in got] == [n for n, _ in kept]
    for (_, record), row in zip(kept, got):
        for name, value in record.items():
            expected = None if value is None else (value if isinstance(value, str) else
                                                   str(value) if isinstance(value, int) else repr(value))
            assert row[name] == expected


def test_the_exact_depth_agrees_with_the_character_loop_on_escapes_strings_and_broken_text():
    # (A backslash outside a string, never valid JSON, escapes here and not in the loop: both refuse such text.)
    from safecity.ingestion.readers import _max_depth

    texts = ['{"a": [1, {"b": "[[[{{"}]}', '{"a": "\\\\"}[[', '{"a": "\\\\\\"[[[["}', '["\\\\\\\\", [[]]]',
             '{"x": "unterminated [[[[', ']]]][[', '{"k": "é中\\u005b", "l": [[["\\"]"]]]}', '"\\"" [ "\\\\" [ ]',
             '["\\[[\\"[", [', "[" * 70 + "]" * 70, '{"a":' * 65 + "1" + "}" * 65, '{"a": "x\\\\\\\\\\"[[ "} [']
    for text in texts:
        assert _max_depth(text) == oracle_depth(text), text
    document = json.dumps({"L": [{"id": str(i), "s": "[{\\\"" * (i % 4), "n": {"m": [i]}} for i in range(500)]})
    assert _max_depth(document) == oracle_depth(document) == 5


def test_a_key_set_seen_flat_does_not_let_a_case_clash_or_a_nested_record_through():
    from safecity.ingestion.readers import read_json

    records = [{"A": {"x": 1}, "a": 2},      # nested: A.x and a, no clash; its key set (A, a) is NOT known clean
               {"A": 1, "a": 2},             # the same keys flat: A and a clash
               {"id": "1", "v": 1.0},        # flat and clean: (id, v) remembered
               {"id": "2", "v": {"w": True}},  # same keys, nested: walked, v.w
               {"id": "3", "v": [1, 2]},     # same keys again, flat
               {"id": "4", "ID": "x"}]       # clashes in case within the record
    raw = read_json(json.dumps({"L": records}).encode(), "utf-8", "doc.json", "L")
    rows = raw.table.to_pylist()
    assert [r[LINE_COLUMN] for r in rows] == [1, 3, 4, 5]
    assert [(r["id"], r["v"], r["v.w"]) for r in rows[1:]] == [("1", "1", None), ("2", None, "true"), ("3", "[1, 2]", None)]
    assert [(r.line, r.code) for r in raw.rejected] == [(2, "E_FIELDS"), (6, "E_FIELDS")]
    assert json.loads(raw.rejected[0].text) == records[1]  # the text is written out only for what is rejected


def test_a_real_ga_t_1400_document_reads_as_an_independent_reading_of_its_raw_record():
    """The real VIID MotorVehicles payload (tests/data/real/exports/gat1400, MANIFEST.md): numbers, booleans, empty
    texts and a nested SubImageList, every value against the text rules spelled out here from the raw JSON."""
    from safecity.ingestion.readers import read_json
    from tests.real_data import REAL_DATA

    path = REAL_DATA / "gat1400" / "viid_motorvehicles_community_capture.json"
    [raw_record] = json.loads(path.read_bytes())["MotorVehicleListObject"]["MotorVehicleObject"]

    expected = dict(flat(raw_record))
    for _ in range(2):  # the second read meets its key set as already checked
        batch = read_json(path.read_bytes(), "utf-8", str(path), "MotorVehicleListObject.MotorVehicleObject")
        [row] = batch.table.to_pylist()
        assert batch.rejected == [] and row.pop(LINE_COLUMN) == 1
        assert row == expected and batch.header == list(expected)
    assert expected["PlateNo"] == "浙BY6H39" and expected["InfoKind"] == "1" and "SubImageList.SubImageInfoObject" in expected


@pytest.mark.parametrize("part", [1, 2, 3, 7])
def test_a_file_read_in_parts_is_the_file_read_whole(monkeypatch, part):
    """Rows, columns (in order of first appearance: a name first met in a later part, one a later part lacks),
    rejections (a case clash with a name met in an earlier part) and blank lines as in one reading, and as the
    oracle decides them."""
    lines = ['{"agent": "a1", "ifName": "x"}', "", '{"agent": "a2"}', '{"time": "t3", "agent": "a3"}',
             '{"Agent": "clash with line 1"}', "   ", *hostile_lines(), '{"late": "new column", "agent": "a9"}']
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(readers, "JSONL_PART_LINES", 10**9)
    whole = read_jsonl(data, "utf-8", "parts.jsonl")
    monkeypatch.setattr(readers, "JSONL_PART_LINES", part)
    parts = read_jsonl(data, "utf-8", "parts.jsonl")
    assert parts.table.equals(whole.table) and parts.header == whole.header
    assert parts.rejected == whole.rejected and parts.blank_lines == whole.blank_lines == 2
    assert parts.header == ["agent", "ifName", "time", "ifHCInOctets", "b" + ".b" * (MAX_JSON_DEPTH - 1), "text",
                            "n", "ifHCOutOctets", "late"]
    kept, rejected = oracle(lines)
    blank = {n for n, line in enumerate(lines, 1) if not line.strip()}
    assert sorted((r.line, r.code) for r in parts.rejected) == [(n, c) for n, c in rejected if n not in blank]
    assert parts.table.column(LINE_COLUMN).to_pylist() == [n for n, _ in kept if n not in blank]


def test_real_camera_records_as_json_lines_read_in_parts_match_an_independent_reading(monkeypatch):
    """The real Maryland CHART camera records (tests/data/real/exports/cameras, MANIFEST.md; the export is JSONP),
    one JSON object a line as a feed would send them, read in parts of 7 records: every row, every value and the
    column order as spelled out here from the raw JSON (numbers as JSON writes them, whole ones without ".0",
    booleans lower case, nested objects by dotted names, lists as JSON text)."""
    from tests.real_data import REAL_DATA

    text = (REAL_DATA / "cameras" / "maryland_chart_getCameraMapDataJSON.do").read_text(encoding="utf-8")
    records = json.loads(text[text.index("(") + 1:text.rindex(")")])["data"]

    expected = [dict(flat(r)) for r in records]
    monkeypatch.setattr(readers, "JSONL_PART_LINES", 7)
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")
    batch = read_jsonl(data, "utf-8", "maryland.jsonl")
    rows = batch.table.to_pylist()
    assert batch.rejected == [] and len(records) > 7 * 3
    assert [row.pop(LINE_COLUMN) for row in rows] == list(range(1, len(records) + 1))
    assert batch.header == list(dict.fromkeys(name for record in expected for name in record))
    assert rows == [{name: record.get(name) for name in batch.header} for record in expected]
