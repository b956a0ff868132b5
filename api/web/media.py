"""Renditions of images for pages: re-encoded and scaled down, never the enrolled bytes themselves.

A rendition is decoded and written anew by Pillow, so a page never hands the browser an uploaded file as it
came (no polyglots, no metadata); renditions are cached on disk by content hash and size.
"""

import io
import threading
from pathlib import Path

from PIL import Image

SIZES = {"thumb": 320, "view": 1024}


def rendition(data: bytes, sha256: str, size: str, cache_dir: Path) -> bytes:
    """`data` (an image already accepted by the registry) as a JPEG of at most SIZES[size] pixels a side."""
    edge = SIZES[size]
    path = cache_dir / f"{sha256}-{edge}.jpg"
    if path.exists():
        return path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (edge, edge))  # a JPEG is decoded at a reduced scale: a rendition never needs more
        frame = img.convert("RGB")  # as the matcher saw it (no EXIF rotation), so evidence boxes line up
        frame.thumbnail((edge, edge))
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=85)
    encoded = out.getvalue()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
    tmp.write_bytes(encoded)
    tmp.replace(path)
    return encoded


def dimensions(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size
