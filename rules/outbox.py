"""The outbox (动作发件箱): what a policy decided to do, written before anything is done.

Actions never do I/O inside the rule engine; an executor reads these records and sends the alerts, orders and
work orders. The record is also the audit trail: it names the policy version and the file's hash, the events
that matched and the rendered parameters. The idempotency key depends only on the policy, its version, the
action's position and the matched event ids, so replaying the same events yields the same keys and the executor
can drop repeats.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

import pyarrow as pa


def idempotency_key(policy_id: str, policy_version: int, action_index: int | str, matched_event_ids: Iterable[str]) -> str:
    # JSON keeps the parts apart: no id can be chosen to collide with another split of the same characters.
    payload = json.dumps([policy_id, policy_version, action_index, sorted(matched_event_ids)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OutboxRecord:
    policy_id: str
    policy_version: int
    policy_file_sha256: str
    action: str
    action_name_zh: str
    params: dict[str, Any]
    message: str
    matched_event_ids: list[str]
    partition_key: str
    idempotency_key: str
    fired_at: dt.datetime

    def params_json(self) -> str:
        return json.dumps(self.params, ensure_ascii=False, sort_keys=True)


OUTBOX_TABLE = "ops.outbox"
OUTBOX_SCHEMA = pa.schema([
    pa.field("policy_id", pa.string()),
    pa.field("policy_version", pa.int32()),
    pa.field("policy_file_sha256", pa.string()),
    pa.field("action", pa.string()),
    pa.field("action_name_zh", pa.string()),
    pa.field("params", pa.string()),  # JSON text: every action has its own parameter shape
    pa.field("message", pa.string()),
    pa.field("matched_event_ids", pa.list_(pa.string())),
    pa.field("partition_key", pa.string()),
    pa.field("idempotency_key", pa.string()),
    pa.field("fired_at", pa.timestamp("us", tz="UTC")),
])


def to_arrow(records: Iterable[OutboxRecord]) -> pa.Table:
    rows = [{
        "policy_id": r.policy_id, "policy_version": r.policy_version, "policy_file_sha256": r.policy_file_sha256,
        "action": r.action, "action_name_zh": r.action_name_zh, "params": r.params_json(), "message": r.message,
        "matched_event_ids": list(r.matched_event_ids), "partition_key": r.partition_key,
        "idempotency_key": r.idempotency_key, "fired_at": r.fired_at,
    } for r in records]
    return pa.Table.from_pylist(rows, schema=OUTBOX_SCHEMA)
