"""What the network policies read: network_outage events (standards/events/network_outage.yaml), one per outage of
a link or node, and link_load readings (link_load.yaml), per link carrying key-point video and 5-minute interval.

- An outage is a down stay of the element in silver.link_state / node_state, together with the down stays that
  follow it closely (config/network_outages.py, the rule the mart_network_faults model counts by too): a port
  flapping for an hour, which the state machine shows as one down stay per flap whose up phase outlasts a clean
  probe interval, is one outage and one work order, not ten. Its since (and id) is its first down stay's; the
  cameras count over all its stays.
- cameras_affected: the cameras (not recorders) whose offline stays silver.camera_outage_cause attributes to the
  element and that overlap one of the outage's down stays; key_point_cameras_affected: those of them at a key
  point (the city's point_levels.yaml, as camera_health events grade them). So a blip too short to take a camera offline affects none.
- link_load: the mean of the link's per-minute utilisation (silver.link_utilisation) over the interval, capped at
  1, with ts the interval's end; key_point_cameras: the key-point cameras whose path (analytics/network_state
  stage_device_paths) runs through the link. Links carrying no key-point video have no readings.

Ids: `network_outage:<element_id>` and `link_load:<link_id>` with the epoch seconds of since / ts as `_line`.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.analytics.camera_state import RECORDER_TYPES, stage_registry
from safecity.analytics.network_state import stage_device_paths, stage_topology
from safecity.config.network_outages import outage_episodes_sql
from safecity.config.point_levels import load_point_levels, point_level_sql
from safecity.config.profiles import CityProfile

LOAD_MINUTES = 5


def _stage(con: duckdb.DuckDBPyConnection, city: CityProfile, present: frozenset[str]) -> None:
    stage_topology(con)
    stage_registry(con, {t.split(".", 1)[1] for t in present if t.startswith("silver.")})
    level = point_level_sql(load_point_levels(city.id), "use_type", "position_type")
    con.execute(f"CREATE OR REPLACE TEMP TABLE key_cameras AS SELECT device_id FROM registry_in "
                f"WHERE {level} = 'key' AND substr(device_id, 11, 3) NOT IN {RECORDER_TYPES}")
    stage_device_paths(con)


def network_outage_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                          present: frozenset[str] = frozenset()) -> dict[str, pa.Table]:
    _stage(con, city, present)
    zone = city.timezone
    outages = con.execute(f"""
        WITH down AS (
          SELECT 'link' AS element_type, s.link_id AS element_id, s.since, s.until, l.level, l.division_code,
                 l.operator, coalesce(l.contractor, l.operator) AS contractor
          FROM silver.link_state s LEFT JOIN net_link l USING (link_id) WHERE s.state = 'down'
          UNION ALL
          SELECT 'node', s.node_id, s.since, s.until, n.level, n.division_code, u.operator,
                 coalesce(u.contractor, u.operator)
          FROM silver.node_state s LEFT JOIN net_node n USING (node_id)
          LEFT JOIN net_link u ON u.downstream_node_id = s.node_id WHERE s.state = 'down'),
        episodes AS ({outage_episodes_sql('down')}),
        hit AS (
          SELECT d.element_type, d.element_id, d.episode, count(DISTINCT c.camera_id) AS cameras,
                 count(DISTINCT c.camera_id) FILTER (WHERE k.device_id IS NOT NULL) AS key_cameras
          FROM episodes d JOIN silver.camera_outage_cause c
            ON c.cause_element_type = d.element_type AND c.cause_element_id = d.element_id
           AND c.since < coalesce(d.until, TIMESTAMP '9999-01-01') AND coalesce(c.until, TIMESTAMP '9999-01-01') > d.since
           AND substr(c.camera_id, 11, 3) NOT IN {RECORDER_TYPES}
          LEFT JOIN key_cameras k ON k.device_id = c.camera_id
          GROUP BY ALL),
        outages AS (
          SELECT element_type, element_id, episode, min(since) AS since, any_value(level) AS level,
                 any_value(division_code) AS division_code, any_value(operator) AS operator,
                 any_value(contractor) AS contractor
          FROM episodes GROUP BY ALL)
        SELECT d.element_id || ':' || strftime(d.since, '%Y-%m-%dT%H:%M:%S') AS outage_id, d.element_type,
               d.element_id, d.level, d.division_code, d.operator, d.contractor,
               timezone('{zone}', d.since) AS since, coalesce(h.cameras, 0) AS cameras_affected,
               coalesce(h.key_cameras, 0) AS key_point_cameras_affected, timezone('{zone}', d.since) AS ts,
               'network_outage:' || d.element_id AS _batch_id, CAST(epoch(d.since) AS BIGINT) AS _line
        FROM outages d LEFT JOIN hit h USING (element_type, element_id, episode)
        ORDER BY ts, element_id""").to_arrow_table()
    return {"network_outage": outages}


def link_load_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                     present: frozenset[str] = frozenset()) -> dict[str, pa.Table]:
    _stage(con, city, present)
    zone = city.timezone
    loads = con.execute(f"""
        WITH carried AS (
          SELECT p.element_id AS link_id, count(DISTINCT p.device_id) AS key_cameras
          FROM device_path p JOIN key_cameras k USING (device_id) WHERE p.element_type = 'link' GROUP BY ALL),
        intervals AS (
          SELECT link_id, time_bucket(INTERVAL {LOAD_MINUTES} MINUTE, minute) + INTERVAL {LOAD_MINUTES} MINUTE AS ts_end,
                 least(avg(utilisation), 1.0) AS utilisation
          FROM silver.link_utilisation WHERE utilisation IS NOT NULL GROUP BY ALL)
        SELECT i.link_id, l.level, l.operator, i.utilisation, c.key_cameras AS key_point_cameras,
               timezone('{zone}', i.ts_end) AS ts,
               'link_load:' || i.link_id AS _batch_id, CAST(epoch(i.ts_end) AS BIGINT) AS _line
        FROM intervals i JOIN carried c USING (link_id) LEFT JOIN net_link l USING (link_id)
        ORDER BY ts, link_id""").to_arrow_table()
    return {"link_load": loads}
