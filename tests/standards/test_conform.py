"""The vectorised validator: each reason code from the element specifications, on a small batch."""
import duckdb
import pyarrow as pa
import pytest

from safecity.standards.conform import Conformer, conform

GOOD = {"device_id": "13030200001320000001", "name": "海港区人民广场01", "manufacturer": "海康威视", "model": "DS",
        "address": "河北省秦皇岛市海港区", "longitude": "119.60", "latitude": "39.94", "ptz_type": "1",
        "use_type": "3", "status": "ON", "id_edition": "2016", "parent_id": "13030200001180000001",
        "position_type": "4", "source_device_id": None, "install_status": "in_service"}


def run(catalogue, *rows):
    con = duckdb.connect()
    table = pa.Table.from_pylist([{**GOOD, **row, "_line": i} for i, row in enumerate(rows, 2)])
    con.register("batch", table)
    out = conform(con, "batch", catalogue, "camera", carry=("_line",), order_by="_line").fetchall()
    return {row[-2]: [(r["code"], r["field"], r["value"]) for r in row[-1]] for row in out}


def test_good_row_has_no_reasons_and_derives_id_parts(catalogue):
    con = duckdb.connect()
    con.register("batch", pa.Table.from_pylist([{**GOOD, "_line": 2}]))
    row = conform(con, "batch", catalogue, "camera", carry=("_line",), order_by="_line").fetchone()
    columns = Conformer(catalogue, "camera").sql("batch", ("_line",), "_line").typed_columns
    values = dict(zip(columns, row))
    assert row[-1] == []
    assert (values["division_code"], values["industry_code"], values["type_code"], values["network_code"]) == \
        ("130302", "00", "132", "0")
    assert values["longitude"] == pytest.approx(119.60)


@pytest.mark.parametrize("change, expected", [
    ({"device_id": "1303020000132000001"}, ("E_FORMAT", "device_id", "1303020000132000001")),
    ({"device_id": "13030200001320A00001"}, ("E_FORMAT", "device_id", "13030200001320A00001")),
    ({"device_id": "13040200001320000001"}, ("E_CODE", "division_code", "130402")),
    ({"device_id": "13030200009990000001"}, ("E_CODE", "type_code", "999")),
    ({"name": "  "}, ("E_REQUIRED", "name", None)),
    ({"status": "UNKNOWN"}, ("E_CODE", "status", "UNKNOWN")),
    ({"longitude": "abc"}, ("E_TYPE", "longitude", "abc")),
    ({"latitude": "95"}, ("E_RANGE", "latitude", "95")),
    ({"longitude": "116.397", "latitude": "39.909"}, ("E_OUT_OF_AREA", "longitude", "116.397,39.909")),
    ({"longitude": "0", "latitude": "0"}, ("E_OUT_OF_AREA", "longitude", "0,0")),
    ({"name": "长" * 101}, ("E_FORMAT", "name", "长" * 101)),
])
def test_each_reason_names_field_and_value(catalogue, change, expected):
    reasons = run(catalogue, change)[2]
    assert reasons == [expected]


def test_malformed_id_does_not_also_report_its_derived_parts(catalogue):
    reasons = run(catalogue, {"device_id": "99"})[2]
    assert [r[0] for r in reasons] == ["E_FORMAT"]


def test_second_row_with_same_key_is_the_duplicate(catalogue):
    result = run(catalogue, {}, {"name": "另一个名字"}, {"device_id": "13030200001320000002"})
    assert result[2] == [] and result[4] == []
    assert result[3] == [("E_DUPLICATE_KEY", "device_id", "13030200001320000001")]


def test_messages_are_bilingual(catalogue):
    con = duckdb.connect()
    con.register("batch", pa.Table.from_pylist([{**GOOD, "status": "X", "_line": 2}]))
    [reason] = conform(con, "batch", catalogue, "camera", carry=("_line",), order_by="_line").fetchone()[-1]
    assert reason["message_zh"] == "设备状态：代码不在代码表中"
    assert reason["message_en"] == "Status: Code not in the code table"


def test_trimming_is_the_same_set_of_blanks_in_sql_and_python():
    import unicodedata
    from safecity.standards.checks import BLANKS
    assert set(BLANKS) == {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs"}
    con = duckdb.connect()
    for blank in BLANKS + "\t":
        trimmed = con.execute("SELECT trim(?)", [f"{blank}x{blank}"]).fetchone()[0]
        assert (trimmed == "x") == (blank in BLANKS), hex(ord(blank))
