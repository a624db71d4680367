"""Per-client rate limits (每客户端限流): a token bucket refilled at the client's requests_per_minute."""
from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self):
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client_id: str, per_minute: int, now: float | None = None) -> float:
        """0 when the request may go, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        rate = per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(client_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[client_id] = (tokens - 1, now)
                return 0.0
            self._buckets[client_id] = (tokens, now)
            return (1 - tokens) / rate
