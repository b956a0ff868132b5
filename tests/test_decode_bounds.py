"""One image cannot cost more than its bound: headers that lie, truncated pixel data, endless progressive
scans and huge images are refused or decoded at a reduced size. (Time and memory are measured by
`benchmarks/bench_decode.py`, not asserted here.)"""

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image

from registry.content import load_content
from registry.errors import ContentTooLarge, UnsupportedContent
from registry.formats import image as image_format

LIMITS: dict[str, Any] = {"max_pixels": 64_000_000, "max_text_chars": 1000}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def lying_png(width: int, height: int, rows: int, interlace: int = 0) -> bytes:
    raw = b"".join(b"\x00" + b"\x80" * (width * 3) for _ in range(rows))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def test_a_png_whose_header_claims_more_rows_than_it_holds_is_refused() -> None:
    data = lying_png(8000, 8000, 10)
    assert len(data) < 1000
    with pytest.raises(UnsupportedContent, match="truncated: it holds about 10 of its 8000 rows"):
        load_content(data, **LIMITS)


def test_complete_pngs_pass_the_row_check_interlaced_or_not() -> None:
    for interlace in (False, True):
        buf = io.BytesIO()
        rgba = np.random.default_rng(1).integers(0, 255, (301, 257, 4), dtype=np.uint8)
        Image.fromarray(rgba, "RGBA").save(buf, "PNG", interlace=interlace)
        assert load_content(buf.getvalue(), **LIMITS).image.size == (257, 301)
    for mode in ("1", "L", "P", "I;16", "LA"):
        for size in ((333, 77), (5000, 4000)):  # small, and large enough to be scaled down in steps
            buf = io.BytesIO()
            Image.new(mode, size).save(buf, "PNG")
            assert load_content(buf.getvalue(), **LIMITS).image.mode == "RGB", (mode, size)


def test_a_progressive_jpeg_with_thousands_of_scans_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    bomb = data[:last_scan] + data[last_scan:-2] * 2000 + b"\xff\xd9"
    with pytest.raises(UnsupportedContent, match="JPEG has 2009 progressive scans, over the limit of 64"):
        load_content(bomb, **LIMITS)
    assert load_content(data, **LIMITS).image.size == (64, 64)  # an ordinary progressive JPEG is fine


def test_large_images_are_fingerprinted_at_a_bounded_size() -> None:
    noise = np.random.default_rng(2).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    for fmt in ("JPEG", "PNG", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, fmt, quality=80)
        content = load_content(buf.getvalue(), **LIMITS)
        assert content.image.size == (1024, 768), fmt
        assert content.media_type.startswith("image/")


def test_formats_decoded_whole_must_fit_the_pixel_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_format, "DECODE_BUDGET", 1_000_000)
    buf = io.BytesIO()
    Image.new("I;16", (1000, 600)).save(buf, "PNG")  # 1.2 MB of 16-bit pixels, 1.8 MB to decode
    with pytest.raises(ContentTooLarge, match="needs about 1 MB to decode, over the limit of 0 MB"):
        load_content(buf.getvalue(), **LIMITS)
    jpeg = io.BytesIO()
    Image.new("RGB", (1000, 600)).save(jpeg, "JPEG")  # a JPEG is decoded at a reduced scale instead
    assert load_content(jpeg.getvalue(), **LIMITS).image.size == (1000, 600)
