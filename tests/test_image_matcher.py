"""Image matching on real fixture images: every kind of edit, look-alikes, persistence, embedders."""

import json
import random
from pathlib import Path

import msgspec
import pytest
from PIL import Image

from benchmarks import edits
from matcher.image.embed import Embedder
from matcher.image.matcher import ImageMatcher
from matcher.image.signals import ImageQuery
from registry.content import Content, load_content
from registry.evidence import ImageEvidence
from tests.conftest import FIXTURES

IMAGES = sorted((FIXTURES / "images").glob("*.jpg"))
UNENROLLED = sorted((FIXTURES / "unenrolled").glob("*.jpg"))


def content_of(img: Image.Image) -> Content:
    return load_content(edits.encode(img), max_pixels=10**9, max_text_chars=1)


def load(path: Path) -> Content:
    return load_content(path.read_bytes(), max_pixels=10**9, max_text_chars=1)


@pytest.fixture(scope="module")
def matcher(embedder: Embedder) -> ImageMatcher:
    m = ImageMatcher(None, embedder)
    for path in IMAGES:
        m.add(path.stem, m.fingerprint(load(path)))
    return m


@pytest.mark.parametrize("edit", sorted(edits.ALL))
def test_edited_copies_match_their_work(matcher: ImageMatcher, edit: str) -> None:
    other = Image.open(UNENROLLED[0]).convert("RGB")
    for i, path in enumerate(IMAGES):
        query = edits.ALL[edit](Image.open(path).convert("RGB"), random.Random(i), other)
        found = matcher.search(content_of(query))
        assert found, f"{edit} of {path.name}: no match"
        assert found[0].work_id == path.stem, f"{edit} of {path.name}: matched {found[0].work_id}"


def test_evidence_locates_a_crop(matcher: ImageMatcher) -> None:
    img = Image.open(IMAGES[1]).convert("RGB")
    w, h = img.size
    crop = img.crop((w // 2, 0, w, h // 2))  # the top-right quarter
    top = matcher.search(content_of(crop))[0]
    assert isinstance(top.evidence, ImageEvidence) and top.evidence.geometry is not None
    geometry = top.evidence.geometry
    x0, y0, x1, y1 = geometry.work_box
    assert x0 >= 0.45 and y1 <= 0.55 and x1 > x0 and y1 > y0 and geometry.inliers >= 8
    assert 0 <= top.score <= 1 and top.evidence.embedder.startswith("efficientnet_lite0@")


@pytest.mark.parametrize("edit", ["none", *sorted(edits.ALL)])
def test_unenrolled_images_and_their_edits_do_not_match(matcher: ImageMatcher, edit: str) -> None:
    for i, path in enumerate(UNENROLLED):
        img = Image.open(path).convert("RGB")
        query = img if edit == "none" else edits.ALL[edit](img, random.Random(i), Image.open(UNENROLLED[1 - i]))
        assert matcher.search(content_of(query)) == [], f"{edit} of {path.name} matched"


def test_withdrawn_image_is_not_matched(embedder: Embedder) -> None:
    m = ImageMatcher(None, embedder)
    for path in IMAGES[:2]:
        m.add(path.stem, m.fingerprint(load(path)))
    m.remove(IMAGES[0].stem)
    assert [x.work_id for x in m.search(load(IMAGES[0]))] == []
    assert m.search(load(IMAGES[1]))[0].work_id == IMAGES[1].stem


def test_index_files_round_trip_and_embedder_change_forces_rebuild(embedder: Embedder, tmp_path: Path) -> None:
    m = ImageMatcher(None, embedder, index_dir=tmp_path / "image")
    for path in IMAGES:
        m.add(path.stem, m.fingerprint(load(path)))
    m.remove(IMAGES[3].stem)
    m.save()
    again = ImageMatcher(None, embedder, index_dir=tmp_path / "image")
    assert again.work_ids() == {p.stem for p in IMAGES[:3]}
    cropped = edits.center_crop70(Image.open(IMAGES[2]).convert("RGB"), random.Random(0), Image.new("RGB", (9, 9)))
    query = content_of(cropped)
    assert again.search(query)[0].work_id == IMAGES[2].stem
    assert again.search(load(IMAGES[3])) == []
    without = ImageMatcher(None, None, index_dir=tmp_path / "image")
    assert without.work_ids() == set()  # saved with another embedder: starts empty, sync re-embeds


def test_an_index_of_an_older_format_starts_empty_and_drops_its_feature_files(embedder: Embedder,
                                                                             tmp_path: Path) -> None:
    """Saved by an older version (another FORMAT): the matcher starts empty (sync rebuilds it from the
    originals) and the older version's feature files are removed, not left beside the new ones."""
    directory = tmp_path / "image"
    m = ImageMatcher(None, embedder, index_dir=directory)
    m.add(IMAGES[0].stem, m.fingerprint(load(IMAGES[0])))
    m.save()
    meta = json.loads((directory / "meta.json").read_text())
    (directory / "meta.json").write_text(json.dumps({**meta, "format": meta["format"] - 1}))
    old = directory / "features" / "ab" / "work-ab.npz"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"PK old")
    again = ImageMatcher(None, embedder, index_dir=directory)
    assert again.work_ids() == set() and not old.exists()
    again.add(IMAGES[0].stem, again.fingerprint(load(IMAGES[0])))
    assert again.search(load(IMAGES[0]))[0].work_id == IMAGES[0].stem


def test_matches_without_an_embedder(tmp_path: Path) -> None:
    m = ImageMatcher(None, None)
    for path in IMAGES:
        m.add(path.stem, m.fingerprint(load(path)))
    query = edits.jpeg30(Image.open(IMAGES[0]).convert("RGB"), random.Random(0), Image.new("RGB", (9, 9)))
    assert m.search(content_of(query))[0].work_id == IMAGES[0].stem


def test_embedding_candidates_below_the_gate_are_not_verified(embedder: Embedder) -> None:
    """An unrelated query's nearest embeddings are verified only above the calibrated cosine gate, and at
    most `max_candidates` of them; a gate above every cosine leaves only the local-feature candidates."""
    query = content_of(Image.open(UNENROLLED[0]).convert("RGB"))
    counts: dict[float, int] = {}
    for gate in (0.0, 1.01):
        m = ImageMatcher(None, embedder)
        m.calibration = msgspec.structs.replace(m.calibration, verify_min_cosine=gate, max_candidates=4)
        for path in IMAGES:
            m.add(path.stem, m.fingerprint(load(path)))
        q = ImageQuery(query.image)
        m.verify_query(q)
        counts[gate] = q.verified
        embedding = next(s for s in m.signals if s.name.startswith("embedding"))
        assert len(m._candidates(embedding, embedding.search(q))) == (0 if gate > 1 else min(4, len(IMAGES)))
    assert counts[0.0] > counts[1.01]
