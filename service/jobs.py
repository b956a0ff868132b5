"""Bulk enrollment jobs: many files enrolled in the background, each outcome reported as it happens.

A job and its files are staged in the store (the bytes in the blob store, out of memory once written), so
every replica sees every job and any replica's worker may enroll its files; a job survives a restart and is
resumed (a file whose worker died is taken up again after `stale_after` seconds, and a work enrolled before
the crash is then reported as already enrolled). Workers serve creators in turn, one file at a time: one
creator's thousand files never hold another creator's file back for more than one file.
"""

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from registry.blobs import BlobStore
from registry.errors import Conflict, NotFound, ProvenanceError
from registry.ids import new_id, utcnow
from registry.models import Account, FileOutcome, Job, Work, WorkStatus
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts

__all__ = ["FileOutcome", "Job", "JobRunner", "enroll_file"]
log = logging.getLogger("provenance.jobs")


CONTESTED_NOTE = ("as contested: it matches a work enrolled earlier by another account, and is not "
                  "matched until an admin resolves the conflict")


def enroll_file(enroll: Callable[..., Work], owner: Account, filename: str, data: bytes,
                license: LicenseTerms | None, opt_outs: OptOuts | None) -> tuple[FileOutcome, ProvenanceError | None]:
    """Enroll one file of a batch (titled by its name) and say what became of it, with the error that refused
    it; a file that fails in an unexpected way is rejected and logged, and never stops the rest of the batch."""
    try:
        work = enroll(owner, data, title=filename, license=license, opt_outs=opt_outs, filename=filename)
    except Conflict as exc:
        return FileOutcome(filename=filename, status="skipped", work_id=str(exc.details.get("existing_id")),
                           error=exc.message, code=exc.code), exc
    except ProvenanceError as exc:
        return FileOutcome(filename=filename, status="rejected", error=exc.message, code=exc.code), exc
    except Exception as exc:
        log.exception("enrolling %s failed", filename)
        return FileOutcome(filename=filename, status="rejected", error=f"internal error: {exc}",
                           code="internal_error"), None
    if work.status == WorkStatus.CONTESTED:
        return FileOutcome(filename=filename, status="enrolled", work_id=work.id, code="contested",
                           error=CONTESTED_NOTE), None
    return FileOutcome(filename=filename, status="enrolled", work_id=work.id), None


class JobRunner:
    """Stages jobs in the store and runs one worker thread that enrolls staged files, whoever staged them."""

    def __init__(self, store: Store, blobs: BlobStore, enroll: Callable[..., Work], *, poll: float = 0.5,
                 stale_after: float = 600.0, start: bool = True) -> None:
        self._store, self._blobs, self._enroll = store, blobs, enroll
        self._poll, self._stale_after = poll, stale_after
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="bulk-enroll", daemon=True)
        if start:  # tests drive `run_one` themselves
            self._worker.start()

    def submit(self, owner: Account, files: list[tuple[str, bytes]], license: LicenseTerms | None,
               opt_outs: OptOuts | None) -> Job:
        """Stage the files (blob store) and the job (store); the caller may drop the bytes once this returns."""
        staged = [(name, self._blobs.put(data)) for name, data in files]
        job = Job(id=new_id("job"), owner_id=owner.id, created_at=utcnow(), status="queued", total=len(files))
        stored = self._store.add_job(job, staged, license, opt_outs)
        self._wake.set()
        return stored

    def get(self, job_id: str, owner_id: str | None) -> Job:
        """The job as it stands; `owner_id` None reads any job (admins)."""
        try:
            job = self._store.get_job(job_id)
        except NotFound:
            job = None
        if job is None or (owner_id is not None and job.owner_id != owner_id):
            raise NotFound(f"no job {job_id}")
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job is done (for tests and the command line)."""
        deadline = time.monotonic() + timeout
        while (job := self.get(job_id, None)).status != "done":
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not done after {timeout}s")
            time.sleep(0.05)
        return job

    def depth(self) -> int:
        """Files waiting in queued or running jobs (every replica's)."""
        return self._store.job_files_waiting()

    def run_one(self) -> bool:
        """Enroll the next waiting file, if any (True when one was done)."""
        claimed = self._store.claim_job_file(utcnow() - timedelta(seconds=self._stale_after))
        if claimed is None:
            return False
        try:
            owner = self._store.get_account(claimed.owner_id)
            data = self._blobs.get(claimed.blob)
            outcome, _ = enroll_file(self._enroll, owner, claimed.filename, data, claimed.license, claimed.opt_outs)
        except ProvenanceError as exc:  # the staged file or its owner vanished
            outcome = FileOutcome(filename=claimed.filename, status="rejected", error=exc.message, code=exc.code)
        self._store.finish_job_file(claimed.job_id, claimed.position, outcome)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_one():
                    continue
            except Exception:  # the database may be briefly unreachable; try again
                log.exception("bulk enrollment worker failed")
            self._wake.wait(self._poll)
            self._wake.clear()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker.is_alive():
            self._worker.join(timeout=30)
