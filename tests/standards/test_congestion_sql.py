"""The one speed → index → grade implementation (standards/congestion.py) that the congestion mart and the junction
readings both run, against the plain-Python reading of GB/T 33171's table (tests/congestion.py), for every road
class of the code table at and around each threshold."""
import duckdb
import pytest

from safecity.standards.congestion import congestion_grade_sql, congestion_index_sql
from tests.congestion import GRADE_BY_SPEED, congestion_grade, congestion_index


def evaluate(catalogue, speed, road_class):
    index_sql = congestion_index_sql(catalogue, "s", "c")
    grade_sql = congestion_grade_sql(catalogue, "i")
    return duckdb.execute(f"SELECT i, {grade_sql} FROM (SELECT {index_sql} AS i FROM (SELECT ?::DOUBLE AS s, "
                          f"?::VARCHAR AS c))", [speed, road_class]).fetchone()


def test_every_road_class_is_graded_as_the_standard_reads_at_and_around_its_thresholds(catalogue):
    bands = {c.code: c.attributes for c in catalogue.code_tables["congestion_grade"].codes}
    classes = {c.code: c.attributes for c in catalogue.code_tables["road_class"].codes}
    assert set(classes) >= {"expressway", "arterial", "secondary_arterial", "branch"}
    for road_class, thresholds in classes.items():
        speeds = {0.0, 0.5, 200.0, 2 * thresholds["speed_free_flow_gt"]}
        for key, _ in GRADE_BY_SPEED:
            speeds |= {thresholds[key] - 0.1, float(thresholds[key]), thresholds[key] + 0.1}
        for speed in sorted(speeds):
            index, grade = evaluate(catalogue, speed, road_class)
            want = congestion_index(speed, thresholds)
            assert index == pytest.approx(want, abs=1e-12), (road_class, speed)
            assert grade == congestion_grade(want, bands), (road_class, speed, index)
            # v > threshold is the better grade: the speed table and the index agree on every grade
            by_speed = next((g for key, g in GRADE_BY_SPEED if speed > thresholds[key]), "severe")
            assert grade == by_speed, (road_class, speed, index)


def test_a_missing_speed_or_an_unknown_road_class_has_no_index_and_no_grade(catalogue):
    assert evaluate(catalogue, None, "arterial") == (None, None)
    assert evaluate(catalogue, 12.0, "no_such_class") == (None, None)
    assert evaluate(catalogue, 12.0, "arterial")[1] == "severe"
