"""Allowed lateness (容许迟到): how late an event may arrive and still be evaluated, in batch and stream alike.

An event is judged against a clock: in batch mode the previous run's watermark (the latest event time that run
evaluated), in streaming the latest event time its keyed topic partition's engine has seen. `classify` is the one
rule both modes use:
- ON_TIME: at or after the clock;
- LATE: before the clock by at most the allowed lateness: evaluated, and its actions can fire;
- TOO_LATE: earlier than clock - lateness: not evaluated (it would pair with window readings and move charts the
  engine has long passed), but counted per type and kept as a row of ops.late_events (or a JSON Lines file when a
  stream worker has no catalog), so nothing late is lost silently.

Facts (current state: a camera down since 07:00 is down now however late its record comes) are never late.
The setting is the site's `allowed_lateness` (site.yaml; 15 minutes when unset).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa

DEFAULT_ALLOWED_LATENESS = 15 * 60  # seconds: a few producer batches' delay, well under a window's span

ON_TIME, LATE, TOO_LATE = "on_time", "late", "too_late"

LATE_EVENTS_TABLE = "ops.late_events"
LATE_EVENTS_SCHEMA = pa.schema([
    pa.field("event_type", pa.string()),
    pa.field("event_id", pa.string()),
    pa.field("event_time", pa.timestamp("us", tz="UTC")),
    pa.field("clock", pa.timestamp("us", tz="UTC"),
             metadata={"description": "批处理: 上次水位线; 流处理: 分区最新事件时间 / batch: the previous watermark; "
                                      "stream: the partition's latest event time"}),
    pa.field("lateness_seconds", pa.int64()),
    pa.field("mode", pa.string()),  # batch or stream
    pa.field("run", pa.string()),  # the batch run id, or topic.partition for a stream worker
    pa.field("reason", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
])


def classify(moment: float, clock: float | None, lateness: float) -> str:
    """ON_TIME, LATE or TOO_LATE for an event at `moment` (epoch seconds) against `clock` (None: nothing seen
    yet, so nothing can be late)."""
    if clock is None or moment >= clock:
        return ON_TIME
    return LATE if moment >= clock - lateness else TOO_LATE


@dataclass(frozen=True)
class LateEvent:
    """迟到过久的事件: an event older than the clock less the allowed lateness; counted and kept, not evaluated."""

    event_type: str
    event_id: str
    event_time: dt.datetime
    clock: dt.datetime
    lateness_seconds: int
    mode: str

    @property
    def reason(self) -> str:
        behind = int((self.clock - self.event_time).total_seconds())
        return (f"事件时间早于时钟 {behind} 秒，超过容许迟到 {self.lateness_seconds} 秒，未评估 / event time "
                f"{behind} s before the clock, beyond the allowed lateness of {self.lateness_seconds} s: not evaluated")


def late_by_type(late: Iterable[LateEvent]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in late:
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    return dict(sorted(counts.items()))


def late_table(late: Sequence[LateEvent], run: str, at: dt.datetime) -> pa.Table:
    return pa.Table.from_pylist([{
        "event_type": e.event_type, "event_id": e.event_id, "event_time": e.event_time, "clock": e.clock,
        "lateness_seconds": e.lateness_seconds, "mode": e.mode, "run": run, "reason": e.reason,
        "recorded_at": at} for e in late], schema=LATE_EVENTS_SCHEMA)


def record_late(catalog: Any, late: Sequence[LateEvent], run: str) -> int:
    """Append `late` to ops.late_events once: the commit's batch id is made of the events and their clock, so a
    retried step or a re-read stream batch that judges the same events again does not record them twice."""
    if not late:
        return 0
    from safecity.lakehouse.catalog import ensure_table
    from safecity.lakehouse.exactly_once import append_once

    table = ensure_table(catalog, LATE_EVENTS_TABLE, LATE_EVENTS_SCHEMA)
    content = "\n".join(sorted(f"{e.mode}|{e.event_type}|{e.event_id}|{e.clock.isoformat()}" for e in late))
    key = "rules:late:" + hashlib.sha256(content.encode()).hexdigest()[:32]
    return append_once(table, late_table(late, run, dt.datetime.now(dt.timezone.utc)), key).rows


def write_late_jsonl(path: str | Path, late: Sequence[LateEvent], run: str) -> int:
    """Append `late` as JSON Lines (a stream worker without a catalog): one object per event, as the table's row."""
    if not late:
        return 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    at = dt.datetime.now(dt.timezone.utc).isoformat()
    with target.open("a", encoding="utf-8") as handle:
        for event in late:
            row = {**asdict(event), "event_time": event.event_time.isoformat(), "clock": event.clock.isoformat(),
                   "run": run, "reason": event.reason, "recorded_at": at}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(late)
