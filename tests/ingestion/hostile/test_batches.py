"""Hostile files through ingestion's judgement (BatchIngestor.split): every received record is in bronze and in
exactly one of silver or quarantine, with the reason the reader or the conformer gave; a file refused whole is one
quarantined record carrying the code."""
import datetime as dt
import json

import pytest

from safecity.config.profiles import load_settings
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import Batch, BatchIngestor
from safecity.ingestion.readers import read
from safecity.lakehouse.catalog import open_catalog

NOW = dt.datetime(2026, 7, 2, tzinfo=dt.timezone.utc)
HEADER = "设备编码,设备名称,生产厂商,设备型号,安装地址,经度,纬度,摄像机类型,用途,在线状态"


def good(n: int, name: str | None = None) -> str:
    name = name if name is not None else f"海港区点位{n}"
    quoted = '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\r\n') else name
    return f"13030200001320000{n:03d},{quoted},海康威视,DS,河北省秦皇岛市海港区,119.60{n:03d},39.93,1,3,ON"


BROKEN_NAME = "海港区\n点位"
TWO_BREAKS = "海港\n区\n点位"
AFTER_QUOTE = good(1).replace("海港区点位1", '"甲"乙')
EXTRA = good(2) + ",多余"
QUOTED_NAME = '老龙头, "东"'
CASES = {
    # name: (text, encoding to write, silver, {quarantine reason: count})
    "quoted-newline": (f"{HEADER}\n{good(1, BROKEN_NAME)}\n{good(2)}\n", "gb18030", 2, {}),
    "quoted-comma-and-quotes": (f"{HEADER}\n{good(1, QUOTED_NAME)}\n{good(2)}\n", "gb18030", 2, {}),
    "cr-only": (f"{HEADER}\r{good(1)}\r{good(2)}\r", "gb18030", 2, {}),
    "unclosed-quote": (f'{HEADER}\n{good(1)}\n13030200001320000002,"未闭合,x\n{good(3)}\n', "gb18030", 2,
                       {"E_QUOTE": 1}),
    "text-after-quote": (f"{HEADER}\n{AFTER_QUOTE}\n{good(2)}\n", "gb18030", 1, {"E_QUOTE": 1}),
    "internal-like-column": (f"{HEADER},_line,_file\n{good(1)},7,x\n{good(2)},8,y\n", "gb18030", 2, {}),
    "case-colliding-header": (f"{HEADER},abc,ABC\n{good(1)},1,2\n", "gb18030", 0, {"E_HEADER": 1}),
    # A trailing empty header cell is a trailing comma, not a column: a value under it is a row with a field too many.
    "empty-header": (f"{HEADER},\n{good(1)},1\n", "gb18030", 0, {"E_COLUMNS": 1}),
    "trailing-empty-column": (f"{HEADER},\n{good(1)},\n{good(2)}\n", "gb18030", 2, {}),
    "empty-header-inside": (f"a,,b\n1,2,3\n", "gb18030", 0, {"E_HEADER": 1}),
    "utf8-declared-gb18030": (f"{HEADER}\n{good(1)}\n", "utf-8", 0, {"E_ENCODING_MISMATCH": 1}),
    "wrong-width": (f"{HEADER}\n{good(1)}\n{EXTRA}\n{good(3)[:20]}\n", "gb18030", 1, {"E_COLUMNS": 2}),
    "mangled-id": (f"{HEADER}\n{good(1).replace('13030200001320000001', '1.30302E+19')}\n", "gb18030", 0,
                   {"E_FORMAT": 1}),
    "formula-cells": (f"{HEADER}\n{good(1, '=HYPERLINK(1)')}\n", "gb18030", 1, {}),
}


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory, catalogue):
    catalog = open_catalog(load_settings("local", tmp_path_factory.mktemp("home")))
    return BatchIngestor(catalog, catalogue, load_mapping(mapping_path("video_platform_catalog_csv"), catalogue), NOW)


@pytest.mark.parametrize("name", list(CASES))
def test_every_record_ends_in_one_place(ingestor, name):
    text, encoding, silver_rows, reasons = CASES[name]
    data = text.encode(encoding)
    where = f"cameras/{name}.csv"
    bronze, silver, quarantine = ingestor.split(Batch(f"hostile-{name}", where, "0" * 64),
                                                lambda: read(data, "csv", "gb18030", where), NOW)
    assert silver.num_rows == silver_rows
    found: dict[str, int] = {}
    for code in quarantine.column("primary_reason").to_pylist():
        found[code] = found.get(code, 0) + 1
    assert found == reasons
    assert bronze.num_rows == silver.num_rows + quarantine.num_rows
    lines = bronze.column("_line").to_pylist()
    assert sorted(lines) == sorted(silver.column("_line").to_pylist() + quarantine.column("_line").to_pylist())
    assert len(set(lines)) == len(lines)


def test_export_columns_named_like_internal_ones_are_kept_as_data(ingestor):
    text = f"{HEADER},_line,_file\n{good(1)},7,x\n"
    bronze, silver, _ = ingestor.split(Batch("hostile-internal", "cameras/x.csv", "0" * 64),
                                       lambda: read(text.encode("gb18030"), "csv", "gb18030", "x.csv"), NOW)
    assert json.loads(bronze.column("record")[0].as_py())["_line"] == "7"
    assert bronze.column("_line").to_pylist() == silver.column("_line").to_pylist() == [2]


def test_a_field_with_line_breaks_keeps_its_first_physical_line(ingestor):
    text = f"{HEADER}\n{good(1, TWO_BREAKS)}\n{good(2)}\n"
    bronze, _, _ = ingestor.split(Batch("hostile-lines", "cameras/y.csv", "0" * 64),
                                  lambda: read(text.encode("gb18030"), "csv", "gb18030", "y.csv"), NOW)
    assert sorted(bronze.column("_line").to_pylist()) == [2, 5]
