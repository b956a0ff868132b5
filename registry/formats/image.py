"""Still images: JPEG, PNG, WebP, GIF, BMP and TIFF, decoded to RGB; animated and multi-page files refused."""

import io
import struct
import warnings
import zlib

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


WORK_SIDE = 1024  # fingerprints are computed on the image scaled to at most this many pixels a side
MAX_JPEG_SCANS = 64  # a progressive JPEG has about 10; thousands make each decode take seconds
DECODE_BUDGET = 300 * 2**20  # memory a format without reduced decoding may take to decode at full size
# memory a decoder takes, as a multiple of the decoded pixels (measured with benchmarks/bench_decode.py)
DECODE_OVERHEAD = {"PNG": 1.5, "TIFF": 1.5, "WEBP": 5.0, "BMP": 1.2, "GIF": 1.5}


def _pixel_bytes(img: Image.Image) -> int:
    per_band = 2 if "16" in img.mode else 4 if img.mode in ("I", "F") else 1
    return img.width * img.height * len(img.getbands()) * per_band


def _png_rows_complete(data: bytes, img: Image.Image) -> None:
    """Refuse a PNG whose compressed pixel data ends before its last row (Pillow fills the rest with zeros,
    so a 300-byte file could claim 8000 x 8000 pixels). Decompresses the data once, 1 MB at a time."""
    pos, idat, header = 8, [], b""
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(header) < 13:
        raise UnsupportedContent("PNG has no valid IHDR header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[:13])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] \
        if interlace else [(0, 0, 1, 1)]
    expected = 0
    for x0, y0, dx, dy in passes:
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w and h:
            expected += h * (1 + (w * channels * depth + 7) // 8)
    inflater, produced = zlib.decompressobj(), 0
    for chunk in idat:
        while chunk and produced < expected:
            produced += len(inflater.decompress(chunk, 1 << 20))
            chunk = inflater.unconsumed_tail
        if produced >= expected:
            break
    if produced < expected:
        rows = produced * height // max(1, expected)
        raise UnsupportedContent(f"PNG pixel data is truncated: it holds about {rows} of its {height} rows; "
                                 "send the complete file")


def decode_image(data: bytes, max_pixels: int, work_side: int = WORK_SIDE) -> tuple[Image.Image, str]:
    """Open, bound-check and decode an image to RGB at no more than `work_side` pixels a side.

    The cost of one image is bounded whatever its header claims: JPEGs are decoded at a reduced scale
    (draft mode) with a bounded number of progressive scans, other formats only when their pixels fit
    `DECODE_BUDGET`, truncated pixel data is refused, and colour conversion happens after scaling down.
    Animated and multi-page files are refused."""
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
            if img.format == "JPEG":
                scans = data.count(b"\xff\xda")
                if scans > MAX_JPEG_SCANS:
                    raise UnsupportedContent(f"JPEG has {scans} progressive scans, over the limit of "
                                             f"{MAX_JPEG_SCANS}; re-encode it (a normal JPEG has at most about 12)")
                img.draft("RGB", (work_side, work_side))
            elif (cost := int(_pixel_bytes(img) * DECODE_OVERHEAD.get(img.format or "", 2.0))) > DECODE_BUDGET:
                raise ContentTooLarge(
                    f"{img.format} image of {width}x{height} {img.mode} pixels needs about {cost // 2**20} MB "
                    f"to decode, over the limit of {DECODE_BUDGET // 2**20} MB; send it as a JPEG or scale it down")
            elif img.format == "PNG":
                _png_rows_complete(data, img)
            img.load()
            if max(img.size) > work_side:  # Pillow's reduce() takes no 16-bit modes: resize those directly
                gap = None if img.mode.startswith("I;16") else 2.0
                img.thumbnail((work_side, work_side), Image.Resampling.BICUBIC, reducing_gap=gap)
    except (ContentTooLarge, UnsupportedContent):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ContentTooLarge(f"image refused as a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
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
