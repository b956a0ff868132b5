"""Bulk jobs live in the store: any replica reads them and any replica's worker runs them, creators are served
in turn, and the bytes are staged in the blob store. On SQLite and PostgreSQL (the stores are closed by the
`store_factory` fixture)."""

from collections.abc import Callable
from pathlib import Path

from api.settings import Settings
from registry.blobs import BlobStore
from registry.models import Role
from registry.store import Store
from service.jobs import JobRunner
from service.registry import Registry
from service.wiring import open_matchers


def _replica(store: Store, tmp_path: Path) -> Registry:
    settings = Settings.load(data_dir=tmp_path / "data", image_embedder="none").service
    blobs = BlobStore(tmp_path / "data" / "blobs")
    return Registry(settings, store, blobs, lambda: open_matchers(settings, store, blobs))


def _texts(prefix: str, n: int) -> list[tuple[str, bytes]]:
    return [(f"{prefix}{i}.txt", f"{prefix} wrote text number {i} about {prefix * (i + 3)} words".encode())
            for i in range(n)]


def test_a_job_staged_on_one_replica_is_read_and_run_on_another(store_factory: Callable[[], Store],
                                                               tmp_path: Path) -> None:
    a, b = _replica(store_factory(), tmp_path), _replica(store_factory(), tmp_path)
    alice = a.ensure_account("alice", Role.CREATOR)
    runner_a = JobRunner(a.store, a.blobs, a.enroll, start=False)
    job = runner_a.submit(alice, _texts("a", 3), None, None)
    assert job.status == "queued" and job.total == 3 and job.results == []
    runner_b = JobRunner(b.store, b.blobs, b.enroll, start=False)
    assert runner_b.get(job.id, alice.id).total == 3  # the other replica sees it
    while runner_b.run_one():  # and its worker enrolls the files
        pass
    done = runner_a.get(job.id, alice.id)
    assert done.status == "done" and done.enrolled == 3 and [r.status for r in done.results] == ["enrolled"] * 3
    assert done.finished_at is not None


def test_creators_are_served_in_turn(store_factory: Callable[[], Store], tmp_path: Path) -> None:
    reg = _replica(store_factory(), tmp_path)
    alice, bob = reg.ensure_account("alice", Role.CREATOR), reg.ensure_account("bob", Role.CREATOR)
    runner = JobRunner(reg.store, reg.blobs, reg.enroll, start=False)
    big = runner.submit(alice, _texts("alice", 12), None, None)
    assert runner.run_one()  # alice's first file is being served
    small = runner.submit(bob, _texts("bob", 1), None, None)
    assert runner.run_one()  # the next file is bob's, not alice's second of twelve
    assert runner.get(small.id, bob.id).status == "done"
    assert runner.get(big.id, alice.id).enrolled == 1
    while runner.run_one():
        pass
    assert runner.get(big.id, alice.id).enrolled == 12


def test_a_file_whose_worker_died_is_taken_up_again(store_factory: Callable[[], Store], tmp_path: Path) -> None:
    reg = _replica(store_factory(), tmp_path)
    alice = reg.ensure_account("alice", Role.CREATOR)
    runner = JobRunner(reg.store, reg.blobs, reg.enroll, start=False, stale_after=0)
    job = runner.submit(alice, _texts("c", 1), None, None)
    from datetime import timedelta

    from registry.ids import utcnow

    claimed = reg.store.claim_job_file(utcnow() - timedelta(hours=1))  # a worker claims it, then dies
    assert claimed is not None
    assert runner.run_one()  # stale at once here: another worker takes it up
    assert runner.get(job.id, alice.id).status == "done"
