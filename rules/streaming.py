"""Streaming mode (流式模式): `safecity rules route` re-keys event topics, `safecity rules serve` consumes them as
a consumer group.

One topic can feed policies with different partition keys (incident_reported: the blind-spot policy by grid_id,
the escalation chart by incident_id), and one producer key cannot put every event of both kinds of partition in one
topic partition. The router (`route`) therefore reads each raw topic and re-publishes every event once per key
that some policy reads its type by, to `<topic>.by.<key>`, keyed by that field's value; it commits its input
offsets only after the producer has every re-published event (at least once: a crash re-publishes, and the
idempotency keys make the repeats harmless). `serve` reads the keyed topics, each with an engine holding only the
policies partitioned by that key, so a consumer group spreads topic partitions over workers and each partition's
state (a junction, a grid cell, an incident) lives in one of them.
Offsets are committed after the batch's outbox rows are written, so a crash re-reads the batch and the outbox
drops records whose idempotency key it already holds (at least once in, effectively once out). With checkpoints
(checkpoint.py) each keyed partition has its own engine, its state is saved with the offset it covers, and the
worker that gets the partition after a crash or a rebalance restores it and reads on from that offset: open
charts and windows survive, and no event goes into the state twice. A changed policy
file is tested and swapped in without a restart (`PolicyWatcher`).

Out-of-order events (乱序与迟到, issue 18): each partition's engine keeps its clock, the latest event time it has
seen (PolicyEngine.now, saved in checkpoints, so a restored worker judges as the one before it). An event earlier
than that clock by at most the site's allowed lateness is evaluated: durable matches a window's readings whatever
their arrival order (08:05, 08:10 then 08:00 fires as 08:00, 08:05, 08:10 does). An event earlier than that is
not evaluated: by then the idle sweep may have dropped its window partners or not, depending on how many events
came since (measured: three readings an hour late fired with the sweep not yet run and not after it), so its
outcome would be an accident. It is counted (ServeStats.late_by_type), logged, and kept through `late`
(ops.late_events, or a JSON Lines file beside a file outbox) with the clock that judged it. Facts are never late.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from safecity.config.yamlfile import YamlFileError
from safecity.rules.alignment import MAX_WAIT_S, PAUSE_AT, EventTimeMerge
from safecity.rules.checkpoint import Checkpoint, DirectoryCheckpoints
from safecity.rules.engine import EvaluationResult, utc_now
from safecity.rules.events import event_time
from safecity.rules.lateness import DEFAULT_ALLOWED_LATENESS, LateEvent, late_by_type, record_late, write_late_jsonl
from safecity.rules.loader import LoadedPolicy, load_policy
from safecity.rules.outbox import OutboxRecord
from safecity.rules.testing import run_policy_tests
from safecity.rules.worker import SupervisedEngine
from safecity.standards.catalogue import load_catalogue

log = logging.getLogger(__name__)
OUTBOX_TOPIC = "safecity.rules.outbox"
COMMIT_ATTEMPTS = 8  # outbox appends racing another worker's
# How long the broker may hold a fetch that has no new message. kafka-python's default, 500 ms, is what the test
# broker (tansu) waits on every fetch even when messages arrive meanwhile: it was most of route + serve's latency
# (docs/benchmarks.md). A broker that answers as soon as data arrives (Kafka) only holds idle fetches this long.
FETCH_WAIT_MS = 10
# ... but tansu, busy (a partition of tens of thousands of one-message batches, the machine loaded), cannot read a
# partition within 10 ms and then answers the fetch EMPTY although its high watermark is ahead of the position, every
# time: the full-day lag run's router received nothing from minute 50 on (docs/benchmarks.md). A consumer that polls
# nothing while the broker reports more (highwater > position) therefore asks with this wait until records come.
FETCH_WAIT_BEHIND_MS = 500
# Checkpoints due by time are written a few before each poll, oldest first: writing every dirty partition's
# checkpoint at once (about 5 ms each, 30 partitions) stopped serve for 150 ms and set the latency's p99.
CHECKPOINTS_PER_POLL = 2
JOIN_GRACE = 120.0  # seconds a consumer with an idle limit waits for its first assignment beyond that limit

OutboxWriter = Callable[[list[OutboxRecord], dict[str, str]], None]
LateWriter = Callable[[list[LateEvent], str], None]  # (events beyond the allowed lateness, "topic.partition")


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


KEYED = ".by."


def keyed_topic(topic: str, key: str) -> str:
    return f"{topic}{KEYED}{key}"


def topic_key(topic: str) -> str | None:
    """The partition key a keyed topic is keyed by (None for a raw topic)."""
    return topic.rpartition(KEYED)[2] if KEYED in topic else None


def subscriptions(policies: Sequence[LoadedPolicy]) -> dict[str, set[str]]:
    """Event or fact type -> the partition keys of the policies that read it."""
    keys: dict[str, set[str]] = {}
    for loaded in policies:
        for event_type in loaded.policy.subscribed_events | loaded.policy.fact_types:
            keys.setdefault(event_type, set()).add(loaded.policy.partition_by)
    return keys


def keyed_topics(topics: Sequence[str], policies: Sequence[LoadedPolicy]) -> list[str]:
    return sorted({keyed_topic(t, loaded.policy.partition_by) for t in topics for loaded in policies})


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another router created them meanwhile
    finally:
        admin.close()


@dataclass
class RouteStats:
    messages: int = 0
    published: int = 0
    batches: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # event type no policy reads -> messages
    undecodable: int = 0  # sent to <topic>.unreadable, for someone to look at
    held_back: int = 0  # most events buffered at once to go on in event-time order (alignment.py)
    waited: int = 0  # times a lagging raw partition held the others back


def route(bootstrap: str, topics: Sequence[str], group_id: str, policies: Sequence[LoadedPolicy], *,
          partitions: Sequence[tuple[str, int]] | None = None, keyed_partitions: int = 3,
          max_messages: int | None = None, idle_seconds: float | None = None, poll_ms: int = 100,
          max_wait: float = MAX_WAIT_S) -> RouteStats:
    """Re-publish the events of `topics` to their keyed topics until `max_messages` or `idle_seconds` (both
    unset: forever). `partitions` assigns raw topic partitions by hand instead of joining the group. Events go on
    in event-time order across the raw partitions (alignment.py; `max_wait`: how long a lagging one may hold)."""
    from kafka import KafkaProducer

    wanted = subscriptions(policies)
    catalogue = load_catalogue()
    ensure_topics(bootstrap, keyed_topics(topics, policies), keyed_partitions)
    consumer = _consumer(bootstrap, group_id, topics, partitions)
    # linger 0: each poll's events are flushed at once below anyway; waiting for more would only add latency
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    merge: EventTimeMerge[tuple[Any, dict]] = EventTimeMerge(max_wait)
    stats = RouteStats()
    paused: set[Any] = set()

    def more_at_broker(tp: Any) -> bool:
        highwater = consumer.highwater(tp)
        return highwater is None or highwater > consumer.position(tp)

    def forward(polled: list[tuple[Any, list[Any]]], last: bool) -> None:
        sent = []
        for tp, records in polled:
            for record in records:
                stats.messages += 1
                try:
                    event = json.loads(record.value)
                    event_type = event.get("type")
                except (ValueError, UnicodeDecodeError, AttributeError):
                    stats.undecodable += 1
                    sent.append(producer.send(f"{record.topic}.unreadable", key=record.key, value=record.value))
                    continue
                if not (wanted.get(event_type) if isinstance(event_type, str) else None):
                    stats.dropped[str(event_type)] = stats.dropped.get(str(event_type), 0) + 1
                    continue
                moment = event_time(event, catalogue)
                merge.add(tp, record.offset, None if moment is None else moment.timestamp(), (record, event))
        assigned = consumer.assignment()
        merge.forget(assigned)
        for record, event in merge.release(assigned, more_at_broker, everything=last):
            for key in sorted(wanted[event["type"]]):
                value = event.get(key)
                # The bytes and timestamp as received: the router never changes an event, it only chooses its
                # partition; serve's latency then counts from the first produce, the routing hop included.
                sent.append(producer.send(keyed_topic(record.topic, key), value=record.value,
                                          key=None if value is None else str(value).encode("utf-8"),
                                          timestamp_ms=record.timestamp))
                stats.published += 1
        stats.held_back = max(stats.held_back, len(merge))
        _pause_full(consumer, merge, assigned, paused)
        if not sent and not polled:
            return
        producer.flush()  # every re-published event is acknowledged before its input offset moves
        _raise_unsent(sent)  # flush returns after failed sends too: their input must not be committed
        _commit_before(consumer, merge.first_offsets(), assigned)
        stats.batches += 1

    try:
        for polled in _polls(consumer, idle_seconds, poll_ms, empty=True):
            forward(polled, last=False)
            if max_messages is not None and stats.messages >= max_messages:
                break
        forward([], last=True)
    finally:
        stats.waited = merge.waited
        producer.close()
        consumer.close()
    return stats


def _pause_full(consumer: Any, merge: EventTimeMerge, assigned: Iterable[Any], paused: set[Any]) -> None:
    """Stop fetching a partition far ahead of the others (its buffer full) until its buffer drains."""
    for tp in assigned:
        if merge.buffered(tp) >= PAUSE_AT and tp not in paused:
            consumer.pause(tp)
            paused.add(tp)
        elif tp in paused and merge.buffered(tp) < PAUSE_AT // 2:
            consumer.resume(tp)
            paused.discard(tp)


def _commit_before(consumer: Any, first_unsent: Mapping[Any, int], assigned: Iterable[Any]) -> None:
    """Commit each assigned partition up to its first record not yet re-published (all it has read, when none)."""
    from kafka.structs import OffsetAndMetadata

    offsets = {}
    for tp in assigned:
        offset = first_unsent.get(tp)
        if offset is None:
            offset = consumer.position(tp)
        if offset is not None:
            offsets[tp] = OffsetAndMetadata(offset, "", -1)
    if offsets:
        consumer.commit(offsets)


def _raise_unsent(sent: Sequence[Any]) -> None:
    """Raise when a re-published event was not acknowledged: the router then stops without committing the poll's
    input offsets, and its restart reads those events again (at least once; serve's idempotency keys drop repeats)."""
    failed = [future for future in sent if not future.succeeded()]
    if failed:
        first = failed[0].exception if failed[0].is_done else "not acknowledged"
        raise RouteError(f"{len(failed)} of {len(sent)} re-published events were not acknowledged "
                         f"(first: {first}); input offsets not committed")


class RouteError(RuntimeError):
    """The router could not re-publish a poll's events; nothing of that poll was committed."""


def _consumer(bootstrap: str, group_id: str | None, topics: Sequence[str],
              partitions: Sequence[tuple[str, int]] | None) -> Any:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=500, fetch_max_wait_ms=FETCH_WAIT_MS)
    if partitions:
        consumer.assign([TopicPartition(t, p) for t, p in partitions])
    elif topics:
        consumer.subscribe(list(topics))  # serve subscribes itself, with its rebalance listener
    return consumer


