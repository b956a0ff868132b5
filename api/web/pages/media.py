"""Image renditions for pages: a creator's own works, and the outputs of checks the viewer may see."""

from litestar import Controller, Response, get
from litestar.params import FromPath

from api.web.media import SIZES, rendition
from api.web.render import WebRequest
from api.web.session import WEB_PAGE, signed_in
from registry.errors import NotFound
from registry.models import WorkKind
from service.access import UseCase

CACHE = {"Cache-Control": "private, max-age=3600"}


def _rendition(request: WebRequest, data: bytes, blob: str, size: str) -> Response[bytes]:
    """`data` (stored as `blob`), re-encoded at `size` (cached under data_dir/renditions)."""
    if size not in SIZES:
        raise NotFound(f"no rendition {size!r}; use {' or '.join(SIZES)}")
    cache_dir = request.app.state.settings.data_dir / "renditions"
    return Response(rendition(data, blob, size, cache_dir), media_type="image/jpeg", headers=CACHE)


class MediaPages(Controller):
    path = "/media"
    include_in_schema = False
    opt = WEB_PAGE

    @get("/works/{work_id:str}/{size:str}", sync_to_thread=True)
    def work_image(self, request: WebRequest, work_id: FromPath[str], size: FromPath[str]) -> Response[bytes]:
        account, registry = signed_in(request, UseCase.READ_WORK)
        try:
            work, data = registry.original(account, work_id)  # an original is shown to its owner only
        except NotFound:
            raise NotFound(f"no image {work_id}") from None
        if work.kind != WorkKind.IMAGE:
            raise NotFound(f"no image {work_id}")
        return _rendition(request, data, work.sha256, size)

    @get("/checks/{check_id:str}/{size:str}", sync_to_thread=True)
    def check_image(self, request: WebRequest, check_id: FromPath[str], size: FromPath[str]) -> Response[bytes]:
        account, registry = signed_in(request, UseCase.READ_CHECK)
        try:
            check, data = registry.kept_output(account, check_id)
        except NotFound:
            raise NotFound(f"no image for check {check_id}") from None
        if data is None or check.kind != WorkKind.IMAGE or not check.content_blob:
            raise NotFound(f"no image for check {check_id}")
        return _rendition(request, data, check.content_blob, size)
