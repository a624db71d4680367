"""Network state machine: each link's and node's state (up, degraded, saturated, down) over time and each link's
utilisation per minute, from the network management exports (interface_status traps, interface_counter samples,
link_probe pings from the city core) and the network registries (network_node, network_link, network_attachment).

A link's telemetry is its upstream node's interface `upstream_if` (status traps, counters) and the probe of its
downstream node; a node's is its own probe. Rules (hysteresis as in analytics/camera_state.py):
- A probe interval is lost (sent > 0, nothing received), partial (some lost), clean (all back) or masked: a loss is
  masked, i.e. no evidence either way, when the same interval is lost at a node above (or, for a partial loss,
  lossy there) or a link above the element's own uplink has its interface down: the element below is unreachable
  because of the one above, and must not report an outage of its own. A partial loss is masked too while a link on
  the node's path (its own uplink included) is saturated, or at >= 90 % in the counter sample closing the
  interval (the ramp before 5 samples saturate it): congestion drops pings, the link's load says so.
- Link down: at once when its interface reports down (reason interface_down), or at the end of the 3rd consecutive
  unmasked lost interval of its downstream node while its interface is not known up (probe_loss). Two lost
  intervals do not flip it.
- Link up again: at the end of the 3rd consecutive clean interval while its interface is not reported down
  (probe_clean), or at the end of the first clean interval that starts at or after a linkUp, provided the
  interface did not go down again before that interval ended (interface_up). Without any probe of its
  downstream node, the linkUp alone. When an up and a down fall on the same instant the down wins, so a port
  flapping faster than one clean probe interval stays one down stay for the whole flapping, and probe loss that
  never lasts 3 intervals never takes the link down (it is degraded instead).
- Node down: 3 consecutive unmasked lost intervals of its probe while its uplink's interface is reported up (or it
  has no uplink): the path answers, the node does not (probe_loss_uplink_up). Up again after 3 clean intervals.
- Link degraded: up, with an unmasked probe loss that is not the node's (partial, or lost while its interface is
  not known up) since its last recovery; clean again after 3 consecutive clean intervals.
- Link saturated: utilisation (the larger of in and out bits per second over capacity_mbps) >= 90 % in 5
  consecutive counter samples (at the 5th); cleared below 70 % in 5 consecutive samples. Down outranks saturated,
  saturated outranks degraded.
- Counters are cumulative (Counter64): a sample lower than the one before is a reset (a reboot), so that minute's
  traffic is unknown (null), never negative; a null sample breaks a run of saturated or clear samples.

Each stay carries the reason (zh, en), the telemetry that decided it (`evidence`) and the last telemetry seen for the
element within the stay (`last_evidence_at`). Times are the city's local time, as in silver.camera_state.
Everything is set-based DuckDB SQL over the whole city (no Python loop over elements).
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.analytics.camera_state import RECORDER_TYPES

STATES = {
    "up": ("正常", "Up"),
    "degraded": ("劣化（丢包）", "Degraded (packet loss)"),
    "saturated": ("拥塞", "Saturated"),
    "down": ("中断", "Down"),
}
REASONS = {
    "first_evidence": ("首次收到网管数据", "first telemetry"),
    "interface_down": ("上联接口报告中断（linkDown）", "upstream interface reported down (linkDown)"),
    "probe_loss": ("连续3个探测周期全部丢包", "3 consecutive probe intervals with 100 % loss"),
    "probe_loss_uplink_up": ("上联链路正常但连续3个探测周期全部丢包", "3 probe intervals lost while its uplink was up"),
    "interface_up": ("接口恢复（linkUp）且1个探测周期无丢包", "interface up (linkUp) and 1 clean probe interval"),
    "probe_clean": ("连续3个探测周期无丢包", "3 consecutive clean probe intervals"),
    "probe_partial_loss": ("探测丢包（未达中断条件）", "probe loss short of an outage"),
    "saturation": ("利用率连续5次≥90%", "utilisation >= 90 % in 5 consecutive samples"),
    "saturation_cleared": ("利用率连续5次<70%", "utilisation < 70 % in 5 consecutive samples"),
}
REGISTRIES = ("silver.network_node", "silver.network_link", "silver.network_attachment")
TELEMETRY = {   # table -> an empty relation of its contract columns, for a site that lacks the feed
    "silver.interface_status": "SELECT NULL::VARCHAR AS node_id, NULL::VARCHAR AS if_name, NULL::VARCHAR AS status, "
                               "NULL::TIMESTAMPTZ AS changed_at WHERE false",
    "silver.interface_counter": "SELECT NULL::VARCHAR AS node_id, NULL::VARCHAR AS if_name, "
                                "NULL::TIMESTAMPTZ AS sampled_at, NULL::BIGINT AS in_octets, "
                                "NULL::BIGINT AS out_octets WHERE false",
    "silver.link_probe": "SELECT NULL::VARCHAR AS target_node_id, NULL::TIMESTAMPTZ AS interval_start, "
                         "NULL::BIGINT AS sent, NULL::BIGINT AS received WHERE false",
}
SATURATED, CLEARED, SATURATION_SAMPLES = 0.9, 0.7, 5
LOST_INTERVALS, CLEAN_INTERVALS = 3, 3


def _names() -> pa.Table:
    rows = [(k, "state", zh, en) for k, (zh, en) in STATES.items()]
    rows += [(k, "reason", zh, en) for k, (zh, en) in REASONS.items()]
    return pa.table({"code": [r[0] for r in rows], "kind": [r[1] for r in rows],
                     "name_zh": [r[2] for r in rows], "name_en": [r[3] for r in rows]})


def stage_topology(con: duckdb.DuckDBPyConnection) -> None:
    """`net_node`, `net_link`, `net_attach` (each registry's latest row per key) and `net_anc` (every node's links
    and nodes above it, `depth` 1 being its own uplink and that link's upstream node) from the silver views."""
    con.execute("""
    CREATE OR REPLACE TEMP TABLE net_node AS
      SELECT node_id, arg_max(node_name, _ingested_at) AS node_name, arg_max(level, _ingested_at) AS level,
             arg_max(division_code, _ingested_at) AS division_code
      FROM silver.network_node GROUP BY node_id;
    CREATE OR REPLACE TEMP TABLE net_link AS
      SELECT link_id, arg_max(upstream_node_id, _ingested_at) AS upstream_node_id,
             arg_max(upstream_if, _ingested_at) AS upstream_if,
             arg_max(downstream_node_id, _ingested_at) AS downstream_node_id, arg_max(level, _ingested_at) AS level,
             arg_max(capacity_mbps, _ingested_at)::DOUBLE AS capacity_mbps,
             arg_max(operator, _ingested_at) AS operator, arg_max(contractor, _ingested_at) AS contractor,
             arg_max(division_code, _ingested_at) AS division_code
      FROM silver.network_link GROUP BY link_id;
    CREATE OR REPLACE TEMP TABLE net_attach AS
      SELECT device_id, arg_max(node_id, _ingested_at) AS node_id FROM silver.network_attachment GROUP BY device_id;
    -- Depth is capped: a registry with a loop must not recurse forever (a city has 4 levels).
    CREATE OR REPLACE TEMP TABLE net_anc AS
      WITH RECURSIVE anc(node_id, link_id, anc_node_id, depth) AS (
        SELECT downstream_node_id, link_id, upstream_node_id, 1 FROM net_link
        UNION ALL
        SELECT a.node_id, l.link_id, l.upstream_node_id, a.depth + 1
        FROM anc a JOIN net_link l ON l.downstream_node_id = a.anc_node_id WHERE a.depth < 16)
      SELECT * FROM anc;
    """)


def stage_device_paths(con: duckdb.DuckDBPyConnection) -> None:
    """`device_path`: every registry device's elements from itself up to the core with their height (camera -2,
    its NVR -1, access node 0, then link 2d-1 and node 2d at depth d), from `registry_in` and the topology."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE device_path AS
      WITH dev AS (
        SELECT device_id, substr(device_id, 11, 3) IN {RECORDER_TYPES} AS is_recorder,
               CASE WHEN substr(parent_id, 11, 3) IN {RECORDER_TYPES} THEN parent_id END AS nvr_id
        FROM registry_in),
      access AS (
        SELECT d.*, coalesce(a.node_id, n.node_id) AS access_node
        FROM dev d LEFT JOIN net_attach a ON a.device_id = d.device_id LEFT JOIN net_attach n ON n.device_id = d.nvr_id)
      SELECT device_id, CASE WHEN is_recorder THEN 'nvr' ELSE 'camera' END AS element_type, device_id AS element_id,
             CASE WHEN is_recorder THEN -1 ELSE -2 END AS height FROM access
      UNION ALL SELECT device_id, 'nvr', nvr_id, -1 FROM access WHERE nvr_id IS NOT NULL
      UNION ALL SELECT device_id, 'node', access_node, 0 FROM access WHERE access_node IS NOT NULL
      UNION ALL SELECT x.device_id, 'link', a.link_id, 2 * a.depth - 1 FROM access x
                JOIN net_anc a ON a.node_id = x.access_node
      UNION ALL SELECT x.device_id, 'node', a.anc_node_id, 2 * a.depth FROM access x
                JOIN net_anc a ON a.node_id = x.access_node""")


