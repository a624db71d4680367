import datetime as dt
import hashlib
import json

import pyarrow as pa
import pytest
from rules_testkit import T0, camera, fixed_clock

from safecity.rules.engine import PolicyEngine, evaluate
from safecity.rules.loader import load_policy
from safecity.rules.outbox import OUTBOX_SCHEMA, OutboxRecord, to_arrow

UTC = dt.timezone.utc
KEY = "camera.key_point_offline"


def expected_key(policy_id, version, action_index, event_ids):
    payload = json.dumps([policy_id, version, action_index, sorted(event_ids)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


EVENTS = [
    camera("e1", "13030200001320000001", name="人民广场东口"),
    camera("e2", "13030200001320000002", status="ON"),
    camera("e3", "13030200001320000003", use_type="1"),
    camera("e4", "13030200001320000004", name="火车站北广场"),
    {"type": "junction_congested", "id": "j1", "junction_id": "J1"},
]


def test_outbox_records_for_a_handful_of_events(shipped):
    result = evaluate([shipped], EVENTS, clock=fixed_clock(T0, T0 + dt.timedelta(seconds=5)))
    assert result.outbox == [
        OutboxRecord(
            policy_id=KEY, policy_version=1, policy_file_sha256=hashlib.sha256(shipped.path.read_bytes()).hexdigest(),
            action="raise_alert", action_name_zh="告警",
            params={"level": "warning", "channel": "ops_center",
                    "message": "重点点位摄像机 人民广场东口（13030200001320000001）登记状态为离线，请核查"},
            message="重点点位摄像机 人民广场东口（13030200001320000001）登记状态为离线，请核查",
            matched_event_ids=["e1"], partition_key="13030200001320000001",
            idempotency_key=expected_key(KEY, 1, 0, ["e1"]), fired_at=dt.datetime(2025, 3, 1, 0, 0, tzinfo=UTC)),
        OutboxRecord(
            policy_id=KEY, policy_version=1, policy_file_sha256=shipped.sha256,
            action="raise_alert", action_name_zh="告警",
            params={"level": "warning", "channel": "ops_center",
                    "message": "重点点位摄像机 火车站北广场（13030200001320000004）登记状态为离线，请核查"},
            message="重点点位摄像机 火车站北广场（13030200001320000004）登记状态为离线，请核查",
            matched_event_ids=["e4"], partition_key="13030200001320000004",
            idempotency_key=expected_key(KEY, 1, 0, ["e4"]), fired_at=dt.datetime(2025, 3, 1, 0, 0, 5, tzinfo=UTC)),
    ]
    assert dict(result.unhandled) == {(KEY, "camera_registered"): 2}
    assert result.unhandled_by_type() == {"camera_registered": 2}
    assert dict(result.unrouted) == {"junction_congested": 1}
    assert result.errors == [] and result.rejected == []


def test_idempotency_key_is_stable_across_runs_and_depends_on_policy_version(shipped):
    first = evaluate([shipped], EVENTS, clock=fixed_clock(T0))
    second = evaluate([shipped], list(reversed(EVENTS)), clock=fixed_clock(T0 + dt.timedelta(days=1)))
    assert sorted(r.idempotency_key for r in first.outbox) == sorted(r.idempotency_key for r in second.outbox)
    assert first.outbox[0].fired_at != second.outbox[-1].fired_at
    bumped = type(shipped)(shipped.policy.model_copy(update={"version": 2}), shipped.path, shipped.sha256)
    third = evaluate([bumped], EVENTS[:1], clock=fixed_clock(T0))
    assert third.outbox[0].idempotency_key != first.outbox[0].idempotency_key


def test_each_event_reaches_every_subscribed_policy_and_all_actions_fire(shipped, good_policy):
    other = load_policy(good_policy)
    result = evaluate([shipped, other], [camera("e1", "13030200001320000001", name="东口"),
                                         camera("e2", "13030200001320000002", use_type="1", name="西口")],
                      clock=fixed_clock(T0))
    fired = [(r.policy_id, r.action, r.matched_event_ids) for r in result.outbox]
    assert fired == [(KEY, "raise_alert", ["e1"]),
                     ("camera.any_offline", "create_work_order", ["e1"]),
                     ("camera.any_offline", "raise_alert", ["e1"]),
                     ("camera.any_offline", "create_work_order", ["e2"]),
                     ("camera.any_offline", "raise_alert", ["e2"])]
    order = result.outbox[1]
    assert order.params == {"category": "camera_repair", "device_id": "13030200001320000001",
                            "description": "东口 离线", "sla_hours": 4}
    assert order.message == "工单（4 小时内处理）：东口 离线"
    assert order.idempotency_key != result.outbox[2].idempotency_key  # the action index is part of the key
    assert dict(result.unhandled) == {(KEY, "camera_registered"): 1}


def test_events_the_engine_would_misread_are_rejected(shipped):
    # durable would match the integer 3 against the rule's "3": wrong field types never reach it.
    result = evaluate([shipped], [camera("e1", "13030200001320000001", use_type=3),
                                  {**camera("e2", "x"), "device_id": None},
                                  camera("", "13030200001320000003"),
                                  camera("e4", "13030200001320000004")], clock=fixed_clock(T0))
    assert [(r.event_id, r.policy_id) for r in result.rejected] == [("e1", None), ("e2", KEY), ("", None)]
    assert "use_type" in result.rejected[0].reason
    assert [r.matched_event_ids for r in result.outbox] == [["e4"]]


def test_more_partitions_than_the_durable_sid_cap(shipped):
    events = [camera(f"e{i}", f"1303020000132{i:07d}") for i in range(1100)]
    result = evaluate([shipped], events, clock=fixed_clock(T0))
    assert len(result.outbox) == 1100 and result.errors == []


def test_exception_inside_an_action_is_recorded_once(shipped):
    calls = []

    def clock():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("clock unavailable")
        return T0

    result = evaluate([shipped], [camera("e1", "13030200001320000001"), camera("e2", "13030200001320000001")],
                      clock=clock)
    assert [(e.code, e.policy_id, e.partition_key, e.event_ids) for e in result.errors] == [
        ("E_ACTION_EXCEPTION", KEY, "13030200001320000001", ["e1"])]
    assert "clock unavailable" in result.errors[0].message
    assert [r.matched_event_ids for r in result.outbox] == [["e2"]]


def test_naive_clock_is_an_error(shipped):
    result = evaluate([shipped], [camera("e1", "13030200001320000001")], clock=lambda: dt.datetime(2025, 1, 1))
    assert [e.code for e in result.errors] == ["E_ACTION_EXCEPTION"] and result.outbox == []


def test_render_and_fire_time_param_errors_drop_the_whole_firing(shipped, write_policy):
    result = evaluate([shipped], [{k: v for k, v in camera("e1", "13030200001320000001").items() if k != "name"}],
                      clock=fixed_clock(T0))
    assert [(e.code, e.event_ids) for e in result.errors] == [("E_RENDER", ["e1"])]
    assert "m.name" in result.errors[0].message and result.outbox == []

    templated = load_policy(write_policy("""
        id: camera.templated_int
        version: 1
        title: 模板整数参数
        owner: 科技信息化处
        priority: 1
        partition_by: device_id
        when: { event: camera_registered }
        actions:
          - action: raise_alert
            params: { level: info, channel: ops_center, message: "{{ m.name }}" }
          - action: create_work_order
            params: { category: camera_repair, description: x, sla_hours: "{{ m.longitude }}" }
    """))
    events = [camera("e1", "13030200001320000001", longitude=119.6), camera("e2", "13030200001320000002", longitude=4)]
    result = evaluate([templated], events, clock=fixed_clock(T0))
    assert [(e.code, e.event_ids) for e in result.errors] == [("E_ACTION_PARAM", ["e1"])]
    assert "sla_hours" in result.errors[0].message
    assert [(r.action, r.matched_event_ids) for r in result.outbox] == [("raise_alert", ["e2"]),
                                                                       ("create_work_order", ["e2"])]
    assert result.outbox[1].params["sla_hours"] == 4


def test_engine_keeps_results_across_posts_and_refuses_after_close(shipped):
    engine = PolicyEngine([shipped], clock=fixed_clock(T0))
    engine.post(camera("e1", "13030200001320000001"))
    engine.post(camera("e2", "13030200001320000002"))
    assert [r.matched_event_ids for r in engine.result().outbox] == [["e1"], ["e2"]]
    engine.close()
    with pytest.raises(RuntimeError):
        engine.post(camera("e3", "13030200001320000003"))
    with pytest.raises(ValueError):
        PolicyEngine([shipped, shipped])


def test_outbox_to_arrow(shipped):
    records = evaluate([shipped], EVENTS, clock=fixed_clock(T0)).outbox
    table = to_arrow(records)
    assert table.schema == OUTBOX_SCHEMA
    assert all(f.nullable for f in OUTBOX_SCHEMA)
    assert OUTBOX_SCHEMA.field("matched_event_ids").type == pa.list_(pa.string())
    assert OUTBOX_SCHEMA.field("fired_at").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert [json.loads(row["params"]) for row in rows] == [r.params for r in records]
    assert [row["matched_event_ids"] for row in rows] == [["e1"], ["e4"]]
    assert rows[0]["fired_at"] == dt.datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert rows[0]["idempotency_key"] == records[0].idempotency_key
    assert to_arrow([]).num_rows == 0
