"""Batch mode's bookkeeping (批处理记录): the policy versions the supervisor set aside, and the outbox records no
sink has taken yet. The Dagster asset (orchestration/defs/rules/assets.py) reports both as asset checks.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from safecity.rules.worker import SetAside

SET_ASIDE_TABLE = "ops.policy_set_aside"
SET_ASIDE_SCHEMA = pa.schema([
    pa.field("policy_id", pa.string()),
    pa.field("policy_version", pa.int32()),
    pa.field("policy_file_sha256", pa.string()),
    pa.field("crashes", pa.int32()),
    pa.field("exit_code", pa.int32()),  # negative: killed by that signal (-11 = SIGSEGV)
    pa.field("event_id", pa.string()),  # the event the policy was about to see when the worker died
    pa.field("at", pa.timestamp("us", tz="UTC")),
])


def set_aside_table(set_aside: Sequence[SetAside], at: dt.datetime) -> pa.Table:
    return pa.Table.from_pylist([{
        "policy_id": s.policy_id, "policy_version": s.policy_version, "policy_file_sha256": s.policy_file_sha256,
        "crashes": s.crashes, "exit_code": s.exit_code, "event_id": s.event_id, "at": at,
    } for s in set_aside], schema=SET_ASIDE_SCHEMA)


def record_set_aside(catalog: Any, set_aside: Sequence[SetAside], at: dt.datetime, run_id: str) -> int:
    """Append this run's set-aside versions (once per run id: a retried step does not record them twice)."""
    if not set_aside:
        return 0
    from safecity.config.lakehouse import append_once, ensure_table

    table = ensure_table(catalog, SET_ASIDE_TABLE, SET_ASIDE_SCHEMA)
    batch = "rules:set_aside:" + hashlib.sha256(run_id.encode()).hexdigest()[:32]
    return append_once(table, set_aside_table(set_aside, at), batch).rows


def undelivered(outbox_keys: Sequence[str], ledger_path: str | Path) -> int | None:
    """Outbox records that no sink has in the delivery ledger; None when nothing was ever delivered (no ledger:
    the executor is not in use here, so a backlog means nothing)."""
    path = Path(ledger_path)
    if not path.exists():
        return None
    from safecity.rules.executor import Ledger

    done = Ledger(path).keys()
    return sum(1 for key in set(outbox_keys) if key not in done)
