"""The batch statement's shortcuts (issue 22) against the independent oracle: trimming only cells that can have a
blank at either end, code lists looked up in a constant list, and duplicates found from a count of the keys alone.

Values are the edges each shortcut has: every Unicode blank (and tab, zero-width space, BOM, which are not blanks) at
either end or both, ASCII and non-ASCII texts, number and time spellings at the limits of the accepted forms.
"""
import datetime as dt
import itertools

import duckdb
import pyarrow as pa

from safecity.standards.checks import BLANKS, plan
from safecity.standards.conform import Conformer
from safecity.standards.single import entity_rows
from tests.standards.row_oracle import RowChecker

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.timezone.utc)
AROUND = list(BLANKS) + ["\t", "\u200b", "\ufeff", "\u2028", ""]
PASS = {"motor_vehicle_id": "130302000012100000010220260715100000000010200001", "info_kind": "1",
        "source_id": "13030200001210000001022026071510000000001", "device_id": "13030200001210000001",
        "pass_time": "2026-07-15 10:00:00", "plate_no": "冀C12345", "speed": "20.5", "vehicle_color": "1",
        "storage_url1": "http://viid.qhd.local/img/1.jpg", "lane_no": "1", "plate_class": "02"}
EDGES = {
    "lane_no": ["+1", "-0", "007", "1e2", "1.0", "1_000", "0x10", "999999999999999999", "9999999999999999999", "٣"],
    "speed": ["+.5", "5.", "1e308", "1e309", "-1e-999", "1E+2", "nan", "inf", "1,5", "512.0", "+1.e5"],
    "pass_time": ["2026-07-15T10:00", "2026-07-15", "2026-07-15 24:00:00", "2026-07-15 23:59:60",
                  "2026-07-15 10:00:00+14:00", "2026-07-15 10:00:00+14:01", "2026-07-15 10:00:00Z",
                  "2026-07-15 10:00:00.1234567", "2026-02-30 10:00:00", "2026-11-26T04:04:59Z", "2026-11-26T04:05:01Z"],
    "plate_no": ["冀C1234挂", "冀c12345", "冀CI1234", "X"],
    "plate_describe": ["a b", "中 文", "x" * 64, "x" * 65],
    "plate_class": ["52", "99", "2"],
    "direction": ["1", "9"],
}


def judge(catalogue, rows, order_by="_line"):
    conformer = Conformer(catalogue, "vehicle_pass", NOW)
    columns = conformer.source_columns()
    con = duckdb.connect()
    con.register("batch", pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns}
                                   | {"_line": pa.array(range(2, len(rows) + 2), pa.int64())}))
    out = con.execute(conformer.sql("batch", ("_line",), order_by).sql).to_arrow_table().to_pylist()
    return {r["_line"]: r for r in out}


def edge_rows():
    """Each edge value, bare and with each blank (or non-blank) before, after and around it, one per row."""
    for (field, values), (before, after) in itertools.product(EDGES.items(), [(0, 1), (1, 0), (1, 1)]):
        for value, blank in itertools.product(values, AROUND):
            yield {**PASS, field: blank * before + value + blank * after,
                   "motor_vehicle_id": None}  # keys left out: every row stands alone


def test_batch_agrees_with_the_oracle_on_blanks_around_every_edge(catalogue):
    rows = list(edge_rows())
    judged = judge(catalogue, rows)
    oracle = RowChecker(plan(catalogue, "vehicle_pass"), NOW)
    for line, row in enumerate(rows, 2):
        expected = sorted((r.code, r.field, r.value) for r in oracle.reasons(row))
        got = sorted((r["code"], r["field"], r["value"]) for r in judged[line]["_reasons"])
        assert got == expected, row


def test_batch_keeps_the_text_trim_keeps(catalogue):
    texts = [blank * b + inner + blank * a for inner in ("x", "a b", "中文", " ", "")
             for blank in AROUND for b, a in ((0, 0), (1, 0), (0, 1), (2, 2))]
    judged = judge(catalogue, [{**PASS, "plate_describe": t, "motor_vehicle_id": None} for t in texts])
    single = entity_rows(catalogue, "vehicle_pass")
    for line, text in enumerate(texts, 2):
        assert judged[line]["plate_describe"] == (text.strip(BLANKS) or None), repr(text)
        assert single.check({**PASS, "plate_describe": text}).typed["plate_describe"] == judged[line]["plate_describe"]


def test_repeats_are_told_apart_through_blanks(catalogue):
    blanked = {k: f"\u3000{v} " for k, v in PASS.items()}
    rows = judge(catalogue, [
        PASS,
        blanked,                                   # the same texts once trimmed: an exact copy
        {**PASS, "speed": "21.5"},                 # other content under the key: a collision
        {**PASS, "motor_vehicle_id": " "}, {**PASS, "motor_vehicle_id": "\u00a0"},   # no key: no repeat
    ])
    codes = {line: [(r["code"], r["field"]) for r in row["_reasons"]] for line, row in rows.items()}
    assert codes[2] == []
    assert codes[3] == [("E_DUPLICATE_ROW", "motor_vehicle_id")]
    assert codes[4] == [("E_DUPLICATE_KEY", "motor_vehicle_id")]
    assert codes[5] == codes[6] == [("E_REQUIRED", "motor_vehicle_id")]


def test_the_first_row_of_a_key_is_the_first_in_the_given_order(catalogue):
    rows = judge(catalogue, [{**PASS, "speed": "21.5"}, PASS, dict(PASS)], order_by="-_line")
    codes = {line: [r["code"] for r in row["_reasons"]] for line, row in rows.items()}
    assert codes == {4: [], 3: ["E_DUPLICATE_ROW"], 2: ["E_DUPLICATE_KEY"]}