def stage_telemetry(con: duckdb.DuckDBPyConnection, timezone: str, present: set[str]) -> None:
    """`if_status`, `if_counter`, `probe` (one row per key, in the city's local time) from the silver views,
    empty for a feed the site lacks."""
    zone = timezone.replace("'", "''")
    src = {name: (name if name in present else f"({empty})") for name, empty in TELEMETRY.items()}
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE if_status AS
      SELECT DISTINCT node_id, if_name, lower(status) AS status,
             timezone('{zone}', CAST(changed_at AS TIMESTAMPTZ)) AS t FROM {src['silver.interface_status']};
    CREATE OR REPLACE TEMP TABLE if_counter AS
      SELECT node_id, if_name, timezone('{zone}', CAST(sampled_at AS TIMESTAMPTZ)) AS t,
             any_value(in_octets) AS in_octets, any_value(out_octets) AS out_octets
      FROM {src['silver.interface_counter']} GROUP BY ALL;
    CREATE OR REPLACE TEMP TABLE probe AS
      SELECT target_node_id AS node_id, timezone('{zone}', CAST(interval_start AS TIMESTAMPTZ)) AS t,
             any_value(sent) AS sent, any_value(received) AS received
      FROM {src['silver.link_probe']} GROUP BY ALL;
    """)


def derive_network_state(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None = None) -> dict[str, pa.Table]:
    """link_state, node_state and link_utilisation over the relations staged on `con` (stage_topology,
    stage_telemetry). Leaves `link_state` and `node_state` as temporary tables for the root cause."""
    con.register("net_names", _names())
    if as_of is None:
        as_of = con.execute("SELECT greatest((SELECT max(t) FROM if_status), (SELECT max(t) FROM if_counter), "
                            "(SELECT max(t) FROM probe))").fetchone()[0] or dt.datetime.now()
    step = con.execute("SELECT median(gap) FROM (SELECT epoch(t - lag(t) OVER (PARTITION BY node_id ORDER BY t)) "
                       "AS gap FROM probe) WHERE gap > 0").fetchone()[0] or 60
    con.execute("CREATE OR REPLACE TEMP TABLE net_params AS SELECT ?::TIMESTAMP AS as_of, "
                "to_seconds(?::DOUBLE) AS step", [as_of, step])
    _utilisation(con)
    _probe_runs(con)
    _triggers(con)
    for element in ("link", "node"):
        _stays(con, element)
    return {"link_state": con.execute("FROM link_state").to_arrow_table(),
            "node_state": con.execute("FROM node_state").to_arrow_table(),
            "link_utilisation": con.execute("SELECT link_id, minute, in_mbps, out_mbps, utilisation "
                                            "FROM link_util ORDER BY link_id, minute").to_arrow_table()}


def _utilisation(con) -> None:
    """Per link and counter sample: traffic since the sample before (null over a reset) and utilisation."""
    con.execute("""
    CREATE OR REPLACE TEMP TABLE link_util AS
      WITH d AS (
        SELECT l.link_id, l.capacity_mbps, c.t, epoch(c.t - lag(c.t) OVER w) AS secs,
               c.in_octets - lag(c.in_octets) OVER w AS d_in, c.out_octets - lag(c.out_octets) OVER w AS d_out
        FROM net_link l JOIN if_counter c ON c.node_id = l.upstream_node_id AND c.if_name = l.upstream_if
        WINDOW w AS (PARTITION BY l.link_id ORDER BY c.t)),
      mbps AS (
        SELECT link_id, t, date_trunc('minute', t) AS minute,
               CASE WHEN d_in >= 0 AND secs > 0 THEN d_in * 8 / secs / 1e6 END AS in_mbps,
               CASE WHEN d_out >= 0 AND secs > 0 THEN d_out * 8 / secs / 1e6 END AS out_mbps, capacity_mbps
        FROM d WHERE secs IS NOT NULL)
      SELECT link_id, t, minute, in_mbps, out_mbps,
             CASE WHEN in_mbps IS NOT NULL AND out_mbps IS NOT NULL AND capacity_mbps > 0
                  THEN greatest(in_mbps, out_mbps) / capacity_mbps END AS utilisation
      FROM mbps""")
    sat = _runs(f"(SELECT link_id, t, utilisation, CASE WHEN utilisation >= {SATURATED} THEN 'hot' "
                f"WHEN utilisation < {CLEARED} THEN 'cool' WHEN utilisation IS NOT NULL THEN 'warm' END AS cls "
                "FROM link_util)",
                "link_id", "cls", "true")
    con.execute(f"CREATE OR REPLACE TEMP TABLE sat_runs AS {sat}")
    # The spans a link is saturated (from the 5th hot sample to the 5th cool one), for masking congestion loss.
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE sat_spans AS
      SELECT link_id, t AS s, coalesce(nxt, TIMESTAMP '9999-01-01') AS e FROM (
        SELECT link_id, t, cls, lead(t) OVER (PARTITION BY link_id ORDER BY t) AS nxt
        FROM sat_runs WHERE pos = {SATURATION_SAMPLES} AND cls IN ('hot', 'cool'))
      WHERE cls = 'hot'""")


