"""What the live command board (指挥大屏) shows, derived from outbox rows alone: open incidents and the highest
escalation level each reached, dispatch orders, cameras down near incidents, congestion hot spots and the latest
actions. A pure fold over the rows (no I/O): the server feeds it, the unit tests check it against the rows.

The shipped policies it reads (rules/policies/**):
- emergency.incident_escalation: `activate_emergency_plan` {level, incident_id} on entering a level, then
  `notify_leadership`. Levels only go up, so the board keeps the most severe one reached.
- an incident closes on a `close_incident` action naming it or an incident_closed event (silver.incident_closed):
  the shipped ladder's close fires no action, so the server passes the closed ids it reads beside the rows.
- command.blind_spot_incident: `dispatch_order` (drone) and `raise_alert` for an incident in a grid cell whose
  camera is down; the camera is the `camera_down:<camera id>:…` fact among the matched events.
- camera.key_point_offline: `raise_alert` when a key-point camera goes offline (no incident attached).
- command.junction_congestion: `dispatch_order` (traffic police) and `adjust_signal_plan` per junction.
- any `dispatch_order` (command.alarm_dispatch too) is a dispatch order.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

ESCALATION = "emergency.incident_escalation"
BLIND_SPOT = "command.blind_spot_incident"
KEY_POINT = "camera.key_point_offline"
CONGESTION = "command.junction_congestion"
CLOSE_ACTION = "close_incident"
LATEST = 50

# 《生产安全事故报告和调查处理条例》第三条: I is the most severe. Rank 0 = most severe, so min() is "highest reached".
LEVELS = {"I": ("Ⅰ", "特别重大", "Particularly serious"), "II": ("Ⅱ", "重大", "Serious"),
          "III": ("Ⅲ", "较大", "Major"), "IV": ("Ⅳ", "一般", "Ordinary")}
RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class OutboxRow:
    """One ops.outbox row as the board reads it; `seq` is its place in the server's feed (the SSE event id)."""
    seq: int
    policy_id: str
    action: str
    action_name_zh: str
    params: dict[str, Any]
    message: str
    matched_event_ids: tuple[str, ...]
    partition_key: str
    idempotency_key: str
    fired_at: str  # ISO 8601, UTC

    @classmethod
    def from_arrow(cls, seq: int, row: Mapping[str, Any]) -> "OutboxRow":
        try:
            params = json.loads(row["params"] or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"ops.outbox row {row.get('idempotency_key')!r}: field params is not JSON ({exc})") from None
        fired = row["fired_at"]
        return cls(seq=seq, policy_id=row["policy_id"], action=row["action"], action_name_zh=row["action_name_zh"] or "",
                   params=params if isinstance(params, dict) else {"value": params}, message=row["message"] or "",
                   matched_event_ids=tuple(row["matched_event_ids"] or ()), partition_key=row["partition_key"] or "",
                   idempotency_key=row["idempotency_key"],
                   fired_at=fired.isoformat() if hasattr(fired, "isoformat") else str(fired))

    def json(self) -> dict[str, Any]:
        return {"seq": self.seq, "policy_id": self.policy_id, "action": self.action,
                "action_name_zh": self.action_name_zh, "params": self.params, "message": self.message,
                "matched_event_ids": list(self.matched_event_ids), "partition_key": self.partition_key,
                "idempotency_key": self.idempotency_key,
                "fired_at": self.fired_at}


def level_label(level: str) -> dict[str, str]:
    numeral, zh, en = LEVELS[level]
    return {"level": level, "label_zh": f"{numeral}级 {zh}", "label_en": f"Level {level} ({en})"}


