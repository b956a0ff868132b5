"""Local features and region embeddings against their exact references: the mirror of an image's features is
computed by permuting descriptors, and must agree with extracting the mirrored image; a region embedding
pooled from one pass over the image must agree with the whole-image embedding where the region is whole."""

import io

import msgspec
import numpy as np
import pytest
from PIL import Image, ImageOps

from matcher.image import dense
from matcher.image import features as lf
from matcher.image.embed import feature_map_size, pool_regions
from matcher.image.embed_onnx import OnnxEmbedder
from tests.conftest import FIXTURES


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :].astype(np.float32) - b[None, :, :].astype(np.float32)) ** 2).sum(-1)).min(1)


def test_mirrored_features_equal_the_features_of_the_mirrored_image() -> None:
    img = Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB")
    direct = lf.extract(ImageOps.mirror(img))
    permuted = lf.mirror_of(lf.extract(img))
    # the same keypoints: for most of them a keypoint of the other set at the same place (within 1 %)
    close = _nearest(permuted.xy, direct.xy) < 0.01
    assert close.mean() > 0.8
    # and the same descriptors there: far closer than descriptors of unrelated keypoints
    same_place = np.flatnonzero(close)[:100]
    pairs = [int(np.argmin(((direct.xy - permuted.xy[i]) ** 2).sum(1))) for i in same_place]
    dist = np.linalg.norm(permuted.desc[same_place].astype(np.float32) - direct.desc[pairs].astype(np.float32), axis=1)
    unrelated = np.linalg.norm(permuted.desc[same_place].astype(np.float32)
                               - np.roll(direct.desc[pairs], 1, axis=0).astype(np.float32), axis=1)
    assert np.median(dist) < 0.25 * np.median(unrelated)
    # the unpermuted descriptors do not match the mirror image: the permutation is what makes them agree
    plain = np.linalg.norm(lf.extract(img).desc[same_place].astype(np.float32) - direct.desc[pairs].astype(np.float32),
                           axis=1)
    assert np.median(plain) > 2 * np.median(dist)


def test_mirrored_copy_verifies_through_the_permuted_features() -> None:
    img = Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB")
    work, query = lf.extract(img), lf.extract(ImageOps.mirror(img))
    assert lf.verify(query, work) is None
    geometry = lf.verify(lf.mirror_of(query), work, mirrored=True)
    assert geometry is not None and geometry.mirrored and geometry.inliers >= 20
    assert geometry.query_box[0] < 0.2 and geometry.query_box[2] > 0.8


def test_region_pooling_reference() -> None:
    rng = np.random.default_rng(1)
    fmap = rng.random((16, 6, 8)).astype(np.float32)
    whole, left = pool_regions(fmap, [(0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.5, 1.0)])
    expected = np.power(np.power(fmap, 3).mean(axis=(1, 2)), 1 / 3)
    assert np.allclose(whole, expected / np.linalg.norm(expected), atol=1e-6)
    expected_left = np.power(np.power(fmap[:, :, :4], 3).mean(axis=(1, 2)), 1 / 3)
    assert np.allclose(left, expected_left / np.linalg.norm(expected_left), atol=1e-6)


def test_one_pass_regions_match_the_whole_image_embedding(embedder: OnnxEmbedder) -> None:
    img = Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB")
    assert feature_map_size(img)[0] % 32 == 0 and max(feature_map_size(img)) == 224
    whole, centre = embedder.embed_regions(img, [(0.0, 0.0, 1.0, 1.0), (0.15, 0.15, 0.85, 0.85)])
    assert np.allclose(whole, embedder.embed([img])[0], atol=1e-6)
    assert 0.8 < float(whole @ centre) < 0.9999  # a different region, a different but related embedding


def test_hashes_and_embeddings_take_any_image_mode(embedder: OnnxEmbedder) -> None:
    """Palette, bilevel and 16-bit images (as a caller may pass them) are converted before the box reductions."""
    from matcher.image.hashes import pdq

    for mode in ("P", "1", "I;16", "LA", "L"):
        img = Image.new(mode, (1400, 1100))
        assert pdq(img)[0].shape == (32,)
        assert embedder.embed_regions(img, [(0.0, 0.0, 1.0, 1.0)]).shape == (1, embedder.dim)


def test_stored_features_round_trip() -> None:
    """A work's features and thumbnails come back from their stored form as they went in (keypoints to float16
    precision); a picture without keypoints too; a file of another format is refused with what to do."""
    img = Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB")
    flat = Image.new("RGB", (64, 48), (90, 90, 90))
    for picture in (img, flat):
        feats = msgspec.structs.replace(lf.extract(picture), thumb=dense.thumbnail(picture),
                                        fine=dense.thumbnail(picture, dense.FINE_SIDE))
        back = lf.LocalFeatures.from_bytes(feats.to_bytes())
        assert (back.width, back.height) == (feats.width, feats.height)
        assert np.array_equal(back.desc.reshape(feats.desc.shape), feats.desc)
        assert np.allclose(back.xy, feats.xy, atol=1e-3) and back.xy.shape == feats.xy.shape
        assert np.array_equal(back.thumb, feats.thumb) and np.array_equal(back.fine, feats.fine)
    old = io.BytesIO()
    np.savez(old, xy=np.zeros((0, 2), np.float16))
    with pytest.raises(ValueError, match="rebuild the index"):
        lf.LocalFeatures.from_bytes(old.getvalue())
