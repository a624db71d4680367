"""The executor (动作执行器): delivers outbox records to the configured sinks, at least once.

Per sink, each record is tried up to `attempts_per_run` times in a run, waiting between tries an exponentially
growing delay with jitter (base·2^(n-1), capped at max_delay, half of it random so that many senders do not retry
in step), or the receiver's Retry-After when it asks for longer (a Retry-After beyond max_delay ends the sink's
run: it is asked again next run). A permanent failure (a 4xx other than 408/429) is not retried. Every attempt is
entered in the delivery ledger (rules.delivery_ledger), so attempts count across runs; a record that reaches
`max_attempts`, or fails permanently, is dead-lettered: it leaves the retry loop, kept with its payload in the
ledger and in ops.action_dead_letter until `safecity rules dead-letter retry` sends it back.

At least once: a delivery is entered in the ledger only after the sink accepted it (the line fsync'ed), so a crash
in between delivers that record again on the next run; the idempotency key on every delivery makes the repeat
harmless. A sink whose receiver keeps failing stops for the run after its record's tries (later records wait, so
each sink receives records in outbox order); the other sinks go on.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.yamlfile import load_yaml, parse_model
from safecity.rules.actions import ACTIONS
from safecity.rules.delivery_ledger import DEAD_LETTER, DELIVERED, RETRYING, Ledger, SinkState
from safecity.rules.outbox import OutboxRecord
from safecity.rules.sinks import DeliveryError, FileSink, KafkaSink, Sink, WebhookSink

__all__ = ["DEAD_LETTER", "DELIVERED", "RETRYING", "Ledger", "Executor", "RetryPolicy", "SinkConfig",
           "ExecutorConfig", "DEFAULT_CONFIG", "load_executor_config", "open_sink", "payload", "executor_from_config"]


class RetryPolicy(BaseModel):
    """How hard the executor tries one sink (Stripe-like defaults, scaled to runs of the main job)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts_per_run: int = Field(3, ge=1)
    max_attempts: int = Field(10, ge=1)  # across runs; then the record is dead-lettered
    base_delay: float = Field(0.5, ge=0)  # seconds before the 2nd attempt; doubles each time
    max_delay: float = Field(30.0, ge=0)
    timeout: float = Field(10.0, gt=0)  # seconds a webhook or the Kafka broker has to answer

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): equal jitter, so the wait still grows
        with each attempt but two senders failing together do not come back together."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
        return max(wait, retry_after or 0.0)


class SinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["file", "webhook", "kafka"]
    path: str | None = None  # file; relative to the state folder
    url: str | None = None  # webhook
    secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")  # webhook: the variable holding the secret
    bootstrap: str | None = None  # kafka
    topic: str | None = None  # kafka
    actions: list[str] = Field(default_factory=list)  # empty: every action
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @model_validator(mode="after")
    def _needs(self):
        needed = {"file": ["path"], "webhook": ["url"], "kafka": ["bootstrap", "topic"]}[self.type]
        missing = [n for n in needed if not getattr(self, n)]
        if missing:
            raise ValueError(f"sink {self.name}: a {self.type} sink needs {' and '.join(missing)}")
        if self.secret_env and self.type != "webhook":
            raise ValueError(f"sink {self.name}: secret_env signs webhooks only")
        return self


class ExecutorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sinks: list[SinkConfig] = Field(min_length=1)


# With no sink configuration: every action into a JSON Lines file in the state folder (no server needed).
DEFAULT_CONFIG = ExecutorConfig(sinks=[SinkConfig(name="file", type="file", path="rules/actions.jsonl")])


def load_executor_config(path: str | Path) -> ExecutorConfig:
    config = parse_model(load_yaml(path), ExecutorConfig)
    for sink in config.sinks:
        unknown = [a for a in sink.actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"{path}: sink {sink.name}: unknown actions {unknown}")
    names = Counter(s.name for s in config.sinks)
    if any(n > 1 for n in names.values()):
        raise ValueError(f"{path}: sink names repeat: {sorted(k for k, n in names.items() if n > 1)}")
    return config


def open_sink(config: SinkConfig, home: str | Path | None = None) -> Sink:
    """The sink a configuration names; a webhook's secret comes from the environment, never from the file."""
    if config.type == "file":
        path = Path(config.path)
        return FileSink(config.name, path if path.is_absolute() or home is None else Path(home) / path)
    if config.type == "webhook":
        secret = None
        if config.secret_env:
            secret = os.environ.get(config.secret_env)
            if not secret:
                raise ValueError(f"sink {config.name}: environment variable {config.secret_env} (the webhook's "
                                 f"signing secret) is not set / 未设置签名密钥环境变量")
        return WebhookSink(config.name, config.url, timeout=config.retry.timeout, secret=secret)
    return KafkaSink(config.name, config.bootstrap, config.topic, timeout=config.retry.timeout)


