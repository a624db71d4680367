"""Batch and stream agree on the simulated day: the live replay (`safecity simulate --live`) publishes the day's
events onto a real Kafka broker in event-time order, `rules route` re-keys them and two `rules serve` workers (each
holding half of every keyed topic's partitions) fire the same actions (the same idempotency keys) as the main job
wrote to ops.outbox, which the replay wrote down beside the files as the batch answer."""
import json
import uuid

import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.orchestration.live_replay import BATCH_ACTIONS, prepare_day, replay_day
from safecity.rules.engine import EVENT_TIME
from safecity.rules.loader import load_policies
from safecity.rules.streaming import keyed_topics, route, serve
from safecity.standards.catalogue import load_catalogue
from safecity.rules.events import event_time

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORKERS = 2


def test_the_live_day_through_two_workers_fires_what_the_batch_fired(main_day, kafka_bootstrap, tmp_path):
    settings, _ = main_day
    policies = load_policies()
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("ops",))
        batch = {r[0] for r in con.execute("SELECT idempotency_key FROM ops.outbox").fetchall()}
    raw = f"safecity.events.live_{uuid.uuid4().hex[:8]}"
    day = replay_day(settings, kafka_bootstrap, None, tmp_path, raw)
    assert day.events > 500 and len(batch) > 200
    assert set((tmp_path / BATCH_ACTIONS).read_text(encoding="utf-8").split()) == batch
    routed = route(kafka_bootstrap, [raw], f"router-{raw}", policies, partitions=[(raw, 0)],
                   keyed_partitions=WORKERS * 2, max_messages=day.events, idle_seconds=30)
    assert routed.messages == day.events and routed.undecodable == 0
    streamed, seen = [], 0
    for worker in range(WORKERS):
        mine = [(topic, p) for topic in keyed_topics([raw], policies) for p in range(worker, WORKERS * 2, WORKERS)]
        stats = serve(kafka_bootstrap, [raw], f"serve-{raw}", policies, lambda records, offsets: streamed.extend(records),
                      clock=EVENT_TIME, watch=False, idle_seconds=5, partitions=mine)
        assert stats.result.errors == [] and stats.result.rejected == []
        seen += stats.messages
    assert seen == routed.published
    keys = [r.idempotency_key for r in streamed]
    assert len(keys) == len(set(keys))
    assert set(keys) == batch


def test_the_live_day_is_published_in_event_time_order_at_the_asked_speed(main_day, kafka_bootstrap, tmp_path):
    """An hour of the day at 3,600× takes about a second of wall time, and the topic holds it in event-time order
    (the message timestamps keep the schedule)."""
    from kafka import KafkaConsumer, TopicPartition

    settings, _ = main_day
    catalogue = load_catalogue()
    raw = f"safecity.events.speed_{uuid.uuid4().hex[:8]}"
    day = replay_day(settings, kafka_bootstrap, 3600.0, tmp_path, raw)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    part = TopicPartition(raw, 0)
    consumer.assign([part])
    consumer.seek_to_beginning(part)
    messages = list(consumer)
    consumer.close()
    assert len(messages) == day.events
    events = [json.loads(m.value) for m in messages]
    moments = [event_time(e, catalogue) for e in events]
    timed = [(m, msg.timestamp) for m, msg in zip(moments, messages) if m is not None]
    assert [m for m, _ in timed] == sorted(m for m, _ in timed)
    span = (timed[-1][0] - timed[0][0]).total_seconds()
    wall = (timed[-1][1] - timed[0][1]) / 1000
    # The schedule's wall time (span / 3600), give or take the broker and a loaded machine: never faster.
    assert span / 3600 * 0.95 <= wall <= span / 3600 + 30


def test_the_live_day_needs_a_landing_of_its_own(tmp_path):
    from safecity.config.profiles import load_settings

    settings = load_settings("local", tmp_path / "home")
    settings.paths.landing.mkdir(parents=True)
    (settings.paths.landing / "calls.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="landing of its own"):
        prepare_day(settings, tmp_path)
