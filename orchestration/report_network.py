"""The network layer of the main job's report (orchestration/report.py): the links of the video private network
drawn between their nodes and coloured by their state at the end of the data (silver.link_state's open stays), the
elements that failed during the data marked with a cross, and a small table of the network faults with the cameras
each took down (silver.camera_outage_cause). A fault is an outage as the policies and mart_network_faults count it
(config/network_outages.py: a flapping port is one fault, not a row per flap). Issue 21's contract names the columns.

A site without network files has none of these tables: the layer and the table are then simply absent.
"""
from __future__ import annotations

import html
from typing import Callable

from safecity.config.network_outages import FLAP_MINUTES, outage_episodes_sql

NODES, LINKS = "silver.network_node", "silver.network_link"
LINK_STATE, NODE_STATE, CAUSE = "silver.link_state", "silver.node_state", "silver.camera_outage_cause"
LINK_COLOURS = {"up": "#66bb6a", "degraded": "#f9a825", "saturated": "#ef6c00", "down": "#c62828"}
LINK_WIDTHS = {"up": 1.0, "degraded": 2.0, "saturated": 2.5, "down": 3.0}
STATE_ZH = {"up": "正常", "degraded": "劣化", "saturated": "拥塞", "down": "中断"}
FAILED = "#b71c1c"


def _e(text) -> str:
    return html.escape(str(text))


# The registries keep every version they ingested: the latest ingested is the element as it is now.
_NODES_NOW = f"SELECT * FROM {NODES} QUALIFY row_number() OVER (PARTITION BY node_id ORDER BY _ingested_at DESC) = 1"
_LINKS_NOW = f"SELECT * FROM {LINKS} QUALIFY row_number() OVER (PARTITION BY link_id ORDER BY _ingested_at DESC) = 1"


def _link_rows(con, present: set[str]) -> list[tuple]:
    """(link_id, level, state now, ever down, up lon, up lat, down lon, down lat) for every placeable link."""
    has_state = LINK_STATE in present
    now = (f"(SELECT link_id, arg_max(state, since) AS state FROM {LINK_STATE} WHERE until IS NULL GROUP BY 1)"
           if has_state else "(SELECT NULL::VARCHAR AS link_id, NULL::VARCHAR AS state WHERE false)")
    failed = (f"(SELECT DISTINCT link_id FROM {LINK_STATE} WHERE state = 'down')" if has_state
              else "(SELECT NULL::VARCHAR AS link_id WHERE false)")
    return con.execute(
        f"SELECT l.link_id, l.level, coalesce(s.state, 'up'), f.link_id IS NOT NULL, u.longitude, u.latitude, "
        f"d.longitude, d.latitude FROM ({_LINKS_NOW}) l JOIN ({_NODES_NOW}) u ON u.node_id = l.upstream_node_id "
        f"JOIN ({_NODES_NOW}) d ON d.node_id = l.downstream_node_id LEFT JOIN {now} s USING (link_id) "
        f"LEFT JOIN {failed} f USING (link_id) WHERE u.longitude IS NOT NULL AND u.latitude IS NOT NULL "
        f"AND d.longitude IS NOT NULL AND d.latitude IS NOT NULL ORDER BY l.link_id").fetchall()


def _failed_nodes(con, present: set[str]) -> list[tuple]:
    if NODE_STATE not in present:
        return []
    return con.execute(f"SELECT n.node_id, n.longitude, n.latitude FROM ({_NODES_NOW}) n WHERE n.node_id IN "
                       f"(SELECT node_id FROM {NODE_STATE} WHERE state = 'down') AND n.longitude IS NOT NULL "
                       f"AND n.latitude IS NOT NULL ORDER BY 1").fetchall()


def network_svg(con, present: set[str], xy: Callable[[float, float], tuple[float, float]]) -> str:
    """SVG elements for the report map: links by their state, a cross on each element that failed during the data."""
    if not {NODES, LINKS} <= present:
        return ""
    parts = []
    for link_id, level, state, failed, ulon, ulat, dlon, dlat in _link_rows(con, present):
        (x1, y1), (x2, y2) = xy(ulon, ulat), xy(dlon, dlat)
        parts.append(f'<line class="link link-{_e(state)}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="{LINK_COLOURS.get(state, "#000")}" stroke-width="{LINK_WIDTHS.get(state, 1.5)}">'
                     f'<title>链路 {_e(link_id)} {_e(level)}: {STATE_ZH.get(state, state)} {_e(state)}</title></line>')
        if failed:
            parts.append(_cross((x1 + x2) / 2, (y1 + y2) / 2, f"故障链路 failed link {link_id}"))
    for node_id, lon, lat in _failed_nodes(con, present):
        parts.append(_cross(*xy(lon, lat), f"故障节点 failed node {node_id}"))
    return "".join(parts)


