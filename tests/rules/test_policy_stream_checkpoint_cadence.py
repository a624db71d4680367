"""serve's checkpoint cadence on a real broker: a partition that took events is checkpointed once its checkpoint is
`checkpoint_seconds` old, also when the stream has gone quiet (not only after a later batch, and not every batch),
and its offsets are committed with it."""
import time
import uuid

from safecity.rules.checkpoint import DirectoryCheckpoints
from safecity.rules.engine import EVENT_TIME
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.streaming import keyed_topic, publish_events, route, serve
from tests.rules.test_policy_stream_state import reading
from tests.rules.test_policy_streaming import committed, create_topic


class Recorded(DirectoryCheckpoints):
    def __init__(self, root):
        super().__init__(root)
        self.saves = []  # (monotonic time, topic, partition, offset)

    def save(self, checkpoint):
        self.saves.append((time.monotonic(), checkpoint.topic, checkpoint.partition, checkpoint.offset))
        super().save(checkpoint)


def test_a_quiet_partition_is_checkpointed_once_its_checkpoint_is_due(kafka_bootstrap, tmp_path):
    raw, group = f"safecity.events.cadence_{uuid.uuid4().hex[:8]}", f"rules-cadence-{uuid.uuid4().hex[:6]}"
    create_topic(kafka_bootstrap, raw, 1)
    policies = [load_policy(POLICIES_DIR / "command" / "junction_congestion.yaml")]
    events = [reading(n, f"J{n % 6}", n) for n in range(24)]
    publish_events(kafka_bootstrap, raw, events, "junction_id")
    route(kafka_bootstrap, [raw], f"{group}-router", policies, partitions=[(raw, 0)], keyed_partitions=3,
          max_messages=len(events), idle_seconds=30)
    keyed = [(keyed_topic(raw, "junction_id"), p) for p in range(3)]
    store, batches = Recorded(tmp_path / "checkpoints"), []

    def outbox(records, offsets):
        batches.append(time.monotonic())

    stats = serve(kafka_bootstrap, [raw], group, policies, outbox, clock=EVENT_TIME, watch=False, poll_ms=20,
                  partitions=keyed, checkpoints=store, checkpoint_seconds=1.5, idle_seconds=5)
    stopped = time.monotonic()
    assert stats.messages == len(events)
    first_batch = batches[0]
    assert store.saves, "nothing was checkpointed"
    # None right after the batches (not every batch; 0.3 s for the engines' start inside the first batch) ...
    assert all(at - first_batch >= 1.2 for at, *_ in store.saves), [at - first_batch for at, *_ in store.saves]
    # ... each partition's once it was due, while serve was still polling a quiet stream (stop: 5 s idle)
    assert all(at < stopped - 2.0 for at, *_ in store.saves)
    assert sum(offset for *_, offset in {(t, p): (at, t, p, o) for at, t, p, o in store.saves}.values()) == \
        len(events)
    assert committed(kafka_bootstrap, group, keyed[0][0], 3) == len(events)  # offsets committed with them
