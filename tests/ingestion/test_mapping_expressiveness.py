"""What a mapping can declare for real exports: the CSV dialect, derived columns, value ranges with a default, a
row filter, positions in any coordinate system — and the file:line errors of a wrong declaration."""
import io

import numpy as np
import openpyxl
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.ingestion.coordinates import wgs84_to_gcj02
from safecity.ingestion.crs import bd09_to_wgs84, to_wgs84
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.readers import UnreadableFile, read
from safecity.lakehouse.catalog import open_catalog

MAPPING = """\
id: county_incidents
name_zh: 某县交通事故导出
entity: traffic_incident
format: csv
landing: county
csv: { delimiter: ";", skip_rows: 1 }
derive:
  发生时间: { concat: [日期, 时间], sep: " " }
  经度: { point: 位置, part: lon }
  纬度: { point: 位置, part: lat }
  伤亡: { expression: "{死亡} + {受伤}" }
  路段: { split: 地点, sep: "/", index: 2 }
  里程: { regex: "K(\\\\d+)", from: 地点 }
keep: { column: 状态, in: [有效] }
columns:
  编号: incident_id
  发生时间: { element: occurred_at, time_format: "%Y-%m-%d %H:%M" }
  上报: { element: reported_at, time_format: "%Y-%m-%d %H:%M" }
  类型: { element: incident_type, codes: { "1": accident, "2": congestion }, otherwise: obstacle }
  经度: longitude
  纬度: latitude
  伤亡: casualties
  死亡: deaths
  受伤: injuries
  封闭米数: { element: lanes_blocked, ranges: [{ max: 10, code: "1" }, { min: 10, max: 100, code: "2" }] }
  路段: road_name
  里程: road_segment_id
"""
ROWS = """\
导出时间 2026-07-02 （县交警大队）
编号;日期;时间;上报;类型;位置;地点;死亡;受伤;封闭米数;状态
A1;2026-07-01;08:15;2026-07-01 08:20;1;POINT (119.6 39.93);G1/京哈高速/K12;1;2;30;有效
A2;2026-07-01;09:00;2026-07-01 09:02;2;(39.94, 119.61);S2/沿海高速/K7;0;0;5;有效
A3;2026-07-01;10:00;2026-07-01 10:01;7;POINT (119.62 39.95);S2/沿海高速/K9;0;1;;有效
A4;2026-07-01;11:00;2026-07-01 11:01;1;POINT (119.6 39.93);G1/京哈高速/K3;0;0;;作废
"""


def ingest(tmp_path, catalogue, settings, mapping=MAPPING, rows=ROWS):
    (tmp_path / "county").mkdir(exist_ok=True)
    (tmp_path / "county" / "day.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, load_mapping(tmp_path / "mapping.yaml", catalogue),
                           LocalLanding(tmp_path))
    silver = {r["incident_id"]: r for r in catalog.load_table("silver.traffic_incident").scan().to_arrow().to_pylist()}
    quarantine = catalog.load_table("quarantine.traffic_incident").scan().to_arrow().to_pylist()
    return report, silver, quarantine


def test_dialect_derived_columns_ranges_and_filter(tmp_path, catalogue, settings):
    report, silver, quarantine = ingest(tmp_path, catalogue, settings)
    assert (report.received, report.silver, report.quarantined) == (4, 3, 1)
    a1, a2, a3 = silver["A1"], silver["A2"], silver["A3"]
    assert a1["occurred_at"].strftime("%Y-%m-%d %H:%M") == "2026-07-01 00:15"  # 08:15 in the city's zone, as UTC
    # WKT is (lon lat); a bare pair is (lat, lon) as open-data portals write it.
    assert (a1["longitude"], a1["latitude"]) == (119.6, 39.93) and (a2["longitude"], a2["latitude"]) == (119.61, 39.94)
    assert (a1["casualties"], a2["casualties"], a3["casualties"]) == (3, 0, 1)
    assert (a1["incident_type"], a2["incident_type"], a3["incident_type"]) == ("accident", "congestion", "obstacle")
    assert (a1["lanes_blocked"], a2["lanes_blocked"], a3["lanes_blocked"]) == (2, 1, None)
    assert (a1["road_name"], a1["road_segment_id"]) == ("京哈高速", "12")
    # The row the filter leaves out is kept with its reason and line (line 6: the banner line counts).
    [left_out] = quarantine
    assert (left_out["_line"], left_out["primary_reason"]) == (6, "E_FILTERED")
    assert left_out["reasons"][0]["value"] == "作废" and "筛选" in left_out["reasons"][0]["message_zh"]


def test_a_derivation_over_a_missing_column_rejects_the_file_naming_it(tmp_path, catalogue, settings):
    report, silver, _ = ingest(tmp_path, catalogue, settings, rows=ROWS.replace(";地点;", ";地址;"))
    assert silver == {} and report.files[0].rejected_whole == "E_DERIVE"
    assert "地点" in report.files[0].error


def test_decimal_comma_and_a_headerless_file(tmp_path, catalogue, settings):
    mapping = MAPPING.replace('csv: { delimiter: ";", skip_rows: 1 }',
                              'csv: { delimiter: ";", header: false, decimal_comma: true, names: '
                              '[编号, 日期, 时间, 上报, 类型, 经度, 纬度, 地点, 死亡, 受伤, 封闭米数, 状态] }')
    mapping = mapping.replace("  经度: { point: 位置, part: lon }\n  纬度: { point: 位置, part: lat }\n", "")
    rows = "A1;2026-07-01;08:15;2026-07-01 08:20;1;119,6;39,93;G1/京哈高速/K12;1;2;9,5;有效\n"
    report, silver, _ = ingest(tmp_path, catalogue, settings, mapping, rows)
    assert report.silver == 1
    assert (silver["A1"]["longitude"], silver["A1"]["latitude"], silver["A1"]["lanes_blocked"]) == (119.6, 39.93, 1)


