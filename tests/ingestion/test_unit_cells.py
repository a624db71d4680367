"""unit_cells: packed `UNIT=hh:mm:ss` cells exploded into unit rows (dates across midnight, repeats, bad entries)."""
import duckdb
import pyarrow as pa
import pytest

from safecity.config.yamlfile import YamlFileError
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.unit_cells import PART, UnitCells, exploded_sql

SPEC = UnitCells(date_column="d", date_format="%m/%d/%y", cells=["disp", "arr"])


def explode(rows):
    con = duckdb.connect()
    columns = ["id", "d", "disp", "arr"]
    con.register("raw", pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}
                                 | {"ln": list(range(2, len(rows) + 2))}))
    return con.execute(f"SELECT id, unit, response_no, disp, arr, {PART} FROM ({exploded_sql(SPEC, 'raw', 'ln', columns)}) "
                       f"ORDER BY ln, {PART}").fetchall()


def test_times_past_midnight_are_on_the_next_day_and_a_little_earlier_stays_before():
    rows = explode([("C1", "1/31/15", "E1=23:58:00, E2=00:01:30", "E1=00:05:00, E2=23:50:00")])
    assert rows == [("C1", "E1", "1", "2015-01-31 23:58:00", "2015-02-01 00:05:00", 1),
                    ("C1", "E2", "1", "2015-02-01 00:01:30", "2015-01-31 23:50:00", 2)]


def test_repeats_are_copies_and_a_later_time_is_a_second_response():
    rows = explode([("C1", "1/1/15", "E1=10:00:00, E1=10:00:00, E1=10:20:00", "E1=10:07:00, E1=10:30:00")])
    assert rows == [("C1", "E1", "1", "2015-01-01 10:00:00", "2015-01-01 10:07:00", 1),
                    ("C1", "E1", "1", "2015-01-01 10:00:00", "2015-01-01 10:07:00", 2),
                    ("C1", "E1", "2", "2015-01-01 10:20:00", "2015-01-01 10:30:00", 3)]


def test_a_row_without_units_comes_out_once_and_a_bad_entry_is_kept_as_written():
    rows = explode([("C1", "1/1/15", "NULL", "NULL"), ("C2", "1/1/15", "M5=7pm", "NULL")])
    assert rows[0] == ("C1", None, None, None, None, 0)
    assert rows[1][:2] == ("C2", "M5") and rows[1][3] == "M5=7pm"


def test_unmapped_unit_cells_are_refused_with_the_file_and_line(tmp_path, catalogue):
    path = tmp_path / "m.yaml"
    path.write_text("id: m\nname_zh: m\nentity: dispatched_unit\nformat: csv\nlanding: calls\n"
                    "unit_cells: {date_column: d, date_format: '%m/%d/%y', cells: [disp, arr]}\n"
                    "columns: {id: call_id, unit: unit_id, response_no: response_no, disp: dispatched_at}\n",
                    encoding="utf-8")
    with pytest.raises(YamlFileError) as error:
        load_mapping(path, catalogue)
    assert "m.yaml" in str(error.value) and "'arr'" in str(error.value)
