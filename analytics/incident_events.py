"""Incident events of the command platform (警情事件) for the command and emergency packs, from the 110 calls and
the traffic accident records in silver:

- incident_reported: every 110 call when it is received (the call id is the incident id; category and place are
  the call's), and every traffic incident when the traffic platform reports it (category 030000 traffic, with the
  casualties known at the report);
- incident_assessed: a traffic incident with casualties is assessed again when its scene is cleared, with the
  deaths and injuries of the accident record (the figures the emergency levels are graded by);
- incident_closed: a 110 call's incident closes when the call is closed. A traffic incident's clearance is the road
  being clear, not the incident closed, so it closes nothing here.

A place outside the city's extent has no grid cell (grid_id NULL): such an incident still escalates, but it joins
no camera by cell.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.config.grid import cell_sql
from safecity.config.profiles import CityProfile

TRAFFIC_CATEGORY = "030000"  # incident_category_110: 交通 (road traffic)


def incident_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                    present: frozenset[str] = frozenset({"silver.alarm_call", "silver.traffic_incident"})
                    ) -> dict[str, pa.Table]:
    """From whichever of the two sources the site has: a site with accident records and no call-taking export (the
    Edinburgh example) still reports, assesses and escalates its accidents."""
    grid = cell_sql(city, "longitude", "latitude")
    calls, accidents = "silver.alarm_call" in present, "silver.traffic_incident" in present
    reported = [f"""
        SELECT call_id AS incident_id, category, {grid} AS grid_id, division_code, received_at AS ts,
               NULL::BIGINT AS casualties, longitude::DOUBLE AS longitude, latitude::DOUBLE AS latitude,
               'incident_reported:' || call_id AS _batch_id, 0::BIGINT AS _line
        FROM silver.alarm_call WHERE received_at IS NOT NULL"""] if calls else []
    reported += [f"""
        SELECT incident_id, '{TRAFFIC_CATEGORY}' AS category, {grid} AS grid_id, division_code, reported_at AS ts,
               casualties::BIGINT AS casualties, longitude::DOUBLE AS longitude, latitude::DOUBLE AS latitude,
               'incident_reported:' || incident_id AS _batch_id, 0::BIGINT AS _line
        FROM silver.traffic_incident WHERE reported_at IS NOT NULL"""] if accidents else []
    assessed = """
        SELECT incident_id, casualties::BIGINT AS casualties, deaths::BIGINT AS deaths,
               NULL::BIGINT AS serious_injuries, cleared_at AS ts,
               'incident_assessed:' || incident_id AS _batch_id, CAST(epoch(cleared_at) AS BIGINT) AS _line
        FROM silver.traffic_incident
        WHERE cleared_at IS NOT NULL
          AND (coalesce(casualties, 0) >= 1 OR coalesce(deaths, 0) >= 1)"""
    closed = """
        SELECT call_id AS incident_id, closed_at AS ts, 'incident_closed:' || call_id AS _batch_id, 0::BIGINT AS _line
        FROM silver.alarm_call WHERE closed_at IS NOT NULL"""
    ordered = " UNION ALL ".join(reported) + " ORDER BY ts, incident_id"
    return {"incident_reported": con.execute(ordered).to_arrow_table(),
            "incident_assessed": _rows(con, assessed, accidents, ASSESSED),
            "incident_closed": _rows(con, closed, calls, CLOSED)}


# The event tables' columns when their source is missing (an empty table of the same shape).
ASSESSED = pa.schema([("incident_id", pa.string()), ("casualties", pa.int64()), ("deaths", pa.int64()),
                      ("serious_injuries", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")),
                      ("_batch_id", pa.string()), ("_line", pa.int64())])
CLOSED = pa.schema([("incident_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("_batch_id", pa.string()),
                    ("_line", pa.int64())])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, source_present: bool, empty: pa.Schema) -> pa.Table:
    if not source_present:
        return empty.empty_table()
    return con.execute(sql + " ORDER BY ts, incident_id").to_arrow_table()
