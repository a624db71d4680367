"""Executor and sinks (file, a real local webhook server, Kafka), replay and diff on an event-time clock."""
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.executor import Executor, Ledger, RetryPolicy, load_executor_config, open_sink, payload
from safecity.rules.loader import POLICIES_DIR, load_policies, load_policy
from safecity.rules.replay import diff, replay
from safecity.rules.sinks import FileSink, KafkaSink, WebhookSink

CST = dt.timezone(dt.timedelta(hours=8))


def reading(event_id, junction, minute, index=9.0):
    ts = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST) + dt.timedelta(minutes=minute)
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": index,
            "ts": ts.isoformat()}


def call(n, category, priority, status="received"):
    return {"type": "alarm_received", "id": f"c{n}", "call_id": f"J{n}", "category": category,
            "alarm_priority": priority, "status": status, "address": f"地址{n}",
            "received_at": f"2025-03-01T08:{n:02d}:00+08:00"}


EVENTS = [reading("r1", "J1", 0), call(1, "010000", "1"), reading("r2", "J1", 3), call(2, "050000", "4"),
          reading("r3", "J1", 6), call(3, "040000", "2")]


@pytest.fixture(scope="module")
def records():
    policies = load_policies()
    return evaluate(policies, EVENTS, clock=EVENT_TIME).outbox


