"""Dense verification of a candidate pair without keypoints: smooth, abstract and dark pictures.

SIFT verifies a copy by matching keypoints, and a gradient wallpaper, a soft render or a nebula on black has
too few stable ones. This module aligns the two pictures at low resolution instead and compares them pixel
by pixel, as a copy-detection system does for such images:

- the whole picture in each of its eight dihedral orientations (also without a uniform border, when the query
  has one: padding, letterboxing, a frame), whole and block by block, and, upright, a few small rotations
  (resized, mirrored, rotated, recoloured, blurred, re-encoded, padded or partly covered copies); a fit that
  also holds with the work turned well away (one disc on another) is discounted;
- the smaller picture slid over the larger at a range of scales with OpenCV's template matching (a copy
  placed into a larger picture, a crop cut out of the work), on thumbnails whose short side is at least
  `PLACE_MIN_SIDE` (a wide picture's is taken from its fine thumbnail); a fit that also holds a few pixels
  away from its peak (a horizon against any straight edge) or turned in its window (a disc's rim) is
  discounted;
- a work too small there for a template (pasted at under about half a picture's width) located on the fine
  thumbnails (`FINE_SIDE`) at a coarser grid of scales;
- that placement refined on larger thumbnails (`FINE_SIDE`) by an affine warp that maximises the correlation
  (OpenCV's ECC), then compared block by block (`aligned`): the grid's scale and position are only as good as
  a 96-px thumbnail, and a crop of a flat sky or a paper texture correlates almost perfectly once aligned to
  a fraction of a pixel, while a look-alike that fitted one shape does not fit the rest; a fit that also
  holds once turned (one disc on another) is discounted as the shifted one is.

All compare band-pass images (the picture minus its smooth trend, at a few pixels' scale) by normalised
cross-correlation, robust to the pixels a caption or a logo covers. The smooth trend is left out on purpose:
two different sky gradients correlate almost perfectly, their clouds and shapes do not. The three values
("dense": whole, "placed", "aligned") have calibrated curves (`fusion`, `scripts/calibrate_image.py`): steps
just above the largest value any unrelated pair of the calibration half reached, most of them low-detail
look-alikes. The whole-picture comparison's band image, reduced and clipped, is also a work's descriptor in
the `band` index (`descriptor`), which names candidates for these comparisons.
"""

import math
from collections.abc import Callable, Sequence

import cv2
import msgspec
import numpy as np
import numpy.typing as npt
from PIL import Image

