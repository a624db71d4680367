"""The keepalive-stream watcher's ticks and dedupe (analytics/camera_stream.py): each change published once, stays
re-published only as their minutes offline grow, camera_down asserted and retracted, ticks in event time, and a
restart from the checkpoint publishing nothing twice. Expected ids are computed here from the times by hand."""
import datetime as dt

import pyarrow as pa
import pytest

from safecity.analytics.camera_stream import CameraWatch, MessageError, Published, memory_inputs, parse_message, \
    unpublished
from safecity.config.profiles import load_settings

KEY_CAMERA = "13030200001320000001"     # use_type 3: a key point
OTHER = "13030200001320000002"
T0 = dt.datetime(2026, 7, 1, 8, 0)


def epoch(moment: dt.datetime) -> int:
    # The state machine works in local time without a zone; ids carry that wall-clock time's epoch seconds.
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds())


@pytest.fixture()
def settings(tmp_path):
    return load_settings("local", tmp_path / "home")


def registry() -> pa.Table:
    return pa.table({"device_id": [KEY_CAMERA, OTHER], "parent_id": pa.array([None, None], pa.string()),
                     "status": ["ON", "ON"], "longitude": [119.6, 119.61], "latitude": [39.93, 39.94],
                     "use_type": ["3", "1"], "position_type": pa.array([None, None], pa.string())})


def no_vqd() -> pa.Table:
    return pa.table({"device_id": pa.array([], pa.string()), "captured_at": pa.array([], pa.timestamp("us")),
                     "defect": pa.array([], pa.string())})


def watcher(settings, published: Published | None = None) -> CameraWatch:
    con = memory_inputs(settings, registry(), no_vqd())
    return CameraWatch(con, settings.city, published or Published(), interval_seconds=60, refresh_minutes=5)


def feed(watch: CameraWatch, until_minute: int, silent: range, events: list[dict], start_minute: int = 0) -> None:
    """Keepalives every minute from both cameras (KEY_CAMERA silent in `silent`), ticking as a stream would."""
    for minute in range(start_minute, until_minute):
        moment = T0 + dt.timedelta(minutes=minute)
        for as_of in watch.due(moment):
            events.extend(watch.tick(as_of).events)
        if minute not in silent:
            watch.add("Keepalive", KEY_CAMERA, "OK", moment)
        watch.add("Keepalive", OTHER, "OK", moment)


def test_an_outage_is_published_once_down_asserted_then_retracted(settings):
    watch, events = watcher(settings), []
    feed(watch, 40, range(10, 30), events)           # last heard 08:09, back at 08:30
    final = watch.finish()
    events += final.events
    down_at, back_at = T0 + dt.timedelta(minutes=9 + 3), T0 + dt.timedelta(minutes=30)
    changes = [(e["id"], e["status"]) for e in events if e["id"].startswith("camera_state_change:" + KEY_CAMERA)]
    assert changes == [(f"camera_state_change:{KEY_CAMERA}:{epoch(T0)}", "online"),
                       (f"camera_state_change:{KEY_CAMERA}:{epoch(down_at)}", "offline"),
                       (f"camera_state_change:{KEY_CAMERA}:{epoch(back_at)}", "online")]
    offline = next(e for e in events if e["id"] == f"camera_state_change:{KEY_CAMERA}:{epoch(down_at)}")
    assert (offline["point_level"], offline["reason_code"], offline["offline_minutes"]) == ("key", "offline", 0)
    assert offline["ts"] == "2026-07-01T08:12:00+08:00"
    down = [(e["id"], e.get("op")) for e in events if e["type"] == "camera_down"]
    fact = f"camera_down:{KEY_CAMERA}:{epoch(down_at)}"
    assert down == [(fact, None), (fact, "retract")]
    # The stay while offline: first when seen (tick 08:13, one minute offline), again each 5 minutes more.
    stays = [e["offline_minutes"] for e in events if e["id"] == f"camera_state:{KEY_CAMERA}:{epoch(down_at)}"]
    assert stays == [1, 6, 11, 16]
    # The other camera: its first keepalive and one stay, never again (its minutes stay 0).
    assert [e["id"] for e in events if e["camera_id"] == OTHER] == [
        f"camera_state_change:{OTHER}:{epoch(T0)}", f"camera_state:{OTHER}:{epoch(T0)}"]
    assert final.as_of == T0 + dt.timedelta(minutes=39)


