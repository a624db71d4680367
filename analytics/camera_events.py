"""What the rule engine reads of camera health: camera_health events (standards/events/camera_health.yaml) and
camera_down facts (camera_down.yaml), derived from the camera state machine's changes and current states."""
from __future__ import annotations

import duckdb
import pyarrow as pa

from safecity.analytics.camera_state import FAULT_TYPES
from safecity.analytics.network_cause import NETWORK_CAUSES
from safecity.config.grid import cell_sql
from safecity.config.point_levels import load_point_levels, point_level_sql
from safecity.config.profiles import CityProfile


def health_events(con: duckdb.DuckDBPyConnection, city: CityProfile, *, causes: bool = False) -> dict[str, pa.Table]:
    """The rule engine's camera_health events (each state change, and every camera's state as of the run with its
    minutes offline) and camera_down facts (cameras offline now), keyed for silver_events: an event's id is its
    `_batch_id:_line`, stable across runs for the same change and for the same stay in a state.

    Reads what the state machine left on `con` (`state_changes`, `state_current`) and the registry (`registry_in`);
    with `causes`, an offline stay's root cause from `outage_cause` (network_cause.outage_causes), joined on the
    camera and the stay's start. Without, the cause fields are null (unknown) and network_caused false."""
    faults = " ".join(f"WHEN '{reason}' THEN '{code}'" for reason, code in FAULT_TYPES.items())
    # device_fault_type codes: a state's reason as the code table names it (VQD defects are codes already).
    reason_code = (f"CASE WHEN s.state = 'online' THEN NULL WHEN s.state = 'decommissioned' THEN 'other' "
                   f"ELSE CASE s.reason {faults} ELSE s.reason END END")
    level = point_level_sql(load_point_levels(city.id), "r.use_type", "r.position_type")
    grid = cell_sql(city, "r.longitude", "r.latitude")
    divisions = ", ".join(f"'{d.code}'" for d in city.divisions)
    place = (f"{grid} AS grid_id, {level} AS point_level, CASE WHEN substr(s.device_id, 1, 6) IN ({divisions}, "
             f"'{city.gb2260}') THEN substr(s.device_id, 1, 6) END AS division_code")
    zone = city.timezone
    cause_src = "outage_cause" if causes else (
        "(SELECT NULL::VARCHAR AS camera_id, NULL::TIMESTAMP AS since, NULL::VARCHAR AS cause_element_type, "
        "NULL::VARCHAR AS cause_element_id, NULL::VARCHAR AS contractor WHERE false)")
    network = ", ".join(f"'{kind}'" for kind in NETWORK_CAUSES)
    # network_caused is never null: a rule's test on a missing field fails, and an unknown cause must still let the
    # device's own repair order through (rules/policies/security/camera_repair_deadline.yaml).
    cause = (f"c.cause_element_type, c.cause_element_id, c.contractor AS cause_contractor, "
             f"coalesce(c.cause_element_type IN ({network}), false) AS network_caused")

    def caused(since: str) -> str:
        return f"LEFT JOIN {cause_src} c ON s.state = 'offline' AND c.camera_id = s.device_id AND c.since = {since}"

    health = con.execute(f"""
        SELECT s.device_id AS camera_id, s.state AS status, 0 AS offline_minutes, {place},
               {reason_code} AS reason_code,
               timezone('{zone}', s.changed_at) AS ts, {cause},
               'camera_state_change:' || s.device_id AS _batch_id, CAST(epoch(s.changed_at) AS BIGINT) AS _line
        FROM (SELECT device_id, changed_at, to_state AS state, reason FROM state_changes) s
        LEFT JOIN registry_in r USING (device_id) {caused("s.changed_at")}
        UNION ALL
        SELECT s.device_id, s.state,
               CASE WHEN s.state IN ('offline', 'never_streamed') AND s.since IS NOT NULL
                    THEN CAST(epoch(s.as_of - s.since) / 60 AS BIGINT) ELSE 0 END, {place},
               {reason_code},
               timezone('{zone}', s.as_of), {cause}, 'camera_state:' || s.device_id,
               -- One id per stay in a state (since when), not per run: a camera offline for days is one event
               -- whose minutes grow, so a policy acts on it once, when its threshold is passed.
               CAST(epoch(coalesce(s.since, s.as_of)) AS BIGINT)
        FROM state_current s LEFT JOIN registry_in r USING (device_id) {caused("s.since")}
        ORDER BY ts, camera_id""").to_arrow_table()
    down = con.execute(f"""
        SELECT s.device_id AS camera_id, {place}, timezone('{zone}', s.since) AS since,
               {reason_code} AS reason_code, {cause},
               'camera_down:' || s.device_id AS _batch_id, CAST(epoch(s.since) AS BIGINT) AS _line
        FROM state_current s LEFT JOIN registry_in r USING (device_id) {caused("s.since")}
        WHERE s.state = 'offline' AND s.since IS NOT NULL ORDER BY since, camera_id""").to_arrow_table()
    return {"camera_health": health, "camera_down": down}
