"""Batch and stream camera health agree on the simulated day: the day's keepalives (the landing heartbeat files, in
time order) published on a real broker, the watcher (`cameras watch`) run over them to the end of the day, and what it
published compared with what the main job's camera health step wrote to silver (camera_health, camera_down) and with
the actions the main job's rule run fired on them (ops.outbox)."""
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from safecity.analytics.camera_stream import watch
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.rules.engine import EVENT_TIME
from safecity.rules.events import silver_events
from safecity.rules.loader import load_policies
from safecity.rules.streaming import publish_events
from safecity.rules.worker import evaluate_supervised
from safecity.standards.catalogue import load_catalogue
from tests.rules.test_policy_streaming import create_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FIELDS = ("status", "reason_code", "point_level", "grid_id")
CAMERA_POLICIES = ("camera.key_point_offline", "security.camera_repair_deadline", "command.blind_spot_incident")


def read_topic(bootstrap: str, topic: str) -> list[dict]:
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    events = []
    while consumer.position(partition) < end:
        for records in consumer.poll(timeout_ms=1000).values():
            events += [json.loads(r.value) for r in records]
    consumer.close()
    return events


def fields(event: dict) -> tuple:
    return tuple(event.get(f) for f in FIELDS)


@pytest.fixture(scope="module")
def watched(main_day, kafka_bootstrap, tmp_path_factory):
    return watch_the_day(main_day[0], kafka_bootstrap, tmp_path_factory.mktemp("watch") / "camera_watch.json")


def watch_the_day(settings, kafka_bootstrap, checkpoint):
    files = sorted((settings.paths.landing / "heartbeats").glob("status_*.jsonl"))
    assert files, f"no heartbeat files under {settings.paths.landing}"
    messages = [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]
    messages.sort(key=lambda m: dt.datetime.fromisoformat(m["Time"]))  # stable: the file's order within an instant
    raw, out = (f"gb28181.device_status.{uuid.uuid4().hex[:8]}", f"safecity.events.cam_{uuid.uuid4().hex[:8]}")
    create_topic(kafka_bootstrap, raw, 3)           # as the simulator's topic: keyed by device over 3 partitions
    create_topic(kafka_bootstrap, out, 1)
    assert publish_events(kafka_bootstrap, raw, messages, "DeviceID") == len(messages)
    catalogue = load_catalogue()
    defects = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["vqd_item"].codes}
    ticked = []     # (tick, ids published at it): when each event became known, for the blind-spot replay
    summary = watch(settings, kafka_bootstrap, topic=raw, out_topic=out, idle_seconds=5, defect_names=defects,
                    checkpoint=checkpoint, on_tick=lambda t: ticked.append((t.as_of, [e["id"] for e in t.events])))
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver",))
        batch = list(silver_events(con, catalogue, only={"camera_health", "camera_down"}))
        incidents = list(silver_events(con, catalogue, only={"incident_reported"}))
        as_of = con.execute("SELECT max(timezone(?, reported_at)) FROM silver.device_status",
                            [settings.city.timezone]).fetchone()[0]
        fired = con.execute("SELECT policy_id, idempotency_key FROM ops.outbox WHERE policy_id IN ?",
                            [list(CAMERA_POLICIES)]).fetchall()
    return (summary, read_topic(kafka_bootstrap, out), batch, messages, as_of, fired, ticked, incidents,
            (raw, out, checkpoint))


def test_changes_and_down_facts_equal_the_batch(watched):
    summary, stream, batch, messages, as_of, *_ = watched
    assert summary.messages == len(messages) and summary.unreadable == 0
    assert summary.last_tick == as_of                # the stop flush runs at the data clock, the batch's as_of
    changes = {e["id"]: fields(e) for e in stream if e["id"].startswith("camera_state_change:")}
    expected = {e["id"]: fields(e) for e in batch if e["id"].startswith("camera_state_change:")}
    assert len(changes) == len([e for e in stream if e["id"].startswith("camera_state_change:")])  # once each
    assert {s for s, *_ in expected.values()} >= {"online", "offline"}
    assert changes == expected
    held: dict[str, dict] = {}
    for event in (e for e in stream if e["type"] == "camera_down"):
        if event.get("op") == "retract":
            assert held.pop(event["id"])["since"] == event["since"]
        else:
            assert event["id"] not in held
            held[event["id"]] = event
    batch_down = {e["id"]: (e["since"], *fields(e)[1:]) for e in batch if e["type"] == "camera_down"}
    assert batch_down and {i: (e["since"], *fields(e)[1:]) for i, e in held.items()} == batch_down
    # The stream saw outages the end-of-day batch no longer holds (the camera came back): asserted, then retracted.
    assert sum(1 for e in stream if e.get("op") == "retract") > 0


