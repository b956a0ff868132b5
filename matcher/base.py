"""What every matcher offers the registry: fingerprint content, keep an index of works, search it."""

from typing import Any, Protocol, runtime_checkable

import msgspec

from registry.content import Content
from registry.evidence import Evidence
from registry.models import WorkKind


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """A verified match: the work, one confidence in [0, 1], and the evidence behind it."""

    work_id: str
    score: float
    evidence: Evidence


class OriginalSource(Protocol):
    """Where a matcher reads the stored original of a work, to verify a candidate against it."""

    def original(self, work_id: str) -> bytes: ...


class MemoryOriginals:
    """An `OriginalSource` over a dict, for calibration scripts, benchmarks and tests."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def original(self, work_id: str) -> bytes:
        return self.data[work_id]


class Matcher(Protocol):
    """One matcher per kind of content. `fingerprint` validates; `add` never fails on valid input."""

    kind: WorkKind

    @property
    def version(self) -> str: ...

    def fingerprint(self, content: Content) -> Any: ...

    def add(self, work_id: str, fingerprint: Any) -> None: ...

    def remove(self, work_id: str) -> None: ...

    def search(self, content: Content) -> list[Match]: ...

    def work_ids(self) -> set[str]: ...

    def has(self, work_id: str) -> bool: ...

    def save(self) -> None: ...

    def clear(self) -> None: ...


@runtime_checkable
class PdqLookup(Protocol):
    """A matcher that answers for PDQ hashes alone (bulk lookups by trainers who hash their own data)."""

    def lookup_pdq(self, hashes: list[bytes]) -> list[list[tuple[str, float]]]:
        """For each 32-byte PDQ hash: (work id, confidence) of the works it matches, best first."""
        ...


@runtime_checkable
class BankFingerprints(Protocol):
    """A matcher that can hand out its works' fingerprints for an offline opt-out bank."""

    def bank_fingerprints(self, work_ids: list[str]) -> dict[str, dict[str, object]]: ...
