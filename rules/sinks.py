"""Where the executor delivers actions (动作投递目标): a JSON Lines file, a webhook, a Kafka topic.

Every delivery carries the record's idempotency key (a field, an `Idempotency-Key` header, the Kafka message key),
because delivery is at least once: a crash between a send and its entry in the delivery ledger sends the record
again, and the receiver drops what it has already seen. The file sink is such a receiver itself.

Webhooks are signed the way Stripe and Svix sign theirs: HMAC-SHA256 over `timestamp.body` with a secret shared
with the receiver, sent as `X-SafeCity-Signature: t=<unix seconds>,v1=<hex>`. The timestamp inside the signed text
lets a receiver refuse old requests (replays); `verify_signature` is the receiver's side, in a few lines it can copy.
A failure says whether it is worth trying again (`DeliveryError.permanent`) and how long the receiver asked to wait
(`retry_after`, from an HTTP 429/503 `Retry-After`).
"""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Protocol

SIGNATURE_HEADER = "X-SafeCity-Signature"
TIMESTAMP_TOLERANCE = 300.0  # seconds a receiver accepts a signature's timestamp away from its clock

# 408 (request timeout) and 429 (too many requests) are the receiver saying "later"; any other 4xx says the request
# itself is wrong, and sending it again cannot help.
RETRYABLE_4XX = {408, 429}


class DeliveryError(RuntimeError):
    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Sink(Protocol):
    name: str

    def deliver(self, payload: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def payload_text(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes,
                     tolerance: float = TIMESTAMP_TOLERANCE, now: float | None = None) -> bool:
    """True when `headers` carry a valid SafeCity signature of `body` made with `secret` no more than `tolerance`
    seconds from `now`. Any v1 value may match (a sender rotating secrets sends one per secret); the comparison
    takes the same time whatever the value, so the signature cannot be guessed byte by byte."""
    value = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    if not value:
        return False
    parts = [p.strip().partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    macs = [v for k, _, v in parts if k == "v1"]
    if len(stamps) != 1 or not macs or not stamps[0].isdigit():
        return False
    stamp = int(stamps[0])
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """An HTTP Retry-After value (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


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
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(payload_text(payload) + "\n")
                handle.flush()
        except OSError as exc:
            raise DeliveryError(f"{self.path}: {exc}") from None
        self._seen.add(key)

    def close(self) -> None:
        pass


class WebhookSink:
    """POSTs the record as JSON, signed when a secret is given. 2xx is delivered; 408, 429, 5xx, no connection or
    no answer within `timeout` seconds are worth another attempt; any other answer is a permanent failure."""

    def __init__(self, name: str, url: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None,
                 secret: str | None = None):
        self.name = name
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.secret = secret

    def deliver(self, payload: Mapping[str, Any]) -> None:
        body = payload_text(payload).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": str(payload["idempotency_key"]), **self.headers}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if not 200 <= response.status < 300:  # (a 1xx/3xx urllib did not follow)
                    raise DeliveryError(f"{self.url} answered {response.status}", permanent=True)
        except urllib.error.HTTPError as exc:
            code = exc.code
            raise DeliveryError(f"{self.url} answered {code}", permanent=400 <= code < 500 and code not in RETRYABLE_4XX,
                                retry_after=retry_after_seconds(exc.headers.get("Retry-After"))
                                if code in (429, 503) else None) from None
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{self.url}: {type(reason).__name__}: {reason}") from None

    def close(self) -> None:
        pass


class KafkaSink:
    """Produces to a topic with the idempotency key as message key (and so as partition key); waits for acks.
    The producer connects on the first delivery, so a broker that is down is a failed attempt (retried, counted,
    in the end dead-lettered) rather than a run that cannot start."""

    def __init__(self, name: str, bootstrap: str, topic: str, timeout: float = 30.0):
        self.name = name
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout
        self._producer = None

    def _connected(self):
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", retries=5, linger_ms=5,
                                           max_block_ms=int(self.timeout * 1000),
                                           bootstrap_timeout_ms=int(self.timeout * 1000))
        return self._producer

    def deliver(self, payload: Mapping[str, Any]) -> None:
        try:
            future = self._connected().send(self.topic, key=str(payload["idempotency_key"]).encode(),
                                            value=payload_text(payload).encode("utf-8"))
            future.get(timeout=self.timeout)
        except Exception as exc:  # kafka-python raises its own KafkaError family (NoBrokersAvailable…) and timeouts
            raise DeliveryError(f"kafka {self.bootstrap} {self.topic}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
