"""The audit chain's status for the auditors' pages, without recomputing the whole chain on every visit.

The whole chain is recomputed at least every `full_every` seconds (and whenever an auditor asks); in between,
each visit checks only the entries appended since, as a continuation of the last verified head. So a change
to an old entry shows within `full_every` seconds, and a page costs O(new entries) instead of O(all).
"""

import threading
import time
from datetime import UTC, datetime

import msgspec

from registry.audit import ChainReport, verify_chain
from registry.store import Store


class ChainStatus(msgspec.Struct, frozen=True, kw_only=True):
    report: ChainReport
    full_at: datetime  # when the whole chain was last recomputed


class ChainMonitor:
    def __init__(self, full_every: float = 300.0) -> None:
        self.full_every = full_every
        self._lock = threading.Lock()
        self._report: ChainReport | None = None
        self._full_at = 0.0

    def status(self, store: Store, *, full: bool = False, full_every: float | None = None) -> ChainStatus:
        with self._lock:
            stale = time.time() - self._full_at > (self.full_every if full_every is None else full_every)
            if full or stale or self._report is None or not self._report.ok:
                self._report, self._full_at = store.verify_audit(), time.time()
            else:
                self._report = verify_chain(store.audit_entries(self._report.entries), start=self._report)
            return ChainStatus(report=self._report, full_at=datetime.fromtimestamp(self._full_at, UTC))
