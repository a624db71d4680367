"""Allowed lateness (issue 18): the classification both modes use, the streaming engine's judgement per partition
clock (kept across a checkpoint), and `serve` on a real broker: an out-of-order event within the lateness fires, one
beyond it is counted and kept, not evaluated. The batch mode's proof is in test_policy_outbox_asset.py."""
import datetime as dt
import json
import uuid

import pytest

from safecity.rules.batch import judge_arrivals
from safecity.rules.arrivals import Arrivals
from safecity.rules.engine import EVENT_TIME, PolicyEngine, evaluate
from safecity.rules.lateness import LATE, ON_TIME, TOO_LATE, classify
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.streaming import jsonl_late, keyed_topic, publish_events, route, serve

CST = dt.timezone(dt.timedelta(hours=8))
CONGESTION = POLICIES_DIR / "command" / "junction_congestion.yaml"  # 3 readings >= 8 within 15 min per junction
BLIND_SPOT = POLICIES_DIR / "command" / "blind_spot_incident.yaml"  # camera_down fact + incident in one grid cell


def at(hour, minute):
    return dt.datetime(2025, 3, 1, hour, minute, tzinfo=CST)


def reading(event_id, junction, when):
    return {"type": "congestion_reading", "id": event_id, "junction_id": junction, "congestion_index": 9.0,
            "ts": when.isoformat()}


@pytest.mark.parametrize("behind, expected", [(-60, ON_TIME), (0, ON_TIME), (1, LATE), (900, LATE),
                                              (901, TOO_LATE), (7200, TOO_LATE)])
def test_classify_against_the_clock_and_the_allowed_lateness(behind, expected):
    clock = at(9, 0).timestamp()
    assert classify(clock - behind, clock, 900) == expected


def test_nothing_is_late_before_the_clock_has_seen_an_event():
    assert classify(at(8, 0).timestamp(), None, 0) == ON_TIME


def test_batch_judges_arrivals_at_or_before_the_watermark_as_within_or_beyond():
    watermark = at(11, 0)
    arrivals = Arrivals(True, {"camera_health": [("a:1", at(11, 0)), ("a:2", at(10, 45)), ("a:3", at(10, 44))]})
    within, beyond = judge_arrivals(arrivals, watermark, 900)
    assert within == {"camera_health": {"a:1", "a:2"}}
    assert [(e.event_id, e.event_time, e.clock, e.mode) for e in beyond] == [
        ("a:3", at(10, 44), watermark, "batch")]


def test_stream_engine_evaluates_out_of_order_within_lateness_and_keeps_what_is_beyond():
    events = [reading("a1", "J1", at(8, 50)), reading("a2", "J1", at(8, 55)), reading("b1", "J2", at(9, 0)),
              reading("a3", "J1", at(8, 52)),  # 8 minutes behind the clock: evaluated, completes J1's window
              reading("c1", "J3", at(8, 0)), reading("c2", "J3", at(8, 2)), reading("c3", "J3", at(8, 4))]
    policy = load_policy(CONGESTION)
    with PolicyEngine([policy], clock=EVENT_TIME, lateness=900) as engine:
        engine.post_many(events)
        result = engine.result()
    fired = sorted({tuple(r.matched_event_ids) for r in result.outbox})
    assert fired == [("a1", "a2", "a3")]
    assert [(e.event_id, e.event_time, e.clock, e.lateness_seconds, e.mode) for e in result.late] == [
        (i, at(8, m).astimezone(dt.timezone.utc), at(9, 0).astimezone(dt.timezone.utc), 900, "stream")
        for i, m in (("c1", 0), ("c2", 2), ("c3", 4))]
    # Without a lateness (batch, replay) the same order fires J3 too: the late readings were really not evaluated.
    everything = evaluate([policy], events, clock=EVENT_TIME)
    assert sorted({tuple(r.matched_event_ids) for r in everything.outbox}) == [("a1", "a2", "a3"), ("c1", "c2", "c3")]


