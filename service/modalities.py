"""The kinds of content the registry handles, registered in one place: a decoder and a matcher for each.

Adding a kind (audio, video) adds a decoder under `registry/formats/`, an evidence struct in
`registry/evidence.py`, a matcher package under `matcher/`, an evidence view in `api/web/views.py`, and
one line in `MODALITIES` below. Matchers are imported when first opened, so commands that never match
(keys, audit) never load a model or an index.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from matcher.base import Match, Matcher, OriginalSource
from registry.content import Content, Decoder
from registry.evidence import ImageEvidence
from registry.formats.image import ImageDecoder
from registry.formats.text import TextDecoder
from registry.models import WorkKind
from service.settings import ServiceSettings

OpenMatcher = Callable[[ServiceSettings, OriginalSource, dict[str, Any]], Matcher]
Likeness = Callable[[Content, Sequence[Match]], str]


@dataclass(frozen=True)
class Modality:
    decoder: Decoder
    open_matcher: OpenMatcher  # (settings, where originals are read, injected resources such as a model)
    likeness: Likeness  # the output's fingerprint a released dispute holds for (see service.disputes)

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


def _image_likeness(content: Content, found: Sequence[Match]) -> str:
    """The output's PDQ hash, as the image matcher computed it for the search (in every image evidence)."""
    pdq = next((m.evidence.query_pdq for m in found
                if isinstance(m.evidence, ImageEvidence) and m.evidence.query_pdq), "")
    return f"pdq:{pdq}" if pdq else ""


def _text_likeness(content: Content, found: Sequence[Match]) -> str:
    """The output's words as the text matcher reads them (case, spacing, punctuation and look-alike letters
    normalised), hashed: the same text however it is typed."""
    from matcher.text.normalize import word_ids

    return "words:" + hashlib.sha256(word_ids(content.text).tobytes()).hexdigest()


MODALITIES: tuple[Modality, ...] = (
    Modality(ImageDecoder(), _open_image, _image_likeness),
    Modality(TextDecoder(), _open_text, _text_likeness),
)


def likeness(content: Content, found: Sequence[Match]) -> str:
    return next((m.likeness(content, found) for m in MODALITIES if m.kind == content.kind), "")
