"""Find pictures pasted into a larger picture: axis-aligned rectangles whose four sides are straight edges.

A copy placed in a collage, a mock-up, a screenshot or a social-media frame keeps its rectangular outline:
each side is a straight line along which the brightness or the colour steps from the copy to whatever
surrounds it. When the copy has little detail of its own (a gradient, a sky, a paper texture) and the picture
around it has much, neither its local features nor the embeddings of the query's regions find it; cut out
along that outline it is a whole picture again, which the whole-picture comparisons match like a resized copy.

The search is on the picture reduced to `SIDE` pixels: rows (columns) where a run of strong vertical
(horizontal) steps, in brightness or in one colour channel, is long are side candidates; a row and a column
that meet at an end of each make a corner, and the rectangle reaches from it to a parallel line, the end of
the run or the picture's own border (a copy pasted against it) on each axis. Every side off the border must
be edge along most of its length. The best few by how much of their outline is edge are returned, as boxes
in fractions of the picture.
"""

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from matcher.image.embed import Box

SIDE = 384  # the picture is searched at this long side
MIN_STEP = 12.0  # grey levels a side's brightness step must reach (Sobel, normalised per pixel)
MIN_COLOUR_STEP = 18.0  # or its step in one colour channel (red, green or blue)
GAP = 6  # pixels a side's run may skip (where copy and surroundings happen to match)
MIN_SIDE = 0.2  # the shortest side a rectangle may have, as a share of the picture's side
MAX_AREA = 0.85  # larger rectangles are the picture itself (or its border: `dense.unframed` handles those)
TOLERANCE = 0.03  # how far (share of the side) two parallel sides' runs may start and end apart
MIN_SIDE_SUPPORT = 0.5  # share of each side (not on the picture's border) that must be edge
MIN_SUPPORT = 0.75  # and of the whole outline off the border
MAX_INSETS = 2
MAX_COORDS = 24  # candidate positions a side may take on each axis (24^4 rectangles scored at once)



def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int, int]]:
    """(row, start, end) of every run of True along the rows of `mask` at least a fifth of a row long, gaps of
    up to `GAP` pixels bridged."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    diff = np.diff(padded, axis=1)
    # each row's runs start where it steps up and end where it steps down, in order (the padding closes them)
    rows, starts = np.nonzero(diff == 1)
    _, ends = np.nonzero(diff == -1)
    if not len(rows):
        return []
    # a run that follows the previous one on its row after a gap of at most GAP continues it
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (starts[1:] - ends[:-1] > GAP)
    heads = np.flatnonzero(first)
    tails = np.append(heads[1:], len(rows)) - 1
    rows, starts, ends = rows[heads], starts[heads], ends[tails]
    long = ends - starts >= MIN_SIDE * w
    return [(int(r), int(s), int(e)) for r, s, e in zip(rows[long], starts[long], ends[long], strict=True)]


def _lines(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Runs on neighbouring rows (an edge two pixels thick) merged into one line: the longest of them."""
    runs = sorted(runs)
    merged: list[tuple[int, int, int]] = []
    for row, start, end in runs:
        if merged and row - merged[-1][0] <= 2 and min(end, merged[-1][2]) - max(start, merged[-1][1]) > 0:
            if end - start > merged[-1][2] - merged[-1][1]:
                merged[-1] = (row, start, end)
            continue
        merged.append((row, start, end))
    return merged


def insets(img: Image.Image) -> list[Box]:
    """Rectangles pasted into the picture, best supported first (at most `MAX_INSETS`)."""
    small = img.convert("RGB")
    small.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
    colour = np.asarray(small, np.float32)
    h, w = colour.shape[:2]
    if min(h, w) < 32:
        return []
    # a step in brightness or in any colour channel: a copy and its surroundings may share a brightness and
    # differ in colour (a cream paper on white, a dark violet sky beside a dark brown robe); the brightness is
    # scaled so that one floor serves it and the channels
    gray = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY) * (MIN_COLOUR_STEP / MIN_STEP)
    horizontal = np.zeros((h, w), bool)  # a step between rows
    vertical = np.zeros((h, w), bool)
    for plane in (gray, *cv2.split(colour)):
        gx = np.abs(cv2.Sobel(plane, cv2.CV_32F, 1, 0, ksize=3)) / 4.0
        gy = np.abs(cv2.Sobel(plane, cv2.CV_32F, 0, 1, ksize=3)) / 4.0
        horizontal |= (gy >= MIN_COLOUR_STEP) & (gy > 2 * gx)
        vertical |= (gx >= MIN_COLOUR_STEP) & (gx > 2 * gy)
    # an edge between two rows of the reduced picture falls on either (the copy's outline is rarely on the
    # grid): runs are followed, and sides scored, on the edges widened to both
    near_h, near_v = _thicken(horizontal, axis=0), _thicken(vertical, axis=1)
    rows = _by_length(_lines(_runs(near_h > 0)))
    cols = _by_length(_lines(_runs((near_v > 0).T)))
    xs = _coordinates([c[0] for c in cols], [e for r in rows for e in (r[1], r[2] - 1)], w)
    ys = _coordinates([r[0] for r in rows], [e for c in cols for e in (c[1], c[2] - 1)], h)
    score, left, right, top, bottom = _scores(near_h, near_v, xs, ys)
    out: list[Box] = []
    for flat in np.argsort(-score, axis=None)[:200]:
        if score.flat[flat] <= 0:
            break
        pair_x, pair_y = np.unravel_index(flat, score.shape)
        li, ri, ti, bi = int(left[pair_x]), int(right[pair_x]), int(top[pair_y]), int(bottom[pair_y])
        box = (xs[li] / w, ys[ti] / h, (xs[ri] + 1) / w, (ys[bi] + 1) / h)
        if all(_iou(box, other) < 0.5 for other in out):
            out.append(box)
        if len(out) == MAX_INSETS:
            break
    return out


