"""Running policies on events with durable-rules (规则引擎运行时), in process.

`PolicyEngine` owns one durable Host with one ruleset per policy (per shard). It takes plain event dicts and keeps
plain results (outbox records, rule errors, rejected events, counters), so it runs unchanged inside the
supervised worker process (worker.py), which feeds it from a pipe.

durable-rules quirks handled here (shared/reference/rule-engine-notes.md):
- Host starts two background threads that dispatch queued actions and timers concurrently with callers (#291,
  error 307). Our actions are synchronous and we use no engine timers (event time drives windows), so
  `_PolicyHost._run` starts none: every action runs inside `post`, on the caller's thread, in order.
- An event matching no rule raises MessageNotHandledException: normal, counted per (policy, event type), as are
  events consumed by a policy's catch-all rule (see compiler.py).
- An exception inside an action is swallowed into the sid's state['exception']: read after a post in which an
  action raised or saw one (every action passes through our dispatcher, which notes it), and only then.
- Without an explicit `id` durable hashes the content and drops identical events: events must carry an `id`.
- At most 1024 live sids per ruleset (MemoryError after that). A policy without windows, facts or states never needs
  earlier events, so its sid's state is deleted right after each post. Stateful policies are sharded over several
  rulesets by a stable hash of the sid, and idle sids are evicted (`sweep`), which also bounds the memory held by
  window events that never complete a match.
- A statechart partition costs ~750 KB in durable, so no chart stays in durable between events: an open chart rests
  as its state's name and is resumed there by its next event (compiler.py's resume transitions).
- Rulesets cannot be replaced, so a changed policy is registered under a new generation's name, its facts are
  asserted again, and the old ruleset is deleted (`replace`); the other policies keep their state.
- Text and numbers are coerced when compared, so event field types are checked against the catalogue first.
"""
from __future__ import annotations

import copy
import datetime as dt
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import durable_rules_engine
from durable import engine as durable
from pydantic import ValidationError

from safecity.rules.actions import ACTIONS
from safecity.rules.compiler import (EVICT, RESUME, TS, TS_END, compile_policy, parse_action_ref,
                                     resumable_states)
from safecity.rules.events import event_time
from safecity.rules.fields import fits_type, value_problem
from safecity.rules.lateness import TOO_LATE, LateEvent, classify
from safecity.rules.loader import LoadedPolicy
from safecity.rules.outbox import OutboxRecord, idempotency_key
from safecity.rules.shape import DISCARD, Rule, policy_rules
from safecity.rules.templates import TIME, RenderError, render
from safecity.standards.catalogue import Catalogue, load_catalogue

Clock = Callable[[], dt.datetime]
EVENT_TIME = "event"  # clock= this: an action's time is the event time of its latest matched event (replay)
DEFAULT_SHARDS = 4  # 4 x 1024 live partitions per stateful policy before eviction must keep up
SWEEP_EVERY = 1000  # events between idle-partition sweeps


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RuleError:
    """规则运行错误: a firing that produced no outbox records, or an exception inside the engine's action."""

    policy_id: str
    policy_version: int
    partition_key: str
    event_ids: list[str]
    code: str  # E_RENDER, E_ACTION_PARAM, E_ACTION_EXCEPTION, E_PARTITION_LIMIT or E_WORKER_CRASH
    message: str


@dataclass(frozen=True)
class RejectedEvent:
    """拒收事件: an event the engine would misread (no id, no partition value, wrong field type, no event time)."""

    event_id: str | None
    event_type: str | None
    policy_id: str | None
    reason: str


@dataclass
class EvaluationResult:
    outbox: list[OutboxRecord] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    unhandled: Counter = field(default_factory=Counter)  # (policy id, event type) -> events no rule matched
    unrouted: Counter = field(default_factory=Counter)  # event type -> events no policy subscribes to
    evicted: Counter = field(default_factory=Counter)  # policy id -> idle partitions deleted
    throttled: Counter = field(default_factory=Counter)  # policy id -> firings a throttle kept silent
    # idempotency key -> latest event time among the record's matched events, when any has one: the batch mode
    # tells new actions from old by it without keeping every event's time.
    triggered_at: dict[str, dt.datetime] = field(default_factory=dict)
    late: list[LateEvent] = field(default_factory=list)  # events beyond the allowed lateness: kept, not evaluated

    def unhandled_by_type(self) -> dict[str, int]:
        totals: Counter = Counter()
        for (_, event_type), count in self.unhandled.items():
            totals[event_type] += count
        return dict(totals)

    def extend(self, other: "EvaluationResult") -> None:
        self.outbox.extend(other.outbox)
        self.errors.extend(other.errors)
        self.rejected.extend(other.rejected)
        self.unhandled.update(other.unhandled)
        self.unrouted.update(other.unrouted)
        self.evicted.update(other.evicted)
        self.throttled.update(other.throttled)
        self.triggered_at.update(other.triggered_at)
        self.late.extend(other.late)


