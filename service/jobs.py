"""Bulk enrollment jobs: many files enrolled in the background, each outcome reported as it happens.

A job is held in memory by the process that accepted it; each file is enrolled (and committed) on its own,
so a restart loses the job's progress report, never a work that was reported enrolled.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

import msgspec

from registry.errors import Conflict, NotFound, ProvenanceError
from registry.ids import new_id, utcnow
from registry.models import Account, Work
from registry.terms import LicenseTerms, OptOuts

log = logging.getLogger("provenance.jobs")


class FileOutcome(msgspec.Struct, kw_only=True):
    filename: str
    status: str  # enrolled, skipped (already enrolled), rejected
    work_id: str | None = None
    error: str | None = None
    code: str | None = None  # why it was skipped or rejected, as the API's error codes say it


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
    return FileOutcome(filename=filename, status="enrolled", work_id=work.id), None


class Job(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str
    created_at: datetime
    status: str  # queued, running, done
    total: int
    enrolled: int = 0
    skipped: int = 0
    rejected: int = 0
    results: list[FileOutcome] = msgspec.field(default_factory=list)
    finished_at: datetime | None = None


class JobRunner:
    """One worker thread enrolling the files of queued jobs in order."""

    def __init__(self, enroll: Callable[..., Work], max_jobs: int = 1000) -> None:
        self._enroll = enroll
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, Account, list[tuple[str, bytes]], LicenseTerms | None,
                                       OptOuts | None] | None] = queue.Queue()
        self._max_jobs = max_jobs
        self._worker = threading.Thread(target=self._run, name="bulk-enroll", daemon=True)
        self._worker.start()

    def submit(self, owner: Account, files: list[tuple[str, bytes]], license: LicenseTerms | None,
               opt_outs: OptOuts | None) -> Job:
        job = Job(id=new_id("job"), owner_id=owner.id, created_at=utcnow(), status="queued", total=len(files))
        with self._lock:
            if len(self._jobs) >= self._max_jobs:  # forget the oldest finished jobs
                for old in [j.id for j in self._jobs.values() if j.status == "done"][: self._max_jobs // 10 + 1]:
                    del self._jobs[old]
            self._jobs[job.id] = job
        self._queue.put((job, owner, files, license, opt_outs))
        return self.get(job.id, owner.id)

    def get(self, job_id: str, owner_id: str | None) -> Job:
        """A snapshot of the job; `owner_id` None reads any job (admins)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or (owner_id is not None and job.owner_id != owner_id):
                raise NotFound(f"no job {job_id} (jobs are kept in memory by the server that accepted them)")
            return msgspec.structs.replace(job, results=list(job.results))

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job is done (for tests and the command line)."""
        deadline = time.monotonic() + timeout
        while (job := self.get(job_id, None)).status != "done":
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not done after {timeout}s")
            time.sleep(0.05)
        return job

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            job, owner, files, license, opt_outs = item
            with self._lock:
                job.status = "running"
            for filename, data in files:
                outcome, _ = enroll_file(self._enroll, owner, filename, data, license, opt_outs)
                with self._lock:
                    job.results.append(outcome)
                    setattr(job, outcome.status, getattr(job, outcome.status) + 1)
            with self._lock:
                job.status = "done"
                job.finished_at = utcnow()

    def depth(self) -> int:
        """Files waiting in queued or running jobs."""
        with self._lock:
            return sum(j.total - len(j.results) for j in self._jobs.values() if j.status != "done")

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)
