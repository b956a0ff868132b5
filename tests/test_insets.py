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


def _broken_outline(seed: int) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A flat picture pasted into a textured one whose colour matches the copy's edge in places: each side's
    step is missing for a few pixels every few dozen, and the copy's top edge falls between two rows of the
    reduced picture, alternately on either (a copy pasted at a position off the reduced grid)."""
    rng = np.random.default_rng(seed)
    h, w = 768, 1024
    base = np.clip(rng.normal(90, 6, (h, w)), 0, 255)
    x0, y0, x1, y1 = 230, 201, 741, 560
    copy_ = np.clip(np.linspace(170, 200, x1 - x0)[None, :] + rng.normal(0, 2, (y1 - y0, x1 - x0)), 0, 255)
    base[y0:y1, x0:x1] = copy_
    for x in range(x0, x1, 48):  # the top edge one reduced row lower on every other stretch
        base[y0 : y0 + 3, x : x + 24] = 90
    for y in range(y0, y1, 40):  # the right and bottom edges meet the copy's colour for 12 px (4-5 reduced px)
        base[y : y + 12, x1 : x1 + 8] = base[y : y + 12, x1 - 1 : x1]
    for x in range(x0, x1, 52):
        base[y1 : y1 + 8, x : x + 12] = base[y1 - 1 : y1, x : x + 12]
    img = Image.fromarray(base.astype(np.uint8)).convert("RGB")
    return img, (x0 / w, y0 / h, x1 / w, y1 / h)


@pytest.mark.parametrize("seed", [0, 1])
def test_an_outline_broken_where_the_copy_meets_its_own_colour_is_found(seed: int) -> None:
    img, box = _broken_outline(seed)
    found = insets(img)
    assert found and max(_iou(f, box) for f in found) > 0.9, (box, found)


def test_a_pasted_picture_with_a_frame_of_its_own_is_found_whole() -> None:
    """The copy holds a rectangle of its own (a window, a picture frame) whose outline is edge all round, while
    the copy's own outline is not where the copy meets the background's colour: the inner rectangle ranks
    first, and the copy's outline is kept beside it rather than suppressed as the same box."""
    rng = np.random.default_rng(5)
    base = np.clip(rng.normal(90, 4, (768, 1024)), 0, 255)
    x0, y0, x1, y1 = 300, 150, 860, 600
    base[y0:y1, x0:x1] = np.clip(rng.normal(175, 4, (y1 - y0, x1 - x0)), 0, 255)
    base[y0 + 200 : y1, x1 - 40 : x1] = 90  # the copy's lower right in the background's colour
    base[y0 + 60 : y0 + 64, x0 + 60 : x0 + 400] = base[y0 + 340 : y0 + 344, x0 + 60 : x0 + 400] = 250
    base[y0 + 60 : y0 + 344, x0 + 60 : x0 + 64] = base[y0 + 60 : y0 + 344, x0 + 396 : x0 + 400] = 250
    box = (x0 / 1024, y0 / 768, x1 / 1024, y1 / 768)
    found = insets(Image.fromarray(base.astype(np.uint8)).convert("RGB"))
    assert found and max(_iou(f, box) for f in found) > 0.9, found


def test_an_outline_in_colour_only_is_found() -> None:
    """A copy as bright as its surroundings but of another colour (a violet sky on a brown robe): its outline
    is a step in the colour channels, none in brightness."""
    rng = np.random.default_rng(7)
    base = np.clip(np.array([150.0, 100.0, 60.0]) + rng.normal(0, 4, (768, 1024, 1)), 0, 255)
    x0, y0, x1, y1 = 260, 180, 760, 560
    base[y0:y1, x0:x1] = np.clip(np.array([80.0, 110.0, 200.0]) + rng.normal(0, 4, (y1 - y0, x1 - x0, 1)), 0, 255)
    img = Image.fromarray(base.astype(np.uint8))
    luma = np.asarray(img.convert("L"), np.float32)
    assert abs(float(luma[y0:y1, x0:x1].mean()) - float(luma[:y0].mean())) < 3  # no step in brightness
    box = (x0 / 1024, y0 / 768, x1 / 1024, y1 / 768)
    found = insets(img)
    assert found and max(_iou(f, box) for f in found) > 0.9, found


def test_a_copy_whose_outline_is_found_off_is_placed_in_the_whole_query(matcher: ImageMatcher,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An outline found several pixels off (a side that meets the background's colour taken elsewhere) spoils
    the cut-out's comparisons; its best candidate is then placed in the whole query and refined there, which
    verifies it. The dense stage places nothing here (`placed_candidates` 0), so only the inset stage can."""
    from matcher.image.signals import ImageQuery

    matcher = copy.copy(matcher)
    matcher.calibration = msgspec.structs.replace(matcher.calibration, placed_candidates=0)
    sky = next(p for p in LOW if "skytrees" in p.name)
    work = rgb(sky)
    base = PHOTOS[0].resize((1024, round(1024 * PHOTOS[0].height / PHOTOS[0].width)))
    base.paste(work.resize((512, round(512 * work.height / work.width))), (300, 100))  # half the width
    off = (0.27, 0.2, 0.79, 0.8)  # the outline's left and bottom taken from edges of the photograph beside it
    monkeypatch.setattr(ImageQuery, "insets", lambda self: [off])
    found = matcher.search(content_of(base))
    assert found and found[0].work_id == sky.stem, found
    evidence = found[0].evidence
    assert isinstance(evidence, ImageEvidence) and evidence.dense is not None
    assert evidence.geometry is not None or evidence.dense.how in ("aligned", "placed"), evidence
