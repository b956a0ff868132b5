"""Evidence as a person reads it: copied passages marked in both texts, matched regions outlined on images."""

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec


class Piece(msgspec.Struct, frozen=True):
    text: str
    marked: bool


class Excerpt(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of a text shown on the page; `cut_before`/`cut_after` say whether text was left out."""

    pieces: list[Piece]
    cut_before: bool
    cut_after: bool


class Box(msgspec.Struct, frozen=True, kw_only=True):
    """A region as fractions of the image's width and height (x, y of the top-left corner)."""

    x: float
    y: float
    w: float
    h: float


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def excerpts(text: str, spans: Iterable[tuple[int, int]], *, context: int = 200,
             whole_below: int = 3000) -> list[Excerpt]:
    """`text` cut into the windows around the marked character `spans` (the whole text when short)."""
    marked = [(max(0, a), min(len(text), b)) for a, b in merge(spans)]
    if len(text) <= whole_below or not marked:
        windows = [(0, min(len(text), whole_below))]
    else:
        windows = merge((max(0, a - context), min(len(text), b + context)) for a, b in marked)
    result = []
    for lo, hi in windows:
        pieces, pos = [], lo
        for a, b in marked:
            a, b = max(a, lo), min(b, hi)
            if b <= a:
                continue
            if a > pos:
                pieces.append(Piece(text[pos:a], False))
            pieces.append(Piece(text[a:b], True))
            pos = b
        if pos < hi:
            pieces.append(Piece(text[pos:hi], False))
        result.append(Excerpt(pieces=pieces, cut_before=lo > 0, cut_after=hi < len(text)))
    return result


def passages(evidence: Mapping[str, Any], side: str) -> list[tuple[int, int]]:
    """Character spans of the copied passages in the output (`side="q"`) or the work (`side="w"`)."""
    spans = []
    for p in evidence.get("passages") or []:
        chars = p.get(f"{side}_chars")
        if isinstance(chars, list | tuple) and len(chars) == 2:
            spans.append((int(chars[0]), int(chars[1])))
    return spans


def region(evidence: Mapping[str, Any], side: str) -> Box | None:
    """The matched region in the output (`side="query"`) or the work (`side="work"`), if SIFT verified it."""
    geometry = evidence.get("geometry") or {}
    box = geometry.get(f"{side}_box")
    if not isinstance(box, list | tuple) or len(box) != 4:
        return None
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    return Box(x=x0, y=y0, w=max(0.0, x1 - x0), h=max(0.0, y1 - y0))


def summary(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The evidence as labelled figures, in the order a reviewer reads them."""
    rows: list[tuple[str, str]] = []
    if evidence.get("signal") == "text":
        rows.append(("Copied words", f"{evidence.get('copied_words')} of the output's {evidence.get('query_words')}"))
        rows.append(("Share of the output", f"{100 * float(evidence.get('query_share') or 0):.0f}%"))
        rows.append(("Longest passage", f"{evidence.get('longest_passage_words')} words "
                                        f"({evidence.get('longest_verbatim_words')} word for word)"))
        rows.append(("Passages", str(len(evidence.get("passages") or []))))
        if evidence.get("boilerplate_words"):
            rows.append(("Common boilerplate, not counted", f"{evidence['boilerplate_words']} words"))
        return rows
    if evidence.get("exact_pixels"):
        rows.append(("Pixels", "identical"))
    if evidence.get("pdq_distance") is not None:
        rows.append(("PDQ distance", f"{evidence['pdq_distance']} of 256 bits"))
    if evidence.get("phash_distance") is not None:
        rows.append(("pHash distance", f"{evidence['phash_distance']} of 64 bits"))
    if evidence.get("cosine") is not None:
        rows.append(("Embedding similarity", f"{float(evidence['cosine']):.3f}"))
    geometry = evidence.get("geometry")
    if geometry:
        rows.append(("Matching local features", f"{geometry.get('inliers')} (RANSAC inliers)"))
        if geometry.get("scale") is not None:
            rows.append(("Scale", f"{float(geometry['scale']):.2f}x"))
        if geometry.get("rotation_deg") is not None:
            rows.append(("Rotation", f"{round(float(geometry['rotation_deg']))}°"))
        if geometry.get("mirrored"):
            rows.append(("Mirrored", "yes"))
    return rows
