"""`rules serve`: a consumer group on a real Kafka-protocol broker writing the outbox to Iceberg; hot reload."""
import datetime as dt
import shutil
import time

import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy
from safecity.rules.streaming import PolicyWatcher, iceberg_outbox, publish_events, serve

CST = dt.timezone(dt.timedelta(hours=8))
KEY_OF = {"congestion_reading": "junction_id", "alarm_received": "call_id", "camera_down": "grid_id",
          "incident_reported": "grid_id"}


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


def test_serve_as_a_consumer_group_writes_the_outbox_and_commits_offsets(kafka_bootstrap, settings):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    from safecity.config.lakehouse import open_catalog
    topic, group = "safecity.events.serve_test", "rules-serve-test"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    events = workload()
    for event in events:
        publish_events(kafka_bootstrap, topic, [event], KEY_OF[event["type"]])
    policies = load_policies()
    catalog = open_catalog(settings)
    started = time.monotonic()
    stats = serve(kafka_bootstrap, [topic], group, policies, iceberg_outbox(catalog), clock=EVENT_TIME,
                  max_messages=len(events), idle_seconds=90)
    assert stats.messages == len(events), f"stopped after {time.monotonic() - started:.0f} s"
    expected = evaluate(policies, events, clock=EVENT_TIME)
    rows = catalog.load_table("ops.outbox").scan().to_arrow().to_pylist()
    assert sorted(r["idempotency_key"] for r in rows) == sorted(r.idempotency_key for r in expected.outbox)
    assert {r["policy_id"] for r in rows} == {"command.alarm_dispatch", "command.junction_congestion",
                                              "command.blind_spot_incident"}
    assert len(stats.latencies) == len(rows) and all(0 <= s < 120 for s in stats.latencies)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in range(3)]
    committed = sum(consumer.committed(p) or 0 for p in parts)
    consumer.close()
    assert committed == len(events)  # every message's offset is committed, after its actions were written


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
