"""The one access policy: who may do what to which work, check, original, kept output and audit entry.

Every face (HTTP API, web pages, CLI) reaches data through the use cases in `service.registry`, and every
use case asks here. Two layers of rules, both in this module:

* by role, per use case (`ROLES`): a role not listed is refused with 403 before anything is read, and
  admins may do everything;
* by object: a work or check the caller may not see does not exist for them (404, never 403, so that ids
  cannot be probed), and a creator sees only the matches on their own works inside a check.

The README's "Access" table is this module written out; `tests/test_access_matrix.py` runs the same
role x resource matrix through the API and through the web pages.
"""

from enum import StrEnum

import msgspec

from registry.claims import Dispute, OwnershipConflict
from registry.errors import NotFound, PermissionDenied
from registry.models import Account, Check, Lookup, MatchRecord, Role, TrainingRun, Work


class UseCase(StrEnum):
    ENROLL = "enroll works"
    LIST_WORKS = "list works"
    READ_WORK = "read a work"
    CHANGE_WORK = "change a work"
    CHECK = "check outputs"
    LIST_CHECKS = "list checks"
    READ_CHECK = "read a check"
    READ_AUDIT = "read the audit log"
    MANAGE_KEYS = "manage keys"
    LOOKUP = "look up training items"
    READ_LOOKUP = "read a lookup"
    RECORD_TRAINING = "record training runs"
    READ_BANK = "download the opt-out bank"
    READ_TRAINING_RUN = "read a training run"
    DISPUTE = "dispute matches of their checks"
    ANSWER_DISPUTE = "answer disputes of matches of their works"
    DECIDE_APPEAL = "decide appeals"
    READ_DISPUTES = "read disputes"
    RESOLVE_CONFLICT = "resolve ownership conflicts"
    READ_CONFLICTS = "read ownership conflicts"
    NOTIFICATIONS = "read notifications and manage webhooks"
    EXCLUDE = "exclude content from matching"
    VERIFY_DOMAIN = "verify their web domains"
    READ_EXCLUSIONS = "read exclusions"
    REQUEST_GRANT = "request licences"
    DECIDE_GRANT = "grant, deny and revoke licences of their works"
    READ_GRANTS = "read licence grants"
    MANAGE_POOLS = "declare and close payout pools"
    READ_POOLS = "read payout pools and their statements"
    READ_STATEMENTS = "read their own payout statements"


ROLES: dict[UseCase, frozenset[Role]] = {
    UseCase.ENROLL: frozenset({Role.CREATOR}),
    UseCase.LIST_WORKS: frozenset({Role.CREATOR, Role.AUDITOR}),  # creators their own, auditors all
    UseCase.READ_WORK: frozenset({Role.CREATOR, Role.AUDITOR}),  # creators their own, auditors all
    UseCase.CHANGE_WORK: frozenset({Role.CREATOR}),  # their own
    UseCase.CHECK: frozenset({Role.OPERATOR}),
    UseCase.LIST_CHECKS: frozenset({Role.OPERATOR, Role.AUDITOR}),  # operators their own, auditors all
    UseCase.READ_CHECK: frozenset({Role.OPERATOR, Role.AUDITOR, Role.CREATOR}),  # see may_see_check
    UseCase.READ_AUDIT: frozenset({Role.AUDITOR}),
    UseCase.MANAGE_KEYS: frozenset(),  # admins only
    UseCase.LOOKUP: frozenset({Role.OPERATOR}),
    UseCase.READ_LOOKUP: frozenset({Role.OPERATOR, Role.AUDITOR}),  # operators their own, auditors all
    UseCase.RECORD_TRAINING: frozenset({Role.OPERATOR}),
    UseCase.READ_BANK: frozenset({Role.OPERATOR, Role.AUDITOR}),  # anyone when the registry makes it public
    UseCase.READ_TRAINING_RUN: frozenset({Role.OPERATOR, Role.AUDITOR}),  # operators their own, auditors all
    UseCase.DISPUTE: frozenset({Role.OPERATOR}),  # the matches of their own checks; appeals
    UseCase.ANSWER_DISPUTE: frozenset({Role.CREATOR}),  # disputes of matches of their works
    UseCase.DECIDE_APPEAL: frozenset(),  # admins only
    UseCase.READ_DISPUTES: frozenset({Role.OPERATOR, Role.CREATOR, Role.AUDITOR}),  # their parties, auditors all
    UseCase.RESOLVE_CONFLICT: frozenset(),  # admins only
    UseCase.READ_CONFLICTS: frozenset({Role.CREATOR, Role.AUDITOR}),  # creators theirs (redacted), auditors all
    UseCase.NOTIFICATIONS: frozenset({Role.CREATOR, Role.OPERATOR, Role.AUDITOR}),  # their own
    UseCase.VERIFY_DOMAIN: frozenset({Role.CREATOR}),
    UseCase.EXCLUDE: frozenset({Role.CREATOR}),  # for their own works; admins for every work
    UseCase.READ_EXCLUSIONS: frozenset({Role.CREATOR, Role.AUDITOR}),  # creators their own, auditors all
    UseCase.REQUEST_GRANT: frozenset({Role.OPERATOR}),
    UseCase.DECIDE_GRANT: frozenset({Role.CREATOR}),  # grants on their own works
    UseCase.READ_GRANTS: frozenset({Role.CREATOR, Role.OPERATOR, Role.AUDITOR}),  # their parties, auditors all
    UseCase.MANAGE_POOLS: frozenset({Role.OPERATOR}),  # their own pools
    UseCase.READ_POOLS: frozenset({Role.OPERATOR, Role.AUDITOR}),  # operators their own, auditors all
    UseCase.READ_STATEMENTS: frozenset({Role.CREATOR}),  # their own lines
}


