"""ISCC codes (ISO 24138) of a work, computed offline with `iscc-core`, and an index of their Content-Codes.

A work's ISCC-CODE joins three units: the Content-Code (Image: a DCT hash of the picture at 32 x 32 gray;
Text: a MinHash-based similarity hash of the collapsed text), the Data-Code (content-defined chunks of the
bytes) and the Instance-Code (BLAKE3 of the bytes). No Meta-Code: it would hash the title, which a creator
may keep private. Images are normalised as `iscc-sdk` does (EXIF orientation already applied by the decoder,
transparency on white, uniform border trimmed, gray, 32 x 32 bicubic), so a code another ISCC tool made from
the same file lands within a few bits. The Content-Code is what copies share: `CodeIndex` finds the works
whose 64-bit Content-Code of the same kind is within a Hamming distance (exact, brute force over a numpy
array, about 1 ms per 100,000 codes).
"""

import io
import threading

import iscc_core
import msgspec
import numpy as np
from PIL import Image, ImageChops

from registry.content import Content
from registry.errors import InvalidInput
from registry.models import WorkKind

# How far apart two Content-Codes may be for a code-only match, per kind: the largest distance at which, on the
# calibration half of the development data, an index of 100,000 unrelated works would hold under 0.05 codes
# that close to a query (extrapolated from the tail of 71,251 image and 213,763 text pairs by
# `python -m scripts.calibrate_iscc`); copies caught there: images 0.80-0.98 by edit, texts 0.90-1.00.
ISCC_MAX_DISTANCE = {WorkKind.IMAGE: 4, WorkKind.TEXT: 6}
_SUBTYPE_KIND = {iscc_core.ST_CC.IMAGE: WorkKind.IMAGE, iscc_core.ST_CC.TEXT: WorkKind.TEXT}


class IsccCodes(msgspec.Struct, frozen=True, kw_only=True):
    """A work's ISCC-CODE and its units (each a canonical `ISCC:` string)."""

    iscc: str
    content: str
    data: str
    instance: str


def _image_pixels(image: Image.Image) -> list[int]:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("RGB")
    corner = Image.new("RGB", flat.size, flat.getpixel((0, 0)))
    box = ImageChops.difference(flat, corner).getbbox()
    if box and box != (0, 0, *flat.size):
        flat = flat.crop(box)
    gray = flat.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return list(np.asarray(gray, dtype=np.uint8).ravel().tolist())


def content_code(content: Content) -> str:
    """The ISCC Content-Code (64 bits) of an image or a text."""
    if content.kind == WorkKind.IMAGE:
        return str(iscc_core.gen_image_code_v0(_image_pixels(content.image), bits=64)["iscc"])
    if content.kind == WorkKind.TEXT:
        return str(iscc_core.gen_text_code_v0(content.text, bits=64)["iscc"])
    raise InvalidInput(f"no ISCC Content-Code for {content.kind.value} content")


def iscc_codes(content: Content) -> IsccCodes:
    """The ISCC-CODE of `content` (Content, Data and Instance units) and each unit."""
    unit = content_code(content)
    data = str(iscc_core.gen_data_code_v0(io.BytesIO(content.data), bits=64)["iscc"])
    instance = str(iscc_core.gen_instance_code_v0(io.BytesIO(content.data), bits=64)["iscc"])
    code = str(iscc_core.gen_iscc_code_v0([unit, data, instance])["iscc"])
    return IsccCodes(iscc=code, content=unit, data=data, instance=instance)


def content_code_of(kind: WorkKind, body: int) -> str:
    """The canonical Content-Code (without its `ISCC:` prefix) of a 64-bit body of `kind`."""
    subtype = next(st for st, k in _SUBTYPE_KIND.items() if k == kind)
    return str(iscc_core.encode_component(mtype=iscc_core.MT.CONTENT, stype=subtype, version=iscc_core.VS.V0,
                                          bit_length=64, digest=body.to_bytes(8, "big")))


def iscc_units(code: str) -> dict[str, str]:
    """The units of an ISCC-CODE by name (`content`, `data`, `instance`), each a canonical `ISCC:` string."""
    names = {iscc_core.MT.META: "meta", iscc_core.MT.CONTENT: "content", iscc_core.MT.DATA: "data",
             iscc_core.MT.INSTANCE: "instance"}
    units = {}
    for unit in iscc_core.iscc_decompose(code):
        maintype = iscc_core.iscc_decode(unit)[0]
        units[names.get(maintype, str(maintype))] = "ISCC:" + unit.removeprefix("ISCC:")
    return units


