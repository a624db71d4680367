"""Code tables hold what the reference (shared/reference/standards-facts.md) says, typed here independently."""
import pytest

from safecity.standards.catalogue import load_catalogue
from safecity.standards.conform import Conformer

CATALOGUE = load_catalogue("qinhuangdao")

FACTS = [
    # (table, code, Chinese name, edition)
    ("gb28181_device_type", "118", "网络视频录像机（NVR）", None),
    ("gb28181_device_type", "132", "网络摄像机（IPC）", None),
    ("gb28181_device_type", "216", "虚拟组织", None),
    ("gb28181_industry", "05", "交通卡口接入", None),
    ("gb28181_industry", "43", "冶金企业接入", "2016"),
    ("gb28181_network", "5", "公安信息网", None),
    ("gb28181_use_type", "3", "重点", None),
    ("gb28181_ptz_type", "1", "球机", None),
    ("gb28181_position_type", "3", "车站码头", None),
    ("gat1400_color", "5", "蓝", None),
    ("gat1400_color", "99", "其他", None),
    ("gat1400_h_direction", "1", "西→东", None),
    ("plate_class", "02", "小型汽车", None),
    ("plate_class", "52", "小型新能源汽车", None),
    ("plate_class", "23", "警用汽车", None),
    ("vehicle_class", "K33", "小型轿车", None),
    ("vehicle_class", "H11", "重型普通货车", None),
    ("tollgate_usage", "81", "交通卡口", None),
    ("alarm_priority", "1", "一级警情", None),
    ("gender", "1", "男", None),
    ("id_type", "111", "居民身份证", None),
]


@pytest.mark.parametrize("table, code, name_zh, edition", FACTS)
def test_reference_codes_are_present_with_their_names(table, code, name_zh, edition):
    assert CATALOGUE.code_tables[table].label_zh(code, edition) == name_zh


@pytest.mark.parametrize("table, code, edition", [
    ("gb28181_device_type", "999", None), ("plate_class", "99X", None), ("gb28181_industry", "43", "nope"),
    ("gb28181_industry", "12", "2016"), ("gb28181_network", "8", None),
])
def test_codes_outside_a_table_or_edition_are_absent(table, code, edition):
    found = CATALOGUE.code_tables[table].lookup(code, edition) if edition != "nope" else None
    if table == "gb28181_network":
        # 8 exists in both editions with different meanings: the edition decides the label.
        assert CATALOGUE.code_tables[table].label_zh(code, "2016") == "社会资源接入网"
        assert CATALOGUE.code_tables[table].label_zh(code, "2022") == "专线"
    else:
        assert found is None


def test_emergency_levels_carry_their_colours():
    levels = {c.code: (c.name_zh, c.attributes.get("colour")) for c in CATALOGUE.code_tables["emergency_level"].codes}
    assert levels == {"I": ("特别重大", "red"), "II": ("重大", "orange"), "III": ("较大", "yellow"), "IV": ("一般", "blue")}


def test_congestion_grades_partition_zero_to_ten():
    grades = sorted(CATALOGUE.code_tables["congestion_grade"].codes, key=lambda c: c.attributes["min_index"])
    assert [g.name_zh for g in grades] == ["畅通", "基本畅通", "轻度拥堵", "中度拥堵", "严重拥堵"]
    bounds = [(g.attributes["min_index"], g.attributes["max_index"]) for g in grades]
    assert bounds == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]


def test_tables_without_a_national_source_are_replaceable():
    assert CATALOGUE.code_tables["incident_category_110"].replaceable
    assert not CATALOGUE.code_tables["gb28181_device_type"].replaceable


def test_industry_codes_are_checked_in_the_edition_of_the_id():
    import duckdb
    import pyarrow as pa
    rows = [{"device_id": f"1303020012132000000{n}", "id_edition": edition, "name": "x", "longitude": "119.6",
             "latitude": "39.9", "status": "ON"} for n, edition in ((1, "2016"), (2, "2022"))]
    con = duckdb.connect()
    conformer = Conformer(CATALOGUE, "camera")
    columns = conformer.source_columns()
    con.register("batch", pa.table({c: [r.get(c) for r in rows] for c in columns} | {"_line": [1, 2]}))
    out = {row[-2]: [(r["code"], r["field"]) for r in row[-1]]
           for row in con.execute(conformer.sql("batch", ("_line",), "_line").sql).fetchall()}
    # Industry 12 (civil aviation) exists only from the 2022 edition on.
    assert out[1] == [("E_CODE", "industry_code")] and out[2] == []