def _cross(x: float, y: float, label: str) -> str:
    return (f'<path class="failed" d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}'
            f'L{x + 4:.1f},{y - 4:.1f}" stroke="{FAILED}" stroke-width="2.2"><title>{_e(label)}</title></path>')


def network_legend(x: float, y: float) -> str:
    parts = []
    for i, (state, colour) in enumerate(LINK_COLOURS.items()):
        parts.append(f'<line x1="{x - 10}" y1="{y + i * 18}" x2="{x + 4}" y2="{y + i * 18}" stroke="{colour}" '
                     f'stroke-width="{LINK_WIDTHS[state]}"/><text x="{x + 10}" y="{y + 4 + i * 18}" font-size="12">'
                     f'链路{STATE_ZH[state]} link {state}</text>')
    return "".join(parts)


def network_faults(con, present: set[str]) -> list[tuple]:
    """Every outage of a link or node: (element type, id, since, until (None while down), its first stay's
    reason_zh, down stays, cameras whose offline stay the root cause gave to this element and overlaps one of the
    outage's stays), in the order they began."""
    stays = []
    if LINK_STATE in present:
        stays.append(f"SELECT 'link' AS element_type, link_id AS element_id, since, until, reason_zh "
                     f"FROM {LINK_STATE} WHERE state = 'down'")
    if NODE_STATE in present:
        stays.append(f"SELECT 'node', node_id, since, until, reason_zh FROM {NODE_STATE} WHERE state = 'down'")
    if not stays:
        return []
    # Cameras only (GB/T 28181 types 131, 132): the recorders the element took down are not cameras.
    cameras = (f"(SELECT count(DISTINCT c.camera_id) FROM {CAUSE} c JOIN episodes e "
               f"ON c.cause_element_type = e.element_type AND c.cause_element_id = e.element_id "
               f"AND c.since < coalesce(e.until, 'infinity'::TIMESTAMPTZ) "
               f"AND coalesce(c.until, 'infinity'::TIMESTAMPTZ) > e.since "
               f"WHERE e.element_type = o.element_type AND e.element_id = o.element_id AND e.episode = o.episode "
               f"AND substr(c.camera_id, 11, 3) IN ('131', '132'))" if CAUSE in present else "NULL")
    return con.execute(f"""
        WITH down AS ({' UNION ALL '.join(stays)}),
        episodes AS ({outage_episodes_sql('down')}),
        outages AS (
          SELECT element_type, element_id, episode, min(since) AS since,
                 CASE WHEN count(*) FILTER (WHERE until IS NULL) > 0 THEN NULL ELSE max(until) END AS until,
                 arg_min(reason_zh, since) AS reason_zh, count(*) AS stays
          FROM episodes GROUP BY ALL)
        SELECT o.element_type, o.element_id, o.since, o.until, o.reason_zh, o.stays, {cameras}
        FROM outages o ORDER BY o.since, o.element_id""").fetchall()


def network_section(con, present: set[str], timezone: str) -> str:
    """The report's table of network faults (empty string when the site has no link state)."""
    rows = network_faults(con, present)
    if not rows and LINK_STATE not in present:
        return ""
    head = (f"<h2>网络故障 / Network faults</h2><p>链路或网络节点中断（相隔不超过 {FLAP_MINUTES} 分钟的多次中断计为一次"
            f"故障）；受影响摄像机为离线原因归于该网元的摄像机 / links and nodes down (down spans at most {FLAP_MINUTES} "
            f"minutes apart are one fault); cameras affected are those whose outage the root cause gave to the "
            f"element</p>")
    if not rows:
        return head + "<p>无网络故障 / no network faults</p>"
    cells = "".join(
        f"<tr><td>{_e(kind)}</td><td>{_e(element)}</td><td>{_e(_local(since, timezone))}</td>"
        f"<td>{_e(_local(until, timezone) if until else '未恢复 still down')}</td><td>{_e(reason or '')}</td>"
        f'<td class="stays">{stays}</td><td class="cameras">{"" if cameras is None else cameras}</td></tr>'
        for kind, element, since, until, reason, stays, cameras in rows)
    return (head + '<table class="network-faults"><tr><th>类型 type</th><th>网元 element</th><th>开始 since</th>'
            "<th>恢复 until</th><th>原因 reason</th><th>中断次数 down spans</th><th>受影响摄像机 cameras affected</th>"
            "</tr>" + cells + "</table>")


def _local(moment, timezone: str) -> str:
    """The city's wall time. The state tables hold it already (naive, as silver.camera_state does): converting a
    naive time would read it as the machine's zone and shift the table by the city's offset."""
    from zoneinfo import ZoneInfo
    if not hasattr(moment, "astimezone"):
        return str(moment)
    local = moment if moment.tzinfo is None else moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M")
