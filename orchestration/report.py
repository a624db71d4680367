"""The main job's HTML report: what a duty officer or an engineer would rather look at than read — the city map
with cameras by state and call hotspots (and the network layer: report_network.py), congestion by hour, rows and
rejections per source, the district scorecard and the actions fired. One self-contained file (inline SVG, no
script, no network), written beside the warehouse; every figure is read back from the stored tables.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from safecity.lakehouse.warehouse import connect
from safecity.config.grid import map_projection
from safecity.config.profiles import Settings
from safecity.orchestration.report_network import network_legend, network_section, network_svg
from safecity.orchestration.summary import RunSummary

STATE_COLOURS = {"online": "#2e7d32", "degraded": "#f9a825", "offline": "#c62828", "never_streamed": "#757575",
                 "decommissioned": "#9e9e9e"}
GRADE_COLOURS = {"free_flow": "#2e7d32", "mostly_free": "#9ccc65", "light": "#fdd835", "moderate": "#fb8c00",
                 "severe": "#c62828"}
MAP_W, MAP_H = 760, 620


def _e(text) -> str:
    return html.escape(str(text))


def _tables(con) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}


def _bars(rows: list[tuple[str, float]], unit: str = "", width: int = 520, colour: str = "#1565c0") -> str:
    """A horizontal bar chart as SVG; rows are (label, value)."""
    if not rows:
        return "<p>无数据 / no data</p>"
    top = max(v for _, v in rows) or 1
    bar_h, label_w = 20, 230
    parts = [f'<svg width="{label_w + width + 90}" height="{len(rows) * (bar_h + 6) + 6}" role="img">']
    for i, (label, value) in enumerate(rows):
        y = 6 + i * (bar_h + 6)
        w = max(1.0, width * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_e(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12">{value:,.0f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _project(settings: Settings):
    return map_projection(settings.city, MAP_W, MAP_H)


# A key place's marker: covered by an online camera, covered only by cameras now down, or not covered.
PLACE_COLOURS = {"online": "#2e7d32", "down": "#f9a825", "uncovered": "#c62828"}
PLACE_LABELS = {"online": "在线覆盖 covered by an online camera", "down": "覆盖摄像机离线 its cameras are down",
                "uncovered": "未覆盖 no camera within its radius"}
PLACE_LEGEND = {"online": "场所·已覆盖 covered", "down": "场所·摄像机离线 down", "uncovered": "场所·未覆盖 uncovered"}


def _place_status(covered: bool, covered_online: bool) -> str:
    return "online" if covered_online else "down" if covered else "uncovered"


def _map(settings: Settings, cameras: list[tuple], hotspots: list[tuple], places: list[tuple] = (),
         network: str = "") -> str:
    """`network`: the links and failed elements (report_network.py), drawn under the points."""
    xy = _project(settings)
    e = settings.city.extent
    x0, y0 = xy(e.min_lon, e.max_lat)
    x1, y1 = xy(e.max_lon, e.min_lat)
    parts = [f'<svg width="{MAP_W}" height="{MAP_H}" role="img" style="background:#f4f6f8">',
             f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" fill="none" '
             f'stroke="#90a4ae" stroke-dasharray="4 3"/>', network]
    top = max((h[2] for h in hotspots), default=1) or 1
    for lon, lat, calls in hotspots:
        x, y = xy(lon, lat)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{4 + 14 * math.sqrt(calls / top):.1f}" '
                     f'fill="#6a1b9a" fill-opacity="0.25" stroke="#6a1b9a"><title>{calls} 起警情 calls</title></circle>')
    for lon, lat, state, device in cameras:
        if lon is None or lat is None:
            continue
        x, y = xy(lon, lat)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{STATE_COLOURS.get(state, "#000")}">'
                     f'<title>{_e(device)} {_e(state)}</title></circle>')
    for lon, lat, name, covered, covered_online in places:
        x, y = xy(lon, lat)
        status = _place_status(covered, covered_online)
        parts.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" transform="rotate(45 {x:.1f} {y:.1f})" '
                     f'fill="{PLACE_COLOURS[status]}" stroke="#fff"><title>重点场所 {_e(name)}: '
                     f'{_e(PLACE_LABELS[status])}</title></rect>')
    for d in settings.city.divisions:
        x, y = xy(*d.centre)
        parts.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="#263238"/>'
                     f'<text x="{x + 6:.1f}" y="{y - 5:.1f}" font-size="13" font-weight="bold">{_e(d.name_zh)}</text>')
    legend = [(c, f"{s}") for s, c in STATE_COLOURS.items()]
    for i, (colour, label) in enumerate(legend):
        parts.append(f'<circle cx="{MAP_W - 150}" cy="{24 + i * 18}" r="5" fill="{colour}"/>'
                     f'<text x="{MAP_W - 140}" y="{28 + i * 18}" font-size="12">{_e(label)}</text>')
    parts.append(f'<circle cx="{MAP_W - 150}" cy="{24 + len(legend) * 18}" r="7" fill="#6a1b9a" fill-opacity="0.25" '
                 f'stroke="#6a1b9a"/><text x="{MAP_W - 140}" y="{28 + len(legend) * 18}" font-size="12">'
                 f'警情热点 call hotspot</text>')
    for i, (status, colour) in enumerate(PLACE_COLOURS.items(), start=len(legend) + 1):
        parts.append(f'<rect x="{MAP_W - 154}" y="{20 + i * 18}" width="8" height="8" fill="{colour}"/>'
                     f'<text x="{MAP_W - 140}" y="{28 + i * 18}" font-size="12">{_e(PLACE_LEGEND[status])}</text>')
    if network:
        parts.append(network_legend(MAP_W - 146, 24 + (len(legend) + len(PLACE_COLOURS) + 1) * 18))
    parts.append("</svg>")
    return "".join(parts)


def _congestion(rows: list[tuple]) -> str:
    """Mean congestion index by hour (0–10, GB/T 33171), with the grade bands behind the line."""
    if not rows:
        return "<p>无数据 / no data</p>"
    w, h, left, bottom = 720, 240, 40, 24
    bands = [(0, 2, "free_flow"), (2, 4, "mostly_free"), (4, 6, "light"), (6, 8, "moderate"), (8, 10, "severe")]
    parts = [f'<svg width="{w}" height="{h}" role="img">']
    for low, high, grade in bands:
        y_top = (h - bottom) * (1 - high / 10)
        parts.append(f'<rect x="{left}" y="{y_top:.1f}" width="{w - left}" height="{(h - bottom) * 0.2:.1f}" '
                     f'fill="{GRADE_COLOURS[grade]}" fill-opacity="0.18"/>'
                     f'<text x="4" y="{y_top + 14:.1f}" font-size="10">{high}</text>')
    step = (w - left) / 24
    points = " ".join(f"{left + (hour + 0.5) * step:.1f},{(h - bottom) * (1 - min(value, 10) / 10):.1f}"
                      for hour, value in rows)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#0d47a1" stroke-width="2"/>')
    for hour, value in rows:
        parts.append(f'<circle cx="{left + (hour + 0.5) * step:.1f}" cy="{(h - bottom) * (1 - min(value, 10) / 10):.1f}"'
                     f' r="3" fill="#0d47a1"><title>{hour}:00 {value:.2f}</title></circle>')
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + (hour + 0.5) * step:.1f}" y="{h - 6}" font-size="11" '
                     f'text-anchor="middle">{hour}:00</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_report(settings: Settings, summary: RunSummary) -> Path:
    target = settings.paths.reports / "main_job.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    with connect(settings, read_only=True) as con:
        present = _tables(con)
        cameras, hotspots, places = [], [], []
        if {"silver.camera_state", "silver.camera"} <= present:
            cameras = con.execute(
                "SELECT r.lon, r.lat, s.state, s.device_id FROM silver.camera_state s JOIN (SELECT device_id, "
                "arg_max(longitude, _ingested_at) AS lon, arg_max(latitude, _ingested_at) AS lat FROM silver.camera "
                "GROUP BY device_id) r USING (device_id)").fetchall()
        if "marts.mart_alarm_hotspots" in present:
            hotspots = con.execute("SELECT centre_longitude, centre_latitude, sum(calls) FROM marts.mart_alarm_hotspots "
                                   "GROUP BY ALL").fetchall()
        if "marts.mart_key_place_coverage" in present:
            places = con.execute("SELECT longitude, latitude, place_name_zh, is_covered, is_covered_online "
                                 "FROM marts.mart_key_place_coverage").fetchall()
        by_state = {}
        for _, _, state, _ in cameras:
            by_state[state] = by_state.get(state, 0) + 1
        sections.append("<h2>城市概览 / The city today</h2><p>" + "，".join(
            f'<span style="color:{STATE_COLOURS.get(s, "#000")}">●</span> {_e(s)} {n}' for s, n in
            sorted(by_state.items())) + f"；警情热点网格 {len(hotspots)} / call hotspot cells；重点场所 "
            f"{len(places)}，未覆盖 {sum(not p[3] for p in places)} / key places, not covered</p>"
            + _map(settings, cameras, hotspots, places, network_svg(con, present, _project(settings)))
            + network_section(con, present, settings.city.timezone))
        if "marts.mart_congestion_index" in present:
            hourly = con.execute("SELECT hour(timezone(?, hour_start)) AS h, avg(congestion_index) FROM "
                                 "marts.mart_congestion_index GROUP BY 1 ORDER BY 1",
                                 [settings.city.timezone]).fetchall()
            worst = con.execute("SELECT road_segment_id, max(congestion_index) FROM marts.mart_congestion_index "
                                "GROUP BY 1 ORDER BY 2 DESC LIMIT 8").fetchall()
            sections.append("<h2>交通拥堵指数 / Congestion index by hour (GB/T 33171, 0–10)</h2>" + _congestion(hourly)
                            + "<h3>最拥堵路段 / Most congested segments (peak index)</h3>"
                            + _bars([(r, v) for r, v in worst], colour="#e65100"))
        if "marts.mart_scorecard_district" in present:
            scores = con.execute("SELECT division_name_zh, any_value(district_score) FROM marts.mart_scorecard_district "
                                 "WHERE NOT is_unassigned GROUP BY 1 ORDER BY 2 DESC").fetchall()
            unassigned = con.execute("SELECT coalesce(max(calls), 0) FROM marts.mart_scorecard_district "
                                     "WHERE is_unassigned").fetchone()[0]
            sections.append("<h2>信息化建设评分 / District scorecard (100 points)</h2>"
                            + _bars([(d, s) for d, s in scores], " 分", colour="#2e7d32")
                            + (f"<p>未分配区县的警情 {unassigned} 起，不计入任何区县 / {unassigned} calls without a "
                               f"division, counted in no district's score</p>" if unassigned else ""))
    silver = summary.layers.get("silver", {})
    quarantine = summary.layers.get("quarantine", {})
    sections.append("<h2>各数据源入库 / Rows per source</h2>" + _bars(
        sorted(((f"{t}（合格 silver）", n) for t, n in silver.items() if n), key=lambda r: -r[1])[:14]))
    sections.append("<h2>隔离原因 / Quarantined by reason</h2>" + _bars(
        [(f"{code} {entry['name_zh'] or ''}", entry["rows"]) for code, entry in summary.quarantine_by_reason.items()],
        colour="#c62828") + "<p>" + "，".join(f"{_e(t)} {n}" for t, n in quarantine.items() if n) + "</p>")
    sections.append("<h2>策略动作 / Actions fired by policy</h2>" + _bars(
        sorted(summary.actions_by_policy.items(), key=lambda r: -r[1]), colour="#4527a0"))
    status = "成功 / succeeded" if summary.success else "失败 / FAILED"
    checks = f"{sum(summary.checks.values())} / {len(summary.checks)}" + (
        f"（警告 warnings {len(summary.check_warnings)}）" if summary.check_warnings else "")
    page = f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>SafeCity 主作业报告 / main job report</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;max-width:1000px;color:#212121}}
h2{{border-bottom:2px solid #1565c0;padding-bottom:4px;margin-top:32px}} svg{{display:block}}</style></head><body>
<h1>SafeCity 平安城市 · {_e(settings.city.name_zh)} — 主作业报告 / main job report</h1>
<p>运行 run {_e(summary.run_id[:8])}: {status}，用时 {summary.seconds:.0f} 秒；数据检查 asset checks passed {checks}。</p>
{''.join(sections)}
<h2>下一步 / Where to look next</h2><ul>{''.join(f'<li><b>{_e(k)}</b>: {_e(v)}</li>'
                                              for k, v in summary.where_next.items())}</ul>
</body></html>"""
    target.write_text(page, encoding="utf-8")
    return target
