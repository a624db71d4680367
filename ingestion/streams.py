"""Kafka topics into the lakehouse, exactly once in effect.

Offsets are not committed to Kafka: the range of offsets a batch covers travels in the Iceberg commits that write
it (snapshot summary `safecity.kafka-offsets`, beside the batch id). On start the ingestor reads them back:
a range bronze has and silver lacks (a crash between the commits) is read again exactly and finished; reading
then resumes after the last range bronze holds. Nothing is lost and nothing is written twice, whatever point a
run is killed at. One batch is one partition's range, so `_line` (the offset) names each record uniquely.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from safecity.lakehouse.exactly_once import committed_properties
from safecity.ingestion.mapping import LoadedMapping
from safecity.ingestion.pipeline import Batch, BatchIngestor, FileReport, SourceReport
from safecity.ingestion.readers import read_messages
from safecity.standards.catalogue import Catalogue

log = logging.getLogger(__name__)

OFFSETS_PROPERTY = "safecity.kafka-offsets"


@dataclass(frozen=True, order=True)
class OffsetRange:
    partition: int
    first: int
    last: int

    def batch_id(self, source_id: str, topic: str) -> str:
        return f"{source_id}:{topic}:{self.partition}:{self.first}-{self.last}"


def committed_ranges(table, topic: str) -> dict[str, OffsetRange]:
    """Batch id -> offset range, for every stream batch ever committed to `table` from `topic` (expired
    snapshots included: table maintenance keeps their properties in its ledger)."""
    found = {}
    for batch_id, properties in committed_properties(table).items():
        if OFFSETS_PROPERTY in properties:
            offsets = json.loads(properties[OFFSETS_PROPERTY])
            if offsets["topic"] == topic:
                found[batch_id] = OffsetRange(offsets["partition"], offsets["first"], offsets["last"])
    return found


@dataclass
class StreamReport(SourceReport):
    topic: str = ""
    resumed: dict[int, int] = field(default_factory=dict)
    finished_pending: int = 0


class StreamIngestor:
    """Reads one source mapping's topic up to the end offsets seen at start (a bounded micro-batch)."""

    def __init__(self, catalog, catalogue: Catalogue, loaded: LoadedMapping, bootstrap: str,
                 max_batch: int = 50_000, as_of: dt.datetime | None = None, poll_ms: int = 1000):
        if loaded.mapping.topic is None:
            raise ValueError(f"{loaded.path}: source {loaded.mapping.id!r} names no Kafka topic")
        self.batches = BatchIngestor(catalog, catalogue, loaded, as_of)
        self.mapping = loaded.mapping
        self.topic = loaded.mapping.topic
        self.bootstrap = bootstrap
        self.max_batch = max_batch
        self.poll_ms = poll_ms

    def _consumer(self) -> KafkaConsumer:
        # No group and no auto-commit: the lakehouse, not Kafka, remembers what was consumed.
        # Fetches large enough for a batch: kafka-python's 1 MB per partition is about 2,000 GA/T 1400 passes a
        # request, which made fetch round trips the larger part of stream ingestion (docs/benchmarks.md).
        return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=self.poll_ms,
                             max_partition_fetch_bytes=16 << 20, fetch_max_bytes=64 << 20)

    def positions(self) -> tuple[dict[int, int], list[OffsetRange]]:
        """Next offset per partition after what bronze holds, and the ranges bronze holds but silver lacks."""
        bronze = committed_ranges(self.batches.tables["bronze"], self.topic)
        silver = committed_ranges(self.batches.tables["silver"], self.topic)
        following: dict[int, int] = {}
        for rng in bronze.values():
            following[rng.partition] = max(following.get(rng.partition, 0), rng.last + 1)
        pending = sorted(rng for batch, rng in bronze.items() if batch not in silver)
        return following, pending

    def lag(self) -> dict[int, int]:
        """Records per partition on the topic not yet in the lakehouse (for a sensor to act on), by the broker's
        end offsets (approximate on brokers whose ListOffsets lags, such as tansu)."""
        consumer = self._consumer()
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or [])]
            ends = consumer.end_offsets(partitions)
            beginnings = consumer.beginning_offsets(partitions)
        finally:
            consumer.close()
        following, _ = self.positions()
        return {tp.partition: max(0, ends[tp] - max(following.get(tp.partition, 0), beginnings[tp]))
                for tp in partitions}

    def run(self) -> StreamReport:
        report = StreamReport(self.mapping.id, self.mapping.entity, topic=self.topic)
        following, pending = self.positions()
        consumer = self._consumer()
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or [])]
            if not partitions:
                log.warning("topic %s has no partitions (does it exist?)", self.topic)
                return report
            for rng in pending:
                log.info("%s: finishing batch %d:%d-%d left by an earlier run", self.topic, rng.partition,
                         rng.first, rng.last)
                messages, _ = self._read(consumer, TopicPartition(self.topic, rng.partition), rng.first, rng.last + 1)
                report.files.append(self._ingest(rng, messages))
                report.finished_pending += 1
            # Read each partition up to the high watermark its fetches report, or until it is quiet: not to the
            # broker's end offsets (ListOffsets), which some Kafka-protocol brokers (tansu) report below what they
            # serve.
            for tp in partitions:
                start = max(following.get(tp.partition, 0), consumer.beginning_offsets([tp])[tp])
                report.resumed[tp.partition] = start
                caught_up = False
                while not caught_up:
                    messages, caught_up = self._read(consumer, tp, start, None, self.max_batch)
                    if not messages:
                        break
                    rng = OffsetRange(tp.partition, messages[0][0], messages[-1][0])
                    report.files.append(self._ingest(rng, messages))
                    start = rng.last + 1
        finally:
            consumer.close()
        log.info("%s: %d batches, %d received, %d silver, %d quarantined", self.topic, len(report.files),
                 report.received, report.silver, report.quarantined)
        return report

    def _read(self, consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int | None,
              limit: int | None = None) -> tuple[list[tuple[int, bytes]], bool]:
        """Messages of one partition with start <= offset < end (offsets may have gaps; no end: until the
        partition's high watermark, or until it is quiet), at most `limit`; and whether they reach the high
        watermark (the partition's end as its last fetch reported it: nothing more to wait for)."""
        # One partition at a time: polls then return only its records, and no other position moves.
        consumer.assign([tp])
        consumer.seek(tp, start)
        messages: list[tuple[int, bytes]] = []
        idle = 0
        while (limit is None or len(messages) < limit) and idle < 3:
            polled = consumer.poll(timeout_ms=self.poll_ms, max_records=min(limit or 10_000, 10_000))
            records = polled.get(tp, [])
            if not records:
                idle += 1
                if end is not None and consumer.position(tp) >= end:
                    break
                continue
            idle = 0
            for record in records:
                if (end is not None and record.offset >= end) or (limit is not None and len(messages) >= limit):
                    break
                messages.append((record.offset, record.value))
            if end is not None and records[-1].offset >= end - 1:
                break
            if end is None and messages and _at_highwater(consumer, tp, messages[-1][0] + 1):
                # Waiting for quiet (3 empty polls, twice per partition) was most of a small topic's read.
                break
        # Stop the consumer from holding prefetched records of this partition beyond the batch.
        consumer.seek(tp, (messages[-1][0] + 1) if messages else start)
        return messages, bool(messages) and _at_highwater(consumer, tp, messages[-1][0] + 1)

    def _ingest(self, rng: OffsetRange, messages: list[tuple[int, bytes]]) -> FileReport:
        digest = hashlib.sha256()
        for _, value in messages:
            digest.update(value or b"")
            digest.update(b"\n")
        batch = Batch(rng.batch_id(self.mapping.id, self.topic), f"kafka://{self.topic}/{rng.partition}",
                      digest.hexdigest(), {OFFSETS_PROPERTY: json.dumps(
                          {"topic": self.topic, "partition": rng.partition, "first": rng.first, "last": rng.last})},
                      raw=b"\n".join(value or b"" for _, value in messages))
        done = self.batches.already_done(batch)
        if done is not None:
            return done
        return self.batches.ingest(batch, lambda: read_messages(messages, self.mapping.encoding))


def _at_highwater(consumer: KafkaConsumer, tp: TopicPartition, following: int) -> bool:
    """True when the broker's last fetch of `tp` reported no message at or past offset `following`."""
    highwater = consumer.highwater(tp)
    return highwater is not None and following >= highwater