class _PolicyHost(durable.Host):
    def __init__(self, resolve: Callable[[str], Callable[[Any], None]]):
        self._resolve = resolve
        super().__init__()

    def _run(self) -> None:
        pass  # no background dispatch/timer threads: see the module docstring

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._resolve(action_name)

    def drop_ruleset(self, name: str) -> None:
        # durable has no unregister (#121, #262); this is the private route the notes verified.
        ruleset = self._ruleset_directory.pop(name)
        self._ruleset_list.remove(ruleset)
        durable_rules_engine.delete_ruleset(ruleset._handle)


def shard_of(sid: str, shards: int) -> int:
    # crc32, not hash(): stable across processes, so a restarted worker routes a partition to the same shard.
    return zlib.crc32(sid.encode("utf-8")) % shards


@dataclass
class _Slot:
    """One policy's place in the host: its rulesets (one per shard) and the partitions they hold."""

    loaded: LoadedPolicy
    rules: tuple[Rule, ...]
    names: list[str]
    generation: int
    last_seen: dict[str, float] = field(default_factory=dict)  # sid -> latest event time (epoch s)
    silent_until: dict[str, float] = field(default_factory=dict)  # throttle key value -> end of its silence (epoch s)
    facts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # sid -> fact id -> message
    # Open charts as a few bytes each instead of a durable partition: sid -> (state, latest event time).
    resting: dict[str, tuple[str, float]] = field(default_factory=dict)
    resumed: dict[str, str] = field(default_factory=dict)  # charts resumed for the post under way -> their state
    finished: dict[str, float] = field(default_factory=dict)  # statechart partitions in a final state -> seen
    # Windowed policies: sid -> earliest event time posted into the partition since it was created or compacted, a
    # floor under its pending events' times; while it is inside the window, compaction has nothing to drop.
    oldest: dict[str, float] = field(default_factory=dict)
    acted: set[str] = field(default_factory=set)  # sids whose durable partition has run an action since created

    @property
    def final_states(self) -> frozenset[str]:
        return frozenset(n for n, s in self.policy.chart_states.items() if not s.transitions)

    @property
    def policy(self):
        return self.loaded.policy

    def ruleset(self, sid: str) -> str:
        return self.names[shard_of(sid, len(self.names))]


def event_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


