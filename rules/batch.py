"""Batch mode over silver (批处理模式): only new events fire, the policy versions the supervisor set aside, and the
outbox records no sink has taken yet. The Dagster asset (orchestration/defs/rules/assets.py) runs it.

Watermark (水位线): the latest event time a run evaluated, stored in the snapshot summary of the outbox commit that
wrote the run's actions, so the actions and the watermark become visible together or not at all. The next run
reads each event type from the watermark less the allowed lateness less the longest horizon of the policies that
read that type (a window's span, a statechart's idle time; none for single-event rules and fact correlations, whose
facts are read in full), so windows and charts still see their history, and writes the actions whose latest
matched event is after the watermark; the idempotency key still drops anything written before.

Late data (迟到数据, issue 18): the same commit records which Iceberg snapshot of every event table the run read
(arrivals.py). The next run takes as arrived the rows that snapshot lacks and judges those at or before the
watermark against the site's allowed lateness (lateness.py, `allowed_lateness` in site.yaml, 15 minutes by
default):
- within it (event time >= watermark - lateness): evaluated with the rest, and an action that matched one of them
  is written even though it was triggered before the watermark. Actions in that band from old events only are
  not: a run starting later may pair a window's readings differently from the run that saw them first, and
  writing those would fire what one run over everything never fires. Choosing by arrival rather than reading from
  watermark - lateness and letting the idempotency key drop repeats is what keeps that property;
- beyond it: not evaluated (also not as a window's history), counted per type in the run's result and the
  asset's metadata, logged, and kept in ops.late_events with the watermark and the lateness that judged them. A
  too-late event stays out of later runs too (they read ops.late_events).
Facts are current state and never late (they are read in full every run).

What this does not give (measured against one run over everything in the tests, where they agree):
- an event later than the allowed lateness fires nothing (by design; it is kept in ops.late_events);
- a late event within the lateness is paired as a run over everything pairs it only when its partners are inside
  the run's reading (watermark - lateness - horizon); an action it would have stopped (a throttle's silence, a
  window's readings it would have taken first) was already written and stays;
- arrival is unknown when the previous run's snapshot was expired or the previous run predates this record: the
  run then judges nothing late (metadata `late_arrivals_known`: false), and late data fires nothing, as before;
- a window match that began before the horizon may pair readings differently from a run over all history (durable
  consumes a window's events when it fires, so the pairing depends on where evaluation started);
- a statechart without `idle_after` has no horizon, so its event types are read in full every run.
A run that set a policy aside does not move the watermark nor the record of what it read: the events since stay to
be evaluated once the policy is fixed (its next runs fail the policies_set_aside check meanwhile).
Streaming judges lateness against each keyed partition's own latest event time instead of the site's watermark
(streaming.py), so the two modes agree on an event only when its partition's clock and the watermark agree.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pyarrow as pa

from safecity.rules.arrivals import Arrivals, arrived_before, pinned_files
from safecity.rules.engine import EvaluationResult, utc_now
from safecity.rules.events import fact_types, read_types, silver_events
from safecity.rules.lateness import (DEFAULT_ALLOWED_LATENESS, LATE_EVENTS_TABLE, TOO_LATE, LateEvent, classify,
                                     late_by_type, record_late)
from safecity.rules.loader import LoadedPolicy
from safecity.rules.outbox import OutboxRecord, to_arrow
from safecity.rules.policy import Correlation, Policy
from safecity.rules.worker import SetAside, evaluate_supervised
from safecity.standards.catalogue import Catalogue

WATERMARK_PROPERTY = "safecity.rules.watermark"  # safecity.*: kept in the ledger when snapshots expire
READ_PROPERTY = "safecity.rules.silver_read"  # JSON {silver table: metadata file the run read}: arrivals.py
log = logging.getLogger(__name__)

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


def previous_mark(outbox: Any) -> tuple[dt.datetime | None, dict[str, str] | None]:
    """The latest watermark and what the run that left it read (None: not recorded, see arrivals.py)."""
    from safecity.lakehouse.exactly_once import committed_properties

    best: tuple[dt.datetime | None, dict[str, str] | None] = (None, None)
    for properties in committed_properties(outbox).values():  # oldest first: a tie goes to the latest commit
        if WATERMARK_PROPERTY not in properties:
            continue
        mark = dt.datetime.fromisoformat(properties[WATERMARK_PROPERTY])
        if best[0] is None or mark >= best[0]:
            read = properties.get(READ_PROPERTY)
            best = (mark, json.loads(read) if read else None)
    return best


def kept_late(outbox: Any) -> set[tuple[str, str]]:
    """(type, id) of the events earlier batch runs judged too late: they stay out of every later run."""
    catalog = outbox.catalog
    if not catalog.table_exists(LATE_EVENTS_TABLE):
        return set()
    rows = catalog.load_table(LATE_EVENTS_TABLE).scan(selected_fields=("event_type", "event_id", "mode")).to_arrow()
    return {(t, i) for t, i, m in zip(*(rows.column(c).to_pylist() for c in ("event_type", "event_id", "mode")))
            if m == "batch"}


def judge_arrivals(arrivals: Arrivals, previous: dt.datetime, lateness: int) -> tuple[dict[str, set[str]],
                                                                                       list[LateEvent]]:
    """Arrived events at or before the watermark as (type -> ids within the allowed lateness, those beyond)."""
    within: dict[str, set[str]] = {}
    beyond: list[LateEvent] = []
    for event_type, events in arrivals.events.items():
        for event_id, moment in events:
            if classify(moment.timestamp(), previous.timestamp(), lateness) == TOO_LATE:
                beyond.append(LateEvent(event_type, event_id, moment.astimezone(dt.timezone.utc),
                                        previous.astimezone(dt.timezone.utc), lateness, "batch"))
            else:
                within.setdefault(event_type, set()).add(event_id)
    return within, beyond


@dataclass
class BatchRun:
    events_by_type: dict[str, int]  # events evaluated, per type
    counted_by_type: dict[str, int]  # events of types no policy reads: counted in SQL, never evaluated
    result: EvaluationResult
    set_aside: list[SetAside]
    previous: dt.datetime | None  # the watermark this run started from
    watermark: dt.datetime | None  # the one it leaves
    fresh: list[OutboxRecord]  # actions triggered after the previous watermark (or by timeless events only)
    lateness: int = DEFAULT_ALLOWED_LATENESS  # seconds
    late: list[LateEvent] = field(default_factory=list)  # arrived beyond the allowed lateness: kept, not evaluated
    late_evaluated_by_type: dict[str, int] = field(default_factory=dict)  # arrived late, within it: evaluated
    arrivals_known: bool = True  # False: the previous run's snapshot was unreadable, nothing was judged late
    read_before: dict[str, str] | None = None  # silver table -> metadata file the previous run read
    read: dict[str, str] | None = None  # ... and this run (recorded with its watermark)

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def late_by_type(self) -> dict[str, int]:
        return late_by_type(self.late)


def evaluate_new(con: Any, catalogue: Catalogue, policies: Sequence[LoadedPolicy], outbox: Any, *,
                 clock: Any = utc_now, start_method: str = "spawn", lateness: int = DEFAULT_ALLOWED_LATENESS,
                 evaluate: Callable[..., tuple[EvaluationResult, list[SetAside]]] = evaluate_supervised) -> BatchRun:
    previous, read_before = previous_mark(outbox)
    # History is read from the lateness band's start, so a late event's window and chart partners are there.
    starts = type_starts(policies, previous - dt.timedelta(seconds=lateness)) if previous else None
    # Only the types some policy reads reach the engine; the others (a day's vehicle passes) are counted in SQL as
    # unrouted, over the same period: their new events are enough for that.
    events = silver_events(con, catalogue, start=previous, facts=fact_types(policies), starts=starts,
                           keep_timeless=True, only=read_types(policies))
    read = pinned_files(con, {t.table for t in events.types})
    facts = fact_types(policies)
    arrivals = arrived_before(con, [t for t in events.types if t.name not in facts], previous, read_before) \
        if previous else Arrivals(True)
    within, beyond = judge_arrivals(arrivals, previous, lateness) if previous else ({}, [])
    events.exclude = kept_late(outbox) | {(e.event_type, e.event_id) for e in beyond}
    result, set_aside = evaluate(policies, events, clock=clock, start_method=start_method)
    skipped = events.count_skipped()
    counted = {name: n for name, (n, _) in skipped.items() if n}
    result.unrouted.update(counted)
    latest = max((m for m in [events.latest, *(t for _, t in skipped.values())] if m), default=None)
    late_ids = {i for ids in within.values() for i in ids}

    def triggered_after(record: OutboxRecord) -> bool:
        moment = result.triggered_at.get(record.idempotency_key)
        # Actions of timeless events (the camera register) are new or not by their idempotency key alone; an
        # action that matched an event arrived late within the allowed lateness is new although triggered earlier.
        return previous is None or moment is None or moment > previous or \
            not late_ids.isdisjoint(record.matched_event_ids)

    watermark = previous if set_aside else max((m for m in (previous, latest) if m is not None), default=None)
    run = BatchRun(dict(events.by_type), counted, result, list(set_aside), previous, watermark,
                   [r for r in result.outbox if triggered_after(r)], lateness, beyond,
                   {t: len(ids) for t, ids in sorted(within.items())}, arrivals.known, read_before,
                   read_before if set_aside else read)
    if beyond:
        log.warning("%d events arrived beyond the allowed lateness of %d s before the watermark %s, not evaluated, "
                    "kept in %s: %s", len(beyond), lateness, previous.isoformat(), LATE_EVENTS_TABLE,
                    run.late_by_type)
    if within:
        log.info("events arrived late within the allowed lateness, evaluated: %s", run.late_evaluated_by_type)
    return run


def commit_run(outbox: Any, run: BatchRun) -> list[OutboxRecord]:
    """Append the run's new actions and its watermark in one commit; returns the records written."""
    from safecity.lakehouse.exactly_once import append_once

    recorded = set(outbox.scan(selected_fields=("idempotency_key",)).to_arrow().column("idempotency_key")
                   .to_pylist()) if outbox.current_snapshot() else set()
    new = [r for r in run.fresh if r.idempotency_key not in recorded]
    # What the run read is recorded when something arrived at or before the watermark (else the next run would
    # judge it again); a table rewritten with the same rows (camera health each run) is no reason for a commit.
    arrived = bool(run.late or run.late_evaluated_by_type) and run.read != run.read_before
    if not new and run.watermark == run.previous and not arrived:
        return []
    mark = run.watermark.isoformat() if run.watermark else ""
    read = json.dumps(run.read, sort_keys=True) if run.read is not None else ""
    batch = hashlib.sha256("\n".join(sorted(r.idempotency_key for r in new) + [mark, read]).encode()).hexdigest()[:32]
    properties = {WATERMARK_PROPERTY: mark, **({READ_PROPERTY: read} if read else {})} if mark else None
    append_once(outbox, to_arrow(new), f"rules:{batch}", properties)
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
                           lateness=settings.site.allowed_lateness_seconds, evaluate=evaluate_supervised)
    # The late events first: a crash between the two commits re-judges them (the outbox's record of what was read
    # has not moved), whereas the other order would lose them.
    record_late(catalog, run.late, run_id)
    new = commit_run(outbox, run)
    record_set_aside(catalog, run.set_aside, dt.datetime.now(dt.timezone.utc), run_id)
    with connect(settings) as con:
        publish_views(con, catalog, ("ops",))
    outbox = outbox.refresh()
    keys = outbox.scan(selected_fields=("idempotency_key",)).to_arrow().column("idempotency_key").to_pylist() \
        if outbox.current_snapshot() else []
    return PolicyRun(list(policies), run, new, len(set(keys)), undelivered(keys, settings.paths.home / LEDGER_PATH))
