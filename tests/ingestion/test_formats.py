"""Readers for JSON, JSON Lines and Excel, and the bad-input corpus: every record accounted for, every error
naming the file and the line (or record, or sheet row)."""
import io
import json

import pytest
from openpyxl import Workbook

from safecity.ingestion.readers import LINE_COLUMN, UnreadableFile, read, read_csv, read_json, read_jsonl, read_xlsx
from tests.conftest import write_gb18030


def column(batch, name):
    return batch.table.column(name).to_pylist()


def test_wrapped_json_list_is_flattened_and_typed_values_become_text(tmp_path):
    path = tmp_path / "passes.json"
    path.write_text(json.dumps({"MotorVehicleListObject": {"MotorVehicleObject": [
        {"PlateNo": "冀C12345", "Speed": 55, "HasPlate": True, "Ratio": 1.5, "Info": {"PTZType": "1"}},
        "not an object",
        {"PlateNo": "冀C00001", "Speed": 60.0, "HasPlate": False, "Extra": None},
    ]}}, ensure_ascii=False), encoding="utf-8")
    batch = read_json(path, "utf-8", records="MotorVehicleListObject.MotorVehicleObject")
    assert column(batch, "PlateNo") == ["冀C12345", "冀C00001"]
    assert column(batch, "Speed") == ["55", "60"]
    assert column(batch, "HasPlate") == ["true", "false"]
    assert column(batch, "Ratio") == ["1.5", None]
    assert column(batch, "Info.PTZType") == ["1", None]
    assert column(batch, LINE_COLUMN) == [1, 3]
    assert [(r.line, r.code) for r in batch.rejected] == [(2, "E_RECORD")]


def test_json_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "truncated.json"
    path.write_text('{"DeviceList": [\n  {"DeviceID": "1"},\n  {"DeviceID": ', encoding="utf-8")
    with pytest.raises(UnreadableFile) as info:
        read_json(path, "utf-8", records="DeviceList")
    assert info.value.code == "E_JSON" and info.value.line == 3 and str(path) in str(info.value)
    path.write_text('{"Other": []}', encoding="utf-8")
    with pytest.raises(UnreadableFile, match="DeviceList"):
        read_json(path, "utf-8", records="DeviceList")


def test_json_lines_reject_only_the_bad_lines(tmp_path):
    path = tmp_path / "status.jsonl"
    path.write_bytes(b'{"DeviceID": "1", "Status": "OK"}\r\n\n{"DeviceID": \n[1]\n{"DeviceID": "2"}')
    batch = read_jsonl(path, "utf-8")
    assert column(batch, "DeviceID") == ["1", "2"] and column(batch, LINE_COLUMN) == [1, 5]
    assert [(r.line, r.code) for r in batch.rejected] == [(3, "E_JSON"), (4, "E_RECORD")]
    assert batch.blank_lines == 1


def test_excel_rows_keep_their_sheet_row_numbers(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["设备编码", "经度", "安装日期"])
    sheet.append(["13030200001320000001", 119.6, None])
    sheet.append([None, None, None])
    sheet.append(["13030200001320000002", 119.0, "2024-05-01"])
    sheet.append(["13030200001320000003", 119.1, None, "多余"])
    data = io.BytesIO()
    book.save(data)
    batch = read_xlsx(data.getvalue(), "cameras.xlsx")
    assert column(batch, "设备编码") == ["13030200001320000001", "13030200001320000002"]
    assert column(batch, "经度") == ["119.6", "119"]
    assert column(batch, LINE_COLUMN) == [2, 4]
    assert [(r.line, r.code) for r in batch.rejected] == [(5, "E_COLUMNS")] and batch.blank_lines == 1
    with pytest.raises(UnreadableFile) as info:
        read_xlsx(b"PK\x03\x04 this is no workbook", "broken.xlsx")
    assert info.value.code == "E_FILE" and "broken.xlsx" in str(info.value)


# -- the bad-input corpus --------------------------------------------------------------------------------------

def test_a_50_mb_single_field_is_read_whole(tmp_path):
    big = "长" * (50 * 1024 * 1024 // 3)
    path = tmp_path / "big.csv"
    path.write_text(f"设备编码,设备名称\n1,{big}\n2,短\n", encoding="utf-8")
    batch = read_csv(path, "utf-8")
    assert [len(v) for v in column(batch, "设备名称")] == [len(big), 1]
    assert column(batch, LINE_COLUMN) == [2, 3]


def test_mixed_line_endings_keep_every_physical_line(tmp_path):
    path = write_gb18030(tmp_path / "mixed.csv", "设备编码,设备名称\r\n1,甲\n2,乙\r\n\r\n3,丙\n")
    batch = read_csv(path, "gb18030")
    assert column(batch, "设备名称") == ["甲", "乙", "丙"]
    assert column(batch, LINE_COLUMN) == [2, 3, 5] and batch.blank_lines == 1


def test_a_truncated_last_line_is_rejected_with_its_line(tmp_path):
    path = write_gb18030(tmp_path / "cut.csv", "设备编码,设备名称,经度\n1,甲,119.6\n2,乙")
    batch = read_csv(path, "gb18030")
    assert column(batch, LINE_COLUMN) == [2]
    assert [(r.line, r.code, r.text) for r in batch.rejected] == [(3, "E_COLUMNS", "2,乙")]


def test_a_wrongly_declared_encoding_is_refused_with_the_place(tmp_path):
    path = write_gb18030(tmp_path / "gbk.jsonl", '{"a": "秦皇岛"}\n')
    with pytest.raises(UnreadableFile) as info:
        read(path, "jsonl", "utf-8")
    assert info.value.code == "E_ENCODING_MISMATCH" and info.value.line == 1 and "gbk.jsonl" in str(info.value)
    assert "declare encoding: gb18030" in str(info.value)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_empty_files_have_no_records(tmp_path, fmt):
    path = tmp_path / f"empty.{fmt}"
    path.write_bytes(b"")
    batch = read(path, fmt)
    assert batch.table.num_rows == 0 and batch.rejected == []


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_binary_garbage_is_refused_in_every_text_format(tmp_path, fmt):
    path = tmp_path / f"garbage.{fmt}"
    path.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    with pytest.raises(UnreadableFile) as info:
        read(path, fmt, "latin-1")
    assert info.value.code == "E_BINARY"