class PolicyEngine:
    def __init__(self, policies: Sequence[LoadedPolicy], *, clock: Clock | str = utc_now,
                 catalogue: Catalogue | None = None, shards: int = DEFAULT_SHARDS, sweep_every: int | None = None,
                 lateness: float | None = None):
        self._catalogue = catalogue or load_catalogue()
        # Allowed lateness (lateness.py) against `now`: None (batch, replay) evaluates every event, as silver gives
        # them in event-time order and the batch mode judges lateness against its watermark itself.
        self.lateness = lateness
        self._clock = clock
        self._shards = shards
        self._sweep_every = sweep_every or SWEEP_EVERY
        self._slots: dict[str, _Slot] = {}
        self._route_cache: dict[str, tuple[list[_Slot], list[_Slot]]] | None = None
        self._result = EvaluationResult()
        self._host = _PolicyHost(self._dispatcher)
        self._closed = False
        self._current_type: Any = None  # the type of the message being posted: the catch-all counts it
        self._event_fields: dict[str, tuple[tuple[str, str, Any], ...]] = {}  # event type -> (id, type, element)
        self._posted = 0
        # Set when an action raised or found an exception in its context: only then can durable have stored one in
        # a partition's state, so only then is the state read (see _call).
        self._exception_seen = False
        self._acted = False  # an action ran during the post under way (in its partition: durable runs no other's)
        self._firings: list[tuple[_Slot, int, dict[str, dict[str, Any]], str]] = []
        self.now: float | None = None  # event-time clock: the latest event time seen
        self.before_post: Callable[[str, Mapping[str, Any]], None] | None = None  # worker's crash marker
        for loaded in policies:
            if loaded.id in self._slots:
                raise ValueError(f"policy {loaded.id!r} given twice")
            self._register(loaded, 0)

    # -- policies ----------------------------------------------------------------------------------------------
    def _register(self, loaded: LoadedPolicy, generation: int) -> _Slot:
        rules = loaded.rules or policy_rules(loaded.policy)
        compiled = compile_policy(loaded.policy, rules)
        [(key, ruleset)] = compiled.items()
        base, _, suffix = key.partition("$")
        shards = 1 if loaded.policy.stateless else self._shards
        names = [base if shards == 1 and generation == 0 else f"{base}__g{generation}s{k}" for k in range(shards)]
        taken = {n for slot in self._slots.values() if slot.loaded.id != loaded.id for n in slot.names}
        if taken & set(names):
            raise ValueError(f"two policies compile to the ruleset name {base!r}")
        # durable deletes "run" from the dict it is given; a copy keeps the compiled form reusable.
        self._host.set_rulesets({(f"{n}${suffix}" if suffix else n): copy.deepcopy(ruleset) for n in names})
        slot = _Slot(loaded, rules, names, generation)
        self._slots[loaded.id] = slot
        self._route_cache = None
        return slot

    def _routes(self) -> dict[str, tuple[list[_Slot], list[_Slot]]]:
        """Event type -> (slots that read it as an event, slots that hold it as a fact); rebuilt on any change."""
        if self._route_cache is None:
            routes: dict[str, tuple[list[_Slot], list[_Slot]]] = {}
            for slot in self._slots.values():
                for event_type in slot.policy.subscribed_events:
                    routes.setdefault(event_type, ([], []))[0].append(slot)
                for event_type in slot.policy.fact_types:
                    routes.setdefault(event_type, ([], []))[1].append(slot)
            self._route_cache = routes
        return self._route_cache

    @property
    def policies(self) -> list[LoadedPolicy]:
        return [slot.loaded for slot in self._slots.values()]

    def replace(self, loaded: LoadedPolicy) -> None:
        """Hot reload: the new version takes over the policy's facts; every other policy keeps its state."""
        old = self._slots.pop(loaded.id, None)
        self._route_cache = None
        try:
            slot = self._register(loaded, old.generation + 1 if old else 0)
        except Exception:
            if old is not None:
                self._slots[loaded.id] = old
            raise
        if old is not None:
            for name in old.names:
                self._host.drop_ruleset(name)
            if slot.policy.is_chart and old.policy.is_chart:
                # Charts rest outside durable, so a new version takes them over where their state still exists.
                open_states = set(resumable_states(slot.policy))
                slot.resting = {sid: e for sid, e in old.resting.items() if e[0] in open_states}
                slot.finished = dict(old.finished)
            for sid, facts in old.facts.items():
                for fact in facts.values():
                    if fact["type"] in slot.policy.fact_types:
                        self._assert(slot, sid, fact)

    def remove(self, policy_id: str) -> None:
        slot = self._slots.pop(policy_id)
        self._route_cache = None
        for name in slot.names:
            self._host.drop_ruleset(name)

    def __enter__(self) -> "PolicyEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Free the rulesets in the C extension, which otherwise live as long as the process."""
        if not self._closed:
            self._closed = True
            for ruleset in self._host._ruleset_list:
                durable_rules_engine.delete_ruleset(ruleset._handle)

    def result(self) -> EvaluationResult:
        return copy.deepcopy(self._result)

    def take_result(self) -> EvaluationResult:
        """The results since the last take, and a fresh collector (the worker sends each batch's results back)."""
        result, self._result = self._result, EvaluationResult()
        return result

    def live_partitions(self) -> dict[str, int]:
        """Partitions holding state per policy: durable ones, and open charts resting as entries."""
        return {pid: len(slot.last_seen) + len(slot.resting) for pid, slot in self._slots.items()}

    # -- events ------------------------------------------------------------------------------------------------
    def post_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.post(event)

    def post(self, event: Mapping[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("engine is closed")
        event_type, event_id = event.get("type"), event.get("id")
        if not isinstance(event_type, str) or not isinstance(event_id, str) or not event_id:
            self._reject(event, None, "事件缺少文本 type 或 id / event needs text `type` and `id`")
            return
        events_to, facts_to = self._routes().get(event_type, ((), ()))
        if not events_to and not facts_to:
            self._result.unrouted[event_type] += 1
            return
        problem = self._type_problem(event_type, event)
        if problem:
            self._reject(event, None, problem)
            return
        message = dict(event)
        time_field = self._catalogue.events[event_type].time_field
        seconds = event_seconds(event.get(time_field)) if time_field else None
        retract = event.get("op") == "retract"
        if seconds is not None:
            if self._too_late(event, seconds, bool(facts_to) or retract):
                return
            message[TS] = seconds
            self.now = seconds if self.now is None else max(self.now, seconds)
        for slot in facts_to:
            self._fact_to(slot, message, retract)
        if not retract:
            for slot in events_to:
                self._post_to(slot, message)
        self._posted += 1
        if self._posted % self._sweep_every == 0:
            self.sweep()

    def _too_late(self, event: Mapping[str, Any], seconds: float, fact: bool) -> bool:
        """True (and the event kept in the result's `late`) when the event is older than `now` less the allowed
        lateness. Facts are current state, never late: a type some policy holds as a fact is asserted whatever its
        time (the batch mode reads facts in full for the same reason)."""
        if self.lateness is None or fact or classify(seconds, self.now, self.lateness) != TOO_LATE:
            return False
        self._result.late.append(LateEvent(
            str(event["type"]), str(event["id"]), dt.datetime.fromtimestamp(seconds, dt.timezone.utc),
            dt.datetime.fromtimestamp(self.now, dt.timezone.utc), int(self.lateness), "stream"))
        return True

    def _type_problem(self, event_type: str, event: Mapping[str, Any]) -> str | None:
        fields = self._event_fields.get(event_type)
        if fields is None:
            fields = self._event_fields[event_type] = tuple(
                (e.id, e.type, e) for e in self._catalogue.event_fields(event_type))
        # value_problem(full=False) finds a problem exactly when the type does not fit; asked only then.
        for field_id, kind, element in fields:
            value = event.get(field_id)
            if value is not None and not fits_type(kind, value):
                return value_problem(element, value, self._catalogue, full=False)
        return None

    def _partition(self, slot: _Slot, message: Mapping[str, Any]) -> str | None:
        key = message.get(slot.policy.partition_by)
        if key is None:
            self._reject(message, slot.loaded.id, f"事件缺少分区字段 {slot.policy.partition_by} / event has no "
                                                  f"value for the partition field {slot.policy.partition_by!r}")
            return None
        if not slot.policy.stateless and TS not in message and slot.policy.window_seconds:
            self._reject(message, slot.loaded.id, "窗口策略需要事件时间 / a windowed policy needs the event's time")
            return None
        return str(key)

    def _fact_to(self, slot: _Slot, message: dict[str, Any], retract: bool) -> None:
        sid = self._partition(slot, message)
        if sid is None:
            return
        held = slot.facts.setdefault(sid, {})
        if retract:
            stored = held.pop(message["id"], None)
            if stored is not None:
                self._call(slot, sid, message, lambda name: self._host.retract_fact(name, stored))
            if not held:
                slot.facts.pop(sid, None)
            return
        if message["id"] in held:
            return  # the same fact again: durable would refuse it as observed
        fact = {k: v for k, v in message.items() if k != "op"}
        held[message["id"]] = {**fact, "sid": sid}
        self._assert(slot, sid, fact)

    def _assert(self, slot: _Slot, sid: str, fact: dict[str, Any]) -> None:
        self._call(slot, sid, fact, lambda name: self._host.assert_fact(name, {**fact, "sid": sid}))

    def _post_to(self, slot: _Slot, message: dict[str, Any]) -> None:
        sid = self._partition(slot, message)
        if sid is None:
            return
        if sid in slot.finished:
            # A chart that reached a final state is kept as this one entry, not as a durable partition.
            slot.finished[sid] = max(slot.finished[sid], message.get(TS, self.now or 0.0))
            self._result.unhandled[(slot.loaded.id, message["type"])] += 1
            return
        posted = {**message, "sid": sid}
        if slot.policy.window_seconds and TS in message:
            posted[TS_END] = message[TS] + slot.policy.window_seconds
        if sid in slot.resting:
            self._resume(slot, sid)
        self._call(slot, sid, message, lambda name: self._host.post(name, posted))
        if sid in slot.resumed:  # the post failed before the chart's new state was known: it rests as it was
            slot.resting[sid] = (slot.resumed.pop(sid), message.get(TS, self.now or 0.0))
            self._delete_partition(slot.ruleset(sid), sid)

    def _resume(self, slot: _Slot, sid: str) -> None:
        """Recreate a resting chart's durable partition in its state (the compiler's resume transitions)."""
        state, _ = slot.resting.pop(sid)
        self._resumes = getattr(self, "_resumes", 0) + 1
        marker = {"id": f"{RESUME}:{self._resumes}", "sid": sid, "type": RESUME, "state": state}
        if self.before_post is not None:
            self.before_post(slot.loaded.id, marker)
        self._current_type = RESUME
        self._host.post(slot.ruleset(sid), marker)
        slot.resumed[sid] = state

    def _call(self, slot: _Slot, sid: str, message: Mapping[str, Any], operation: Callable[[str], Any]) -> None:
        name = slot.ruleset(sid)
        if self.before_post is not None:
            self.before_post(slot.loaded.id, message)
        self._current_type = message.get("type")
        self._firings = []
        self._acted = False
        if slot.policy.window_seconds:
            seen = message.get(TS, 0)
            if seen < slot.oldest.get(sid, seen + 1):
                slot.oldest[sid] = seen
        try:
            operation(name)
        except durable.MessageNotHandledException:
            self._result.unhandled[(slot.loaded.id, message["type"])] += 1
        except durable.MessageObservedException:
            self._reject(message, slot.loaded.id, "事件 id 重复 / an event with this id was already seen")
        except MemoryError:
            # durable's cap of 1024 live partitions per ruleset: more shards or a shorter idle_after are needed.
            self._result.errors.append(RuleError(
                slot.loaded.id, slot.loaded.version, sid, [str(message["id"])], "E_PARTITION_LIMIT",
                f"规则集 {name} 的分区数已达上限 1024 / ruleset {name} holds 1024 live partitions"))
            return
        if self._acted and not slot.policy.stateless and not slot.policy.is_chart:
            slot.acted.add(sid)
        # Firings are rendered only now, outside durable's callback: allocating much Python memory inside the
        # action (rendering, pydantic) crashed the process with SIGSEGV in later posts in our tests.
        firings, self._firings = self._firings, []
        for firing in firings:
            try:
                self._fire(*firing)
            except Exception as exc:  # noqa: BLE001 - recorded like an exception inside a durable action
                self._result.errors.append(RuleError(firing[0].loaded.id, firing[0].loaded.version, firing[3],
                                                     sorted(str(m["id"]) for m in firing[2].values()),
                                                     "E_ACTION_EXCEPTION", f"{type(exc).__name__}: {exc}"))
        state: Mapping[str, Any] = {}
        if self._exception_seen:  # else no action stored an exception: the state read would find none
            self._exception_seen = False
            state = self._host.get_state(name, sid)
        if state.get("exception"):
            self._result.errors.append(RuleError(slot.loaded.id, slot.loaded.version, sid, [str(message["id"])],
                                                 "E_ACTION_EXCEPTION", str(state["exception"])))
        if slot.policy.is_chart and self._chart_done(slot, sid, firings, message):
            return
        if not slot.policy.stateless:
            slot.last_seen[sid] = max(slot.last_seen.get(sid, 0.0), message.get(TS, self.now or 0.0))
        if slot.policy.stateless:
            self._host.delete_state(name, sid)  # safe: a rule (maybe the catch-all) ran; clears the exception
        elif state.get("exception"):
            self._host.update_state(name, {"sid": sid, "exception": None})

    def _chart_done(self, slot: _Slot, sid: str, firings: list, message: Mapping[str, Any]) -> bool:
        """Drop a chart's durable partition after every event: durable keeps ~750 KB per partition of the
        escalation chart (measured), while all a chart remembers is its state's name (our actions keep nothing in
        the chart's context, and its discard transitions leave no event pending). A chart in its initial state is
        as good as a fresh start, one in a final state is remembered as finished, one in any other state rests as
        (state, time) and is resumed there by its next event. Always True: the partition was dropped."""
        targets = [slot.rules[index].target for _, index, _, _ in firings if isinstance(index, int)]
        state = targets[-1] if targets else slot.resumed.get(sid)
        slot.resumed.pop(sid, None)
        self._delete_partition(slot.ruleset(sid), sid, acted=self._acted)
        slot.last_seen.pop(sid, None)
        seen = message.get(TS, self.now or 0.0)
        if state in slot.final_states:
            slot.finished[sid] = seen
        elif state is not None and state != slot.policy.chart_initial:
            slot.resting[sid] = (state, seen)
        return True

    # -- eviction ----------------------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Delete partitions idle for longer than their policy's idle time, on the event-time clock. A window's
        events older than the window can never complete a match; with them gone the partition holds only recent
        events. Partitions that hold facts stay: the facts are the platform's current state."""
        if self.now is None:
            return
        for slot in self._slots.values():
            idle = slot.policy.idle_seconds
            if idle is None:
                continue
            for sid, seen in list(slot.finished.items()):
                if seen < self.now - idle:
                    del slot.finished[sid]
            for sid, (_, seen) in list(slot.resting.items()):
                if seen < self.now - idle:
                    del slot.resting[sid]
                    self._result.evicted[slot.loaded.id] += 1
            for sid, seen in list(slot.last_seen.items()):
                if seen < self.now - idle and sid not in slot.facts:
                    self._delete_partition(slot.ruleset(sid), sid, acted=sid in slot.acted)
                    slot.acted.discard(sid)
                    del slot.last_seen[sid]
                    slot.oldest.pop(sid, None)
                    self._result.evicted[slot.loaded.id] += 1
                elif slot.policy.window_seconds:
                    self._compact(slot, sid)

    def _compact(self, slot: _Slot, sid: str) -> None:
        name = slot.ruleset(sid)
        window = slot.policy.window_seconds or 0
        oldest = slot.oldest.get(sid)
        if oldest is not None and oldest >= (self.now or 0) - window:
            return  # no pending event can be older than `oldest`: reading them all (JSON) would find none stale
        try:
            pending = self._host.get_pending_events(name, sid)
        except durable_rules_engine.error:
            return  # error 309: the partition holds no event store yet (only discarded events so far)
        stale = [e for e in pending if e.get(TS, 0) < (self.now or 0) - window]
        if not stale:
            return
        # A subset of events that did not complete a match cannot complete one: posting the fresh ones again
        # into an empty partition fires nothing and leaves only them pending.
        self._delete_partition(name, sid, acted=sid in slot.acted)
        slot.acted.discard(sid)
        slot.oldest.pop(sid, None)  # the re-posts below set it again
        for event in sorted((e for e in pending if e not in stale), key=lambda e: e.get(TS, 0)):
            self._call(slot, sid, event, lambda n, e=event: self._host.post(n, e))
        for fact in slot.facts.get(sid, {}).values():
            self._call(slot, sid, fact, lambda n, f=fact: self._host.assert_fact(n, f))

    def _delete_partition(self, name: str, sid: str, acted: bool = False) -> None:
        # durable crashes (SIGSEGV) deleting a partition in which no action has run yet; the marker's rule runs one.
        # `acted`: one has run in it (a chart's every event runs a transition, its discard one at least; a window's
        # or join's partition is noted in _Slot.acted when one does), so the marker would be a post that changes
        # nothing.
        if acted:
            self._host.delete_state(name, sid)
            return
        self._evictions = getattr(self, "_evictions", 0) + 1
        self._current_type = EVICT
        try:
            self._host.post(name, {"id": f"{EVICT}:{self._evictions}", "sid": sid, "type": EVICT})
        except durable.MessageNotHandledException:
            pass  # a statechart's final state has no rules, but its start transition already ran an action
        self._host.delete_state(name, sid)

    # -- checkpoint ---------------------------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """What this engine holds, as JSON-ready data (checkpoint.py stores it): per policy its resting and finished
        charts, facts, throttle silences, partitions' latest event times, and the events still pending inside
        durable for windows and joins (they are the window's state: a match not yet complete)."""
        policies = {}
        for pid, slot in self._slots.items():
            pending = {}
            if not slot.policy.stateless and not slot.policy.is_chart:
                for sid in slot.last_seen:
                    try:
                        events = self._host.get_pending_events(slot.ruleset(sid), sid)
                    except durable_rules_engine.error:
                        continue  # error 309: no event store yet in this partition, nothing pending
                    if events:
                        pending[sid] = sorted((dict(e) for e in events), key=lambda e: e.get(TS, 0))
            policies[pid] = {
                "version": slot.loaded.version, "sha256": slot.loaded.sha256,
                "resting": {sid: [state, seen] for sid, (state, seen) in slot.resting.items()},
                "finished": dict(slot.finished), "silent_until": dict(slot.silent_until),
                "last_seen": dict(slot.last_seen), "facts": copy.deepcopy(slot.facts), "pending": pending}
        return {"now": self.now, "policies": policies}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Load `export_state`'s data into this (fresh) engine. Pending window events are posted again: a set of
        events that completed no match cannot complete one, so nothing fires; whatever the re-posts report is
        dropped, as its actions were written when the events first arrived. A policy whose version changed keeps
        its facts, its charts resting in states that still exist, and loses pending events of the old rules."""
        before = self.take_result()
        saved_now = state.get("now")
        if saved_now is not None:
            self.now = saved_now if self.now is None else max(self.now, saved_now)
        for pid, saved in state.get("policies", {}).items():
            slot = self._slots.get(pid)
            if slot is None:
                continue  # a policy no longer running here
            same = saved.get("sha256") == slot.loaded.sha256
            if slot.policy.is_chart:
                open_states = set(resumable_states(slot.policy))
                slot.resting.update({sid: (state_, seen) for sid, (state_, seen) in saved.get("resting", {}).items()
                                     if state_ in open_states})
                slot.finished.update(saved.get("finished", {}))
            slot.silent_until.update(saved.get("silent_until", {}))
            for sid, facts in saved.get("facts", {}).items():
                for fact_id, fact in facts.items():
                    if fact.get("type") in slot.policy.fact_types and fact_id not in slot.facts.get(sid, {}):
                        slot.facts.setdefault(sid, {})[fact_id] = dict(fact)
                        self._assert(slot, sid, {k: v for k, v in fact.items() if k != "sid"})
            if same:
                for sid, events in saved.get("pending", {}).items():
                    for event in events:
                        self._call(slot, sid, event, lambda n, e=event: self._host.post(n, e))
            if not slot.policy.stateless and not slot.policy.is_chart:
                for sid, seen in saved.get("last_seen", {}).items():
                    slot.last_seen[sid] = max(slot.last_seen.get(sid, 0.0), seen)
        self.take_result()
        self._result = before

    def pending_events(self, policy_id: str, sid: str) -> list[dict[str, Any]]:
        slot = self._slots[policy_id]
        return self._host.get_pending_events(slot.ruleset(sid), sid)

    # -- firing ------------------------------------------------------------------------------------------------
    def _reject(self, event: Mapping[str, Any], policy_id: str | None, reason: str) -> None:
        event_id, event_type = event.get("id"), event.get("type")
        self._result.rejected.append(RejectedEvent(
            event_id if isinstance(event_id, str) else None, event_type if isinstance(event_type, str) else None,
            policy_id, reason))

    def _dispatcher(self, ref: str) -> Callable[[Any], None]:
        policy_id, rule_index = parse_action_ref(ref)

        def fire(c: Any) -> None:
            # Every rule's and transition's "run" resolves here and is the last link of its chain (a chart's
            # transition runs durable's own step first, which stores what it raises in c.s), so what durable can
            # swallow into a state's "exception" passes this point: raised below, or already in c.s.
            self._acted = True
            try:
                self._record(policy_id, rule_index, c)
            except BaseException:
                self._exception_seen = True
                raise
            if "exception" in c.s._d:
                self._exception_seen = True

        return fire

    def _record(self, policy_id: str, rule_index: int | str, c: Any) -> None:
        slot = self._slots.get(policy_id)
        if slot is None or rule_index in ("start", EVICT, RESUME):
            return
        if rule_index == DISCARD:
            if self._current_type != EVICT:
                self._result.unhandled[(policy_id, self._current_type)] += 1
            return
        # Closure._m is durable's alias -> matched message dict for rules whose patterns are not batches.
        matched = {alias: dict(m) for alias, m in dict(c._m).items() if alias != "chart_context"}
        self._firings.append((slot, rule_index, matched, str(c.s.sid)))

    def _fired_at(self, matched: dict[str, dict[str, Any]]) -> dt.datetime:
        if self._clock == EVENT_TIME:
            times = [m[TS] for m in matched.values() if TS in m] or [self.now]
            if times[0] is None:
                raise ValueError("event-time clock: the matched events carry no event time")
            return dt.datetime.fromtimestamp(max(times), dt.timezone.utc)
        now = self._clock()  # type: ignore[operator]
        if now.tzinfo is None:
            raise ValueError("the engine clock must return an aware datetime")  # recorded as E_ACTION_EXCEPTION
        return now.astimezone(dt.timezone.utc)

    def _throttled(self, slot: _Slot, message: Mapping[str, Any], moment: dt.datetime) -> bool:
        """True (and counted) when the policy already fired for this throttle key within its throttle span."""
        if slot.policy.throttle is None:
            return False
        until = slot.silent_until.get(str(message.get(slot.policy.throttle_key)))
        if until is None or moment.timestamp() >= until:
            return False
        self._result.throttled[slot.loaded.id] += 1
        return True

    def _with_time(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as templates see it: `time` names its event type's time field ({{ first.time }})."""
        event_type = self._catalogue.events.get(message.get("type"))
        if event_type is None or not event_type.time_field or event_type.time_field not in message:
            return message
        return {TIME: message[event_type.time_field], **message}

    def _fire(self, slot: _Slot, rule_index: int, matched: dict[str, dict[str, Any]], sid: str) -> None:
        """All of a rule's actions become outbox records, or none do: a half-done firing would disagree with the
        policy text in the audit trail."""
        loaded, rule = slot.loaded, slot.rules[rule_index]
        fired_at = self._fired_at(matched)
        event_ids = sorted(str(message["id"]) for message in matched.values())
        bindings = {alias: self._with_time(message) for alias, message in matched.items()}
        variables = {}
        if rule.window:
            ordered = [bindings[f"m_{i}"] for i in range(rule.window.count)]
            bindings = {**bindings, "first": ordered[0], "last": ordered[-1], "m": ordered[-1]}
            variables["count"] = rule.window.count
        latest = max(filter(None, (event_time(m, self._catalogue) for m in matched.values())), default=None)
        if self._throttled(slot, bindings.get("m") or {}, latest or fired_at):
            return
        records = []
        for index, call in enumerate(rule.actions):
            spec = ACTIONS[call.action]
            try:
                params = spec.validate(render(call.params, bindings, variables, spec.optional))
            except RenderError as exc:
                self._result.errors.append(RuleError(loaded.id, loaded.version, sid, event_ids, "E_RENDER",
                                                     f"动作 {index}（{call.action}）: {exc}"))
                return
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                self._result.errors.append(RuleError(
                    loaded.id, loaded.version, sid, event_ids, "E_ACTION_PARAM",
                    f"动作 {index}（{call.action}）参数填入后不符合要求 / rendered parameters invalid: {detail}"))
                return
            key_index = index if len(slot.rules) == 1 else f"{rule_index}.{index}"
            records.append(OutboxRecord(
                policy_id=loaded.id, policy_version=loaded.version, policy_file_sha256=loaded.sha256,
                action=spec.name, action_name_zh=spec.name_zh, params=params.model_dump(mode="json"),
                message=spec.summary_zh(params), matched_event_ids=event_ids, partition_key=sid,
                idempotency_key=idempotency_key(loaded.id, loaded.version, key_index, event_ids),
                fired_at=fired_at))
        self._result.outbox.extend(records)
        throttle = slot.policy.throttle
        if throttle is not None:
            slot.silent_until[str((bindings.get("m") or {}).get(slot.policy.throttle_key))] = \
                (latest or fired_at).timestamp() + throttle.seconds
        if latest is not None:
            self._result.triggered_at.update((r.idempotency_key, latest) for r in records)


def evaluate(policies: Sequence[LoadedPolicy], events: Iterable[Mapping[str, Any]], *, clock: Clock | str = utc_now,
             catalogue: Catalogue | None = None, shards: int = DEFAULT_SHARDS) -> EvaluationResult:
    """Run `events`, in order, through a fresh engine holding `policies`; each event goes to every subscriber."""
    with PolicyEngine(policies, clock=clock, catalogue=catalogue, shards=shards) as engine:
        engine.post_many(events)
        return engine.result()
