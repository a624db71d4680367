"""publish_paced on the real (tansu) broker: the schedule kept, judged by the Kafka timestamps the broker stored;
order and count kept; send failures raised."""
import datetime as dt
import json
import time
import uuid

import pytest

from safecity.rules.live_publish import PublishError, publish_paced

CST = dt.timezone(dt.timedelta(hours=8))


def create_topic(bootstrap, name, partitions=1):
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()


def read_back(bootstrap, topic, expected, partitions=1, timeout=30.0):
    """(partition, key, Kafka timestamp in s, event) of every message, read until `expected` arrived."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    found, deadline = [], time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            found += [(tp.partition, r.key.decode() if r.key else None, r.timestamp / 1000, json.loads(r.value))
                      for r in records]
    consumer.close()
    return found


def events(count, gap_seconds):
    start = dt.datetime(2026, 7, 15, 8, 0, tzinfo=CST)
    return [{"type": "congestion_reading", "id": f"r{i}", "junction_id": f"J{i % 7}", "congestion_index": 9.0,
             "ts": (start + dt.timedelta(seconds=gap_seconds[i])).isoformat()} for i in range(count)]


def test_fixed_rate_is_kept_in_the_stored_timestamps_order_and_count_kept(kafka_bootstrap):
    topic = f"safecity.test.paced_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic)
    sent = events(400, list(range(400)))
    seen = []
    stats = publish_paced(kafka_bootstrap, topic, sent, "junction_id", rate=200, progress=seen.append,
                          progress_every=0.5)
    found = read_back(kafka_bootstrap, topic, len(sent))
    assert stats.sent == len(found) == len(sent)
    assert [e for _, _, _, e in found] == sent  # one partition: the order sent is the order stored
    assert all(k == e["junction_id"] for _, k, _, e in found)
    stamps = [t for _, _, t, _ in found]
    measured = (len(stamps) - 1) / (stamps[-1] - stamps[0])  # from the broker's timestamps, not our stats
    assert 200 * 0.9 <= measured <= 200 * 1.1, measured
    assert len(seen) >= 2 and seen[-1].sent > seen[0].sent  # progress reported while it ran (about every 0.5 s)
    assert stats.max_behind_s < 0.5


def test_speed_follows_event_time(kafka_bootstrap):
    """60 s of uneven event time (bursts and pauses) at 20x: each message is stored about (its event time - the
    first's) / 20 after the first."""
    topic = f"safecity.test.speed_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=3)
    offsets = sorted([i * 0.05 for i in range(100)] + [30 + i * 0.5 for i in range(40)] + [59.5, 60.0])
    sent = events(len(offsets), offsets)
    stats = publish_paced(kafka_bootstrap, topic, sent, "junction_id", speed=20,
                          time_of=lambda e: dt.datetime.fromisoformat(e["ts"]))
    found = read_back(kafka_bootstrap, topic, len(sent), partitions=3)
    assert stats.sent == len(found) == len(sent) and stats.out_of_order == 0
    assert sorted(e["id"] for _, _, _, e in found) == sorted(e["id"] for e in sent)
    for partition in range(3):  # a key's events stay in order within its partition
        ids = [int(e["id"][1:]) for p, _, _, e in found if p == partition]
        assert ids == sorted(ids)
    by_id = {e["id"]: t for _, _, t, e in found}
    first = by_id["r0"]
    errors = [abs((by_id[e["id"]] - first) - offsets[i] / 20) for i, e in enumerate(sent)]
    assert max(errors) < 0.15, max(errors)  # the whole replay takes 3 s
    assert 2.9 < stats.seconds < 3.6
    assert stats.first_event_time == sent[0]["ts"] and stats.last_event_time == sent[-1]["ts"]


def test_a_failed_send_raises_naming_the_event(kafka_bootstrap):
    topic = f"safecity.test.fail_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic)
    sent = events(3, [0, 1, 2])
    sent[1]["blob"] = "x" * 2_000_000  # over the producer's 1 MB request limit
    with pytest.raises(PublishError, match=r"event #1 \(id 'r1'"):
        publish_paced(kafka_bootstrap, topic, sent, "junction_id", rate=100)


def test_a_schedule_needs_exactly_one_pace():
    with pytest.raises(ValueError, match="exactly one"):
        publish_paced("127.0.0.1:1", "t", [], "id", rate=10, speed=2)
    with pytest.raises(ValueError, match="time_of"):
        publish_paced("127.0.0.1:1", "t", [], "id", speed=2)