def _polls(consumer: Any, idle_seconds: float | None, poll_ms: int,
           before_poll: Callable[[], None] | None = None, empty: bool = False) -> Iterator[list[tuple[Any, list[Any]]]]:
    """Each poll that returned messages, as (topic partition, records) in topic and partition order; ends after
    `idle_seconds` without a message (never when None). Idle time counts from the consumer's first assignment:
    joining a group can take longer than the idle limit (tansu: about 25 s), and a worker that gave up before it
    was given its partitions would read nothing; one never assigned gives up after JOIN_GRACE more seconds.
    `empty`: yield the polls that returned nothing too (the router releases held-back events between messages)."""
    last_message = time.monotonic()
    assigned = False
    while True:
        if before_poll is not None:
            before_poll()
        polled = consumer.poll(timeout_ms=poll_ms)
        if not assigned and consumer.assignment():
            assigned, last_message = True, time.monotonic()
        _fetch_wait(consumer, FETCH_WAIT_MS if polled or not _behind(consumer) else FETCH_WAIT_BEHIND_MS)
        if not polled:
            limit = None if idle_seconds is None else idle_seconds + (0 if assigned else JOIN_GRACE)
            if limit is not None and time.monotonic() - last_message > limit:
                return
            if empty:
                yield []
            continue
        last_message = time.monotonic()
        yield sorted(polled.items(), key=lambda item: (item[0].topic, item[0].partition))


