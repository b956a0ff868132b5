"""What several pages need: the evidence pair of a match, text previews, and who may see what."""

from typing import Any

import msgspec

from api.web.evidence import Box, Excerpt, excerpts, passages, region
from api.web.media import dimensions
from registry.errors import NotFound
from registry.models import Account, Check, MatchRecord, Role, Work, WorkKind
from registry.service import Registry


class Pair(msgspec.Struct, kw_only=True):
    """The output beside the work, for one match; the work's side is filled only for its owner."""

    work_id: str
    output_dims: tuple[int, int] | None = None
    output_box: Box | None = None
    output_excerpts: list[Excerpt] | None = None
    work_dims: tuple[int, int] | None = None
    work_box: Box | None = None
    work_excerpts: list[Excerpt] | None = None


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def text_preview(registry: Registry, work: Work, chars: int) -> tuple[str, bool]:
    text = decode_text(registry.blobs.get(work.sha256))
    return text[:chars], len(text) > chars


def build_pair(registry: Registry, check: Check, record: MatchRecord, viewer: Account) -> Pair:
    """The evidence of `record` as pictures or marked texts. The output is shown when it was kept; the
    enrolled original only to its owner: no page shows one creator's originals to anybody else."""
    evidence: dict[str, Any] = record.evidence
    pair = Pair(work_id=record.work_id)
    output = registry.blobs.get(check.content_blob) if check.content_blob and registry.blobs.exists(
        check.content_blob) else None
    original: bytes | None = None
    if record.owner_id == viewer.id:
        try:
            work = registry.store.get_work(record.work_id)
            original = registry.blobs.get(work.sha256)
        except NotFound:
            original = None
    if check.kind == WorkKind.IMAGE:
        if output is not None:
            pair.output_dims, pair.output_box = dimensions(output), region(evidence, "query")
        if original is not None:
            pair.work_dims, pair.work_box = dimensions(original), region(evidence, "work")
    else:
        if output is not None:
            pair.output_excerpts = excerpts(decode_text(output), passages(evidence, "q"))
        if original is not None:
            pair.work_excerpts = excerpts(decode_text(original), passages(evidence, "w"))
    return pair


def may_see_check(registry: Registry, viewer: Account, check: Check) -> bool:
    """Operators their own checks; auditors and admins all; creators the checks that matched their works."""
    if viewer.role in (Role.AUDITOR, Role.ADMIN) or check.account_id == viewer.id:
        return True
    return viewer.role == Role.CREATOR and any(m.owner_id == viewer.id for m in check.matches)
