"""Gold after dbt: the marts published as Apache Iceberg tables (`gold.<mart>` in the lakehouse catalog, readable by
any Iceberg engine without our code) and the row scopes of each branch (分局) in the DuckDB warehouse.

- A mart with a masked view (`gold_masked.<mart>`, sensitive columns from the standards masked) is published
  masked: gold leaves the warehouse, and the unmasked rows stay with the roles that may read `marts.*`.
- Each publication replaces the table's rows in one Iceberg commit (overwrite), so a reader sees the old or the new
  build, never half of one. A mart whose columns changed gets its table recreated.
- Row scopes: schema `scope_<division>` holds a view of every mart restricted to that branch's rows: rows of its
  division (`division_code`), or, in the three-level marts, its own branch row and the rows of its stations.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog

from safecity.config.lakehouse import publish_views

GOLD = "gold"
MARTS = "marts"
MASKED = "gold_masked"


@dataclass(frozen=True)
class Published:
    mart: str
    rows: int
    masked: bool
    metadata_location: str


def _tables(con, schema: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                                      "ORDER BY 1", [schema]).fetchall()]


def _columns(con, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]


def _iceberg_ready(table: pa.Table) -> pa.Table:
    """Iceberg has no unsigned or 8/16-bit integers, stores timestamps in microseconds and time-zoned ones in UTC
    (the same instants; readers show them in their own zone)."""
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_integer(kind) and (pa.types.is_unsigned_integer(kind) or kind.bit_width < 32):
            kind = pa.int64() if kind.bit_width >= 32 else pa.int32()
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC" if kind.tz else None)
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))


def publish_gold(con, catalog: Catalog) -> list[Published]:
    """Write every mart to `gold.<mart>` (masked where a masked view exists) and expose them as DuckDB views."""
    masked = set(_tables(con, MASKED))
    published = []
    for mart in _tables(con, MARTS):
        schema = MASKED if mart in masked else MARTS
        data = _iceberg_ready(con.execute(f'SELECT * FROM {schema}."{mart}"').to_arrow_table())
        identifier = f"{GOLD}.{mart}"
        properties = {"safecity.source": f"{schema}.{mart}"}
        table = catalog.create_table_if_not_exists(identifier, schema=data.schema)
        if [f.name for f in table.schema().fields] != data.schema.names:
            catalog.drop_table(identifier)  # the mart's columns changed: a new table for the new shape
            table = catalog.create_table(identifier, schema=data.schema)
        table.overwrite(data, snapshot_properties=properties)
        published.append(Published(mart, data.num_rows, mart in masked, table.metadata_location))
    publish_views(con, catalog, (GOLD,))
    return published


def scope_filter(columns: list[str], division: str) -> str | None:
    """The WHERE clause restricting a mart to one branch, or None when the mart has no jurisdiction column."""
    if {"level", "unit_code", "parent_code"} <= set(columns):
        return (f"(level = 'branch' AND unit_code = '{division}') OR "
                f"(level = 'station' AND parent_code = '{division}')")
    if "division_code" in columns:
        return f"division_code = '{division}'"
    return None


def create_row_scopes(con, divisions: list[str]) -> dict[str, list[str]]:
    """A `scope_<division>` schema per branch with a view of each mart restricted to its rows (masked where a masked
    view exists). Marts without a jurisdiction column are left out of the scopes."""
    masked = set(_tables(con, MASKED))
    scopes: dict[str, list[str]] = {}
    for division in divisions:
        if not division.isdigit():
            raise ValueError(f"not a division code: {division!r}")
        schema = f"scope_{division}"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for mart in _tables(con, MARTS):
            source = MASKED if mart in masked else MARTS
            where = scope_filter(_columns(con, MARTS, mart), division)
            if where is None:
                continue
            con.execute(f'CREATE OR REPLACE VIEW {schema}."{mart}" AS SELECT * FROM {source}."{mart}" WHERE {where}')
            scopes.setdefault(schema, []).append(mart)
    return scopes
