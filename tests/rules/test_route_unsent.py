"""The router commits a poll's input offsets only when every event it re-published was acknowledged: kafka-python's
flush() returns after failed sends too, so a failure seen only in a send's future would otherwise be committed as
done and the event lost. Real kafka-python futures, resolved as the producer's sender resolves them."""
import pytest
from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from kafka.producer.future import FutureProduceResult, FutureRecordMetadata
from kafka.structs import TopicPartition

from safecity.rules.streaming import RouteError, _raise_unsent


def sent(outcome):
    batch = FutureProduceResult(TopicPartition("safecity.events.by.junction_id", 0))
    future = FutureRecordMetadata(batch, 0, 1_700_000_000_000, None, 3, 40, 0)
    if isinstance(outcome, Exception):
        batch.failure(outcome)
    elif outcome is not None:
        batch.success((outcome, 1_700_000_000_000, None))  # (base offset, log append time, log start offset)
    return future


def test_all_acknowledged_lets_the_poll_commit():
    _raise_unsent([sent(10), sent(11), sent(12)])


@pytest.mark.parametrize("outcome, says", [(NotLeaderForPartitionError(), "NotLeaderForPartition"),
                                           (KafkaTimeoutError("batch expired"), "batch expired"),
                                           (None, "not acknowledged")])
def test_one_unacknowledged_event_stops_the_router_before_its_commit(outcome, says):
    with pytest.raises(RouteError, match=f"1 of 3 re-published events were not acknowledged.*{says}"):
        _raise_unsent([sent(10), sent(outcome), sent(12)])
