"""Delivery at least once against a real receiver: signed webhooks, retries with backoff and Retry-After, permanent
failures, attempts counted across runs into the dead letter and back (`safecity rules dead-letter retry`), a crash
between a send and its ledger line (a SIGKILLed delivery process), the Kafka sink through the executor on the real
broker, and the delivery tables the command board reads."""
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from safecity.lakehouse.catalog import ensure_table, open_catalog
from safecity.orchestration.cli import app
from safecity.rules.delivery import DEAD_LETTER_TABLE, DELIVERY_TABLE, deliver_outbox
from safecity.rules.delivery_ledger import Ledger
from safecity.rules.executor import Executor, ExecutorConfig, RetryPolicy, SinkConfig, payload
from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE, OutboxRecord, idempotency_key, to_arrow
from safecity.rules.sinks import SIGNATURE_HEADER, WebhookSink, sign, verify_signature

SECRET = "whsec-test-8f3a"
SECRET_ENV = "SAFECITY_TEST_HOOK_SECRET"
T0 = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone.utc)


def record(n: int, action: str = "dispatch_order") -> OutboxRecord:
    """An outbox record as the engine writes it (its key from the same function), fired n minutes after 08:00."""
    params = {"unit_type": "police", "target": f"地址{n}", "reason": f"警情 J{n}"}
    return OutboxRecord(policy_id="command.alarm_dispatch", policy_version=1, policy_file_sha256="0" * 64,
                        action=action, action_name_zh="派发调度指令", params=params, message=f"调度 {n}",
                        matched_event_ids=[f"c{n}"], partition_key=f"J{n}",
                        idempotency_key=idempotency_key("command.alarm_dispatch", 1, action, [f"c{n}"]),
                        fired_at=T0 + dt.timedelta(minutes=n))


