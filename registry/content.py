"""Decode and validate submitted content: find the decoder that recognises the bytes, refuse the rest.

A kind of content is a plug-in: a `Decoder` recognises its formats by their bytes (never by a file name,
which only lets a lie be caught) and decodes them into a `Content`. Bytes no decoder recognises are refused
with `UnsupportedContent` naming the format they look like and the formats accepted. Everything here runs
before anything is stored, so a bad file leaves no partial state behind.
"""

import hashlib
from collections.abc import Sequence
from typing import Protocol

from PIL import Image

from registry.errors import UnsupportedContent
from registry.formats.sniff import describe
from registry.models import WorkKind
from registry.settings import ContentLimits


class Content:
    """Validated content: its kind, media type and digest, and the decoded image or text."""

    def __init__(self, data: bytes, kind: WorkKind, media_type: str,
                 image: Image.Image | None = None, text: str | None = None) -> None:
        self.data = data
        self.kind = kind
        self.media_type = media_type
        self.sha256 = hashlib.sha256(data).hexdigest()
        self._image = image
        self._text = text

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            raise UnsupportedContent(f"this content is {self.kind.value}, not an image")
        return self._image

    @property
    def text(self) -> str:
        if self._text is None:
            raise UnsupportedContent(f"this content is {self.kind.value}, not text")
        return self._text


class Decoder(Protocol):
    """One kind of content: which formats it accepts, how it recognises them, how it decodes them."""

    kind: WorkKind
    formats: tuple[str, ...]  # names of the accepted formats, as messages show them
    suffixes: frozenset[str]  # file name endings (".jpg") that claim this kind

    def recognises(self, data: bytes) -> bool: ...

    def decode(self, data: bytes, limits: ContentLimits) -> Content: ...


def default_decoders() -> tuple[Decoder, ...]:
    """The decoders of the built-in kinds (the service takes its list from `service.modalities`)."""
    from registry.formats.image import ImageDecoder
    from registry.formats.text import TextDecoder

    return (ImageDecoder(), TextDecoder())


def accepted(decoders: Sequence[Decoder]) -> str:
    names = [f for d in decoders for f in d.formats]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def kind_from_name(name: str | None, decoders: Sequence[Decoder] | None = None) -> WorkKind | None:
    """What a file name claims the content is (None when it says nothing), so a lie can be caught."""
    if not name or "." not in name:
        return None
    suffix = "." + name.rsplit(".", 1)[1].lower()
    return next((d.kind for d in decoders or default_decoders() if suffix in d.suffixes), None)


def load_content(data: bytes, *, limits: ContentLimits | None = None, max_pixels: int | None = None,
                 max_text_chars: int | None = None, kind: WorkKind | None = None,
                 decoders: Sequence[Decoder] | None = None) -> Content:
    """Decide what `data` is and decode it; raise `UnsupportedContent` with a reason when no decoder takes it.

    `kind` is what the file's name claims; a file whose bytes say otherwise is refused."""
    if not data:
        raise UnsupportedContent("the file is empty (0 bytes)")
    limits = limits or ContentLimits()
    if max_pixels is not None or max_text_chars is not None:
        limits = ContentLimits(max_upload_bytes=limits.max_upload_bytes,
                               max_image_pixels=max_pixels or limits.max_image_pixels,
                               max_text_chars=max_text_chars or limits.max_text_chars)
    decoders = decoders or default_decoders()
    seen = describe(data)
    decoder = None if seen else next((d for d in decoders if d.recognises(data)), None)
    if decoder is None:
        what = seen or f"unrecognised binary data (starts with {data[:8].hex(' ')})"
        raise UnsupportedContent(f"{what} is not supported; send {accepted(decoders)}",
                                 seen=seen or "unknown", accepted=[f for d in decoders for f in d.formats])
    if kind is not None and kind != decoder.kind:
        claimed = next((d for d in decoders if d.kind == kind), None)
        named = " or ".join(claimed.formats) if claimed else kind.value
        what = {WorkKind.IMAGE: "an image", WorkKind.TEXT: "text"}.get(kind, f"a {kind.value} file")
        raise UnsupportedContent(f"the file is named as {what} ({named}) but holds {decoder.kind.value}")
    return decoder.decode(data, limits)
