"""GB/T 33171's traffic performance index (交通运行指数, 0–10) and grade as DuckDB expressions, rendered from the
code tables: the one implementation of speed → index → grade. The congestion mart (through the dbt vars
`congestion_index_sql` and `congestion_grade_sql` and the macros of the same names) and the congestion readings'
producer (analytics/congestion_events.py) both use these, so the two can never grade the same speed differently.

- index: a speed graded by its road class's thresholds t1 > t2 > t3 > t4 (road_class attributes: v > threshold is
  the better grade), interpolated linearly inside each grade's band, so the threshold speeds sit exactly on the
  boundaries 2, 4, 6, 8; 0 km/h is 10, twice the free-flow threshold or faster is 0. NULL for a NULL speed or a
  road class the code table does not know.
- grade: the congestion_grade code whose half-open band min_index ≤ index < max_index holds the index (the band
  ending at 10 includes 10); NULL for a NULL index.
"""
from __future__ import annotations

from safecity.standards.catalogue import Catalogue

THRESHOLDS = ("speed_free_flow_gt", "speed_mostly_free_gt", "speed_light_gt", "speed_moderate_gt")


def _number(value) -> str:
    # A DOUBLE literal: a bare 40.0 would be a DECIMAL and change the arithmetic's type.
    return f"CAST({float(value)!r} AS DOUBLE)"


def _piecewise(speed: str, attributes: dict) -> str:
    t1, t2, t3, t4 = (_number(attributes[key]) for key in THRESHOLDS)
    return (f"CASE WHEN {speed} >= 2 * {t1} THEN 0.0"
            f" WHEN {speed} > {t1} THEN 2 * (2 * {t1} - {speed}) / {t1}"
            f" WHEN {speed} > {t2} THEN 2 + 2 * ({t1} - {speed}) / ({t1} - {t2})"
            f" WHEN {speed} > {t3} THEN 4 + 2 * ({t2} - {speed}) / ({t2} - {t3})"
            f" WHEN {speed} > {t4} THEN 6 + 2 * ({t3} - {speed}) / ({t3} - {t4})"
            f" ELSE 8 + 2 * ({t4} - greatest({speed}, 0)) / {t4} END")


def congestion_index_sql(catalogue: Catalogue, speed: str, road_class: str) -> str:
    """The index (DOUBLE) of the SQL expressions `speed` (km/h) and `road_class` (a road_class code)."""
    classes = {c.code: c.attributes or {} for c in catalogue.code_tables["road_class"].codes}
    branches = " ".join(f"WHEN {road_class} = '{code}' THEN {_piecewise(speed, attributes)}"
                        for code, attributes in classes.items())
    return f"(CASE WHEN {speed} IS NULL THEN NULL {branches} END)"


def congestion_grade_sql(catalogue: Catalogue, index: str) -> str:
    """The congestion_grade code (VARCHAR) of the SQL expression `index`."""
    branches = []
    for code in catalogue.code_tables["congestion_grade"].codes:
        low, high = code.attributes["min_index"], code.attributes["max_index"]
        upper = f"{index} < {_number(high)}" + (f" OR {index} <= {_number(high)}" if high == 10 else "")
        branches.append(f"WHEN {index} >= {_number(low)} AND ({upper}) THEN '{code.code}'")
    return f"(CASE {' '.join(branches)} END)"
