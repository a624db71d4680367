"""The board's one page: Chinese first, English beside; the city map as inline SVG (board_map.py) and a small
script that renders the `action`, `state` and `network` server-sent events (board_app.py). No framework, no network beyond
the board itself: the command centre's screens may have no internet. Data is written with textContent, never as
HTML, so a policy message cannot inject markup.
"""
from __future__ import annotations

import html
import json

from safecity.config.profiles import Settings
from safecity.service.board_map import CityMap
from safecity.service.board_state import LATEST

# Words the shipped policies put in parameters, as the duty officer reads them.
WORDS = {
    "drone": "无人机", "traffic_police": "交警", "patrol_police": "巡警", "special_police": "特警",
    "fire_rescue": "消防救援", "emergency": "特急", "urgent": "紧急", "routine": "一般",
    "congestion_relief": "疏堵方案", "delivered": "已送达", "retrying": "重试中", "dead_letter": "投递失败", "pending": "待投递",
    # The network layer (issue 21's code tables network_level and network_operator).
    "city": "市局", "branch": "分局", "station": "派出所", "access": "接入点", "china_telecom": "中国电信",
    "china_unicom": "中国联通", "china_mobile": "中国移动", "china_broadnet": "中国广电", "self_built": "自建",
}

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>__TITLE__</title>
<style>
body{margin:0;font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#0b1520;color:#e3eaf0}
header{display:flex;justify-content:space-between;align-items:center;padding:8px 16px;background:#12263a}
h1{font-size:20px;margin:0} h2{font-size:15px;margin:0 0 6px;color:#8fc1ff;border-bottom:1px solid #2c4a66}
.en{color:#8fa3b5;font-weight:normal;font-size:.9em}
main{display:grid;grid-template-columns:minmax(420px,1fr) minmax(520px,1.3fr);gap:10px;padding:10px}
section{background:#102030;border:1px solid #1f3a55;border-radius:4px;padding:8px;overflow:auto;max-height:46vh}
table{border-collapse:collapse;width:100%;font-size:13px} td,th{padding:3px 6px;border-bottom:1px solid #1c3349;
text-align:left;vertical-align:top} th{color:#a9bccd;font-weight:normal}
.lvl-I,.lvl-II{color:#ff5252;font-weight:bold}.lvl-III{color:#ff9100;font-weight:bold}.lvl-IV{color:#ffd740}
#status.live{color:#69f0ae}#status.down{color:#ff5252} .empty{color:#6d8296;font-size:13px}
.new{animation:flash 2s} @keyframes flash{from{background:#37474f}to{background:transparent}}
#map{max-height:none} #city-map{width:100%;height:auto;max-height:44vh;display:block}
</style></head><body>
<header><h1>__CITY__ 指挥大屏 <span class="en">Command board</span></h1>
<div><span id="count"></span> · <span id="status" class="down">连接中 <span class="en">connecting</span></span></div></header>
<div id="error" style="color:#ff5252;padding:0 16px"></div>
<main>
<section id="map"><h2>城市地图 <span class="en">City map</span></h2>__MAP__</section>
<section><h2>未结警情及响应级别 <span class="en">Open incidents and escalation level</span></h2>
<table id="incidents"><thead><tr><th>警情 <span class="en">Incident</span></th><th>级别 <span class="en">Level</span></th>
<th>升级时间 <span class="en">Escalated</span></th><th>启动时间 <span class="en">Opened</span></th></tr></thead><tbody></tbody></table>
<p id="closed" class="empty"></p></section>
<section><h2>调度指令 <span class="en">Dispatch orders</span></h2>
<table id="dispatches"><thead><tr><th>时间 <span class="en">Time</span></th><th>力量 <span class="en">Unit</span></th>
<th>目标 <span class="en">Target</span></th><th>等级 <span class="en">Urgency</span></th><th>警情 <span class="en">Incident</span></th>
<th>事由 <span class="en">Reason</span></th></tr></thead><tbody></tbody></table></section>
<section><h2>警情附近故障摄像机 <span class="en">Cameras down near incidents</span></h2>
<table id="cameras"><thead><tr><th>摄像机 <span class="en">Camera</span></th><th>警情 <span class="en">Incident</span></th>
<th>网格 <span class="en">Grid</span></th><th>说明 <span class="en">Note</span></th><th>时间 <span class="en">Time</span></th>
</tr></thead><tbody></tbody></table></section>
<section><h2>拥堵热点 <span class="en">Congestion hot spots</span></h2>
<table id="congestion"><thead><tr><th>路口 <span class="en">Junction</span></th><th>调度次数 <span class="en">Dispatches</span></th>
<th>信号方案 <span class="en">Signal plan</span></th><th>事由 <span class="en">Reason</span></th><th>最近 <span class="en">Last</span></th>
</tr></thead><tbody></tbody></table></section>
<section><h2>网络故障 <span class="en">Network faults</span></h2>
<table id="network-faults"><thead><tr><th>链路 <span class="en">Link</span></th><th>状态 <span class="en">State</span></th>
<th>层级 <span class="en">Level</span></th><th>运营商 <span class="en">Operator</span></th><th>维护单位 <span class="en">Contractor</span></th>
<th>原因 <span class="en">Reason</span></th><th>自 <span class="en">Since</span></th></tr></thead><tbody></tbody></table></section>
<section><h2>最新动作 <span class="en">Latest actions</span></h2>
<table id="latest"><thead><tr><th>时间 <span class="en">Time</span></th><th>策略 <span class="en">Policy</span></th>
<th>动作 <span class="en">Action</span></th><th>内容 <span class="en">Message</span></th><th>投递 <span class="en">Delivery</span></th>
</tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const TZ = __TZ__, WORDS = __WORDS__, KEEP = __KEEP__;
const MARKERS = {camera_down: {r: 9, fill: "#ff5252"}, dispatch: {r: 6, fill: "#40c4ff"},
                 congestion: {r: 8, fill: "#ffab40"}};
// Links by state (board_network.py): up thin and quiet, a fault thick and loud.
const LINKS = {up: {stroke: "#43a047", width: 1, opacity: 0.45}, degraded: {stroke: "#ffd740", width: 2.5, opacity: 0.9},
               saturated: {stroke: "#ff9100", width: 3, opacity: 0.95}, down: {stroke: "#ff1744", width: 3.5, opacity: 1}};
const latest = [];          // newest first, as the action events came
let delivery = {}, deliveryKnown = false;
window.boardReceived = {};  // seq -> ms since the epoch when the row reached the page (tests and benchmark read it)

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function both(value) { const zh = WORDS[value]; return zh ? zh + " " + value : (value || ""); }
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString("zh-CN", {timeZone: TZ, hour12: false});
}
function fill(id, items, cells, empty) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (!items.length) {
    const tr = el("tr"), td = el("td", empty, "empty");
    td.colSpan = 9; tr.append(td); body.append(tr); return;
  }
  for (const item of items) {
    const tr = el("tr");
    for (const cell of cells(item)) tr.append(cell instanceof Node ? wrap(cell) : el("td", cell));
    body.append(tr);
  }
}
function wrap(node) { const td = el("td"); td.append(node); return td; }
function levelCell(i) {
  const span = el("span", i.label_zh + " / " + i.label_en, "lvl-" + i.level);
  span.dataset.incident = i.incident_id;
  return span;
}
function deliveryText(key) {
  if (!deliveryKnown) return "";
  const entries = delivery[key] || [];
  if (!entries.length) return both("pending");
  // ops.action_delivery: retrying with 0 attempts is an action no sink has tried yet.
  return entries.map(e => e.sink + ": " + (e.status === "retrying" && !e.attempts ? both("pending") : both(e.status))
      + (e.attempts > 1 ? " ×" + e.attempts : "") + (e.last_error ? " (" + e.last_error + ")" : "")).join("; ");
}
function renderLatest() {
  fill("latest", latest, r => [when(r.fired_at), r.policy_id, (r.action_name_zh ? r.action_name_zh + " " : "") + r.action,
       r.message, deliveryText(r.idempotency_key)], "暂无动作 / no actions yet");
}
function renderNetwork(links) {
  const net = document.getElementById("network");
  net.replaceChildren();
  for (const l of links) {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line"), look = LINKS[l.state] || LINKS.degraded;
    for (const [k, v] of [["x1", l.x1], ["y1", l.y1], ["x2", l.x2], ["y2", l.y2], ["stroke", look.stroke],
                          ["stroke-width", look.width], ["stroke-opacity", look.opacity]]) line.setAttribute(k, v);
    line.setAttribute("class", "link link-" + l.state); line.dataset.link = l.link_id;
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = l.link_id + " " + l.state_zh + " " + l.state + (l.reason_zh ? " · " + l.reason_zh : "");
    line.append(t); net.append(line);
  }
  fill("network-faults", links.filter(l => l.state !== "up"), l => [l.link_id, l.state_zh + " " + l.state,
       both(l.level), both(l.operator), l.contractor, l.reason_zh, when(l.since)], "网络正常 / no network faults");
}
function renderState(s) {
  fill("incidents", s.open_incidents, i => [i.incident_id, levelCell(i), when(i.reached_at), when(i.opened_at)],
       "无未结警情 / no open incidents");
  document.getElementById("closed").textContent = s.closed_incidents.length
      ? "已结案 closed: " + s.closed_incidents.join(", ") : "";
  fill("dispatches", s.dispatch_orders.slice(0, KEEP), d => [when(d.fired_at), both(d.unit_type), d.target,
       both(d.urgency), d.incident_id, d.reason], "无调度指令 / no dispatch orders");
  fill("cameras", s.cameras_down, c => [c.camera_id, c.incident_id, c.grid_id, c.message, when(c.fired_at)],
       "无 / none");
  fill("congestion", s.congestion, c => [c.junction_id, c.dispatches, both(c.signal_plan), c.reason, when(c.last_at)],
       "无拥堵热点 / no hot spots");
  const g = document.getElementById("markers");
  g.replaceChildren();
  for (const m of s.markers) {
    const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    const look = MARKERS[m.kind] || MARKERS.dispatch;
    c.setAttribute("cx", m.x); c.setAttribute("cy", m.y); c.setAttribute("r", look.r);
    c.setAttribute("fill", look.fill); c.setAttribute("fill-opacity", "0.7"); c.setAttribute("class", m.kind);
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title"); t.textContent = m.label;
    c.append(t); g.append(c);
  }
  delivery = s.delivery; deliveryKnown = s.delivery_known;
  document.getElementById("count").textContent = "动作 actions: " + s.actions;
  document.getElementById("error").textContent = s.error || "";
  renderLatest();
}
function status(text, cls) { const s = document.getElementById("status"); s.textContent = text; s.className = cls; }
const source = new EventSource("events");
source.addEventListener("action", e => {
  const row = JSON.parse(e.data);
  window.boardReceived[row.seq] = Date.now();
  latest.unshift(row);
  if (latest.length > KEEP) latest.pop();
  renderLatest();
});
source.addEventListener("state", e => renderState(JSON.parse(e.data)));
source.addEventListener("network", e => renderNetwork(JSON.parse(e.data).links));
source.onopen = () => status("实时 live", "live");
source.onerror = () => status("重连中 reconnecting", "down");
</script></body></html>
"""


def render_page(settings: Settings, city_map: CityMap) -> str:
    city = settings.city
    values = {"__TITLE__": html.escape(f"{city.name_zh} 指挥大屏 / {city.name_en} command board"),
              "__CITY__": html.escape(city.name_zh), "__MAP__": city_map.svg(),
              "__TZ__": json.dumps(city.timezone), "__WORDS__": json.dumps(WORDS, ensure_ascii=False),
              "__KEEP__": str(LATEST)}
    page = PAGE
    for marker, value in values.items():
        page = page.replace(marker, value)
    return page
