"""The network and camera tables of silver as the network tests write them by hand: their columns, once (the
state and root-cause tests and the open-fault test build the same tables with different rows)."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa

S, TS, F, I = pa.string(), pa.timestamp("us", tz="UTC"), pa.float64(), pa.int64()

COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = {
    "network_node": [("node_id", S), ("node_name", S), ("node_type", S), ("level", S), ("division_code", S),
                     ("network", S)],
    "network_link": [("link_id", S), ("upstream_node_id", S), ("upstream_if", S), ("downstream_node_id", S),
                     ("level", S), ("capacity_mbps", F), ("medium", S), ("operator", S), ("contractor", S),
                     ("division_code", S)],
    "network_attachment": [("device_id", S), ("node_id", S), ("port", S)],
    "interface_status": [("node_id", S), ("if_name", S), ("status", S), ("changed_at", TS)],
    "interface_counter": [("node_id", S), ("if_name", S), ("sampled_at", TS), ("in_octets", I), ("out_octets", I)],
    "link_probe": [("target_node_id", S), ("interval_start", TS), ("sent", I), ("received", I), ("rtt_avg_ms", F),
                   ("rtt_max_ms", F)],
    "camera": [("device_id", S), ("parent_id", S), ("status", S), ("longitude", F), ("latitude", F),
               ("use_type", S), ("position_type", S)],
    "device_status": [("cmd_type", S), ("device_id", S), ("status", S), ("reported_at", TS)],
    "maintenance_work_order": [("device_id", S), ("opened_at", TS), ("contractor", S)],
}


def silver_table(name: str, rows: list[dict], ingested_at: dt.datetime) -> pa.Table:
    """`rows` of silver.`name` with its columns, each ingested at `ingested_at`."""
    fields = pa.schema(COLUMNS[name] + [("_ingested_at", TS)])
    return pa.Table.from_pylist([r | {"_ingested_at": ingested_at} for r in rows], schema=fields)
