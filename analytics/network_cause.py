"""Root cause of camera outages (摄像机离线原因): each offline stay of a device attributed to the highest failed
element on its path to the city core.

The stays: an `offline` change of the camera state machine (`state_changes`, what becomes
silver.camera_state_change) up to the device's next change (open, until null, when there is none). The camera health
step derives the causes right after its state machine, on the same connection, from the link and node states the
network step wrote before it (silver.link_state, silver.node_state); an open stay, camera's or element's, runs to the
camera state's as_of (the end of its evidence, as for the camera_health events' minutes offline).

The path (analytics/network_state.stage_device_paths): camera → its NVR (registry parent_id of type 111/118) → its
access node (network_attachment of the camera, else of its NVR) → access link → station node → station uplink →
branch node → branch uplink → core. An element is failed for a stay when the total of its down time within the
stay (link_state / node_state stays in state `down`; for the NVR, its own offline stays) is MORE THAN HALF of the
stay's duration. Of the failed elements the highest on the path is the cause; with none the outage is the device's
own (`camera`, or `nvr` for a recorder; its reason says "own fault"). A stay of zero length has no majority and
stays the device's own.

Who is sent: a link's contractor (its operator when the registry names no contractor); a node's uplink contractor
(the network operator that connects it); a camera's or NVR's maintainer, the contractor of its latest maintenance
work order (silver.maintenance_work_order), null when it has none.
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from safecity.analytics.camera_state import RECORDER_TYPES
from safecity.analytics.network_state import REGISTRIES, stage_device_paths, stage_topology

# What the causes need in silver besides the camera state machine's output: without it (a site without a network)
# there are no causes, and the camera_health events carry none.
NEEDS = (*REGISTRIES, "silver.link_state", "silver.node_state")

CAUSES = {  # element type -> (Chinese, English) reason prefix
    "link": ("上级网络链路中断：", "network link down above the device: "),
    "node": ("上级网络节点故障：", "network node down above the device: "),
    "nvr": ("所属录像设备离线：", "its recorder (NVR) offline: "),
    "camera": ("设备自身故障（接入网络正常）：", "the device's own fault (its network path was up): "),
}


# The causes that are the network's, not the device's: its repair is a network work order, not a camera one.
NETWORK_CAUSES = ("link", "node")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def outage_causes(con: duckdb.DuckDBPyConnection, present: set[str]) -> pa.Table | None:
    """camera_outage_cause of the camera state machine's `state_changes` on `con` (with its `params` and
    `registry_in`), None when silver lacks what NEEDS names. Leaves the temporary table `outage_cause` on `con` for
    the camera_health events."""
    if any(name not in present for name in NEEDS):
        return None
    stage_topology(con)
    stage_device_paths(con)
    orders = ("SELECT device_id, arg_max(contractor, opened_at) AS contractor FROM silver.maintenance_work_order "
              "WHERE contractor IS NOT NULL GROUP BY device_id"
              if "silver.maintenance_work_order" in present else
              "SELECT NULL::VARCHAR AS device_id, NULL::VARCHAR AS contractor WHERE false")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE camera_changes_in AS SELECT device_id, changed_at, to_state FROM state_changes;
        CREATE OR REPLACE TEMP TABLE maintainer_in AS {orders};
        CREATE OR REPLACE TEMP TABLE link_state AS FROM silver.link_state;
        CREATE OR REPLACE TEMP TABLE node_state AS FROM silver.node_state;
        CREATE OR REPLACE TEMP TABLE net_params AS SELECT as_of FROM params""")
    return derive_outage_causes(con)


def derive_outage_causes(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """camera_outage_cause over `camera_changes_in`, `maintainer_in`, `device_path`, `link_state`, `node_state`,
    `net_link` and `net_params` (as_of) on `con`."""
    cases = {k: (_quoted(zh), _quoted(en)) for k, (zh, en) in CAUSES.items()}
    zh = " ".join(f"WHEN '{k}' THEN {v[0]}" for k, v in cases.items())
    en = " ".join(f"WHEN '{k}' THEN {v[1]}" for k, v in cases.items())
    return con.execute(f"""
    CREATE OR REPLACE TEMP TABLE outage_cause AS
      WITH stays AS (
        SELECT device_id, since, until, coalesce(until, as_of) AS stay_end FROM (
          SELECT device_id, changed_at AS since, to_state,
                 lead(changed_at) OVER (PARTITION BY device_id ORDER BY changed_at, to_state) AS until
          FROM camera_changes_in), net_params
        WHERE to_state = 'offline'),
      down AS (
        SELECT 'link' AS element_type, link_id AS element_id, since AS s, coalesce(until, as_of) AS e
        FROM link_state, net_params WHERE state = 'down'
        UNION ALL SELECT 'node', node_id, since, coalesce(until, as_of) FROM node_state, net_params WHERE state = 'down'
        UNION ALL SELECT 'nvr', device_id, since, stay_end FROM stays WHERE substr(device_id, 11, 3) IN {RECORDER_TYPES}),
      covered AS (
        SELECT st.device_id, st.since, p.element_type, p.element_id, p.height,
               sum(epoch(least(d.e, st.stay_end) - greatest(d.s, st.since))) AS seconds_down,
               any_value(epoch(st.stay_end - st.since)) AS seconds
        FROM stays st JOIN device_path p ON p.device_id = st.device_id AND p.height >= -1
             AND NOT (p.element_type = 'nvr' AND p.element_id = st.device_id)
        JOIN down d ON d.element_type = p.element_type AND d.element_id = p.element_id
             AND d.s < st.stay_end AND d.e > st.since
        GROUP BY ALL),
      cause AS (
        SELECT device_id, since, element_type, element_id FROM covered WHERE seconds_down > seconds / 2
        QUALIFY row_number() OVER (PARTITION BY device_id, since ORDER BY height DESC) = 1)
      SELECT st.device_id AS camera_id, st.since, st.until,
             coalesce(c.element_type, CASE WHEN substr(st.device_id, 11, 3) IN {RECORDER_TYPES} THEN 'nvr'
                                           ELSE 'camera' END) AS cause_element_type,
             coalesce(c.element_id, st.device_id) AS cause_element_id,
             CASE coalesce(c.element_type, 'camera')
                  WHEN 'link' THEN coalesce(l.contractor, l.operator)
                  WHEN 'node' THEN coalesce(u.contractor, u.operator)
                  ELSE m.contractor END AS contractor,
             CASE coalesce(c.element_type, 'camera') {zh} END || coalesce(c.element_id, st.device_id) AS reason_zh,
             CASE coalesce(c.element_type, 'camera') {en} END || coalesce(c.element_id, st.device_id) AS reason_en
      FROM stays st LEFT JOIN cause c USING (device_id, since)
      LEFT JOIN net_link l ON c.element_type = 'link' AND l.link_id = c.element_id
      LEFT JOIN net_link u ON c.element_type = 'node' AND u.downstream_node_id = c.element_id
      LEFT JOIN maintainer_in m ON m.device_id = coalesce(c.element_id, st.device_id)
      ORDER BY camera_id, since;
    FROM outage_cause""").to_arrow_table()