THUMB_SIDE = 96  # long side of the stored thumbnail (grayscale, aspect kept)
WHOLE_SIDE = 64  # both pictures are compared whole at this square size
ANGLES = (-9.0, -6.0, -3.0, 3.0, 6.0, 9.0)  # small rotations tried on the upright query
SCALES = tuple(min(1.0, round(0.36 * 1.09**i, 3)) for i in range(13))  # placement: smaller side / larger, 0.36-1
COARSE = (1.0, 4.0)  # the band (Gaussian sigmas) the placement's scale grid is searched in
FINE = (0.7, 3.0)  # the band the best scale is refined and scored in
MIN_COARSE_PEAK = 0.45  # a placement whose coarse search peaks lower has no value (copies peak far higher)
MIN_ALIGN_PEAK = 0.3  # but is still located for the refinement (`aligned`) down to this peak
REFINE = (0.955, 0.97, 0.985, 1.0, 1.015, 1.03, 1.045)  # steps around the best scale of the grid
TRIM = 0.12  # share of the pixels with the largest residual left out of the correlation (covered parts)
MIN_WINDOW_ENERGY = 0.3  # share of the template's detail a window must hold to be scored
MIN_TEMPLATE = 28  # smallest template side (interior pixels) slid over a picture: smaller ones fit look-alikes
RIDGE_SHIFT = 4  # pixels away from a placement's peak where a unique fit has lost its correlation
RIDGE_WEIGHT = 0.5  # how much of the correlation left there is taken off the peak
BLOCKS = 4  # the whole pictures are also compared block by block, BLOCKS x BLOCKS
MIN_BLOCKS = 6  # blocks with detail needed for that comparison
WHOLE_AGREEMENT = 0.1  # how far the whole pictures' correlation may exceed their blocks' (`_agreed`)
FRAME_SIDE = 256  # a uniform border is looked for on the picture reduced to about this size
FRAME_TOLERANCE = 3.0  # grey levels a border line may vary by along its length
FRAME_DRIFT = 1.5  # and its colour from the outermost line's (a gradient's rows drift further)
FRAME_MIN = 0.02  # the smallest border, as a share of the long side, that counts
ROBUST_ORIENTATIONS = 3  # orientations (of the query as it is and without its border, together), best by plain
# correlation, compared robustly (trimmed, block by block)
MIN_ENERGY = 0.4  # band-pass standard deviation (grey levels) below which a picture has nothing to compare
FINE_SIDE = 192  # long side of the second stored thumbnail, where a placement is refined (`aligned`)
SMALL_SCALE_STEP = 2  # a work too small for a template on the thumbnail is located on the fine thumbnails at
# every other scale of `SCALES`: ECC (`aligned`) corrects a scale 9% off, and the 192-px searches cost little
# this way (calibration half, low-detail works pasted at 40-60% of a picture's width: 33 of 44 refined above the
# curve's step, 20 when searched on the thumbnail only, 30 when each fine location was also refined in steps)
PLACE_MIN_SIDE = 64  # placements are searched on the thumbnail, or on the fine one reduced to this short side
# when the thumbnail's is shorter (a wide picture: a 16:9 wallpaper's thumbnail is 96 x 54, and half of it
# would leave a template under `MIN_TEMPLATE`)
ALIGN_BAND = (1.0, 4.0)  # the band the refinement aligns in
ALIGN_ITERATIONS = 20  # ECC's steps: a placement off by a pixel or two and a few percent converges in fewer
ALIGN_GRID = 8  # the aligned pictures are compared block by block, ALIGN_GRID x ALIGN_GRID, in the fine band
ALIGN_QUANTILE = 0.25  # the value is this quantile of the blocks' correlations: most of the picture must agree
ALIGN_MIN_BLOCKS = 16  # blocks with detail needed
ALIGN_MIN_TEMPLATE = 3 * ALIGN_GRID  # the smallest refined template (interior pixels): blocks of 3 px; a work
# located on the fine thumbnails is located with templates this small too (a 2:1 sky at 40% of a width)
ALIGN_MIN_ENERGY = MIN_ENERGY / 2  # the least band-pass detail (grey levels) a refined template needs: a faint
# paper brightened until half its pixels are white keeps its grain at a third of a grey level at 192 px
# (correlating at 0.84 with the work's there); the blocks still need `MIN_ENERGY` on one side to count
ALIGN_MAX_SCALE_CHANGE = math.log(1.5)  # how far the refinement may move the placement's scale (and skew it)
ALIGN_MAX_SKEW = 0.1
ALIGN_MAX_ROTATION = math.radians(10)  # and rotate it: the search placed it upright, a copy turned further is
# compared whole (`ANGLES`); a disc (a moon, a planet) fits another disc at any angle
ALIGN_ORIENTATIONS = 1  # the whole pictures are refined in the query's best few orientations
ALIGN_TURN = 8.0  # degrees the refined placement is also turned by, about the detail's centre (see `aligned`)
WHOLE_TURN = 30.0  # degrees the work is turned by about its centre to test a whole-picture fit (see `_round_fit`):
# a copy's detail moves by several pixels there (a point 20 px from the centre by 10), a disc fits itself
ROUND_FREE = 0.5  # how much of a whole fit may hold with the work turned before it is taken off: a copy of a
# picture brighter around a sun or a planet keeps 0.35-0.55 of its fit turned (calibration half), two discs of one
# size (a moon and a retina photograph, two synthetic moons) 0.8-0.85, a perfect disc's copy all of it
ROUND_TEST_FROM = 0.5  # a fit (whole or placed) under this is far under its calibrated step (0.81, 0.885): not tested
DESCRIPTOR_SIDE = 16  # the band-pass image at the comparison size, reduced to this square, is a work's
# descriptor in the `band` index: candidates for the whole-picture comparison that the embedding does not name
DESCRIPTOR_DIM = DESCRIPTOR_SIDE * DESCRIPTOR_SIDE
DESCRIPTOR_CLIP = 3.0  # its values clipped at this many robust deviations (a caption box's edge is one shape)
DESCRIPTOR_MIN_ENERGY = 0.2  # band-pass deviation (grey levels) under which a picture has no descriptor: half
# of `MIN_ENERGY`, as a paper texture darkened by a third falls under that while the refinement at the fine
# size (`aligned_whole`) still sees its grain
FILLED_TURNS = (-6.0, 0.0, 6.0)  # degrees the refinement of a query with filled corners starts turned by
FILL_FLATNESS = 0.5  # grey levels (standard deviation over 5 x 5) under which a corner is a rotation's fill
FILL_TRIANGLE = 0.6  # the largest share of its bounding box a corner's fill may cover (a triangle: a half)
FILL_MIN_SHARE = 0.005  # share of the picture that flat corners must cover, from two corners at least (a turn
# by 4 degrees fills about 10%, of which the flat 5 x 5 neighbourhoods away from the diagonal edge are a tenth)
ALIGN_WHOLE_MAX_ENERGY = 1.0  # and only when one of them has less band-pass detail than this at the comparison
# size (grey levels): its detail is finer than 64 px show (paper grain, film grain); every picture of the
# development data's photographs and art has more, a tenth of its low-detail pictures less
Gray = npt.NDArray[np.float32]


class DenseResult(msgspec.Struct, frozen=True):
    """The best correlation, how it was found ("whole", "blocks", "rotated", "placed" or "aligned"), and for a
    placement the smaller picture's size relative to the larger, where it lies in the larger (x0, y0, x1, y1
    as fractions of the larger's width and height) and whether the work is the smaller one."""

    value: float
    how: str
    scale: float = 1.0
    box: tuple[float, float, float, float] | None = None
    work_inside: bool = False


def thumbnail(img: Image.Image, side: int = THUMB_SIDE) -> npt.NDArray[np.uint8]:
    """The stored form: grayscale, aspect kept, long side `side`."""
    g = img.convert("L")
    factor = max(g.size) // (side * 2)
    if factor >= 2:
        g = g.reduce(factor)  # box filter first: a large original costs what a small one does
    scale = side / max(g.size)
    size = (max(8, round(g.width * scale)), max(8, round(g.height * scale)))
    return np.asarray(g.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR), np.uint8)


def _band(img: Gray, fine: float = FINE[0], coarse: float = FINE[1]) -> Gray:
    """Difference of Gaussians: shapes at a few pixels' scale, without the noise or the smooth trend."""
    out: Gray = cv2.GaussianBlur(img, (0, 0), fine) - cv2.GaussianBlur(img, (0, 0), coarse)
    return out


