"""Where the executor delivers actions (动作投递目标): a JSON Lines file, a webhook, a Kafka topic.

Every delivery carries the record's idempotency key (a field, an `Idempotency-Key` header, the Kafka message key),
because delivery is at least once: a crash between a send and its entry in the delivery ledger sends the record
again, and the receiver drops what it has already seen. The file sink is such a receiver itself.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Protocol


class DeliveryError(RuntimeError):
    pass


class Sink(Protocol):
    name: str

    def deliver(self, payload: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def payload_text(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)


class FileSink:
    """Appends one JSON object per line; a key already in the file is not written again."""

    def __init__(self, name: str, path: str | Path):
        self.name = name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: set[str] = set()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._seen.add(json.loads(line)["idempotency_key"])

    def deliver(self, payload: Mapping[str, Any]) -> None:
        key = payload["idempotency_key"]
        if key in self._seen:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(payload_text(payload) + "\n")
            handle.flush()
        self._seen.add(key)

    def close(self) -> None:
        pass


class WebhookSink:
    """POSTs the record as JSON; any answer but 2xx, or no answer in `timeout` seconds, is a failed delivery."""

    def __init__(self, name: str, url: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None):
        self.name = name
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def deliver(self, payload: Mapping[str, Any]) -> None:
        request = urllib.request.Request(self.url, data=payload_text(payload).encode("utf-8"), method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": str(payload["idempotency_key"]),
            **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"{self.url} answered {response.status}")
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"{self.url} answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise DeliveryError(f"{self.url}: {exc}") from None

    def close(self) -> None:
        pass


class KafkaSink:
    """Produces to a topic with the idempotency key as message key (and so as partition key); waits for acks."""

    def __init__(self, name: str, bootstrap: str, topic: str):
        from kafka import KafkaProducer

        self.name = name
        self.topic = topic
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5, linger_ms=5)

    def deliver(self, payload: Mapping[str, Any]) -> None:
        future = self._producer.send(self.topic, key=str(payload["idempotency_key"]).encode(),
                                     value=payload_text(payload).encode("utf-8"))
        try:
            future.get(timeout=30)
        except Exception as exc:  # kafka-python raises its own KafkaError family and timeouts
            raise DeliveryError(f"kafka {self.topic}: {exc}") from None

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
