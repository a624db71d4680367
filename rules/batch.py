"""Batch mode over silver (批处理模式): only new events fire, the policy versions the supervisor set aside, and the
outbox records no sink has taken yet. The Dagster asset (orchestration/defs/rules/assets.py) runs it.

Watermark (水位线): the latest event time a run evaluated, stored in the snapshot summary of the outbox commit that
wrote the run's actions, so the actions and the watermark become visible together or not at all. The next run
reads each event type from the watermark less the longest horizon of the policies that read that type (a window's
span, a statechart's idle time; none for single-event rules and fact correlations, whose facts are read in full),
so windows and charts still see their history, and writes only actions whose latest matched event is after the
watermark; the idempotency key still drops anything written before.

What this does not give (measured against one run over everything in the tests, where they agree):
- an event that reaches silver with an event time at or before the watermark (late data) fires nothing;
- a window match that began before the horizon may pair readings differently from a run over all history (durable
  consumes a window's events when it fires, so the pairing depends on where evaluation started);
- a statechart without `idle_after` has no horizon, so its event types are read in full every run.
A run that set a policy aside does not move the watermark: the events since stay to be evaluated once the policy
is fixed (its next runs fail the policies_set_aside check meanwhile).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pyarrow as pa

from safecity.rules.engine import EvaluationResult, utc_now
from safecity.rules.events import fact_types, read_types, silver_events
from safecity.rules.loader import LoadedPolicy
from safecity.rules.outbox import OutboxRecord, to_arrow
from safecity.rules.policy import Correlation, Policy
from safecity.rules.worker import SetAside, evaluate_supervised
from safecity.standards.catalogue import Catalogue

WATERMARK_PROPERTY = "safecity.rules.watermark"  # safecity.*: kept in the ledger when snapshots expire

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
    from safecity.lakehouse.catalog import ensure_table
    from safecity.lakehouse.exactly_once import append_once

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


def policy_horizon(policy: Policy) -> int | None:
    """Seconds before an event within which earlier events can take part in its firing (or, by a throttle, keep
    it silent); None: no bound."""
    throttle = policy.throttle.seconds if policy.throttle else 0
    if policy.stateless or isinstance(policy.when, Correlation):
        return throttle
    if policy.window_seconds:
        return max(policy.window_seconds, throttle)
    return policy.idle_seconds  # a statechart's partition lives until idle this long (idle_after)


def type_starts(policies: Sequence[LoadedPolicy], previous: dt.datetime) -> dict[str, dt.datetime | None]:
    """Per event type read by some policy, where this run starts reading it (None: from the beginning)."""
    horizons: dict[str, int | None] = {}
    for loaded in policies:
        horizon = policy_horizon(loaded.policy)
        for event_type in loaded.policy.subscribed_events:
            known = horizons.get(event_type, 0)
            horizons[event_type] = None if horizon is None or known is None else max(known, horizon)
    return {t: None if h is None else previous - dt.timedelta(seconds=h) for t, h in horizons.items()}


def previous_watermark(outbox: Any) -> dt.datetime | None:
    from safecity.lakehouse.exactly_once import committed_properties

    marks = [dt.datetime.fromisoformat(p[WATERMARK_PROPERTY]) for p in committed_properties(outbox).values()
             if WATERMARK_PROPERTY in p]
    return max(marks, default=None)


@dataclass
class BatchRun:
    events_by_type: dict[str, int]  # events evaluated, per type
    counted_by_type: dict[str, int]  # events of types no policy reads: counted in SQL, never evaluated
    result: EvaluationResult
    set_aside: list[SetAside]
    previous: dt.datetime | None  # the watermark this run started from
    watermark: dt.datetime | None  # the one it leaves
    fresh: list[OutboxRecord]  # actions triggered after the previous watermark (or by timeless events only)

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())


def evaluate_new(con: Any, catalogue: Catalogue, policies: Sequence[LoadedPolicy], outbox: Any, *,
                 clock: Any = utc_now, start_method: str = "spawn",
                 evaluate: Callable[..., tuple[EvaluationResult, list[SetAside]]] = evaluate_supervised) -> BatchRun:
    previous = previous_watermark(outbox)
    starts = type_starts(policies, previous) if previous else None
    # Only the types some policy reads reach the engine; the others (a day's vehicle passes) are counted in SQL as
    # unrouted, over the same period: their new events are enough for that.
    events = silver_events(con, catalogue, start=previous, facts=fact_types(policies), starts=starts,
                           keep_timeless=True, only=read_types(policies))
    result, set_aside = evaluate(policies, events, clock=clock, start_method=start_method)
    skipped = events.count_skipped()
    counted = {name: n for name, (n, _) in skipped.items() if n}
    result.unrouted.update(counted)
    latest = max((m for m in [events.latest, *(t for _, t in skipped.values())] if m), default=None)

    def triggered_after(record: OutboxRecord) -> bool:
        moment = result.triggered_at.get(record.idempotency_key)
        # Actions of timeless events (the camera register) are new or not by their idempotency key alone.
        return previous is None or moment is None or moment > previous

    watermark = previous if set_aside else max((m for m in (previous, latest) if m is not None), default=None)
    return BatchRun(dict(events.by_type), counted, result, list(set_aside), previous, watermark,
                    [r for r in result.outbox if triggered_after(r)])


def commit_run(outbox: Any, run: BatchRun) -> list[OutboxRecord]:
    """Append the run's new actions and its watermark in one commit; returns the records written."""
    from safecity.lakehouse.exactly_once import append_once

    recorded = set(outbox.scan(selected_fields=("idempotency_key",)).to_arrow().column("idempotency_key")
                   .to_pylist()) if outbox.current_snapshot() else set()
    new = [r for r in run.fresh if r.idempotency_key not in recorded]
    if not new and run.watermark == run.previous:
        return []
    mark = run.watermark.isoformat() if run.watermark else ""
    batch = hashlib.sha256("\n".join(sorted(r.idempotency_key for r in new) + [mark]).encode()).hexdigest()[:32]
    append_once(outbox, to_arrow(new), f"rules:{batch}", {WATERMARK_PROPERTY: mark} if mark else None)
    return new