def payload(record: OutboxRecord | Mapping[str, Any]) -> dict[str, Any]:
    """The delivered form of an outbox record or of an outbox table row (whose params are JSON text)."""
    if isinstance(record, OutboxRecord):
        row = {**record.__dict__, "params": dict(record.params)}
    else:
        row = dict(record)
        if isinstance(row.get("params"), str):
            row["params"] = json.loads(row["params"])
    row["fired_at"] = str(row["fired_at"].isoformat() if hasattr(row["fired_at"], "isoformat") else row["fired_at"])
    row["matched_event_ids"] = list(row["matched_event_ids"])
    return row


LEDGER_PATH = Path("rules") / "delivery-ledger.jsonl"  # under the state folder, unless `rules deliver --ledger`


@dataclass
class DeliveryReport:
    delivered: Counter = field(default_factory=Counter)  # sink -> records accepted in this run
    skipped: Counter = field(default_factory=Counter)  # sink -> already delivered before
    retrying: Counter = field(default_factory=Counter)  # sink -> records still to deliver after this run
    dead_lettered: Counter = field(default_factory=Counter)  # sink -> records that left the retry loop this run
    dead_letters: Counter = field(default_factory=Counter)  # sink -> records in the dead letter, old and new
    failed: dict[str, list[str]] = field(default_factory=dict)  # sink -> failure messages of this run
    attempts: Counter = field(default_factory=Counter)  # sink -> attempts made in this run

    def by_sink(self) -> dict[str, dict[str, int]]:
        sinks = sorted(set(self.delivered) | set(self.skipped) | set(self.retrying) | set(self.dead_letters))
        return {s: {"delivered": self.delivered[s] + self.skipped[s], "delivered_this_run": self.delivered[s],
                    "retrying": self.retrying[s], "dead_letter": self.dead_letters[s],
                    "dead_lettered_this_run": self.dead_lettered[s], "attempts_this_run": self.attempts[s]}
                for s in sinks}


Route = tuple[Sink, Iterable[str]] | tuple[Sink, Iterable[str], RetryPolicy]


class Executor:
    def __init__(self, routes: Iterable[Route], ledger: Ledger, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        default = retry or RetryPolicy()
        self._routes = [(r[0], frozenset(r[1]), r[2] if len(r) > 2 else default) for r in routes]
        self._ledger = ledger
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def sinks(self) -> list[str]:
        return [sink.name for sink, _, _ in self._routes]

    def routed(self, item: Mapping[str, Any]) -> list[str]:
        """The sinks that take this record's action."""
        return [sink.name for sink, actions, _ in self._routes if not actions or item["action"] in actions]

    def deliver(self, records: Iterable[OutboxRecord | Mapping[str, Any]]) -> DeliveryReport:
        report = DeliveryReport()
        paused: set[str] = set()  # sinks whose receiver keeps failing or asked for a long pause: wait for next run
        for record in records:
            item = payload(record)
            key = item["idempotency_key"]
            for sink, actions, retry in self._routes:
                if actions and item["action"] not in actions:
                    continue
                state = self._ledger.state(sink.name, key)
                if state.status == DELIVERED:
                    report.skipped[sink.name] += 1
                elif state.status == DEAD_LETTER:
                    report.dead_letters[sink.name] += 1
                elif sink.name in paused:
                    report.retrying[sink.name] += 1
                else:
                    outcome = self._attempt(sink, retry, item, state, report)
                    if outcome == DELIVERED:
                        report.delivered[sink.name] += 1
                    elif outcome == DEAD_LETTER:
                        report.dead_lettered[sink.name] += 1
                        report.dead_letters[sink.name] += 1
                    else:
                        report.retrying[sink.name] += 1
                        paused.add(sink.name)  # keeps the order per sink: later records wait for the next run
        return report

    def _attempt(self, sink: Sink, retry: RetryPolicy, item: dict[str, Any], state: SinkState,
                 report: DeliveryReport) -> str:
        key = item["idempotency_key"]
        for attempt in range(1, retry.attempts_per_run + 1):
            report.attempts[sink.name] += 1
            try:
                sink.deliver(item)
            except DeliveryError as exc:
                message = str(exc)
                report.failed.setdefault(sink.name, []).append(message)
                state = self._ledger.failed(sink.name, key, message)
                if exc.permanent or state.attempts >= retry.max_attempts:
                    why = message if exc.permanent else f"{message} (after {state.attempts} attempts)"
                    self._ledger.dead_letter(sink.name, key, why, item)
                    return DEAD_LETTER
                if attempt == retry.attempts_per_run:
                    return RETRYING
                if exc.retry_after is not None and exc.retry_after > retry.max_delay:
                    return RETRYING  # the receiver asked for a longer pause than a run waits: next run
                self._sleep(retry.delay(state.attempts, exc.retry_after, self._rng))
            else:
                self._ledger.add(sink.name, key)  # only now: a crash before this line sends the record again
                return DELIVERED
        return RETRYING

    def close(self) -> None:
        for sink, _, _ in self._routes:
            sink.close()


def executor_from_config(config: ExecutorConfig, ledger_path: str | Path, home: str | Path | None = None,
                         **options: Any) -> Executor:
    return Executor([(open_sink(s, home), s.actions, s.retry) for s in config.sinks], Ledger(ledger_path), **options)
