"""The engine in a supervised worker process (受监护的引擎进程).

durable-rules is a C extension that can crash the whole process with SIGSEGV (jruizgit/rules#381; in our own tests
a windowed policy crashed it after a few dozen engines, depending on memory layout). The engine therefore runs in
a child process; this module's supervisor sends it events and takes back results. Before each post the child
writes the index of the policy it is about to call into shared memory, so when the child dies the supervisor
knows which policy was running. It restarts the child, asserts the facts again, and after `max_crashes` crashes
in the same policy version it sets that version aside (recorded in `set_aside`) and goes on without it.

Two ways to use it:
- `evaluate_supervised(policies, events)`: a whole, deterministic evaluation (tests, replay, batch). Events are
  consumed as an iterator and sent in chunks, so a day's events are never all in memory, in either process. After
  a crash the evaluation starts again from the first event in a fresh child (a second pass over `events`, which
  must therefore be re-iterable: a list, or silver_events' stream), so the result is exactly what an uncrashed
  run gives (less the set-aside policies).
- `SupervisedEngine`: long-running (streaming). After a crash the current batch is sent again to the new child;
  window and statechart state of the earlier batches is lost, facts are not (the supervisor keeps them).
  `export_state` / `restore` move the child's whole state in and out (streaming checkpoints, checkpoint.py).
"""
from __future__ import annotations

import ctypes
import itertools
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from safecity.rules.engine import DEFAULT_SHARDS, EvaluationResult, PolicyEngine, RuleError, utc_now
from safecity.rules.loader import LoadedPolicy

# fork: policies and clock reach the child without pickling and it starts in milliseconds. Callers inside a
# threaded host (Dagster) pass start_method="spawn"; their clock must then be picklable (EVENT_TIME, utc_now).
DEFAULT_START = "fork"
MAX_CRASHES = 2
CHUNK = 2000  # events per message to the child: small next to a day, large enough that pickling dominates


@dataclass(frozen=True)
class SetAside:
    """搁置的策略版本: a policy version that crashed the engine and no longer runs."""

    policy_id: str
    policy_version: int
    policy_file_sha256: str
    crashes: int
    exit_code: int | None
    event_id: str | None


@dataclass(frozen=True)
class CrashDrill:
    """Deliberately crash the worker natively when `policy_id` is about to see `event_id`: for tests and drills
    of the supervisor, with a real SIGSEGV rather than a Python exception."""

    policy_id: str
    event_id: str
    times: int = 1_000_000  # crash on the first this many attempts


PARENT_CHECK_SECONDS = 2.0  # how often an idle engine child checks that its worker is still alive


def _child(conn: Any, policies: Sequence[LoadedPolicy], clock: Any, shards: int, marker: Any,
           drill: CrashDrill | None, attempt: int, parent: int, lateness: float | None = None) -> None:
    engine = PolicyEngine(policies, clock=clock, shards=shards, lateness=lateness)
    ids = [p.id for p in policies]

    def before_post(policy_id: str, message: Mapping[str, Any]) -> None:
        marker[0] = ids.index(policy_id)
        if drill and policy_id == drill.policy_id and message.get("id") == drill.event_id and attempt < drill.times:
            ctypes.string_at(0)  # SIGSEGV: a native crash, as durable's own would be

    engine.before_post = before_post
    # `parent` is the worker's pid as the worker saw it before starting this child: read here, it could already be
    # the reaper's if the worker died while this child was still starting on a loaded machine.
    while True:
        while not conn.poll(PARENT_CHECK_SECONDS):
            # A worker killed outright (SIGKILL) never sends "stop", and a sibling engine forked later holds this
            # pipe's other end too, so no EOF comes either: without this, engines outlive their worker for good.
            if os.getppid() != parent:
                engine.close()
                return
        command, payload = conn.recv()
        if command == "post":
            for position, event in enumerate(payload):
                marker[1] = position
                engine.post(event)
            conn.send(engine.take_result())
        elif command == "replace":
            marker[0] = -1
            engine.replace(payload)
            conn.send(None)
        elif command == "remove":
            engine.remove(payload)
            conn.send(None)
        elif command == "sweep":
            engine.sweep()
            conn.send(engine.take_result())
        elif command == "stats":
            conn.send(engine.live_partitions())
        elif command == "export":
            conn.send(engine.export_state())
        elif command == "restore":
            marker[0] = -1
            engine.restore_state(payload)
            conn.send(None)
        elif command == "stop":
            engine.close()
            conn.send(None)
            return


class WorkerCrashed(RuntimeError):
    pass


