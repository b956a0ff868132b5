"""Per-key request rate limit: a token bucket for each API key, answered with 429 and Retry-After."""

import math
import threading
import time

from litestar.exceptions import TooManyRequestsException


class RateLimiter:
    """`per_minute` requests a minute for each key, in bursts of up to `per_minute`; 0 turns it off.
    Each replica counts its own requests (a key spread over N replicas gets up to N times the rate)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, time of last refill)
        self._lock = threading.Lock()

    def hit(self, key_id: str) -> None:
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise TooManyRequestsException(
                    detail=f"over {self.per_minute} requests a minute for this key; retry in {wait} s",
                    headers={"Retry-After": str(wait)})
            self._buckets[key_id] = (tokens - 1.0, now)
