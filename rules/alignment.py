"""Event-time alignment of the router's input partitions (时间对齐): the router hands on events in event-time order
across the raw topic partitions it reads, as Kafka Streams' timestamp synchronisation does for a task's inputs.

Why: a keyed partition's engine judges lateness against the latest event time it has seen (lateness.py). A router
catching up on a backlog (after a restart, or on a loaded machine) fetches up to 500 records of ONE raw partition
at a time; handed on in fetch order, one partition's hour would reach the keyed partitions before another
partition's earlier minutes, and serve would drop those minutes as too late although nothing was late at its
source (measured: 93 of 1,847 events at 720x, router 949 behind, CI of stop 31). Each raw partition is in
event-time order (its producer's); merging their heads keeps the keyed partitions in that order too.

The rule: buffer each partition's records; release the head with the earliest event time while every partition
that could still hold an earlier one has a record buffered. A partition with nothing buffered holds the others back
only while the broker reports more of it (its high watermark past the consumer's position, or not known yet), and
at most `max_wait` seconds: a broker that answers empty fetches, or a partition that is slow to come, delays
events by that much and never stops them. A live stream (every partition caught up) is released at once.
Records without an event time (undecodable, or a type without a time field) cannot be late and go at once.
"""
from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generic, Hashable, Iterable, TypeVar

Item = TypeVar("Item")
Partition = Hashable

MAX_WAIT_S = 1.0  # how long a partition the broker says holds more may hold the others back
PAUSE_AT = 5_000  # records buffered for one partition before the router stops fetching it (memory bound)


@dataclass
class _Buffered(Generic[Item]):
    seconds: float | None  # event time (epoch s); None: cannot be late
    offset: int
    item: Item


class EventTimeMerge(Generic[Item]):
    """Per-partition buffers released in event-time order (see the module's rule)."""

    def __init__(self, max_wait: float = MAX_WAIT_S, clock: Callable[[], float] = time.monotonic):
        self.max_wait = max_wait
        self._clock = clock
        self._buffers: dict[Partition, deque[_Buffered[Item]]] = {}
        self._blocked_since: dict[Partition, float] = {}
        self.waited = 0  # releases that found a lagging partition and waited for it

    def add(self, partition: Partition, offset: int, seconds: float | None, item: Item) -> None:
        self._buffers.setdefault(partition, deque()).append(_Buffered(seconds, offset, item))

    def buffered(self, partition: Partition) -> int:
        return len(self._buffers.get(partition, ()))

    def __len__(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def first_offsets(self) -> dict[Partition, int]:
        """The offset of each partition's first record not yet released: what a commit may cover, exclusive."""
        return {p: b[0].offset for p, b in self._buffers.items() if b}

    def forget(self, keep: Iterable[Partition]) -> None:
        """Drop the buffers of partitions no longer assigned: their next owner reads them from the commit."""
        kept = set(keep)
        for partition in [p for p in self._buffers if p not in kept]:
            del self._buffers[partition]
            self._blocked_since.pop(partition, None)

    def release(self, partitions: Iterable[Partition], more_at_broker: Callable[[Partition], bool],
                everything: bool = False) -> list[Item]:
        """The records that may go now, in event-time order. `partitions` are those assigned; `more_at_broker(p)`
        says whether the broker may hold records of p not fetched yet. `everything`: release all (the router stops)."""
        assigned = list(partitions)
        out: list[Item] = []
        for buffer in self._buffers.values():  # no time: nothing to order by, nothing can be late
            while buffer and buffer[0].seconds is None:
                out.append(buffer.popleft().item)
        heads = [(b[0].seconds, n, p) for n, (p, b) in enumerate(self._buffers.items()) if b]
        heapq.heapify(heads)
        order = itertools.count(len(self._buffers))
        # Whether a partition holds the others changes only when some buffer runs empty: it is asked then (and
        # before the first record), not for every record released (each asks the consumer about its partitions).
        def holding() -> bool:
            return bool(heads) and not everything and self._holding(assigned, more_at_broker)

        held = holding()
        while heads and not held:
            _, _, partition = heapq.heappop(heads)
            buffer = self._buffers[partition]
            out.append(buffer.popleft().item)
            while buffer and buffer[0].seconds is None:
                out.append(buffer.popleft().item)
            if buffer:
                heapq.heappush(heads, (buffer[0].seconds, next(order), partition))
            else:
                held = holding()
        self.waited += held
        return out

    def _holding(self, assigned: list[Partition], more_at_broker: Callable[[Partition], bool]) -> bool:
        """True while some assigned partition with nothing buffered may still bring an earlier record."""
        now = self._clock()
        holding = False
        for partition in assigned:
            if self._buffers.get(partition) or not more_at_broker(partition):
                self._blocked_since.pop(partition, None)
                continue
            since = self._blocked_since.setdefault(partition, now)
            if now - since < self.max_wait:
                holding = True
        return holding
