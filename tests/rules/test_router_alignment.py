"""The router hands events on in event-time order across its raw partitions (rules/alignment.py): the merge's rule
as units, and the router on a real broker catching up a backlog of two partitions, where fetch order alone put one
partition's hours before the other's first minutes and serve dropped those as too late (CI, stop 31)."""
import datetime as dt
import json
import uuid

from safecity.rules.alignment import EventTimeMerge
from safecity.rules.engine import EVENT_TIME
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.streaming import jsonl_late, keyed_topic, route, serve

CST = dt.timezone(dt.timedelta(hours=8))
CONGESTION = POLICIES_DIR / "command" / "junction_congestion.yaml"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def merge_of(clock, **buffers):
    merge = EventTimeMerge(max_wait=1.0, clock=clock)
    for partition, times in buffers.items():
        for offset, seconds in enumerate(times):
            merge.add(partition, offset, seconds, f"{partition}@{seconds}")
    return merge


def test_heads_go_in_event_time_order_across_partitions():
    merge = merge_of(Clock(), a=[1, 4, 5], b=[2, 3, 6])
    assert merge.release(["a", "b"], lambda p: False) == ["a@1", "b@2", "b@3", "a@4", "a@5", "b@6"]
    assert len(merge) == 0 and merge.first_offsets() == {}


def test_an_empty_partition_the_broker_holds_more_of_holds_the_others_until_the_wait_runs_out():
    clock = Clock()
    merge = merge_of(clock, a=[1, 2], b=[3, 9])
    more = {"a": True, "b": False}
    # Once a's two are out, a's next (still at the broker) could be earlier than b's 3: nothing of b goes yet.
    assert merge.release(["a", "b"], more.get) == ["a@1", "a@2"]
    assert merge.first_offsets() == {"b": 0}
    clock.now = 0.5
    assert merge.release(["a", "b"], more.get) == []
    merge.add("a", 2, 5, "a@5")  # a's next arrives: b's 3 goes before it, then a's 5
    assert merge.release(["a", "b"], more.get) == ["b@3", "a@5"]  # a empty and behind again (at 0.5): b's 9 waits
    clock.now = 0.9
    assert merge.release(["a", "b"], more.get) == []
    clock.now = 2.0  # a has held the others for more than 1 s since it emptied again: they go
    assert merge.release(["a", "b"], more.get) == ["b@9"]
    assert merge.waited == 4


def test_a_caught_up_partition_holds_nothing_and_a_stop_releases_everything():
    merge = merge_of(Clock(), b=[3, 9])
    assert merge.release(["a", "b"], lambda p: False) == ["b@3", "b@9"]
    merge = merge_of(Clock(), b=[3, 9])
    assert merge.release(["a", "b"], lambda p: True) == []
    assert merge.release(["a", "b"], lambda p: True, everything=True) == ["b@3", "b@9"]


def test_records_without_an_event_time_go_at_once_and_revoked_partitions_are_forgotten():
    merge = merge_of(Clock(), a=[None, 5], b=[7])
    assert merge.release(["a", "b", "c"], lambda p: p == "c") == ["a@None"]
    assert merge.first_offsets() == {"a": 1, "b": 0}
    merge.forget(["a"])
    assert merge.first_offsets() == {"a": 1} and len(merge) == 1


def reading(event_id, junction, when):
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": 9.0,
            "ts": when.isoformat()}


def test_the_router_catching_up_two_partitions_keeps_event_time_order_and_serve_finds_nothing_late(
        kafka_bootstrap, tmp_path):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    raw = f"safecity.events.align_{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(raw, num_partitions=2, replication_factor=1)])
    admin.close()
    start = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)
    # A backlog: each partition in time order, one reading a minute for five hours, the junctions spread so no
    # window fires (index 9 needs three within 15 min per junction: 40 junctions, each seen every 40 minutes).
    events = {p: [reading(f"p{p}-{m}", f"J{(2 * m + p) % 80}", start + dt.timedelta(minutes=m, seconds=p))
                  for m in range(300)] for p in (0, 1)}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for p, batch in events.items():
        for event in batch:
            producer.send(raw, value=json.dumps(event).encode(), partition=p)
    producer.flush()
    producer.close()
    policies = [load_policy(CONGESTION)]
    stats = route(kafka_bootstrap, [raw], f"router-{raw}", policies, partitions=[(raw, 0), (raw, 1)],
                  keyed_partitions=1, max_messages=600, idle_seconds=10)
    assert stats.messages == stats.published == 600

    keyed = keyed_topic(raw, "junction_id")
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(keyed, 0)])
    times = [dt.datetime.fromisoformat(json.loads(r.value)["ts"]) for r in consumer]
    consumer.close()
    assert len(times) == 600 and times == sorted(times)

    kept = tmp_path / "late.jsonl"
    served = serve(kafka_bootstrap, [raw], f"serve-{raw}", policies, lambda rs, offsets: None, clock=EVENT_TIME,
                   watch=False, idle_seconds=5, max_messages=600, partitions=[(keyed, 0)], lateness=900,
                   late=jsonl_late(kept))
    assert served.messages == 600 and served.late_by_type == {}
