"""The tansu fetch stall (docs/benchmarks.md, Streaming, lag): a busy tansu answers a 10 ms fetch empty although its
high watermark is ahead of the consumer's position, on every fetch, so a consumer asking with 10 ms never gets a
message (seen live in the full-day lag run: fresh consumers at the router's position got nothing with 10 ms and 500
records in 0.2 s with 500 ms). That broker state is not reproducible on demand, so this stand-in consumer answers as
the stalled broker did; `_polls` must ask with the longer wait while behind, and go back to 10 ms once records come."""
from types import SimpleNamespace

from kafka import TopicPartition

from safecity.rules import streaming


class StalledBroker:
    """A consumer on a broker that returns records only to fetches allowed at least `needs_ms` of wait."""

    def __init__(self, records: int, needs_ms: int = 100):
        self._fetcher = SimpleNamespace(config={"fetch_max_wait_ms": streaming.FETCH_WAIT_MS})
        self.tp = TopicPartition("raw", 0)
        self.left, self.needs_ms, self.position_at = records, needs_ms, 0
        self.waits: list[int] = []

    def assignment(self):
        return {self.tp}

    def highwater(self, tp):
        return self.position_at + self.left

    def position(self, tp):
        return self.position_at

    def poll(self, timeout_ms):
        wait = self._fetcher.config["fetch_max_wait_ms"]
        self.waits.append(wait)
        if not self.left or wait < self.needs_ms:
            return {}
        self.left -= 1
        self.position_at += 1
        return {self.tp: ["record"]}


def test_a_consumer_behind_an_empty_answering_broker_asks_with_the_longer_wait():
    consumer = StalledBroker(records=3)
    polls = list(streaming._polls(consumer, idle_seconds=0.5, poll_ms=1))
    assert len(polls) == 3  # every record came through; with 10 ms fetches alone none would
    assert consumer.waits[0] == streaming.FETCH_WAIT_MS < consumer.needs_ms <= streaming.FETCH_WAIT_BEHIND_MS
    # After the last record the consumer is caught up: it asks with the short wait again (latency while idle).
    assert consumer.waits[-1] == streaming.FETCH_WAIT_MS


def test_a_caught_up_consumer_keeps_the_short_wait():
    consumer = StalledBroker(records=0)
    assert list(streaming._polls(consumer, idle_seconds=0.2, poll_ms=1)) == []
    assert set(consumer.waits) == {streaming.FETCH_WAIT_MS}