class Hook:
    """What a receiver saw and how it answers: `plan` holds the answers to the next requests in order
    (("status", code, retry_after) or ("hang", seconds)); after that, `default` (a status code)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every request: key, time, whether its signature verified
        self.accepted: dict[str, dict] = {}  # key -> body, kept once (the receiver dedupes by key)
        self.plan: list[tuple] = []
        self.default = 204
        self.hold: threading.Event | None = None  # the request number `hold_on` is accepted, then its answer
        self.hold_on = 0                          # waits for this event
        self.held = threading.Event()


def handler_for(hook: Hook):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers["Idempotency-Key"]
            verified = verify_signature(SECRET, dict(self.headers.items()), body)
            with hook.lock:
                hook.requests.append({"key": key, "at": time.monotonic(), "verified": verified})
                step = hook.plan.pop(0) if hook.plan else ("status", hook.default, None)
                hold = hook.hold if len(hook.requests) == hook.hold_on else None
            if not verified:
                return self._answer(401)
            if step[0] == "hang":  # longer than the sender waits: it times out, then tries again
                time.sleep(step[1])
                return self._answer(204)
            code, retry_after = step[1], step[2]
            if 200 <= code < 300:
                parsed = json.loads(body)
                assert parsed["idempotency_key"] == key
                with hook.lock:
                    hook.accepted.setdefault(key, parsed)
                if hold is not None:  # the record is taken; the sender dies before it hears so
                    hook.held.set()
                    hold.wait(30)
            self._answer(code, {"Retry-After": str(retry_after)} if retry_after is not None else {})

        def _answer(self, code, headers=None):
            try:
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender is gone (killed mid-delivery)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    hook = Hook()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(hook))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/safecity/actions", hook
    if hook.hold is not None:
        hook.hold.set()  # a held answer must not keep the server from shutting down
    server.shutdown()
    server.server_close()


def keys_of(hook: Hook) -> list[str]:
    return [r["key"] for r in hook.requests]


def test_signature_verifies_only_the_signed_body_with_the_right_secret_and_a_fresh_timestamp():
    body = b'{"idempotency_key":"k1","action":"dispatch_order"}'
    now = time.time()
    headers = {SIGNATURE_HEADER: sign(SECRET, body, int(now))}
    assert verify_signature(SECRET, headers, body)
    assert verify_signature(SECRET, {SIGNATURE_HEADER.lower(): headers[SIGNATURE_HEADER]}, body)  # any case
    assert not verify_signature(SECRET, headers, body.replace(b"dispatch_order", b"raise_alert"))
    assert not verify_signature("another-secret", headers, body)
    assert not verify_signature(SECRET, {}, body)
    # Older than the tolerance: a replayed request is refused even though its signature is right.
    old = {SIGNATURE_HEADER: sign(SECRET, body, int(now) - 301)}
    assert not verify_signature(SECRET, old, body, tolerance=300)
    assert verify_signature(SECRET, old, body, tolerance=400)
    # The timestamp is inside the signed text: moving it breaks the signature.
    stamp, mac = headers[SIGNATURE_HEADER].split(",")
    assert not verify_signature(SECRET, {SIGNATURE_HEADER: f"t={int(now) + 1},{mac}"}, body)
    # During a secret rotation the sender signs with both; one valid v1 suffices.
    rotated = sign("old-secret", body, int(now)) + "," + headers[SIGNATURE_HEADER].split(",")[1]
    assert verify_signature(SECRET, {SIGNATURE_HEADER: rotated}, body)


def test_retry_after_on_503_is_honoured_and_the_signed_record_arrives(receiver, tmp_path):
    url, hook = receiver
    hook.plan = [("status", 503, 0.4), ("status", 429, 0.3)]
    sink = WebhookSink("hook", url, timeout=5, secret=SECRET)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    report = Executor([(sink, [], RetryPolicy(attempts_per_run=3, base_delay=0.01, max_delay=2))],
                      ledger).deliver([record(1)])
    assert dict(report.delivered) == {"hook": 1} and report.attempts["hook"] == 3
    times = [r["at"] for r in hook.requests]
    assert len(times) == 3 and all(r["verified"] for r in hook.requests)
    assert times[1] - times[0] >= 0.4 and times[2] - times[1] >= 0.3  # waited as asked, not the 10 ms backoff
    assert list(hook.accepted) == [record(1).idempotency_key]
    state = ledger.state("hook", record(1).idempotency_key)
    assert state.status == "delivered" and state.attempts == 3
    assert Ledger(tmp_path / "ledger.jsonl").state("hook", record(1).idempotency_key).attempts == 3  # persisted


def test_a_retry_after_longer_than_the_run_waits_defers_the_sink_to_the_next_run(receiver, tmp_path):
    url, hook = receiver
    hook.plan = [("status", 503, 120)]
    executor = Executor([(WebhookSink("hook", url, secret=SECRET), [], RetryPolicy(base_delay=0.01, max_delay=5))],
                        Ledger(tmp_path / "ledger.jsonl"), sleep=pytest.fail)  # must not sleep 120 s
    report = executor.deliver([record(1), record(2)])
    assert report.retrying["hook"] == 2 and len(hook.requests) == 1 and not hook.accepted
    report = executor.deliver([record(1), record(2)])
    assert report.delivered["hook"] == 2 and keys_of(hook) == [record(1).idempotency_key] * 2 + [
        record(2).idempotency_key]


def test_backoff_grows_exponentially_with_jitter_between_attempts(receiver, tmp_path):
    url, hook = receiver
    hook.default = 500
    waits: list[float] = []
    retry = RetryPolicy(attempts_per_run=5, max_attempts=50, base_delay=1.0, max_delay=6.0)
    executor = Executor([(WebhookSink("hook", url, secret=SECRET), [], retry)], Ledger(tmp_path / "l.jsonl"),
                        sleep=waits.append, rng=random.Random(7))
    report = executor.deliver([record(1)])
    assert report.retrying["hook"] == 1 and len(hook.requests) == 5 and len(waits) == 4
    ceilings = [1.0, 2.0, 4.0, 6.0]  # base·2^(n-1), capped at max_delay
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings)), waits
    # Jitter: the same policy with another seed waits differently.
    other = [retry.delay(n, rng=random.Random(8)) for n in range(1, 5)]
    assert other != waits
    # The next run goes on counting: attempts 6..10 wait at the cap.
    waits.clear()
    executor.deliver([record(1)])
    assert len(waits) == 4 and all(3.0 <= w <= 6.0 for w in waits)


def test_a_hung_receiver_times_out_and_the_next_attempt_delivers(receiver, tmp_path):
    url, hook = receiver
    hook.plan = [("hang", 1.5)]
    started = time.monotonic()
    report = Executor([(WebhookSink("hook", url, timeout=0.4, secret=SECRET), [],
                        RetryPolicy(attempts_per_run=2, base_delay=0.01))],
                      Ledger(tmp_path / "ledger.jsonl")).deliver([record(1)])
    assert time.monotonic() - started < 1.4  # gave up on the hung request instead of waiting it out
    assert dict(report.delivered) == {"hook": 1} and "timed out" in report.failed["hook"][0]
    assert keys_of(hook) == [record(1).idempotency_key] * 2


def test_400_is_permanent_dead_letters_at_once_and_later_records_still_go(receiver, tmp_path):
    url, hook = receiver
    hook.plan = [("status", 400, None)]
    ledger = Ledger(tmp_path / "ledger.jsonl")
    executor = Executor([(WebhookSink("hook", url, secret=SECRET), [], RetryPolicy(base_delay=0.01))], ledger)
    report = executor.deliver([record(1), record(2)])
    assert dict(report.dead_lettered) == {"hook": 1} and dict(report.delivered) == {"hook": 1}
    assert keys_of(hook) == [record(1).idempotency_key, record(2).idempotency_key]  # no retry of the 400
    dead = ledger.dead_letters()[("hook", record(1).idempotency_key)]
    assert dead.attempts == 1 and "400" in dead.last_error and dead.payload["params"]["target"] == "地址1"
    # 408 and 429 are not permanent: retried in the same run.
    hook.plan = [("status", 408, None)]
    assert Executor([(WebhookSink("hook", url, secret=SECRET), [], RetryPolicy(base_delay=0.01))],
                    ledger).deliver([record(3)]).delivered["hook"] == 1
    assert keys_of(hook)[-2:] == [record(3).idempotency_key] * 2
    # The dead letter stays out of the loop on the next run.
    before = len(hook.requests)
    again = executor.deliver([record(1), record(2)])
    assert len(hook.requests) == before and again.dead_letters["hook"] == 1 and again.skipped["hook"] == 1


def write_outbox(settings, records):
    ensure_table(open_catalog(settings), OUTBOX_TABLE, OUTBOX_SCHEMA).append(to_arrow(records))


def table_rows(settings, name):
    return open_catalog(settings).load_table(name).scan().to_arrow().to_pylist()


def sinks_file(tmp_path, url, max_attempts=5):
    path = tmp_path / "sinks.yaml"
    path.write_text(f"""sinks:
  - name: ops_file
    type: file
    path: rules/actions.jsonl
  - name: command_hook
    type: webhook
    url: {url}
    secret_env: {SECRET_ENV}
    actions: [dispatch_order]
    retry: {{attempts_per_run: 2, max_attempts: {max_attempts}, base_delay: 0.01, max_delay: 0.05, timeout: 2}}
