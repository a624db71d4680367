"""Running policies on events with durable-rules (规则引擎运行时), in process.

`PolicyEngine` owns one durable Host with one ruleset per policy. It takes plain event dicts and keeps plain
results (outbox records, rule errors, rejected events, counters), so it can later run unchanged inside a
supervised worker process that receives events from a queue; nothing here assumes the caller shares its memory.

durable-rules quirks handled here (shared/reference/rule-engine-notes.md):
- Host starts two background threads that dispatch queued actions and timers concurrently with callers (#291,
  error 307). Our actions are synchronous and we use no engine timers (a platform scheduler will post deadline
  events), so `_PolicyHost._run` starts none: every action runs inside `post`, on the caller's thread, in order.
- An event matching no rule raises MessageNotHandledException: normal, counted per (policy, event type).
- An exception inside an action is swallowed into the sid's state['exception']: read after every post.
- Without an explicit `id` durable hashes the content and drops identical events: events must carry an `id`.
- At most 1024 live sids per ruleset (MemoryError after that). A policy without windows never needs earlier
  events, so the sid's state is deleted right after each post; windowed policies (a later issue) will need
  sharding by hash(sid) and an idle-sid sweeper instead.
- Text and numbers are coerced when compared, so event field types are checked against the catalogue first.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import durable_rules_engine
from durable import engine as durable
from pydantic import ValidationError

from safecity.rules.actions import ACTIONS
from safecity.rules.compiler import compile_policies, parse_action_ref
from safecity.rules.fields import value_problem
from safecity.rules.loader import LoadedPolicy
from safecity.rules.outbox import OutboxRecord, idempotency_key
from safecity.rules.templates import RenderError, render
from safecity.standards.catalogue import Catalogue, load_catalogue

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RuleError:
    """规则运行错误: a firing that produced no outbox records, or an exception inside the engine's action."""

    policy_id: str
    policy_version: int
    partition_key: str
    event_ids: list[str]
    code: str  # E_RENDER, E_ACTION_PARAM or E_ACTION_EXCEPTION
    message: str


@dataclass(frozen=True)
class RejectedEvent:
    """拒收事件: an event the engine would misread (no id, no partition value, wrong field type)."""

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

    def unhandled_by_type(self) -> dict[str, int]:
        totals: Counter = Counter()
        for (_, event_type), count in self.unhandled.items():
            totals[event_type] += count
        return dict(totals)


class _PolicyHost(durable.Host):
    def __init__(self, resolve: Callable[[str], Callable[[Any], None]]):
        self._resolve = resolve
        super().__init__()

    def _run(self) -> None:
        pass  # no background dispatch/timer threads: see the module docstring

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._resolve(action_name)


class PolicyEngine:
    def __init__(self, policies: Sequence[LoadedPolicy], *, clock: Clock = utc_now,
                 catalogue: Catalogue | None = None):
        self._catalogue = catalogue or load_catalogue()
        self._clock = clock
        self._policies: dict[str, LoadedPolicy] = {}
        self._routes: dict[str, list[LoadedPolicy]] = {}
        for loaded in policies:
            if loaded.id in self._policies:
                raise ValueError(f"policy {loaded.id!r} given twice")
            self._policies[loaded.id] = loaded
            for event_type in sorted(loaded.policy.subscribed_events):
                self._routes.setdefault(event_type, []).append(loaded)
        self._result = EvaluationResult()
        self._host = _PolicyHost(self._dispatcher)
        # durable deletes "run" from the dict it is given; a copy keeps the compiled form reusable.
        self._host.set_rulesets(copy.deepcopy(compile_policies(p.policy for p in policies)))
        self._closed = False

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
        subscribers = self._routes.get(event_type)
        if not subscribers:
            self._result.unrouted[event_type] += 1
            return
        problem = self._type_problem(event_type, event)
        if problem:
            self._reject(event, None, problem)
            return
        for loaded in subscribers:
            self._post_to(loaded, event)

    def _type_problem(self, event_type: str, event: Mapping[str, Any]) -> str | None:
        for element in self._catalogue.event_fields(event_type):
            value = event.get(element.id)
            if value is not None:
                problem = value_problem(element, value, self._catalogue, full=False)
                if problem:
                    return problem
        return None

    def _post_to(self, loaded: LoadedPolicy, event: Mapping[str, Any]) -> None:
        key = event.get(loaded.policy.partition_by)
        if key is None:
            self._reject(event, loaded.id, f"事件缺少分区字段 {loaded.policy.partition_by} / event has no value "
                                           f"for the partition field {loaded.policy.partition_by!r}")
            return
        sid, name = str(key), loaded.ruleset_name
        try:
            self._host.post(name, {**event, "sid": sid})
        except durable.MessageNotHandledException:
            self._result.unhandled[(loaded.id, event["type"])] += 1
        except durable.MessageObservedException:
            self._reject(event, loaded.id, "事件 id 重复 / an event with this id was already seen")
        state = self._host.get_state(name, sid)
        if state.get("exception"):
            self._result.errors.append(RuleError(loaded.id, loaded.version, sid, [event["id"]],
                                                 "E_ACTION_EXCEPTION", str(state["exception"])))
        if loaded.policy.stateless:
            self._host.delete_state(name, sid)  # also clears the exception
        elif state.get("exception"):
            self._host.update_state(name, {"sid": sid, "exception": None})

    def _reject(self, event: Mapping[str, Any], policy_id: str | None, reason: str) -> None:
        event_id, event_type = event.get("id"), event.get("type")
        self._result.rejected.append(RejectedEvent(
            event_id if isinstance(event_id, str) else None, event_type if isinstance(event_type, str) else None,
            policy_id, reason))

    def _dispatcher(self, ref: str) -> Callable[[Any], None]:
        policy_id, rule_index = parse_action_ref(ref)
        loaded = self._policies[policy_id]

        def fire(c: Any) -> None:
            # Closure._m is durable's alias -> matched message dict for rules whose patterns are not batches.
            self._fire(loaded, rule_index, dict(c._m), str(c.s.sid))

        return fire

    def _fire(self, loaded: LoadedPolicy, rule_index: int, matched: dict[str, dict[str, Any]], sid: str) -> None:
        """All of a rule's actions become outbox records, or none do: a half-done firing would disagree with the
        policy text in the audit trail."""
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the engine clock must return an aware datetime")  # recorded as E_ACTION_EXCEPTION
        fired_at = now.astimezone(dt.timezone.utc)
        event_ids = sorted(str(message["id"]) for message in matched.values())
        records = []
        for index, call in enumerate(loaded.policy.actions):
            spec = ACTIONS[call.action]
            try:
                params = spec.validate(render(call.params, matched))
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
            records.append(OutboxRecord(
                policy_id=loaded.id, policy_version=loaded.version, policy_file_sha256=loaded.sha256,
                action=spec.name, action_name_zh=spec.name_zh, params=params.model_dump(mode="json"),
                message=spec.summary_zh(params), matched_event_ids=event_ids, partition_key=sid,
                idempotency_key=idempotency_key(loaded.id, loaded.version, index, event_ids), fired_at=fired_at))
        self._result.outbox.extend(records)


def evaluate(policies: Sequence[LoadedPolicy], events: Iterable[Mapping[str, Any]], *, clock: Clock = utc_now,
             catalogue: Catalogue | None = None) -> EvaluationResult:
    """Run `events`, in order, through a fresh engine holding `policies`; each event goes to every subscriber."""
    with PolicyEngine(policies, clock=clock, catalogue=catalogue) as engine:
        engine.post_many(events)
        return engine.result()
