"""Streaming mode (流式模式): `safecity rules serve` consumes Kafka topics as a consumer group.

Producers key each event by the partition key of the policies that read its topic, so Kafka puts every event of
one partition (a junction, a grid cell, an incident) in one topic partition, and a consumer group spreads topic
partitions over workers: more `serve` processes share the load and each partition's state lives in one of them.
Offsets are committed after the batch's outbox rows are written, so a crash re-reads the batch and the outbox
drops records whose idempotency key it already holds (at least once in, effectively once out). A changed policy
file is tested and swapped in without a restart (`PolicyWatcher`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from safecity.config.yamlfile import YamlFileError
from safecity.rules.engine import EvaluationResult, utc_now
from safecity.rules.loader import LoadedPolicy, load_policy
from safecity.rules.outbox import OutboxRecord
from safecity.rules.testing import run_policy_tests
from safecity.rules.worker import SupervisedEngine

log = logging.getLogger(__name__)
OUTBOX_TOPIC = "safecity.rules.outbox"

OutboxWriter = Callable[[list[OutboxRecord], dict[str, str]], None]


def publish_events(bootstrap: str, topic: str, events: Iterable[Mapping[str, Any]], key_field: str) -> int:
    """Send events keyed by `key_field` (the policy partition key); returns how many were sent."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent = 0
    for event in events:
        key = event.get(key_field)
        producer.send(topic, key=None if key is None else str(key).encode(),
                      value=json.dumps(event, ensure_ascii=False).encode("utf-8"))
        sent += 1
    producer.flush()
    producer.close()
    return sent


def iceberg_outbox(catalog: Any) -> OutboxWriter:
    """Appends a batch's new records to ops.outbox, the batch id and Kafka offsets in the same commit."""
    from safecity.config.lakehouse import append_once, ensure_table
    from safecity.rules.outbox import OUTBOX_SCHEMA, to_arrow

    def write(records: list[OutboxRecord], offsets: dict[str, str]) -> None:
        table = ensure_table(catalog, "ops.outbox", OUTBOX_SCHEMA)
        recorded = set(table.scan(selected_fields=("idempotency_key",)).to_arrow()
                       .column("idempotency_key").to_pylist())
        new = [r for r in records if r.idempotency_key not in recorded]
        batch = "rules:stream:" + hashlib.sha256(json.dumps(offsets, sort_keys=True).encode()).hexdigest()[:32]
        append_once(table, to_arrow(new), batch, {f"safecity.kafka.{k}": v for k, v in offsets.items()})

    return write


def sink_outbox(sink: Any) -> OutboxWriter:
    """Writes each record to a sink (a Kafka topic in production, a JSON Lines file in tests)."""
    from safecity.rules.executor import payload

    def write(records: list[OutboxRecord], offsets: dict[str, str]) -> None:
        for record in records:
            sink.deliver(payload(record))

    return write


class PolicyWatcher:
    """Notices changed policy files (or their decision tables); a changed policy goes live only if it loads and its
    own tests pass. Looks at most every `every` seconds: a look loads each policy file again."""

    def __init__(self, policies: Sequence[LoadedPolicy], every: float = 2.0):
        from safecity.standards.catalogue import load_catalogue

        self._known = {p.path: p.sha256 for p in policies}
        self._catalogue = load_catalogue()
        self._every = every
        self._last = time.monotonic()
        self.rejected: dict[Path, str] = {}

    def changes(self) -> list[LoadedPolicy]:
        if time.monotonic() - self._last < self._every:
            return []
        self._last = time.monotonic()
        changed = []
        for path, digest in list(self._known.items()):
            try:
                loaded = load_policy(path, catalogue=self._catalogue)
            except (OSError, YamlFileError) as exc:
                self.rejected[path] = str(exc)
                continue
            if loaded.sha256 == digest:
                continue
            self._known[path] = loaded.sha256
            failures = [r for r in run_policy_tests(loaded) if not r.passed]
            if failures:
                self.rejected[path] = "; ".join(f"{r.name}: {r.failures}" for r in failures)
                log.warning("policy %s not reloaded: its tests fail: %s", path, self.rejected[path])
                continue
            changed.append(loaded)
        return changed


@dataclass
class ServeStats:
    messages: int = 0
    batches: int = 0
    actions: int = 0
    reloads: list[str] = field(default_factory=list)
    result: EvaluationResult = field(default_factory=EvaluationResult)
    latencies: list[float] = field(default_factory=list)  # seconds from a Kafka message's timestamp to its action


def serve(bootstrap: str, topics: Sequence[str], group_id: str | None, policies: Sequence[LoadedPolicy],
          outbox: OutboxWriter, *, clock: Any = utc_now, max_messages: int | None = None,
          idle_seconds: float | None = None, partitions: Sequence[tuple[str, int]] | None = None,
          watch: bool = True, poll_ms: int = 100) -> ServeStats:
    """Run until `max_messages` were processed or nothing arrived for `idle_seconds` (both unset: forever).
    `partitions` assigns topic partitions by hand instead of joining the group (tests, single workers)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=500)
    if partitions:
        consumer.assign([TopicPartition(t, p) for t, p in partitions])
    else:
        consumer.subscribe(list(topics))
    stats = ServeStats()
    watcher = PolicyWatcher(policies) if watch else None
    last_message = time.monotonic()
    try:
        with SupervisedEngine(list(policies), clock=clock) as engine:
            while max_messages is None or stats.messages < max_messages:
                if watcher is not None:
                    for loaded in watcher.changes():
                        if engine.replace(loaded):
                            stats.reloads.append(f"{loaded.id}@{loaded.version}")
                polled = consumer.poll(timeout_ms=poll_ms)
                if not polled:
                    if idle_seconds is not None and time.monotonic() - last_message > idle_seconds:
                        break
                    continue
                last_message = time.monotonic()
                events, sent_at, offsets = [], {}, {}
                for partition, records in sorted(polled.items(), key=lambda item: (item[0].topic, item[0].partition)):
                    for record in records:
                        try:
                            event = json.loads(record.value)
                        except (ValueError, UnicodeDecodeError):
                            event = {"type": None, "id": f"{record.topic}:{record.partition}:{record.offset}"}
                        events.append(event)
                        sent_at[str(event.get("id"))] = record.timestamp / 1000.0
                    offsets[f"{partition.topic}.{partition.partition}"] = str(records[-1].offset + 1)
                result = engine.post(events)
                outbox(result.outbox, offsets)
                written = time.time()
                for record in result.outbox:
                    stats.latencies.append(written - max(sent_at.get(i, written) for i in record.matched_event_ids))
                consumer.commit()
                stats.messages += len(events)
                stats.batches += 1
                stats.actions += len(result.outbox)
                stats.result.extend(result)
    finally:
        consumer.close()
    return stats
