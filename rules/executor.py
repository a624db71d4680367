"""The executor (动作执行器): delivers outbox records to the configured sinks, at least once.

A delivery is entered in the ledger only after the sink has accepted it, so a crash in between delivers that
record again on the next run; the idempotency key makes the repeat harmless. A failing sink does not stop the
others; its records stay undelivered and are tried again next time.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from safecity.config.yamlfile import load_yaml, parse_model
from safecity.rules.actions import ACTIONS
from safecity.rules.outbox import OutboxRecord
from safecity.rules.sinks import DeliveryError, FileSink, KafkaSink, Sink, WebhookSink


class SinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["file", "webhook", "kafka"]
    path: str | None = None  # file
    url: str | None = None  # webhook
    bootstrap: str | None = None  # kafka
    topic: str | None = None  # kafka
    actions: list[str] = Field(default_factory=list)  # empty: every action


class ExecutorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sinks: list[SinkConfig] = Field(min_length=1)


def load_executor_config(path: str | Path) -> ExecutorConfig:
    config = parse_model(load_yaml(path), ExecutorConfig)
    for sink in config.sinks:
        unknown = [a for a in sink.actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"sink {sink.name}: unknown actions {unknown}")
    return config


def open_sink(config: SinkConfig) -> Sink:
    if config.type == "file" and config.path:
        return FileSink(config.name, config.path)
    if config.type == "webhook" and config.url:
        return WebhookSink(config.name, config.url)
    if config.type == "kafka" and config.bootstrap and config.topic:
        return KafkaSink(config.name, config.bootstrap, config.topic)
    raise ValueError(f"sink {config.name}: a {config.type} sink needs "
                     f"{ {'file': 'path', 'webhook': 'url', 'kafka': 'bootstrap and topic'}[config.type] }")


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


class Ledger:
    """(sink, idempotency key) pairs already delivered, in a JSON Lines file that is only ever appended to."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done: set[tuple[str, str]] = set()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._done.add((entry["sink"], entry["key"]))

    def keys(self) -> set[str]:
        """Idempotency keys that at least one sink accepted."""
        return {key for _, key in self._done}

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._done

    def add(self, sink: str, key: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"sink": sink, "key": key}) + "\n")
        self._done.add((sink, key))


@dataclass
class DeliveryReport:
    delivered: Counter = field(default_factory=Counter)  # sink -> records
    skipped: Counter = field(default_factory=Counter)  # sink -> already in the ledger
    failed: dict[str, list[str]] = field(default_factory=dict)  # sink -> messages


class Executor:
    def __init__(self, sinks: Iterable[tuple[Sink, Iterable[str]]], ledger: Ledger, attempts: int = 3):
        self._routes = [(sink, frozenset(actions)) for sink, actions in sinks]
        self._ledger = ledger
        self._attempts = attempts

    def deliver(self, records: Iterable[OutboxRecord | Mapping[str, Any]]) -> DeliveryReport:
        report = DeliveryReport()
        broken: set[str] = set()
        for record in records:
            item = payload(record)
            for sink, actions in self._routes:
                if actions and item["action"] not in actions:
                    continue
                if (sink.name, item["idempotency_key"]) in self._ledger:
                    report.skipped[sink.name] += 1
                    continue
                if sink.name in broken:
                    continue
                error = self._try(sink, item)
                if error is None:
                    self._ledger.add(sink.name, item["idempotency_key"])
                    report.delivered[sink.name] += 1
                else:
                    broken.add(sink.name)  # keeps the order per sink: later records wait for the next run
                    report.failed.setdefault(sink.name, []).append(error)
        return report

    def _try(self, sink: Sink, item: dict[str, Any]) -> str | None:
        error = None
        for _ in range(self._attempts):
            try:
                sink.deliver(item)
                return None
            except DeliveryError as exc:
                error = str(exc)
        return error

    def close(self) -> None:
        for sink, _ in self._routes:
            sink.close()


def executor_from_config(config: ExecutorConfig, ledger_path: str | Path) -> Executor:
    return Executor([(open_sink(s), s.actions) for s in config.sinks], Ledger(ledger_path))
