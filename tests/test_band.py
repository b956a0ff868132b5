"""The `band` index: candidates for the dense comparison by what it compares, where the embedding is blind.

A darkened paper texture, a flat sky under a caption box: among thousands of skies and textures, the
embedding's nearest works are other skies and textures, and the copy is not among the few it names. The band
descriptor (`dense.descriptor`) keeps what the whole-picture comparison sees and nothing it ignores.
"""

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from benchmarks import edits
from matcher.image import dense
from matcher.image.matcher import ImageMatcher
from matcher.image.signals import BandDescriptor, ImageQuery
from registry.evidence import ImageEvidence
from tests.test_dense import LOW, OTHER, PAPERS, content_of, rgb


def _cosine(query: Image.Image, work: Image.Image) -> float:
    """The best cosine of the query's descriptors (every orientation) with the work's."""
    rows = dense.descriptors(dense.thumbnail(query))
    return float((rows @ dense.descriptor(dense.thumbnail(work))).max())


@pytest.mark.parametrize("edit", ["brightness", "contrast", "grayscale", "saturation", "mirror", "rotate90",
                                  "jpeg30", "resize50"])
def test_the_descriptor_keeps_a_mild_edit_close(edit: str) -> None:
    for i, path in enumerate(LOW):
        work = rgb(path)
        query = edits.ALL[edit](work, random.Random(i), work)
        assert _cosine(query, work) > 0.85, (edit, path.name)


def test_a_caption_box_weighs_as_one_shape() -> None:
    """A box of solid colour over a flat sky holds more band-pass energy than the whole sky: clipped at a few
    robust deviations, the copy stays closer to its work than to any other sky."""
    for i, path in enumerate(LOW):
        work = rgb(path)
        query = edits.overlay(work, random.Random(i), work)
        own = _cosine(query, work)
        assert own > 0.3, path.name
        assert own > max(_cosine(query, rgb(other)) for other in OTHER), path.name


def test_a_flat_picture_has_no_descriptor() -> None:
    flat = np.full((72, 96), 128, np.uint8)
    assert not np.any(dense.descriptor(flat))
    assert not np.any(dense.descriptors(flat))
    index = BandDescriptor()
    index.add(0, dense.descriptor(flat))
    assert len(index.index) == 0  # nothing the dense comparison could verify


def test_darkened_papers_and_their_descriptors() -> None:
    """Darkened (as a scan printed darker) a paper's grain keeps its shape: its own work is the nearest."""
    works = {p.stem: dense.descriptor(dense.thumbnail(rgb(p))) for p in [*PAPERS, *LOW, *OTHER]}
    names = list(works)
    matrix = np.stack([works[n] for n in names])
    for path in PAPERS:
        query = ImageEnhance.Brightness(rgb(path)).enhance(0.7)
        best = (dense.descriptors(dense.thumbnail(query)) @ matrix.T).max(0)
        assert names[int(np.argmax(best))] == path.stem


def test_the_index_round_trips_and_forgets_a_removed_work(tmp_path: Path) -> None:
    index = BandDescriptor(k=2)
    for iid, path in enumerate(LOW):
        index.add(iid, dense.descriptor(dense.thumbnail(rgb(path))))
    query = ImageQuery(edits.overlay(rgb(LOW[1]), random.Random(0), rgb(LOW[1])))
    first = index.search(query)
    assert max(first, key=first.__getitem__) == 1
    index.save(tmp_path)
    again = BandDescriptor(k=2)
    again.load(tmp_path)
    assert again.search(query) == pytest.approx(first)
    again.remove(1)
    assert 1 not in again.search(query)


@pytest.mark.parametrize("edit", ["overlay", "brightness", "pad", "rotate90"])
def test_without_an_embedder_the_band_index_names_the_copy(edit: str) -> None:
    """No embedding at all: the band index alone names the candidates that the dense comparison verifies."""
    m = ImageMatcher(None, None)
    for path in [*LOW, *OTHER]:  # the other skies and nebulae enrolled too: the index must rank the copy first
        m.add(path.stem, m.fingerprint(content_of(rgb(path))))
    for i, path in enumerate(LOW):
        query = edits.ALL[edit](rgb(path), random.Random(i), rgb(OTHER[0]))
        found = m.search(content_of(query))
        assert found and found[0].work_id == path.stem, (edit, path.name, found)
        evidence = found[0].evidence
        assert isinstance(evidence, ImageEvidence)
        if evidence.geometry is None and evidence.dense is not None:
            assert "band" in evidence.signals


def test_the_query_descriptors_are_each_orientation_s_own() -> None:
    """The query's descriptors are one descriptor turned (squaring, band-pass and reduction commute with the
    turns): each row is, to a rounding, the descriptor of the thumbnail in that orientation."""
    thumb = dense.thumbnail(rgb(LOW[2]))
    rows = dense.descriptors(thumb, thumb[4:-4, 4:-4])
    views = [*dense._dihedral(thumb.astype(np.float32)), *dense._dihedral(thumb[4:-4, 4:-4].astype(np.float32))]
    for row, view in zip(rows, views, strict=True):  # equal but for INTER_AREA's weights at fractional scales
        assert float(row @ dense.descriptor(view.astype(np.uint8))) > 0.99