def allowed(account: Account, use: UseCase) -> bool:
    return account.role == Role.ADMIN or account.role in ROLES[use]


def roles_for(use: UseCase) -> list[Role]:
    """The roles admitted to `use`, admins included, in a stable order (for messages and docs)."""
    return [r for r in Role if r == Role.ADMIN or r in ROLES[use]]


def require(account: Account, use: UseCase) -> None:
    """Refuse (403) an account whose role may not `use`; the message names the roles that may."""
    if not allowed(account, use):
        names = " or ".join(r.value for r in roles_for(use) if r != Role.ADMIN) or "admin"
        raise PermissionDenied(f"only {names} accounts may {use.value}; this account is a {account.role.value}")


# -- works ------------------------------------------------------------------------------------------------
def may_read_work(account: Account, work: Work) -> bool:
    return work.owner_id == account.id or account.role in (Role.ADMIN, Role.AUDITOR)


def may_change_work(account: Account, work: Work) -> bool:
    return work.owner_id == account.id or account.role == Role.ADMIN


def may_see_original(account: Account, work: Work) -> bool:
    """An enrolled original is shown to its owner only (and admins): operators and auditors see the evidence
    and the output, never another creator's file."""
    return work.owner_id == account.id or account.role == Role.ADMIN


def works_owner_scope(account: Account) -> str | None:
    """Whose works a listing may show: the creator's own (their id), or everybody's (None)."""
    return None if account.role in (Role.ADMIN, Role.AUDITOR) else account.id


# -- checks -----------------------------------------------------------------------------------------------
def may_see_check(account: Account, check: Check) -> bool:
    """Operators their own checks; auditors and admins all; creators the checks that matched their works."""
    if account.role in (Role.AUDITOR, Role.ADMIN) or check.account_id == account.id:
        return True
    return account.role == Role.CREATOR and any(m.owner_id == account.id for m in check.matches)


def visible_matches(account: Account, check: Check) -> list[MatchRecord]:
    """The matches of `check` that `account` may read: a creator only those on their own works (the others
    would disclose other creators' works, terms and passages); everyone else who may see the check, all."""
    if account.role == Role.CREATOR and check.account_id != account.id:
        return [m for m in check.matches if m.owner_id == account.id]
    return list(check.matches)


def checks_account_scope(account: Account) -> str | None:
    """Whose checks a listing may show: an operator's own (their id), or everybody's (None)."""
    return None if account.role in (Role.ADMIN, Role.AUDITOR) else account.id


# -- lookups ----------------------------------------------------------------------------------------------
def may_see_lookup(account: Account, lookup: Lookup | TrainingRun) -> bool:
    """Lookups and training runs: their operator, auditors and admins."""
    return lookup.account_id == account.id or account.role in (Role.AUDITOR, Role.ADMIN)


# -- helpers that hide what may not be seen ---------------------------------------------------------------
def readable_work(account: Account, work: Work | None, work_id: str) -> Work:
    if work is None or not may_read_work(account, work):
        raise NotFound(f"no work {work_id}")
    return work


def changeable_work(account: Account, work: Work | None, work_id: str) -> Work:
    if work is None or not may_change_work(account, work):
        raise NotFound(f"no work {work_id}")
    return work


def readable_check(account: Account, check: Check | None, check_id: str) -> Check:
    if check is None or not may_see_check(account, check):
        raise NotFound(f"no check {check_id}")
    return check


def readable_lookup(account: Account, lookup: Lookup | None, lookup_id: str) -> Lookup:
    if lookup is None or not may_see_lookup(account, lookup):
        raise NotFound(f"no lookup {lookup_id}")
    return lookup


def readable_run(account: Account, run: TrainingRun | None, run_id: str) -> TrainingRun:
    if run is None or not may_see_lookup(account, run):
        raise NotFound(f"no training run {run_id}")
    return run


# -- disputes and conflicts -------------------------------------------------------------------------------
def may_see_dispute(account: Account, dispute: Dispute) -> bool:
    """A dispute: its operator, the owner of the disputed work, auditors and admins."""
    return account.id in (dispute.operator_id, dispute.owner_id) or account.role in (Role.AUDITOR, Role.ADMIN)


def readable_dispute(account: Account, dispute: Dispute | None, dispute_id: str) -> Dispute:
    if dispute is None or not may_see_dispute(account, dispute):
        raise NotFound(f"no dispute {dispute_id}")
    return dispute


def readable_conflict(account: Account, conflict: OwnershipConflict | None, conflict_id: str) -> OwnershipConflict:
    """A conflict for its two owners (redacted by `conflict_view`), auditors and admins."""
    if conflict is None or not (account.id in (conflict.work_owner_id, conflict.earlier_owner_id)
                                or account.role in (Role.AUDITOR, Role.ADMIN)):
        raise NotFound(f"no conflict {conflict_id}")
    return conflict


def conflict_view(account: Account, conflict: OwnershipConflict) -> OwnershipConflict:
    """What an owner may know of a conflict: their own work, never the other account or (for the newcomer)
    the earlier work; auditors and admins see everything."""
    if account.role in (Role.AUDITOR, Role.ADMIN):
        return conflict
    if account.id == conflict.work_owner_id and account.id != conflict.earlier_owner_id:
        return msgspec.structs.replace(conflict, earlier_work_id="", earlier_owner_id="")
    return msgspec.structs.replace(conflict, work_owner_id="")
