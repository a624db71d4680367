"""`rules route` + `rules serve` on a real Kafka-protocol broker: re-keying per policy partition key, a consumer
group writing the outbox to Iceberg, workers splitting keyed partitions; hot reload."""
import datetime as dt
import json
import shutil
import time
import uuid

import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy
from safecity.rules.streaming import (PolicyWatcher, iceberg_outbox, keyed_topic, publish_events, route, serve,
                                      subscriptions)

CST = dt.timezone(dt.timedelta(hours=8))
# The partition keys of the policies reading each type, as the shipped YAML files say (partition_by).
KEYS_OF = {"congestion_reading": ["junction_id"], "alarm_received": ["call_id"], "camera_down": ["grid_id"],
           "incident_reported": ["grid_id", "incident_id"], "incident_assessed": ["incident_id"]}


def workload():
    events = []
    for i in range(30):
        ts = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=i)
        events.append({"type": "congestion_reading", "id": f"r{i}", "junction_id": f"J{i % 3}",
                       "congestion_index": 9.0, "ts": ts.isoformat()})
        events.append({"type": "alarm_received", "id": f"c{i}", "call_id": f"K{i}", "category": "010000",
                       "alarm_priority": str(1 + i % 4), "status": "received", "address": f"地址{i}",
                       "received_at": ts.isoformat()})
    events.append({"type": "camera_down", "id": "down1", "camera_id": "13030200001320000007", "grid_id": "G1",
                   "since": "2025-03-01T07:00:00+08:00"})
    events.append({"type": "incident_reported", "id": "i1", "incident_id": "I1", "grid_id": "G1",
                   "category": "010000", "ts": "2025-03-01T09:00:00+08:00"})
    return events


def incidents():
    """Incidents read by grid (blind spot, with cameras down in some cells) and by incident (escalation chart)."""
    events = [{"type": "camera_down", "id": f"down{g}", "camera_id": f"1303020000132000000{g}", "grid_id": f"G{g}",
               "since": "2025-03-01T07:00:00+08:00"} for g in range(4)]
    for n in range(12):
        ts = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=n)
        events.append({"type": "incident_reported", "id": f"rep{n}", "incident_id": f"I{n}", "grid_id": f"G{n % 6}",
                       "category": "010000", "casualties": 1 + n % 3, "ts": ts.isoformat()})
    for n in range(12):
        ts = dt.datetime(2025, 3, 1, 9, 0, tzinfo=CST) + dt.timedelta(minutes=n)
        events.append({"type": "incident_assessed", "id": f"ass{n}", "incident_id": f"I{n}", "casualties": 5 * n,
                       "deaths": n, "serious_injuries": n, "ts": ts.isoformat()})
    return events


def create_topic(bootstrap, name, partitions):
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()


