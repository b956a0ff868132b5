"""Request limits: a rate per API key, and a throttle on failed sign-ins and bad keys per client address.

Both count in fixed windows, in this process's memory or, when `PROVENANCE_RATE_LIMIT_REDIS` is set, in
Redis, so that every replica shares one count (a key spread over N replicas gets the rate once, not N times).
Over the limit is a 429 with `Retry-After`.
"""

import threading
import time
from typing import Protocol

from litestar.exceptions import TooManyRequestsException


class Counter(Protocol):
    def add(self, name: str, window: int, amount: int = 1) -> tuple[int, int]:
        """Add `amount` to `name`'s count in the current window of `window` seconds; (count, seconds left)."""
        ...


class MemoryCounter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def add(self, name: str, window: int, amount: int = 1) -> tuple[int, int]:
        now = time.time()
        slot = int(now // window)
        with self._lock:
            if len(self._counts) > 100_000:  # forget past windows
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= slot}
            count = self._counts.get((name, slot), 0) + amount
            self._counts[(name, slot)] = count
        return count, int((slot + 1) * window - now) + 1


class RedisCounter:
    def __init__(self, url: str, prefix: str = "provenance:limits") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach Redis at {url} for the rate limits: {exc}") from None

    def add(self, name: str, window: int, amount: int = 1) -> tuple[int, int]:
        now = time.time()
        slot = int(now // window)
        key = f"{self._prefix}:{name}:{window}:{slot}"
        pipe = self._redis.pipeline()
        pipe.incrby(key, amount)
        pipe.expire(key, window * 2)
        count, _ = pipe.execute()
        return int(count), int((slot + 1) * window - now) + 1


def open_counter(redis_url: str | None) -> Counter:
    return RedisCounter(redis_url) if redis_url else MemoryCounter()


class RateLimiter:
    """`per_minute` requests a minute for each API key (web sessions count against their key); 0: no limit."""

    def __init__(self, per_minute: int, counter: Counter) -> None:
        self.per_minute, self.counter = per_minute, counter

    def hit(self, key_id: str) -> None:
        if self.per_minute <= 0:
            return
        count, wait = self.counter.add(f"key:{key_id}", 60)
        if count > self.per_minute:
            raise TooManyRequestsException(
                detail=f"over {self.per_minute} requests a minute for this key; retry in {wait} s",
                headers={"Retry-After": str(wait)})


class PublicLimiter:
    """`per_minute` request units a minute for each client address on the endpoints that need no key (public
    declarations, soft-binding resolution); a request that matches content costs `MATCH_COST` units. 0: no
    limit. A keyless client cannot be told apart from others behind its address, so this is deliberately
    generous; operators with a key are limited by their key instead."""

    MATCH_COST = 10

    def __init__(self, per_minute: int, counter: Counter) -> None:
        self.per_minute, self.counter = per_minute, counter

    def hit(self, address: str, cost: int = 1) -> None:
        if self.per_minute <= 0:
            return
        count, wait = self.counter.add(f"public:{address}", 60, cost)
        if count > self.per_minute:
            raise TooManyRequestsException(
                detail=f"over {self.per_minute} requests a minute from your address without an API key (matching "
                       f"content counts {self.MATCH_COST}); retry in {wait} s, or send an API key",
                headers={"Retry-After": str(wait)})


class FailureThrottle:
    """After `max_failures` failed sign-ins or unknown keys from one address in `window` seconds, that
    address is refused (even with a good key) until the window ends: guessing keys is not free."""

    def __init__(self, counter: Counter, max_failures: int = 20, window: int = 300) -> None:
        self.counter, self.max_failures, self.window = counter, max_failures, window

    def check(self, address: str) -> None:
        count, wait = self.counter.add(f"fail:{address}", self.window, 0)
        if self.max_failures > 0 and count >= self.max_failures:
            raise TooManyRequestsException(
                detail=f"too many failed sign-ins or unknown keys from your address; retry in {wait} s",
                headers={"Retry-After": str(wait)})

    def failed(self, address: str) -> None:
        self.counter.add(f"fail:{address}", self.window)