""", encoding="utf-8")
    return path


def cli(settings, *args):
    return CliRunner().invoke(app, ["rules", *args, "--home", str(settings.paths.home)])


def test_attempts_count_across_runs_into_the_dead_letter_and_retry_delivers_it(receiver, settings, tmp_path,
                                                                               monkeypatch):
    url, hook = receiver
    monkeypatch.setenv(SECRET_ENV, SECRET)
    order, alert = record(1), record(2, "raise_alert")
    write_outbox(settings, [order, alert])
    config = sinks_file(tmp_path, url)
    hook.default = 503
    for run, requests in ((1, 2), (2, 4)):
        result = cli(settings, "deliver", "--sinks", str(config))
        assert result.exit_code == 1, result.output
        assert len(hook.requests) == requests and "待重试 retrying" in result.output
        rows = {(r["sink"], r["idempotency_key"]): r for r in table_rows(settings, DELIVERY_TABLE)}
        assert rows[("command_hook", order.idempotency_key)]["status"] == "retrying"
        assert rows[("command_hook", order.idempotency_key)]["attempts"] == requests
        assert "503" in rows[("command_hook", order.idempotency_key)]["last_error"]
        assert rows[("ops_file", alert.idempotency_key)]["status"] == "delivered"
        assert ("command_hook", alert.idempotency_key) not in rows  # the hook takes dispatch orders only
    result = cli(settings, "deliver", "--sinks", str(config))
    assert result.exit_code == 1 and len(hook.requests) == 5  # the 5th attempt reached max_attempts
    [dead] = table_rows(settings, DEAD_LETTER_TABLE)
    assert (dead["idempotency_key"], dead["sink"], dead["policy_id"], dead["action"], dead["attempts"]) == (
        order.idempotency_key, "command_hook", "command.alarm_dispatch", "dispatch_order", 5)
    assert dead["first_attempt_at"] < dead["last_attempt_at"] and "503" in dead["last_error"]
    assert json.loads(dead["payload"]) == payload(order)
    status = {(r["sink"], r["idempotency_key"]): r["status"] for r in table_rows(settings, DELIVERY_TABLE)}
    assert status == {("ops_file", order.idempotency_key): "delivered", ("ops_file", alert.idempotency_key):
                      "delivered", ("command_hook", order.idempotency_key): "dead_letter"}
    # Out of the loop: the next run does not try it.
    assert cli(settings, "deliver", "--sinks", str(config)).exit_code == 0 and len(hook.requests) == 5
    listed = cli(settings, "dead-letter", "list")
    assert listed.exit_code == 0 and "死信 / dead letters: 1" in listed.output
    assert order.idempotency_key[:16] in listed.output and "command_hook" in listed.output

    hook.default = 204  # the receiver is fixed
    assert cli(settings, "dead-letter", "retry", "--sinks", str(config)).exit_code == 2  # neither keys nor --all
    assert cli(settings, "dead-letter", "retry", "ffff", "--sinks", str(config)).exit_code == 1  # no such key
    result = cli(settings, "dead-letter", "retry", order.idempotency_key[:12], "--sinks", str(config))
    assert result.exit_code == 0, result.output
    assert list(hook.accepted) == [order.idempotency_key] and hook.requests[-1]["verified"]
    assert json.loads(json.dumps(hook.accepted[order.idempotency_key])) == payload(order)
    assert table_rows(settings, DEAD_LETTER_TABLE) == []
    row = {(r["sink"], r["idempotency_key"]): r for r in table_rows(settings, DELIVERY_TABLE)}[
        ("command_hook", order.idempotency_key)]
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 1, None)
    # The warehouse's view shows the same (the board and reports may read it there).
    from safecity.lakehouse.warehouse import connect
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT status, attempts FROM ops.action_delivery WHERE sink = 'command_hook'").fetchall() \
            == [("delivered", 1)]
        assert con.execute("SELECT count(*) FROM ops.action_dead_letter").fetchone() == (0,)
    lines = (settings.paths.home / "rules" / "actions.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["idempotency_key"] for line in lines) == sorted(
        [order.idempotency_key, alert.idempotency_key])


def test_a_webhook_whose_secret_variable_is_unset_is_refused_by_name(receiver, settings, tmp_path, monkeypatch):
    url, hook = receiver
    monkeypatch.delenv(SECRET_ENV, raising=False)
    write_outbox(settings, [record(1)])
    result = cli(settings, "deliver", "--sinks", str(sinks_file(tmp_path, url)))
    assert result.exit_code == 2 and SECRET_ENV in result.output and hook.requests == []


CHILD = """
import json, sys
from safecity.rules.executor import Executor, Ledger, RetryPolicy
from safecity.rules.sinks import WebhookSink
url, secret, ledger, records = sys.argv[1:5]
items = [json.loads(line) for line in open(records, encoding="utf-8")]
Executor([(WebhookSink("hook", url, timeout=60, secret=secret), [], RetryPolicy(base_delay=0.01))],
         Ledger(ledger)).deliver(items)