def _runs(source: str, key: str, cls: str, contiguous: str) -> str:
    """SQL numbering each row's position in its run of equal `cls` per `key` (a run breaks where `contiguous`
    does not hold between a row and the one before)."""
    return f"""
      SELECT *, row_number() OVER (PARTITION BY {key}, run ORDER BY t) AS pos FROM (
        SELECT *, sum(brk) OVER (PARTITION BY {key} ORDER BY t ROWS UNBOUNDED PRECEDING) AS run FROM (
          SELECT *, CASE WHEN lag({cls}) OVER w IS NOT DISTINCT FROM {cls} AND {contiguous} THEN 0 ELSE 1 END AS brk
          FROM {source} WINDOW w AS (PARTITION BY {key} ORDER BY t)))"""


def _probe_runs(con) -> None:
    """Each probe interval classified (lost, partial, clean, masked) and its position in its run."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE if_down AS
      SELECT node_id, if_name, t AS s, coalesce(nxt, TIMESTAMP '9999-01-01') AS e FROM (
        SELECT *, lead(t) OVER (PARTITION BY node_id, if_name ORDER BY t, status DESC) AS nxt FROM if_status)
      WHERE status = 'down';
    CREATE OR REPLACE TEMP TABLE probe_cls AS
      WITH p AS (
        SELECT node_id, t, sent, received,
               CASE WHEN sent > 0 AND received = 0 THEN 'lost' WHEN sent > 0 AND received < sent THEN 'partial'
                    WHEN sent > 0 THEN 'clean' END AS cls FROM probe),
      masked AS (
        SELECT p.node_id, p.t FROM p JOIN net_anc a ON a.node_id = p.node_id
        JOIN p q ON q.node_id = a.anc_node_id AND q.t = p.t
        WHERE q.cls = 'lost' OR (p.cls = 'partial' AND q.cls = 'partial')
        UNION
        SELECT p.node_id, p.t FROM p CROSS JOIN net_params JOIN net_anc a ON a.node_id = p.node_id AND a.depth > 1
        JOIN net_link l ON l.link_id = a.link_id
        JOIN if_down d ON d.node_id = l.upstream_node_id AND d.if_name = l.upstream_if
        WHERE p.t < d.e AND p.t + step > d.s
        UNION
        -- Congestion drops some pings below a saturated or hot link: its load, not a loss of its own.
        SELECT p.node_id, p.t FROM p JOIN net_anc a ON a.node_id = p.node_id
        JOIN sat_spans x ON x.link_id = a.link_id AND p.t >= x.s AND p.t < x.e
        WHERE p.cls = 'partial'
        UNION
        SELECT p.node_id, p.t FROM p CROSS JOIN net_params JOIN net_anc a ON a.node_id = p.node_id
        JOIN link_util u ON u.link_id = a.link_id AND u.t > p.t AND u.t <= p.t + step
        WHERE p.cls = 'partial' AND u.utilisation >= {SATURATED})
      SELECT p.node_id, p.t, p.sent, p.received,
             CASE WHEN p.cls IN ('lost', 'partial') AND m.node_id IS NOT NULL THEN 'masked' ELSE p.cls END AS cls
      FROM p LEFT JOIN masked m USING (node_id, t)""")
    contiguous = "t - lag(t) OVER w = (SELECT step FROM net_params)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE probe_runs AS {_runs('probe_cls', 'node_id', 'cls', contiguous)}")