def read_all(bootstrap, topic, partitions, quiet=3.0):
    """Every message of a topic as (partition, key, event); tansu's end offsets are unreliable, so read until quiet."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    found, last = [], time.monotonic()
    while time.monotonic() - last < quiet:
        for tp, records in consumer.poll(timeout_ms=200).items():
            last = time.monotonic()
            found += [(tp.partition, r.key.decode() if r.key else None, json.loads(r.value)) for r in records]
    consumer.close()
    return found


def committed(bootstrap, group, topic, partitions):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    total = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
    consumer.close()
    return total


def test_shipped_policies_read_incidents_by_two_keys():
    found = subscriptions(load_policies())
    assert {t: sorted(found[t]) for t in KEYS_OF} == KEYS_OF


def test_router_republishes_each_event_once_per_key_then_commits(kafka_bootstrap):
    raw, group = f"safecity.events.route_{uuid.uuid4().hex[:8]}", "rules-router-test"
    create_topic(kafka_bootstrap, raw, 2)
    events = incidents() + [{"type": "duty_roster_changed", "id": "x1"}]
    for event in events:
        publish_events(kafka_bootstrap, raw, [event], "id")  # keyed by nothing a policy partitions by
    stats = route(kafka_bootstrap, [raw], group, load_policies(), partitions=[(raw, 0), (raw, 1)],
                  keyed_partitions=3, max_messages=len(events), idle_seconds=30)
    assert stats.messages == len(events) and stats.dropped == {"duty_roster_changed": 1}
    assert committed(kafka_bootstrap, group, raw, 2) == len(events)  # offsets moved after the re-publish
    for key in ("grid_id", "incident_id"):
        messages = read_all(kafka_bootstrap, keyed_topic(raw, key), 3)
        wanted = [e for e in events if key in KEYS_OF.get(e["type"], [])]
        assert sorted(e["id"] for _, _, e in messages) == sorted(e["id"] for e in wanted)
        assert all(k == str(e[key]) for _, k, e in messages)
        partitions_of = {}
        for partition, k, _ in messages:
            partitions_of.setdefault(k, set()).add(partition)
        assert all(len(p) == 1 for p in partitions_of.values())  # one key value, one partition
    assert stats.published == sum(len(KEYS_OF[e["type"]]) for e in events if e["type"] in KEYS_OF)


def test_a_router_joining_its_group_slower_than_its_idle_limit_still_reads_everything(kafka_bootstrap):
    """`rules route --idle-seconds 5` started after the live day was published: joining the group takes the broker
    longer than 5 s (tansu: about 25), and the idle limit counts from the assignment, not from the start."""
    raw = f"safecity.events.join_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, raw, 1)
    events = incidents()
    publish_events(kafka_bootstrap, raw, events, "id")
    stats = route(kafka_bootstrap, [raw], f"router-{raw}", load_policies(), idle_seconds=5)
    assert stats.messages == len(events)


def test_two_workers_on_keyed_partitions_fire_what_one_engine_fires(kafka_bootstrap):
    """Each worker holds some partitions of both keyed topics; the grid policy and the incident chart each see
    every event of their partitions, so the workers together fire exactly what one engine over all events fires."""
    raw = f"safecity.events.split_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, raw, 1)
    events = incidents()
    for event in events:
        publish_events(kafka_bootstrap, raw, [event], "grid_id")
    policies = load_policies()
    route(kafka_bootstrap, [raw], "rules-router-split", policies, partitions=[(raw, 0)], keyed_partitions=2,
          max_messages=len(events), idle_seconds=30)
    topics = [keyed_topic(raw, "grid_id"), keyed_topic(raw, "incident_id")]
    records = []
    keyed = sum(len(KEYS_OF[e["type"]]) for e in events)
    seen = 0
    for worker in (0, 1):
        stats = serve(kafka_bootstrap, [raw], "rules-serve-split", policies,
                      lambda rs, offsets: records.extend(rs), clock=EVENT_TIME, watch=False, idle_seconds=5,
                      partitions=[(t, worker) for t in topics])
        assert stats.messages > 0 and stats.result.errors == [] and stats.result.rejected == []
        seen += stats.messages
    assert seen == keyed
    expected = evaluate(policies, events, clock=EVENT_TIME)
    assert {r.policy_id for r in expected.outbox} == {"command.blind_spot_incident",
                                                      "emergency.incident_escalation"}
    assert sorted(r.idempotency_key for r in records) == sorted(r.idempotency_key for r in expected.outbox)


def test_serve_as_a_consumer_group_writes_the_outbox_and_commits_offsets(kafka_bootstrap, settings):
    from safecity.lakehouse.catalog import open_catalog
    topic, group = "safecity.events.serve_test", "rules-serve-test"
    create_topic(kafka_bootstrap, topic, 3)
    events = workload()
    for event in events:
        publish_events(kafka_bootstrap, topic, [event], KEYS_OF[event["type"]][0])
    policies = load_policies()
    route(kafka_bootstrap, [topic], "rules-router-serve", policies, partitions=[(topic, p) for p in range(3)],
          max_messages=len(events), idle_seconds=30)
    keyed = sum(len(KEYS_OF[e["type"]]) for e in events)
    catalog = open_catalog(settings)
    started = time.monotonic()
    stats = serve(kafka_bootstrap, [topic], group, policies, iceberg_outbox(catalog), clock=EVENT_TIME,
                  max_messages=keyed, idle_seconds=90)
    assert stats.messages == keyed, f"stopped after {time.monotonic() - started:.0f} s"
    expected = evaluate(policies, events, clock=EVENT_TIME)
    rows = catalog.load_table("ops.outbox").scan().to_arrow().to_pylist()
    assert sorted(r["idempotency_key"] for r in rows) == sorted(r.idempotency_key for r in expected.outbox)
    assert {r["policy_id"] for r in rows} == {"command.alarm_dispatch", "command.junction_congestion",
                                              "command.blind_spot_incident"}
    assert len(stats.latencies) == len(rows) and all(0 <= s < 120 for s in stats.latencies)
    # Every keyed message's offset is committed, after its actions were written.
    assert sum(committed(kafka_bootstrap, group, keyed_topic(topic, k), 3)
               for k in ("junction_id", "call_id", "grid_id", "incident_id")) == keyed


def test_policy_watcher_swaps_in_a_changed_policy_only_when_its_tests_pass(tmp_path):
    source = POLICIES_DIR / "security" / "repair_overdue.yaml"
    path = tmp_path / "repair_overdue.yaml"
    shutil.copy(source, path)
    loaded = load_policy(path)
    watcher = PolicyWatcher([loaded], every=0)
    assert watcher.changes() == []
    path.write_text(source.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    [changed] = watcher.changes()
    assert (changed.id, changed.version) == ("security.repair_overdue", 2)
    path.write_text(source.read_text(encoding="utf-8").replace("version: 1", "version: 3")
                    .replace("severity: medium", "severity: low").replace("subject: WO2025030001 }",
                                                                          "subject: WO2025030001, severity: medium }"),
                    encoding="utf-8")
    assert watcher.changes() == [] and "severity" in watcher.rejected[path]
    path.write_text("id: [", encoding="utf-8")
    assert watcher.changes() == [] and "E_YAML" in watcher.rejected[path]
