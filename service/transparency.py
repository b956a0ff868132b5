"""The audit log as a transparency log: a Merkle tree over the audit entries with signed tree heads.

As in Certificate Transparency (RFC 9162) and Go's checksum database: the registry signs heads (size, root,
time) with an Ed25519 key made once per registry, keeps every head it signed, and never signs a head that
does not extend the last one (a store that lost or changed entries is reported instead). Anyone holding an
old head and the public key can ask for a consistency proof to the current head and check, with nothing
else, that the log only grew (`verify_growth`); an inclusion proof shows that one entry is in a head.
"""

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry import merkle
from registry.audit import leaf_data
from registry.errors import IntegrityError, InvalidInput
from registry.models import SignedTreeHead
from registry.store import Store

log = logging.getLogger("provenance.transparency")


class LogStatus(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    size: int
    last_signed: SignedTreeHead | None
    problem: str | None = None


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the log's public key must be an Ed25519 key (PEM)")
    return key


def signing_key(configured: str | None, path: Path) -> Ed25519PrivateKey:
    """The log's signing key: `configured` (PEM), else `path`, made once (mode 0600) and linked into place
    whole, so that replicas starting together share one key."""
    if configured:
        key = serialization.load_pem_private_key(configured.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("PROVENANCE_LOG_SIGNING_KEY must be an Ed25519 private key in PEM")
        return key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # fails if another process made it first: then theirs is the key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def head_signature_ok(head: SignedTreeHead, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(head.signature), head.signed_message())
    except (InvalidSignature, ValueError):
        return False
    return head.key_id == key_id(public)


def verify_growth(saved: SignedTreeHead, current: SignedTreeHead, proof: list[str],
                  public: Ed25519PublicKey) -> str | None:
    """None when `current` (signed by `public`) extends `saved`, else what is wrong, in words."""
    if not head_signature_ok(saved, public):
        return "the saved head's signature does not verify with this key"
    if not head_signature_ok(current, public):
        return "the server's current head is not signed by this key"
    if current.size < saved.size:
        return (f"the log shrank: the server's head has {current.size} entries, the saved head {saved.size}; "
                f"entries {current.size + 1} to {saved.size} were removed")
    try:
        nodes = [bytes.fromhex(p) for p in proof]
        first, second = bytes.fromhex(saved.root), bytes.fromhex(current.root)
    except ValueError:
        return "the server's proof is not hex"
    if not merkle.verify_consistency(saved.size, current.size, first, second, nodes):
        return (f"the log does not extend the saved head: one or more of its first {saved.size} entries were "
                "changed, reordered or removed since the saved head was signed")
    return None


class TransparencyLog:
    """Leaf hashes of the audit entries (kept in memory, extended as entries are appended), heads, proofs."""

    def __init__(self, store: Store, key: Ed25519PrivateKey, heads_dir: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.key, self.heads_dir, self.clock = store, key, heads_dir, clock
        self.public = key.public_key()
        self.key_id = key_id(self.public)
        self._leaves: list[bytes] = []
        self._lock = threading.Lock()

    def _refresh(self, whole: bool = False) -> list[bytes]:
        """The leaf hashes of every entry; `whole` re-reads them all (to catch a changed old entry)."""
        with self._lock:
            if whole or self.store.last_seq() < len(self._leaves):  # entries vanished: read them all again
                self._leaves = []
            while batch := self.store.audit_entries(len(self._leaves), 5000):
                if batch[0].seq != len(self._leaves) + 1:
                    raise IntegrityError(f"audit entry {len(self._leaves) + 1} is missing from the store")
                self._leaves.extend(merkle.leaf_hash(leaf_data(e)) for e in batch)
            return list(self._leaves)

    def _sign(self, size: int, root: bytes) -> SignedTreeHead:
        unsigned = SignedTreeHead(size=size, root=root.hex(), timestamp=int(self.clock() * 1000), key_id=self.key_id,
                                  signature="")
        signature = base64.b64encode(self.key.sign(unsigned.signed_message())).decode()
        return msgspec.structs.replace(unsigned, signature=signature)

    def status(self, whole: bool = True) -> LogStatus:
        """Whether the log still extends the last head this registry signed (at start-up, on the auditor page)."""
        try:
            leaves = self._refresh(whole=whole)
        except IntegrityError as exc:
            return LogStatus(ok=False, size=0, last_signed=None, problem=exc.message)
        heads = self.store.tree_heads(1)
        last = heads[0] if heads else None
        problem = self._problem(last, leaves)
        return LogStatus(ok=problem is None, size=len(leaves), last_signed=last, problem=problem)

    def _problem(self, last: SignedTreeHead | None, leaves: list[bytes]) -> str | None:
        if last is None:
            return None
        if last.size > len(leaves):
            return (f"the store holds {len(leaves)} audit entries but this registry signed a head of {last.size}: "
                    "entries were removed")
        if merkle.root(leaves[: last.size]).hex() != last.root:
            return (f"the first {last.size} audit entries no longer hash to the head signed at "
                    f"{last.timestamp} ms: entries were changed or reordered")
        return None

    def head(self, whole: bool = False) -> SignedTreeHead:
        """A signed head of the log as it is now (a new one when it grew since the last signed head)."""
        leaves = self._refresh(whole=whole)
        heads = self.store.tree_heads(1)
        last = heads[0] if heads else None
        problem = self._problem(last, leaves)
        if problem is not None:
            log.error("refusing to sign a new tree head: %s", problem)
            raise IntegrityError(f"the registry refuses to sign a head: {problem}")
        if last is not None and last.size == len(leaves):
            return last
        head = self._sign(len(leaves), merkle.root(leaves))
        self.store.add_tree_head(head)
        return head

    def publish(self) -> SignedTreeHead:
        """Sign a head after re-reading every entry and append it to `heads_dir/heads.jsonl` (for witnesses)."""
        head = self.head(whole=True)
        if self.heads_dir is not None:
            self.heads_dir.mkdir(parents=True, exist_ok=True)
            line = msgspec.json.encode(head) + b"\n"
            with (self.heads_dir / "heads.jsonl").open("ab") as f:
                f.write(line)
            tmp = self.heads_dir / f".latest.{os.getpid()}.json"
            tmp.write_bytes(line)
            os.replace(tmp, self.heads_dir / "latest.json")
        return head

    def inclusion(self, seq: int, tree_size: int) -> list[str]:
        leaves = self._refresh()
        if not 1 <= tree_size <= len(leaves):
            raise InvalidInput(f"tree_size must be between 1 and {len(leaves)}, the log's size")
        if not 1 <= seq <= tree_size:
            raise InvalidInput(f"seq must be between 1 and tree_size ({tree_size})")
        return [h.hex() for h in merkle.inclusion_proof(seq - 1, leaves[:tree_size])]

    def consistency(self, first: int, second: int) -> list[str]:
        leaves = self._refresh()
        if not 1 <= second <= len(leaves):
            raise InvalidInput(f"second must be between 1 and {len(leaves)}, the log's size")
        if not 1 <= first <= second:
            raise InvalidInput(f"first must be between 1 and second ({second})")
        return [h.hex() for h in merkle.consistency_proof(first, leaves[:second])]

    def leaf_hash(self, seq: int) -> str:
        leaves = self._refresh()
        if not 1 <= seq <= len(leaves):
            raise InvalidInput(f"seq must be between 1 and {len(leaves)}")
        return leaves[seq - 1].hex()
