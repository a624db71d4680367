"""Where the batch mode, replay and diff get their events (事件来源): silver tables and JSON Lines files.

An event type of the catalogue that is derived from an entity (alarm_received from alarm_call, camera_registered
from camera, …) is read from that entity's silver table, one event per record, identified by its subject: the type
and the entity's key (`alarm_received:J1303…`). The bureau's live systems know that id when they emit the event
(the call-taking system knows its call number, not our load order), so a streamed event and the same event read
from silver fire the same action. A record that updates (a call delivered again once closed) is one event, not one
per version: the first version for a timed type (the event happened once, as first known: what was known at the
call's receipt), the latest for a timeless one (the register as it is now). A type with fields of its own
(camera_health, camera_down, incident_reported, …) is read from the silver table of the same name that its producer
(analytics/) writes, where `_batch_id:_line` is already built from subject and moment. Events are ordered by event
time; types without an event time (the camera register) come first, in load order.

Silver events are streamed, never held: a city day is millions of vehicle passes (issue #9: a list of them all
blew an 18 GB cap). Each type is one cursor ordered by (event time, _batch_id, _line) and fetched in chunks; the
cursors are merged on event time, ties going to the type that sorts first, which is the order a stable sort of
all events by time gave. Types nobody reads (`only`) are not fetched at all: `SilverEvents.count_skipped` counts
them in SQL.

Facts (类型由策略的 `fact:` 决定, e.g. camera_down) are current state, not history: their table holds what is true
now. With `start` they are still read (a camera down since before `start` is down inside the window too), placed
at their own time so that an incident earlier than the outage does not join it.
"""
from __future__ import annotations

import datetime as dt
import heapq
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from safecity.standards.catalogue import Catalogue

CHUNK = 5000  # rows per fetch from one type's cursor: enough to amortise the round trip, small next to a day
ZONED = "TIMESTAMP WITH TIME ZONE"


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


def read_types(policies: Iterable[Any]) -> frozenset[str]:
    """The types the engine routes somewhere: read as an event or held as a fact by some policy."""
    return frozenset(t for loaded in policies for t in loaded.policy.subscribed_events | loaded.policy.fact_types)


def event_time(event: Mapping[str, Any], catalogue: Catalogue) -> dt.datetime | None:
    event_type = catalogue.events.get(event.get("type"))
    return _moment(event.get(event_type.time_field)) if event_type and event_type.time_field else None


