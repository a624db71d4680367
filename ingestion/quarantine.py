"""What the quarantine holds, for a person: rejected records grouped by entity, source, reason and field, each
group with its size, an example value, its Chinese message and where the example came from. Every reason of a
record counts (a record rejected for two reasons is in two groups), and the fields that soft checks flagged in
records that went to silver are listed beside them (kind `flag`; rejections are kind `reject`)."""
from __future__ import annotations

from safecity.config.profiles import Settings
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.ingestion.tables import FLAGS_PREFIX

SUMMARY_KEYS = ("entity", "source", "reason", "field", "rows", "example_value", "message_zh", "example_at", "kind")


def quarantine_summary(settings: Settings, entity: str | None = None) -> list[dict]:
    """One record per (entity, source, reason, field) over every reason of each record, largest first within each
    entity's table; then the flags of soft checks, grouped the same way."""
    catalog = open_catalog(settings)
    tables = [".".join(t[-2:]) for t in catalog.list_tables("quarantine") if entity is None or t[-1] == entity]
    flags = [".".join(t[-2:]) for t in catalog.list_tables("ops") if t[-1].startswith(FLAGS_PREFIX)
             and (entity is None or t[-1] == FLAGS_PREFIX + entity)]
    rows = []
    with connect(settings) as con:
        publish_views(con, catalog, ("quarantine", "ops") if flags else ("quarantine",))
        for table in tables:
            rows += con.execute(
                f"SELECT entity, _source, r.code, r.field, count(*), any_value(r.value), any_value(r.message_zh), "
                f"any_value(_file || ':' || _line), 'reject' FROM (SELECT *, unnest(reasons) AS r FROM {table}) "
                f"GROUP BY ALL ORDER BY 5 DESC, 3, 4").fetchall()
        for table in flags:
            rows += con.execute(
                f"SELECT entity, _source, code, field, count(*), any_value(value), any_value(message_zh), "
                f"any_value(_file || ':' || _line), 'flag' FROM {table} GROUP BY ALL ORDER BY 5 DESC, 3, 4").fetchall()
    return [dict(zip(SUMMARY_KEYS, r)) for r in rows]