@dataclass
class SupervisedEngine:
    policies: list[LoadedPolicy]
    clock: Any = utc_now
    shards: int = DEFAULT_SHARDS
    max_crashes: int = MAX_CRASHES
    drill: CrashDrill | None = None
    start_method: str = DEFAULT_START
    max_restarts: int = 20
    lateness: float | None = None  # allowed lateness in seconds (streaming); None: every event is evaluated
    set_aside: list[SetAside] = field(default_factory=list)
    crashes: dict[tuple[str, int], int] = field(default_factory=dict)
    restarts: int = 0
    # Streaming with checkpoints: a restarted child is given the last checkpointed state and the events since,
    # so a native crash loses no open chart or window (without it, only the facts are re-asserted).
    keep_state: bool = False
    _facts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (type, id) -> latest assertion
    _baseline: dict[str, Any] | None = None  # the state of the last checkpoint (keep_state)
    _since: list[Mapping[str, Any]] = field(default_factory=list)  # events evaluated since that checkpoint

    def __post_init__(self) -> None:
        self.policies = list(self.policies)
        self._process = None
        self._pending: list[Mapping[str, Any]] | None = None  # the batch submitted and not yet collected
        self._in_flight = False
        self._start()
        if self.keep_state:
            self._baseline = {}  # a fresh engine: its state is every event since its start

    # -- process -----------------------------------------------------------------------------------------------
    def _start(self) -> None:
        context = mp.get_context(self.start_method)
        self._marker = context.Array("i", [-1, -1], lock=False)
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child, daemon=True, args=(
            child_conn, self.policies, self.clock, self.shards, self._marker, self.drill, self.restarts, os.getpid(),
            self.lateness))
        self._process.start()
        child_conn.close()
        if self._baseline is not None:
            # The child as it was: the checkpoint, then the events since, whose actions were returned already.
            self._request("restore", self._baseline)
            if self._since:
                self._request("post", self._since)
            return
        facts = self._fact_events()
        if facts:
            self._request("post", facts)  # results of re-asserted facts were recorded when first asserted

    def _fact_events(self) -> list[dict[str, Any]]:
        return list(self._facts.values())

    def _request(self, command: str, payload: Any = None) -> Any:
        self._send(command, payload)
        return self._receive(command)

    def _send(self, command: str, payload: Any = None) -> None:
        try:
            self._conn.send((command, payload))
        except (ConnectionError, BrokenPipeError):
            raise WorkerCrashed(command) from None

    def _receive(self, command: str) -> Any:
        try:
            return self._conn.recv()
        except (EOFError, ConnectionError, BrokenPipeError):
            raise WorkerCrashed(command) from None

    def _crashed(self, events: Sequence[Mapping[str, Any]] | None) -> RuleError:
        """Record the crash, set the policy version aside when it has crashed too often, restart the child."""
        self._process.join(5)
        code = self._process.exitcode
        index, position = self._marker[0], self._marker[1]
        suspect = self.policies[index] if 0 <= index < len(self.policies) else None
        event_id = None
        if events is not None and 0 <= position < len(events):
            event_id = events[position].get("id")
        self.restarts += 1
        error = RuleError(suspect.id if suspect else "", suspect.version if suspect else 0, "",
                          [str(event_id)] if event_id else [], "E_WORKER_CRASH",
                          f"引擎进程崩溃（退出码 {code}），已重启 / engine worker died (exit code {code}), restarted")
        if suspect is not None:
            key = (suspect.id, suspect.version)
            self.crashes[key] = self.crashes.get(key, 0) + 1
            if self.crashes[key] >= self.max_crashes:
                self.policies = [p for p in self.policies if p.id != suspect.id]
                self.set_aside.append(SetAside(suspect.id, suspect.version, suspect.sha256, self.crashes[key],
                                               code, str(event_id) if event_id else None))
        if suspect is None or self.restarts > self.max_restarts:
            # Not a policy's crash (the child could not start, or died between posts): restarting cannot help.
            raise WorkerCrashed(f"engine worker died (exit code {code}) outside any policy; "
                                f"{self.restarts} restarts") from None
        self._start()
        return error

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._request("stop")
            except WorkerCrashed:
                pass
            self._process.join(5)
        self._process = None

    def __enter__(self) -> "SupervisedEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- work --------------------------------------------------------------------------------------------------
    def post(self, events: Sequence[Mapping[str, Any]]) -> EvaluationResult:
        """Evaluate one batch; after a crash the batch is sent again to the restarted child."""
        self.submit(events)
        return self.collect()

    def submit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Send one batch without waiting for its result (`collect` takes it), so a worker with many partitions
        has all its engine children evaluating at once instead of one pipe round trip after another."""
        if self._pending is not None:
            raise RuntimeError("submit before the previous batch was collected")
        self._pending = list(events)
        try:
            self._send("post", self._pending)
            self._in_flight = True
        except WorkerCrashed:
            self._in_flight = False  # collect restarts the child and sends the batch again

    def collect(self) -> EvaluationResult:
        """The result of the batch `submit` sent; after a crash the batch is sent again to the restarted child."""
        events, self._pending = self._pending, None
        if events is None:
            raise RuntimeError("collect without a submitted batch")
        crash_errors: list[RuleError] = []
        result = None
        if self._in_flight:
            try:
                result = self._receive("post")
            except WorkerCrashed:
                crash_errors.append(self._crashed(events))
        else:
            crash_errors.append(self._crashed(events))
        while result is None:
            try:
                result = self._request("post", events)
            except WorkerCrashed:
                crash_errors.append(self._crashed(events))
        self._remember_facts(events)
        if self._baseline is not None:
            self._since.extend(events)
        result.errors[:0] = crash_errors
        return result

    def _remember_facts(self, events: Iterable[Mapping[str, Any]]) -> None:
        fact_types = {t for p in self.policies for t in p.policy.fact_types}
        for event in events:
            if event.get("type") not in fact_types:
                continue
            key = (str(event["type"]), str(event.get("id")))
            if event.get("op") == "retract":
                self._facts.pop(key, None)
            else:
                self._facts[key] = dict(event)

    def replace(self, loaded: LoadedPolicy) -> bool:
        """Hot reload of one policy; False when the new version crashed the worker and was set aside (the other
        policies then continue in the restarted worker, without the changed one)."""
        try:
            self._request("replace", loaded)
        except WorkerCrashed:
            self._crashed(None)
            return False
        self.policies = [p for p in self.policies if p.id != loaded.id] + [loaded]
        return True

    def remove(self, policy_id: str) -> None:
        self._request("remove", policy_id)
        self.policies = [p for p in self.policies if p.id != policy_id]

    def sweep(self) -> EvaluationResult:
        return self._request("sweep")

    def export_state(self) -> dict[str, Any]:
        """The child engine's state for a checkpoint (PolicyEngine.export_state); with keep_state it is also what a
        restarted child starts from."""
        state = self._request("export")
        self._checkpointed(state)
        return state

    def _checkpointed(self, state: Mapping[str, Any]) -> None:
        if self.keep_state:
            self._baseline, self._since = dict(state), []

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a checkpoint's state into the child; its facts are also remembered for re-assertion after a crash."""
        self._request("restore", state)
        self._checkpointed(state)
        for policy in state.get("policies", {}).values():
            for facts in policy.get("facts", {}).values():
                self._remember_facts({k: v for k, v in fact.items() if k != "sid"} for fact in facts.values())

    def live_partitions(self) -> dict[str, int]:
        return self._request("stats")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