@dataclass(frozen=True)
class SilverType:
    """One event type's silver table and the slice of it a run reads."""

    name: str
    table: str
    columns: tuple[str, ...]
    time_field: str | None
    since: dt.datetime | None
    end: dt.datetime | None
    zoned: bool  # the time column is TIMESTAMPTZ, so SQL can filter and order on it as Python would
    at_event: Mapping[str, str | None] = dataclass_field(default_factory=dict)  # fields as they were at the event's moment
    subject: tuple[str, ...] = ()  # an entity event's key columns: its id is the type and their values
    versions: tuple[str, ...] = ()  # an updating entity's version order: one event per subject, picked by this order

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The columns an event's id is made of: the subject's key, or the row's batch and line."""
        return self.subject or ("_batch_id", "_line")

    def event_id(self, values: list[Any]) -> str:
        """The id of the event whose `id_columns` hold `values`."""
        if self.subject:
            return ":".join([self.name, *(str(_plain(v)) for v in values)])
        return f"{values[0]}:{values[1]}"

    def source_sql(self) -> str:
        """The table, or for an updating entity one row per subject (first version when timed, latest when not)."""
        if not self.versions:
            return f"silver.{self.table}"
        direction = "ASC" if self.time_field else "DESC"
        order = ", ".join(f'{c} {direction}' for c in self.versions)
        partition = ", ".join(f'"{c}"' for c in self.subject)
        return (f"(SELECT * FROM silver.{self.table} QUALIFY row_number() OVER (PARTITION BY {partition} "
                f"ORDER BY {order}) = 1)")

    def _selected(self) -> str:
        def value(column: str) -> str:
            if column not in self.at_event:
                return column
            fixed = self.at_event[column]
            literal = "NULL" if fixed is None else "'" + fixed.replace("'", "''") + "'"
            return f'{literal} AS "{column}"'
        return ", ".join(value(c) for c in self.columns)

    def _filter(self) -> tuple[str, list[Any]]:
        if self.time_field is None or not self.zoned:
            return "", []
        clauses, params = [f'"{self.time_field}" IS NOT NULL'], []
        if self.since is not None:
            clauses.append(f'"{self.time_field}" >= ?')
            params.append(self.since)
        if self.end is not None:
            clauses.append(f'"{self.time_field}" < ?')
            params.append(self.end)
        return " WHERE " + " AND ".join(clauses), params

    def _kept(self, moment: dt.datetime | None) -> bool:
        if self.time_field is None:
            return True
        return moment is not None and not (self.since and moment < self.since) and not (self.end and moment >= self.end)

    def rows(self, con, chunk: int = CHUNK) -> Iterator[tuple[dt.datetime | None, dict[str, Any]]]:
        """(event time, event) in (event time, _batch_id, _line) order, fetched `chunk` rows at a time."""
        where, params = self._filter()
        order = f'"{self.time_field}", _batch_id, _line' if self.time_field and self.zoned else "_batch_id, _line"
        cursor = _cursor(con)
        try:
            subject = "".join(f', "{c}" AS "_subject_{i}"' for i, c in enumerate(self.subject))
            cursor.execute(f"SELECT {self._selected()}, _batch_id, _line{subject} FROM {self.source_sql()}{where} "
                           f"ORDER BY {order}", params)
            names = [d[0] for d in cursor.description]
            events = (self._event(dict(zip(names, row))) for row in _fetched(cursor, chunk))
            kept = (pair for pair in events if self._kept(pair[0]))
            if self.time_field and not self.zoned:
                # Time as text or without a zone: SQL cannot order it as instants, so this one type is sorted here.
                kept = iter(sorted(kept, key=lambda pair: pair[0]))
            yield from kept
        finally:
            cursor.close()

    def _event(self, record: dict[str, Any]) -> tuple[dt.datetime | None, dict[str, Any]]:
        batch, line = record.pop("_batch_id"), record.pop("_line")
        event_id = self.event_id([record.pop(f"_subject_{i}") for i, _ in enumerate(self.subject)] if self.subject
                                 else [batch, line])
        moment = _moment(record.get(self.time_field)) if self.time_field else None
        return moment, {"type": self.name, "id": event_id,
                        **{k: _plain(v) for k, v in record.items() if v is not None}}

    def count(self, con) -> tuple[int, dt.datetime | None]:
        """How many events `rows` would give, and the latest event time among them, without fetching them."""
        if self.time_field is not None and not self.zoned:
            moments = [moment for moment, _ in self.rows(con)]
            return len(moments), max(moments, default=None)
        where, params = self._filter()
        latest = f'max("{self.time_field}")' if self.time_field else "NULL"
        return tuple(con.execute(f"SELECT count(*), {latest} FROM {self.source_sql()}{where}", params).fetchone())


def _cursor(con):
    # A cursor is a new DuckDB connection to the same database: it must see timestamps in the session's zone,
    # or the ISO text of every event time would change with the number of types read.
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    cursor = con.cursor()
    cursor.execute(f"SET TimeZone = '{zone}'")
    return cursor


def _fetched(cursor, chunk: int) -> Iterator[tuple]:
    while rows := cursor.fetchmany(chunk):
        yield from rows