def content_unit(code: str) -> tuple[WorkKind, int]:
    """The kind and the 64-bit body of the Content-Code in `code`: a Content-Code itself or an ISCC-CODE that
    holds one. InvalidInput, saying what to send, for anything else."""
    text = code.strip()
    try:
        canonical = iscc_core.iscc_normalize(text)
        units = iscc_core.iscc_decompose(canonical)
    except Exception as exc:  # iscc-core raises ValueError and others for malformed codes
        raise InvalidInput(f"{text[:80]!r} is not a valid ISCC code ({exc}); send an ISCC-CODE or its "
                           "Content-Code, e.g. ISCC:EEA...") from None
    for unit in units:
        maintype, subtype, _version, _length, digest = iscc_core.iscc_decode(unit)
        if maintype == iscc_core.MT.CONTENT:
            kind = _SUBTYPE_KIND.get(subtype)
            if kind is None:
                raise InvalidInput(f"the ISCC's Content-Code is for {iscc_core.ST_CC(subtype).name.lower()} "
                                   "content; this registry holds images and texts")
            if len(digest) < 8:
                raise InvalidInput("the ISCC's Content-Code is shorter than 64 bits")
            return kind, int.from_bytes(digest[:8], "big")
    raise InvalidInput(f"{text[:80]!r} holds no Content-Code (only Meta, Data or Instance units): matching "
                       "needs the content's similarity hash; send the full ISCC-CODE or its Content-Code")


class CodeIndex:
    """Content-Code bodies by work, per kind: every work within a Hamming distance, nearest first. Adds and
    removals edit Python lists (O(1)); the numpy array a search scans is rebuilt once after them."""

    def __init__(self) -> None:
        self._ids: dict[WorkKind, list[str]] = {}
        self._bodies: dict[WorkKind, list[int]] = {}
        self._arrays: dict[WorkKind, np.ndarray] = {}  # a kind is missing here when its lists changed
        self._where: dict[str, tuple[WorkKind, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._where)

    def has(self, work_id: str) -> bool:
        return work_id in self._where

    def add(self, work_id: str, code: str) -> None:
        kind, body = content_unit(code)
        with self._lock:
            self._remove(work_id)
            ids, bodies = self._ids.setdefault(kind, []), self._bodies.setdefault(kind, [])
            self._where[work_id] = (kind, len(ids))
            ids.append(work_id)
            bodies.append(body)
            self._arrays.pop(kind, None)

    def remove(self, work_id: str) -> None:
        with self._lock:
            self._remove(work_id)

    def _remove(self, work_id: str) -> None:
        found = self._where.pop(work_id, None)
        if found is None:
            return
        kind, pos = found
        ids, bodies = self._ids[kind], self._bodies[kind]
        last_id, last_body = ids.pop(), bodies.pop()
        if pos < len(ids):  # move the last entry into the hole
            ids[pos], bodies[pos] = last_id, last_body
            self._where[last_id] = (kind, pos)
        self._arrays.pop(kind, None)

    def near(self, code: str) -> list[tuple[str, int]]:
        """(work id, distance) of the works whose Content-Code is within the calibrated distance of the one in
        `code` (`ISCC_MAX_DISTANCE` for its kind), nearest first."""
        kind, body = content_unit(code)
        return self.search(kind, body, ISCC_MAX_DISTANCE[kind])

    def search(self, kind: WorkKind, body: int, max_distance: int) -> list[tuple[str, int]]:
        """(work id, Hamming distance) of every code of `kind` within `max_distance` bits, nearest first."""
        with self._lock:
            if not self._bodies.get(kind):
                return []
            codes = self._arrays.get(kind)
            if codes is None:
                codes = self._arrays[kind] = np.array(self._bodies[kind], dtype=np.uint64)
            distances = np.bitwise_count(codes ^ np.uint64(body))
            hits = np.flatnonzero(distances <= max_distance)
            order = hits[np.argsort(distances[hits], kind="stable")]
            return [(self._ids[kind][i], int(distances[i])) for i in order]
