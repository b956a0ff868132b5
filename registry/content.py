"""Decode and validate submitted content: decide image or text, refuse what cannot be fingerprinted.

Everything here runs before anything is stored, so a bad file leaves no partial state behind.
"""

import hashlib
import io
import warnings

from PIL import Image, UnidentifiedImageError

from registry.errors import ContentTooLarge, UnsupportedContent
from registry.models import WorkKind

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff"}


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
            raise UnsupportedContent("this content is text, not an image")
        return self._image

    @property
    def text(self) -> str:
        if self._text is None:
            raise UnsupportedContent("this content is an image, not text")
        return self._text


def _looks_like_image(data: bytes) -> bool:
    signatures = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
    bmp = data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00"  # reserved header bytes are zero
    return data.startswith(signatures) or bmp or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_image(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Open, bound-check and fully decode an image to RGB; animated and multi-page files are refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ContentTooLarge(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}; "
                    "scale it down before submitting")
            frames = int(getattr(img, "n_frames", 1))
            if frames > 1:
                raise UnsupportedContent(
                    f"{img.format} file has {frames} frames; submit each frame as its own still image")
            img.load()
    except (ContentTooLarge, UnsupportedContent):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ContentTooLarge(f"image refused as a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedContent(f"image could not be decoded (truncated or corrupt?): {exc}") from None
    media_type = IMAGE_FORMATS.get(img.format or "", "")
    if not media_type:
        raise UnsupportedContent(f"image format {img.format} is not supported; use JPEG, PNG, WebP, GIF, BMP or TIFF")
    if img.mode not in ("RGB",):
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            img = img.point(lambda v: v * (1 / 256)).convert("L")
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "PA") else img.convert("RGB")
    return img, media_type


def decode_text(data: bytes, max_chars: int) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedContent(
            f"text is not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
            "convert it to UTF-8 first") from None
    if "\x00" in text:
        raise UnsupportedContent("text contains NUL characters: it looks like a binary file")
    if len(text) > max_chars:
        raise ContentTooLarge(f"text has {len(text)} characters, over the limit of {max_chars}")
    if not text.strip():
        raise UnsupportedContent("text is empty or only white space")
    return text


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ".csv", ".json", ".html", ".htm", ".xml"}


def kind_from_name(name: str | None) -> WorkKind | None:
    """What a file name claims the content is (None when it says nothing), so a lie can be caught."""
    if not name or "." not in name:
        return None
    suffix = "." + name.rsplit(".", 1)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return WorkKind.IMAGE
    if suffix in TEXT_SUFFIXES:
        return WorkKind.TEXT
    return None


def load_content(data: bytes, *, max_pixels: int, max_text_chars: int, kind: WorkKind | None = None) -> Content:
    """Decide what `data` is and decode it; raise `UnsupportedContent` with a reason when it is neither."""
    if not data:
        raise UnsupportedContent("the file is empty (0 bytes)")
    looks_like_image = _looks_like_image(data)
    if kind is WorkKind.IMAGE and not looks_like_image:
        raise UnsupportedContent("the file is named as an image but is not one of JPEG, PNG, WebP, GIF, BMP, TIFF")
    if kind is WorkKind.TEXT and looks_like_image:
        raise UnsupportedContent("the file is named as text but holds an image")
    if looks_like_image:
        img, media_type = decode_image(data, max_pixels)
        return Content(data, WorkKind.IMAGE, media_type, image=img)
    text = decode_text(data, max_text_chars)
    return Content(data, WorkKind.TEXT, "text/plain; charset=utf-8", text=text)
