"""The kinds of content the registry handles, registered in one place: a decoder and a matcher for each.

Adding a kind (audio, video) adds a decoder under `registry/formats/`, an evidence struct in
`registry/evidence.py`, a matcher package under `matcher/`, an evidence view in `api/web/views.py`, and
one line in `MODALITIES` below. Matchers are imported when first opened, so commands that never match
(keys, audit) never load a model or an index.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matcher.base import Matcher, OriginalSource
from registry.content import Decoder
from registry.formats.image import ImageDecoder
from registry.formats.text import TextDecoder
from registry.models import WorkKind
from service.settings import ServiceSettings

OpenMatcher = Callable[[ServiceSettings, OriginalSource, dict[str, Any]], Matcher]


@dataclass(frozen=True)
class Modality:
    decoder: Decoder
    open_matcher: OpenMatcher  # (settings, where originals are read, injected resources such as a model)

    @property
    def kind(self) -> WorkKind:
        return self.decoder.kind


def _open_image(settings: ServiceSettings, originals: OriginalSource, resources: dict[str, Any]) -> Matcher:
    from matcher.image.embed import open_embedder
    from matcher.image.matcher import ImageMatcher

    embedder = resources.get("embedder") or open_embedder(settings.matching.image_embedder)
    return ImageMatcher(originals, embedder, index_dir=settings.indexes / "image",
                        threshold=settings.matching.image_threshold)


def _open_text(settings: ServiceSettings, originals: OriginalSource, resources: dict[str, Any]) -> Matcher:
    from matcher.text.matcher import TextMatcher

    return TextMatcher(originals, index_dir=settings.indexes / "text", threshold=settings.matching.text_threshold,
                       redis_url=settings.matching.text_index_redis)


MODALITIES: tuple[Modality, ...] = (
    Modality(ImageDecoder(), _open_image),
    Modality(TextDecoder(), _open_text),
)
