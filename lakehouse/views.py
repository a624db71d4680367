"""The DuckDB warehouse's view of the lakehouse: one view per Iceberg table, pinned to its current snapshot."""
from __future__ import annotations

from pyiceberg.catalog import Catalog

from safecity.lakehouse.catalog import NAMESPACES

def publish_views(con, catalog: Catalog, namespaces: tuple[str, ...] = NAMESPACES) -> list[str]:
    """Expose every Iceberg table to the DuckDB warehouse as `namespace.table`, at its current snapshot.

    The SQL catalog is not readable by DuckDB itself, so each view pins a metadata file; it is refreshed after
    every commit that downstream readers (dbt, the rule engine, reports) should see.
    """
    published = []
    for namespace in namespaces:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {namespace}")
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier[-2:])
            location = catalog.load_table(identifier).metadata_location.replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM iceberg_scan('{location}')")
            published.append(name)
    return published