def unframed(img: Image.Image) -> Image.Image | None:
    """The picture without a uniform border (a frame or padding of one colour on any side), or None when it
    has none: a padded copy is then compared whole, as the work it frames. A flat band of the picture's own
    at an edge (a banded sky) is taken off too; the query is compared both with and without it."""
    g = img.convert("L")
    factor = max(1, max(g.size) // (2 * FRAME_SIDE))
    a = np.asarray(g.reduce(factor) if factor > 1 else g, np.float32)
    h, w = a.shape
    edges = [0, 0, 0, 0]  # lines of border found from the top, bottom, left and right
    for side, lines in enumerate((a, a[::-1], a.T, a.T[::-1])):
        colour = float(lines[0].mean())
        n = 0
        while (n < len(lines) // 3 and lines[n].std() < FRAME_TOLERANCE
               and abs(float(lines[n].mean()) - colour) < FRAME_DRIFT):
            n += 1
        edges[side] = n
    top, bottom, left, right = edges
    if max(edges) < max(2, round(FRAME_MIN * max(h, w))):
        return None
    box = (left * factor, top * factor, (w - right) * factor, (h - bottom) * factor)
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        return None
    return img.crop(box)


def descriptor(thumb: npt.NDArray[np.uint8]) -> Gray:
    """A picture's descriptor for the `band` index (from its thumbnail): what `DenseQuery.whole` compares, as
    one unit vector whose inner products rank the works the way that comparison would. Like the comparison
    it keeps no brightness, contrast or colour (a darkened paper, a recoloured gradient) and no smooth trend
    (two sky gradients); its values are clipped at `DESCRIPTOR_CLIP` robust deviations, so that a caption box
    or a logo, whose edges hold more band-pass energy than a whole flat sky, weighs as one shape among others."""
    return _descriptor(thumb).ravel()


def descriptors(thumb: npt.NDArray[np.uint8], unframed: npt.NDArray[np.uint8] | None = None) -> Gray:
    """The query's descriptors, one row per dihedral orientation of its thumbnail, then of the thumbnail
    without its uniform border when it has one (`unframed`). Squaring, the band-pass and the reduction
    commute with the dihedral turns: each picture's descriptor is computed once and turned."""
    views = [thumb] if unframed is None else [thumb, unframed]
    return np.stack([v.ravel() for t in views for v in _dihedral(_descriptor(t))])


def _descriptor(thumb: npt.NDArray[np.uint8]) -> Gray:
    """`descriptor` as a `DESCRIPTOR_SIDE` square."""
    band = _compared(thumb)
    small = cv2.resize(band, (DESCRIPTOR_SIDE, DESCRIPTOR_SIDE), interpolation=cv2.INTER_AREA)
    centred = small - float(np.median(small))
    deviation = 1.4826 * float(np.median(np.abs(centred)))  # the standard deviation, were it Gaussian
    if deviation <= 0 or _std(band) < DESCRIPTOR_MIN_ENERGY:
        return np.zeros((DESCRIPTOR_SIDE, DESCRIPTOR_SIDE), np.float32)  # no detail any comparison could use
    clipped = np.clip(centred, -DESCRIPTOR_CLIP * deviation, DESCRIPTOR_CLIP * deviation)
    return _unit(clipped.ravel()).reshape(DESCRIPTOR_SIDE, DESCRIPTOR_SIDE)


def _trimmed_ncc(a: Gray, b: Gray, mask: npt.NDArray[np.bool_] | None = None) -> float:
    """Correlation of two equally shaped band-pass images, leaving out the `TRIM` share of pixels that the
    first fit explains worst (a caption box, a logo, a corner the rotation filled)."""
    x, y = a.ravel(), b.ravel()
    if mask is not None:
        x, y = x[mask.ravel()], y[mask.ravel()]
    if len(x) < 16:
        return 0.0
    (mx,), (sx,) = cv2.meanStdDev(x)
    (my,), (sy,) = cv2.meanStdDev(y)
    if sx[0] < MIN_ENERGY or sy[0] < MIN_ENERGY:
        return 0.0
    x = (x - mx[0]) / sx[0]
    y = (y - my[0]) / sy[0]
    residual = np.abs(x * float(np.mean(x * y)) - y)
    cut = int(len(residual) * (1.0 - TRIM))
    keep = residual <= np.partition(residual, cut - 1)[cut - 1]
    x, y = x[keep], y[keep]
    x, y = x - x.mean(), y - y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def _blocks_ncc(a: Gray, b: Gray) -> float:
    """`_blocks_or_none`, 0 when too few blocks have detail."""
    value = _blocks_or_none(a, b)
    return 0.0 if value is None else value


def _agreed(trimmed: float, blocks: float | None) -> float:
    """The whole pictures' trimmed correlation held to within `WHOLE_AGREEMENT` of the block-by-block one,
    when enough blocks have detail to compare: one shape on a flat ground (the Earth rising over the Moon, a
    motion-blurred clock face) fits another's whole at 0.7-0.8 and its blocks under 0.5, while a copy's whole
    and blocks agree (a covered part lowers the whole, not the blocks)."""
    return trimmed if blocks is None else min(trimmed, blocks + WHOLE_AGREEMENT)


def _blocks_or_none(a: Gray, b: Gray) -> float | None:
    """Correlation block by block (BLOCKS x BLOCKS), averaged over the blocks with detail on both sides after
    leaving out the worst quarter: a caption box or logo spoils the blocks it covers, not the others. Square
    pictures of any side (a remainder at the bottom and right is left out); None when fewer than `MIN_BLOCKS`
    blocks have detail on both sides."""
    n = a.shape[0] // BLOCKS
    a, b = a[: n * BLOCKS, : n * BLOCKS], b[: n * BLOCKS, : n * BLOCKS]

    def blocks(img: Gray) -> Gray:
        out = img.reshape(BLOCKS, n, BLOCKS, n).transpose(0, 2, 1, 3).reshape(BLOCKS * BLOCKS, n * n)
        centred: Gray = (out - out.mean(axis=1, keepdims=True)).astype(np.float32)
        return centred

    x, y = blocks(a), blocks(b)
    sx, sy = np.sqrt((x * x).mean(axis=1)), np.sqrt((y * y).mean(axis=1))
    detail = (sx >= MIN_ENERGY) & (sy >= MIN_ENERGY)
    if detail.sum() < MIN_BLOCKS:
        return None
    values = np.sort((x * y).mean(axis=1)[detail] / (sx[detail] * sy[detail]))
    return float(values[len(values) // 4 :].mean())


def _compared(thumb: npt.NDArray[np.uint8]) -> Gray:
    """A thumbnail as the whole-picture comparison sees it: squared to the comparison size, band-passed."""
    return _band(_square(thumb.astype(np.float32)))


def _square(img: Gray) -> Gray:
    out: Gray = np.asarray(cv2.resize(img, (WHOLE_SIDE, WHOLE_SIDE), interpolation=cv2.INTER_AREA), np.float32)
    return out


def _dihedral(img: Gray) -> list[Gray]:
    return [_oriented(img, i) for i in range(8)]


def _oriented(img: Gray, i: int) -> Gray:
    """The picture in the i-th of its eight dihedral orientations: turned i // 2 quarter turns, mirrored if odd."""
    turned = np.rot90(img, i // 2)
    return np.ascontiguousarray(turned[:, ::-1] if i % 2 else turned, dtype=np.float32)


_MISSING: Gray = np.zeros(0, np.float32)
_INNER = slice(round(WHOLE_SIDE * 0.15), WHOLE_SIDE - round(WHOLE_SIDE * 0.15))  # rows or columns of the centre:
_CENTRE = np.zeros((WHOLE_SIDE, WHOLE_SIDE), bool)  # the part a rotation by up to 10 degrees does not fill
_CENTRE[_INNER, _INNER] = True


class DenseQuery:
    """A query prepared once for comparing with every candidate: its thumbnail, the band-pass images of its
    eight dihedral orientations and of its small rotations at the comparison size."""

    def __init__(self, thumb: npt.NDArray[np.uint8], unframed: npt.NDArray[np.uint8] | None = None,
                 fine: npt.NDArray[np.uint8] | None = None) -> None:
        """`unframed`: the thumbnail of the query without the uniform border it was padded with, if any;
        `fine`: its thumbnail at `FINE_SIDE`, where placements are refined (`aligned`)."""
        self.thumb: Gray = thumb.astype(np.float32)
        self.fine = fine
        self.orientations = [_band(_square(v)) for v in _dihedral(self.thumb)]
        if unframed is not None:
            self.orientations += [_band(_square(v)) for v in _dihedral(unframed.astype(np.float32))]
        square = _square(self.thumb)
        self.rotations = [_band(_rotated(square, angle, cv2.BORDER_REPLICATE)) for angle in ANGLES]

        # every orientation and rotation as a zero-mean unit vector (rotations over the centre only), so that
        # one product with a work ranks them all by plain correlation before the costlier robust ones
        self._plain = np.stack([_unit(q.ravel()) for q in self.orientations])
        self._plain_rotated = np.stack([_unit(q[_CENTRE]) for q in self.rotations])
        self.searched = _placement_picture(thumb, fine)
        self._searched = _prepared(self.searched)
        self._own = None if fine is None or not fine.size else _own_pixels(fine)
        self._fine_searched = None if fine is None or not fine.size else _prepared(fine.astype(np.float32))
        self._templates: dict[tuple[float, tuple[float, float]], Gray | None] = {}

    def compare(self, work: npt.NDArray[np.uint8], fine: npt.NDArray[np.uint8] | None = None, *,
                placement: bool = True) -> "DenseValues":
        """The dense correlations with a work's thumbnails (from `thumbnail`); the placement search, the
        costlier part, only when asked."""
        return DenseValues(self.whole(work), self.placed(work, fine) if placement else None)

    def placed(self, thumb: npt.NDArray[np.uint8], fine: npt.NDArray[np.uint8] | None = None) -> DenseResult:
        """The smaller picture slid over the larger at each scale: the work (its thumbnail, or its fine one
        reduced when the thumbnail is narrow: `_placement_picture`) inside the query (placed in a larger
        picture), then the query inside the work (cut out of it). A work placed too small for a template on the
        thumbnails is located on the fine ones (value 0: `aligned` decides). The query's side of the searches is
        prepared once for all candidates; safe to call from several threads at once."""
        work = _placement_picture(thumb, fine)
        mine = self.searched
        unit = max(mine.shape) / max(work.shape)
        inside = _search(self._searched, lambda f, band: _template(work, f, band), unit, work.shape, True)
        small = [scale for scale in SCALES if _interior(work.shape, scale * unit) < MIN_TEMPLATE]
        if inside.value <= 0 and small and self._fine_searched is not None and fine is not None and fine.size:
            # the work placed too small for a template on the thumbnail (under about half the query's width):
            # located on the fine thumbnails at those scales (every other one), for `aligned` to refine
            wide = fine.astype(np.float32)
            found = _search(self._fine_searched, lambda f, band: _template(wide, f, band, ALIGN_MIN_TEMPLATE),
                            max(self._fine_searched[0].image.shape) / max(wide.shape), wide.shape, True,
                            small[::SMALL_SCALE_STEP], refine=False)
            if found.box is not None:  # located there (for `aligned`), not on the thumbnail's few pixels
                inside = max(found, inside, key=lambda r: r.value)
        around = _search(_prepared(work), self._query_template,
                         max(work.shape) / max(mine.shape), mine.shape, False)
        return max(inside, around, key=lambda r: r.value)

    def aligned_whole(self, thumb: npt.NDArray[np.uint8], fine: npt.NDArray[np.uint8], *,
                      always: bool = False) -> DenseResult:
        """The whole pictures compared at the fine size (`aligned` from the identity), in the query's
        `ALIGN_ORIENTATIONS` best dihedral orientations by plain correlation at the comparison size (given the
        work's two thumbnails), when either has little detail at the comparison size
        (`ALIGN_WHOLE_MAX_ENERGY`), or `always`. A fine texture (paper, canvas, film grain) keeps its detail at
        the fine size, where the 64-px comparison has averaged it away, the more so once darkened or softened.
        A picture cut out of the query along an outline is always compared so as well (`always`)."""
        if self.fine is None or not fine.size:
            return DenseResult(0.0, "aligned")
        work = _compared(thumb)
        if not always and min(_std(self.orientations[0]), _std(work)) >= ALIGN_WHOLE_MAX_ENERGY:
            return DenseResult(0.0, "aligned")  # the comparison size sees their detail: `whole` decides
        plain = self._plain[:8] @ _unit(work.ravel())
        best = 0.0
        for i in np.argsort(-plain)[:ALIGN_ORIENTATIONS]:
            best = max(best, aligned(_oriented(self.fine.astype(np.float32), int(i)), fine, (0.0, 0.0, 1.0, 1.0)))
        if self._own is not None and self.fine.shape == fine.shape:
            # a copy turned by a few degrees, its corners filled: the work refined onto the query's own pixels,
            # upright, from a few turned starts (a fine texture's grain is out of ECC's reach 3 degrees off)
            best = max(best, *(aligned(fine, self.fine, (0.0, 0.0, 1.0, 1.0), turn=angle, valid=self._own)
                               for angle in FILLED_TURNS))
        return DenseResult(best, "aligned")

    def aligned(self, fine: npt.NDArray[np.uint8], placement: DenseResult) -> DenseResult:
        """A placement (from `placed`) refined and compared at the fine thumbnails' size (`aligned`), given
        the work's fine thumbnail; 0 without a placement or without the query's fine thumbnail."""
        if placement.box is None or self.fine is None or not fine.size:
            return DenseResult(0.0, "aligned", placement.scale)
        small, big = (fine, self.fine) if placement.work_inside else (self.fine, fine)
        return DenseResult(aligned(small, big, placement.box), "aligned", placement.scale, placement.box,
                           placement.work_inside)

    def _query_template(self, factor: float, band: tuple[float, float]) -> Gray | None:
        """The query's template at a factor, made once (two threads may both make it: the same value)."""
        key = (round(factor, 4), band)
        template = self._templates.get(key, _MISSING)
        if template is _MISSING:
            template = self._templates[key] = _template(self.searched, factor, band)
        return template

    def cutout(self, thumb: npt.NDArray[np.uint8]) -> DenseResult:
        """The whole pictures compared for a query cut out of a larger picture along an outline (`insets`): in
        the query's best orientations, the smaller of the trimmed correlation and the block-by-block one (which
        needs `MIN_BLOCKS` blocks with detail on both sides). A region of a background that the outline search
        took for a pasted picture is mostly flat with an edge or two: trimmed, that fits many pictures' parts;
        block by block, too few blocks have detail to compare. Both over the centre (`_CENTRE`): the outline is
        found to a pixel or two, and the band-pass sees the boundary with whatever was around the cut-out."""
        w = _compared(thumb)
        plain = self._plain[:8] @ _unit(w.ravel())
        best = 0.0
        centre = w[_INNER, _INNER]
        for i in np.argsort(-plain)[:ROBUST_ORIENTATIONS]:
            q = self.orientations[int(i)][_INNER, _INNER]
            best = max(best, min(_trimmed_ncc(q, centre), _blocks_ncc(q, centre)))
        return DenseResult(best, "inset")

    def whole(self, thumb: npt.NDArray[np.uint8]) -> DenseResult:
        """The whole pictures (the work's thumbnail) compared in the query's dihedral orientations (whole,
        held to agree with the blocks: `_agreed`, and block by block) and, upright, in small rotations (their
        centres); the best fit discounted by how well it also holds with the work turned (`_round_fit`)."""
        w = _compared(thumb)
        best, fitted = DenseResult(0.0, "whole"), w
        plain = self._plain @ _unit(w.ravel())
        for i in np.argsort(-plain)[:ROBUST_ORIENTATIONS]:  # of the query as it is and without its border
            q = self.orientations[int(i)]
            blocks = _blocks_or_none(q, w)
            for how, value in (("whole", _agreed(_trimmed_ncc(q, w), blocks)), ("blocks", blocks or 0.0)):
                if value > best.value:
                    best, fitted = DenseResult(value, how), q
        q = self.rotations[int(np.argmax(self._plain_rotated @ _unit(w[_CENTRE])))]
        value = _agreed(_trimmed_ncc(q, w, _CENTRE), _blocks_or_none(q[_INNER, _INNER], w[_INNER, _INNER]))
        if value > best.value:
            best, fitted = DenseResult(value, "rotated"), q
        if best.value < ROUND_TEST_FROM:
            return best
        return DenseResult(max(0.0, best.value - max(0.0, _round_fit(fitted, thumb) - ROUND_FREE)), best.how)


def _rotated(img: Gray, degrees: float, border: int) -> Gray:
    """The picture turned by `degrees` about its centre, its size kept (`border`: OpenCV's border mode for what
    the turn brings in at the corners)."""
    h, w = img.shape
    turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    out: Gray = np.asarray(cv2.warpAffine(img, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=border), np.float32)
    return out


def _inscribed(shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """The circle inscribed in a picture of `shape` about its centre: what a turn about the centre keeps inside."""
    h, w = shape[:2]
    ys, xs = np.indices((h, w))
    inside: npt.NDArray[np.bool_] = np.hypot(xs - (w - 1) / 2, ys - (h - 1) / 2) <= min(h, w) / 2
    return inside


_DISC = _inscribed((WHOLE_SIDE, WHOLE_SIDE))


def _round_fit(query: Gray, thumb: npt.NDArray[np.uint8]) -> float:
    """How well the query's best-fitting band image (`query`) also fits the work turned by `WHOLE_TURN` degrees
    either way about its centre (over the inscribed disc, which the turn keeps inside the picture); 0 when it
    does not fit at all. A copy's detail has moved away by then; one disc, ring or round blur on a flat ground
    (a moon, a planet, a retina photograph, a clock face) fits another at any angle: that much of its fit is
    its outline's, which many unrelated pictures share, and `whole` takes what exceeds `ROUND_FREE` off it."""
    square = _square(thumb.astype(np.float32))
    turned = [_band(_rotated(square, angle, cv2.BORDER_REPLICATE)) for angle in (-WHOLE_TURN, WHOLE_TURN)]
    return max(0.0, *(_trimmed_ncc(query, t, _DISC) for t in turned))


def _own_pixels(fine: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_] | None:
    """The picture's own pixels when a rotation has filled its corners with one flat colour (a copy turned
    without being cropped), away from the fill by the band-pass's reach; None unless two corners or more
    hold such a triangle.
    Flat: the 5 x 5 neighbourhood varies by under `FILL_FLATNESS` grey levels (a paper's grain, a sky's
    gradient and JPEG noise all vary more; the black a rotation leaves does not)."""
    f = fine.astype(np.float32)
    mean = cv2.blur(f, (5, 5))
    flat = (cv2.blur(f * f, (5, 5)) - mean * mean) < FILL_FLATNESS**2
    _, labels = cv2.connectedComponents(flat.astype(np.uint8), connectivity=4)
    corners = {int(labels[y, x]) for y in (0, -1) for x in (0, -1)} - {0}
    triangles = [label for label in corners if _triangular(labels == label)]
    if len(triangles) < 2:
        return None
    filled = np.isin(labels, triangles)
    if filled.mean() < FILL_MIN_SHARE:
        return None
    reach = 2 * math.ceil(1.5 * ALIGN_BAND[1]) + 1
    own: npt.NDArray[np.bool_] = cv2.erode((~filled).astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    return own


def _triangular(region: npt.NDArray[np.bool_]) -> bool:
    """Whether a flat region at a corner is the triangle a rotation leaves: it covers about half its bounding
    box (a flat sky or a padding band fills most of its own)."""
    ys, xs = np.nonzero(region)
    box = (int(ys.max()) - int(ys.min()) + 1) * (int(xs.max()) - int(xs.min()) + 1)
    return bool(region.sum() <= FILL_TRIANGLE * box)


def _placement_picture(thumb: npt.NDArray[np.uint8], fine: npt.NDArray[np.uint8] | None) -> Gray:
    """What placements are searched on: the thumbnail, or, when its short side is under `PLACE_MIN_SIDE` and
    the fine thumbnail is there, the fine one reduced to that short side (its long side at most `FINE_SIDE`).
    Every picture is then searched at a short side of at least 64 px, as a 4:3 one always was."""
    if fine is None or not fine.size or min(thumb.shape) >= PLACE_MIN_SIDE or min(fine.shape) <= min(thumb.shape):
        return thumb.astype(np.float32)
    factor = min(PLACE_MIN_SIDE / min(fine.shape), 1.0)
    return _resize(fine.astype(np.float32), factor)


def _unit(v: Gray) -> Gray:
    centred = v - v.mean()
    norm = float(np.linalg.norm(centred))
    out: Gray = (centred / norm).astype(np.float32) if norm > 0 else np.zeros_like(v)
    return out


def _resize(img: Gray, factor: float) -> Gray:
    out: Gray = np.asarray(cv2.resize(img, _resize_shape(img.shape, factor), interpolation=cv2.INTER_AREA),
                           np.float32)
    return out


def _resize_shape(shape: tuple[int, ...], factor: float) -> tuple[int, int]:
    """The (width, height) of a picture of `shape` (height, width) scaled by `factor` (`_resize`)."""
    return max(8, round(shape[1] * factor)), max(8, round(shape[0] * factor))


class _Searched:
    """A picture prepared to have templates slid over it in one band: the band-pass image and its integrals."""

    def __init__(self, img: Gray, band: tuple[float, float]) -> None:
        self.band = band
        self.image = _band(img, *band)
        total, squares = cv2.integral2(self.image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        self.total, self.squares = np.asarray(total, np.float64), np.asarray(squares, np.float64)

    def window_std(self, h: int, w: int) -> npt.NDArray[np.float64]:
        """The standard deviation of every h x w window, laid out as `cv2.matchTemplate`'s result."""

        def window_sum(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            out: npt.NDArray[np.float64] = a[h:, w:] - a[:-h, w:] - a[h:, :-w] + a[:-h, :-w]
            return out

        n = float(h * w)
        mean = window_sum(self.total) / n
        out: npt.NDArray[np.float64] = np.sqrt(np.maximum(window_sum(self.squares) / n - mean * mean, 0.0))
        return out

    def peak(self, t: Gray | None) -> tuple[float, int, int]:
        """The best correlation of the template `t` (from `_template`) slid over this picture, less the
        correlation left a few pixels away (`_ridge`), and where the template's corner lies then; -1 (and no
        position) when there is no template or it does not fit."""
        if t is None or t.shape[0] > self.image.shape[0] or t.shape[1] > self.image.shape[1]:
            return -1.0, 0, 0
        scores: Gray = np.asarray(cv2.matchTemplate(self.image, t, cv2.TM_CCOEFF_NORMED), np.float32)
        # a window with far less detail than the template (a flat sky) gives unstable values: not a placement
        scores[self.window_std(*t.shape) < max(MIN_ENERGY, MIN_WINDOW_ENERGY * _std(t))] = 0.0
        _, peak, _, (x, y) = cv2.minMaxLoc(scores)
        return float(peak) - RIDGE_WEIGHT * _ridge(scores, x, y), x, y


def _prepared(img: Gray) -> tuple[_Searched, _Searched]:
    """A picture prepared for `_search`: in the coarse band (the scale grid) and the fine one (the refinement)."""
    return _Searched(img, COARSE), _Searched(img, FINE)


def _template(small: Gray, factor: float, band: tuple[float, float], minimum: int = MIN_TEMPLATE) -> Gray | None:
    """`small` scaled by `factor`, band-passed, its interior only: at its edges the band-pass sees the edge
    between the picture and whatever surrounds it (a border, another picture), which is not part of it.
    None when too small or without detail."""
    m = math.ceil(1.5 * band[1])
    t = _band(_resize(small, factor), *band)[m:-m, m:-m]
    if min(t.shape) < minimum or _std(t) < MIN_ENERGY:
        return None
    return t


def _std(img: Gray) -> float:
    return float(cv2.meanStdDev(img)[1][0, 0])  # a tenth of numpy's time on these small arrays


def _ridge(scores: npt.NDArray[np.float32], x: int, y: int) -> float:
    """The best correlation a few pixels away from the peak, in any of eight directions (0 when none is
    positive): high when the match is a line or an edge that fits anywhere along its length, low for a
    placement that fits at one position only."""
    h, w = scores.shape
    d = RIDGE_SHIFT
    around = [scores[y + dy, x + dx] for dy in (-d, 0, d) for dx in (-d, 0, d)
              if (dx or dy) and 0 <= y + dy < h and 0 <= x + dx < w]
    return max(0.0, float(max(around, default=0.0)))


def _interior(shape: tuple[int, ...], factor: float) -> int:
    """The short side of the template `_template` makes of a picture of `shape` scaled by `factor` (coarse band)."""
    return min(_resize_shape(shape, factor)) - 2 * math.ceil(1.5 * COARSE[1])


def _search(big: tuple[_Searched, _Searched], template: Callable[[float, tuple[float, float]], Gray | None],
            unit: float, small_shape: tuple[int, ...], work_inside: bool,
            scales: Sequence[float] = SCALES, refine: bool = True) -> DenseResult:
    """The best placement of a template over a picture prepared in the coarse and the fine band: the scale
    grid in the coarse band, then the best scale refined in finer steps and the fine band, which gives the
    value and the smaller picture's box in the larger. `template(factor, band)` makes the template of the
    smaller picture (of shape `small_shape`); `unit` turns a scale into a factor. Without `refine`, the coarse
    peak's box only, located for `aligned` (value 0)."""
    coarse, fine = big
    peak, scale, x, y = _best_peak(coarse, template, unit, scales)
    best = DenseResult(0.0, "placed", work_inside=work_inside)
    if peak < MIN_ALIGN_PEAK:
        return best  # nothing there worth refining
    if not refine:
        m = math.ceil(1.5 * COARSE[1])
        height, width = coarse.image.shape
        w, h = _resize_shape(small_shape, scale * unit)
        box = ((x - m) / width, (y - m) / height, (x - m + w) / width, (y - m + h) / height)
        return DenseResult(0.0, "placed", round(scale, 3), box, work_inside)
    m = math.ceil(1.5 * FINE[1])  # the template is the interior of the resized picture
    height, width = fine.image.shape
    found = -1.0
    fitted: tuple[Gray, int, int] | None = None
    for step in REFINE:
        factor = scale * step * unit
        t = template(factor, FINE)
        value, x, y = fine.peak(t)
        if value > found and t is not None:  # a template too small, flat or large to slide is never a placement
            found, fitted = value, (t, x, y)
            w, h = _resize_shape(small_shape, factor)
            box = ((x - m) / width, (y - m) / height, (x - m + w) / width, (y - m + h) / height)
            value = max(0.0, value) if peak >= MIN_COARSE_PEAK else 0.0  # located for `aligned` only
            best = DenseResult(value, "placed", round(scale * step, 3), box, work_inside)
    if fitted is not None and best.value >= ROUND_TEST_FROM:
        turned = _turned_placement(*fitted, fine.image)
        best = msgspec.structs.replace(best, value=max(0.0, best.value - max(0.0, turned - ROUND_FREE)))
    return best


def _turned_placement(template: Gray, x: int, y: int, image: Gray) -> float:
    """How well a placed template also fits its window turned by `WHOLE_TURN` degrees either way about its
    centre (over its inscribed circle): the placement's counterpart of `_round_fit`. Two smooth discs of one
    size (two moons whose insides are soft) fit each other's window by their rims alone, at any angle."""
    th, tw = template.shape
    circle = _inscribed(template.shape)
    window = _unit(image[y : y + th, x : x + tw][circle])
    return max(0.0, *(float(_unit(_rotated(template, angle, cv2.BORDER_REFLECT)[circle]) @ window)
                      for angle in (-WHOLE_TURN, WHOLE_TURN)))


def _best_peak(coarse: _Searched, template: Callable[[float, tuple[float, float]], Gray | None], unit: float,
               scales: Sequence[float]) -> tuple[float, float, int, int]:
    """The best coarse peak over the scales: its value, scale and the template's corner."""
    best = (-1.0, 1.0, 0, 0)
    for scale in scales:
        value, x, y = coarse.peak(template(scale * unit, COARSE))
        if value > best[0]:
            best = (value, scale, x, y)
    return best


def aligned(small: npt.NDArray[np.uint8] | Gray, big: npt.NDArray[np.uint8],
            box: tuple[float, float, float, float], *, turn: float = 0.0,
            valid: npt.NDArray[np.bool_] | None = None) -> float:
    """A placement refined at the fine thumbnails' size and compared block by block.

    `small` is placed into `big` at `box` (fractions of `big`), as the 96-px placement search found it; the
    placement is refined by maximising the correlation over affine warps (OpenCV's ECC, the enhanced
    correlation coefficient), which corrects the grid's scale and position to a fraction of a pixel, then the
    aligned pictures are compared block by block (`_aligned_blocks`). A copy cut out of a work or placed in a
    picture then correlates almost perfectly everywhere (0.9-1.0) while a look-alike that fitted one shape (two
    moons on two night skies) fits nowhere else. 0 when the refinement does not converge or moves too far.
    `turn`: the refinement starts from the placement turned by so many degrees about the template's centre;
    `valid`: the pixels of `big` that are the picture's own (not a rotation's filled corners)."""
    s, b = small.astype(np.float32), big.astype(np.float32)
    height, width = b.shape
    x0, y0, x1, _ = box
    factor = (x1 - x0) * width / s.shape[1]
    if factor <= 0:
        return 0.0
    resized = _resize(s, factor)
    m = math.ceil(1.5 * ALIGN_BAND[1])
    template = np.ascontiguousarray(_band(resized, *ALIGN_BAND)[m:-m, m:-m])
    if min(template.shape) < ALIGN_MIN_TEMPLATE or _std(template) < ALIGN_MIN_ENERGY:
        return 0.0
    start = np.array([[1, 0, x0 * width + m], [0, 1, y0 * height + m], [0, 0, 1]], np.float32)
    if turn:
        start = start @ _turn((template.shape[1] / 2, template.shape[0] / 2), turn)
    mask = np.full(b.shape, 255, np.uint8) if valid is None else valid.astype(np.uint8) * 255
    try:
        _, warp = cv2.findTransformECC(template, _band(b, *ALIGN_BAND), np.ascontiguousarray(start[:2]),
                                       cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ALIGN_ITERATIONS, 1e-4),
                                       mask, 1)  # the bands are smooth already
    except cv2.error:  # did not converge (no detail where the placement put it)
        return 0.0
    linear = warp[:, :2].astype(np.float64)
    if (abs(math.log(max(abs(float(np.linalg.det(linear))), 1e-9))) > 2 * ALIGN_MAX_SCALE_CHANGE
            or abs(linear[0, 1] + linear[1, 0]) > ALIGN_MAX_SKEW or abs(linear[0, 0] - linear[1, 1]) > ALIGN_MAX_SKEW
            or abs(math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])) > ALIGN_MAX_ROTATION):
        return 0.0  # not a placement any more: shrunk onto one shape, skewed, or turned
    small_band, big_band = _band(resized, *FINE)[m:-m, m:-m], _band(b, *FINE)
    fit: npt.NDArray[np.float32] = np.asarray(warp, np.float32)
    value = _warped_blocks(small_band, big_band, fit, valid)
    if value <= 0.0:
        return 0.0
    # a fit that also holds once turned about the detail's centre is a round shape fitting another (a moon, a
    # planet's disc): discounted as `_ridge` discounts one that holds when shifted
    weight = small_band * small_band
    total = float(weight.sum())
    ys, xs = np.indices(weight.shape)
    centre = (float((xs * weight).sum()) / total, float((ys * weight).sum()) / total)
    turned = max(_warped_blocks(small_band, big_band, fit @ _turn(centre, angle), valid)
                 for angle in (-ALIGN_TURN, ALIGN_TURN))
    return max(0.0, value - RIDGE_WEIGHT * max(0.0, turned))


def _turn(centre: tuple[float, float], degrees: float) -> npt.NDArray[np.float32]:
    """The 3 x 3 affine turn by `degrees` about `centre` (x, y)."""
    turn = np.eye(3, dtype=np.float32)
    turn[:2] = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return turn


def _warped_blocks(small: Gray, big: Gray, warp: npt.NDArray[np.float32],
                   big_valid: npt.NDArray[np.bool_] | None = None) -> float:
    """`_aligned_blocks` of `small` and the part of `big` the affine `warp` (from small to big) puts under it
    (only the `big_valid` pixels of `big`, when given)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    found = cv2.warpAffine(big, warp[:2], (small.shape[1], small.shape[0]), flags=flags, borderValue=float("nan"))
    valid = ~np.isnan(found)
    if big_valid is not None:
        valid &= cv2.warpAffine(big_valid.astype(np.uint8), warp[:2], (small.shape[1], small.shape[0]),
                                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0) > 0
    return _aligned_blocks(small, np.nan_to_num(found).astype(np.float32), valid)


def _aligned_blocks(a: Gray, b: Gray, valid: npt.NDArray[np.bool_]) -> float:
    """The `ALIGN_QUANTILE` of the block-by-block correlations of two aligned pictures (`valid`: the pixels
    the warp kept inside the larger one; a block needs 90% of them), over the blocks where either has detail:
    a block with detail on one side only counts as 0, so a shape that fits while the rest of the picture does
    not fails. The grid is `ALIGN_GRID` square, or twice as fine when fewer than `ALIGN_MIN_BLOCKS` of its
    blocks have detail (a few trees under a smooth sky: the detail fills a quarter of the picture or less)."""
    values = _block_correlations(a, b, valid, ALIGN_GRID)
    if values is not None and len(values) < ALIGN_MIN_BLOCKS:
        values = _block_correlations(a, b, valid, 2 * ALIGN_GRID)
    if values is None or len(values) < ALIGN_MIN_BLOCKS:
        return 0.0
    return max(0.0, float(np.quantile(values, ALIGN_QUANTILE)))


def _block_correlations(a: Gray, b: Gray, valid: npt.NDArray[np.bool_], grid: int) -> npt.NDArray[np.float64] | None:
    """The correlations of the blocks of a `grid` x `grid` cut where either side has detail (see
    `_aligned_blocks`), None when the pictures are too small for that grid. Every block's sums come from one
    pass (`np.add.reduceat` over the block edges)."""
    h, w = a.shape
    if min(h, w) < 3 * grid:
        return None  # blocks under 3 x 3 pixels
    rows = np.array([i * h // grid for i in range(grid)])
    cols = np.array([j * w // grid for j in range(grid)])

    def sums(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.add.reduceat(np.add.reduceat(x, rows, axis=0), cols, axis=1)
        return out

    v = valid.astype(np.float64)
    x, y = a.astype(np.float64) * v, b.astype(np.float64) * v
    n = sums(v)
    area = sums(np.ones_like(v))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sums(x) / n, sums(y) / n
        sx = np.sqrt(np.maximum(sums(x * x) / n - mx * mx, 0.0))
        sy = np.sqrt(np.maximum(sums(y * y) / n - my * my, 0.0))
        r = (sums(x * y) / n - mx * my) / (sx * sy)
    used = (n >= 0.9 * area) & (np.maximum(sx, sy) >= MIN_ENERGY)
    values: npt.NDArray[np.float64] = np.where(np.minimum(sx, sy) > MIN_ENERGY / 4, r, 0.0)[used]
    return values


class DenseValues(msgspec.Struct, frozen=True):
    """The best correlation of the whole pictures and of a placement (None when not searched)."""

    whole: DenseResult
    placed: DenseResult | None


def compare(query: npt.NDArray[np.uint8], work: npt.NDArray[np.uint8], *, placement: bool = True) -> DenseValues:
    """The dense correlations of two thumbnails (from `thumbnail`)."""
    return DenseQuery(query).compare(work, placement=placement)
