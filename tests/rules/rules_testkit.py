"""Helpers shared by the rule-engine tests (a uniquely named module: `conftest` names collide across folders)."""
import datetime as dt


def camera(event_id, device_id, *, use_type="3", status="OFF", name="测试点位", **extra):
    event = {"type": "camera_registered", "id": event_id, "device_id": device_id, "name": name,
             "use_type": use_type, "status": status}
    event.update(extra)
    return event


def fixed_clock(*moments):
    """A clock returning the given moments in turn (the last one repeats)."""
    calls = []

    def clock():
        calls.append(1)
        return moments[min(len(calls), len(moments)) - 1]
    return clock


T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

GOOD_POLICY = """
id: camera.any_offline
version: 2
title: 治安或重点摄像机离线时派发维修工单
owner: 科技信息化处
priority: 3
partition_by: device_id
when:
  event: camera_registered
  where:
    status: { ne: "ON" }
    use_type: { in: ["1", "3"] }
actions:
  - action: create_work_order
    params: { category: camera_repair, device_id: "{{ m.device_id }}", description: "{{ m.name }} 离线", sla_hours: 4 }
  - action: raise_alert
    params: { level: info, channel: ops_center, message: "{{ m.name }} 已派单" }
"""
