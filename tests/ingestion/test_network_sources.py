"""The network management system's exports (simulator/network.py) through a real ingestion: every row of the six
network sources is in silver or in quarantine, the silver counts and sums equal pandas over the raw files, and the
hostile rows added to the day (an unknown device type, a non-numeric octet count, a negative probe count) are
quarantined with their reason and field."""
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.simulator.run import simulate

DAY = dt.date(2026, 7, 15)
AS_OF = dt.datetime(2026, 7, 16, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
# mapping -> (entity, the simulator's file kind)
SOURCES = {"network_nodes_csv": ("network_node", "network_nodes_csv"),
           "network_links_csv": ("network_link", "network_links_csv"),
           "network_attachments_csv": ("network_attachment", "network_attachments_csv"),
           "network_interface_status": ("interface_status", "interface_status_jsonl"),
           "network_interface_counters": ("interface_counter", "interface_counters_jsonl"),
           "network_link_probes": ("link_probe", "link_probes_jsonl")}


def _append(path, line: str) -> int:
    """Append one line to an export; returns its line number as lineage counts it (a CSV's header is line 1)."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + ("\r\n" if path.suffix == ".csv" else "\n"), encoding="utf-8")
    return len(text.splitlines()) + 1


@pytest.fixture(scope="module")
def day(tmp_path_factory, catalogue):
    out = tmp_path_factory.mktemp("network_day")
    simulate("qinhuangdao", DAY, 1, "small", 5, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = {f["kind"]: out / name for name, f in manifest["files"].items()}
    hostile = {  # mapping -> (file, line, reason, field)
        "network_nodes_csv": (files["network_nodes_csv"], _append(
            files["network_nodes_csv"], "NET130302A9999,测试路由器,路由器,接入点,130302,视频专网,119.6,39.9,华为,AR6140"),
            "E_CODE", "node_type"),
        "network_interface_counters": (files["interface_counters_jsonl"], _append(
            files["interface_counters_jsonl"], '{"agent":"NET130300C0001","ifName":"XGE1/0/1",'
            '"time":"2026-07-15T23:59:30","ifHCInOctets":"n/a","ifHCOutOctets":12}'), "E_TYPE", "in_octets"),
        "network_link_probes": (files["link_probes_jsonl"], _append(
            files["link_probes_jsonl"], '{"target":"NET130300C0002","start":"2026-07-15T23:59:30","sent":20,'
            '"received":-1,"rttAvg":null,"rttMax":null}'), "E_RANGE", "received"),
    }
    settings = load_settings("local", tmp_path_factory.mktemp("home"))
    catalog = open_catalog(settings)
    landing = LocalLanding(out)
    reports = {source: ingest_source(catalog, catalogue, load_mapping(mapping_path(source), catalogue), landing,
                                     as_of=AS_OF) for source in SOURCES}
    con = connect(settings)
    publish_views(con, catalog)
    yield {"files": files, "reports": reports, "con": con, "hostile": hostile}
    con.close()


def raw(day, kind: str) -> pd.DataFrame:
    path = day["files"][kind]
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str)
    return pd.read_json(path, lines=True, dtype=False)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_row_lands_in_silver_or_quarantine_and_only_the_hostile_ones_are_quarantined(day, source):
    entity, kind = SOURCES[source]
    report, con = day["reports"][source], day["con"]
    rows = len(raw(day, kind))
    assert report.received == rows and rows > 0
    assert report.silver + report.quarantined == rows
    quarantined = con.execute(f"SELECT _file, _line, primary_reason, reasons[1].field FROM quarantine.{entity}"
                              ).fetchall()
    if source in day["hostile"]:
        path, line, reason, field = day["hostile"][source]
        assert quarantined == [(path.relative_to(path.parents[1]).as_posix(), line, reason, field)]
    else:
        assert quarantined == []
    assert con.execute(f"SELECT count(*) FROM silver.{entity}").fetchone()[0] == rows - len(quarantined)


def test_node_types_and_levels_arrive_as_codes(day):
    nodes = raw(day, "network_nodes_csv").iloc[:-1]  # less the hostile router
    types = {"核心交换机": "core_switch", "汇聚交换机": "aggregation_switch", "接入交换机": "access_switch",
             "光端机": "optical_transceiver", "视频网关": "video_gateway"}
    levels = {"市局": "city", "分局": "branch", "派出所": "station", "接入点": "access"}
    expected = sorted((r.设备编号, types[r.设备类型], levels[r.网络层级], r.行政区划代码) for r in nodes.itertuples())
    stored = day["con"].execute("SELECT node_id, node_type, level, division_code FROM silver.network_node "
                                "ORDER BY node_id").fetchall()
    assert stored == expected


def test_links_keep_capacity_operator_and_contractor(day):
    links = raw(day, "network_links_csv")
    operators = {"中国电信": "china_telecom", "中国联通": "china_unicom", "中国移动": "china_mobile",
                 "中国广电": "china_broadnet", "自建": "self_built"}
    expected = sorted((r.链路编号, r.上联设备, r.上联端口, r.下联设备, float(r._6), operators[r.运营商], r.维护单位)
                      for r in links.itertuples())
    stored = day["con"].execute("SELECT link_id, upstream_node_id, upstream_if, downstream_node_id, capacity_mbps, "
                                "operator, contractor FROM silver.network_link ORDER BY link_id").fetchall()
    assert stored == expected


def test_counters_probes_and_traps_sum_as_in_the_files(day):
    con = day["con"]
    counters = raw(day, "interface_counters_jsonl").iloc[:-1]
    assert con.execute("SELECT sum(in_octets)::HUGEINT, sum(out_octets)::HUGEINT FROM silver.interface_counter"
                       ).fetchone() == (int(counters.ifHCInOctets.astype("int64").sum()),
                                        int(counters.ifHCOutOctets.astype("int64").sum()))
    probes = raw(day, "link_probes_jsonl").iloc[:-1]
    assert con.execute("SELECT sum(received), count(*) FILTER (WHERE rtt_avg_ms IS NULL) FROM silver.link_probe"
                       ).fetchone() == (int(probes.received.sum()), int(probes.rttAvg.isna().sum()))
    traps = raw(day, "interface_status_jsonl")
    stored = con.execute("SELECT node_id, if_name, status, strftime(timezone('Asia/Shanghai', changed_at), "
                         "'%Y-%m-%dT%H:%M:%S') FROM silver.interface_status ORDER BY 4, 1, 2").fetchall()
    assert stored == sorted(((r.agent, r.ifName, {"linkDown": "down", "linkUp": "up"}[r.trap], r.time)
                             for r in traps.itertuples()), key=lambda r: (r[3], r[0], r[1]))
