"""What reached silver since the previous batch run (迟到数据的到达判定), for the allowed lateness of batch mode.

An event whose event time is at or before the previous watermark fires nothing unless the run knows it is new.
Silver's own `_ingested_at` cannot tell: the event tables the policies read are mostly derived (incidents,
congestion readings, camera health) and replaced whole by their producers, without it. What every table has is
the Iceberg metadata file its DuckDB view pins (lakehouse/views.py): each run records, in the outbox commit that
carries its watermark, the file it read for every event table; the next run reads that old snapshot again and
takes as arrived the events it lacks, by what their id is made of (an entity event's subject: a new version of a
call already read is no new event; any other event's `_batch_id`, `_line`). This is exact whatever wrote the table
(append or overwrite), and costs one anti-join per type over the rows at or before the watermark.

When the old snapshot cannot be read (its files were expired by maintenance, or the previous run predates this
record), arrival is unknown: the run says so and judges nothing late, as before.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)
_SCAN = re.compile(r"iceberg_scan\('((?:[^']|'')*)'\)")


def pinned_files(con: Any, tables: Iterable[str]) -> dict[str, str]:
    """Silver table -> the Iceberg metadata file its view reads now (what this run evaluates)."""
    wanted = set(tables)
    found = {}
    for name, sql in con.execute("SELECT view_name, sql FROM duckdb_views() WHERE schema_name = 'silver'").fetchall():
        match = _SCAN.search(sql or "")
        if name in wanted and match:
            found[name] = match.group(1).replace("''", "'")
    return found


@dataclass
class Arrivals:
    """Events at or before the watermark that the previous run did not read: type -> [(event id, event time)]."""

    known: bool
    events: dict[str, list[tuple[str, dt.datetime]]] = field(default_factory=dict)


def arrived_before(con: Any, sources: Iterable[Any], before: dt.datetime, read_before: Mapping[str, str] | None
                   ) -> Arrivals:
    """The events of `sources` (SilverType) with event time <= `before` that are not in the snapshot the previous
    run read (`read_before`: table -> metadata file; a table missing there was not read at all, so all its rows
    are new)."""
    if read_before is None:
        return Arrivals(False)
    found: dict[str, list[tuple[str, dt.datetime]]] = {}
    for source in sources:
        if source.time_field is None or not source.zoned:
            continue  # timeless types are never late; unzoned times cannot be compared in SQL (none ship)
        old = read_before.get(source.table)
        # An entity's event is its subject (a new version of a call already read is no new event), any other the row.
        columns = source.id_columns
        same = " AND ".join(f'o."{c}" = c."{c}"' for c in columns)
        seen = ("" if old is None else
                f" AND NOT EXISTS (SELECT 1 FROM iceberg_scan('{old.replace(chr(39), chr(39) * 2)}') o WHERE {same})")
        selected = ", ".join(f'c."{c}"' for c in columns)
        try:
            rows = con.execute(f'SELECT {selected}, c."{source.time_field}" FROM {source.source_sql()} c '
                               f'WHERE c."{source.time_field}" <= ?{seen} ORDER BY {len(columns) + 1}, '
                               f'{", ".join(str(i + 1) for i in range(len(columns)))}', [before]).fetchall()
        except Exception as exc:  # noqa: BLE001 - duckdb's IO/catalog errors: the old snapshot's files are gone
            log.warning("迟到判定不可用 / cannot tell late arrivals for silver.%s: the previous run's snapshot %s "
                        "is unreadable (%s); nothing of it is judged late", source.table, old, exc)
            return Arrivals(False)
        if rows:
            found.setdefault(source.name, []).extend((source.event_id(list(row[:-1])), row[-1]) for row in rows)
    return Arrivals(True, found)