def _behind(consumer: Any) -> bool:
    """True when the broker's last fetch reported messages past this consumer's position on some partition."""
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is not None and highwater > consumer.position(tp):
            return True
    return False


def _fetch_wait(consumer: Any, wait_ms: int) -> None:
    """Set the fetch wait of the consumer's next fetches (kafka-python reads it from its fetcher's config for each
    fetch request it builds; a consumer without that attribute keeps its own)."""
    config = getattr(getattr(consumer, "_fetcher", None), "config", None)
    if isinstance(config, dict) and config.get("fetch_max_wait_ms") != wait_ms:
        config["fetch_max_wait_ms"] = wait_ms


def iceberg_outbox(catalog: Any) -> OutboxWriter:
    """Appends a batch's new records to ops.outbox, the batch id and Kafka offsets in the same commit."""
    from safecity.lakehouse.catalog import ensure_table
    from safecity.lakehouse.exactly_once import append_once
    from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE, to_arrow

    def write(records: list[OutboxRecord], offsets: dict[str, str]) -> None:
        from pyiceberg.exceptions import CommitFailedException

        batch = "rules:stream:" + hashlib.sha256(json.dumps(offsets, sort_keys=True).encode()).hexdigest()[:32]
        for attempt in range(COMMIT_ATTEMPTS):
            # The keys are read again on each attempt: another worker's commit may hold some of them by now.
            table = ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
            recorded = set(table.scan(selected_fields=("idempotency_key",)).to_arrow()
                           .column("idempotency_key").to_pylist())
            new = [r for r in records if r.idempotency_key not in recorded]
            try:
                append_once(table, to_arrow(new), batch, {f"safecity.kafka.{k}": v for k, v in offsets.items()})
                return
            except CommitFailedException:
                # Workers of one group append concurrently; the loser of a commit race tries on the new snapshot.
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    return write


