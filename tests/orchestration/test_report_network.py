"""The main job's report draws the network layer: links by their state at the end of the data, a cross on every
element that failed, and a table of network faults whose cameras-affected figures equal a count made here from the
raw root-cause rows. Real Iceberg tables in a temporary home, read through the warehouse views as the report does."""
from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.orchestration.report import write_report
from safecity.orchestration.summary import RunSummary
from tests.service.board_support import LINK_SCHEMA, LINK_STATE_SCHEMA, NODE_SCHEMA, link, node, stay, write_table

CST = dt.timezone(dt.timedelta(hours=8))
TS = pa.timestamp("us", tz="UTC")
NODE_STATE_SCHEMA = pa.schema([pa.field("node_id", pa.string()), pa.field("state", pa.string()),
                               pa.field("since", TS), pa.field("until", TS), pa.field("reason_zh", pa.string()),
                               pa.field("reason_en", pa.string()), pa.field("evidence", pa.string()),
                               pa.field("last_evidence_at", TS)])
CAUSE_SCHEMA = pa.schema([pa.field("camera_id", pa.string()), pa.field("since", TS), pa.field("until", TS)]
                         + [pa.field(n, pa.string()) for n in ("cause_element_type", "cause_element_id", "contractor",
                                                                "reason_zh", "reason_en")])


def t(hh: int, mm: int) -> dt.datetime:
    return dt.datetime(2025, 3, 1, hh, mm, tzinfo=CST)


def cause(n: int, kind: str, element: str, since, until) -> dict:
    return {"camera_id": f"130302000013200{n:05d}", "since": since, "until": until, "cause_element_type": kind,
            "cause_element_id": element, "contractor": "x", "reason_zh": "上级网元中断", "reason_en": "upstream down"}


