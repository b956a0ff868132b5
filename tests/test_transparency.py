"""The audit log as a transparency log: signed heads and proofs over HTTP with no key, an auditor holding an
old head catches deleted, rewritten-and-rehashed and reordered entries, the registry refuses to sign a head
that does not extend its last one, and the command line proves growth against a real server."""

import base64
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from registry import merkle
from registry.audit import GENESIS, entry_hash, leaf_data
from registry.errors import IntegrityError
from registry.models import AuditEntry, Role, SignedTreeHead
from registry.sqlite_store import SQLiteStore
from service.registry import Registry
from service.transparency import (
    TransparencyLog,
    head_signature_ok,
    load_public_key,
    signing_key,
    verify_growth,
)
from service.wiring import open_registry
from tests.servers import EXE, create_key, start_server, stop_server


def _history(registry: Registry, n: int) -> None:
    for i in range(n):
        registry.create_key(f"user{i}", Role.OPERATOR if i % 2 else Role.CREATOR)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = open_registry(Settings.load(data_dir=tmp_path / "data", image_embedder="none").service, sync=False)
    _history(reg, 6)  # 12 entries: an account and a key each
    return reg


def test_heads_and_proofs_need_no_key_and_verify(registry: Registry) -> None:
    with TestClient(create_app(Settings.load(data_dir=registry.settings.data_dir), registry)) as client:
        key = client.get("/v1/audit/key").json()
        public = load_public_key(key["public_key_pem"])
        head = msgspec.convert(client.get("/v1/audit/head").json(), SignedTreeHead)
        assert head.size == 12 and head_signature_ok(head, public) and head.key_id == key["key_id"]
        forged = msgspec.structs.replace(head, size=13)
        assert not head_signature_ok(forged, public)
        entries = registry.store.audit_entries()
        for seq in (1, 7, 12):
            proof = client.get("/v1/audit/proof/inclusion", params={"seq": seq, "tree_size": 12}).json()
            leaf = merkle.leaf_hash(leaf_data(entries[seq - 1]))  # the verifier hashes the entry itself
            assert proof["leaf_hash"] == leaf.hex()
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
            assert merkle.verify_inclusion(leaf, seq - 1, 12, path, bytes.fromhex(head.root))
        _history(registry, 2)
        newer = msgspec.convert(client.get("/v1/audit/head").json(), SignedTreeHead)
        proof = client.get("/v1/audit/proof/consistency", params={"first": 12, "second": newer.size}).json()
        assert verify_growth(head, newer, proof["consistency"], public) is None
        assert client.get("/v1/audit/proof/consistency", params={"first": 5, "second": 999}).status_code == 400
        assert client.get("/v1/audit/proof/inclusion", params={"seq": 0, "tree_size": 3}).status_code == 400
    assert [h.size for h in registry.store.tree_heads()] == [14, 12]  # the registry keeps the heads it signed
    registry.close()


def _rehash_from(db: Path, first: int) -> None:
    """What an attacker with the database does after changing entries: recompute the hash chain."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
        prev = GENESIS if first == 1 else rows[first - 2]["hash"]
        for r in rows[first - 1:]:
            e = AuditEntry(seq=r["seq"], at=datetime.fromisoformat(r["at"]), actor=r["actor"], action=r["action"],
                           subject=r["subject"], details=msgspec.json.decode(r["details"]), prev_hash=prev, hash="")
            digest = entry_hash(e.seq, e.at, e.actor, e.action, e.subject, e.details, prev)
            conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, r["seq"]))
            prev = digest


TAMPERING = {
    "the last entries deleted": ["DELETE FROM audit_log WHERE seq > 10"],
    "an entry rewritten, the rest re-hashed": [
        """UPDATE audit_log SET details = '{"name":"mallory","role":"admin"}' WHERE seq = 3"""],
    "two entries reordered": [
        "UPDATE audit_log SET seq = -1 WHERE seq = 5", "UPDATE audit_log SET seq = 5 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = -1"],
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_an_auditor_with_an_old_head_catches_tampering(registry: Registry, tmp_path: Path, how: str) -> None:
    saved = registry.tree_head()  # the head an auditor saved
    _history(registry, 3)
    registry.close()
    db = registry.settings.data_dir / "registry.sqlite3"
    with sqlite3.connect(db) as conn:
        for statement in TAMPERING[how]:
            conn.execute(statement)
    if how != "the last entries deleted":
        _rehash_from(db, 3)
    store = SQLiteStore(db)
    key = signing_key(None, registry.settings.data_dir / "log-signing.key")
    honest = TransparencyLog(store, key)
    assert not honest.status().ok  # the registry itself reports it (start-up, auditor page)...
    with pytest.raises(IntegrityError):
        honest.head()  # ...and refuses to sign a head that does not extend its last one
    # an attacker who also holds the key and wipes the kept heads can sign a head, but not a proof that fits
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM tree_heads")
    forger = TransparencyLog(store, key)
    current = forger.head()
    proof = forger.consistency(saved.size, current.size) if current.size >= saved.size else []
    problem = verify_growth(saved, current, proof, key.public_key())
    assert problem is not None, how
    assert ("shrank" in problem) == (how == "the last entries deleted")
    store.close()


def test_signatures_are_ed25519_over_the_documented_message(registry: Registry) -> None:
    head = registry.tree_head()
    public = registry.log.public
    public.verify(base64.b64decode(head.signature),
                  f"provenance-tree-head-v1\n{head.size}\n{head.root}\n{head.timestamp}\n".encode())
    registry.close()


def test_the_command_line_proves_growth_against_a_real_server(tmp_path: Path) -> None:
    env = {"PROVENANCE_DATA_DIR": str(tmp_path / "data"), "PROVENANCE_IMAGE_EMBEDDER": "none"}
    create_key("admin", "root", env)
    proc, base = start_server(env)
    try:
        head = tmp_path / "head.json"
        key = tmp_path / "log.pem"
        head.write_text(subprocess.run([EXE, "audit", "head", "--server", base], capture_output=True, text=True,
                                       check=True).stdout)
        key.write_text(subprocess.run([EXE, "audit", "key", "--server", base], capture_output=True, text=True,
                                      check=True).stdout)
        create_key("creator", "alice", env)  # the log grows (another process, the same database)
        done = subprocess.run([EXE, "audit", "verify", "--head", str(head), "--key", str(key), "--server", base],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "only grew since the saved head (2 -> 4 entries)" in done.stdout, done.stderr
        # the server's database loses its last entries: the saved head proves it
        db = tmp_path / "data" / "registry.sqlite3"
        backup = tmp_path / "copy.sqlite3"
        shutil.copy(db, backup)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM audit_log WHERE seq > 1")
            conn.execute("DELETE FROM tree_heads")
        done = subprocess.run([EXE, "audit", "verify", "--head", str(head), "--key", str(key), "--server", base],
                              capture_output=True, text=True)
        assert done.returncode == 1 and "FAILS verification: the log shrank" in done.stderr, done.stderr
    finally:
        stop_server(proc)
