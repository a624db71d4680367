import pytest

from safecity.ingestion import readers
from safecity.ingestion.readers import LINE_COLUMN, UnreadableFile, read_csv, read_json, read_jsonl, read_messages
from tests.conftest import write_gb18030

HEADER = "设备编码,设备名称\n"


def test_gb18030_rows_keep_their_physical_lines(tmp_path):
    path = write_gb18030(tmp_path / "a.csv", HEADER + "1,海港区\n2\n\n3,山海关区,多余\n4,北戴河区\n")
    batch = read_csv(path, "gb18030")
    assert batch.table.column("设备名称").to_pylist() == ["海港区", "北戴河区"]
    assert batch.table.column(LINE_COLUMN).to_pylist() == [2, 6]
    assert [(r.line, r.code, r.text) for r in batch.rejected] == [(3, "E_COLUMNS", "2"), (5, "E_COLUMNS", "3,山海关区,多余")]
    assert batch.blank_lines == 1


def test_utf8_with_bom_is_read_whatever_the_mapping_declares(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "1,昌黎县\n").encode("utf-8"))
    batch = read_csv(path, "gb18030")
    assert batch.encoding == "utf-8-sig"
    assert batch.header == ["设备编码", "设备名称"]
    assert batch.table.column("设备名称").to_pylist() == ["昌黎县"]


def test_crlf_line_endings_and_values_kept_as_text(tmp_path):
    path = write_gb18030(tmp_path / "crlf.csv", "设备编码,经度\r\n13030200001320000001,119.600000\r\n")
    batch = read_csv(path, "gb18030")
    assert batch.table.column("设备编码").to_pylist() == ["13030200001320000001"]
    assert batch.table.column("经度").to_pylist() == ["119.600000"]


def test_wrong_encoding_names_file_and_line(tmp_path):
    path = tmp_path / "utf8.csv"
    path.write_bytes((HEADER + "1,ok\n").encode("utf-8") + b"2,\xff\xfe\n")
    with pytest.raises(UnreadableFile) as info:
        read_csv(path, "utf-8")
    assert info.value.code == "E_ENCODING" and info.value.line == 3
    assert str(path) in str(info.value)


def test_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    with pytest.raises(UnreadableFile) as info:
        read_csv(path, "latin-1")
    assert info.value.code == "E_BINARY"


@pytest.mark.parametrize("content", ["", "设备编码,设备名称\n"])
def test_empty_and_header_only_files_have_no_rows(tmp_path, content):
    path = write_gb18030(tmp_path / "empty.csv", content)
    batch = read_csv(path, "gb18030")
    assert batch.table.num_rows == 0 and batch.rejected == []


def test_duplicate_header_is_refused(tmp_path):
    path = write_gb18030(tmp_path / "dup.csv", "设备编码,设备编码\n1,2\n")
    with pytest.raises(UnreadableFile) as info:
        read_csv(path, "gb18030")
    assert info.value.code == "E_HEADER" and info.value.line == 1


@pytest.mark.parametrize("reader, data", [
    (lambda d: read_json(d, "utf-8", "doc.json", "L.R"),
     b'{"L": {"R": [{"a": "ok"}, {"a": "x\\ud800y", "b": 1}, {"a": "fine"}]}}'),
    (lambda d: read_jsonl(d, "utf-8", "doc.jsonl"), b'{"a": "ok"}\n{"a": ["\\udc00"], "b": 1}\n{"a": "fine"}\n'),
    (lambda d: read_messages([(1, b'{"a": "ok"}'), (2, d), (3, b'{"a": "fine"}')]), b'{"b": 1, "a": "\\ud83d"}'),
], ids=["document", "JSON Lines", "messages"])
def test_a_lone_surrogate_rejects_its_record_alone_naming_the_field(reader, data):
    """Python's json reads an escaped half of a character ("\\ud800") into text Arrow cannot store: that record is
    rejected (E_ENCODING, its field named, its text kept with the escape as written), the others are read."""
    batch = reader(data)
    assert batch.table.column("a").to_pylist() == ["ok", "fine"]
    assert batch.table.column(readers.LINE_COLUMN).to_pylist() == [1, 3]
    [rejected] = batch.rejected
    assert (rejected.line, rejected.code) == (2, "E_ENCODING") and "'a'" in rejected.message
    assert "\\ud" in rejected.text and rejected.text.encode("utf-8")
