"""The one clock that dispute deadlines run on: the system's, or a settable one for tests and drills."""

import threading
from datetime import datetime, timedelta
from typing import Protocol

from registry.ids import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class SettableClock:
    """The system's time moved by an offset that only grows: `advance(days=30)` makes thirty days pass."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return utcnow() + self._offset

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        step = delta if delta is not None else timedelta(**units)
        if step < timedelta(0):
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._offset += step
        return self.now()
