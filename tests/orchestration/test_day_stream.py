"""Batch and stream agree on the simulated day: the events the main job evaluated, replayed in event-time order onto
a real Kafka broker, re-keyed by `rules route` and consumed by two `rules serve` workers (each holding half of every
keyed topic's partitions), fire the same actions (the same idempotency keys) as the main job wrote to ops.outbox."""
import uuid

import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.rules.engine import EVENT_TIME
from safecity.rules.events import read_types, silver_events
from safecity.rules.loader import load_policies
from safecity.rules.streaming import keyed_topics, publish_events, route, serve
from safecity.standards.catalogue import load_catalogue
from tests.rules.test_policy_streaming import create_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORKERS = 2


def test_the_day_streamed_through_two_workers_fires_what_the_batch_fired(main_day, kafka_bootstrap):
    settings, _ = main_day
    policies = load_policies()
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver",))
        events = list(silver_events(con, load_catalogue(), facts=set(), only=read_types(policies)))
        batch = {r[0] for r in con.execute("SELECT idempotency_key FROM ops.outbox").fetchall()}
    assert len(events) > 500 and len(batch) > 200
    raw = f"safecity.events.day_{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, raw, 1)  # one partition: the router reads the day in event-time order
    assert publish_events(kafka_bootstrap, raw, events, "type") == len(events)
    routed = route(kafka_bootstrap, [raw], f"router-{raw}", policies, partitions=[(raw, 0)],
                   keyed_partitions=WORKERS * 2, max_messages=len(events), idle_seconds=30)
    assert routed.messages == len(events) and routed.undecodable == 0
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
