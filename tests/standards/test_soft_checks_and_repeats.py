"""Soft checks (an entity's `flags`) and repeated keys told apart, in the one SQL conformer."""
import duckdb
import pyarrow as pa

from safecity.standards.conform import Conformer

CALL = {"call_id": "J1", "received_at": "2026-07-01 08:00:00", "dispatched_at": "2026-07-01 08:01:00",
        "arrived_at": "2026-07-01 08:09:00", "longitude": "119.60", "latitude": "39.94", "updated_at": None}


def judge(catalogue, entity, rows):
    conformer = Conformer(catalogue, entity)
    columns = conformer.source_columns()
    con = duckdb.connect()
    con.register("batch", pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns}
                                   | {"_line": pa.array(range(2, len(rows) + 2), pa.int64())}))
    out = con.execute(conformer.sql("batch", ("_line",), "_line").sql).to_arrow_table().to_pylist()
    return {r["_line"]: r for r in out}


def codes(reasons):
    return [(r["code"], r["field"]) for r in reasons]


def test_an_arrival_before_dispatch_flags_the_arrival_and_keeps_the_call(catalogue):
    [row] = judge(catalogue, "alarm_call", [{**CALL, "arrived_at": "2026-07-01 07:59:00"}]).values()
    assert row["_reasons"] == []
    assert codes(row["_flags"]) == [("E_ORDER", "arrived_at")]
    assert row["arrived_at"] is None and row["dispatched_at"] is not None


def test_a_placeholder_position_is_flagged_and_a_position_outside_the_city_rejected(catalogue):
    rows = judge(catalogue, "alarm_call", [{**CALL, "longitude": "0", "latitude": "0"},
                                           {**CALL, "call_id": "J2", "longitude": "116.40", "latitude": "39.90"}])
    assert rows[2]["_reasons"] == [] and codes(rows[2]["_flags"]) == [("E_PLACEHOLDER_POSITION", "longitude")]
    assert rows[2]["longitude"] is None and rows[2]["latitude"] is None
    assert codes(rows[3]["_reasons"]) == [("E_OUT_OF_AREA", "longitude")] and rows[3]["_flags"] == []


def test_a_division_centre_used_as_a_default_position_is_a_placeholder(catalogue):
    lon, lat = catalogue.city.divisions[0].centre
    rows = judge(catalogue, "alarm_call", [{**CALL, "longitude": str(lon), "latitude": str(lat)},
                                           {**CALL, "call_id": "J2", "longitude": str(lon + 0.001), "latitude": str(lat)}])
    assert codes(rows[2]["_flags"]) == [("E_PLACEHOLDER_POSITION", "longitude")] and rows[2]["longitude"] is None
    assert rows[3]["_flags"] == [] and rows[3]["longitude"] is not None  # 85 m away: a real place


def test_an_entity_without_flags_rejects_the_same_order_error(catalogue):
    rows = judge(catalogue, "case", [{"case_id": "A1", "case_type": "criminal", "category": "010000",
                                      "filed_at": "2026-07-01 09:00:00", "status": "solved",
                                      "solved_at": "2026-07-01 08:00:00"}])
    assert ("E_ORDER", "solved_at") in codes(rows[2]["_reasons"]) and "_flags" not in rows[2]


def test_exact_copies_versions_and_collisions_get_their_own_outcome(catalogue):
    v1 = {**CALL, "updated_at": "2026-07-01 08:09:00"}
    rows = judge(catalogue, "alarm_call", [
        v1, dict(v1),                                              # an exact copy
        {**v1, "arrived_at": "2026-07-01 08:10:00", "updated_at": "2026-07-01 08:30:00"},   # a new version
        {**v1, "arrived_at": "2026-07-01 08:11:00"},               # other content, same version: a collision
    ])
    assert rows[2]["_reasons"] == []
    assert codes(rows[3]["_reasons"]) == [("E_DUPLICATE_ROW", "call_id")]
    assert rows[4]["_reasons"] == []
    assert codes(rows[5]["_reasons"]) == [("E_DUPLICATE_KEY", "call_id")]


def test_an_event_with_other_content_under_its_key_is_a_collision(catalogue):
    unit = {"call_id": "C1", "unit_id": "M5", "dispatched_at": "2026-07-01 08:00:00"}
    rows = judge(catalogue, "dispatched_unit", [unit, {**unit, "dispatched_at": "2026-07-01 08:05:00"}, dict(unit)])
    assert rows[2]["_reasons"] == []
    assert codes(rows[3]["_reasons"]) == [("E_DUPLICATE_KEY", "call_id")]
    assert codes(rows[4]["_reasons"]) == [("E_DUPLICATE_ROW", "call_id")]
