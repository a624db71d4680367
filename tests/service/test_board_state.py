"""The board's state derived from outbox rows: the rows are the shipped policies' own actions on the real rule
engine, and what the board shows is checked against a calculation from the raw events, not from the rows."""
from __future__ import annotations

import dataclasses

import pytest

from safecity.service.board_state import CLOSE_ACTION, LATEST, OutboxRow, derive
from tests.service.board_support import (BLIND_SPOT, CONGESTION, ESCALATION, assessed, closed, fire, reported,
                                         rows_of)


def expected_level(events: list[dict]) -> str | None:
    """The most severe level an incident's reports reach, straight from the thresholds of 《生产安全事故报告和调查
    处理条例》第三条 (deaths / serious injuries), written here independently of the policy file."""
    reached = None
    for e in events:
        deaths, serious, casualties = e.get("deaths", 0), e.get("serious_injuries", 0), e.get("casualties", 0)
        if e["type"] == "incident_assessed" and (deaths >= 30 or serious >= 100):
            level = 0
        elif e["type"] == "incident_assessed" and (deaths >= 10 or serious >= 50):
            level = 1
        elif e["type"] == "incident_assessed" and (deaths >= 3 or serious >= 10):
            level = 2
        elif casualties >= 1:
            level = 3
        else:
            continue
        reached = level if reached is None else min(reached, level)
    return None if reached is None else ("I", "II", "III", "IV")[reached]


DAY = "2025-03-01T{}:00+08:00"
LADDER = {
    # step by step to II, then a milder assessment that must not lower it
    "E1": [reported("E1", DAY.format("08:00"), casualties=2), assessed("E1", DAY.format("08:30"), casualties=6, deaths=3),
           assessed("E1", DAY.format("09:00"), casualties=40, deaths=11),
           assessed("E1", DAY.format("09:30"), casualties=2, deaths=0)],
    # straight to III by serious injuries alone, then the same level again
    "E2": [assessed("E2", DAY.format("08:10"), casualties=12, serious=12),
           assessed("E2", DAY.format("08:40"), casualties=12, deaths=4)],
    # IV only
    "E3": [reported("E3", DAY.format("08:20"), casualties=1)],
    # no casualties: never on the board
    "E4": [reported("E4", DAY.format("08:25"), casualties=0)],
}


def _merged(*groups: list[dict]) -> list[dict]:
    return sorted((e for g in groups for e in g), key=lambda e: e["ts"])


@pytest.fixture(scope="module")
def ladder_rows() -> list[OutboxRow]:
    return rows_of(fire(ESCALATION, _merged(*LADDER.values())))


def test_open_incidents_show_the_highest_level_each_reached(ladder_rows):
    state = derive(ladder_rows)
    shown = {i["incident_id"]: i["level"] for i in state["open_incidents"]}
    expected = {incident: expected_level(events) for incident, events in LADDER.items() if expected_level(events)}
    assert shown == expected == {"E1": "II", "E2": "III", "E3": "IV"}
    e2 = next(i for i in state["open_incidents"] if i["incident_id"] == "E2")
    assert (e2["label_zh"], e2["label_en"]) == ("Ⅲ级 较大", "Level III (Major)")
    # The most severe first.
    assert [i["incident_id"] for i in state["open_incidents"]] == ["E1", "E2", "E3"]
    # Reached at the assessment that crossed the threshold, opened at the first action.
    e1 = state["open_incidents"][0]
    assert (e1["opened_at"], e1["reached_at"]) == ("2025-03-01T00:00:00+00:00", "2025-03-01T01:00:00+00:00")
    # Rows that arrive out of order (two workers' commits) still give the highest level, not the last one read.
    late_first = [dataclasses.replace(r, seq=n) for n, r in enumerate(reversed(ladder_rows), start=1)]
    assert {i["incident_id"]: i["level"] for i in derive(late_first)["open_incidents"]} == expected


def test_an_incident_closed_by_its_event_leaves_the_open_list(ladder_rows):
    # The shipped ladder's close fires nothing: the board learns it from silver.incident_closed.
    more = rows_of(fire(ESCALATION, _merged(*LADDER.values(), [closed("E1", DAY.format("10:00"))])))
    assert [(r.action, r.params) for r in more] == [(r.action, r.params) for r in ladder_rows]
    state = derive(more, closed={"E1"})
    assert [i["incident_id"] for i in state["open_incidents"]] == ["E2", "E3"]
    assert state["closed_incidents"] == ["E1"]
    # A close action naming the incident closes it too (a site's ladder may give its close an action).
    closing = dataclasses.replace(more[-1], seq=len(more) + 1, action=CLOSE_ACTION, params={"incident_id": "E2"},
                                  idempotency_key="close-E2")
    assert [i["incident_id"] for i in derive([*more, closing])["open_incidents"]] == ["E1", "E3"]


def test_blind_spot_dispatch_and_camera_down_near_the_incident():
    down = {"type": "camera_down", "id": "camera_down:13030200001320000007:1740785100",
            "camera_id": "13030200001320000007", "grid_id": "G012034", "since": DAY.format("07:00")}
    incidents = [{"type": "incident_reported", "id": f"inc:{n}", "incident_id": n, "grid_id": grid,
                  "category": "010000", "ts": DAY.format(at)}
                 for n, grid, at in (("I1", "G012034", "08:00"), ("I2", "G099099", "08:05"), ("I3", "G012034", "08:10"))]
    state = derive(rows_of(fire(BLIND_SPOT, [down, *incidents])))
    near = {e["incident_id"] for e in incidents if e["grid_id"] == down["grid_id"]}
    assert {(c["camera_id"], c["incident_id"], c["grid_id"]) for c in state["cameras_down"]} == \
        {(down["camera_id"], i, down["grid_id"]) for i in near}
    assert sorted((d["unit_type"], d["target"], d["incident_id"]) for d in state["dispatch_orders"]) == \
        sorted(("drone", down["grid_id"], i) for i in near)
    # Newest first.
    assert [d["incident_id"] for d in state["dispatch_orders"]] == ["I3", "I1"]


