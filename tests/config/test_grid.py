import duckdb
import pytest

from safecity.config.grid import cell_id, cell_sql
from safecity.config.profiles import load_city


@pytest.fixture(scope="module")
def city():
    return load_city("qinhuangdao")


def test_cells_are_grid_cell_m_apart_and_python_agrees_with_sql(city):
    e = city.extent
    assert cell_id(city, e.min_lon, e.min_lat) == "G000000"
    # One cell size north and east of the south-west corner (plus a hair) is the next row and column.
    step_lat = city.grid_cell_m / 110_574.0
    assert cell_id(city, e.min_lon, e.min_lat + step_lat * 1.001) == "G001000"
    assert cell_id(city, e.min_lon - 0.01, e.min_lat) is None
    points = [(118.6 + i * 0.0137, 39.45 + i * 0.0091) for i in range(90)]
    con = duckdb.connect()
    con.execute("CREATE TABLE p (lon DOUBLE, lat DOUBLE)")
    con.executemany("INSERT INTO p VALUES (?, ?)", points)
    from_sql = [r[0] for r in con.execute(f"SELECT {cell_sql(city, 'lon', 'lat')} FROM p").fetchall()]
    assert from_sql == [cell_id(city, lon, lat) for lon, lat in points]
    assert len(set(from_sql)) == len(points)


def test_point_levels_follow_the_city_rules(tmp_path):
    from safecity.config.point_levels import load_point_levels, point_level_sql
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "point_levels.yaml").write_text(
        'key:\n  use_type: ["3"]\nimportant:\n  position_type: ["5"]\n', encoding="utf-8")
    levels = load_point_levels("demo", tmp_path)
    rows = [("3", None), ("1", "5"), ("1", "4"), (None, None)]
    con = duckdb.connect()
    con.execute("CREATE TABLE c (u VARCHAR, p VARCHAR)")
    con.executemany("INSERT INTO c VALUES (?, ?)", rows)
    got = [r[0] for r in con.execute(f"SELECT {point_level_sql(levels, 'u', 'p')} FROM c").fetchall()]
    assert got == ["key", "important", "normal", "normal"]
    shipped = load_point_levels("qinhuangdao")
    assert "3" in shipped.key.use_type and shipped.important.position_type