@dataclass
class PolicyRun:
    policies: list[LoadedPolicy]
    run: BatchRun
    new: list[OutboxRecord]         # actions this run wrote to the outbox
    outbox_records: int             # distinct actions the outbox holds
    undelivered: int | None         # of those, not yet taken by any sink (None: no delivery ledger yet)


def run_batch(settings: Any, catalogue: Catalogue, run_id: str) -> PolicyRun:
    """The rules step for a home: the site's policies (its enabled packs and its own) over what silver holds since the last watermark, in the
    supervised worker, the new actions and the watermark committed to ops.outbox, set-aside versions recorded,
    and the outbox's delivery backlog (what the Dagster asset and the benchmark's direct path run)."""
    from safecity.lakehouse.catalog import ensure_table, open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect
    from safecity.rules.executor import LEDGER_PATH
    from safecity.rules.loader import site_policies
    from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE

    policies = site_policies(settings.site, catalogue)
    catalog = open_catalog(settings)
    outbox = ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
    with connect(settings, read_only=True) as con:
        # spawn, not fork: the Dagster process runs threads, and a forked child could inherit a held lock.
        run = evaluate_new(con, catalogue, policies, outbox, clock=utc_now, start_method="spawn",
                           evaluate=evaluate_supervised)
    new = commit_run(outbox, run)
    record_set_aside(catalog, run.set_aside, dt.datetime.now(dt.timezone.utc), run_id)
    with connect(settings) as con:
        publish_views(con, catalog, ("ops",))
    outbox = outbox.refresh()
    keys = outbox.scan(selected_fields=("idempotency_key",)).to_arrow().column("idempotency_key").to_pylist() \
        if outbox.current_snapshot() else []
    return PolicyRun(list(policies), run, new, len(set(keys)), undelivered(keys, settings.paths.home / LEDGER_PATH))
