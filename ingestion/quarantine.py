"""What the quarantine holds, for a person: rejected records grouped by entity, source, reason and field, each
group with its size, an example value, its Chinese message and where the example came from."""
from __future__ import annotations

from safecity.config.profiles import Settings
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect

SUMMARY_KEYS = ("entity", "source", "reason", "field", "rows", "example_value", "message_zh", "example_at")


def quarantine_summary(settings: Settings, entity: str | None = None) -> list[dict]:
    """One record per (entity, source, primary reason, field), largest first within each entity's table."""
    catalog = open_catalog(settings)
    tables = [".".join(t[-2:]) for t in catalog.list_tables("quarantine") if entity is None or t[-1] == entity]
    rows = []
    with connect(settings) as con:
        publish_views(con, catalog, ("quarantine",))
        for table in tables:
            rows += con.execute(
                f"SELECT entity, _source, primary_reason, reasons[1].field, count(*), any_value(reasons[1].value), "
                f"any_value(reasons[1].message_zh), any_value(_file || ':' || _line) FROM {table} "
                f"GROUP BY ALL ORDER BY 5 DESC").fetchall()
    return [dict(zip(SUMMARY_KEYS, r)) for r in rows]
