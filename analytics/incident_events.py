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
                    present: frozenset[str] = frozenset()) -> dict[str, pa.Table]:
    call_grid = cell_sql(city, "longitude", "latitude")
    reported = con.execute(f"""
        SELECT call_id AS incident_id, category, {call_grid} AS grid_id, division_code, received_at AS ts,
               NULL::BIGINT AS casualties, longitude, latitude,
               'incident_reported:' || call_id AS _batch_id, 0::BIGINT AS _line
        FROM silver.alarm_call WHERE received_at IS NOT NULL
        UNION ALL
        SELECT incident_id, '{TRAFFIC_CATEGORY}', {call_grid}, division_code, reported_at, casualties,
               longitude, latitude, 'incident_reported:' || incident_id, 0
        FROM silver.traffic_incident WHERE reported_at IS NOT NULL
        ORDER BY ts, incident_id""").to_arrow_table()
    assessed = con.execute("""
        SELECT incident_id, casualties, deaths, NULL::BIGINT AS serious_injuries, cleared_at AS ts,
               'incident_assessed:' || incident_id AS _batch_id, CAST(epoch(cleared_at) AS BIGINT) AS _line
        FROM silver.traffic_incident
        WHERE cleared_at IS NOT NULL AND (coalesce(casualties, 0) >= 1 OR coalesce(deaths, 0) >= 1)
        ORDER BY ts, incident_id""").to_arrow_table()
    closed = con.execute("""
        SELECT call_id AS incident_id, closed_at AS ts, 'incident_closed:' || call_id AS _batch_id, 0::BIGINT AS _line
        FROM silver.alarm_call WHERE closed_at IS NOT NULL
        ORDER BY ts, incident_id""").to_arrow_table()
    return {"incident_reported": reported, "incident_assessed": assessed, "incident_closed": closed}
