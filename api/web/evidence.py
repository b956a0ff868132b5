"""The pieces of evidence pages: texts cut into marked excerpts, regions as fractions of an image, the pair."""

from collections.abc import Iterable

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


class Pair(msgspec.Struct, kw_only=True):
    """The output beside the work, for one match; the work's side is filled only for its owner."""

    work_id: str
    output_dims: tuple[int, int] | None = None
    output_box: Box | None = None
    output_excerpts: list[Excerpt] | None = None
    work_dims: tuple[int, int] | None = None
    work_box: Box | None = None
    work_excerpts: list[Excerpt] | None = None