"""


def test_a_delivery_killed_between_send_and_ledger_resends_and_loses_nothing(receiver, tmp_path):
    url, hook = receiver
    records = [payload(record(n)) for n in range(1, 7)]
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    ledger = tmp_path / "ledger.jsonl"
    command = [sys.executable, "-c", CHILD, url, SECRET, str(ledger), str(source)]
    # The 3rd request is taken by the receiver, whose answer then waits: the sender is SIGKILLed before it hears.
    release = threading.Event()
    hook.hold, hook.hold_on = release, 3
    child = subprocess.Popen(command)
    try:
        assert hook.held.wait(60), "the delivery process never reached its 3rd record"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    keys = [r["idempotency_key"] for r in records]
    assert list(hook.accepted) == keys[:3]  # the 3rd was taken by the receiver…
    assert Ledger(ledger).keys() == set(keys[:2])  # …but never entered in the ledger

    assert subprocess.run(command, timeout=120).returncode == 0
    requests = keys_of(hook)
    assert set(hook.accepted) == set(keys) and len(hook.accepted) == 6  # every key, and only those
    assert requests.count(keys[2]) == 2  # the unconfirmed one was sent again
    assert all(requests.count(k) == 1 for k in keys[:2] + keys[3:])  # the confirmed ones were not
    assert Ledger(ledger).keys() == set(keys) and all(r["verified"] for r in hook.requests)


def test_kafka_sink_through_the_executor_on_the_real_broker(kafka_bootstrap, settings):
    from kafka import KafkaConsumer, TopicPartition
    topic = f"rules.actions.delivery.{os.getpid()}"
    records = [record(n) for n in range(1, 5)]
    write_outbox(settings, records)
    config = ExecutorConfig(sinks=[SinkConfig(name="bus", type="kafka", bootstrap=kafka_bootstrap, topic=topic)])
    run = deliver_outbox(settings, config)
    assert run.report.by_sink()["bus"]["delivered_this_run"] == 4, run.report.failed
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None,
                             consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    got = [(m.key.decode(), json.loads(m.value)) for m in consumer]
    consumer.close()
    assert sorted(k for k, _ in got) == sorted(r.idempotency_key for r in records)
    assert all(value["idempotency_key"] == key for key, value in got)
    rows = table_rows(settings, DELIVERY_TABLE)
    assert sorted((r["idempotency_key"], r["sink"], r["status"], r["attempts"]) for r in rows) == sorted(
        (r.idempotency_key, "bus", "delivered", 1) for r in records)
    # Delivered once: a second run sends nothing more, and leaves the delivery tables as they were.
    snapshots = {n: len(open_catalog(settings).load_table(n).snapshots()) for n in (DELIVERY_TABLE, DEAD_LETTER_TABLE)}
    assert deliver_outbox(settings, config).report.by_sink()["bus"]["delivered_this_run"] == 0
    assert {n: len(open_catalog(settings).load_table(n).snapshots()) for n in snapshots} == snapshots


def test_a_kafka_broker_that_is_down_is_a_failed_attempt_and_ends_in_the_dead_letter(settings):
    import socket
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    write_outbox(settings, [record(1), record(2)])
    retry = RetryPolicy(attempts_per_run=1, max_attempts=3, base_delay=0.01, timeout=1)
    config = ExecutorConfig(sinks=[SinkConfig(name="bus", type="kafka", bootstrap=closed, topic="t", retry=retry)])
    first = deliver_outbox(settings, config)
    assert first.report.by_sink()["bus"]["retrying"] == 2 and closed in first.report.failed["bus"][0]
    assert "bootstrap" in first.report.failed["bus"][0]  # kafka-python: "Unable to bootstrap from …"

    def attempts():
        rows = {r["idempotency_key"]: r for r in table_rows(settings, DELIVERY_TABLE)}
        return [(rows[r.idempotency_key]["status"], rows[r.idempotency_key]["attempts"],
                 rows[r.idempotency_key]["updated_at"]) for r in (record(1), record(2))]

    (_, one, _), (_, two, waiting_since) = attempts()
    assert (one, two) == (1, 0)  # the record behind waits in order: not tried while the sink is failing
    deliver_outbox(settings, config)
    (_, one, _), (_, two, since) = attempts()
    assert (one, two) == (2, 0) and since == waiting_since  # still waiting, since the time it was first seen
    third = deliver_outbox(settings, config)
    assert third.report.by_sink()["bus"] == {"delivered": 0, "delivered_this_run": 0, "retrying": 1,
                                             "dead_letter": 1, "dead_lettered_this_run": 1, "attempts_this_run": 2}
    (status_one, one, _), (status_two, two, _) = attempts()
    # The first reached max_attempts and left the loop; the next one has its own budget and had its first try.
    assert (status_one, one, status_two, two) == ("dead_letter", 3, "retrying", 1)
    [dead] = table_rows(settings, DEAD_LETTER_TABLE)
    assert dead["idempotency_key"] == record(1).idempotency_key and "after 3 attempts" in dead["last_error"]


def materialize_delivery(settings, sinks=None):
    import dagster as dg

    from safecity.orchestration.defs.rules.delivery import action_delivery
    from safecity.orchestration.resources import platform_resources
    run_config = {"ops": {"ops__action_delivery": {"config": {"sinks": str(sinks)}}}} if sinks else None
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([action_delivery], resources=platform_resources("local", str(settings.paths.home)),
                                instance=instance, run_config=run_config)
    assert result.success
    [materialization] = result.asset_materializations_for_node("ops__action_delivery")
    [check] = result.get_asset_check_evaluations()
    return materialization.metadata, check


def test_dagster_asset_delivers_to_the_state_folder_and_its_check_fails_on_dead_letters(receiver, settings,
                                                                                        tmp_path, monkeypatch):
    import dagster as dg
    url, hook = receiver
    records = [record(1), record(2), record(3, "raise_alert")]
    write_outbox(settings, records)
    # No sink configuration: every action into rules/actions.jsonl in the state folder, no server needed.
    metadata, check = materialize_delivery(settings)
    assert metadata["by_sink"].value["file"]["delivered"] == 3 and metadata["file/delivered"].value == 3
    assert metadata["dead_letter"].value == 0 and check.passed and check.check_name == "dead_letters"
    lines = (settings.paths.home / "rules" / "actions.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["idempotency_key"] for line in lines) == sorted(r.idempotency_key for r in records)

    # A webhook that refuses one order (400): that order is dead-lettered and the check fails; the rest arrive.
    monkeypatch.setenv(SECRET_ENV, SECRET)
    hook.plan = [("status", 400, None)]
    metadata, check = materialize_delivery(settings, sinks_file(tmp_path, url))
    counts = metadata["by_sink"].value
    assert counts["command_hook"]["dead_letter"] == 1 and counts["command_hook"]["delivered"] == 1
    assert counts["ops_file"]["delivered"] == 3 and metadata["dead_letter"].value == 1
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["dead_letters"].value == 1 and records[0].idempotency_key[:16] in \
        check.metadata["listed"].value
    assert list(hook.accepted) == [records[1].idempotency_key]
