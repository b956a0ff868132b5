"""Image renditions for pages: a creator's own works, and the outputs of checks the viewer may see."""

from litestar import Controller, Response, get
from litestar.params import FromPath

from api.deps import loaded_registry
from api.web.media import SIZES, rendition
from api.web.pages.shared import may_see_check
from api.web.render import WebRequest
from api.web.session import WEB_PAGE, web_account
from registry.errors import NotFound
from registry.models import WorkKind
from registry.service import Registry

CACHE = {"Cache-Control": "private, max-age=3600"}


def _rendition(registry: Registry, blob: str, size: str) -> Response[bytes]:
    """The image stored as `blob`, re-encoded at `size` (cached under data_dir/renditions)."""
    if size not in SIZES:
        raise NotFound(f"no rendition {size!r}; use {' or '.join(SIZES)}")
    cache_dir = registry.settings.data_dir / "renditions"
    data = rendition(registry.blobs.get(blob), blob, size, cache_dir)
    return Response(data, media_type="image/jpeg", headers=CACHE)


class MediaPages(Controller):
    path = "/media"
    include_in_schema = False
    opt = WEB_PAGE

    @get("/works/{work_id:str}/{size:str}", sync_to_thread=True)
    def work_image(self, request: WebRequest, work_id: FromPath[str], size: FromPath[str]) -> Response[bytes]:
        account = web_account(request)
        registry = loaded_registry(request.app.state)
        try:
            work = registry.store.get_work(work_id)
        except NotFound:
            work = None
        # an original is shown to its owner only
        if work is None or work.owner_id != account.id or work.kind != WorkKind.IMAGE:
            raise NotFound(f"no image {work_id}")
        return _rendition(registry, work.sha256, size)

    @get("/checks/{check_id:str}/{size:str}", sync_to_thread=True)
    def check_image(self, request: WebRequest, check_id: FromPath[str], size: FromPath[str]) -> Response[bytes]:
        account = web_account(request)
        registry = loaded_registry(request.app.state)
        try:
            check = registry.store.get_check(check_id)
        except NotFound:
            check = None
        if (check is None or check.kind != WorkKind.IMAGE or not check.content_blob
                or not may_see_check(registry, account, check)):
            raise NotFound(f"no image for check {check_id}")
        return _rendition(registry, check.content_blob, size)