class SilverEvents:
    """Silver's events in event-time order, streamed: every iteration opens fresh cursors, so the supervised
    worker can start again from the first event after a crash. A finished pass leaves `by_type` (events given per
    type) and `latest` (the latest event time given)."""

    def __init__(self, con, types: list[SilverType], skipped: list[SilverType], chunk: int = CHUNK):
        self._con = con
        self.types = types
        self.skipped = skipped
        self.chunk = chunk
        self.by_type: Counter = Counter()
        self.latest: dt.datetime | None = None
        self.exclude: set[tuple[str, str]] = set()  # (type, id) left out: events judged too late (rules.batch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.by_type, self.latest = Counter(), None
        timeless = [t.rows(self._con, self.chunk) for t in self.types if t.time_field is None]
        # heapq.merge is stable: on equal times the earlier iterable (type name order) comes first.
        timed = heapq.merge(*(t.rows(self._con, self.chunk) for t in self.types if t.time_field is not None),
                            key=lambda pair: pair[0])
        for moment, event in itertools.chain(*timeless, timed):
            if self.exclude and (event["type"], event["id"]) in self.exclude:
                continue
            self.by_type[event["type"]] += 1
            if moment is not None and (self.latest is None or moment > self.latest):
                self.latest = moment
            yield event

    def count_skipped(self) -> dict[str, tuple[int, dt.datetime | None]]:
        """Events of the types not read (nobody routes them), counted in SQL: type -> (events, latest time)."""
        return {t.name: t.count(self._con) for t in self.skipped}


def event_tables(con, catalogue: Catalogue, timeless: bool = True) -> Iterator[tuple[str, Any, str, dict[str, str],
                                                                                tuple[str, ...]]]:
    """(type, its catalogue entry, its silver table, the table's column types, the type's fields the table has) for
    every event table in silver, in type-name order; without `timeless`, not the types lacking an event time."""
    present = silver_tables(con)
    for name, event_type in sorted(catalogue.events.items()):
        table = silver_source(catalogue, name, present)
        if table is None or (event_type.time_field is None and not timeless):
            continue
        described = {r[0]: r[1] for r in con.execute(f"DESCRIBE silver.{table}").fetchall()}
        chosen = tuple(e.id for e in catalogue.event_fields(name) if e.id in described)
        if not chosen or not {"_batch_id", "_line"} <= described.keys():
            continue  # not an event table: without stable row ids an outbox record could not name its events
        yield name, event_type, table, described, chosen


def version_order(entity: Any, columns: Mapping[str, str]) -> tuple[str, ...]:
    """The order of an updating record's versions: its update time when it has one, then the order silver took them."""
    return tuple(f'"{c}"' for c in (entity.version_field, "_ingested_at", "_batch_id", "_line") if c in columns)


def silver_events(con, catalogue: Catalogue, start: dt.datetime | None = None,
                  end: dt.datetime | None = None, facts: Iterable[str] = (),
                  starts: Mapping[str, dt.datetime | None] | None = None,
                  keep_timeless: bool = False, only: Iterable[str] | None = None,
                  chunk: int = CHUNK) -> SilverEvents:
    """Every event in silver, ordered by event time; with start/end only timed events in [start, end). Types in
    `facts` ignore `start` (see the module docstring); `starts` gives some types a start of their own (None: all
    of them); `keep_timeless` keeps the types without an event time even with a start or end; `only` limits the
    types fetched (the others are left to `count_skipped`)."""
    facts = frozenset(facts)
    starts = starts or {}
    wanted = None if only is None else frozenset(only)
    types: list[SilverType] = []
    skipped: list[SilverType] = []
    for name, event_type, table, described, chosen in event_tables(
            con, catalogue, timeless=not (start or end or starts) or keep_timeless):
        field = event_type.time_field
        since = None if name in facts else starts[name] if name in starts else start
        entity = catalogue.entities[event_type.entity] if event_type.entity else None
        source = SilverType(name, table, chosen, field, since, end,
                            zoned=field is None or described.get(field) == ZONED, at_event=event_type.at_event,
                            subject=tuple(entity.key) if entity else (),
                            versions=version_order(entity, described) if entity and entity.updates else ())
        (types if wanted is None or name in wanted else skipped).append(source)
    return SilverEvents(con, types, skipped, chunk)


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
