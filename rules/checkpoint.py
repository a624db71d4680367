"""Checkpoints of streaming state (流式状态检查点): what one keyed topic partition's engine holds, with the offset
it covers.

`serve` keeps one engine per keyed topic partition, so a partition's state (its open charts, facts, and the events
still inside its windows) moves with the partition when a worker dies or the group rebalances. A checkpoint is the
engine's `export_state` plus the next offset to read: every event before it is in the state, none after it. The
worker that gets the partition loads the latest checkpoint into a fresh engine and seeks to that offset, so each
event goes into the state exactly once; what a crash costs is re-reading the events since the last checkpoint
(their actions are written again and the outbox drops them by idempotency key). The state holds the engine's clock
(`now`, its latest event time), so the new holder judges late events against the same clock as the old one
(lateness.py).

The store is a folder of one JSON file per (group, topic, partition), replaced atomically (write, fsync, rename):
a killed writer leaves the previous checkpoint whole. Workers on several machines need the folder on storage they
share.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    group: str
    topic: str
    partition: int
    offset: int  # the next offset to read: events before it are in `state`
    state: dict[str, Any]  # PolicyEngine.export_state()
    worker: int  # pid of the writer (which worker held the partition)
    written_at: str

    @classmethod
    def now(cls, group: str, topic: str, partition: int, offset: int, state: dict[str, Any]) -> "Checkpoint":
        return cls(group, topic, partition, offset, state, os.getpid(),
                   dt.datetime.now(dt.timezone.utc).isoformat())


class CheckpointError(RuntimeError):
    pass


class DirectoryCheckpoints:
    """The latest checkpoint of each partition, one file each in `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, group: str, topic: str, partition: int) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{group}__{topic}__{partition}")
        return self.root / f"{safe}.json"

    def save(self, checkpoint: Checkpoint) -> None:
        target = self.path(checkpoint.group, checkpoint.topic, checkpoint.partition)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(checkpoint), handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)  # atomic: a reader sees the old checkpoint or the new one, never half

    def load(self, group: str, topic: str, partition: int) -> Checkpoint | None:
        path = self.path(group, topic, partition)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: 检查点无法读取 / checkpoint unreadable: {exc}") from None
        try:
            return Checkpoint(**data)
        except TypeError as exc:
            raise CheckpointError(f"{path}: 检查点字段不符 / checkpoint fields wrong: {exc}") from None

    def all(self) -> list[Checkpoint]:
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(Checkpoint(**json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue  # being replaced right now; the caller looks again
        return found