def test_the_report_draws_links_by_state_marks_failures_and_counts_cameras_per_fault(settings):
    div = settings.city.divisions[1]
    lon, lat = div.centre
    core, branch, station, access = (f"NET{div.code}C0001", f"NET{div.code}B0001", f"NET{div.code}S0003",
                                     f"NET{div.code}A0012")
    at = t(0, 0)
    uplink, access_link, branch_link = f"LNK{station}", f"LNK{access}", f"LNK{branch}"
    catalog = open_catalog(settings)
    write_table(catalog, "silver.network_node", NODE_SCHEMA, [
        node(core, "city", div.code, lon - 0.1, lat + 0.1, at), node(branch, "branch", div.code, lon, lat, at),
        node(station, "station", div.code, lon + 0.05, lat - 0.03, at),
        node(access, "access", div.code, lon + 0.07, lat - 0.05, at)])
    write_table(catalog, "silver.network_link", LINK_SCHEMA, [
        link(core, branch, "branch", "china_telecom", "电信", at), link(branch, station, "station", "china_unicom", "联通", at),
        link(station, access, "access", "self_built", "华北安防", at)])
    write_table(catalog, "silver.link_state", LINK_STATE_SCHEMA, [
        stay(uplink, "down", t(9, 10), t(9, 55), "上行接口 down"), stay(uplink, "up", t(9, 55), None),
        stay(access_link, "down", t(14, 0), None, "光纤中断"), stay(branch_link, "saturated", t(18, 0), None, "拥塞"),
        # A flapping port: three down spans 5 and 4 minutes apart are one fault; the one at 16:00 is another.
        stay(branch_link, "down", t(7, 30), t(7, 33), "端口反复通断"), stay(branch_link, "down", t(7, 38), t(7, 41)),
        stay(branch_link, "down", t(7, 45), t(7, 47)), stay(branch_link, "down", t(16, 0), t(16, 5), "光模块故障")])
    write_table(catalog, "silver.node_state", NODE_STATE_SCHEMA, [
        {"node_id": branch, "state": "down", "since": t(11, 0), "until": t(11, 20), "reason_zh": "节点探测失败",
         "reason_en": "probe lost", "evidence": "link_probe", "last_evidence_at": t(11, 20)}])
    causes = ([cause(n, "link", uplink, t(9, 11), t(9, 55)) for n in range(12)]
              + [cause(50, "link", uplink, t(15, 0), t(15, 30))]     # the same link's id, outside its down stay
              + [cause(60 + n, "link", access_link, t(14, 1), None) for n in range(3)]
              + [cause(70 + n, "node", branch, t(11, 1), t(11, 19)) for n in range(2)]
              + [cause(80 + n, "camera", f"130302000013200{80 + n:05d}", t(8, 0), t(9, 0)) for n in range(4)]
              + [cause(90, "link", branch_link, t(7, 31), t(7, 33)), cause(91, "link", branch_link, t(7, 46), t(7, 47)),
                 cause(92, "link", branch_link, t(7, 42), t(7, 44)),   # between two spans: overlaps none of them
                 cause(93, "link", branch_link, t(16, 1), t(16, 5))])
    write_table(catalog, "silver.camera_outage_cause", CAUSE_SCHEMA, causes)
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))

    page = write_report(settings, RunSummary(True, "run-net-1", 1.0, str(settings.paths.home))).read_text("utf-8")

    shown = {link_id: state for state, link_id in re.findall(r'<line class="link link-(\w+)"[^>]*><title>链路 (\S+) ',
                                                             page)}
    assert shown == {uplink: "up", access_link: "down", branch_link: "saturated"}
    crosses = re.findall(r'<path class="failed"[^>]*><title>([^<]+)</title>', page)
    assert sorted(crosses) == sorted([f"故障链路 failed link {uplink}", f"故障链路 failed link {access_link}",
                                      f"故障链路 failed link {branch_link}", f"故障节点 failed node {branch}"])

    # One row per fault (the flapping port's three spans together); cameras per fault counted here from the raw
    # rows: same element, offline stay overlapping one of the fault's down spans.
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    faults = [("link", uplink, [(t(9, 10), t(9, 55))]), ("link", access_link, [(t(14, 0), None)]),
              ("node", branch, [(t(11, 0), t(11, 20))]),
              ("link", branch_link, [(t(7, 30), t(7, 33)), (t(7, 38), t(7, 41)), (t(7, 45), t(7, 47))]),
              ("link", branch_link, [(t(16, 0), t(16, 5))])]
    table = page.split('<table class="network-faults">')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td>([^<]+)</td>.*?<td class=\"stays\">(\d+)</td>"
                      r"<td class=\"cameras\">(\d+)</td></tr>", table)
    assert len(rows) == len(faults)
    for kind, element, spans in faults:
        expected = len({c["camera_id"] for c in causes if c["cause_element_type"] == kind
                        and c["cause_element_id"] == element
                        and any(c["since"] < (until or far) and (c["until"] or far) > since for since, until in spans)})
        assert (kind, element, spans[0][0].strftime("%Y-%m-%d %H:%M"), str(len(spans)), str(expected)) in rows
    assert ("link", uplink, "2025-03-01 09:10", "1", "12") in rows and "未恢复 still down" in table
    assert ("link", branch_link, "2025-03-01 07:30", "3", "2") in rows
    assert "网络故障 / Network faults" in page and "链路中断 link down" in page  # section and legend


def test_a_site_without_network_tables_gets_the_report_without_the_layer(settings):
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver",))
    page = write_report(settings, RunSummary(True, "run-net-2", 1.0, str(settings.paths.home))).read_text("utf-8")
    assert "城市概览" in page and 'class="link' not in page and "网络故障" not in page


def test_fault_times_are_the_citys_wall_time_whether_stored_naive_or_with_a_zone():
    """silver.link_state holds naive local wall time (the network step writes it as the camera state machine does);
    the report showed it 8 hours late by reading it as UTC."""
    from safecity.orchestration.report_network import _local

    assert _local(dt.datetime(2026, 7, 15, 10, 27, 28), "Asia/Shanghai") == "2026-07-15 10:27"
    assert _local(dt.datetime(2026, 7, 15, 2, 27, 28, tzinfo=dt.timezone.utc), "Asia/Shanghai") == "2026-07-15 10:27"