def sink_outbox(sink: Any) -> OutboxWriter:
    """Writes each record to a sink (a Kafka topic in production, a JSON Lines file in tests)."""
    from safecity.rules.executor import payload

    def write(records: list[OutboxRecord], offsets: dict[str, str]) -> None:
        for record in records:
            sink.deliver(payload(record))

    return write


def iceberg_late(catalog: Any) -> LateWriter:
    """Keeps late events in ops.late_events (each set once, by its content: a re-read batch adds nothing)."""
    def write(late: list[LateEvent], run: str) -> None:
        record_late(catalog, late, run)

    return write


def jsonl_late(path: str | Path) -> LateWriter:
    """Keeps late events as JSON Lines (a worker without a catalog)."""
    def write(late: list[LateEvent], run: str) -> None:
        write_late_jsonl(path, late, run)

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

    @property
    def late_by_type(self) -> dict[str, int]:
        """Events beyond the allowed lateness, not evaluated (kept through serve's `late`)."""
        return late_by_type(self.result.late)


def serve(bootstrap: str, topics: Sequence[str], group_id: str | None, policies: Sequence[LoadedPolicy],
          outbox: OutboxWriter, *, clock: Any = utc_now, max_messages: int | None = None,
          idle_seconds: float | None = None, partitions: Sequence[tuple[str, int]] | None = None,
          watch: bool = True, poll_ms: int = 100, checkpoints: DirectoryCheckpoints | None = None,
          checkpoint_every: int | None = None, checkpoint_seconds: float = 1.0,
          lateness: float | None = DEFAULT_ALLOWED_LATENESS, late: LateWriter | None = None) -> ServeStats:
    """Consume the keyed topics of the raw `topics` (`route` fills them) until `max_messages` were processed or
    nothing arrived for `idle_seconds` (both unset: forever). `partitions` assigns keyed topic partitions by hand
    instead of joining the group (tests, single workers).

    With `checkpoints`, each keyed partition's engine state is saved with the offset it covers when it took events
    and its checkpoint is `checkpoint_seconds` old (at most CHECKPOINTS_PER_POLL before each poll, oldest first), every
    `checkpoint_every` batches if given (all such partitions at once), and when the partition is revoked; offsets
    are committed only then, and a partition assigned to this worker starts from its checkpoint.

    `lateness` (seconds; None: off) is the allowed lateness against each partition's latest event time; events
    beyond it are not evaluated, and go to `late` before the batch's outbox rows are written."""
    from kafka import ConsumerRebalanceListener, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = _consumer(bootstrap, group_id, [] if partitions else keyed_topics(topics, policies), partitions)
    stats = ServeStats()
    watcher = PolicyWatcher(policies) if watch else None
    group_name = group_id or "-"
    # The policies per partition key: an event from <topic>.by.<key> reaches only the policies partitioned by <key>;
    # the same event, re-published to another key's topic, reaches the others there (maybe in another worker).
    groups: dict[str, list[LoadedPolicy]] = {}
    for loaded in policies:
        groups.setdefault(loaded.policy.partition_by, []).append(loaded)
    # One engine per keyed topic partition, so a partition's state can move to another worker on its own.
    engines: dict[tuple[str, int], SupervisedEngine] = {}
    covered: dict[tuple[str, int], int] = {}  # next offset to read; every event before it is in the engine
    dirty: set[tuple[str, int]] = set()  # partitions that took events since their last checkpoint
    saved_at: dict[tuple[str, int], float] = {}  # when each partition was last checkpointed (or first took events)
    since = {"batches": 0}

    def engine_for(topic: str, partition: int) -> SupervisedEngine | None:
        if (topic, partition) not in engines:
            group = groups.get(topic_key(topic) or "")
            if not group:
                return None
            engines[(topic, partition)] = SupervisedEngine(group, clock=clock, lateness=lateness,
                                                           keep_state=checkpoints is not None)
        return engines[(topic, partition)]

    def save(keys: Iterable[tuple[str, int]], commit: bool = True) -> None:
        commits = {}
        for key in keys:
            if key not in covered:
                continue
            engine = engines.get(key)
            checkpoints.save(Checkpoint.now(group_name, key[0], key[1], covered[key],
                                            engine.export_state() if engine else {}))
            # kafka-python 2.1 added leader_epoch to OffsetAndMetadata (-1: unknown)
            extra = ("", -1) if len(OffsetAndMetadata._fields) == 3 else ("",)
            commits[TopicPartition(*key)] = OffsetAndMetadata(covered[key], *extra)
            dirty.discard(key)
            saved_at[key] = time.monotonic()
        # Not from a rebalance listener: kafka-python runs those on its IO thread, where a commit cannot block.
        if commits and commit and group_id is not None:
            try:
                consumer.commit(commits)  # informational: a new owner starts from the checkpoint
            except Exception as exc:  # noqa: BLE001 - a rebalance under way; the checkpoint holds the offset
                log.warning("offset commit after checkpoint failed: %s", exc)

    def assigned(assignment: Iterable[Any]) -> None:
        for tp in assignment:
            key = (tp.topic, tp.partition)
            if key in engines:
                continue
            checkpoint = checkpoints.load(group_name, tp.topic, tp.partition)
            if checkpoint is None:
                continue  # never checkpointed: nothing was evaluated yet, the committed offset (or earliest) holds
            engine = engine_for(*key)
            if engine is not None and checkpoint.state:
                engine.restore(checkpoint.state)
            consumer.seek(tp, checkpoint.offset)
            covered[key] = checkpoint.offset
            save([key], commit=False)  # records this worker as the partition's holder
            log.info("partition %s.%s restored from its checkpoint at offset %s", *key, checkpoint.offset)

    def revoked(revocation: Iterable[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in revocation]
        save([k for k in keys if k in covered], commit=False)  # the next holder starts from here
        for key in keys:
            engine = engines.pop(key, None)
            if engine is not None:
                engine.close()
            covered.pop(key, None)
            dirty.discard(key)
            saved_at.pop(key, None)

    if checkpoints is not None:
        if partitions:
            assigned([TopicPartition(t, p) for t, p in partitions])
        else:
            class Listener(ConsumerRebalanceListener):
                def on_partitions_revoked(self, revocation: Any) -> None:
                    revoked(revocation)

                def on_partitions_assigned(self, assignment: Any) -> None:
                    assigned(assignment)

            consumer.subscribe(keyed_topics(topics, policies), listener=Listener())
    elif not partitions:
        consumer.subscribe(keyed_topics(topics, policies))
    try:
        def between_polls() -> None:
            for loaded in watcher.changes() if watcher is not None else ():
                if _reload(groups, engines, loaded):
                    stats.reloads.append(f"{loaded.id}@{loaded.version}")
            if checkpoints is not None and dirty:  # before each poll, so a stream gone quiet is checkpointed too
                now = time.monotonic()
                # copies: a rebalance listener may drop a revoked partition meanwhile
                ages = [(saved_at.get(k), k) for k in list(dirty)]
                due = sorted((at, k) for at, k in ages if at is not None and now - at >= checkpoint_seconds)
                save([k for _, k in due[:CHECKPOINTS_PER_POLL]])

        for polled in _polls(consumer, idle_seconds, poll_ms, between_polls):
            result = EvaluationResult()
            sent_at, offsets, late_batches = {}, {}, []
            submitted = []
            for partition, records in polled:
                events = []
                for record in records:
                    try:
                        event = json.loads(record.value)
                    except (ValueError, UnicodeDecodeError):
                        event = {"type": None, "id": f"{record.topic}:{record.partition}:{record.offset}"}
                    events.append(event)
                    sent_at[str(event.get("id"))] = record.timestamp / 1000.0
                engine = engine_for(partition.topic, partition.partition)
                if engine is None:  # a topic whose key no policy uses any more: its events are counted, not lost
                    for event in events:
                        result.unrouted[str(event.get("type"))] += 1
                else:
                    engine.submit(events)  # every partition's engine evaluates at once; collected below
                    submitted.append((partition, engine))
                covered[(partition.topic, partition.partition)] = records[-1].offset + 1
                dirty.add((partition.topic, partition.partition))
                saved_at.setdefault((partition.topic, partition.partition), time.monotonic())
                offsets[f"{partition.topic}.{partition.partition}"] = str(records[-1].offset + 1)
                stats.messages += len(events)
            for partition, engine in submitted:
                posted = engine.collect()
                if posted.late:
                    late_batches.append((f"{partition.topic}.{partition.partition}", posted.late))
                result.extend(posted)
            for run, late_events in late_batches:
                log.warning("partition %s: %d events beyond the allowed lateness of %s s, not evaluated: %s", run,
                            len(late_events), lateness, late_by_type(late_events))
                if late is not None:
                    late(late_events, run)
            outbox(result.outbox, offsets)
            written = time.time()
            for record in result.outbox:
                stats.latencies.append(written - max(sent_at.get(i, written) for i in record.matched_event_ids))
            if checkpoints is None:
                consumer.commit()
            else:
                since["batches"] += 1
                if checkpoint_every is not None and since["batches"] >= checkpoint_every:
                    save(sorted(dirty))  # untouched partitions' checkpoints are still current
                    since["batches"] = 0
            stats.batches += 1
            stats.actions += len(result.outbox)
            stats.result.extend(result)
            if max_messages is not None and stats.messages >= max_messages:
                break
        if checkpoints is not None:
            save(sorted(dirty))  # a clean stop leaves nothing to re-read
    finally:
        for engine in engines.values():
            engine.close()
        consumer.close()
    return stats


def _reload(groups: dict[str, list[LoadedPolicy]], engines: Mapping[tuple[str, int], SupervisedEngine],
            loaded: LoadedPolicy) -> bool:
    """Swap a changed policy into the engines of its partition key's topics; a changed key moves it to that key's
    engines (a key no running policy had needs the router to fill its topic, and a restart of serve to read it)."""
    key = loaded.policy.partition_by
    for other_key in groups:
        groups[other_key] = [p for p in groups[other_key] if p.id != loaded.id]
    groups.setdefault(key, []).append(loaded)
    swapped = True
    for (topic, _), engine in engines.items():
        if topic_key(topic) == key:
            swapped = engine.replace(loaded) and swapped
        elif any(p.id == loaded.id for p in engine.policies):
            engine.remove(loaded.id)
    if not any(topic_key(topic) == key for topic, _ in engines):
        log.warning("policy %s is now partitioned by %s, which no topic read here is keyed by", loaded.id, key)
    return swapped
