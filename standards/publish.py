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
    divisions = pa.table({
        "division_code": [d.code for d in city.divisions],
        "name_zh": [d.name_zh for d in city.divisions],
        "name_en": [d.name_en for d in city.divisions],
        "kind": [d.kind for d in city.divisions],
        "is_urban": [d.urban for d in city.divisions],
        "centre_lon": [d.centre[0] for d in city.divisions],
        "centre_lat": [d.centre[1] for d in city.divisions],
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
