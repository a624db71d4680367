"""What the board tests share: outbox records fired by the shipped policies on the real rule engine, written to
ops.outbox the way the streaming worker does (rules/streaming.py iceberg_outbox), and small waits."""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.outbox import OutboxRecord, to_arrow
from safecity.rules.streaming import iceberg_outbox
from safecity.service.board_state import OutboxRow

ESCALATION = Path(POLICIES_DIR) / "emergency" / "incident_escalation.yaml"
BLIND_SPOT = Path(POLICIES_DIR) / "command" / "blind_spot_incident.yaml"
CONGESTION = Path(POLICIES_DIR) / "command" / "junction_congestion.yaml"
# ops.action_delivery with the columns the delivery helper of issue 18 gives it (the board needs key, sink, status).
DELIVERY_SCHEMA = pa.schema([
    pa.field("idempotency_key", pa.string()), pa.field("policy_id", pa.string()), pa.field("action", pa.string()),
    pa.field("sink", pa.string()), pa.field("status", pa.string()), pa.field("attempts", pa.int32()),
    pa.field("last_error", pa.string()), pa.field("updated_at", pa.timestamp("us", tz="UTC"))])


def fire(policy: Path, events: list[dict[str, Any]]) -> list[OutboxRecord]:
    """The policy's actions on `events` (real engine, action time = event time so keys and times are stable)."""
    result = evaluate([load_policy(policy)], events, clock=EVENT_TIME)
    assert result.errors == [] and result.rejected == [], (result.errors, result.rejected)
    return list(result.outbox)


def assessed(incident: str, ts: str, *, casualties: int, deaths: int = 0, serious: int = 0) -> dict[str, Any]:
    return {"type": "incident_assessed", "id": f"assessed:{incident}:{ts}", "incident_id": incident,
            "casualties": casualties, "deaths": deaths, "serious_injuries": serious, "ts": ts}


def reported(incident: str, ts: str, *, casualties: int, grid: str = "G010010") -> dict[str, Any]:
    return {"type": "incident_reported", "id": f"reported:{incident}:{ts}", "incident_id": incident,
            "casualties": casualties, "category": "070000", "grid_id": grid, "ts": ts}


def closed(incident: str, ts: str) -> dict[str, Any]:
    return {"type": "incident_closed", "id": f"closed:{incident}:{ts}", "incident_id": incident, "ts": ts}


def rows_of(records: list[OutboxRecord]) -> list[OutboxRow]:
    """The records as the board reads them back from the table (through Arrow, in firing order)."""
    return [OutboxRow.from_arrow(i, row) for i, row in enumerate(to_arrow(records).to_pylist(), start=1)]


def write_outbox(catalog, records: list[OutboxRecord], batch: str) -> None:
    iceberg_outbox(catalog)(records, {"safecity.incidents:0": batch})


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def wait_for(predicate, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(every)


# The network registries and link state with the columns of issue 21's contract (docs/board.md, "Network layer").
NETWORK_UPLINK = Path(POLICIES_DIR) / "network" / "uplink_down_key_points.yaml"
_TS = pa.timestamp("us", tz="UTC")
NODE_SCHEMA = pa.schema([pa.field(n, pa.string()) for n in ("node_id", "node_name", "node_type", "level",
                                                             "division_code", "network")]
                        + [pa.field("longitude", pa.float64()), pa.field("latitude", pa.float64()),
                           pa.field("vendor", pa.string()), pa.field("model", pa.string()),
                           pa.field("_ingested_at", _TS)])
LINK_SCHEMA = pa.schema([pa.field(n, pa.string()) for n in ("link_id", "upstream_node_id", "upstream_if",
                                                             "downstream_node_id", "level")]
                        + [pa.field("capacity_mbps", pa.float64())]
                        + [pa.field(n, pa.string()) for n in ("medium", "operator", "contractor", "division_code")]
                        + [pa.field("_ingested_at", _TS)])
LINK_STATE_SCHEMA = pa.schema([pa.field("link_id", pa.string()), pa.field("state", pa.string()),
                               pa.field("since", _TS), pa.field("until", _TS), pa.field("reason_zh", pa.string()),
                               pa.field("reason_en", pa.string()), pa.field("evidence", pa.string()),
                               pa.field("last_evidence_at", _TS)])


def node(node_id: str, level: str, division: str, lon: float, lat: float, at) -> dict[str, Any]:
    return {"node_id": node_id, "node_name": f"{node_id} 节点", "node_type": "aggregation_switch", "level": level,
            "division_code": division, "network": "video_private", "longitude": lon, "latitude": lat,
            "vendor": "华为", "model": "S5735", "_ingested_at": at}


def link(upstream: str, downstream: str, level: str, operator: str, contractor: str, at) -> dict[str, Any]:
    return {"link_id": f"LNK{downstream}", "upstream_node_id": upstream, "upstream_if": "GE1/0/1",
            "downstream_node_id": downstream, "level": level, "capacity_mbps": 1000.0, "medium": "fibre",
            "operator": operator, "contractor": contractor, "division_code": downstream[3:9], "_ingested_at": at}


def stay(link_id: str, state: str, since, until=None, reason: str = "") -> dict[str, Any]:
    return {"link_id": link_id, "state": state, "since": since, "until": until, "reason_zh": reason,
            "reason_en": reason and "see reason_zh", "evidence": "interface_status", "last_evidence_at": until or since}


def write_table(catalog, name: str, schema: pa.Schema, rows: list[dict[str, Any]]) -> None:
    catalog.create_table(name, schema=schema).append(pa.Table.from_pylist(rows, schema))