class Receiver(BaseHTTPRequestHandler):
    """A webhook that keeps each key once and can be told to fail the next requests."""

    seen: dict = {}
    requests: list = []
    fail_next = 0

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(self.headers["Idempotency-Key"])
        if type(self).fail_next:
            type(self).fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        assert body["idempotency_key"] == self.headers["Idempotency-Key"]
        type(self).seen.setdefault(body["idempotency_key"], body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.seen, Receiver.requests, Receiver.fail_next = {}, [], 0
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/actions", Receiver
    server.shutdown()
    server.server_close()


def test_executor_delivers_each_record_once_per_sink_and_redelivery_is_harmless(records, webhook, tmp_path):
    url, receiver = webhook
    assert len(records) == 5  # 3 dispatch orders for the calls, congestion dispatch + signal plan
    orders = [r for r in records if r.action == "dispatch_order"]
    sinks = [(FileSink("file", tmp_path / "actions.jsonl"), []), (WebhookSink("hook", url), ["dispatch_order"])]
    executor = Executor(sinks, Ledger(tmp_path / "ledger.jsonl"))
    report = executor.deliver(records)
    assert dict(report.delivered) == {"file": 5, "hook": len(orders)} and report.failed == {}
    assert sorted(receiver.seen) == sorted(r.idempotency_key for r in orders)
    lines = [json.loads(line) for line in (tmp_path / "actions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["idempotency_key"] for line in lines] == [r.idempotency_key for r in records]
    assert lines[0]["params"] == records[0].params and lines[0]["policy_file_sha256"] == records[0].policy_file_sha256

    # A crash after sending but before the ledger entry: a new executor with an empty ledger sends everything again.
    again = Executor([(FileSink("file", tmp_path / "actions.jsonl"), []), (WebhookSink("hook", url), [])],
                     Ledger(tmp_path / "lost-ledger.jsonl")).deliver(records)
    assert again.delivered["hook"] == 5
    assert len((tmp_path / "actions.jsonl").read_text(encoding="utf-8").splitlines()) == 5  # the file dropped repeats
    assert len(receiver.seen) == 5 and len(receiver.requests) == len(orders) + 5
    # With its ledger, the executor skips what it delivered.
    third = executor.deliver(records)
    assert third.delivered == {} and dict(third.skipped) == {"file": 5, "hook": len(orders)}


def test_a_failing_webhook_keeps_its_records_for_the_next_run(records, webhook, tmp_path):
    url, receiver = webhook
    receiver.fail_next = 3  # all attempts for the first record
    executor = Executor([(WebhookSink("hook", url), [])], Ledger(tmp_path / "ledger.jsonl"),
                        retry=RetryPolicy(attempts_per_run=3, base_delay=0.01))
    first = executor.deliver(records)
    assert first.delivered == {} and "503" in first.failed["hook"][0]
    second = executor.deliver(records)
    assert second.delivered["hook"] == 5 and sorted(receiver.seen) == sorted(r.idempotency_key for r in records)


def test_kafka_sink_keys_messages_by_idempotency_key(records, kafka_bootstrap):
    from kafka import KafkaConsumer, TopicPartition
    sink = KafkaSink("kafka", kafka_bootstrap, "rules.actions.test")
    for record in records:
        sink.deliver(payload(record))
    sink.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None,
                             consumer_timeout_ms=5000)
    parts = [TopicPartition("rules.actions.test", p) for p in consumer.partitions_for_topic("rules.actions.test")]
    consumer.assign(parts)
    got = {m.key.decode(): json.loads(m.value) for m in consumer}
    consumer.close()
    assert sorted(got) == sorted(r.idempotency_key for r in records)
    assert all(got[r.idempotency_key]["action"] == r.action for r in records)


def test_executor_config_is_strict(tmp_path):
    path = tmp_path / "sinks.yaml"
    path.write_text("sinks:\n  - { name: ops, type: file, path: out.jsonl, actions: [raise_alert] }\n"
                    "  - { name: hook, type: webhook, urll: http://x }\n", encoding="utf-8")
    with pytest.raises(Exception) as caught:
        load_executor_config(path)
    assert "urll" in str(caught.value) and ":3:" in str(caught.value)
    path.write_text("sinks:\n  - { name: ops, type: file, path: " + str(tmp_path / "o.jsonl") + " }\n",
                    encoding="utf-8")
    assert isinstance(open_sink(load_executor_config(path).sinks[0]), FileSink)


def test_replay_is_deterministic_on_event_time():
    policies = load_policies()
    first = replay(policies, EVENTS)
    second = replay(policies, EVENTS)
    assert [r.__dict__ for r in first.result.outbox] == [r.__dict__ for r in second.result.outbox]
    assert first.by_policy_action() == {("command.alarm_dispatch", "dispatch_order"): 3,
                                        ("command.junction_congestion", "adjust_signal_plan"): 1,
                                        ("command.junction_congestion", "dispatch_order"): 1}
    congestion = [r for r in first.result.outbox if r.policy_id == "command.junction_congestion"]
    assert {r.fired_at for r in congestion} == {dt.datetime(2025, 3, 1, 0, 6, tzinfo=dt.timezone.utc)}


def test_diff_lists_the_actions_a_changed_policy_set_adds_and_drops(tmp_path):
    live = load_policies()
    changed = tmp_path / "alarm_dispatch.yaml"
    text = (POLICIES_DIR / "command" / "alarm_dispatch.yaml").read_text(encoding="utf-8").replace("version: 1",
                                                                                                  "version: 2")
    changed.write_text(text, encoding="utf-8")
    table = (POLICIES_DIR / "command" / "alarm_dispatch.csv").read_text(encoding="utf-8")
    # The fire row now sends medical help instead of fire rescue.
    (tmp_path / "alarm_dispatch.csv").write_text(table.replace("040000,,dispatch_order,fire_rescue",
                                                               "040000,,dispatch_order,medical"), encoding="utf-8")
    candidate = [p for p in live if p.id != "command.alarm_dispatch"] + [load_policy(changed)]
    result = diff(live, candidate, EVENTS)
    assert [(r.action, r.params["unit_type"], r.matched_event_ids) for r in result.added] == [
        ("dispatch_order", "medical", ["c3"])]
    assert [(r.action, r.params["unit_type"], r.matched_event_ids) for r in result.dropped] == [
        ("dispatch_order", "fire_rescue", ["c3"])]
    assert result.unchanged == 4