def test_a_semicolon_file_read_as_comma_says_which_delimiter_to_declare(tmp_path, catalogue, settings):
    mapping = MAPPING.replace('csv: { delimiter: ";", skip_rows: 1 }', 'csv: { skip_rows: 1 }')
    report, silver, _ = ingest(tmp_path, catalogue, settings, mapping)
    assert silver == {} and report.files[0].rejected_whole == "E_DELIMITER"
    assert "delimiter: \";\"" in report.files[0].error and ":2" in report.files[0].error


@pytest.mark.parametrize("change, pointer", [
    (('csv: { delimiter: ";", skip_rows: 1 }', 'csv: { delimiter: ";", decimal_comma: true, header: false }'),
     "/csv"),
    (('伤亡: { expression: "{死亡} + {受伤}" }', '伤亡: { expression: "{死亡} + os.system(1)" }'), "/derive/伤亡"),
    (('里程: { regex: "K(\\\\d+)", from: 地点 }', '里程: { regex: "K(", from: 地点 }'), "/derive/里程"),
    (("keep: { column: 状态, in: [有效] }", "keep: { column: 状态 }"), "/keep"),
    (('{ max: 10, code: "1" }', '{ min: 10, max: 5, code: "1" }'), "/columns/封闭米数/ranges/0"),
    (("format: csv", "format: json"), ""),
])
def test_a_wrong_declaration_names_the_file_line_and_key(tmp_path, catalogue, change, pointer):
    path = tmp_path / "bad.yaml"
    path.write_text(MAPPING.replace(*change), encoding="utf-8")
    with pytest.raises(YamlFileError) as info:
        load_mapping(path, catalogue)
    problem = info.value.problems[0]
    assert problem.file == str(path) and (problem.line > 1 or not pointer)
    assert problem.pointer == pointer or (not pointer and problem.pointer in ("", "/"))


def test_positions_in_other_systems_come_back_to_wgs84():
    # Hong Kong 1980 Grid: its false origin (836694.05 E, 819069.80 N) is 22°18'43.68"N 114°10'42.80"E on HK1980;
    # WGS-84 differs from HK1980 by about 5 seconds of arc (-5.5" in latitude, +8.8" in longitude).
    lon, lat = to_wgs84("EPSG:2326", [836694.05], [819069.80])
    assert abs(lon[0] - (114 + 10 / 60 + (42.80 + 8.8) / 3600)) < 1e-4
    assert abs(lat[0] - (22 + 18 / 60 + (43.68 - 5.5) / 3600)) < 1e-4
    # British National Grid: Edinburgh Castle is near 325100 E, 673400 N.
    lon, lat = to_wgs84("EPSG:27700", [325100.0], [673400.0])
    assert abs(lon[0] - -3.2008) < 0.002 and abs(lat[0] - 55.9486) < 0.002
    # BD-09 is GCJ-02 shifted once more; its inverse lands within a metre of the WGS-84 point.
    wgs = np.array([119.6]), np.array([39.93])
    gcj = wgs84_to_gcj02(*wgs)
    z = np.hypot(gcj[0], gcj[1]) + 0.00002 * np.sin(gcj[1] * np.pi * 3000 / 180)
    theta = np.arctan2(gcj[1], gcj[0]) + 0.000003 * np.cos(gcj[0] * np.pi * 3000 / 180)
    back = bd09_to_wgs84(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)
    assert abs(back[0][0] - 119.6) * 85_000 < 1 and abs(back[1][0] - 39.93) * 111_000 < 1


def test_trailing_empty_columns_jsonp_and_merged_cells():
    batch = read(b"a,b,,\n1,2,,\n3,4\n", "csv")
    assert batch.header == ["a", "b"] and batch.table.column("b").to_pylist() == ["2", "4"] and not batch.rejected
    batch = read(b'cb_1.x({"data": [{"id": 1}, {"id": 2}]});', "json", records="data")
    assert batch.table.column("id").to_pylist() == ["1", "2"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["分局", "派出所"])
    sheet.append(["海港分局", "东街所"])
    sheet.append([None, "西街所"])
    sheet.merge_cells("A2:A3")
    data = io.BytesIO()
    book.save(data)
    batch = read(data.getvalue(), "xlsx", fill_down=("分局",))
    assert batch.table.column("分局").to_pylist() == ["海港分局", "海港分局"]
    with pytest.raises(UnreadableFile, match="E_XML"):
        read(b"<a><b>1</b>", "xml", records="a.b")


def test_standards_check_reads_a_trailing_empty_column_and_names_a_wrong_delimiter(tmp_path):
    from typer.testing import CliRunner

    from safecity.orchestration.cli import app

    header = "detector_id,interval_start,interval_minutes,lane_no,volume"
    rows = ["D1,2026-07-01 08:00:00,60,0,100", "D1,2026-07-01 09:00:00,60,0,90"]
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("\n".join(line + "," for line in [header, *rows]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["standards", "check", str(trailing), "--entity", "detector_flow"])
    assert result.exit_code == 0 and "2 accepted, 0 rejected" in result.output, result.output
    semicolon = tmp_path / "semicolon.csv"
    semicolon.write_text("\n".join(line.replace(",", ";") for line in [header, *rows]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["standards", "check", str(semicolon), "--entity", "detector_flow"])
    assert result.exit_code == 2 and "E_DELIMITER" in result.output and 'delimiter: ";"' in result.output
    assert "Traceback" not in result.output
