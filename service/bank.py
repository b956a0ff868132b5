"""The offline opt-out bank: every reserved work's fingerprints, signed, for filtering data where it lies.

Hasher-Matcher-Actioner shares hash banks as files so that matching runs where the data is; Spawning's
Do-Not-Train registry answers lookups by URL. This bank gives a trainer both, for one purpose: each active
work whose use for the purpose is not `allowed` (a reservation, or a constraint that CAWG counts as one),
with its SHA-256, its locations, its PDQ hash (images) or its MinHash signatures as the text index keeps
them (texts), and its use for every purpose. It is NDJSON:

    {"bank": "provenance-opt-out-bank", "version": 1, "purpose": ..., "cursor": N, "since": M|null, ...}
    {"work_id": ..., "kind": ..., "sha256": ..., "uses": {...}, "locations": [...], "pdq": ..., ...}
    {"work_id": ..., "removed": true}                 (only in an update: `since` given)
    {"signature": "<base64 Ed25519>", "key_id": ..., "sha256": "<hex of every byte above>"}

`cursor` is the audit sequence number the bank is current to; `?since=<cursor>` gives the works changed
after it (enrolled, withdrawn, terms or locations changed): their entries as they are now, or `removed`.
The last line signs "provenance-opt-out-bank/1\\n" + the SHA-256 of every byte before it with the
registry's Ed25519 key (the key of its transparency log), so a filter refuses a bank that was altered,
truncated or extended.
"""

import base64
import hashlib
from collections.abc import Iterable, Iterator

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher.base import BankFingerprints
from matcher.image.hashes import PDQ_LOW_QUALITY_MAX_DISTANCE, PDQ_MAX_DISTANCE, PDQ_MIN_QUALITY
from matcher.text.index import TextIndexParams
from registry.errors import InvalidInput
from registry.ids import utcnow
from registry.models import Work, WorkStatus
from registry.store import WORK_ACTIONS, Store
from registry.terms import PURPOSES, TDM_KEYS
from service.indexes import IndexKeeper
from service.lookups import use_for

BANK = "provenance-opt-out-bank"
VERSION = 1
CONTEXT = f"{BANK}/{VERSION}\n".encode()
_enc = msgspec.json.Encoder(order="sorted")


def uses(work: Work) -> dict[str, str]:
    return {p: use_for(work.opt_outs, p) for p in TDM_KEYS} | {"release": work.opt_outs.release_use}


def reserved(work: Work, purpose: str) -> bool:
    return work.status == WorkStatus.ACTIVE and uses(work)[purpose] != "allowed"


def _header(purpose: str, cursor: int, since: int | None, key_id: str) -> dict[str, object]:
    p = TextIndexParams()
    return {"bank": BANK, "version": VERSION, "purpose": purpose, "cursor": cursor, "since": since,
            "generated_at": utcnow().isoformat(), "key_id": key_id,
            "pdq": {"max_distance": PDQ_MAX_DISTANCE, "min_quality": PDQ_MIN_QUALITY,
                    "low_quality_max_distance": PDQ_LOW_QUALITY_MAX_DISTANCE},
            "text": {"shingle": p.shingle, "num_perm": p.num_perm, "window": p.window, "seed": p.seed,
                     "window_threshold": p.lsh_threshold, "values": "low 16 bits, little-endian"}}