def _triggers(con) -> None:
    """Every moment that can change a link's or node's state: (element, t, k, kind, reason, evidence); at one
    instant the kinds apply in the order of k (first, up, sat_off, loss, sat_on, down: the down wins)."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE uplink_probe AS      -- each probe interval with its uplink's interface status
      SELECT p.*, l.link_id, s.status AS if_status, p.t + step AS t_end
      FROM probe_runs p CROSS JOIN net_params LEFT JOIN net_link l ON l.downstream_node_id = p.node_id
      ASOF LEFT JOIN if_status s ON s.node_id = l.upstream_node_id AND s.if_name = l.upstream_if
                                 AND s.t <= p.t + step;
    CREATE OR REPLACE TEMP TABLE link_triggers AS
      WITH sat AS (FROM sat_runs),
      ev AS (SELECT link_id, t FROM uplink_probe WHERE link_id IS NOT NULL
             UNION ALL SELECT l.link_id, s.t FROM net_link l
                       JOIN if_status s ON s.node_id = l.upstream_node_id AND s.if_name = l.upstream_if
             UNION ALL SELECT link_id, t FROM link_util),
      ups AS (
        SELECT l.link_id, l.downstream_node_id, s.t, s.node_id, s.if_name,
               lead(s.t) OVER (PARTITION BY l.link_id ORDER BY s.t, s.status DESC) AS next_change, s.status
        FROM net_link l JOIN if_status s ON s.node_id = l.upstream_node_id AND s.if_name = l.upstream_if),
      recovered AS (
        SELECT u.*, c.t + step AS clean_end,
               EXISTS (SELECT 1 FROM probe p WHERE p.node_id = u.downstream_node_id) AS probed
        FROM (SELECT * FROM ups WHERE status = 'up') u CROSS JOIN net_params
        ASOF LEFT JOIN (SELECT node_id, t FROM probe_runs WHERE cls = 'clean') c
          ON c.node_id = u.downstream_node_id AND c.t >= u.t)
      SELECT link_id AS element_id, min(t) AS t, 0 AS k, 'first' AS kind, 'first_evidence' AS reason,
             'first telemetry' AS evidence FROM ev GROUP BY link_id
      UNION ALL
      SELECT link_id, t, 5, 'down', 'interface_down', 'interface_status ' || node_id || ' ' || if_name || ' down'
      FROM ups WHERE status = 'down'
      UNION ALL
      SELECT link_id, CASE WHEN probed THEN clean_end ELSE t END, 1, 'up', 'interface_up',
             'interface_status ' || node_id || ' ' || if_name || ' up at ' || strftime(t, '%H:%M:%S')
             || CASE WHEN probed THEN ', link_probe ' || downstream_node_id || ' clean' ELSE '' END
      FROM recovered WHERE (NOT probed OR (clean_end IS NOT NULL AND clean_end <= coalesce(next_change, clean_end)))
      UNION ALL
      SELECT link_id, t_end, 5, 'down', 'probe_loss',
             'link_probe ' || node_id || ': {LOST_INTERVALS} intervals, 0 of ' || sent || ' received'
      FROM uplink_probe WHERE link_id IS NOT NULL AND cls = 'lost' AND pos = {LOST_INTERVALS}
        AND if_status IS DISTINCT FROM 'up'
      UNION ALL
      SELECT link_id, t_end, 1, 'up', 'probe_clean', 'link_probe ' || node_id || ': {CLEAN_INTERVALS} clean intervals'
      FROM uplink_probe WHERE link_id IS NOT NULL AND cls = 'clean' AND pos = {CLEAN_INTERVALS}
        AND if_status IS DISTINCT FROM 'down'
      UNION ALL
      SELECT link_id, t_end, 3, 'loss', 'probe_partial_loss',
             'link_probe ' || node_id || ': ' || received || ' of ' || sent || ' received'
      FROM uplink_probe WHERE link_id IS NOT NULL
        AND (cls = 'partial' OR (cls = 'lost' AND if_status IS DISTINCT FROM 'up'))
      UNION ALL
      SELECT link_id, t, 4, 'sat_on', 'saturation',
             'interface_counter: utilisation ' || round(utilisation * 100, 1) || ' % ({SATURATION_SAMPLES}th sample >= 90 %)'
      FROM sat WHERE cls = 'hot' AND pos = {SATURATION_SAMPLES}
      UNION ALL
      SELECT link_id, t, 2, 'sat_off', 'saturation_cleared',
             'interface_counter: utilisation ' || round(utilisation * 100, 1) || ' % ({SATURATION_SAMPLES}th sample < 70 %)'
      FROM sat WHERE cls = 'cool' AND pos = {SATURATION_SAMPLES};
    CREATE OR REPLACE TEMP TABLE node_triggers AS
      SELECT node_id AS element_id, min(t) AS t, 0 AS k, 'first' AS kind, 'first_evidence' AS reason,
             'first telemetry' AS evidence FROM probe GROUP BY node_id
      UNION ALL
      SELECT node_id, t_end, 5, 'down', 'probe_loss_uplink_up',
             'link_probe ' || node_id || ': {LOST_INTERVALS} intervals, 0 of ' || sent || ' received; uplink '
             || coalesce(link_id, '-') || ' interface up'
      FROM uplink_probe WHERE cls = 'lost' AND pos = {LOST_INTERVALS} AND (link_id IS NULL OR if_status = 'up')
      UNION ALL
      SELECT node_id, t_end, 1, 'up', 'probe_clean', 'link_probe ' || node_id || ': {CLEAN_INTERVALS} clean intervals'
      FROM uplink_probe WHERE cls = 'clean' AND pos = {CLEAN_INTERVALS};
    CREATE OR REPLACE TEMP TABLE link_evidence AS
      SELECT l.link_id AS element_id, p.t FROM net_link l JOIN probe p ON p.node_id = l.downstream_node_id
      UNION ALL SELECT l.link_id, s.t FROM net_link l
                JOIN if_status s ON s.node_id = l.upstream_node_id AND s.if_name = l.upstream_if
      UNION ALL SELECT link_id, t FROM link_util;
    CREATE OR REPLACE TEMP TABLE node_evidence AS SELECT node_id AS element_id, t FROM probe;
    """)


