"""Reference tables in the warehouse, generated from the catalogue: divisions and every code table's values.

dbt joins these instead of carrying its own copies of the code tables, so a code added to a YAML file appears in
every mart on the next build.
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from safecity.standards.catalogue import Catalogue


def reference_tables(catalogue: Catalogue) -> dict[str, pa.Table]:
    city = catalogue.city
    profile = {d.code: d for d in city.divisions}
    codes = catalogue.code_tables["city_divisions"].codes
    divisions = pa.table({
        "division_code": [c.code for c in codes],
        "name_zh": [c.name_zh for c in codes],
        "name_en": [c.name_en for c in codes],
        "kind": [c.group for c in codes],
        "is_urban": pa.array([profile[c.code].urban if c.code in profile else None for c in codes], pa.bool_()),
        "centre_lon": pa.array([profile[c.code].centre[0] if c.code in profile else None for c in codes], pa.float64()),
        "centre_lat": pa.array([profile[c.code].centre[1] if c.code in profile else None for c in codes], pa.float64()),
    })
    rows = [(t.id, c.code, c.name_zh, c.name_en, c.group, ",".join(c.editions) if c.editions else None)
            for t in catalogue.code_tables.values() for c in t.codes]
    code_values = pa.table({name: [r[i] for r in rows] for i, name in
                            enumerate(("table_id", "code", "name_zh", "name_en", "code_group", "editions"))})
    return {"divisions": divisions, "code_values": code_values}


def publish_reference(con: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> dict[str, int]:
    con.execute("CREATE SCHEMA IF NOT EXISTS reference")
    counts = {}
    for name, table in reference_tables(catalogue).items():
        con.register("_reference_rows", table)
        con.execute(f"CREATE OR REPLACE TABLE reference.{name} AS SELECT * FROM _reference_rows")
        con.unregister("_reference_rows")
        counts[name] = table.num_rows
    return counts