def build(store: Store, indexes: IndexKeeper, key: Ed25519PrivateKey, key_id: str, purpose: str,
          since: int | None = None, batch: int = 500) -> Iterator[bytes]:
    """The bank's lines (each ending in a newline), the signature last."""
    if purpose not in TDM_KEYS:
        raise InvalidInput(f"unknown purpose {purpose!r} for a bank; use one of {', '.join(TDM_KEYS)}")
    cursor = store.last_seq()
    if since is not None and not 0 <= since <= cursor:
        raise InvalidInput(f"since={since} is not a cursor of this registry (0 to {cursor}); download the whole "
                           "bank again")
    digest = hashlib.sha256()

    def line(obj: object) -> bytes:
        data = _enc.encode(obj) + b"\n"
        digest.update(data)
        return data

    yield line(_header(purpose, cursor, since, key_id))
    for works, missing in _batches(store, since, cursor, batch):
        fingerprints: dict[str, dict[str, object]] = {}
        for kind in {w.kind for w in works}:
            matcher = indexes.matchers.get(kind)
            if isinstance(matcher, BankFingerprints):
                fingerprints |= matcher.bank_fingerprints([w.id for w in works if w.kind == kind])
        for work in works:
            if reserved(work, purpose):
                yield line({"work_id": work.id, "kind": work.kind.value, "sha256": work.sha256, "uses": uses(work),
                            "locations": list(work.locations), **fingerprints.get(work.id, {})})
            elif since is not None:
                yield line({"work_id": work.id, "removed": True})
        for work_id in missing if since is not None else ():
            yield line({"work_id": work_id, "removed": True})
    signed = key.sign(CONTEXT + digest.digest())
    yield _enc.encode({"signature": base64.b64encode(signed).decode(), "key_id": key_id,
                       "sha256": digest.hexdigest()}) + b"\n"


def _batches(store: Store, since: int | None, cursor: int, batch: int) -> Iterator[tuple[list[Work], list[str]]]:
    """The works to write, in batches: every active one, or those changed in (since, cursor] (with the ids
    of changed works that no longer exist)."""
    if since is None:
        chunk: list[Work] = []
        for work in store.iter_active_works():
            chunk.append(work)
            if len(chunk) == batch:
                yield chunk, []
                chunk = []
        if chunk:
            yield chunk, []
        return
    changed: dict[str, None] = {}
    after = since
    while after < cursor:
        rows = store.work_changes(after, 5000, actions=WORK_ACTIONS)
        rows = [r for r in rows if r[0] <= cursor]
        if not rows:
            break
        changed.update((subject, None) for _, _, subject in rows)
        after = rows[-1][0]
    ids = list(changed)
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch]
        found = store.get_works(part)
        yield [found[w] for w in part if w in found], [w for w in part if w not in found]


def sign_file(key: Ed25519PrivateKey, body: bytes) -> str:
    """A detached signature of a whole file (the HMA form of the bank)."""
    return base64.b64encode(key.sign(CONTEXT + hashlib.sha256(body).digest())).decode()


class BankError(ValueError):
    """The bank cannot be trusted: say why."""


def verify(lines: Iterable[bytes], public: Ed25519PublicKey) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Check a bank's signature and shape; its header and entries. Raises BankError when it was altered,
    truncated, extended or signed by another key."""
    digest = hashlib.sha256()
    entries: list[dict[str, object]] = []
    header: dict[str, object] | None = None
    signature: dict[str, object] | None = None
    for raw in lines:
        if not raw.strip():
            continue
        if signature is not None:
            raise BankError("the bank goes on after its signature line: it was extended or concatenated")
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise BankError(f"a line of the bank is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise BankError("a line of the bank is not a JSON object")
        if "signature" in obj:
            signature = obj
            continue
        digest.update(raw if raw.endswith(b"\n") else raw + b"\n")
        if header is None:
            if obj.get("bank") != BANK or obj.get("version") != VERSION:
                raise BankError(f"this is not a {BANK} version {VERSION} file")
            header = obj
        else:
            entries.append(obj)
    if header is None or signature is None:
        raise BankError("the bank has no header or no signature line: it was truncated")
    try:
        public.verify(base64.b64decode(str(signature["signature"])), CONTEXT + digest.digest())
    except (InvalidSignature, ValueError):
        raise BankError("the bank's signature does not verify with this key: it was altered, or signed by "
                        "another registry") from None
    if header.get("purpose") not in PURPOSES:
        raise BankError("the bank names no known purpose")
    return header, entries
