"""The board's feed: watches the Iceberg tables it shows and reads only what is new.

A look costs one read of each table's catalog metadata; only when ops.outbox's current snapshot changed does it
read data, and then only the rows the appends since the last look added (an incremental append scan). Should that
scan be impossible (the snapshot it starts from was expired or the table rewritten by maintenance), the whole
table is read again; either way a row is taken once, by its idempotency key, so nothing is shown twice.

ops.action_delivery (delivery status per action and sink) and silver.incident_closed (incidents closed) are read
whole when their snapshot changes, and are optional: the board works without them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from safecity.service.board_state import OutboxRow

OUTBOX = "ops.outbox"
DELIVERY = "ops.action_delivery"
CLOSED = "silver.incident_closed"
DELIVERY_FIELDS = ("sink", "status", "attempts", "last_error", "updated_at")

log = logging.getLogger(__name__)


@dataclass
class Change:
    """What one look found: new outbox rows (feed order), and the delivery map / closed ids / network layer (links
    with their state, board_network.py) when they changed."""
    rows: list[OutboxRow] = field(default_factory=list)
    delivery: dict[str, list[dict]] | None = None
    closed: set[str] | None = None
    network: list[dict] | None = None

    def __bool__(self) -> bool:
        return bool(self.rows) or any(x is not None for x in (self.delivery, self.closed, self.network))


def snapshot_of(catalog: Catalog, name: str) -> tuple[Any, int | None]:
    try:
        table = catalog.load_table(name)
    except NoSuchTableError:
        return None, None
    snapshot = table.current_snapshot()
    return table, snapshot.snapshot_id if snapshot else None


def _sorted_rows(arrow: pa.Table) -> list[dict]:
    # Feed order is firing order. The sort is stable: actions fired together (a plan, then its notification) keep
    # the order the engine wrote them in.
    return sorted(arrow.to_pylist(), key=lambda r: r["fired_at"])


class OutboxFeed:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.rows: list[OutboxRow] = []
        self._keys: set[str] = set()
        self._seen: dict[str, int | None] = {OUTBOX: None, DELIVERY: None, CLOSED: None}

    def look(self) -> Change:
        """One look at the three tables (blocking: run it off the event loop). Does not change the feed: `take`
        applies what it found, on the event loop, so readers never see a half-applied change."""
        change, seen = Change(), dict(self._seen)
        table, snapshot = snapshot_of(self.catalog, OUTBOX)
        if snapshot is not None and snapshot != seen[OUTBOX]:
            change.rows = self._new_rows(table, seen[OUTBOX], snapshot)
            seen[OUTBOX] = snapshot
        table, snapshot = snapshot_of(self.catalog, DELIVERY)
        if snapshot != seen[DELIVERY]:
            change.delivery = _delivery(table) if snapshot is not None else {}
            seen[DELIVERY] = snapshot
        table, snapshot = snapshot_of(self.catalog, CLOSED)
        if snapshot != seen[CLOSED]:
            change.closed = _closed(table) if snapshot is not None else set()
            seen[CLOSED] = snapshot
        # Only a look that read everything moves on: one that failed half-way reads the same snapshots again.
        self._seen = seen
        return change

    def _new_rows(self, table, since: int | None, until: int) -> list[OutboxRow]:
        arrow = None
        if since is not None:
            try:
                arrow = table.incremental_append_scan(from_snapshot_id_exclusive=since,
                                                      to_snapshot_id_inclusive=until).to_arrow()
            except Exception as exc:  # noqa: BLE001 - any failure of the shortcut falls back to the full read
                log.info("ops.outbox: incremental read from snapshot %s failed (%s); reading the table", since, exc)
        if arrow is None:
            arrow = table.scan(snapshot_id=until).to_arrow()
        fresh, taken, start = [], set(self._keys), len(self.rows) + 1
        for row in _sorted_rows(arrow):
            if row["idempotency_key"] in taken:
                continue
            taken.add(row["idempotency_key"])
            fresh.append(OutboxRow.from_arrow(start + len(fresh), row))
        return fresh

    def take(self, change: Change) -> None:
        for row in change.rows:
            self._keys.add(row.idempotency_key)
        self.rows.extend(change.rows)


def _delivery(table) -> dict[str, list[dict]]:
    arrow = table.scan().to_arrow()
    missing = [c for c in ("idempotency_key", "sink", "status") if c not in arrow.column_names]
    if missing:
        log.warning("%s lacks column(s) %s: delivery status not shown", DELIVERY, ", ".join(missing))
        return {}
    # One entry per (action, sink): the latest, whether the table keeps one row per pair or a row per attempt.
    latest: dict[tuple[str, str], dict] = {}
    for row in arrow.to_pylist():
        entry = {k: row.get(k) for k in DELIVERY_FIELDS}
        pair = (row["idempotency_key"], entry["sink"])
        if pair not in latest or _later(entry, latest[pair]):
            latest[pair] = entry
    out: dict[str, list[dict]] = {}
    for (key, _), entry in sorted(latest.items(), key=lambda item: str(item[0])):
        if hasattr(entry["updated_at"], "isoformat"):
            entry["updated_at"] = entry["updated_at"].isoformat()
        out.setdefault(key, []).append(entry)
    return out


def _later(entry: dict, than: dict) -> bool:
    return entry["updated_at"] is not None and (than["updated_at"] is None or entry["updated_at"] >= than["updated_at"])


def _closed(table) -> set[str]:
    arrow = table.scan(selected_fields=("incident_id",)).to_arrow()
    return {i for i in arrow.column("incident_id").to_pylist() if i}