def _stays(con, element: str) -> None:
    """The running state after every trigger, collapsed to one row per instant, then the stays between changes."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {element}_state AS
      WITH running AS (
        SELECT *,
          last_value(CASE kind WHEN 'down' THEN 1 WHEN 'up' THEN 0 END IGNORE NULLS) OVER w AS is_down,
          last_value(CASE kind WHEN 'sat_on' THEN 1 WHEN 'sat_off' THEN 0 END IGNORE NULLS) OVER w AS is_sat,
          max(CASE WHEN kind = 'up' THEN t END) OVER w AS up_at,
          max(CASE WHEN kind = 'loss' THEN t END) OVER w AS loss_at,
          last_value(CASE WHEN kind = 'down' THEN reason END IGNORE NULLS) OVER w AS down_reason,
          last_value(CASE WHEN kind = 'down' THEN evidence END IGNORE NULLS) OVER w AS down_evidence,
          last_value(CASE WHEN kind = 'sat_on' THEN evidence END IGNORE NULLS) OVER w AS sat_evidence,
          last_value(CASE WHEN kind = 'loss' THEN evidence END IGNORE NULLS) OVER w AS loss_evidence,
          last_value(CASE WHEN kind IN ('first', 'up', 'sat_off') THEN reason END IGNORE NULLS) OVER w AS up_reason,
          last_value(CASE WHEN kind IN ('first', 'up', 'sat_off') THEN evidence END IGNORE NULLS) OVER w AS up_evidence
        FROM {element}_triggers, net_params WHERE t <= as_of
        WINDOW w AS (PARTITION BY element_id ORDER BY t, k ROWS UNBOUNDED PRECEDING)),
      stated AS (
        SELECT element_id, t,
          CASE WHEN is_down = 1 THEN 'down' WHEN is_sat = 1 THEN 'saturated'
               WHEN loss_at > coalesce(up_at, TIMESTAMP '0001-01-01') THEN 'degraded' ELSE 'up' END AS state,
          down_reason, down_evidence, sat_evidence, loss_evidence, up_reason, up_evidence
        FROM running
        QUALIFY row_number() OVER (PARTITION BY element_id, t ORDER BY k DESC) = 1),
      changes AS (
        SELECT element_id, t AS since, state,
               CASE state WHEN 'down' THEN down_reason WHEN 'saturated' THEN 'saturation'
                          WHEN 'degraded' THEN 'probe_partial_loss' ELSE up_reason END AS reason,
               CASE state WHEN 'down' THEN down_evidence WHEN 'saturated' THEN sat_evidence
                          WHEN 'degraded' THEN loss_evidence ELSE up_evidence END AS evidence
        FROM stated
        QUALIFY state IS DISTINCT FROM lag(state) OVER (PARTITION BY element_id ORDER BY t)),
      stays AS (
        SELECT *, lead(since) OVER (PARTITION BY element_id ORDER BY since) AS until FROM changes),
      last_seen AS (
        SELECT s.element_id, s.since, max(e.t) AS last_evidence_at
        FROM stays s CROSS JOIN net_params
        JOIN {element}_evidence e ON e.element_id = s.element_id AND e.t >= s.since
             AND (e.t < s.until OR (s.until IS NULL AND e.t <= as_of))
        GROUP BY ALL)
      SELECT s.element_id AS {element}_id, s.state, st.name_zh AS state_zh, s.since, s.until,
             s.reason, r.name_zh AS reason_zh, r.name_en AS reason_en, s.evidence, l.last_evidence_at
      FROM stays s LEFT JOIN last_seen l USING (element_id, since)
      LEFT JOIN net_names st ON st.kind = 'state' AND st.code = s.state
      LEFT JOIN net_names r ON r.kind = 'reason' AND r.code = s.reason
      ORDER BY 1, since""")
