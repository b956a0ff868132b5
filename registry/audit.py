"""The audit chain: each entry's hash covers its content and the previous entry's hash.

Editing, deleting or reordering any stored entry changes a hash that a later entry depends on, so
`verify_chain` finds the first entry where the stored chain and the recomputed one part.
"""

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from registry.models import AuditEntry

GENESIS = "0" * 64


def entry_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, details: dict[str, Any], prev_hash: str
) -> str:
    body = msgspec.json.encode(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
            "prev": prev_hash,
        },
        order="sorted",
    )
    return hashlib.sha256(body).hexdigest()


def leaf_data(e: AuditEntry) -> bytes:
    """The bytes of an entry as a leaf of the Merkle tree (its content, not its place in the hash chain)."""
    return msgspec.json.encode({"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                                "subject": e.subject, "details": e.details}, order="sorted")


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(entries: Iterable[AuditEntry], start: ChainReport | None = None) -> ChainReport:
    """Recompute the chain in order of `seq`; report the first entry that does not fit. With `start` (an ok
    report of the entries before), `entries` are the ones after it, checked as a continuation."""
    if start is not None and not start.ok:
        raise ValueError("a chain can only be continued from a verified head")
    prev = start.head if start else GENESIS
    count = start.entries if start else 0
    expected_seq = count + 1
    for e in entries:
        if e.seq != expected_seq:
            return ChainReport(ok=False, entries=count, head=prev, first_bad_seq=expected_seq,
                               problem=f"entry {expected_seq} is missing (found {e.seq} next)")
        if e.prev_hash != prev:
            return ChainReport(ok=False, entries=count, head=prev, first_bad_seq=e.seq,
                               problem=f"entry {e.seq} does not link to entry {e.seq - 1}")
        recomputed = entry_hash(e.seq, e.at, e.actor, e.action, e.subject, e.details, e.prev_hash)
        if recomputed != e.hash:
            return ChainReport(ok=False, entries=count, head=prev, first_bad_seq=e.seq,
                               problem=f"entry {e.seq} was altered after it was written")
        prev = e.hash
        expected_seq += 1
        count += 1
    return ChainReport(ok=True, entries=count, head=prev)
