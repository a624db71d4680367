"""The delivery ledger (投递台账): what happened to each (sink, idempotency key), as an append-only JSON Lines log.

One line per event: `delivered` (the sink accepted the record), `failed` (one attempt failed: the attempt count
across runs is the number of these since the last `requeued`), `dead_letter` (the record left the retry loop, with
its payload so it is never lost), `requeued` (staff sent a dead letter back: its attempts start again from zero).
Lines without a status, from before attempts were recorded, are deliveries.

Every line is flushed and fsync'ed before the executor goes on, so what the ledger says survives a crash. The one
gap is the moment between a sink accepting a record and its `delivered` line: a crash there leaves the record
undelivered in the ledger, and the next run sends it again (at least once; receivers drop repeats by key).
The ops.action_delivery and ops.action_dead_letter tables are rebuilt from this log after every run.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

DELIVERED, RETRYING, DEAD_LETTER = "delivered", "retrying", "dead_letter"


@dataclass
class SinkState:
    """Where one record stands with one sink."""
    status: str = RETRYING
    attempts: int = 0  # since the last requeue, the successful one included
    first_attempt_at: dt.datetime | None = None
    last_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    payload: dict[str, Any] | None = None  # kept for dead letters


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Ledger:
    """The log and the state it adds up to, per (sink, idempotency key)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._states: dict[tuple[str, str], SinkState] = {}
        if self.path.exists():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    self._apply(json.loads(line))
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"{self.path}:{number}: unreadable ledger line ({exc})") from None

    def _apply(self, entry: dict[str, Any]) -> None:
        state = self._states.setdefault((entry["sink"], entry["key"]), SinkState())
        status = entry.get("status", DELIVERED)
        at = dt.datetime.fromisoformat(entry["at"]) if entry.get("at") else None
        if status == "requeued":
            state.status, state.attempts, state.payload = RETRYING, 0, None
            return
        if status == DEAD_LETTER:
            state.status, state.payload = DEAD_LETTER, entry.get("payload")
            state.last_error = entry.get("error", state.last_error)
            return
        state.attempts += 1
        state.first_attempt_at = state.first_attempt_at or at
        state.last_attempt_at = at or state.last_attempt_at
        if status == DELIVERED:
            state.status = DELIVERED
        else:
            state.status, state.last_error = RETRYING, entry.get("error")

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # the line must outlive a crash of this process or of the machine
        self._apply(entry)

    # -- what the executor writes
    def add(self, sink: str, key: str) -> None:
        """The sink accepted the record."""
        self._append({"sink": sink, "key": key, "status": DELIVERED, "at": _now().isoformat()})

    def failed(self, sink: str, key: str, error: str) -> SinkState:
        self._append({"sink": sink, "key": key, "status": "failed", "error": error, "at": _now().isoformat()})
        return self._states[(sink, key)]

    def dead_letter(self, sink: str, key: str, error: str, payload: dict[str, Any]) -> None:
        self._append({"sink": sink, "key": key, "status": DEAD_LETTER, "error": error, "at": _now().isoformat(),
                      "payload": payload})

    def requeue(self, sink: str, key: str) -> None:
        self._append({"sink": sink, "key": key, "status": "requeued", "at": _now().isoformat()})

    # -- what it reads
    def state(self, sink: str, key: str) -> SinkState:
        return self._states.get((sink, key)) or SinkState()

    def states(self) -> dict[tuple[str, str], SinkState]:
        return dict(self._states)

    def keys(self) -> set[str]:
        """Idempotency keys that at least one sink accepted."""
        return {key for (_, key), s in self._states.items() if s.status == DELIVERED}

    def dead_letters(self) -> dict[tuple[str, str], SinkState]:
        return {k: s for k, s in self._states.items() if s.status == DEAD_LETTER}

    def __contains__(self, item: tuple[str, str]) -> bool:
        state = self._states.get(item)
        return state is not None and state.status == DELIVERED


@contextmanager
def exclusive(ledger_path: str | Path) -> Iterator[None]:
    """One executor per ledger at a time (the Dagster asset and `rules deliver` may both run): a second one waits,
    then reads the ledger the first one left."""
    lock = Path(f"{ledger_path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
