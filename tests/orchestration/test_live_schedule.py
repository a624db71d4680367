"""The live day's schedule: every event gets a time to be sent at; the register's timeless facts go out with the
first timed event (held back until it comes) or with the event before them, and none is lost or reordered."""
import datetime as dt

from safecity.orchestration.live_replay import Schedule
from safecity.standards.catalogue import load_catalogue

T = dt.datetime(2026, 7, 15, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_timeless_events_take_the_time_of_their_neighbour():
    events = [{"type": "camera_registered", "id": "r1", "device_id": "1"},
              {"type": "camera_registered", "id": "r2", "device_id": "2"},
              {"type": "alarm_received", "id": "a1", "received_at": T.isoformat()},
              {"type": "camera_registered", "id": "r3", "device_id": "3"},
              {"type": "alarm_received", "id": "a2", "received_at": (T + dt.timedelta(minutes=5)).isoformat()}]
    schedule = Schedule(events, load_catalogue())
    sent = [(e["id"], schedule.moment(e)) for e in schedule]
    assert sent == [("r1", T), ("r2", T), ("a1", T), ("r3", T), ("a2", T + dt.timedelta(minutes=5))]


def test_a_day_of_timeless_events_only_goes_out_at_once():
    events = [{"type": "camera_registered", "id": f"r{i}", "device_id": str(i)} for i in range(3)]
    schedule = Schedule(events, load_catalogue())
    sent = [(e["id"], schedule.moment(e)) for e in schedule]
    assert [i for i, _ in sent] == ["r0", "r1", "r2"] and len({m for _, m in sent}) == 1
