"""Pictures pasted into a larger one: their outline is found, and a low-detail copy cut out along it matches."""

import copy
import random

import msgspec
import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks import edits
from matcher.image import dense
from matcher.image import insets as inset_module
from matcher.image.insets import insets
from matcher.image.matcher import ImageMatcher
from registry.evidence import ImageEvidence
from tests.conftest import FIXTURES
from tests.test_dense import LOW, OTHER, content_of, matcher, rgb

__all__ = ["matcher"]  # the module-scoped matcher of test_dense, enrolled with the low-detail fixtures
PHOTOS = [rgb(FIXTURES / "images" / name) for name in ("chelsea.jpg", "coffee.jpg")]


def _pasted(img: Image.Image, background: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    base = background.resize((1024, round(1024 * background.height / background.width)))
    w, h = base.size
    x0, y0, x1, y1 = (round(v * s) for v, s in zip(box, (w, h, w, h), strict=True))
    base.paste(img.resize((x1 - x0, y1 - y0)), (x0, y0))
    return base


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_the_outline_of_a_pasted_picture_is_found() -> None:
    rng = random.Random(3)
    for path in LOW:
        for background in PHOTOS:
            wide = rng.uniform(0.4, 0.6)
            x, y = rng.uniform(0, 1 - wide), rng.uniform(0, 0.4)
            box = (x, y, x + wide, y + 0.55)
            found = insets(_pasted(rgb(path), background, box))
            assert found and max(_iou(f, box) for f in found) > 0.9, (path.name, box, found)


def test_a_copy_against_the_border_and_no_copy_at_all() -> None:
    found = insets(_pasted(rgb(LOW[0]), PHOTOS[0], (0.0, 0.3, 0.5, 1.0)))  # two sides on the picture's border
    assert found and max(_iou(f, (0.0, 0.3, 0.5, 1.0)) for f in found) > 0.9
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1)))
    assert insets(gradient.convert("RGB")) == []  # no edges: nothing pasted
    assert insets(Image.new("RGB", (16, 16))) == []  # too small to look at


@pytest.mark.parametrize("placements", [True, False])
def test_a_low_detail_copy_placed_in_a_photo_matches_by_its_outline(matcher: ImageMatcher, placements: bool) -> None:
    """Found by the refined placement search, or, without it, by the copy cut out along its outline."""
    if not placements:
        matcher = copy.copy(matcher)
        matcher.calibration = msgspec.structs.replace(matcher.calibration, placed_candidates=0)
    missed = []
    via_outline = 0
    for i, path in enumerate(LOW):
        query = edits.canvas(rgb(path), random.Random(i), PHOTOS[i % 2])
        found = matcher.search(content_of(query))
        if not (found and found[0].work_id == path.stem):
            missed.append(path.name)
            continue
        evidence = found[0].evidence
        assert isinstance(evidence, ImageEvidence)
        if evidence.geometry is None:  # not verified by local features: densely
            assert evidence.dense is not None and evidence.dense.how in ("aligned", "inset"), evidence
            via_outline += evidence.dense.how == "inset"
    assert len(missed) <= 1, f"canvas: missed {missed}"
    assert placements or via_outline >= 3


def test_other_skies_placed_in_a_photo_do_not_match(matcher: ImageMatcher) -> None:
    for i, path in enumerate(OTHER):
        query = edits.canvas(rgb(path), random.Random(i), PHOTOS[i % 2])
        assert matcher.search(content_of(query)) == [], path.name


def test_a_cut_out_is_compared_only_with_works_of_its_proportions() -> None:
    from matcher.image.matcher import _same_proportions

    assert _same_proportions(1.5, 1.5) and _same_proportions(1.5, 1.6)  # the outline found to a pixel or two
    assert _same_proportions(1.5, 1 / 1.5)  # a copy turned a quarter turn
    assert not _same_proportions(0.59, 1.35) and not _same_proportions(4.4, 1.8)  # a strip, a caption box


def test_runs_are_the_brute_force_ones() -> None:
    """Every run of a row (gaps of up to `GAP` bridged) at least `MIN_SIDE` of the row long, as a loop over the
    pixels finds them."""
    rng = np.random.default_rng(3)
    for density in (0.3, 0.7, 0.95):
        mask = rng.random((40, 60)) < density
        closed = mask.copy()
        for r in range(mask.shape[0]):  # bridge the gaps: a False pixel with True within GAP on both sides
            for c in range(mask.shape[1]):
                left = mask[r, max(0, c - inset_module.GAP):c]
                right = mask[r, c + 1:c + 1 + inset_module.GAP]
                if not mask[r, c] and left.any() and right.any():
                    gap_start = c - 1 - int(np.argmax(left[::-1]))
                    gap_end = c + 1 + int(np.argmax(right))
                    closed[r, c] = gap_end - gap_start - 1 <= inset_module.GAP
        expected = []
        for r in range(mask.shape[0]):
            c = 0
            while c < mask.shape[1]:
                if closed[r, c]:
                    start = c
                    while c < mask.shape[1] and closed[r, c]:
                        c += 1
                    if c - start >= inset_module.MIN_SIDE * mask.shape[1]:
                        expected.append((r, start, c))
                else:
                    c += 1
        assert inset_module._runs(mask) == expected, density


def _flat_with_an_edge(size: tuple[int, int], seed: int, strip: bool) -> Image.Image:
    """White, with a dark ragged shape along the right side and a blue strip at the top or a thin line."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.polygon([(w, 0), *((int(w * (0.82 + 0.06 * rng.random())), int(h * t)) for t in np.linspace(0, 1, 9)),
                  (w, h)], fill=(30, 30, 35))
    if strip:
        draw.rectangle((0, 0, int(w * 0.4), int(h * 0.04)), fill=(20, 90, 200))
    else:
        draw.line((int(w * 0.1), int(h * 0.8), int(w * 0.25), int(h * 0.95)), fill=(60, 50, 40), width=2)
    return img


def test_a_flat_region_with_an_edge_is_not_a_cut_out_copy(matcher: ImageMatcher) -> None:
    """An outline can enclose a region of the background (white beside a figure's dark edge); another
    picture's flat part with an edge at the same side fits it at 64 px, but not block by block over the centre
    nor refined at the fine size: the cut-out's value stays under the `inset` step."""
    region = _flat_with_an_edge((380, 270), 1, strip=True)
    other = _flat_with_an_edge((247, 183), 2, strip=False)
    query = dense.DenseQuery(dense.thumbnail(region), None, dense.thumbnail(region, dense.FINE_SIDE))
    thumb, fine = dense.thumbnail(other), dense.thumbnail(other, dense.FINE_SIDE)
    assert query.whole(thumb).value > 0.8  # what the cut-out was compared on alone before
    curve = matcher.calibration.curve("inset")
    assert curve is not None
    value = max(query.cutout(thumb).value, query.aligned_whole(thumb, fine, always=True).value)
    assert value < -curve.a / curve.b
