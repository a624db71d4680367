"""The board's network layer: every link of the video private network drawn between its two nodes' coordinates and
coloured by its current state, as silver.link_state has it (issue 21's contract: link_id, state, since, until — null
while the stay is open — reason_zh, reason_en, evidence, last_evidence_at).

The registries silver.network_node (node_id, longitude, latitude, level, …) and silver.network_link (link_id,
upstream_node_id, downstream_node_id, level, operator, contractor, …) place the links; a site without network files
has none of these tables, and then the layer is empty, not an error. Like the outbox feed, a look reads a table's
data only when its snapshot changed.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from pyiceberg.catalog import Catalog

from safecity.service.board_feed import snapshot_of

NODES, LINKS, LINK_STATE = "silver.network_node", "silver.network_link", "silver.link_state"
TABLES = (NODES, LINKS, LINK_STATE)
# 链路状态 as the board shows it: the contract's states; a link with no open stay is up.
STATE_ZH = {"up": "正常", "down": "中断", "degraded": "劣化", "saturated": "拥塞"}

log = logging.getLogger(__name__)


def _latest(rows: list[dict], key: str) -> dict[str, dict]:
    """One row per key: a registry keeps every version it ingested; the latest ingested wins."""
    out: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: str(r.get("_ingested_at") or "")):
        if row.get(key):
            out[row[key]] = row
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (None if value is None else str(value))


def current_states(stays: list[dict]) -> dict[str, dict]:
    """Per link its open stay (until is null; the latest if a table held several). Closed stays say nothing of now."""
    out: dict[str, dict] = {}
    for stay in stays:
        if stay.get("until") is not None or not stay.get("link_id"):
            continue
        held = out.get(stay["link_id"])
        if held is None or str(stay.get("since")) >= str(held.get("since")):
            out[stay["link_id"]] = stay
    return out


def network_links(nodes: list[dict], links: list[dict], stays: list[dict],
                  xy: Callable[[float, float], tuple[float, float]]) -> list[dict]:
    """The links the map can place (both nodes known with coordinates), each with its current state."""
    placed = {}
    for node_id, node in _latest(nodes, "node_id").items():
        if node.get("longitude") is not None and node.get("latitude") is not None:
            placed[node_id] = xy(float(node["longitude"]), float(node["latitude"]))
    now = current_states(stays)
    out = []
    for link_id, link in sorted(_latest(links, "link_id").items()):
        up, down = placed.get(link.get("upstream_node_id")), placed.get(link.get("downstream_node_id"))
        if up is None or down is None:
            continue
        stay = now.get(link_id, {})
        state = stay.get("state") or "up"
        out.append({"link_id": link_id, "level": link.get("level") or "", "operator": link.get("operator") or "",
                    "contractor": link.get("contractor") or "", "state": state, "state_zh": STATE_ZH.get(state, state),
                    "since": _iso(stay.get("since")), "reason_zh": stay.get("reason_zh") or "",
                    "x1": round(up[0], 1), "y1": round(up[1], 1), "x2": round(down[0], 1), "y2": round(down[1], 1)})
    return out


class NetworkLayer:
    """Reads the three tables when one of them changed; `links` is the layer the state carries."""

    def __init__(self, catalog: Catalog, xy: Callable[[float, float], tuple[float, float]]):
        self.catalog = catalog
        self.xy = xy
        self.links: list[dict] = []
        self._seen: dict[str, int | None] = dict.fromkeys(TABLES)
        self._rows: dict[str, list[dict]] = {name: [] for name in TABLES}

    def look(self) -> list[dict] | None:
        """The new layer when a table changed (blocking: run it off the event loop), else None."""
        changed = False
        for name in TABLES:
            table, snapshot = snapshot_of(self.catalog, name)
            if snapshot == self._seen[name]:
                continue
            self._rows[name] = table.scan(snapshot_id=snapshot).to_arrow().to_pylist() if snapshot is not None else []
            self._seen[name] = snapshot
            changed = True
        if not changed:
            return None
        return network_links(self._rows[NODES], self._rows[LINKS], self._rows[LINK_STATE], self.xy)

    def take(self, links: list[dict]) -> None:
        self.links = links
