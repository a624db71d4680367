"""Delivery for a home (动作投递): the outbox through the executor, and the delivery state as Iceberg tables.

`deliver_outbox` is what `safecity rules deliver` and the Dagster asset ops/action_delivery run: the outbox in
firing order through the configured sinks under the ledger's lock, then ops.action_delivery (one row per action and
sink: delivered, retrying or dead_letter, with its attempts and last error; the command board reads it) and
ops.action_dead_letter (the records that left the retry loop, with their payload) rebuilt from the ledger.
`requeue` sends dead letters back into the loop with a fresh attempt budget (`rules dead-letter retry`).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa

from safecity.rules.delivery_ledger import DEAD_LETTER, RETRYING, Ledger, SinkState, exclusive
from safecity.rules.executor import (DEFAULT_CONFIG, LEDGER_PATH, DeliveryReport, ExecutorConfig,
                                     executor_from_config, payload)
from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE

DELIVERY_TABLE = "ops.action_delivery"
DEAD_LETTER_TABLE = "ops.action_dead_letter"

# The command board reads these column names: keep them.
DELIVERY_SCHEMA = pa.schema([
    pa.field("idempotency_key", pa.string()),
    pa.field("policy_id", pa.string()),
    pa.field("action", pa.string()),
    pa.field("sink", pa.string()),
    pa.field("status", pa.string()),  # delivered | retrying | dead_letter
    pa.field("attempts", pa.int32()),  # since the last requeue; 0: waiting for its first attempt
    pa.field("last_error", pa.string()),
    pa.field("updated_at", pa.timestamp("us", tz="UTC")),  # the last attempt, or when the row was first seen
])

DEAD_LETTER_SCHEMA = pa.schema([
    pa.field("idempotency_key", pa.string()),
    pa.field("policy_id", pa.string()),
    pa.field("action", pa.string()),
    pa.field("sink", pa.string()),
    pa.field("attempts", pa.int32()),
    pa.field("last_error", pa.string()),
    pa.field("first_attempt_at", pa.timestamp("us", tz="UTC")),
    pa.field("last_attempt_at", pa.timestamp("us", tz="UTC")),
    pa.field("payload", pa.string()),  # the delivered JSON, as sent
])


def delivery_rows(items: Iterable[Mapping[str, Any]], routes: Mapping[str, list[str]], ledger: Ledger,
                  now: dt.datetime, first_seen: Mapping[tuple[str, str], dt.datetime] | None = None) -> pa.Table:
    """One row per outbox record and sink that takes its action; a row not tried yet keeps the time it was first
    published (`first_seen`, by (sink, key)), so an unchanged state writes no new snapshot."""
    first_seen = first_seen or {}
    rows = []
    for item in items:
        key = item["idempotency_key"]
        for sink in routes[key]:
            state = ledger.state(sink, key)
            rows.append({"idempotency_key": key, "policy_id": item["policy_id"], "action": item["action"],
                         "sink": sink, "status": state.status, "attempts": state.attempts,
                         "last_error": state.last_error if state.status != "delivered" else None,
                         "updated_at": state.last_attempt_at or first_seen.get((sink, key), now)})
    return pa.Table.from_pylist(rows, schema=DELIVERY_SCHEMA)


def dead_letter_rows(ledger: Ledger) -> pa.Table:
    rows = []
    for (sink, key), state in sorted(ledger.dead_letters().items()):
        body = state.payload or {}
        rows.append({"idempotency_key": key, "policy_id": body.get("policy_id"), "action": body.get("action"),
                     "sink": sink, "attempts": state.attempts, "last_error": state.last_error,
                     "first_attempt_at": state.first_attempt_at, "last_attempt_at": state.last_attempt_at,
                     "payload": json.dumps(body, ensure_ascii=False, sort_keys=True, default=str)})
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)


def current_rows(catalog: Any, name: str, schema: pa.Schema) -> pa.Table:
    from safecity.lakehouse.catalog import ensure_table

    table = ensure_table(catalog, name, schema)
    return table.scan().to_arrow().select(schema.names) if table.current_snapshot() else schema.empty_table()


def publish(catalog: Any, delivery: pa.Table, dead: pa.Table) -> list[str]:
    """Replace both tables' rows (each in one commit); a table whose rows did not change gets no new snapshot.
    Returns the tables written."""
    from safecity.lakehouse.catalog import ensure_table

    written = []
    for name, schema, rows in ((DELIVERY_TABLE, DELIVERY_SCHEMA, delivery), (DEAD_LETTER_TABLE, DEAD_LETTER_SCHEMA,
                                                                             dead)):
        if _same(current_rows(catalog, name, schema), rows):
            continue
        table = ensure_table(catalog, name, schema)
        table.overwrite(rows.cast(table.schema().as_arrow()))
        written.append(name)
    return written


def refresh_views(settings: Any, catalog: Any) -> str | None:
    """Point the warehouse's ops views at the new snapshots (DuckDB readers such as reports see them); the
    error when the warehouse is locked by another writer (the Iceberg tables are written all the same)."""
    import duckdb

    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect
    try:
        with connect(settings) as con:
            publish_views(con, catalog, ("ops",))
    except duckdb.IOException as exc:
        return f"warehouse views not refreshed / 数仓视图未刷新: {exc}"
    return None


def _same(a: pa.Table, b: pa.Table) -> bool:
    def key(row):
        return json.dumps(row, sort_keys=True, default=str)
    return sorted(map(key, a.to_pylist())) == sorted(map(key, b.to_pylist()))


@dataclass
class DeliveryRun:
    report: DeliveryReport
    records: int  # outbox records read
    delivery: pa.Table  # the rows written to ops.action_delivery
    dead_letters: pa.Table  # the rows written to ops.action_dead_letter
    views_error: str | None = None  # the warehouse's views could not be refreshed (locked by another writer)


def outbox_rows(catalog: Any) -> list[dict[str, Any]]:
    from safecity.lakehouse.catalog import ensure_table

    outbox = ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
    if not outbox.current_snapshot():
        return []
    return outbox.scan().to_arrow().sort_by([("fired_at", "ascending"), ("idempotency_key", "ascending")]).to_pylist()


def ledger_path(settings: Any, ledger: str | Path | None = None) -> Path:
    return Path(ledger) if ledger else settings.paths.home / LEDGER_PATH


def deliver_outbox(settings: Any, config: ExecutorConfig | None = None, ledger: str | Path | None = None,
                   extra: Iterable[Mapping[str, Any]] = (), **options: Any) -> DeliveryRun:
    """Deliver the outbox (and `extra` records: requeued dead letters whose row the outbox no longer holds) to the
    configured sinks, then rebuild the delivery tables from the ledger."""
    from safecity.lakehouse.catalog import open_catalog

    catalog = open_catalog(settings)
    path = ledger_path(settings, ledger)
    items = [payload(row) for row in outbox_rows(catalog)]
    known = {i["idempotency_key"] for i in items}
    items += [dict(e) for e in extra if e["idempotency_key"] not in known]
    with exclusive(path):
        executor = executor_from_config(config or DEFAULT_CONFIG, path, settings.paths.home, **options)
        try:
            report = executor.deliver(items)
        finally:
            executor.close()
        done = Ledger(path)
        untried = {(r["sink"], r["idempotency_key"]): r["updated_at"]
                   for r in current_rows(catalog, DELIVERY_TABLE, DELIVERY_SCHEMA).to_pylist() if r["attempts"] == 0}
        delivery = delivery_rows(items, {i["idempotency_key"]: executor.routed(i) for i in items}, done,
                                 dt.datetime.now(dt.timezone.utc), untried)
        dead = dead_letter_rows(done)
        written = publish(catalog, delivery, dead)
    return DeliveryRun(report, len(items), delivery, dead, refresh_views(settings, catalog) if written else None)


def requeue(settings: Any, keys: Iterable[str] | None, ledger: str | Path | None = None,
            sink: str | None = None) -> list[tuple[str, SinkState, str]]:
    """Send dead letters back to the retry loop (all of them when `keys` is None, else those whose key starts
    with one of `keys`); returns (sink, state, key) of each, with the payload to deliver."""
    path = ledger_path(settings, ledger)
    chosen = list(keys) if keys is not None else None
    with exclusive(path):
        done = Ledger(path)
        picked = [(s, state, k) for (s, k), state in sorted(done.dead_letters().items())
                  if (chosen is None or any(k.startswith(c) for c in chosen)) and (sink is None or s == sink)]
        for s, _, k in picked:
            done.requeue(s, k)
    return picked


__all__ = ["DEAD_LETTER", "RETRYING", "DELIVERY_TABLE", "DEAD_LETTER_TABLE", "deliver_outbox", "requeue",
           "DeliveryRun", "publish"]