def _by_length(lines: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The longest lines first: where sides are looked for is capped (`MAX_COORDS`), and a busy picture has
    more short edges than that."""
    return sorted(lines, key=lambda line: -(line[2] - line[1]))  # (row, start, end)


def _pairs(coords: npt.NDArray[np.intp], side: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The (low, high) index pairs of `coords` far enough apart to be two sides of a rectangle (`MIN_SIDE`)."""
    low, high = np.nonzero(coords[None, :] - coords[:, None] + 1 >= MIN_SIDE * side)
    return low, high


def _scores(near_h: npt.NDArray[np.float64], near_v: npt.NDArray[np.float64], xs: npt.NDArray[np.intp],
            ys: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.intp],
                                               npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """For every rectangle with sides at `xs` (left, right) and `ys` (top, bottom) at least `MIN_SIDE` apart:
    the share of its outline off the picture's border that is edge, or 0 when a side off the border is edge
    along less than `MIN_SIDE_SUPPORT` of its length, the rectangle is too large or the outline is edge along
    less than `MIN_SUPPORT`; indexed [column pair, row pair], returned with the pairs (left, right, top,
    bottom indices into `xs` and `ys`). Side supports come from prefix sums, so every rectangle costs the same."""
    h, w = near_h.shape
    left, right = _pairs(xs, w)
    top, bottom = _pairs(ys, h)
    hx = np.concatenate([np.zeros((len(ys), 1)), np.cumsum(near_h[ys], axis=1)], axis=1)  # (ny, w + 1)
    vy = np.concatenate([np.zeros((1, len(xs))), np.cumsum(near_v[:, xs], axis=0)], axis=0)  # (h + 1, nx)
    width = (xs[right] - xs[left] + 1).astype(np.float64)
    height = (ys[bottom] - ys[top] + 1).astype(np.float64)
    horiz = (hx[:, xs[right] + 1] - hx[:, xs[left]]) / width  # [row y, column pair]
    vert = (vy[ys[bottom] + 1] - vy[ys[top]]) / height[:, None]  # [row pair, column x]
    sides = (horiz[top].T, horiz[bottom].T, vert[:, left].T, vert[:, right].T)  # each [column pair, row pair]
    borders = ((ys[top] <= 2)[None, :], (ys[bottom] >= h - 3)[None, :],
               (xs[left] <= 2)[:, None], (xs[right] >= w - 3)[:, None])
    shape = (len(left), len(top))
    ok = (width[:, None] * height[None, :]) <= MAX_AREA * w * h
    total, count = np.zeros(shape), np.zeros(shape)
    for support, border in zip(sides, borders, strict=True):
        ok &= border | (support >= MIN_SIDE_SUPPORT)
        total += np.where(border, 0.0, support)
        count += ~border
    ok &= count >= 2
    score = np.where(ok, total / np.maximum(count, 1), 0.0)
    score[score < MIN_SUPPORT] = 0.0
    return score, left, right, top, bottom


def _coordinates(lines: list[int], ends: list[int], side: int) -> npt.NDArray[np.intp]:
    """Where a side may lie on one axis: the lines, the ends of the perpendicular lines' runs and the picture's
    border; values within 2 pixels of one another merged (a line wins over a run's end), at most `MAX_COORDS`."""
    picked: list[int] = []
    for value in [0, side - 1, *lines, *ends]:
        value = min(max(value, 0), side - 1)
        if all(abs(value - p) > 2 for p in picked):
            picked.append(value)
        if len(picked) == MAX_COORDS:
            break
    return np.array(sorted(picked), dtype=np.intp)


def _thicken(mask: npt.NDArray[np.bool_], axis: int) -> npt.NDArray[np.float64]:
    """`mask` with each pixel also set where its neighbour across a line (along `axis`) is set."""
    out = mask.copy()
    if axis == 0:
        out[1:] |= mask[:-1]
        out[:-1] |= mask[1:]
    else:
        out[:, 1:] |= mask[:, :-1]
        out[:, :-1] |= mask[:, 1:]
    return out.astype(np.float64)


def _iou(a: Box, b: Box) -> float:
    """Intersection over union: a rectangle inside another (a picture's own frame inside the pasted copy)
    is a different candidate, a rectangle a pixel or two off is the same."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0
