"""Training runs: which enrolled works went into which model, on what terms.

An operator opens a run (`name`, `model`, `purpose`), sends its items in batches (the lookup item shape:
hashes, URLs, texts, or files), and closes it, which freezes it. Each batch is matched as a lookup is
(`service.lookups`); every work it matched is included once, with its terms and opt-outs at that moment,
and flagged as a violation when its use for the run's purpose is not `allowed` (`notAllowed`, or
`constrained`, which CAWG counts as not allowed without a licence). Every step is in the audit chain.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

import msgspec

from registry.content import Content
from registry.errors import InvalidInput, NotFound
from registry.ids import new_id, utcnow
from registry.models import Account, IncludedWork, Role, TrainingRun
from registry.store import Store
from registry.terms import TDM_KEYS
from service import access
from service.indexes import IndexKeeper
from service.lookups import FileItem, LookupItem, run_lookup, use_for

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class NewTrainingRun(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    model: Name
    purpose: str = "ai_training"


def new_run(account: Account, spec: NewTrainingRun) -> TrainingRun:
    if spec.purpose not in TDM_KEYS:
        raise InvalidInput(f"unknown purpose {spec.purpose!r} for a training run; use one of {', '.join(TDM_KEYS)}")
    name, model = spec.name.strip(), spec.model.strip()
    if not name or not model or not all(ch.isprintable() for ch in name + model):
        raise InvalidInput("name and model must be printable text")
    return TrainingRun(id=new_id("run"), account_id=account.id, name=name, model=model, purpose=spec.purpose,
                       created_at=utcnow())


def own_run(store: Store, account: Account, run_id: str) -> TrainingRun:
    """The run `run_id` of `account` (admins: any run); NotFound for another operator's, as for an unknown one."""
    try:
        run: TrainingRun | None = store.get_training_run(run_id)
    except NotFound:
        run = None
    if run is not None and run.account_id != account.id and account.role != Role.ADMIN:
        run = None  # another operator's run does not exist for this one
    return access.readable_run(account, run, run_id)


def included_works(account: Account, run: TrainingRun, items: Sequence[LookupItem], files: Sequence[FileItem], *,
                   store: Store, indexes: IndexKeeper, load: Callable[[bytes, str | None], Content],
                   now: datetime | None = None) -> tuple[int, str, list[IncludedWork]]:
    """(item count, digest of the items, the works they matched with their terms now; grants judged at `now`)."""
    lookup = run_lookup(account, run.purpose, items, files, store=store, indexes=indexes, load=load, now=now)
    counts: Counter[str] = Counter(m.work_id for r in lookup.results for m in r.matches)
    licensed = {m.work_id for r in lookup.results for m in r.matches if m.grant_id}
    works = store.get_works(sorted(counts))
    now = utcnow()
    included = []
    for work_id, n in sorted(counts.items()):
        work = works.get(work_id)
        if work is None:
            continue
        use = "allowed" if work_id in licensed else use_for(work.opt_outs, run.purpose)  # a grant licenses it
        included.append(IncludedWork(work_id=work_id, owner_id=work.owner_id, use=use, violation=use != "allowed",
                                     items=n, license=work.license, opt_outs=work.opt_outs, first_at=now))
    return lookup.items, lookup.digest, included
