"""Where the batch mode, replay and diff get their events (事件来源): silver tables and JSON Lines files.

An event type of the catalogue that is derived from an entity (alarm_received from alarm_call, camera_registered
from camera, …) is read from that entity's silver table, one event per row, identified by the row's batch and
line, so an outbox record names the exact silver rows that fired it. A type with fields of its own (camera_health,
camera_down, incident_reported, …) is read from the silver table of the same name when a producer writes one
(cameras/health.py writes camera_health and camera_down), with the same `_batch_id:_line` ids. Events are ordered
by event time; types without an event time (the camera register) come first, in load order.

Facts (类型由策略的 `fact:` 决定, e.g. camera_down) are current state, not history: their table holds what is true
now. With `start` they are still read (a camera down since before `start` is down inside the window too), placed
at their own time so that an incident earlier than the outage does not join it.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from safecity.standards.catalogue import Catalogue


def silver_tables(con) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver'").fetchall()
    return {row[0] for row in rows}


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


def _plain(value: Any) -> Any:
    # The engine and the catalogue check compare timestamps as ISO text with a zone, as policy files write them.
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def silver_source(catalogue: Catalogue, event_type: str, present: set[str]) -> str | None:
    """The silver table an event type is read from: its entity's table, or for a derived type the table named
    like the event; None when that table does not exist (yet)."""
    table = catalogue.events[event_type].entity or event_type
    return table if table in present else None


def fact_types(policies: Iterable[Any]) -> frozenset[str]:
    """The types some policy holds as facts (`fact:` in its conditions): the catalogue does not say which are."""
    return frozenset(t for loaded in policies for t in loaded.policy.fact_types)


def event_time(event: Mapping[str, Any], catalogue: Catalogue) -> dt.datetime | None:
    event_type = catalogue.events.get(event.get("type"))
    return _moment(event.get(event_type.time_field)) if event_type and event_type.time_field else None


def silver_events(con, catalogue: Catalogue, start: dt.datetime | None = None,
                  end: dt.datetime | None = None, facts: Iterable[str] = (),
                  starts: Mapping[str, dt.datetime | None] | None = None,
                  keep_timeless: bool = False) -> list[dict[str, Any]]:
    """Every event in silver, ordered by event time; with start/end only timed events in [start, end). Types in
    `facts` ignore `start` (see the module docstring); `starts` gives some types a start of their own (None: all
    of them); `keep_timeless` keeps the types without an event time even with a start or end."""
    present = silver_tables(con)
    facts = frozenset(facts)
    starts = starts or {}
    timeless: list[dict[str, Any]] = []
    timed: list[tuple[dt.datetime, int, dict[str, Any]]] = []
    for name, event_type in sorted(catalogue.events.items()):
        table = silver_source(catalogue, name, present)
        if table is None:
            continue
        if event_type.time_field is None and (start or end or starts) and not keep_timeless:
            continue
        fields = [e.id for e in catalogue.event_fields(name)]
        columns = {r[0] for r in con.execute(f"DESCRIBE silver.{table}").fetchall()}
        chosen = [f for f in fields if f in columns]
        if not chosen or not {"_batch_id", "_line"} <= columns:
            continue  # not an event table: without stable row ids an outbox record could not name its events
        cursor = con.execute(f"SELECT {', '.join(chosen)}, _batch_id, _line FROM silver.{table} "
                             f"ORDER BY _batch_id, _line")
        names = [d[0] for d in cursor.description]
        since = None if name in facts else starts[name] if name in starts else start
        for row in cursor.fetchall():
            record = dict(zip(names, row))
            event_id = f"{record.pop('_batch_id')}:{record.pop('_line')}"
            event = {"type": name, "id": event_id, **{k: _plain(v) for k, v in record.items() if v is not None}}
            if event_type.time_field is None:
                timeless.append(event)
                continue
            moment = _moment(record.get(event_type.time_field))
            if moment is None or (since and moment < since) or (end and moment >= end):
                continue
            timed.append((moment, len(timed), event))
    return timeless + [event for _, _, event in sorted(timed, key=lambda item: (item[0], item[1]))]


def read_events_file(path: str | Path, catalogue: Catalogue, start: dt.datetime | None = None,
                     end: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Events from a JSON Lines file (one event object per line, with `type` and `id`), ordered by event time."""
    timed = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        event = json.loads(line)
        event_type = catalogue.events.get(event.get("type"))
        field = event_type.time_field if event_type else None
        moment = _moment(event.get(field)) if field else None
        if (start or end) and (moment is None or (start and moment < start) or (end and moment >= end)):
            continue
        timed.append((moment or dt.datetime.min.replace(tzinfo=dt.timezone.utc), number, event))
    return [event for _, _, event in sorted(timed, key=lambda item: (item[0], item[1]))]


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