def _incidents(rows: list[OutboxRow], closed: set[str]) -> tuple[list[dict], list[str]]:
    reached: dict[str, OutboxRow] = {}
    first: dict[str, str] = {}
    closing = set(closed) | {r.params.get("incident_id") for r in rows if r.action == CLOSE_ACTION}
    for row in rows:
        if row.policy_id != ESCALATION or row.action != "activate_emergency_plan":
            continue
        incident, level = row.params.get("incident_id"), row.params.get("level")
        if not incident or level not in RANK:
            continue
        first.setdefault(incident, row.fired_at)
        if incident not in reached or RANK[level] < RANK[reached[incident].params["level"]]:
            reached[incident] = row
    open_ = [{"incident_id": i, **level_label(r.params["level"]), "rank": RANK[r.params["level"]],
              "reached_at": r.fired_at, "opened_at": first[i]}
             for i, r in reached.items() if i not in closing]
    # The most severe first, then the most recent escalation.
    open_.sort(key=lambda x: (x["rank"], _descending(x["reached_at"])))
    return open_, sorted(i for i in reached if i in closing)


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


def _dispatches(rows: list[OutboxRow]) -> list[dict]:
    return [{"seq": r.seq, "policy_id": r.policy_id, "unit_type": r.params.get("unit_type", ""),
             "target": str(r.params.get("target", "")), "urgency": r.params.get("urgency", ""),
             "incident_id": r.params.get("incident_id", ""), "reason": r.params.get("reason", ""),
             "fired_at": r.fired_at}
            for r in reversed(rows) if r.action == "dispatch_order"]


def _camera_of(row: OutboxRow) -> str:
    facts = [e.split(":")[1] for e in row.matched_event_ids if e.startswith("camera_down:") and e.count(":") >= 2]
    return facts[0] if facts else ""


def _cameras_down(rows: list[OutboxRow]) -> list[dict]:
    """One line per (camera, incident): the blind-spot dispatch names the grid and incident, the key-point alert
    is partitioned by camera (its chart runs per camera_id), so its partition key is the camera."""
    seen: dict[tuple[str, str], dict] = {}
    for r in rows:
        if r.policy_id == BLIND_SPOT and r.action == "dispatch_order":
            key = (_camera_of(r), r.params.get("incident_id", ""))
            seen[key] = {"camera_id": key[0], "incident_id": key[1], "grid_id": r.params.get("target", ""),
                         "source": BLIND_SPOT, "fired_at": r.fired_at, "message": r.params.get("reason", "")}
        elif r.policy_id == KEY_POINT and r.action == "raise_alert":
            camera = r.partition_key
            seen[(camera, "")] = {"camera_id": camera, "incident_id": "", "grid_id": "", "source": KEY_POINT,
                                  "fired_at": r.fired_at, "message": r.message}
    return sorted(seen.values(), key=lambda x: _descending(x["fired_at"]))


def _congestion(rows: list[OutboxRow]) -> list[dict]:
    spots: dict[str, dict] = defaultdict(lambda: {"dispatches": 0, "signal_plan": "", "reason": "", "last_at": ""})
    for r in rows:
        if r.policy_id != CONGESTION:
            continue
        junction = r.partition_key  # the policy runs per junction_id
        spot = spots[junction]
        spot["junction_id"] = junction
        spot["last_at"] = max(spot["last_at"], r.fired_at)
        if r.action == "dispatch_order":
            spot["dispatches"] += 1
            spot["reason"] = r.params.get("reason", "")
        elif r.action == "adjust_signal_plan":
            spot["signal_plan"] = r.params.get("plan", "")
    return sorted(spots.values(), key=lambda s: (-s["dispatches"], _descending(s["last_at"])))


def derive(rows: Iterable[OutboxRow], closed: Iterable[str] = (),
           delivery: Mapping[str, list[dict]] | None = None, latest: int = LATEST) -> dict[str, Any]:
    """The board's state after `rows` (in feed order), the incidents in `closed` being closed; `delivery` maps an
    idempotency key to its per-sink delivery status (ops.action_delivery), absent when that table is."""
    rows = list(rows)
    open_incidents, closed_incidents = _incidents(rows, set(closed))
    known = delivery is not None
    delivery = delivery or {}
    return {
        "open_incidents": open_incidents,
        "closed_incidents": closed_incidents,
        "dispatch_orders": _dispatches(rows),
        "cameras_down": _cameras_down(rows),
        "congestion": _congestion(rows),
        "latest": [{**r.json(), "delivery": delivery.get(r.idempotency_key, [])} for r in reversed(rows[-latest:])],
        "actions": len(rows),
        "delivery_known": known,
    }
