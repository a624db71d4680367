"""Hostile values: the SQL conformer (on a batch and on one row) and the independent Python oracle of the tests give
the same reason for every impossible timestamp,
and `standards check` and ingestion give the same reason for every Excel-mangled ID (one judgement, two callers)."""
import datetime as dt
import io

import duckdb
import pyarrow as pa
import pytest
from openpyxl import Workbook

from safecity.config.profiles import load_settings
from safecity.ingestion.filecheck import check_file
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import Batch, BatchIngestor
from safecity.ingestion.readers import read
from safecity.lakehouse.catalog import open_catalog
from safecity.standards.checks import plan
from safecity.standards.conform import conform
from safecity.standards.single import entity_rows
from tests.standards.row_oracle import RowChecker

NOW = dt.datetime(2026, 7, 2, tzinfo=dt.timezone.utc)
STATUS = {"device_id": "13030200001320000001", "cmd_type": "Keepalive", "status": "OK"}

TIMESTAMPS = [
    # hour 24 and beyond, minutes or seconds past 59
    ("2026-07-01 24:00:00", "E_RANGE"), ("2026-07-01T24:00", "E_RANGE"), ("2026-07-01 25:00:00", "E_RANGE"),
    ("2026-07-01 99:00:00", "E_RANGE"), ("2026-07-01 23:60:00", "E_RANGE"), ("2026-07-01 23:59:60", "E_RANGE"),
    ("2026-07-01T24:00:00+08:00", "E_RANGE"),
    # offsets beyond ±14:00
    ("2026-07-01T08:00:00+25:00", "E_RANGE"), ("2026-07-01T08:00:00+14:01", "E_RANGE"),
    ("2026-07-01T08:00:00-14:30", "E_RANGE"), ("2026-07-01T08:00:00+15:00", "E_RANGE"),
    ("2026-07-01T08:00:00-23:59", "E_RANGE"), ("2026-07-01T08:00:00+08:60", "E_RANGE"),
    ("2026-07-01T08:00:00+99:99", "E_RANGE"),
    # before the entity's floor
    ("1900-01-01", "E_RANGE"), ("1900-01-01 00:00:00", "E_RANGE"), ("1969-12-31 23:59:59", "E_RANGE"),
    ("0001-01-01", "E_RANGE"), ("0001-01-01T00:00:00Z", "E_RANGE"), ("1000-06-15 12:00:00", "E_RANGE"),
    ("1969-12-31T15:59:59Z", "E_RANGE"), ("1969-12-31T16:00:00Z", None),
    # not dates at all
    ("2026-13-01", "E_TYPE"), ("2026-02-30", "E_TYPE"), ("2026-07-01 8:00", "E_TYPE"), ("昨天", "E_TYPE"),
    ("2026/07/01", "E_TYPE"), ("20260701", "E_TYPE"),
    # in the future
    ("2026-07-03 00:00:00", "E_FUTURE_TIME"), ("9999-12-31 23:59:59", "E_FUTURE_TIME"),
    # fine
    ("2026-07-01T08:00:00+14:00", None), ("2026-07-01T08:00:00-12:00", None), ("2026-07-01 23:59:59", None),
    ("1970-01-01 00:00:00", None), ("2026-07-01T00:00:00Z", None), ("2026-07-01", None),
]


@pytest.mark.parametrize("value, code", TIMESTAMPS, ids=[v for v, _ in TIMESTAMPS])
def test_sql_and_python_agree_on_each_timestamp(catalogue, value, code):
    row = {**STATUS, "reported_at": value}
    con = duckdb.connect()
    con.register("batch", pa.Table.from_pylist([{**row, "_line": 2}]))
    sql = conform(con, "batch", catalogue, "device_status", carry=("_line",), order_by="_line", now=NOW).fetchall()
    sql_codes = [r["code"] for r in sql[0][-1]]
    single_codes = [r.code for r in entity_rows(catalogue, "device_status").check(row, NOW).reasons]
    python_codes = [r.code for r in RowChecker(plan(catalogue, "device_status"), NOW).reasons(row)]
    assert sql_codes == single_codes == python_codes == ([code] if code else [])


HEADER = ["国标编码", "设备编号", "设备名称", "品牌", "安装位置", "经度", "纬度", "类型", "状态"]
MANGLED = [
    ("scientific-float", 1.303020100132e+19, "E_FORMAT"),
    ("scientific-text", "1.30302E+19", "E_FORMAT"),
    ("apostrophe", "'13030200001320000001", "E_FORMAT"),
    ("fullwidth-apostrophe", "’13030200001320000001", "E_FORMAT"),
    ("lost-leading-zero", "3030200001320000001", "E_FORMAT"),
    ("int-19-digits", 3030200001320000001, "E_FORMAT"),
    ("float-with-point", "13030200001320000001.0", "E_FORMAT"),
    ("fullwidth-digit", "1303020000132000000１", "E_FORMAT"),
    ("thousands", "13,030,200,001,320,000,001", "E_FORMAT"),
    ("spaces-kept-inside", "1303 0200 0013 2000 0001", "E_FORMAT"),
    ("dash", "-", "E_FORMAT"),
    ("padded", "  13030200001320000001  ", None),
    ("conforming", "13030200001320000001", None),
    ("empty-allocated", None, None),
    ("blank-allocated", "   ", None),
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return open_catalog(load_settings("local", tmp_path_factory.mktemp("home")))


def ledger(device_id) -> bytes:
    book = Workbook()
    book.active.append(HEADER)
    book.active.append([device_id, "YS-0001", "社区门口", "萤石", "小区门口", 119.6, 39.94, "枪机", "在线"])
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


@pytest.mark.parametrize("name, device_id, code", MANGLED, ids=[m[0] for m in MANGLED])
def test_check_and_ingest_agree_on_each_mangled_id(tmp_path, catalogue, catalog, name, device_id, code):
    loaded = load_mapping(mapping_path("community_cameras_xlsx"), catalogue)
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(ledger(device_id))
    checked = check_file(catalogue, path, "camera", mapping=loaded.mapping, now=NOW)
    check_codes = sorted(checked.reasons)
    ingestor = BatchIngestor(catalog, catalogue, loaded, as_of=NOW)
    bronze, silver, quarantine = ingestor.split(Batch(f"hostile-{name}", path.name, "0" * 64),
                                                lambda: read(path, "xlsx", where=str(path)), NOW)
    ingest_codes = sorted({r["code"] for reasons in quarantine.column("reasons").to_pylist() for r in reasons})
    assert check_codes == ingest_codes == ([code] if code else [])
    # The one record is in silver or in quarantine, never both, never neither.
    assert bronze.num_rows == 1 and silver.num_rows + quarantine.num_rows == 1
    if code:
        assert quarantine.column("reasons").to_pylist()[0][0]["field"] == "device_id"