def test_ticks_follow_event_time_and_a_restart_publishes_nothing_twice(settings, tmp_path):
    first, events = watcher(settings), []
    feed(first, 20, range(10, 30), events)
    assert first.published.last_tick == T0 + dt.timedelta(minutes=18)   # 08:19 arrived; the tick at 08:18 ran
    path = tmp_path / "camera_watch.json"
    first.published.save(path)
    # Restart: the topic read again from its start; ticks up to the checkpoint's are not run again.
    second, again = watcher(settings, Published.load(path)), []
    feed(second, 40, range(10, 30), again)
    again += second.finish().events
    assert not {e["id"] for e in again if e["id"].startswith("camera_state_change:")} & \
        {e["id"] for e in events if e["id"].startswith("camera_state_change:")}
    whole, expected = watcher(settings), []
    feed(whole, 40, range(10, 30), expected)
    expected += whole.finish().events
    assert [(e["id"], e.get("op"), e.get("offline_minutes")) for e in events + again] == \
        [(e["id"], e.get("op"), e.get("offline_minutes")) for e in expected]


def test_due_ticks_are_multiples_of_the_period_after_the_last(settings):
    watch = watcher(settings)
    assert watch.due(T0) == []
    watch.add("Keepalive", OTHER, "OK", T0 + dt.timedelta(seconds=30))
    watch.tick_seconds = 300
    assert watch.due(T0 + dt.timedelta(minutes=10)) == [T0 + dt.timedelta(minutes=5)]
    assert watch.due(T0 + dt.timedelta(minutes=10, seconds=1)) == [T0 + dt.timedelta(minutes=5),
                                                                     T0 + dt.timedelta(minutes=10)]
    watch.published.last_tick = T0 + dt.timedelta(minutes=10)
    assert watch.due(T0 + dt.timedelta(minutes=16)) == [T0 + dt.timedelta(minutes=15)]


def test_unpublished_dedupes_changes_and_refreshes_stays():
    published = Published()
    change = {"type": "camera_health", "id": "camera_state_change:A:1", "camera_id": "A", "status": "offline",
              "ts": "t1"}

    def stay(minutes, status="offline"):
        return ("camera_state:A:1", {"type": "camera_health", "id": "camera_state:A:1", "camera_id": "A",
                                     "status": status, "offline_minutes": minutes, "reason_code": "offline",
                                     "ts": f"t{minutes}"})
    fact = {"type": "camera_down", "id": "camera_down:A:1", "camera_id": "A", "since": "t1"}
    first = unpublished(published, [change], [stay(2)], [fact], refresh_minutes=30, final=False)
    assert [(e["id"], e.get("op")) for e in first] == [("camera_state_change:A:1", None),
                                                        ("camera_down:A:1", None), ("camera_state:A:1", None)]
    assert unpublished(published, [change], [stay(31)], [fact], refresh_minutes=30, final=False) == []
    assert [e["offline_minutes"] for e in
            unpublished(published, [change], [stay(32)], [fact], refresh_minutes=30, final=False)] == [32]
    # The stop flush publishes what changed since; nothing when nothing did.
    assert [e["offline_minutes"] for e in
            unpublished(published, [], [stay(40)], [fact], refresh_minutes=30, final=True)] == [40]
    assert unpublished(published, [], [stay(40)], [fact], refresh_minutes=30, final=True) == []
    gone = unpublished(published, [], [], [], refresh_minutes=30, final=False)
    assert gone == [{**fact, "op": "retract"}] and published.down == {}


def test_unreadable_messages_name_the_field(settings):
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Asia/Shanghai")
    assert parse_message(b'{"CmdType": "Keepalive", "DeviceID": "X", "Status": "OK", '
                         b'"Time": "2026-07-01T00:00:00+00:00"}', zone) == \
        ("Keepalive", "X", "OK", dt.datetime(2026, 7, 1, 8, 0))
    with pytest.raises(MessageError, match="DeviceID"):
        parse_message(b'{"CmdType": "Keepalive", "Time": "2026-07-01T08:00:00"}', zone)
    with pytest.raises(MessageError, match="Time"):
        parse_message(b'{"CmdType": "Keepalive", "DeviceID": "X", "Time": "yesterday"}', zone)
