"""Editing, deleting or reordering audit rows in the database is detected."""

import sqlite3
from pathlib import Path

from registry.models import Role
from registry.sqlite_store import SQLiteStore


def _store_with_history(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    for name in ("alice", "bob", "carol"):
        store.create_account(name, Role.CREATOR, "system")
    assert store.verify_audit().ok
    return store


def test_edited_row_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    _store_with_history(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("""UPDATE audit_log SET details = '{"name":"mallory","role":"creator"}' WHERE seq = 2""")
    report = SQLiteStore(db).verify_audit()
    assert not report.ok and report.first_bad_seq == 2 and "altered" in (report.problem or "")


def test_deleted_row_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    _store_with_history(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    report = SQLiteStore(db).verify_audit()
    assert not report.ok and report.first_bad_seq == 2 and "missing" in (report.problem or "")


def test_rehashed_row_breaks_the_link(tmp_path: Path) -> None:
    """Recomputing an edited row's own hash is not enough: the next row still points at the old one."""
    from registry.audit import entry_hash

    db = tmp_path / "r.sqlite3"
    store = _store_with_history(db)
    e = store.audit_entries()[0]
    store.close()
    details = {"name": "mallory", "role": "creator"}
    forged = entry_hash(e.seq, e.at, e.actor, e.action, e.subject, details, e.prev_hash)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET details = ?, hash = ? WHERE seq = 1",
                     ('{"name":"mallory","role":"creator"}', forged))
    report = SQLiteStore(db).verify_audit()
    assert not report.ok and report.first_bad_seq == 2


def test_the_auditors_chain_status_catches_old_and_new_tampering(tmp_path: Path) -> None:
    """The web pages' monitor checks new entries on every visit and the whole chain every `full_every` s."""
    from service.chain import ChainMonitor

    db = tmp_path / "r.sqlite3"
    store = _store_with_history(db)
    monitor = ChainMonitor(full_every=3600)
    assert monitor.status(store).report.entries == 3
    store.create_account("dave", Role.CREATOR, "system")
    status = monitor.status(store)  # a continuation: only entry 4 is read
    assert status.report.ok and status.report.entries == 4
    assert status.report.head == store.verify_audit().head
    # a new entry altered after it was written: caught on the next visit
    store.create_account("erin", Role.CREATOR, "system")
    with sqlite3.connect(db) as conn:
        conn.execute("""UPDATE audit_log SET details = '{"name":"eve","role":"creator"}' WHERE seq = 5""")
    report = monitor.status(store).report
    assert not report.ok and report.first_bad_seq == 5
    # an old entry altered: caught by the whole-chain recomputation (on request, or every `full_every` s)
    db2 = tmp_path / "r2.sqlite3"
    store2 = _store_with_history(db2)
    monitor2 = ChainMonitor(full_every=3600)
    assert monitor2.status(store2).report.ok
    with sqlite3.connect(db2) as conn:
        conn.execute("""UPDATE audit_log SET details = '{"name":"mallory","role":"creator"}' WHERE seq = 1""")
    assert monitor2.status(store2, full=True).report.first_bad_seq == 1
    assert not ChainMonitor(full_every=0).status(store2).report.ok
    store.close()
    store2.close()