def test_congestion_hot_spots_count_the_dispatches_per_junction():
    readings = [{"type": "congestion_reading", "id": f"c{n}", "junction_id": j, "congestion_index": x,
                 "ts": DAY.format(at)}
                for n, (j, x, at) in enumerate([("J0301", 8.5, "08:00"), ("J0301", 9.1, "08:05"), ("J0301", 8.0, "08:14"),
                                                ("J0302", 9.0, "08:00"), ("J0302", 7.0, "08:05"), ("J0302", 8.2, "08:30"),
                                                ("J0303", 9.5, "08:00"), ("J0303", 9.6, "08:03"), ("J0303", 9.7, "08:06")])]
    state = derive(rows_of(fire(CONGESTION, readings)))
    # Independently: a junction is hot when 3 readings >= 8 fall within 15 minutes.
    severe = {}
    for r in readings:
        if r["congestion_index"] >= 8:
            severe.setdefault(r["junction_id"], []).append(int(r["ts"][11:13]) * 60 + int(r["ts"][14:16]))
    hot = {j for j, t in severe.items() if any(t[i + 2] - t[i] <= 15 for i in range(len(t) - 2))}
    assert {s["junction_id"] for s in state["congestion"]} == hot == {"J0301", "J0303"}
    assert all(s["dispatches"] == 1 and s["signal_plan"] == "congestion_relief" for s in state["congestion"])
    assert all(s["reason"].startswith(f"路口 {s['junction_id']} 15 分钟内 3 次严重拥堵") for s in state["congestion"])


def test_latest_actions_are_the_newest_first_with_their_delivery(ladder_rows):
    many = [dataclasses.replace(ladder_rows[i % len(ladder_rows)], seq=i + 1, idempotency_key=f"k{i}")
            for i in range(LATEST + 7)]
    delivery = {"k56": [{"sink": "webhook", "status": "delivered", "attempts": 1}]}
    state = derive(many, delivery=delivery)
    assert [r["seq"] for r in state["latest"]] == list(range(LATEST + 7, 7, -1))
    assert state["latest"][0]["delivery"] == delivery["k56"] and state["latest"][1]["delivery"] == []
    assert state["delivery_known"] is True and state["actions"] == LATEST + 7
    assert derive(many)["delivery_known"] is False


def test_a_row_whose_params_are_not_json_names_the_row_and_field():
    row = {"policy_id": "p", "action": "a", "action_name_zh": "", "params": "{not json",
           "message": "", "matched_event_ids": [], "partition_key": "", "idempotency_key": "abc123",
           "fired_at": "2025-03-01T00:00:00+00:00"}
    with pytest.raises(ValueError, match=r"ops.outbox row 'abc123': field params is not JSON"):
        OutboxRow.from_arrow(1, row)


def test_grid_cells_are_placed_where_their_positions_are(settings):
    """A cell id (config/grid.py cell_id) goes back to a centre within half a cell of the position it came from,
    inside the map; anything else is not placed."""
    import math

    from safecity.config.grid import cell_centre, cell_id
    from safecity.service.board_map import MAP_H, MAP_W, CityMap

    city, board_map = settings.city, CityMap(settings)
    for d in city.divisions:
        lon, lat = d.centre
        grid = cell_id(city, lon, lat)
        centre_lon, centre_lat = cell_centre(city, grid)
        assert cell_id(city, centre_lon, centre_lat) == grid
        metres = math.hypot((centre_lon - lon) * 111_320 * math.cos(math.radians(lat)), (centre_lat - lat) * 110_574)
        assert metres <= city.grid_cell_m * math.sqrt(2) / 2 + 1
        x, y = board_map.cell_xy(grid)
        dx, dy = board_map.xy(lon, lat)
        assert 0 <= x <= MAP_W and 0 <= y <= MAP_H and math.hypot(x - dx, y - dy) < 5
    assert board_map.cell_xy("G0712") is None and board_map.cell_xy("J0301") is None
    assert board_map.cell_xy("G999999") is None  # outside the extent


def test_a_jammed_junction_the_site_lists_is_marked_where_it_stands(settings):
    """Congestion hot spots go on the map at their junction's position (the site's junctions.yaml); a junction the
    site does not list stays in the list only."""
    from safecity.config.junctions import load_junctions
    from safecity.service.board_map import CityMap

    board_map = CityMap(settings)
    [junction] = [j for j in load_junctions(settings.city) if j.id == "J005"]
    state = {"cameras_down": [], "dispatch_orders": [],
             "congestion": [{"junction_id": "J005", "dispatches": 2}, {"junction_id": "J0301", "dispatches": 1}]}
    [marker] = board_map.markers(state)
    x, y = board_map.xy(junction.lon, junction.lat)
    assert (marker["kind"], marker["x"], marker["y"]) == ("congestion", round(x, 1), round(y, 1))
    assert marker["label"].startswith("J005 ") and "×2" in marker["label"]
