"""Still images: JPEG, PNG, WebP, GIF, BMP and TIFF, decoded to RGB; animated and multi-page files refused."""

import io
import warnings

from PIL import Image, UnidentifiedImageError

from registry.content import Content
from registry.errors import ContentTooLarge, UnsupportedContent
from registry.models import WorkKind
from registry.settings import ContentLimits

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff"}
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


def looks_like_image(data: bytes) -> bool:
    bmp = data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00"  # reserved header bytes are zero
    return data.startswith(_SIGNATURES) or bmp or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


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


class ImageDecoder:
    kind: WorkKind = WorkKind.IMAGE
    formats: tuple[str, ...] = ("JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF")
    suffixes: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

    def recognises(self, data: bytes) -> bool:
        return looks_like_image(data)

    def decode(self, data: bytes, limits: ContentLimits) -> Content:
        img, media_type = decode_image(data, limits.max_image_pixels)
        return Content(data, WorkKind.IMAGE, media_type, image=img)
