"""Single-row checks served by the SQL conformer: one value of an element (policy literals, event fields) or one
record of an entity (the pydantic models of `models.py`), judged by the very statement ingestion runs on batches.

A statement is rendered once per (catalogue, entity or element) and run with the row's values and the checking
time as parameters, on one in-memory DuckDB connection per thread (per process after a fork).
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import duckdb

from safecity.standards.catalogue import Catalogue, Element, Entity
from safecity.standards.conform import Conformer, quote

# Statements kept per process; policy loading needs a few hundred (one per event field a literal is written for).
CACHE_SIZE = 2048
_local = threading.local()
_statements: dict[tuple, tuple[Catalogue, "SingleRow"]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    value: str | None
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class Checked:
    """One row judged: its values in the standard's types (derived elements filled in) and its reasons."""

    typed: dict[str, Any]
    reasons: tuple[Reason, ...]


def as_text(value: Any) -> str | None:
    """The text form of a Python value, as a source file would have written it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _connection() -> duckdb.DuckDBPyConnection:
    if getattr(_local, "pid", None) != os.getpid():
        con = duckdb.connect()
        # One row needs no parallelism and no plan optimisation (planning a wide entity's statement costs several
        # times running it); results come back in UTC whatever the machine's zone.
        con.execute("SET threads = 1")
        con.execute("PRAGMA disable_optimizer")
        con.execute("SET TimeZone = 'UTC'")
        _local.con, _local.pid = con, os.getpid()
    return _local.con


class SingleRow:
    """An entity's conformance statement over a one-row relation whose values are parameters.

    A statement that does not read the checking time gives a row the same answer every time: answers are kept
    (policy files repeat their thresholds and codes, and every load of the policy set asks again).
    """

    def __init__(self, catalogue: Catalogue, entity: str | Entity):
        conformer = Conformer(catalogue, entity, now_parameter=True)
        self.fields = tuple(p.element.id for p in conformer.plan.elements)
        self.sources = conformer.source_columns()
        row = ", ".join(f"CAST($p{i} AS VARCHAR) AS {quote(c)}" for i, c in enumerate(self.sources))
        self.sql = conformer.sql(f"(SELECT {row})", (), "1", batch=False).sql
        self._uses_now = "$now" in self.sql
        self._answers: dict[tuple, Checked] = {}

    def check(self, row: dict[str, Any], now: dt.datetime | None = None) -> Checked:
        texts = tuple(as_text(row.get(c)) for c in self.sources)
        known = None if self._uses_now else self._answers.get(texts)
        if known is None:
            known = self._run(texts, now)
            if not self._uses_now and len(self._answers) < CACHE_SIZE:
                self._answers[texts] = known
        return Checked(dict(known.typed), known.reasons)

    def _run(self, texts: tuple[str | None, ...], now: dt.datetime | None) -> Checked:
        params: dict[str, Any] = {f"p{i}": text for i, text in enumerate(texts)}
        if self._uses_now:
            params["now"] = now or dt.datetime.now(dt.timezone.utc)
        row = _connection().execute(self.sql, params).fetchone()
        # The values, then the reasons (then the flags of soft checks, which do not reject the row).
        values, reasons = row[:len(self.fields)], row[len(self.fields)]
        return Checked(dict(zip(self.fields, values)), tuple(Reason(**r) for r in reasons))


def _cached(catalogue: Catalogue, key: tuple, entity: Callable[[], str | Entity]) -> SingleRow:
    # Keyed by the catalogue's identity; the entry holds the catalogue, so the id cannot be reused while cached.
    full = (id(catalogue),) + key
    with _lock:
        entry = _statements.get(full)
    if entry is not None and entry[0] is catalogue:
        return entry[1]
    statement = SingleRow(catalogue, entity())
    with _lock:
        if len(_statements) >= CACHE_SIZE:
            _statements.clear()
        _statements[full] = (catalogue, statement)
    return statement


def entity_rows(catalogue: Catalogue, entity_name: str) -> SingleRow:
    return _cached(catalogue, ("entity", entity_name), lambda: entity_name)


def check_value(catalogue: Catalogue, element: Element, value: object,
                now: dt.datetime | None = None) -> Reason | None:
    """The reason a single value (of an event field, of a policy threshold) fails its element, or None.

    The element is checked on its own: without its derivation or edition (no other field to read them from), with
    the standards' default time floor.
    """
    lone = element.model_copy(update={"derive": None, "edition_from": None})
    statement = _cached(catalogue, ("element", lone.model_dump_json()), lambda: Entity(
        entity="single_value", name_zh=lone.name_zh, name_en=lone.name_en, standard="", key=(lone.id,),
        elements=(lone,)))
    reasons = statement.check({lone.id: value}, now).reasons
    return reasons[0] if reasons else None
