"""What several pages need: the evidence pair of a match and the figures beside it, and text previews."""

from api.web.evidence import Pair
from api.web.views import view_for
from registry.errors import NotFound
from registry.models import Account, MatchRecord, Work
from service.registry import Registry


def text_preview(registry: Registry, viewer: Account, work: Work, chars: int) -> tuple[str, bool]:
    """The start of a text work the viewer may see the original of, and whether it was cut."""
    try:
        _, data = registry.original(viewer, work.id)
    except NotFound:
        return "", False
    text = data.decode("utf-8", errors="replace")
    return text[:chars], len(text) > chars


def build_pair(registry: Registry, output: bytes | None, record: MatchRecord, viewer: Account) -> Pair:
    """The evidence of `record` as pictures or marked texts, beside the check's `output` when it was kept
    (`Registry.kept_output`, read once per page); the enrolled original only to whom the access policy shows
    it (its owner)."""
    try:
        _, original = registry.original(viewer, record.work_id)
    except NotFound:
        original = None
    return view_for(record.evidence).pair(record.evidence, record.work_id, output, original)


def figures(record: MatchRecord) -> list[tuple[str, str]]:
    return view_for(record.evidence).rows(record.evidence)
