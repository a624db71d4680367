"""Paced publishing (定速发布): events sent to a Kafka topic on a schedule, a fixed number per second or by their own
event time sped up, as a live source would send them (`safecity simulate --live`, the streaming benchmarks).

`publish_events` (streaming.py) sends as fast as it can; a live replay must instead keep the schedule: each event is
sent at its due moment (sleeping until then), and when sending cannot keep up the stats say how far behind schedule
publishing fell, rather than the replay silently stretching. Each message's Kafka timestamp is its send moment.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Mapping

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 10.0


class PublishError(RuntimeError):
    """A send the broker refused or that failed; names the topic and the event."""


@dataclass
class PaceStats:
    sent: int = 0
    seconds: float = 0.0  # from the first send to the end of the final flush
    max_behind_s: float = 0.0  # the furthest an event's send fell after its due moment
    behind_at_end_s: float = 0.0  # how far the last send fell after its due moment
    late: int = 0  # events sent more than 100 ms after their due moment
    out_of_order: int = 0  # events whose event time was before an earlier event's (sent at once, not waited for)
    first_event_time: str | None = None
    last_event_time: str | None = None

    @property
    def events_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"published {self.sent:,} events in {self.seconds:.1f} s ({self.events_per_s:,.0f}/s), "
                f"behind schedule now {self.behind_at_end_s * 1000:.0f} ms, at most {self.max_behind_s * 1000:.0f} ms"
                f", event time {self.last_event_time or '-'}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_s": self.events_per_s}


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode(event: Mapping[str, Any], index: int) -> bytes:
    try:
        return json.dumps(event, ensure_ascii=False, default=_json_default).encode("utf-8")
    except TypeError as exc:
        raise PublishError(f"event #{index} (id {event.get('id')!r}, type {event.get('type')!r}) cannot be "
                           f"encoded as JSON: {exc}") from exc


def publish_paced(bootstrap: str, topic: str, events: Iterable[Mapping[str, Any]], key_field: str | None, *,
                  speed: float | None = None, rate: float | None = None,
                  time_of: Callable[[Mapping[str, Any]], dt.datetime] | None = None,
                  progress: Callable[[PaceStats], None] | None = None,
                  progress_every: float = PROGRESS_SECONDS) -> PaceStats:
    """Send `events` (dicts in event-time order) to `topic`, keyed by `key_field`'s value, either `rate` per second
    or at `speed` times real time by `time_of(event)`; returns when every event is acknowledged.

    Every `progress_every` seconds `progress(stats)` is called with a copy of the stats so far (without a callback, a log line is written).
    Raises PublishError when a send fails (the broker's error and the event named) and ValueError on a bad
    schedule (both or neither of speed and rate, speed without time_of, a non-positive value)."""
    from kafka import KafkaProducer

    if (speed is None) == (rate is None):
        raise ValueError("publish_paced: give exactly one of speed= (times real time) and rate= (events per second)")
    if speed is not None and time_of is None:
        raise ValueError("publish_paced: speed= needs time_of= (the event time of an event)")
    if (speed if speed is not None else rate) <= 0:
        raise ValueError(f"publish_paced: speed/rate must be positive, got {speed if speed is not None else rate}")
    # linger_ms 0: each event leaves at its due moment, not batched with later ones (its timestamp is its send).
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    stats = PaceStats()
    failures: list[tuple[int, Mapping[str, Any], BaseException]] = []

    def failed(index: int, event: Mapping[str, Any]) -> Callable[[BaseException], None]:
        return lambda exc: failures.append((index, event, exc))

    def raise_failure() -> None:
        index, event, exc = failures[0]
        raise PublishError(f"publishing to {topic} failed at event #{index} (id {event.get('id')!r}, type "
                           f"{event.get('type')!r}); {len(failures)} send(s) failed, the first: {exc!r}") from exc

    began = next_progress = None
    first_time = latest_due = None
    try:
        for index, event in enumerate(events):
            now = time.monotonic()
            if began is None:
                began, next_progress = now, now + progress_every
            if rate is not None:
                due = began + index / rate
            else:
                moment = time_of(event)
                if first_time is None:
                    first_time = moment
                due = began + (moment - first_time).total_seconds() / speed
                stats.last_event_time = moment.isoformat()
                stats.first_event_time = stats.first_event_time or stats.last_event_time
            if latest_due is not None and due < latest_due:
                stats.out_of_order += 1
                due = latest_due  # the schedule never runs backwards: a late-arriving event goes out at once
            latest_due = due
            if due > now:
                time.sleep(due - now)
            key = event.get(key_field) if key_field else None
            try:
                future = producer.send(topic, key=None if key is None else str(key).encode("utf-8"),
                                       value=_encode(event, index))
            except PublishError:
                raise
            except Exception as exc:  # noqa: BLE001 - kafka-python raises its own errors here (size, metadata)
                failures.append((index, event, exc))
                raise_failure()
            future.add_errback(failed(index, event))
            behind = max(0.0, time.monotonic() - due)
            stats.sent += 1
            stats.behind_at_end_s = behind
            stats.max_behind_s = max(stats.max_behind_s, behind)
            stats.late += behind > 0.1
            if failures:
                raise_failure()
            if time.monotonic() >= next_progress:
                next_progress += progress_every
                stats.seconds = time.monotonic() - began
                progress(replace(stats)) if progress is not None else log.info("%s: %s", topic, stats.line())
        producer.flush()
        if failures:
            raise_failure()
        stats.seconds = time.monotonic() - began if began is not None else 0.0
    finally:
        producer.close()
    return stats