def test_stays_relate_to_the_batch_as_of(watched):
    _, stream, batch, _, as_of, *_ = watched
    last = {}
    for event in stream:
        if event["id"].startswith("camera_state:"):
            last[event["id"]] = event
    batch_stays = {e["id"]: e for e in batch if e["id"].startswith("camera_state:")}
    batch_changes = {e["id"].replace("camera_state_change:", "camera_state:"): e for e in batch
                     if e["id"].startswith("camera_state_change:")}
    clock = f"{as_of.isoformat()}+08:00"
    compared = 0
    for stay_id, expected in batch_stays.items():
        if expected["status"] == "never_streamed":
            continue  # no `since`: the batch's id is its as_of's, the stream's its first tick's (below)
        got = last[stay_id]                          # every stay the batch holds, the stream published
        assert fields(got) == fields(expected)
        # Minutes offline as of the end: the stop flush re-published every stay whose minutes changed.
        assert got["offline_minutes"] == expected["offline_minutes"]
        assert got["ts"] == clock if got["offline_minutes"] else got["ts"] <= expected["ts"] == clock
        compared += 1
    assert compared > 100
    never = {e["camera_id"] for e in batch_stays.values() if e["status"] == "never_streamed"}
    assert never <= {e["camera_id"] for e in last.values() if e["status"] == "never_streamed"}
    # Stays the stream published that the batch no longer has ended before the day did: each began with a change.
    ended = [i for i, e in last.items() if i not in batch_stays and e["status"] != "never_streamed"]
    assert ended and all(i in batch_changes and batch_changes[i]["status"] == last[i]["status"] for i in ended)


def test_camera_policies_fire_the_batch_keys_on_the_streamed_events(watched):
    _, stream, batch, _, _, fired, *_ = watched
    policies = [p for p in load_policies() if p.id in CAMERA_POLICIES[:2]]
    outcome, _ = evaluate_supervised(policies, stream, clock=EVENT_TIME)
    assert outcome.errors == [] and outcome.rejected == []
    got = {(r.policy_id, r.idempotency_key) for r in outcome.outbox}
    key_point = {k for p, k in fired if p == "camera.key_point_offline"}
    assert key_point and {k for p, k in got if p == "camera.key_point_offline"} == key_point
    # The repair table fires on a stay once its minutes pass the level's limit. The batch sees each camera's stay
    # as of the day's end only; the stream re-publishes stays as their minutes grow, so it also fires for outages
    # that passed the limit and ended before the day did: every batch key, plus those, and nothing else.
    repair = {k for p, k in fired if p == "security.camera_repair_deadline"}
    streamed = {r.idempotency_key: r for r in outcome.outbox if r.policy_id == "security.camera_repair_deadline"}
    assert repair and repair <= set(streamed)
    batch_stays = {e["id"] for e in batch if e["id"].startswith("camera_state:")}
    batch_offline = {e["id"].replace("camera_state_change:", "camera_state:") for e in batch
                     if e["id"].startswith("camera_state_change:") and e["status"] == "offline"}
    for key in set(streamed) - repair:
        (stay,) = streamed[key].matched_event_ids
        assert stay not in batch_stays and stay in batch_offline, stay


def test_blind_spot_fires_the_batch_keys_with_facts_as_the_watcher_knew_them(watched):
    """Incidents (silver) and the watcher's camera_down asserts and retracts merged in the order they would meet
    live: a fact at the tick that published it, an incident at its time. The batch holds the cameras down at the
    day's end, each placed at its `since`. The two differ only for an incident between a camera's `since` and the
    tick that noticed it (up to three keepalive intervals plus a tick: batch fires, stream not yet) or during an
    outage that ended before the day did (stream fires, batch never knew it); the simulated day has neither."""
    _, stream, _, _, _, fired, ticked, incidents, _ = watched
    zone = ZoneInfo("Asia/Shanghai")
    ticks: dict[str, list] = {}
    for tick, ids in ticked:
        for event_id in ids:
            ticks.setdefault(event_id, []).append(tick.replace(tzinfo=zone))
    seen: dict[str, int] = {}
    timed = []
    for number, event in enumerate(e for e in stream if e["type"] == "camera_down"):
        nth = seen[event["id"]] = seen.get(event["id"], -1) + 1
        timed.append((ticks[event["id"]][nth], 0, number, event))
    timed += [(dt.datetime.fromisoformat(e["ts"]), 1, n, e) for n, e in enumerate(incidents)]
    timed.sort(key=lambda item: item[:3])
    assert any(e.get("op") == "retract" for *_, e in timed)
    policies = [p for p in load_policies() if p.id == "command.blind_spot_incident"]
    outcome, _ = evaluate_supervised(policies, [e for *_, e in timed], clock=EVENT_TIME)
    assert outcome.errors == []
    expected = {k for p, k in fired if p == "command.blind_spot_incident"}
    assert expected and {r.idempotency_key for r in outcome.outbox} == expected


def test_a_restart_through_the_command_publishes_nothing_again(watched, main_day, kafka_bootstrap):
    """`safecity cameras watch` on the same topic with the same checkpoint: the topic is read again from its start,
    no tick is run again and nothing is published twice."""
    from typer.testing import CliRunner

    from safecity.orchestration.cli import app
    summary, stream, *_, (raw, out, checkpoint) = watched
    assert len(stream) == sum(summary.published.values())
    result = CliRunner().invoke(app, ["cameras", "watch", "--bootstrap", kafka_bootstrap, "--topic", raw,
                                      "--out-topic", out, "--checkpoint", str(checkpoint), "--idle-seconds", "3",
                                      "--home", str(main_day[0].paths.home)])
    assert result.exit_code == 0, result.output
    assert f"消息 messages: {summary.messages:,}" in result.output and "节拍 ticks: 0," in result.output
    assert len(read_topic(kafka_bootstrap, out)) == len(stream)