def test_a_late_fact_is_still_asserted():
    down = {"type": "camera_down", "id": "d1", "camera_id": "13030200001320000007", "grid_id": "G1",
            "since": at(7, 0).isoformat()}
    incident = {"type": "incident_reported", "id": "i1", "incident_id": "I1", "grid_id": "G1", "category": "010000",
                "ts": at(9, 1).isoformat()}
    opening = {**incident, "id": "i0", "incident_id": "I0", "grid_id": "G9", "ts": at(9, 0).isoformat()}
    with PolicyEngine([load_policy(BLIND_SPOT)], clock=EVENT_TIME, lateness=900) as engine:
        engine.post_many([opening, down, incident])  # the fact's time is 2 h behind the clock when it comes
        result = engine.result()
    assert result.late == [] and {tuple(r.matched_event_ids) for r in result.outbox} == {("d1", "i1")}


def test_a_restored_engine_judges_with_the_clock_of_the_checkpoint():
    policy = load_policy(CONGESTION)
    with PolicyEngine([policy], clock=EVENT_TIME, lateness=900) as engine:
        engine.post_many([reading("a1", "J1", at(9, 0))])
        state = json.loads(json.dumps(engine.export_state()))  # as checkpoint.py stores it
    with PolicyEngine([policy], clock=EVENT_TIME, lateness=900) as restored:
        restored.restore_state(state)
        restored.post_many([reading("x1", "J2", at(8, 40)), reading("x2", "J2", at(8, 50))])
        result = restored.result()
    assert [e.event_id for e in result.late] == ["x1"]  # 20 min behind 09:00; x2 (10 min) was evaluated


def test_serve_on_a_broker_fires_a_late_event_within_lateness_and_keeps_one_beyond(kafka_bootstrap, tmp_path):
    from kafka.admin import KafkaAdminClient, NewTopic

    raw = f"safecity.events.late_{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(raw, num_partitions=1, replication_factor=1)])
    admin.close()
    events = [reading("a1", "J1", at(8, 50)), reading("a2", "J1", at(8, 55)), reading("b1", "J2", at(9, 0)),
              reading("a3", "J1", at(8, 52)), reading("c1", "J3", at(8, 0)), reading("c2", "J3", at(8, 2)),
              reading("c3", "J3", at(8, 4))]
    for event in events:  # one by one, in this order: the broker keeps it within the partition
        publish_events(kafka_bootstrap, raw, [event], "junction_id")
    policies = [load_policy(CONGESTION)]
    route(kafka_bootstrap, [raw], "rules-router-late", policies, partitions=[(raw, 0)], keyed_partitions=1,
          max_messages=len(events), idle_seconds=30)
    records, kept = [], tmp_path / "outbox.jsonl.late.jsonl"
    stats = serve(kafka_bootstrap, [raw], "rules-serve-late", policies, lambda rs, offsets: records.extend(rs), clock=EVENT_TIME,
                  watch=False, idle_seconds=5, max_messages=len(events),
                  partitions=[(keyed_topic(raw, "junction_id"), 0)], lateness=900, late=jsonl_late(kept))
    assert stats.messages == len(events)
    assert sorted({tuple(r.matched_event_ids) for r in records}) == [("a1", "a2", "a3")]
    assert stats.late_by_type == {"congestion_reading": 3}
    rows = [json.loads(line) for line in kept.read_text(encoding="utf-8").splitlines()]
    assert [(r["event_id"], r["clock"], r["lateness_seconds"], r["mode"], r["run"]) for r in rows] == [
        (i, at(9, 0).astimezone(dt.timezone.utc).isoformat(), 900, "stream", f"{keyed_topic(raw, 'junction_id')}.0")
        for i in ("c1", "c2", "c3")]
    assert all("not evaluated" in r["reason"] for r in rows)