def reiterable(events: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """`events` if iterating it again starts over; a one-shot iterator (a generator) is kept as a list."""
    return list(events) if iter(events) is events else events


def chunks(events: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(events)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _evaluate_pass(supervisor: SupervisedEngine, events: Iterable[Mapping[str, Any]], size: int
                   ) -> tuple[EvaluationResult, list[Mapping[str, Any]] | None]:
    """One pass over `events` through the child; on a crash, the chunk it died in (else None)."""
    result = EvaluationResult()
    pending = chunks(events, size)
    chunk = next(pending, None)
    while chunk is not None:
        try:
            supervisor._send("post", chunk)
            # The next chunk is read (from DuckDB, say) while the child evaluates this one.
            following = next(pending, None)
            result.extend(supervisor._receive("post"))
        except WorkerCrashed:
            return result, chunk
        chunk = following
    return result, None


def evaluate_supervised(policies: Sequence[LoadedPolicy], events: Iterable[Mapping[str, Any]], *,
                        clock: Any = utc_now, shards: int = DEFAULT_SHARDS, max_crashes: int = MAX_CRASHES,
                        drill: CrashDrill | None = None, start_method: str = DEFAULT_START, chunk: int = CHUNK
                        ) -> tuple[EvaluationResult, list[SetAside]]:
    """A whole evaluation in a child process, `chunk` events at a time; after a crash it starts again from the
    first event."""
    events = reiterable(events)
    supervisor = SupervisedEngine(list(policies), clock=clock, shards=shards, max_crashes=max_crashes, drill=drill,
                                  start_method=start_method)
    crash_errors: list[RuleError] = []
    try:
        while True:
            result, crashed_in = _evaluate_pass(supervisor, events, chunk)
            if crashed_in is None:
                break
            crash_errors.append(supervisor._crashed(crashed_in))  # the restarted child gets every event again
        result.errors[:0] = crash_errors
        return result, list(supervisor.set_aside)
    finally:
        supervisor.close()
